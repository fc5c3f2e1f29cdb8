//! `tug up [SERVICE…]`: the project's networks, volumes and images, then its containers in `depends_on`
//! order, each waited on as its dependents ask. Idempotent like Compose: a container whose config hash
//! and image are unchanged is left running, a changed one is recreated, a stopped one started, and
//! containers of services no longer in the files (orphans) reported or, with `remove_orphans`, removed.

mod plan;
mod run;

use std::time::Duration;

use serde::Serialize;
use tugboat::ops::{Ctx, Operation, Result, Subject};
use tugboat::stack::Stack;

use crate::engine::Engine;
use crate::spec::Condition;

pub use plan::order;

/// What `tug up` was asked.
#[derive(Clone, Debug, Serialize)]
pub struct UpOptions {
    /// Only these services (and, unless `no_deps`, what they depend on); empty = all active services.
    pub services: Vec<String>,
    pub no_deps: bool,
    /// Build images of `build:` services even when present.
    pub build: bool,
    /// `--pull always|missing|never`: overrides each service's `pull_policy`.
    pub pull: Option<crate::spec::PullPolicy>,
    /// Recreate every container even when unchanged.
    pub force_recreate: bool,
    pub remove_orphans: bool,
    /// After starting, wait until every service is running (healthy when it has a health check).
    pub wait: bool,
    /// Images `tug deploy` put live, by service: they stand in for the files' images.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub images: std::collections::BTreeMap<String, String>,
    /// How long one wait (a dependency's condition, or `--wait`) may take.
    #[serde(serialize_with = "seconds")]
    pub timeout: Duration,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

pub struct Up<'a> {
    pub stack: &'a Stack,
    pub engine: &'a dyn Engine,
    pub options: UpOptions,
    /// The proxy of a stack with deployed services: routes are re-pointed at containers' current addresses.
    pub router: Option<&'a dyn crate::deploy::router::Router>,
}

/// What will happen to one resource (network or volume).
#[derive(Clone, Debug, Serialize)]
pub struct ResourceStep {
    pub name: String,
    /// `create`, `exists` or `external`.
    pub action: &'static str,
}

#[derive(Clone, Debug, Serialize)]
pub struct ImageStep {
    pub service: String,
    pub reference: String,
    /// `present`, `pull` or `build`.
    pub action: &'static str,
    /// The present image's id (`sha256:…`), when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Recreate,
    Start,
    /// Left as it is (unless the image step changes its image: then recreated).
    Keep,
    /// Scaled down.
    Remove,
}

#[derive(Clone, Debug, Serialize)]
pub struct ContainerStep {
    pub name: String,
    pub number: u32,
    pub action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The existing container, when there is one.
    #[serde(skip)]
    pub existing: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ServicePlan {
    pub service: String,
    pub image: String,
    /// Dependencies waited on before this service's containers start.
    pub waits_for: Vec<(String, Condition)>,
    pub containers: Vec<ContainerStep>,
}

#[derive(Debug, Serialize)]
pub struct UpPlan {
    pub project: String,
    /// `20.10.24 (API 1.41)`
    pub engine: String,
    pub networks: Vec<ResourceStep>,
    pub volumes: Vec<ResourceStep>,
    pub images: Vec<ImageStep>,
    /// In start order.
    pub services: Vec<ServicePlan>,
    /// Containers of services the files no longer define.
    pub orphans: Vec<String>,
    pub remove_orphans: bool,
    pub wait: bool,
    #[serde(skip)]
    spec: crate::spec::ProjectSpec,
    #[serde(skip)]
    orphan_ids: Vec<String>,
    #[serde(skip)]
    timeout: Duration,
}

/// What `tug up` did, container by container.
#[derive(Debug, Serialize)]
pub struct UpReport {
    pub project: String,
    pub containers: Vec<ContainerOutcome>,
    pub removed_orphans: Vec<String>,
    /// Proxy routes that pointed at no running container and now point at the one serving.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub repointed_routes: Vec<crate::deploy::Repointed>,
}

#[derive(Debug, Serialize)]
pub struct ContainerOutcome {
    pub service: String,
    pub name: String,
    pub action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The state after `up`: `running`, `exited`, …; `healthy` when it has a health check and was waited on.
    pub state: String,
    #[serde(skip)]
    pub id: String,
}

impl tugboat::ops::Verdict for UpReport {
    fn problem(&self) -> Option<String> {
        None
    }

    fn audit_summary(&self) -> serde_json::Value {
        let changed = |a: Action| self.containers.iter().filter(|c| c.action == a).count();
        serde_json::json!({
            "created": changed(Action::Create),
            "recreated": changed(Action::Recreate),
            "started": changed(Action::Start),
            "unchanged": changed(Action::Keep),
            "removed_orphans": self.removed_orphans.len(),
            "repointed_routes": self.repointed_routes.len(),
        })
    }
}

impl Operation for Up<'_> {
    type Plan = UpPlan;
    type Report = UpReport;

    fn command(&self) -> &'static str {
        "up"
    }

    fn subject(&self) -> Subject {
        Subject::of(self.stack)
    }

    fn request(&self) -> serde_json::Value {
        serde_json::to_value(&self.options).unwrap_or_default()
    }

    fn plan(&self, _ctx: &mut Ctx) -> Result<UpPlan> {
        plan::plan(self)
    }

    fn run(&self, plan: &UpPlan, ctx: &mut Ctx) -> Result<UpReport> {
        run::run(self, plan, ctx)
    }
}

impl std::fmt::Display for UpPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "tug up: project {} on Docker Engine {}", self.project, self.engine)?;
        for (kind, steps) in [("network", &self.networks), ("volume", &self.volumes)] {
            for s in steps.iter() {
                writeln!(f, "  {kind:<9} {:<10} {}", s.action, s.name)?;
            }
        }
        for i in &self.images {
            writeln!(f, "  image     {:<10} {} ({})", i.action, i.reference, i.service)?;
        }
        for s in &self.services {
            let waits: Vec<String> = s.waits_for.iter().map(|(d, c)| format!("{d} {}", c.as_str())).collect();
            for c in &s.containers {
                let action = serde_json::to_value(c.action).ok().and_then(|v| v.as_str().map(str::to_string));
                write!(f, "  container {:<10} {}", action.unwrap_or_default(), c.name)?;
                if let Some(reason) = &c.reason {
                    write!(f, " ({reason})")?;
                }
                if !waits.is_empty() && matches!(c.action, Action::Create | Action::Recreate | Action::Start) {
                    write!(f, " after {}", waits.join(", "))?;
                }
                writeln!(f)?;
            }
        }
        for o in &self.orphans {
            let what = if self.remove_orphans { "remove" } else { "orphan" };
            writeln!(f, "  container {what:<10} {o} (its service is no longer defined)")?;
        }
        Ok(())
    }
}
