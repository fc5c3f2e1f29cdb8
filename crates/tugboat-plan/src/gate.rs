//! Gates: the evidence a step waits for, read from the state database just before it runs.
//!
//! Every answer names its evidence (which drill, when, its RTO) or says exactly what is missing or stale
//! and the command that produces it.

use serde::Serialize;
use serde_json::{json, Value};
use tugboat::ops::Result;
use tugboat::stack::Stack;
use tugboat::store::{PlanEvent, Store, BUCKET_MS};

use crate::file::{Action, Gate, Plan};
use crate::state::{self, Status};

/// One gate, evaluated.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GateCheck {
    pub gate: &'static str,
    pub requirement: String,
    pub ok: bool,
    /// The record the answer rests on, when there is one.
    pub evidence: Option<Value>,
    /// Why it does not pass.
    pub reason: Option<String>,
    /// The command that produces the missing evidence.
    pub fix: Option<String>,
}

/// What gates are evaluated against.
pub struct GateEnv<'a> {
    pub stack: &'a Stack,
    pub store: &'a Store,
    pub plan: &'a Plan,
    /// The run's events so far (empty before the first run).
    pub events: &'a [PlanEvent],
    pub now_ms: i64,
}

/// Evaluates the gates of step `index` of the plan.
pub fn evaluate_step(env: &GateEnv, index: usize) -> Result<Vec<GateCheck>> {
    let step = &env.plan.steps[index];
    step.gates.iter().map(|g| evaluate(env, g, index)).collect()
}

fn evaluate(env: &GateEnv, gate: &Gate, index: usize) -> Result<GateCheck> {
    let mut check = GateCheck {
        gate: gate.name(),
        requirement: gate.requirement(),
        ok: false,
        evidence: None,
        reason: None,
        fix: None,
    };
    let age = |time_ms: i64| format_age(env.now_ms.saturating_sub(time_ms));
    let stale = |time_ms: i64, within: std::time::Duration| {
        env.now_ms.saturating_sub(time_ms) > i64::try_from(within.as_millis()).unwrap_or(i64::MAX)
    };
    let stack = env.stack.name.as_str();
    match gate {
        Gate::DrillPassedWithin { source, within } => {
            let fix = format!("tug drill {}", source.as_deref().unwrap_or_default()).trim_end().to_string();
            match env.store.last_drill(stack, source.as_deref())? {
                None => {
                    check.reason = Some(format!("no drill {}is recorded", of_source(source)));
                    check.fix = Some(fix);
                }
                Some(d) => {
                    check.evidence = Some(json!({
                        "drill": d.id, "source": d.source, "time_ms": d.time_ms, "ok": d.ok, "rto_ms": d.rto_ms,
                        "snapshot": d.snapshot_id.as_deref().map(|s| s.chars().take(8).collect::<String>()),
                    }));
                    if !d.ok {
                        check.reason = Some(format!(
                            "the newest drill of {} (#{}, {} ago) failed",
                            d.source,
                            d.id,
                            age(d.time_ms)
                        ));
                        check.fix = Some(fix);
                    } else if stale(d.time_ms, within.0) {
                        check.reason = Some(format!(
                            "the newest drill of {} (#{}) passed {} ago: older than {within}",
                            d.source,
                            d.id,
                            age(d.time_ms)
                        ));
                        check.fix = Some(fix);
                    } else {
                        check.ok = true;
                    }
                }
            }
        }
        Gate::ParityEqual { source, target, within } => {
            // Reports are kept under the servers' password-free names, which a container database only has
            // once its container is found.
            let name = |spec: &str| tugboat::db::resolve::resolve(spec, Some(env.stack)).map(|e| e.to_string());
            let fix = format!("tug parity {source} {target}");
            let (s, t) = match (name(source), name(target)) {
                (Ok(s), Ok(t)) => (s, t),
                (Err(e), _) | (_, Err(e)) => {
                    check.reason = Some(format!("cannot tell which servers {source} and {target} are: {e}"));
                    return Ok(check);
                }
            };
            match env.store.last_parity(&s, &t, false)? {
                None => {
                    check.reason = Some(format!("no parity report between {source} and {target} is recorded"));
                    check.fix = Some(fix);
                }
                Some(p) => {
                    check.evidence = Some(json!({
                        "parity": p.id, "source": p.source, "target": p.target, "time_ms": p.time_ms,
                        "equal": p.equal, "summary": p.summary,
                    }));
                    if !p.equal {
                        check.reason = Some(format!(
                            "the newest parity report (#{}, {} ago) differs: {}",
                            p.id,
                            age(p.time_ms),
                            p.summary
                        ));
                        check.fix = Some(fix);
                    } else if stale(p.time_ms, within.0) {
                        check.reason = Some(format!(
                            "the newest parity report (#{}) is {} old: older than {within}",
                            p.id,
                            age(p.time_ms)
                        ));
                        check.fix = Some(fix);
                    } else {
                        check.ok = true;
                    }
                }
            }
        }
        Gate::SmokePassedWithin { suite, within } => {
            let fix = format!("tug smoke {suite}");
            match env.store.last_smoke(stack, suite)? {
                None => {
                    check.reason = Some(format!("no run of smoke suite {suite} is recorded"));
                    check.fix = Some(fix);
                }
                Some(r) => {
                    check.evidence = Some(json!({
                        "smoke": r.id, "suite": r.suite, "time_ms": r.time_ms, "ok": r.ok, "summary": r.summary,
                    }));
                    if !r.ok {
                        check.reason =
                            Some(format!("the newest run of {suite} ({} ago) failed: {}", age(r.time_ms), r.summary));
                        check.fix = Some(fix);
                    } else if stale(r.time_ms, within.0) {
                        check.reason = Some(format!(
                            "the newest passing run of {suite} is {} old: older than {within}",
                            age(r.time_ms)
                        ));
                        check.fix = Some(fix);
                    } else {
                        check.ok = true;
                    }
                }
            }
        }
        Gate::ApprovedBy { count } => {
            let step = &env.plan.steps[index];
            // This step's own approvals and those of the closest approval step before it (an approval
            // given for the cutover does not also approve the decommission).
            let mut names: Vec<&str> = env.plan.steps[..index]
                .iter()
                .rev()
                .find(|s| matches!(s.action, Action::Approve { .. }))
                .map(|s| s.name.as_str())
                .into_iter()
                .collect();
            names.push(&step.name);
            let approvals = state::approvals(env.events, &names);
            check.evidence = Some(json!({
                "approvers": approvals.iter().map(|a| json!({
                    "person": a.actor, "step": a.step, "time_ms": a.time_ms, "note": a.detail.get("note"),
                })).collect::<Vec<_>>(),
            }));
            let have = u32::try_from(approvals.len()).unwrap_or(u32::MAX);
            if have >= *count {
                check.ok = true;
            } else {
                check.reason = Some(format!("{have} of {count} approvals recorded in this run"));
                check.fix = Some(format!("tug approve {} {} --as NAME", env.plan.name, step.name));
            }
        }
        Gate::StepSucceeded { steps } => {
            let mut done = Vec::new();
            let mut missing = Vec::new();
            for s in steps {
                let st = state::step_state(env.events, s);
                if st.status == Status::Succeeded {
                    done.push(json!({"step": s, "time_ms": st.since_ms}));
                } else {
                    missing.push(format!("{s} ({})", status_word(st.status)));
                }
            }
            check.evidence = Some(json!({"steps": done}));
            if missing.is_empty() {
                check.ok = true;
            } else {
                check.reason = Some(format!("not succeeded in this run: {}", missing.join(", ")));
                check.fix = Some(format!("tug plan run {}", env.plan.name));
            }
        }
        Gate::WatchCleanFor { suite, window } => {
            let window_ms = i64::try_from(window.0.as_millis()).unwrap_or(i64::MAX);
            let clean =
                watch_history(env.store, stack, suite.as_deref(), env.now_ms.saturating_sub(window_ms), env.now_ms)?;
            check.ok = clean.problem.is_none();
            check.reason = clean.problem.clone();
            if !check.ok {
                check.fix = Some("keep `tug watch` running until the window is clean".into());
            }
            check.evidence = Some(serde_json::to_value(&clean).unwrap_or(Value::Null));
        }
    }
    Ok(check)
}

/// `tug watch`'s record of a window: every 5-minute bucket has results of the suite, and no alert fired.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WatchHistory {
    pub suite: Option<String>,
    pub since_ms: i64,
    pub until_ms: i64,
    /// Buckets in the window that hold results, of those that should.
    pub buckets: usize,
    pub buckets_expected: usize,
    pub results: i64,
    pub failed: i64,
    pub alerts: usize,
    /// Why the window is not clean; `None` when it is.
    pub problem: Option<String>,
}

/// Reads the watch history of `[since_ms, until_ms]`. The bucket the window ends in may still be
/// unwritten (the daemon flushes as it goes), so it only counts when it is the only one.
pub fn watch_history(
    store: &Store,
    stack: &str,
    suite: Option<&str>,
    since_ms: i64,
    until_ms: i64,
) -> Result<WatchHistory> {
    let in_suite = |check: &str| suite.is_none_or(|s| check.split('/').next() == Some(s));
    let first = since_ms.div_euclid(BUCKET_MS) * BUCKET_MS;
    let last = until_ms.div_euclid(BUCKET_MS) * BUCKET_MS;
    let history: Vec<_> = store.check_history(stack, first)?.into_iter().filter(|b| in_suite(&b.check_id)).collect();
    let mut expected: Vec<i64> = (0..).map(|i| first + i * BUCKET_MS).take_while(|b| *b < last).collect();
    if expected.is_empty() {
        expected.push(last);
    }
    let covered: std::collections::BTreeSet<i64> =
        history.iter().filter(|b| b.bucket_ms <= last).map(|b| b.bucket_ms).collect();
    let missing: Vec<i64> = expected.iter().copied().filter(|b| !covered.contains(b)).collect();
    let alerts: Vec<_> = store
        .alerts_since(stack, since_ms)?
        .into_iter()
        .filter(|a| a.time_ms <= until_ms && in_suite(&a.check_id) && a.kind != "resolved")
        .collect();
    let open: Vec<String> = store
        .check_states(stack)?
        .into_iter()
        .filter(|s| in_suite(&s.check_id) && s.incident_since_ms.is_some_and(|t| t <= until_ms))
        .map(|s| s.check_id)
        .collect();
    let results: i64 = history.iter().map(|b| i64::from(b.ok) + i64::from(b.failed)).sum();
    let failed: i64 = history.iter().map(|b| i64::from(b.failed)).sum();
    let problem = if let Some(a) = alerts.first() {
        Some(format!(
            "{} alert(s) in the window, the first for {} at {}: {}",
            alerts.len(),
            a.check_id,
            crate::time_text(a.time_ms),
            a.summary
        ))
    } else if !open.is_empty() {
        Some(format!("an incident is open for {}", open.join(", ")))
    } else {
        missing.first().map(|gap| {
            format!(
                "tug watch recorded nothing for {} of {} five-minute periods, the first from {}: the window must be watched throughout",
                missing.len(),
                expected.len(),
                crate::time_text(*gap)
            )
        })
    };
    Ok(WatchHistory {
        suite: suite.map(str::to_string),
        since_ms,
        until_ms,
        buckets: expected.len() - missing.len(),
        buckets_expected: expected.len(),
        results,
        failed,
        alerts: alerts.len(),
        problem,
    })
}

fn of_source(source: &Option<String>) -> String {
    source.as_ref().map(|s| format!("of {s} ")).unwrap_or_default()
}

pub(crate) fn status_word(status: Status) -> &'static str {
    match status {
        Status::Pending => "not run",
        Status::Started => "started, not finished",
        Status::Waiting => "waiting",
        Status::AwaitingApproval => "awaiting approval",
        Status::Succeeded => "succeeded",
        Status::Failed => "failed",
        Status::Undoing => "being undone",
        Status::Undone => "undone",
        Status::UndoFailed => "undo failed",
    }
}

/// `3h 12m`, `26h`, `45s`.
pub fn format_age(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {}s", s / 60, s % 60),
        _ => format!("{}h {}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
