//! Where a run stands, folded from its events.
//!
//! The events of a run (`plan_events`, append-only) and what each kind means:
//!
//! | kind                | step      | detail                                                            |
//! |---------------------|-----------|-------------------------------------------------------------------|
//! | `run_started`       | `-`       | `{digest}`                                                        |
//! | `plan_changed`      | `-`       | `{from, to}`: the file changed between invocations                |
//! | `blocked`           | the step  | `{gates: [GateCheck]}`: evidence missing or stale, nothing ran    |
//! | `gates_passed`      | the step  | `{gates: [GateCheck]}`: the evidence the step ran on              |
//! | `started`           | the step  | `{action}`; a history watch adds `since_ms`, its window's start   |
//! | `succeeded`         | the step  | `{evidence}`: the operation's report (drill RTO, parity tables…)  |
//! | `failed`            | the step  | `{reason, evidence?}`                                             |
//! | `waiting`           | the step  | `{since_ms, until_ms, so_far}`: a history watch window still open |
//! | `awaiting_approval` | the step  | `{need, have, note}`                                              |
//! | `approved`          | the step  | `{note, by}`; the event's actor is the approver (`--as`)          |
//! | `resolved`          | the step  | `{outcome: succeeded/failed, note}`: an interrupted step settled  |
//! | `undo_started`      | the step  | `{command}` (or `{rollback: service}` for a deploy)               |
//! | `undone`            | the step  | `{evidence}`                                                      |
//! | `undo_failed`       | the step  | `{reason}`                                                        |
//! | `rollback_started`  | `-`       | `{}`                                                              |
//! | `rollback_done`     | `-`       | `{}`                                                              |
//! | `done`              | `-`       | `{}`: every step succeeded                                        |

use serde::Serialize;
use tugboat::store::PlanEvent;

/// A step's state in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Not reached (or blocked by a gate: nothing ran).
    Pending,
    /// Started and never finished: it is running, or the process died under it.
    Started,
    /// A watch window in progress.
    Waiting,
    /// An approval step without enough approvals yet.
    AwaitingApproval,
    Succeeded,
    Failed,
    /// Its undo is in progress, or was interrupted.
    Undoing,
    Undone,
    UndoFailed,
}

/// One step's state with the event that set it.
#[derive(Debug, Clone, Serialize)]
pub struct StepState {
    pub status: Status,
    /// When the state was reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since_ms: Option<i64>,
    /// When the current attempt started (a watch window's start).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_ms: Option<i64>,
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub detail: serde_json::Value,
}

/// The state of `step`, from a run's events.
pub fn step_state(events: &[PlanEvent], step: &str) -> StepState {
    let mut state =
        StepState { status: Status::Pending, since_ms: None, started_ms: None, detail: serde_json::Value::Null };
    for e in events.iter().filter(|e| e.step == step) {
        let status = match e.kind.as_str() {
            "started" => {
                state.started_ms = Some(e.time_ms);
                Status::Started
            }
            "succeeded" => Status::Succeeded,
            "failed" => Status::Failed,
            "waiting" => Status::Waiting,
            "awaiting_approval" => Status::AwaitingApproval,
            "resolved" if e.detail["outcome"] == "succeeded" => Status::Succeeded,
            "resolved" => Status::Failed,
            "undo_started" => Status::Undoing,
            "undone" => Status::Undone,
            "undo_failed" => Status::UndoFailed,
            // Gates, approvals: they do not move the step.
            _ => continue,
        };
        state.status = status;
        state.since_ms = Some(e.time_ms);
        state.detail = e.detail.clone();
    }
    state
}

/// The distinct approvers of the steps named (first approval of each person), oldest first.
pub fn approvals<'e>(events: &'e [PlanEvent], steps: &[&str]) -> Vec<&'e PlanEvent> {
    let mut seen = std::collections::BTreeSet::new();
    events
        .iter()
        .filter(|e| e.kind == "approved" && steps.contains(&e.step.as_str()))
        .filter(|e| seen.insert(e.actor.clone()))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(step: &str, kind: &str, actor: &str, detail: serde_json::Value, t: i64) -> PlanEvent {
        PlanEvent { id: t, run_id: 1, time_ms: t, step: step.into(), kind: kind.into(), actor: actor.into(), detail }
    }

    #[test]
    fn the_newest_moving_event_decides() {
        let events = vec![
            event("copy", "gates_passed", "a", json!({}), 1),
            event("copy", "started", "a", json!({}), 2),
            event("other", "succeeded", "a", json!({}), 3),
        ];
        let s = step_state(&events, "copy");
        assert_eq!((s.status, s.started_ms), (Status::Started, Some(2)));
        let mut events = events;
        events.push(event("copy", "resolved", "a", json!({"outcome": "succeeded"}), 4));
        assert_eq!(step_state(&events, "copy").status, Status::Succeeded);
        events.push(event("copy", "undo_started", "a", json!({}), 5));
        assert_eq!(step_state(&events, "copy").status, Status::Undoing);
        assert_eq!(step_state(&events, "never").status, Status::Pending);
    }

    #[test]
    fn approvals_count_people_once() {
        let events = vec![
            event("ok", "approved", "alice", json!({}), 1),
            event("ok", "approved", "alice", json!({}), 2),
            event("switch", "approved", "bob", json!({}), 3),
            event("other", "approved", "carol", json!({}), 4),
        ];
        let who: Vec<&str> = approvals(&events, &["ok", "switch"]).iter().map(|e| e.actor.as_str()).collect();
        assert_eq!(who, ["alice", "bob"]);
    }
}
