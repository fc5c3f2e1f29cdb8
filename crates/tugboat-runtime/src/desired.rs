//! The containers a project should have: each service's create body with Compose's labels, and the
//! config hash that tells an unchanged container from one to recreate.
//!
//! The hash covers exactly what tug sends to the engine for a container — the create body (with the
//! service's own labels) and its network endpoints — canonicalised (object keys sorted), so any change
//! to an effective setting recreates the container and nothing else does. It is not Compose's hash
//! (that one hashes compose-go's Go structs); a stack moved between `docker compose up` and `tug up` is
//! recreated once. See docs/runtime.md.

use bollard::models::{ContainerCreateBody, EndpointIpamConfig, EndpointSettings, NetworkingConfig};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::labels;
use crate::spec::{EndpointSpec, ProjectSpec, ServiceSpec};

/// One container the project should have.
#[derive(Clone, Debug)]
pub struct DesiredContainer {
    pub service: String,
    pub number: u32,
    pub name: String,
    pub hash: String,
}

/// `container_name`, or Compose's `{project}-{service}-{n}`.
pub fn container_name(project: &str, service: &ServiceSpec, number: u32) -> String {
    match &service.container_name {
        Some(name) => name.clone(),
        None => format!("{project}-{}-{number}", service.name),
    }
}

pub fn desired(project: &ProjectSpec, service: &ServiceSpec) -> Vec<DesiredContainer> {
    let hash = config_hash(service);
    (1..=service.replicas.max(1))
        .map(|n| DesiredContainer {
            service: service.name.clone(),
            number: n,
            name: container_name(&project.project, service, n),
            hash: hash.clone(),
        })
        .collect()
}

fn endpoint_settings(endpoint: &EndpointSpec) -> EndpointSettings {
    let ipam = (endpoint.ipv4_address.is_some() || endpoint.ipv6_address.is_some()).then(|| EndpointIpamConfig {
        ipv4_address: endpoint.ipv4_address.clone(),
        ipv6_address: endpoint.ipv6_address.clone(),
        ..Default::default()
    });
    EndpointSettings { aliases: Some(endpoint.aliases.clone()), ipam_config: ipam, ..Default::default() }
}

/// The service's config hash (the same for every replica).
pub fn config_hash(service: &ServiceSpec) -> String {
    let endpoints: Vec<Value> = service
        .networks
        .iter()
        .map(|e| serde_json::json!({"network": e.network, "endpoint": endpoint_settings(e)}))
        .collect();
    let doc = serde_json::json!({ "create": service.create, "networks": endpoints });
    let mut hasher = Sha256::new();
    hasher.update(canonical(doc).to_string().as_bytes());
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Sorted object keys at every level: the engine's models hold `HashMap`s.
fn canonical(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().map(|(k, v)| (k, canonical(v))).collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

/// The body a container is created from: the service's body, Compose's labels, the first network.
pub fn create_body(
    project: &ProjectSpec,
    service: &ServiceSpec,
    container: &DesiredContainer,
    image_id: &str,
) -> ContainerCreateBody {
    let mut body = service.create.clone();
    let labels = body.labels.get_or_insert_with(Default::default);
    let depends_on: Vec<String> =
        service.depends_on.iter().map(|d| format!("{}:{}:{}", d.service, d.condition.as_str(), d.restart)).collect();
    let files: Vec<String> = project.config_files.iter().map(|f| f.display().to_string()).collect();
    for (key, value) in [
        (labels::PROJECT, project.project.clone()),
        (labels::SERVICE, service.name.clone()),
        (labels::NUMBER, container.number.to_string()),
        (labels::CONFIG_HASH, container.hash.clone()),
        (labels::ONEOFF, "False".to_string()),
        (labels::WORKING_DIR, project.working_dir.display().to_string()),
        (labels::CONFIG_FILES, files.join(",")),
        (labels::DEPENDS_ON, depends_on.join(",")),
        (labels::IMAGE, image_id.to_string()),
        (labels::TUG, labels::tug_version().to_string()),
    ] {
        labels.insert(key.to_string(), value);
    }
    if let Some(first) = service.networks.first() {
        body.networking_config = Some(NetworkingConfig {
            endpoints_config: Some(
                [(first.network.clone(), container_endpoint(first, &container.name))].into_iter().collect(),
            ),
        });
    }
    body
}

/// A container's endpoint: the service's, with the container's own name as the first alias. Compose v2
/// adds it on engines older than API 1.44 (which do not register the name in DNS themselves); being per
/// container, it stays out of the config hash.
fn container_endpoint(endpoint: &EndpointSpec, container: &str) -> EndpointSettings {
    let mut settings = endpoint_settings(endpoint);
    let aliases = settings.aliases.get_or_insert_with(Vec::new);
    if !aliases.iter().any(|a| a == container) {
        aliases.insert(0, container.to_string());
    }
    settings
}

/// The networks `container` joins after create (API 1.41 takes one endpoint at create time), each with the container's name among its aliases (as
/// the first network's endpoint in [`create_body`]).
pub fn extra_endpoints_for(service: &ServiceSpec, container: &DesiredContainer) -> Vec<(String, EndpointSettings)> {
    service.networks.iter().skip(1).map(|e| (e.network.clone(), container_endpoint(e, &container.name))).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn project(compose: &str) -> ProjectSpec {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("compose.yaml"), compose).unwrap();
        let options = tugboat::stack::LoadOptions { process_env: Some(Default::default()), ..Default::default() };
        crate::spec::resolve(&tugboat::stack::load(d.path(), &options).unwrap()).unwrap()
    }

    fn aliases(e: &EndpointSettings) -> Vec<&str> {
        e.aliases.iter().flatten().map(String::as_str).collect()
    }

    #[test]
    fn each_container_is_an_alias_on_every_network_outside_the_hash() {
        let p = project(
            "name: demo\nservices:\n  web:\n    image: x\n    scale: 2\n    networks:\n      a: {aliases: [w]}\n      b: {}\nnetworks:\n  a: {}\n  b: {}\n",
        );
        let web = &p.services[0];
        let containers = desired(&p, web);
        assert_eq!(containers.len(), 2);
        // One hash for the service: the per-container alias is not part of it.
        assert_eq!(containers[0].hash, containers[1].hash);
        for d in &containers {
            let body = create_body(&p, web, d, "sha256:1");
            let endpoints = body.networking_config.unwrap().endpoints_config.unwrap();
            assert_eq!(endpoints.len(), 1);
            assert_eq!(aliases(&endpoints["demo_a"]), vec![d.name.as_str(), "web", "w"]);
            let extra = extra_endpoints_for(web, d);
            assert_eq!(extra.len(), 1);
            assert_eq!(extra[0].0, "demo_b");
            assert_eq!(aliases(&extra[0].1), vec![d.name.as_str(), "web"]);
        }
        assert_eq!(containers[1].name, "demo-web-2");
    }
}
