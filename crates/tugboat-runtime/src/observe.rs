//! What the engine has for a project: its containers (Compose's labels), read once per command, and one
//! container's state as the runtime reasons about it.

use std::collections::BTreeMap;

use bollard::models::{ContainerInspectResponse, HealthStatusEnum};

use crate::engine::{ContainerSummary, Engine, Result};
use crate::labels;

/// The project's containers, one-off (`docker compose run`) containers left out.
pub fn project_containers(engine: &dyn Engine, project: &str) -> Result<Vec<ContainerSummary>> {
    let mut list = engine.containers(&[(labels::PROJECT, project)])?;
    list.retain(|c| c.label(labels::ONEOFF) != Some("True"));
    list.sort_by(|a, b| {
        (a.label(labels::SERVICE), number(a), &a.name).cmp(&(b.label(labels::SERVICE), number(b), &b.name))
    });
    Ok(list)
}

/// The service's existing containers matched to the ones it should have, and what is left over.
pub struct Assignment<'a> {
    /// For each desired container (in order), the existing one that is it.
    pub matched: Vec<Option<&'a ContainerSummary>>,
    /// Existing containers no desired one claims: extra replicas — or, for a service `tug deploy`
    /// manages, stopped earlier generations kept for `tug rollback` ([`Assignment::kept`]).
    pub leftover: Vec<&'a ContainerSummary>,
    pub kept: Vec<&'a ContainerSummary>,
}

/// Matches by container number (Compose's way); for a deploy-managed service, where blue and green
/// live side by side with growing numbers, running containers come first and stopped leftovers are
/// kept, not extra.
pub fn assign<'a>(
    numbers: &[(u32, String)],
    existing: &[&'a ContainerSummary],
    deploy_managed: bool,
) -> Assignment<'a> {
    let mut pool: Vec<&ContainerSummary> = existing.to_vec();
    let mut matched = Vec::new();
    if deploy_managed {
        // Newest running first, then newest stopped.
        pool.sort_by_key(|c| (c.state != "running", std::cmp::Reverse(number(c))));
        for _ in numbers {
            matched.push(if pool.is_empty() { None } else { Some(pool.remove(0)) });
        }
        let (kept, leftover): (Vec<_>, Vec<_>) = pool.into_iter().partition(|c| c.state != "running");
        return Assignment { matched, leftover, kept };
    }
    for (n, name) in numbers {
        let found = pool.iter().position(|c| number(c) == *n || &c.name == name);
        matched.push(found.map(|i| pool.remove(i)));
    }
    Assignment { matched, leftover: pool, kept: Vec::new() }
}

/// `com.docker.compose.container-number` (0 when absent or unreadable).
pub fn number(c: &ContainerSummary) -> u32 {
    c.label(labels::NUMBER).and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// One container's state, from an inspect.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerState {
    pub id: String,
    pub name: String,
    /// `running`, `exited`, `created`, `restarting`, `paused`, `dead`.
    pub status: String,
    pub exit_code: Option<i64>,
    pub restarting: bool,
    /// `healthy`, `unhealthy`, `starting`; `None` without a health check.
    pub health: Option<String>,
    /// The last health check outputs, oldest first (what a failed wait shows).
    pub health_log: Vec<String>,
    /// The image id the container runs.
    pub image_id: String,
    /// The image reference it was created with (`Config.Image`).
    pub image: String,
    pub env: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// The restart policy's name (`no`, `always`, …).
    pub restart_policy: String,
    /// The first IPv4 address on its networks (what the host and the proxy reach it at).
    pub ip: Option<String>,
}

impl ContainerState {
    pub fn running(&self) -> bool {
        self.status == "running"
    }

    /// One word for a report: the health status of a running container with a check, else the state.
    pub fn summary(&self) -> String {
        self.health.clone().filter(|_| self.running()).unwrap_or_else(|| self.status.clone())
    }
}

pub fn inspect(engine: &dyn Engine, id: &str) -> Result<ContainerState> {
    Ok(state_of(engine.inspect(id)?))
}

pub fn state_of(c: ContainerInspectResponse) -> ContainerState {
    let state = c.state.unwrap_or_default();
    let health = state.health.unwrap_or_default();
    let health_status = health.status.and_then(|s| match s {
        HealthStatusEnum::EMPTY | HealthStatusEnum::NONE => None,
        other => Some(other.to_string()),
    });
    let config = c.config.unwrap_or_default();
    let mut networks: Vec<(String, String)> = c
        .network_settings
        .and_then(|n| n.networks)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(name, e)| e.ip_address.filter(|ip| !ip.is_empty()).map(|ip| (name, ip)))
        .collect();
    networks.sort();
    ContainerState {
        ip: networks.into_iter().next().map(|(_, ip)| ip),
        id: c.id.unwrap_or_default(),
        name: c.name.unwrap_or_default().trim_start_matches('/').to_string(),
        status: state.status.map(|s| s.to_string()).unwrap_or_default(),
        exit_code: state.exit_code,
        restarting: state.restarting.unwrap_or(false),
        health: health_status,
        health_log: health
            .log
            .unwrap_or_default()
            .into_iter()
            .filter_map(|r| r.output.map(|o| o.trim().to_string()))
            .filter(|o| !o.is_empty())
            .collect(),
        image_id: c.image.unwrap_or_default(),
        image: config.image.unwrap_or_default(),
        env: config.env.unwrap_or_default(),
        labels: config.labels.unwrap_or_default().into_iter().collect(),
        restart_policy: c
            .host_config
            .and_then(|h| h.restart_policy)
            .and_then(|p| p.name)
            .map(|n| n.to_string())
            .unwrap_or_else(|| "no".into()),
    }
}
