//! `tug plan run`: execute from the current position until the plan is done, a gate blocks, an approval
//! is needed or a watch window is still open. One run at a time (a lock in the state database); the run's
//! story is written before and after every step, so a killed run resumes where it was.

use serde::Serialize;
use serde_json::{json, Value};
use tugboat::ops::{Ctx, Error, Operation, Result, Subject, Verdict};
use tugboat::stack::Stack;
use tugboat::store::{current_actor, PlanRun, Store};

use crate::file::{Action, Plan};
use crate::gate::{self, GateCheck, GateEnv};
use crate::state::{self, Status};
use crate::steps::{self, Outcome};
use crate::view::{self, PlanView};

/// `tug plan run NAME [--new]`.
pub struct RunPlan<'a> {
    pub stack: &'a Stack,
    pub plan: &'a Plan,
    /// Start another run after a finished one.
    pub new_run: bool,
}

/// How a `tug plan run` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// Every step succeeded.
    Done,
    /// A gate's evidence is missing or stale; nothing of the step ran.
    Blocked,
    AwaitingApproval,
    /// A stabilisation window read from `tug watch`'s history is still open.
    Waiting,
    /// A step ran and failed.
    Failed,
    /// A step that cannot safely run twice was interrupted: `tug plan resolve`.
    NeedsResolve,
}

#[derive(Debug, Serialize)]
pub struct RunReport {
    pub plan: String,
    pub run: i64,
    pub stop: Stop,
    /// The step it stopped at.
    pub step: Option<String>,
    pub message: String,
    /// Commands that move it on.
    pub fix: Vec<String>,
    /// Steps this invocation finished, in order.
    pub ran: Vec<StepRan>,
    /// The stopping step's gates (when it was blocked).
    pub gates: Vec<GateCheck>,
}

#[derive(Debug, Serialize)]
pub struct StepRan {
    pub step: String,
    pub kind: &'static str,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Verdict for RunReport {
    fn problem(&self) -> Option<String> {
        matches!(self.stop, Stop::Blocked | Stop::Failed | Stop::NeedsResolve).then(|| self.message.clone())
    }
    fn audit_summary(&self) -> Value {
        json!({
            "plan_run": steps::tag(&self.plan, self.run, self.step.as_deref().unwrap_or("-")),
            "stop": self.stop,
            "ran": self.ran.iter().map(|s| &s.step).collect::<Vec<_>>(),
        })
    }
}

/// What `tug plan run` starts from (its dry run and its audit parameters): where each step stands and which
/// gates block; the text form is the full view of `tug plan show`.
#[derive(Debug, Serialize)]
pub struct Outlook {
    pub plan: String,
    pub digest: String,
    /// The run it continues; `None`: a new one starts.
    pub run: Option<i64>,
    pub next: Option<String>,
    pub outlook: String,
    pub steps: Vec<StepOutlook>,
    #[serde(skip)]
    pub view: PlanView,
}

#[derive(Debug, Serialize)]
pub struct StepOutlook {
    pub name: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blocked_by: Vec<&'static str>,
}

impl std::fmt::Display for Outlook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.view.fmt(f)
    }
}

impl Operation for RunPlan<'_> {
    type Plan = Outlook;
    type Report = RunReport;

    fn command(&self) -> &'static str {
        "plan run"
    }
    fn subject(&self) -> Subject {
        Subject::of(self.stack)
    }
    fn request(&self) -> Value {
        json!({"plan_run": {"plan": self.plan.name}, "digest": self.plan.digest, "new": self.new_run})
    }
    fn plan(&self, ctx: &mut Ctx) -> Result<Outlook> {
        let view = view::view(self.stack, self.plan, ctx.store, ctx.clock.now_ms())?;
        let active = view.run.as_ref().filter(|r| r.status == "active").map(|r| r.id);
        Ok(Outlook {
            plan: view.plan.clone(),
            digest: view.digest.clone(),
            run: active,
            next: view.next.clone(),
            outlook: view.outlook.clone(),
            steps: view
                .steps
                .iter()
                .map(|s| StepOutlook {
                    name: s.name.clone(),
                    status: s.state.status,
                    blocked_by: s.gates.iter().filter(|g| !g.ok).map(|g| g.gate).collect(),
                })
                .collect(),
            view,
        })
    }
    fn run(&self, _outlook: &Outlook, ctx: &mut Ctx) -> Result<RunReport> {
        let _lock = Lock::take(ctx.store, self.stack, self.plan)?;
        let run = self.open_run(ctx.store)?;
        let result = self.drive(&run, ctx);
        _lock.release(ctx.store);
        result
    }
}

impl RunPlan<'_> {
    /// The active run, or a new one.
    fn open_run(&self, store: &mut Store) -> Result<PlanRun> {
        let actor = current_actor();
        match store.last_plan_run(&self.stack.name, &self.plan.name)? {
            Some(r) if r.status == "active" => {
                if r.digest != self.plan.digest {
                    let events = store.plan_events(r.id)?;
                    let last_digest = events
                        .iter()
                        .rev()
                        .find(|e| e.kind == "plan_changed" || e.kind == "run_started")
                        .and_then(|e| e.detail.get("to").or(e.detail.get("digest")))
                        .and_then(Value::as_str)
                        .map(str::to_string);
                    if last_digest.as_deref() != Some(self.plan.digest.as_str()) {
                        let detail = json!({"from": last_digest, "to": self.plan.digest});
                        store.record_plan_event(r.id, "-", "plan_changed", &actor, &detail)?;
                    }
                }
                Ok(r)
            }
            Some(r) if r.status == "rolling_back" => Err(Error::usage(format!(
                "run #{} of plan {} is being rolled back: finish it with `tug plan rollback {}`",
                r.id, self.plan.name, self.plan.name
            ))),
            Some(r) if !self.new_run => Err(Error::usage(format!(
                "run #{} of plan {} is {} (since {}); start another with `tug plan run {} --new`",
                r.id,
                self.plan.name,
                r.status.replace('_', " "),
                crate::time_text(r.finished_ms.unwrap_or(r.started_ms)),
                self.plan.name
            ))),
            _ => {
                let run = store.begin_plan_run(&self.stack.name, &self.plan.name, &self.plan.digest, &actor)?;
                store.record_plan_event(run.id, "-", "run_started", &actor, &json!({"digest": self.plan.digest}))?;
                Ok(run)
            }
        }
    }

    fn drive(&self, run: &PlanRun, ctx: &mut Ctx) -> Result<RunReport> {
        let actor = current_actor();
        let mut report = RunReport {
            plan: self.plan.name.clone(),
            run: run.id,
            stop: Stop::Done,
            step: None,
            message: String::new(),
            fix: Vec::new(),
            ran: Vec::new(),
            gates: Vec::new(),
        };
        let name = &self.plan.name;
        for (index, step) in self.plan.steps.iter().enumerate() {
            let events = ctx.store.plan_events(run.id)?;
            let st = state::step_state(&events, &step.name);
            let stop = |report: &mut RunReport, stop: Stop, message: String, fix: Vec<String>| {
                report.stop = stop;
                report.step = Some(step.name.clone());
                report.message = message;
                report.fix = fix;
            };
            match st.status {
                Status::Succeeded => continue,
                Status::Started if !step.action.idempotent() => {
                    stop(
                        &mut report,
                        Stop::NeedsResolve,
                        format!(
                            "step {} was interrupted mid-way and cannot safely run twice; check what it did, then say so",
                            step.name
                        ),
                        vec![
                            format!("tug plan resolve {name} {} --succeeded --note \"…\"", step.name),
                            format!("tug plan resolve {name} {} --failed --note \"…\"", step.name),
                        ],
                    );
                    return Ok(report);
                }
                _ => {}
            }
            let tag = steps::tag(name, run.id, &step.name);
            // An open watch window passed its gates when it began.
            if st.status != Status::Waiting {
                let env = GateEnv {
                    stack: self.stack,
                    store: ctx.store,
                    plan: self.plan,
                    events: &events,
                    now_ms: ctx.clock.now_ms(),
                };
                let checks = gate::evaluate_step(&env, index)?;
                if let Some(blocked) = checks.iter().find(|g| !g.ok) {
                    ctx.store.record_plan_event(run.id, &step.name, "blocked", &actor, &json!({"gates": checks}))?;
                    let message = format!(
                        "step {} is blocked by {}: {}",
                        step.name,
                        blocked.gate,
                        blocked.reason.as_deref().unwrap_or(&blocked.requirement)
                    );
                    let fix = checks.iter().filter(|g| !g.ok).filter_map(|g| g.fix.clone()).collect();
                    stop(&mut report, Stop::Blocked, message, fix);
                    report.gates = checks;
                    return Ok(report);
                }
                if !checks.is_empty() {
                    ctx.store.record_plan_event(
                        run.id,
                        &step.name,
                        "gates_passed",
                        &actor,
                        &json!({"gates": checks}),
                    )?;
                }
            }
            let outcome = match &step.action {
                Action::Approve { note, count } => {
                    let approvals = state::approvals(&events, &[step.name.as_str()]);
                    let have = approvals.len();
                    if have < *count as usize {
                        let detail = json!({"need": count, "have": have, "note": note});
                        ctx.store.record_plan_event(run.id, &step.name, "awaiting_approval", &actor, &detail)?;
                        let what = note.as_deref().map(|n| format!(": {n}")).unwrap_or_default();
                        stop(
                            &mut report,
                            Stop::AwaitingApproval,
                            format!("step {} needs approval ({have} of {count}){what}", step.name),
                            vec![format!("tug approve {name} {} --as NAME --note \"…\"", step.name)],
                        );
                        return Ok(report);
                    }
                    let who: Vec<Value> = approvals
                        .iter()
                        .map(|a| json!({"person": a.actor, "time_ms": a.time_ms, "note": a.detail.get("note")}))
                        .collect();
                    Outcome::Succeeded(json!({"operation": "approve", "report": {"approvers": who}}))
                }
                Action::Watch { suite, window, every: None } => {
                    let now = ctx.clock.now_ms();
                    let window_ms = i64::try_from(window.0.as_millis()).unwrap_or(i64::MAX);
                    // The window runs from when the step was first reached (kept in its events, by the
                    // injected clock), not from this invocation.
                    let start = match st.status {
                        Status::Waiting => st.detail["since_ms"].as_i64().unwrap_or(now),
                        _ => {
                            let detail = json!({"action": step.action.summary(), "since_ms": now});
                            ctx.store.record_plan_event(run.id, &step.name, "started", &actor, &detail)?;
                            now
                        }
                    };
                    let end = start.saturating_add(window_ms);
                    let history = gate::watch_history(ctx.store, &self.stack.name, Some(suite), start, now.min(end))?;
                    let evidence = json!({"operation": "watch", "report": history});
                    let alarmed =
                        history.alerts > 0 || history.problem.as_deref().is_some_and(|p| p.contains("incident"));
                    if !alarmed && now < end {
                        let detail = json!({"since_ms": start, "until_ms": end, "so_far": history});
                        ctx.store.record_plan_event(run.id, &step.name, "waiting", &actor, &detail)?;
                        stop(
                            &mut report,
                            Stop::Waiting,
                            format!(
                                "step {}: watching {suite} until {} (clean so far); keep `tug watch` running",
                                step.name,
                                crate::time_text(end)
                            ),
                            vec![format!("tug plan run {name}   # after {}", crate::time_text(end))],
                        );
                        return Ok(report);
                    }
                    match history.problem {
                        Some(reason) => Outcome::Failed { reason, evidence },
                        None => Outcome::Succeeded(evidence),
                    }
                }
                action => {
                    ctx.store.record_plan_event(
                        run.id,
                        &step.name,
                        "started",
                        &actor,
                        &json!({"action": action.summary()}),
                    )?;
                    match steps::execute(self.stack, action, &tag, ctx) {
                        Ok(outcome) => outcome,
                        // Interrupted: the step stays `started`; the next run re-runs it or asks.
                        Err(e) if ctx.cancel.is_cancelled() => return Err(e),
                        Err(e) => {
                            let detail = json!({"reason": e.summary()});
                            ctx.store.record_plan_event(run.id, &step.name, "failed", &actor, &detail)?;
                            return Err(e);
                        }
                    }
                }
            };
            match outcome {
                Outcome::Succeeded(evidence) => {
                    ctx.store.record_plan_event(
                        run.id,
                        &step.name,
                        "succeeded",
                        &actor,
                        &json!({"evidence": evidence}),
                    )?;
                    report.ran.push(StepRan {
                        step: step.name.clone(),
                        kind: step.action.kind(),
                        ok: true,
                        reason: None,
                    });
                }
                Outcome::Failed { reason, evidence } => {
                    let detail = json!({"reason": reason, "evidence": evidence});
                    ctx.store.record_plan_event(run.id, &step.name, "failed", &actor, &detail)?;
                    report.ran.push(StepRan {
                        step: step.name.clone(),
                        kind: step.action.kind(),
                        ok: false,
                        reason: Some(reason.clone()),
                    });
                    stop(
                        &mut report,
                        Stop::Failed,
                        format!("step {} failed: {reason}", step.name),
                        vec![format!("tug plan run {name}   # again, once fixed"), format!("tug plan rollback {name}")],
                    );
                    return Ok(report);
                }
            }
        }
        ctx.store.record_plan_event(run.id, "-", "done", &actor, &json!({}))?;
        ctx.store.set_plan_run_status(run.id, "done")?;
        report.message = format!("plan {name}: every step succeeded (run #{})", run.id);
        Ok(report)
    }
}

/// The plan's lock, held while this process acts on a run.
pub(crate) struct Lock {
    stack: String,
    plan: String,
}

impl Lock {
    pub(crate) fn take(store: &mut Store, stack: &Stack, plan: &Plan) -> Result<Lock> {
        let actor = current_actor();
        let host = actor.rsplit('@').next().unwrap_or("unknown").to_string();
        if let Some(owner) = store.acquire_plan_lock(&stack.name, &plan.name, &actor, std::process::id(), &host)? {
            return Err(Error::cannot_act(format!(
                "plan {} is being run by {} (pid {} on {}) since {}: one run at a time",
                plan.name,
                owner.actor,
                owner.pid,
                owner.host,
                crate::time_text(owner.acquired_ms)
            )));
        }
        Ok(Lock { stack: stack.name.clone(), plan: plan.name.clone() })
    }

    pub(crate) fn release(self, store: &mut Store) {
        let _ = store.release_plan_lock(&self.stack, &self.plan, std::process::id());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
