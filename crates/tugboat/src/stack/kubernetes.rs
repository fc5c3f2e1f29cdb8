//! `kubernetes:` in tugboat.yml: what `tug export k8s` needs that the compose files cannot say — the
//! namespace, the overlays and their replicas, volume sizes, HTTP probes, the ingress, the PostgreSQL
//! services that become CloudNativePG clusters. Everything has a safe default except what has none (a
//! volume's size: a silent default is how kompose ends up with 100Mi claims).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::probes::HumanDuration;

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesConfig {
    /// The namespace of the workloads (default: the stack's name).
    pub namespace: Option<String>,
    /// Image prefixes rewritten for the cluster's registry: `{ "gitea.local/": "registry.example.org/" }`.
    #[serde(default)]
    pub images: BTreeMap<String, String>,
    /// Overlays by name (default: dev, staging and production with 1, 2 and 3 replicas).
    #[serde(default)]
    pub overlays: BTreeMap<String, OverlayConfig>,
    /// The Ingress of services the stack publishes (or routes through `deploy:`).
    pub ingress: Option<IngressConfig>,
    /// Secrets as ExternalSecrets from this store instead of Secret templates.
    pub external_secrets: Option<ExternalSecretsConfig>,
    /// Per compose service.
    #[serde(default)]
    pub services: BTreeMap<String, ServiceConfig>,
    /// Per named volume: the claim's size (required for every volume a workload mounts).
    #[serde(default)]
    pub volumes: BTreeMap<String, VolumeConfig>,
    /// PostgreSQL services exported as CloudNativePG clusters, by compose service.
    #[serde(default)]
    pub postgres: BTreeMap<String, PostgresConfig>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OverlayConfig {
    /// Replicas of every Deployment (HPA minimum where an HPA is configured).
    pub replicas: Option<u32>,
    /// A namespace for this overlay instead of the base's.
    pub namespace: Option<String>,
    /// CloudNativePG instances in this overlay (default: replicas).
    pub instances: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IngressConfig {
    /// `spec.ingressClassName`.
    pub class: Option<String>,
    /// The cert-manager ClusterIssuer (annotation `cert-manager.io/cluster-issuer`).
    pub cluster_issuer: Option<String>,
    /// The namespace the ingress controller runs in, for the NetworkPolicy (default `ingress-nginx`).
    pub controller_namespace: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalSecretsConfig {
    /// The (Cluster)SecretStore's name.
    pub store: String,
    /// `ClusterSecretStore` (default) or `SecretStore`.
    pub kind: Option<String>,
    /// The key prefix in the store (default `STACK/`).
    pub prefix: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// HTTP liveness probe instead of the compose healthcheck.
    pub liveness: Option<HttpProbe>,
    /// HTTP readiness probe (default: a `checks:` HTTP check on the service's published port).
    pub readiness: Option<HttpProbe>,
    /// Ingress host names (default: `deploy.SERVICE.host(s)`).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Not exposed through the Ingress even though it publishes a port.
    #[serde(default)]
    pub cluster_only: bool,
    /// A HorizontalPodAutoscaler.
    pub autoscale: Option<Autoscale>,
    /// Init containers that wait for these services' ports before the app starts (`depends_on` has no
    /// Kubernetes equivalent).
    #[serde(default)]
    pub wait_for: Vec<String>,
    /// Host bind mounts replaced by a claim, by container path: `{ /docs: { size: 5Gi } }`. Without one a
    /// bind is refused (a host path does not exist on cluster nodes).
    #[serde(default)]
    pub binds: BTreeMap<String, VolumeConfig>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpProbe {
    pub path: String,
    /// The container port (default: the service's first port).
    pub port: Option<u16>,
    pub initial_delay: Option<HumanDuration>,
    pub period: Option<HumanDuration>,
    pub timeout: Option<HumanDuration>,
    pub failure_threshold: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Autoscale {
    /// Maximum replicas (the minimum is the overlay's replicas).
    pub max: u32,
    /// Target average CPU utilisation, percent of the request.
    pub cpu: Option<u32>,
    /// Target average memory utilisation, percent of the request.
    pub memory: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeConfig {
    /// `10Gi`, `500Mi`.
    pub size: String,
    pub storage_class: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// The Cluster's name (default: `SERVICE`).
    pub cluster: Option<String>,
    /// Its namespace (default: the workloads').
    pub namespace: Option<String>,
    /// `spec.storage.size`.
    pub storage: String,
    /// `bootstrap.initdb.database` / `owner` (default: the service's POSTGRES_DB / POSTGRES_USER).
    pub database: Option<String>,
    pub owner: Option<String>,
    /// Backups through the Barman Cloud plugin: the ObjectStore's name, and the ScheduledBackup's
    /// six-field cron schedule (default `0 0 2 * * *`).
    pub backup: Option<PostgresBackup>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresBackup {
    pub object_store: String,
    pub schedule: Option<String>,
}

/// The overlays when none are configured: seed 004's 1/2/3 replicas.
pub fn default_overlays() -> BTreeMap<String, OverlayConfig> {
    [("dev", 1), ("staging", 2), ("production", 3)]
        .into_iter()
        .map(|(n, r)| (n.to_string(), OverlayConfig { replicas: Some(r), ..OverlayConfig::default() }))
        .collect()
}

/// Whether `size` is a Kubernetes quantity a claim takes (`10Gi`, `500M`).
pub fn is_quantity(size: &str) -> bool {
    let digits = size.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &size[digits.len()..];
    !digits.is_empty()
        && digits.parse::<f64>().is_ok_and(|n| n > 0.0)
        && matches!(unit, "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "K" | "M" | "G" | "T" | "P" | "")
}
