//! `tug rollback SERVICE`: back to the container the last deploy replaced — kept stopped for this — in
//! seconds: start it, pass the health gate, switch the route, drain and stop the current one.

use std::time::Instant;

use serde::Serialize;
use tugboat::ops::{Ctx, Error, ErrorKind, Operation, Result, Subject};
use tugboat::stack::Stack;
use tugboat::store::LockTaken;

use super::router::{socket_addr, Router};
use super::{address, gate, Side};
use crate::engine::Engine;
use crate::observe;

pub struct Rollback<'a> {
    pub stack: &'a Stack,
    pub engine: &'a dyn Engine,
    pub router: &'a dyn Router,
    pub service: String,
}

#[derive(Debug, Serialize)]
pub struct RollbackPlan {
    pub service: String,
    pub current: Option<Side>,
    pub previous: Side,
    /// The deploy being undone (journal id).
    pub undoes: i64,
    /// It never finished (killed, or its proxy went away): this rollback closes it.
    pub resolves_unfinished: bool,
    #[serde(skip)]
    previous_id: String,
    /// The other running containers of the service, with their addresses: drained and stopped.
    #[serde(skip)]
    others: Vec<(String, Option<String>)>,
}

#[derive(Debug, Serialize)]
pub struct RollbackReport {
    pub service: String,
    pub from: Option<Side>,
    pub to: Side,
    pub took_ms: u64,
}

impl tugboat::ops::Verdict for RollbackReport {
    fn problem(&self) -> Option<String> {
        None
    }

    fn audit_summary(&self) -> serde_json::Value {
        serde_json::json!({ "from": self.from.as_ref().map(|s| &s.image), "to": self.to.image, "took_ms": self.took_ms })
    }
}

impl Operation for Rollback<'_> {
    type Plan = RollbackPlan;
    type Report = RollbackReport;

    fn command(&self) -> &'static str {
        "rollback"
    }

    fn subject(&self) -> Subject {
        Subject::of(self.stack)
    }

    fn request(&self) -> serde_json::Value {
        serde_json::json!({ "service": self.service })
    }

    fn plan(&self, ctx: &mut Ctx) -> Result<RollbackPlan> {
        let service = &self.service;
        let target = self.stack.config.deploy.get(service).ok_or_else(|| {
            Error::new(ErrorKind::Config, format!("service {service} has no `deploy.{service}` in tugboat.yml"))
        })?;
        // A deploy left half-way (killed, or its proxy went away) is the one to undo; else the last one.
        let unfinished = ctx.store.unfinished_deploy(&self.stack.name, service)?;
        let last = match unfinished.clone() {
            Some(open) => open,
            None => ctx
                .store
                .deploys(&self.stack.name, service, 20)?
                .into_iter()
                .find(|d| d.kind == "deploy" && d.outcome.as_deref() == Some("ok"))
                .ok_or_else(|| {
                    Error::new(ErrorKind::CannotAct, format!("service {service} has no deploy to roll back"))
                })?,
        };
        let previous_name = last.from_container.clone().ok_or_else(|| {
            Error::new(ErrorKind::CannotAct, format!("deploy {} of {service} replaced no container", last.id))
        })?;
        let previous = observe::inspect(self.engine, &previous_name).map_err(|e| {
            Error::new(
                ErrorKind::CannotAct,
                format!("the container deploy {} replaced ({previous_name}) is gone, so there is nothing to roll back to: {e}", last.id),
            )
        })?;
        let project = crate::spec::resolve(self.stack)?.project;
        // Everything else of the service that runs stops once the previous version serves.
        let mut others = Vec::new();
        for c in observe::project_containers(self.engine, &project)?
            .iter()
            .filter(|c| c.label(crate::labels::SERVICE) == Some(service.as_str()))
        {
            let state = observe::inspect(self.engine, &c.id)?;
            if state.running() && state.id != previous.id {
                others.push(state);
            }
        }
        let side = |c: &observe::ContainerState| Side {
            container: c.name.clone(),
            image: c.image.clone(),
            address: target.port.and_then(|p| address(c, p)),
        };
        Ok(RollbackPlan {
            service: service.clone(),
            current: others.last().map(side),
            previous: side(&previous),
            undoes: last.id,
            resolves_unfinished: unfinished.is_some(),
            previous_id: previous.id.clone(),
            others: others.iter().map(|c| (c.id.clone(), target.port.and_then(|p| address(c, p)))).collect(),
        })
    }

    fn run(&self, plan: &RollbackPlan, ctx: &mut Ctx) -> Result<RollbackReport> {
        let stack = &self.stack.name;
        let pid = std::process::id();
        let actor = tugboat::store::current_actor();
        let host = actor.rsplit('@').next().unwrap_or("unknown").to_string();
        if let LockTaken::HeldBy(lock) = ctx.store.acquire_deploy_lock(stack, &self.service, &actor, pid, &host)? {
            return Err(Error::new(
                ErrorKind::CannotAct,
                format!("a deploy of stack {stack} is running: {} by {} (pid {})", lock.service, lock.actor, lock.pid),
            ));
        }
        let result = self.roll_back(plan, ctx);
        ctx.store.release_deploy_lock(stack, pid)?;
        result
    }
}

impl Rollback<'_> {
    fn roll_back(&self, plan: &RollbackPlan, ctx: &mut Ctx) -> Result<RollbackReport> {
        let started = Instant::now();
        let service = &self.service;
        let target = self.stack.config.deploy.get(service).cloned().unwrap_or_default();
        let journal = ctx.store.begin_deploy(
            &self.stack.name,
            service,
            "rollback",
            plan.current.as_ref().map(|c| c.container.as_str()),
            plan.current.as_ref().map(|c| c.image.as_str()),
            &plan.previous.image,
            "starting",
        )?;
        let outcome = (|| -> Result<RollbackReport> {
            ctx.store.deploy_phase(journal, "starting", Some(&plan.previous.container))?;
            self.engine.start(&plan.previous_id).or_else(|e| {
                // Already running (a rollback right after a failed watch window): fine.
                if matches!(e, crate::engine::EngineError::Api { status: 304, .. }) {
                    Ok(())
                } else {
                    Err(e)
                }
            })?;
            ctx.store.deploy_phase(journal, "health", None)?;
            let timeout = target.health.timeout.map(|d| d.0).unwrap_or(std::time::Duration::from_secs(60));
            let state = gate::healthy(self.engine, &plan.previous_id, &target, timeout, &ctx.cancel)?;
            let to = Side {
                container: plan.previous.container.clone(),
                image: plan.previous.image.clone(),
                address: target.port.and_then(|p| address(&state, p)),
            };
            if let Some(addr) = &to.address {
                ctx.store.deploy_phase(journal, "switching", None)?;
                self.router.set_route(&super::route_to(service, &target, socket_addr(addr)?))?;
                ctx.store.deploy_phase(journal, "draining", None)?;
                let drain = target.drain.map(|d| d.0).unwrap_or(std::time::Duration::from_secs(10));
                for current in plan.others.iter().filter_map(|(_, a)| a.as_deref()) {
                    self.router.drain(service, socket_addr(current)?, drain)?;
                }
            }
            for (id, _) in &plan.others {
                self.engine.stop(id, None)?;
            }
            if plan.resolves_unfinished {
                ctx.store.finish_deploy(plan.undoes, "rolled_back", Some("by tug rollback"))?;
            }
            ctx.store.deploy_phase(journal, "done", None)?;
            Ok(RollbackReport {
                service: service.clone(),
                from: plan.current.clone(),
                to,
                took_ms: started.elapsed().as_millis() as u64,
            })
        })();
        match &outcome {
            Ok(_) => ctx.store.finish_deploy(journal, "ok", None)?,
            Err(e) => ctx.store.finish_deploy(journal, "failed", Some(&e.summary()))?,
        }
        outcome
    }
}

impl std::fmt::Display for RollbackPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "tug rollback {} (undoes deploy {})", self.service, self.undoes)?;
        match &self.current {
            Some(c) => writeln!(f, "  current:  {} ({})", c.container, c.image)?,
            None => writeln!(f, "  current:  none running")?,
        }
        writeln!(
            f,
            "  back to:  {} ({}): start, health gate, switch the route, drain and stop the current one",
            self.previous.container, self.previous.image
        )
    }
}
