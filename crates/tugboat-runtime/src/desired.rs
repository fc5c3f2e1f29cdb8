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
            endpoints_config: Some([(first.network.clone(), endpoint_settings(first))].into_iter().collect()),
        });
    }
    body
}

/// The networks joined after create (API 1.41 takes one endpoint at create time).
pub fn extra_endpoints(service: &ServiceSpec) -> Vec<(String, EndpointSettings)> {
    service.networks.iter().skip(1).map(|e| (e.network.clone(), endpoint_settings(e))).collect()
}
