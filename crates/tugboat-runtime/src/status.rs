//! `tug status`: the project as declared against what runs — missing, orphaned, image or configuration
//! changed since creation, unhealthy, restarting, stopped. Reads only; any drift makes it exit 1.

use std::collections::BTreeMap;

use serde::Serialize;
use tugboat::ops::Result;
use tugboat::stack::Stack;

use crate::desired;
use crate::engine::Engine;
use crate::labels;
use crate::observe::{self, ContainerState};
use crate::spec::{self, Condition, ServiceSpec};

#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub project: String,
    pub services: Vec<ServiceStatus>,
    /// Containers of services the files no longer define.
    pub orphans: Vec<Container>,
    /// Every drift found, in service order.
    pub drift: Vec<Drift>,
}

impl StatusReport {
    pub fn in_sync(&self) -> bool {
        self.drift.is_empty()
    }
}

#[derive(Debug, Serialize)]
pub struct ServiceStatus {
    pub service: String,
    pub image: String,
    pub containers: Vec<Container>,
}

#[derive(Debug, Serialize)]
pub struct Container {
    pub name: String,
    /// `running`, `exited`, …; `completed` for a one-shot that exited 0.
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    pub image: String,
    pub image_id: String,
}

/// One way the running project differs from its files.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Drift {
    Missing {
        service: String,
        container: String,
    },
    Orphaned {
        service: String,
        container: String,
    },
    ImageDiffers {
        service: String,
        container: String,
        detail: String,
    },
    ConfigDiffers {
        service: String,
        container: String,
        detail: String,
    },
    Unhealthy {
        service: String,
        container: String,
        detail: String,
    },
    Restarting {
        service: String,
        container: String,
    },
    NotRunning {
        service: String,
        container: String,
        state: String,
        exit_code: i64,
    },
    /// The proxy routes the service to an address no running container of it holds (the engine gave the
    /// container a new one); `tug up` re-points it.
    RouteStale {
        service: String,
        targets: Vec<String>,
        detail: String,
    },
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Drift::Missing { service, container } => write!(f, "{service}: {container} is missing"),
            Drift::Orphaned { service, container } => {
                write!(f, "{service}: {container} runs but the service is no longer defined")
            }
            Drift::ImageDiffers { service, container, detail } => {
                write!(f, "{service}: {container} image differs: {detail}")
            }
            Drift::ConfigDiffers { service, container, detail } => {
                write!(f, "{service}: {container} configuration differs: {detail}")
            }
            Drift::Unhealthy { service, container, detail } => {
                write!(f, "{service}: {container} is unhealthy: {detail}")
            }
            Drift::Restarting { service, container } => write!(f, "{service}: {container} is restarting"),
            Drift::NotRunning { service, container, state, exit_code } => {
                write!(f, "{service}: {container} is {state} (exit code {exit_code})")
            }
            Drift::RouteStale { service, targets, detail } => {
                write!(f, "{service}: the proxy routes to {} but {detail}", targets.join(", "))
            }
        }
    }
}

/// Routes of deployed services that point at no running container of theirs, as drift; nothing when no
/// proxy answers.
pub fn route_drift(
    stack: &Stack,
    engine: &dyn Engine,
    router: &dyn crate::deploy::router::Router,
    store: &tugboat::store::Store,
) -> Result<Vec<Drift>> {
    let project = spec::resolve(stack)?.project;
    let stale = crate::deploy::stale_routes(engine, router, store, stack, &project)?;
    Ok(stale
        .into_iter()
        .map(|r| Drift::RouteStale {
            detail: match &r.serving {
                Some((container, at)) => format!("{container} is at {at} (run `tug up` to re-point the route)"),
                None => "no running container of the service holds it".into(),
            },
            service: r.service,
            targets: r.targets,
        })
        .collect())
}

/// `images`: what `tug deploy` put live, by service (it stands in for the files' image).
pub fn status(stack: &Stack, engine: &dyn Engine, images: &BTreeMap<String, String>) -> Result<StatusReport> {
    let spec = spec::resolve(stack)?.with_images(images);
    let observed = observe::project_containers(engine, &spec.project)?;
    let one_shots: Vec<&str> = spec
        .services
        .iter()
        .flat_map(|s| &s.depends_on)
        .filter(|d| d.condition == Condition::ServiceCompletedSuccessfully)
        .map(|d| d.service.as_str())
        .collect();
    let mut report =
        StatusReport { project: spec.project.clone(), services: Vec::new(), orphans: Vec::new(), drift: Vec::new() };
    for s in &spec.services {
        let current_image = engine.image(&s.image)?.map(|i| i.id);
        let mut containers = Vec::new();
        let existing: Vec<_> = observed.iter().filter(|c| c.label(labels::SERVICE) == Some(s.name.as_str())).collect();
        let wanted = desired::desired(&spec, s);
        let numbers: Vec<(u32, String)> = wanted.iter().map(|d| (d.number, d.name.clone())).collect();
        let assignment = observe::assign(&numbers, &existing, stack.config.deploy.contains_key(&s.name));
        for (d, found) in wanted.iter().zip(&assignment.matched) {
            let Some(c) = found else {
                report.drift.push(Drift::Missing { service: s.name.clone(), container: d.name.clone() });
                continue;
            };
            let state = observe::inspect(engine, &c.id)?;
            let one_shot = one_shots.contains(&s.name.as_str());
            report.drift.extend(container_drift(s, &d.hash, &state, current_image.as_deref(), one_shot));
            containers.push(row(&state, one_shot));
        }
        for c in &assignment.leftover {
            report.drift.push(Drift::Orphaned { service: s.name.clone(), container: c.name.clone() });
        }
        for c in &assignment.kept {
            let mut kept = row(&observe::inspect(engine, &c.id)?, false);
            kept.state = "kept for rollback".into();
            containers.push(kept);
        }
        report.services.push(ServiceStatus { service: s.name.clone(), image: s.image.clone(), containers });
    }
    let defined: Vec<&str> = stack.project.services.iter().map(|s| s.name.as_str()).collect();
    for c in observed.iter().filter(|c| !c.label(labels::SERVICE).is_some_and(|s| defined.contains(&s))) {
        let state = observe::inspect(engine, &c.id)?;
        let service = c.label(labels::SERVICE).unwrap_or("?").to_string();
        report.drift.push(Drift::Orphaned { service, container: c.name.clone() });
        report.orphans.push(row(&state, false));
    }
    Ok(report)
}

fn row(state: &ContainerState, one_shot: bool) -> Container {
    let completed = one_shot && state.status == "exited" && state.exit_code == Some(0);
    Container {
        name: state.name.clone(),
        state: if completed { "completed".into() } else { state.status.clone() },
        health: state.health.clone().filter(|_| state.running()),
        image: state.image.clone(),
        image_id: state.image_id.clone(),
    }
}

fn container_drift(
    s: &ServiceSpec,
    hash: &str,
    state: &ContainerState,
    current_image: Option<&str>,
    one_shot: bool,
) -> Vec<Drift> {
    let (service, container) = (s.name.clone(), state.name.clone());
    let mut drift = Vec::new();
    if state.image != s.image {
        let detail = format!("declared {}, running {}", s.image, state.image);
        drift.push(Drift::ImageDiffers { service: service.clone(), container: container.clone(), detail });
    } else if let Some(current) = current_image.filter(|id| *id != state.image_id) {
        let detail = format!("{} is now {}, the container runs {}", s.image, short(current), short(&state.image_id));
        drift.push(Drift::ImageDiffers { service: service.clone(), container: container.clone(), detail });
    }
    if state.labels.get(labels::CONFIG_HASH).map(String::as_str) != Some(hash) {
        let detail = config_detail(s, state);
        drift.push(Drift::ConfigDiffers { service: service.clone(), container: container.clone(), detail });
    }
    // An exited container's last health status is stale: only a running one's counts.
    if state.restarting || state.status == "restarting" {
        drift.push(Drift::Restarting { service, container });
    } else if !state.running() {
        if !(one_shot && state.exit_code == Some(0)) {
            let exit_code = state.exit_code.unwrap_or(0);
            drift.push(Drift::NotRunning { service, container, state: state.status.clone(), exit_code });
        }
    } else if state.health.as_deref() == Some("unhealthy") {
        let detail = state.health_log.last().cloned().unwrap_or_else(|| "no health output".into());
        drift.push(Drift::Unhealthy { service, container, detail });
    }
    drift
}

/// What differs, as far as the container shows it: environment variable names (never values — they may
/// be secrets), else the config hash alone.
fn config_detail(s: &ServiceSpec, state: &ContainerState) -> String {
    let split = |e: &String| e.split_once('=').map(|(k, v)| (k.to_string(), v.to_string()));
    let declared: BTreeMap<String, String> = s.create.env.iter().flatten().filter_map(split).collect();
    let running: BTreeMap<String, String> = state.env.iter().filter_map(split).collect();
    let changed: Vec<&str> =
        declared.iter().filter(|(k, v)| running.get(*k) != Some(v)).map(|(k, _)| k.as_str()).collect();
    if changed.is_empty() {
        "the config hash differs from the files' (created from another version of them)".into()
    } else {
        format!("environment {} changed", changed.join(", "))
    }
}

fn short(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}
