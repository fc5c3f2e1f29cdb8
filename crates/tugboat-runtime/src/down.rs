//! `tug down [--volumes]`: stop the project's containers (dependents first, each with its service's
//! stop signal and grace period), remove them and the project's networks; named volumes only when asked.
//! Containers of services no longer defined (orphans) are removed with `remove_orphans`, else reported.

use serde::Serialize;
use tugboat::ops::{Ctx, Operation, Result, Subject};
use tugboat::stack::Stack;

use crate::engine::Engine;
use crate::labels;
use crate::observe;
use crate::spec;

#[derive(Clone, Debug, Serialize)]
pub struct DownOptions {
    pub volumes: bool,
    pub remove_orphans: bool,
}

pub struct Down<'a> {
    pub stack: &'a Stack,
    pub engine: &'a dyn Engine,
    pub options: DownOptions,
}

#[derive(Clone, Debug, Serialize)]
pub struct Removal {
    pub name: String,
    #[serde(skip)]
    pub id: String,
    /// The service's grace period (`stop_grace_period`), seconds; the engine's default (10) otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace_seconds: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct DownPlan {
    pub project: String,
    /// In stop order.
    pub containers: Vec<Removal>,
    /// Orphans left in place (no `--remove-orphans`).
    pub orphans_kept: Vec<String>,
    pub networks: Vec<String>,
    pub volumes: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct DownReport {
    pub project: String,
    pub removed_containers: Vec<String>,
    pub removed_networks: Vec<String>,
    pub removed_volumes: Vec<String>,
}

impl tugboat::ops::Verdict for DownReport {
    fn problem(&self) -> Option<String> {
        None
    }

    fn audit_summary(&self) -> serde_json::Value {
        serde_json::json!({
            "removed_containers": self.removed_containers.len(),
            "removed_networks": self.removed_networks.len(),
            "removed_volumes": self.removed_volumes.len(),
        })
    }
}

impl Operation for Down<'_> {
    type Plan = DownPlan;
    type Report = DownReport;

    fn command(&self) -> &'static str {
        "down"
    }

    fn subject(&self) -> Subject {
        Subject::of(self.stack)
    }

    fn request(&self) -> serde_json::Value {
        serde_json::to_value(&self.options).unwrap_or_default()
    }

    fn plan(&self, _ctx: &mut Ctx) -> Result<DownPlan> {
        let spec = spec::resolve(self.stack)?;
        self.engine.version()?;
        let observed = observe::project_containers(self.engine, &spec.project)?;
        let defined: Vec<&str> = self.stack.project.services.iter().map(|s| s.name.as_str()).collect();
        // Dependents stop before what they depend on: the reverse of the start order.
        let mut stop_order: Vec<String> = crate::up::order(&spec)?.into_iter().rev().map(|s| s.name.clone()).collect();
        for c in &observed {
            if let Some(s) = c.label(labels::SERVICE).filter(|s| defined.contains(s)) {
                if !stop_order.iter().any(|o| o == s) {
                    // Defined but not active (its profile is off): still the project's.
                    stop_order.push(s.to_string());
                }
            }
        }
        let mut containers = Vec::new();
        let mut orphans_kept = Vec::new();
        for c in observed.iter().filter(|c| !c.label(labels::SERVICE).is_some_and(|s| defined.contains(&s))) {
            if self.options.remove_orphans {
                containers.push(Removal { name: c.name.clone(), id: c.id.clone(), grace_seconds: None });
            } else {
                orphans_kept.push(c.name.clone());
            }
        }
        for service in &stop_order {
            let grace = spec.services.iter().find(|s| &s.name == service).and_then(|s| s.stop_grace_seconds);
            for c in observed.iter().filter(|c| c.label(labels::SERVICE) == Some(service.as_str())) {
                containers.push(Removal { name: c.name.clone(), id: c.id.clone(), grace_seconds: grace });
            }
        }
        let mut networks = Vec::new();
        for n in spec.networks.iter().filter(|n| !n.external) {
            let ours = self.engine.network(&n.name)?.is_some_and(|l| l.get(labels::PROJECT) == Some(&spec.project));
            if ours {
                networks.push(n.name.clone());
            }
        }
        let mut volumes = Vec::new();
        if self.options.volumes {
            for v in spec.volumes.iter().filter(|v| !v.external) {
                let ours = self.engine.volume(&v.name)?.is_some_and(|l| l.get(labels::PROJECT) == Some(&spec.project));
                if ours {
                    volumes.push(v.name.clone());
                }
            }
        }
        Ok(DownPlan { project: spec.project, containers, orphans_kept, networks, volumes })
    }

    fn run(&self, plan: &DownPlan, ctx: &mut Ctx) -> Result<DownReport> {
        let total = plan.containers.len() + plan.networks.len() + plan.volumes.len();
        let mut report = DownReport {
            project: plan.project.clone(),
            removed_containers: Vec::new(),
            removed_networks: Vec::new(),
            removed_volumes: Vec::new(),
        };
        for (i, c) in plan.containers.iter().enumerate() {
            ctx.cancel.check()?;
            let what = format!("stop {}", c.name);
            ctx.progress.started(&what, i + 1, total);
            match self.engine.stop(&c.id, c.grace_seconds) {
                Ok(()) => {}
                // Already gone: removed by someone else since the plan.
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            }
            self.engine.remove(&c.id, self.options.volumes)?;
            report.removed_containers.push(c.name.clone());
            ctx.progress.finished(&what, true);
        }
        for n in &plan.networks {
            ctx.progress.started(&format!("network {n}"), report.removed_containers.len() + 1, total);
            self.engine.remove_network(n)?;
            report.removed_networks.push(n.clone());
        }
        for v in &plan.volumes {
            self.engine.remove_volume(v)?;
            report.removed_volumes.push(v.clone());
        }
        Ok(report)
    }
}

impl std::fmt::Display for DownPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "tug down: project {}", self.project)?;
        for c in &self.containers {
            let grace = c.grace_seconds.map(|g| format!(" (grace {g}s)")).unwrap_or_default();
            writeln!(f, "  stop and remove container {}{grace}", c.name)?;
        }
        for o in &self.orphans_kept {
            writeln!(f, "  keep orphan container {o} (pass --remove-orphans to remove it)")?;
        }
        for n in &self.networks {
            writeln!(f, "  remove network {n}")?;
        }
        for v in &self.volumes {
            writeln!(f, "  remove volume {v}")?;
        }
        if self.containers.is_empty() && self.networks.is_empty() && self.volumes.is_empty() {
            writeln!(f, "  nothing to remove")?;
        }
        Ok(())
    }
}
