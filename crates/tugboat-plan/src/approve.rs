//! What people record in a run: `tug approve` (a human gate passed, by whom) and `tug plan resolve` (the
//! outcome of a step that was interrupted and cannot safely run twice). Both are operations: audited.

use serde::Serialize;
use serde_json::{json, Value};
use tugboat::ops::{Ctx, Error, Operation, Result, Subject, Verdict};
use tugboat::stack::Stack;
use tugboat::store::{current_actor, PlanRun, Store};

use crate::file::Plan;
use crate::state::{self, Status};
use crate::steps;

/// The run a person acts on: the active one.
fn active_run(store: &Store, stack: &Stack, plan: &Plan) -> Result<PlanRun> {
    match store.last_plan_run(&stack.name, &plan.name)? {
        Some(r) if r.status == "active" => Ok(r),
        Some(r) => Err(Error::usage(format!(
            "run #{} of plan {} is {}; approvals belong to a run in progress: `tug plan run {} --new` starts one",
            r.id,
            plan.name,
            r.status.replace('_', " "),
            plan.name
        ))),
        None => Err(Error::usage(format!(
            "plan {} has no run yet: start it with `tug plan run {}` (it stops at the approval)",
            plan.name, plan.name
        ))),
    }
}

fn known_step(plan: &Plan, step: &str) -> Result<()> {
    if plan.steps.iter().any(|s| s.name == step) {
        return Ok(());
    }
    let names: Vec<&str> = plan.steps.iter().map(|s| s.name.as_str()).collect();
    Err(Error::usage(format!("plan {} has no step `{step}` (steps: {})", plan.name, names.join(", "))))
}

/// `tug approve NAME STEP --as PERSON [--note]`.
pub struct Approve<'a> {
    pub stack: &'a Stack,
    pub plan: &'a Plan,
    pub step: String,
    pub person: String,
    pub note: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ApprovePlan {
    pub plan_run: Value,
    pub step: String,
    pub person: String,
    pub note: Option<String>,
    /// Who recorded it (`user@host`).
    pub by: String,
}

impl std::fmt::Display for ApprovePlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let note = self.note.as_deref().map(|n| format!(": {n}")).unwrap_or_default();
        writeln!(f, "record {}'s approval of step {} (run #{}){note}", self.person, self.step, self.plan_run["run"])
    }
}

#[derive(Debug, Serialize)]
pub struct ApproveReport {
    pub step: String,
    pub person: String,
    /// Distinct approvers of the step so far.
    pub approvers: Vec<String>,
}

impl Verdict for ApproveReport {
    fn problem(&self) -> Option<String> {
        None
    }
}

impl Operation for Approve<'_> {
    type Plan = ApprovePlan;
    type Report = ApproveReport;

    fn command(&self) -> &'static str {
        "approve"
    }
    fn subject(&self) -> Subject {
        Subject::of(self.stack)
    }
    fn request(&self) -> Value {
        json!({"plan_run": {"plan": self.plan.name, "step": self.step}, "person": self.person, "note": self.note})
    }
    fn plan(&self, ctx: &mut Ctx) -> Result<ApprovePlan> {
        known_step(self.plan, &self.step)?;
        if self.person.trim().is_empty() {
            return Err(Error::usage("--as names the person approving"));
        }
        let run = active_run(ctx.store, self.stack, self.plan)?;
        let events = ctx.store.plan_events(run.id)?;
        if state::approvals(&events, &[self.step.as_str()]).iter().any(|a| a.actor == self.person) {
            return Err(Error::usage(format!(
                "{} already approved step {} in run #{}",
                self.person, self.step, run.id
            )));
        }
        if state::step_state(&events, &self.step).status == Status::Succeeded {
            return Err(Error::usage(format!("step {} already succeeded in run #{}", self.step, run.id)));
        }
        Ok(ApprovePlan {
            plan_run: steps::tag(&self.plan.name, run.id, &self.step),
            step: self.step.clone(),
            person: self.person.clone(),
            note: self.note.clone(),
            by: current_actor(),
        })
    }
    fn run(&self, plan: &ApprovePlan, ctx: &mut Ctx) -> Result<ApproveReport> {
        let run = plan.plan_run["run"].as_i64().unwrap_or_default();
        let detail = json!({"note": plan.note, "by": plan.by});
        ctx.store.record_plan_event(run, &plan.step, "approved", &plan.person, &detail)?;
        let events = ctx.store.plan_events(run)?;
        let approvers = state::approvals(&events, &[plan.step.as_str()]).iter().map(|a| a.actor.clone()).collect();
        Ok(ApproveReport { step: plan.step.clone(), person: plan.person.clone(), approvers })
    }
}

/// `tug plan resolve NAME STEP --succeeded|--failed [--note]`: the operator says what an interrupted step did.
pub struct Resolve<'a> {
    pub stack: &'a Stack,
    pub plan: &'a Plan,
    pub step: String,
    pub succeeded: bool,
    pub note: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ResolvePlan {
    pub plan_run: Value,
    pub step: String,
    pub outcome: &'static str,
    pub note: Option<String>,
}

impl std::fmt::Display for ResolvePlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "record that interrupted step {} {} (run #{})", self.step, self.outcome, self.plan_run["run"])
    }
}

#[derive(Debug, Serialize)]
pub struct ResolveReport {
    pub step: String,
    pub outcome: &'static str,
}

impl Verdict for ResolveReport {
    fn problem(&self) -> Option<String> {
        None
    }
}

impl Operation for Resolve<'_> {
    type Plan = ResolvePlan;
    type Report = ResolveReport;

    fn command(&self) -> &'static str {
        "plan resolve"
    }
    fn subject(&self) -> Subject {
        Subject::of(self.stack)
    }
    fn request(&self) -> Value {
        json!({"plan_run": {"plan": self.plan.name, "step": self.step}, "succeeded": self.succeeded, "note": self.note})
    }
    fn plan(&self, ctx: &mut Ctx) -> Result<ResolvePlan> {
        known_step(self.plan, &self.step)?;
        let run = active_run(ctx.store, self.stack, self.plan)?;
        let status = state::step_state(&ctx.store.plan_events(run.id)?, &self.step).status;
        if status != Status::Started {
            return Err(Error::usage(format!(
                "step {} is {}, not interrupted: only a step that started and never finished is resolved by hand",
                self.step,
                crate::gate::status_word(status)
            )));
        }
        Ok(ResolvePlan {
            plan_run: steps::tag(&self.plan.name, run.id, &self.step),
            step: self.step.clone(),
            outcome: if self.succeeded { "succeeded" } else { "failed" },
            note: self.note.clone(),
        })
    }
    fn run(&self, plan: &ResolvePlan, ctx: &mut Ctx) -> Result<ResolveReport> {
        // Not while a live `tug plan run` may still be inside the step.
        let lock = crate::run::Lock::take(ctx.store, self.stack, self.plan)?;
        let run = plan.plan_run["run"].as_i64().unwrap_or_default();
        let detail = json!({"outcome": plan.outcome, "note": plan.note, "by": current_actor()});
        let recorded = ctx.store.record_plan_event(run, &plan.step, "resolved", &current_actor(), &detail);
        lock.release(ctx.store);
        recorded?;
        Ok(ResolveReport { step: plan.step.clone(), outcome: plan.outcome })
    }
}
