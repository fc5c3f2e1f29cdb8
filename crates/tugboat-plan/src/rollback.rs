//! `tug plan rollback NAME`: undo the run's succeeded `run` steps (their `undo` command) and deploys
//! (`tug rollback`), newest first, then run the plan's `rollback:` section in order. Each undo is its own
//! audited operation; a rollback that fails part-way is continued by the next `tug plan rollback`.

use serde::Serialize;
use serde_json::{json, Value};
use tugboat::ops::{Ctx, Error, Operation, Result, Subject, Verdict};
use tugboat::stack::Stack;
use tugboat::store::{current_actor, PlanRun};

use crate::file::{Action, Plan, Undo};
use crate::state::{self, Status};
use crate::steps::{self, Outcome};

pub struct RollbackPlan<'a> {
    pub stack: &'a Stack,
    pub plan: &'a Plan,
}

/// What the rollback will do, in order.
#[derive(Debug, Serialize)]
pub struct RollbackSteps {
    pub plan: String,
    pub run: i64,
    pub actions: Vec<RollbackAction>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RollbackAction {
    pub step: String,
    /// `undo` (a succeeded step reversed) or `rollback` (a step of the `rollback:` section).
    pub kind: &'static str,
    pub what: String,
    /// Already done by an earlier, interrupted rollback.
    pub done: bool,
}

impl std::fmt::Display for RollbackSteps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "roll back run #{} of plan {}:", self.run, self.plan)?;
        if self.actions.is_empty() {
            writeln!(f, "  nothing to undo")?;
        }
        for a in &self.actions {
            let done = if a.done { "  (done)" } else { "" };
            writeln!(f, "  {:<8} {}: {}{done}", a.kind, a.step, a.what)?;
        }
        Ok(())
    }
}

#[derive(Debug, Serialize)]
pub struct RollbackReport {
    pub plan: String,
    pub run: i64,
    pub done: Vec<String>,
    /// The step whose undo failed; the run stays `rolling_back`.
    pub failed: Option<(String, String)>,
}

impl Verdict for RollbackReport {
    fn problem(&self) -> Option<String> {
        self.failed.as_ref().map(|(step, why)| format!("undo of {step} failed: {why}"))
    }
    fn audit_summary(&self) -> Value {
        json!({"plan_run": steps::tag(&self.plan, self.run, "-"), "done": self.done})
    }
}

fn undo_text(action: &Action) -> Option<String> {
    match action {
        Action::Run { undo: Undo::Command { command }, .. } => Some(format!("run {command}")),
        Action::Deploy { service, .. } => Some(format!("tug rollback {service}")),
        _ => None,
    }
}

impl Operation for RollbackPlan<'_> {
    type Plan = RollbackSteps;
    type Report = RollbackReport;

    fn command(&self) -> &'static str {
        "plan rollback"
    }
    fn subject(&self) -> Subject {
        Subject::of(self.stack)
    }
    fn request(&self) -> Value {
        json!({"plan_run": {"plan": self.plan.name}})
    }
    fn plan(&self, ctx: &mut Ctx) -> Result<RollbackSteps> {
        let run = match ctx.store.last_plan_run(&self.stack.name, &self.plan.name)? {
            Some(r) if r.status != "rolled_back" => r,
            Some(r) => {
                return Err(Error::usage(format!("run #{} of plan {} is already rolled back", r.id, self.plan.name)))
            }
            None => {
                return Err(Error::usage(format!(
                    "plan {} has never run: there is nothing to roll back",
                    self.plan.name
                )))
            }
        };
        let events = ctx.store.plan_events(run.id)?;
        let mut actions = Vec::new();
        for step in self.plan.steps.iter().rev() {
            let status = state::step_state(&events, &step.name).status;
            let Some(what) = undo_text(&step.action) else { continue };
            // Succeeded, or an undo that did not finish (it is run again: undos are written to be repeatable).
            // A command that failed or was interrupted may have done part of its work, so it is undone too; a
            // failed deploy has already put the old version back itself.
            let undoable = match step.action {
                Action::Run { .. } => !matches!(status, Status::Pending),
                _ => matches!(status, Status::Succeeded | Status::Undoing | Status::UndoFailed | Status::Undone),
            };
            if undoable {
                actions.push(RollbackAction {
                    step: step.name.clone(),
                    kind: "undo",
                    what,
                    done: status == Status::Undone,
                });
            }
        }
        for step in &self.plan.rollback {
            let done = state::step_state(&events, &step.name).status == Status::Succeeded;
            actions.push(RollbackAction {
                step: step.name.clone(),
                kind: "rollback",
                what: step.action.summary(),
                done,
            });
        }
        Ok(RollbackSteps { plan: self.plan.name.clone(), run: run.id, actions })
    }
    fn run(&self, plan: &RollbackSteps, ctx: &mut Ctx) -> Result<RollbackReport> {
        let lock = crate::run::Lock::take(ctx.store, self.stack, self.plan)?;
        let result = self.roll_back(plan, ctx);
        lock.release(ctx.store);
        result
    }
}

impl RollbackPlan<'_> {
    fn roll_back(&self, plan: &RollbackSteps, ctx: &mut Ctx) -> Result<RollbackReport> {
        let actor = current_actor();
        let run: PlanRun = ctx
            .store
            .plan_run(plan.run)?
            .ok_or_else(|| Error::cannot_act(format!("run #{} is not in the state database", plan.run)))?;
        if run.status != "rolling_back" {
            ctx.store.set_plan_run_status(run.id, "rolling_back")?;
            ctx.store.record_plan_event(run.id, "-", "rollback_started", &actor, &json!({}))?;
        }
        let mut report = RollbackReport { plan: self.plan.name.clone(), run: run.id, done: Vec::new(), failed: None };
        for a in plan.actions.iter().filter(|a| !a.done) {
            let Some(step) = self.plan.step(&a.step) else { continue };
            let tag = steps::tag(&self.plan.name, run.id, &step.name);
            let (start, ok, fail) = match a.kind {
                "undo" => ("undo_started", "undone", "undo_failed"),
                _ => ("started", "succeeded", "failed"),
            };
            ctx.store.record_plan_event(run.id, &step.name, start, &actor, &json!({"action": a.what}))?;
            let outcome = match a.kind {
                "undo" => steps::undo(self.stack, &step.action, &tag, ctx)
                    .map(|o| o.unwrap_or(Outcome::Succeeded(Value::Null))),
                _ => steps::execute(self.stack, &step.action, &tag, ctx),
            };
            let outcome = match outcome {
                Ok(o) => o,
                Err(e) if ctx.cancel.is_cancelled() => return Err(e),
                Err(e) => Outcome::Failed { reason: e.summary(), evidence: Value::Null },
            };
            match outcome {
                Outcome::Succeeded(evidence) => {
                    ctx.store.record_plan_event(run.id, &step.name, ok, &actor, &json!({"evidence": evidence}))?;
                    report.done.push(step.name.clone());
                }
                Outcome::Failed { reason, evidence } => {
                    let detail = json!({"reason": reason, "evidence": evidence});
                    ctx.store.record_plan_event(run.id, &step.name, fail, &actor, &detail)?;
                    report.failed = Some((step.name.clone(), reason));
                    return Ok(report);
                }
            }
        }
        ctx.store.record_plan_event(run.id, "-", "rollback_done", &actor, &json!({}))?;
        ctx.store.set_plan_run_status(run.id, "rolled_back")?;
        Ok(report)
    }
}
