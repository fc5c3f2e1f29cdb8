//! Where a plan stands: each step's state, each gate's current answer with its evidence, and what would
//! run next. `tug plan show` prints it; `tug plan run --dry-run` is the same view.

use serde::Serialize;
use tugboat::ops::Result;
use tugboat::stack::Stack;
use tugboat::store::{PlanEvent, PlanRun, Store};

use crate::file::{Action, Plan, Step};
use crate::gate::{self, GateCheck, GateEnv};
use crate::state::{self, Status, StepState};

#[derive(Debug, Serialize)]
pub struct PlanView {
    pub plan: String,
    pub path: String,
    pub digest: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The current (or last) run; `None` before the first.
    pub run: Option<PlanRun>,
    /// The file changed since the run began.
    pub changed_since_run: bool,
    pub steps: Vec<StepView>,
    pub rollback: Vec<StepView>,
    /// The step `tug plan run` would take up next.
    pub next: Option<String>,
    /// What `tug plan run` would do now, in words.
    pub outlook: String,
}

#[derive(Debug, Serialize)]
pub struct StepView {
    pub name: String,
    pub kind: &'static str,
    pub summary: String,
    pub at: String,
    pub state: StepState,
    /// Evaluated now, for steps not yet done.
    pub gates: Vec<GateCheck>,
    /// Approvals recorded for this step.
    pub approvals: Vec<Approval>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Approval {
    pub person: String,
    pub time_ms: i64,
    pub note: Option<String>,
    pub by: Option<String>,
}

/// The run `tug plan run` would continue: the newest, unless it is finished.
pub fn current_run(store: &Store, stack: &Stack, plan: &Plan) -> Result<Option<PlanRun>> {
    Ok(store.last_plan_run(&stack.name, &plan.name)?)
}

pub fn view(stack: &Stack, plan: &Plan, store: &Store, now_ms: i64) -> Result<PlanView> {
    let run = current_run(store, stack, plan)?;
    let events: Vec<PlanEvent> = match &run {
        Some(r) => store.plan_events(r.id)?,
        None => Vec::new(),
    };
    let finished = run.as_ref().is_some_and(|r| r.status == "done" || r.status == "rolled_back");
    // A finished run is shown as it ended; the gates are those a new run would meet.
    let live_events: &[PlanEvent] = if finished { &[] } else { &events };
    let env = GateEnv { stack, store, plan, events: live_events, now_ms };
    let mut steps = Vec::new();
    let mut next = None;
    for (i, step) in plan.steps.iter().enumerate() {
        let st = state::step_state(&events, &step.name);
        let pending = finished || st.status != Status::Succeeded;
        let gates = if pending { gate::evaluate_step(&env, i)? } else { Vec::new() };
        if next.is_none() && (st.status != Status::Succeeded || finished) {
            next = Some(step.name.clone());
        }
        steps.push(step_view(step, st, gates, &events));
    }
    let rollback =
        plan.rollback.iter().map(|s| step_view(s, state::step_state(&events, &s.name), Vec::new(), &events)).collect();
    let outlook = outlook(plan, run.as_ref(), &steps, next.as_deref());
    Ok(PlanView {
        plan: plan.name.clone(),
        path: plan.path.display().to_string(),
        digest: plan.digest.clone(),
        description: plan.description.clone(),
        changed_since_run: run.as_ref().is_some_and(|r| r.digest != plan.digest),
        run,
        steps,
        rollback,
        next,
        outlook,
    })
}

fn step_view(step: &Step, state: StepState, gates: Vec<GateCheck>, events: &[PlanEvent]) -> StepView {
    StepView {
        name: step.name.clone(),
        kind: step.action.kind(),
        summary: step.action.summary(),
        at: step.at.clone(),
        state,
        gates,
        approvals: approvals_of(events, &step.name),
    }
}

pub fn approvals_of(events: &[PlanEvent], step: &str) -> Vec<Approval> {
    state::approvals(events, &[step])
        .into_iter()
        .map(|e| Approval {
            person: e.actor.clone(),
            time_ms: e.time_ms,
            note: e.detail.get("note").and_then(|n| n.as_str()).map(str::to_string),
            by: e.detail.get("by").and_then(|n| n.as_str()).map(str::to_string),
        })
        .collect()
}

fn outlook(plan: &Plan, run: Option<&PlanRun>, steps: &[StepView], next: Option<&str>) -> String {
    match run.map(|r| r.status.as_str()) {
        Some("done") => {
            return format!("run #{} is done; `tug plan run {} --new` starts another", run_id(run), plan.name)
        }
        Some("rolled_back") => {
            return format!("run #{} was rolled back; `tug plan run {} --new` starts another", run_id(run), plan.name)
        }
        Some("rolling_back") => {
            return format!(
                "run #{} is being rolled back: finish it with `tug plan rollback {}`",
                run_id(run),
                plan.name
            )
        }
        _ => {}
    }
    let Some(next) = next else { return "every step succeeded".into() };
    let Some(view) = steps.iter().find(|s| s.name == next) else { return String::new() };
    let start = match run {
        None => "a new run would start; ".to_string(),
        Some(r) => format!("run #{}: ", r.id),
    };
    let blocked: Vec<&GateCheck> = view.gates.iter().filter(|g| !g.ok).collect();
    let step = plan.steps.iter().find(|s| s.name == next);
    if view.state.status == Status::Started && !step.is_some_and(|s| s.action.idempotent()) {
        return format!(
            "{start}step {next} was interrupted mid-way and cannot safely run twice: check what it did, then `tug plan resolve {} {next} --succeeded` (or --failed)",
            plan.name
        );
    }
    if let Some(g) = blocked.first() {
        return format!(
            "{start}step {next} is blocked: {}{}",
            g.reason.as_deref().unwrap_or(&g.requirement),
            g.fix.as_deref().map(|f| format!(" (run `{f}`)")).unwrap_or_default()
        );
    }
    match step.map(|s| &s.action) {
        Some(Action::Approve { count, .. }) if view.approvals.len() < *count as usize => format!(
            "{start}step {next} needs approval ({} of {count}): `tug approve {} {next} --as NAME`",
            view.approvals.len(),
            plan.name
        ),
        _ => format!("{start}step {next} would run: {}", view.summary),
    }
}

fn run_id(run: Option<&PlanRun>) -> i64 {
    run.map_or(0, |r| r.id)
}

impl std::fmt::Display for PlanView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "plan {} ({})", self.plan, self.path)?;
        if let Some(d) = &self.description {
            writeln!(f, "  {d}")?;
        }
        if let Some(r) = &self.run {
            writeln!(
                f,
                "run #{}: {}, started by {} at {}",
                r.id,
                r.status,
                r.started_by,
                crate::time_text(r.started_ms)
            )?;
            if self.changed_since_run {
                writeln!(f, "  note: the plan file changed since this run began")?;
            }
        }
        let width = self.steps.iter().chain(&self.rollback).map(|s| s.name.len()).max().unwrap_or(0);
        for (section, steps) in [("steps", &self.steps), ("rollback", &self.rollback)] {
            if steps.is_empty() {
                continue;
            }
            writeln!(f, "{section}:")?;
            for s in steps {
                let marker = if Some(&s.name) == self.next.as_ref() { ">" } else { " " };
                let when = s.state.since_ms.map(|t| format!(" at {}", crate::time_text(t))).unwrap_or_default();
                writeln!(
                    f,
                    "{marker} {:<width$}  {:<18} {}{when}",
                    s.name,
                    gate::status_word(s.state.status),
                    s.summary
                )?;
                if let Some(reason) = s.state.detail.get("reason").and_then(|r| r.as_str()) {
                    writeln!(f, "    {reason}")?;
                }
                for a in &s.approvals {
                    let note = a.note.as_deref().map(|n| format!(": {n}")).unwrap_or_default();
                    writeln!(f, "    approved by {} at {}{note}", a.person, crate::time_text(a.time_ms))?;
                }
                for g in &s.gates {
                    let verdict = if g.ok { "ok     " } else { "BLOCKED" };
                    writeln!(f, "    gate {verdict} {}: {}", g.gate, g.requirement)?;
                    if let Some(e) = g.evidence.as_ref().and_then(evidence_line) {
                        writeln!(f, "           evidence: {e}")?;
                    }
                    if let Some(r) = &g.reason {
                        writeln!(f, "           {r}")?;
                    }
                    if let Some(fix) = &g.fix {
                        writeln!(f, "           fix: {fix}")?;
                    }
                }
            }
        }
        writeln!(f, "next: {}", self.outlook)
    }
}

/// One line about a gate's evidence: `drill #4 of main at …, RTO 1.2 s`.
pub fn evidence_line(e: &serde_json::Value) -> Option<String> {
    let at = |k: &str| e.get(k).and_then(serde_json::Value::as_i64).map(crate::time_text).unwrap_or_default();
    if let Some(id) = e.get("drill") {
        let rto =
            e.get("rto_ms").and_then(serde_json::Value::as_i64).map(|ms| format!(", RTO {:.1} s", ms as f64 / 1000.0));
        let result = if e["ok"] == true { "passed" } else { "failed" };
        return Some(format!(
            "drill #{id} of {} {result} at {}{}",
            e["source"].as_str().unwrap_or("?"),
            at("time_ms"),
            rto.unwrap_or_default()
        ));
    }
    if let Some(id) = e.get("parity") {
        return Some(format!("parity #{id} at {}: {}", at("time_ms"), e["summary"].as_str().unwrap_or("")));
    }
    if let Some(id) = e.get("smoke") {
        return Some(format!(
            "smoke #{id} of {} at {}: {}",
            e["suite"].as_str().unwrap_or("?"),
            at("time_ms"),
            e["summary"].as_str().unwrap_or("")
        ));
    }
    if let Some(list) = e.get("approvers").and_then(|a| a.as_array()) {
        let who: Vec<String> = list.iter().map(|a| a["person"].as_str().unwrap_or("?").to_string()).collect();
        return (!who.is_empty()).then(|| format!("approved by {}", who.join(", ")));
    }
    if let Some(list) = e.get("steps").and_then(|a| a.as_array()) {
        let done: Vec<String> = list.iter().map(|s| s["step"].as_str().unwrap_or("?").to_string()).collect();
        return (!done.is_empty()).then(|| format!("succeeded: {}", done.join(", ")));
    }
    if e.get("buckets_expected").is_some() {
        return Some(format!(
            "{} of {} five-minute periods watched, {} results, {} failed, {} alerts",
            e["buckets"], e["buckets_expected"], e["results"], e["failed"], e["alerts"]
        ));
    }
    None
}
