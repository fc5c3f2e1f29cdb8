//! A PostgreSQL service -> a CloudNativePG `Cluster` (the operator runs, replicates and backs it up), a
//! basic-auth Secret template for its owner, a `ScheduledBackup` through the Barman Cloud plugin when
//! configured (`barmanObjectStore` is deprecated since CNPG 1.26), and an ExternalName Service with the
//! compose name, so the applications' connection strings still say `postgres:5432`.

use serde_json::{json, Map};

use super::{labels, object, Context, Object};
use crate::stack::kubernetes::PostgresConfig;
use crate::stack::{Node, Service};

const PLUGIN: &str = "barman-cloud.cloudnative-pg.io";

pub fn export(cx: &mut Context, s: &Service, pg: &PostgresConfig) -> (Vec<Object>, String) {
    let name = s.name.as_str();
    let cluster = pg.cluster.clone().unwrap_or_else(|| super::dns_name(name));
    let ns = pg.namespace.clone().unwrap_or_else(|| cx.namespace.clone());
    cx.clusters.insert(name.to_string(), (cluster.clone(), ns.clone()));
    let env = |k: &str| s.environment.iter().find(|e| e.name == k).and_then(|e| e.value.clone());
    let span = |k: &str| s.node.entry(k).map(|(key, _)| key.span.clone());
    let database = pg.database.clone().or_else(|| env("POSTGRES_DB")).unwrap_or_else(|| "app".into());
    let owner = pg.owner.clone().or_else(|| env("POSTGRES_USER")).unwrap_or_else(|| database.clone());
    let secret = format!("{cluster}-app");
    let r = &mut cx.report;
    r.mapped(name, "service", Some(&s.span), format!("CloudNativePG Cluster {cluster} in namespace {ns}"));

    let mut spec = json!({
        "instances": 1,
        "storage": {"size": pg.storage},
        "bootstrap": {"initdb": {"database": database, "owner": owner, "secret": {"name": secret}}},
    });
    // postgres:16.9-alpine -> the operator's image of the same version.
    let image = s.image.clone().unwrap_or_default();
    let version = image.rsplit_once(':').map(|(_, tag)| tag.split('-').next().unwrap_or_default().to_string());
    match version.filter(|v| v.split('.').all(|p| p.parse::<u32>().is_ok()) && !v.is_empty()) {
        Some(v) => {
            spec["imageName"] = json!(format!("ghcr.io/cloudnative-pg/postgresql:{v}"));
            r.mapped(name, "image", span("image").as_ref(), format!("imageName ghcr.io/cloudnative-pg/postgresql:{v}"));
        }
        None => r.warn(
            name,
            "image",
            span("image").as_ref(),
            format!("`{image}` names no version: the operator's default image"),
        ),
    }
    // `postgres -c key=value` flags -> postgresql.parameters.
    let command: Vec<String> = s
        .node
        .get("command")
        .and_then(Node::as_seq)
        .unwrap_or(&[])
        .iter()
        .filter_map(|n| n.as_str().map(str::to_string))
        .collect();
    let mut parameters = Map::new();
    let mut args = command.iter();
    while let Some(a) = args.next() {
        if a == "-c" {
            if let Some((k, v)) = args.next().and_then(|kv| kv.split_once('=')) {
                parameters.insert(k.to_string(), json!(v));
            }
        }
    }
    if !parameters.is_empty() {
        spec["postgresql"] = json!({"parameters": parameters});
        r.mapped(name, "command", span("command").as_ref(), "postgresql.parameters (the -c flags)");
    }
    if let Some(limits) = s.node.get_path(&["deploy", "resources", "limits"]) {
        let mut res = Map::new();
        if let Some(m) = limits.get("memory").and_then(Node::as_str) {
            res.insert("memory".into(), json!(super::workload::quantity(m)));
        }
        if let Some(c) = limits.get("cpus").and_then(Node::as_str).and_then(|c| c.parse::<f64>().ok()) {
            res.insert("cpu".into(), json!(format!("{}m", (c * 1000.0).round() as u64)));
        }
        spec["resources"] = json!({"limits": res, "requests": res});
        r.mapped(name, "deploy.resources", span("deploy").as_ref(), "resources of each instance");
    }
    for key in [
        "environment",
        "volumes",
        "healthcheck",
        "user",
        "read_only",
        "tmpfs",
        "cap_drop",
        "security_opt",
        "restart",
        "expose",
        "networks",
    ] {
        if let Some(sp) = span(key) {
            let what = match key {
                "environment" => format!(
                    "bootstrap.initdb (database {database}, owner {owner}); the password in Secret {secret} (template)"
                ),
                "volumes" => format!("storage.size {} (the operator's claims)", pg.storage),
                "healthcheck" => "the operator's own probes".into(),
                "networks" => "NetworkPolicies allow the members' pods to port 5432".into(),
                "expose" => format!("Services {cluster}-rw / -ro / -r, and ExternalName {name} -> {cluster}-rw"),
                "restart" => "the operator restarts and fails over instances".into(),
                _ => "the operator's hardened pod security".into(),
            };
            r.mapped(name, key, Some(&sp), what);
        }
    }
    let mut objects = Vec::new();
    if let Some(b) = &pg.backup {
        spec["plugins"] =
            json!([{"name": PLUGIN, "isWALArchiver": true, "parameters": {"barmanObjectName": b.object_store}}]);
        objects.push(object(
            &format!("{cluster}.scheduledbackup.yaml"),
            json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "ScheduledBackup",
                "metadata": {"name": cluster, "namespace": ns, "labels": labels(name)},
                "spec": {"schedule": b.schedule.clone().unwrap_or_else(|| "0 0 2 * * *".into()),
                    "cluster": {"name": cluster}, "method": "plugin", "pluginConfiguration": {"name": PLUGIN}}}),
        ));
        cx.report.mapped(
            name,
            "kubernetes.postgres.backup",
            None,
            format!("WAL archiving + ScheduledBackup to ObjectStore {}", b.object_store),
        );
    } else {
        cx.report.warn(
            name,
            "kubernetes.postgres.backup",
            None,
            "no backup configured: set kubernetes.postgres.SERVICE.backup.object_store (Barman Cloud plugin)",
        );
    }
    objects.push(object(
        &format!("{cluster}.cluster.yaml"),
        json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
            "metadata": {"name": cluster, "namespace": ns, "labels": labels(name)}, "spec": spec}),
    ));
    objects.push(super::Object {
        file: format!("secrets/{secret}.secret.yaml"),
        value: json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/basic-auth",
            "metadata": {"name": secret, "namespace": ns, "labels": labels(name)},
            "stringData": {"username": owner, "password": ""}}),
        resource: false,
    });
    let target = format!("{cluster}-rw.{ns}.svc.cluster.local");
    objects.push(object(
        &format!("{name}.service.yaml"),
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": cx.namespace, "labels": labels(name)},
            "spec": {"type": "ExternalName", "externalName": target, "ports": [{"name": "postgres", "port": 5432}]}}),
    ));
    (objects, ns)
}
