//! The audit guarantee: an operation that has begun leaves exactly one audit event, however it ends.
//!
//! [`Store::begin`] returns an [`OpGuard`] holding the event to be written and a connection of its own.
//! [`OpGuard::finish`] writes it with the outcome; a guard dropped unfinished (a panic, an early return
//! nobody meant) writes `aborted`; [`interrupt_open_operations`] — called by the signal handler when the
//! operation did not reach a safe point in time — writes `interrupted` for every guard still open.
//! Whoever takes the pending event out of its slot writes it, under the slot's lock, so the three paths
//! can race and still produce one event.

use std::sync::{Arc, Mutex, Weak};

use super::audit::{current_actor, AuditEvent, NewAuditEvent, Outcome};
use super::redact::redact_params;
use super::{Store, StoreError};

/// What an operation is, for its audit event.
#[derive(Debug, Clone)]
pub struct Operation {
    /// The audit log's command name: `backup`, `restore`, `backup forget`.
    pub command: String,
    /// The stack's name (`-` when the operation has none, e.g. a migration between two URLs).
    pub stack: String,
    pub config_digest: String,
    /// The request; replaced by the plan once there is one ([`OpGuard::set_params`]).
    pub params: serde_json::Value,
}

struct Pending {
    event: NewAuditEvent,
    store: Store,
}

type Slot = Arc<Mutex<Option<Pending>>>;

/// Every guard not yet finished, for the signal handler.
static OPEN: Mutex<Vec<Weak<Mutex<Option<Pending>>>>> = Mutex::new(Vec::new());

/// An operation in progress; see the module documentation.
pub struct OpGuard {
    slot: Slot,
}

impl std::fmt::Debug for OpGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpGuard").finish_non_exhaustive()
    }
}

impl Store {
    /// Begins an operation. Nothing is written yet; the guard writes the one event when it ends.
    pub fn begin(&self, op: Operation) -> Result<OpGuard, StoreError> {
        let event = NewAuditEvent {
            actor: current_actor(),
            command: op.command,
            stack: op.stack,
            config_digest: op.config_digest,
            params: redact_params(op.params),
            outcome: Outcome::Aborted,
        };
        let slot: Slot = Arc::new(Mutex::new(Some(Pending { event, store: self.reopen()? })));
        if let Ok(mut open) = OPEN.lock() {
            open.retain(|w| w.strong_count() > 0);
            open.push(Arc::downgrade(&slot));
        }
        Ok(OpGuard { slot })
    }
}

impl OpGuard {
    /// Replaces the event's parameters (the plan, once planned; the plan and the report's summary at the end).
    pub fn set_params(&self, params: serde_json::Value) {
        if let Some(p) = self.slot.lock().ok().as_deref_mut().and_then(Option::as_mut) {
            p.event.params = redact_params(params);
        }
    }

    /// Adds or replaces one parameter.
    pub fn add_param(&self, key: &str, value: serde_json::Value) {
        if let Some(p) = self.slot.lock().ok().as_deref_mut().and_then(Option::as_mut) {
            match &mut p.event.params {
                serde_json::Value::Object(map) => {
                    map.insert(key.to_string(), value);
                }
                other => *other = serde_json::json!({ key: value }),
            }
            p.event.params = redact_params(std::mem::take(&mut p.event.params));
        }
    }

    /// The stack, once it is known (a guard can begin before the stack is loaded).
    pub fn set_stack(&self, stack: &str, config_digest: &str) {
        if let Some(p) = self.slot.lock().ok().as_deref_mut().and_then(Option::as_mut) {
            p.event.stack = stack.to_string();
            p.event.config_digest = config_digest.to_string();
        }
    }

    /// Writes the event. `Ok(None)` when the signal handler already wrote it as interrupted.
    pub fn finish(self, outcome: Outcome) -> Result<Option<AuditEvent>, StoreError> {
        write(&self.slot, outcome)
    }
}

impl Drop for OpGuard {
    fn drop(&mut self) {
        // Unfinished: a panic or a return that skipped `finish`. The event still has to exist.
        let _ = write(&self.slot, Outcome::Aborted);
    }
}

fn write(slot: &Slot, outcome: Outcome) -> Result<Option<AuditEvent>, StoreError> {
    // A poisoned lock means a panic while writing; the pending event is still there to take.
    let mut guard = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let Some(mut pending) = guard.take() else { return Ok(None) };
    pending.event.outcome = outcome;
    pending.store.append_audit(pending.event).map(Some)
}

/// Writes `interrupted` for every operation still open; the signal handler calls it before it exits.
/// Returns how many events it wrote.
pub fn interrupt_open_operations() -> usize {
    interrupt_where(|_| true)
}

fn interrupt_where(select: impl Fn(&NewAuditEvent) -> bool) -> usize {
    let slots: Vec<Slot> = match OPEN.lock() {
        Ok(open) => open.iter().filter_map(Weak::upgrade).collect(),
        Err(_) => return 0,
    };
    let selected = |slot: &Slot| slot.lock().ok().and_then(|p| p.as_ref().map(|p| select(&p.event))).unwrap_or(false);
    slots.iter().filter(|slot| selected(slot) && matches!(write(slot, Outcome::Interrupted), Ok(Some(_)))).count()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn op() -> Operation {
        Operation {
            command: "restore".into(),
            stack: "s".into(),
            config_digest: "d".into(),
            params: json!({"to": "x"}),
        }
    }

    fn outcomes(store: &Store) -> Vec<Outcome> {
        store.audit_events(None).unwrap().into_iter().map(|e| e.outcome).collect()
    }

    #[test]
    fn finish_writes_one_event_with_the_outcome_and_params() {
        let store = Store::open_in_memory().unwrap();
        let guard = store.begin(op()).unwrap();
        assert!(outcomes(&store).is_empty(), "begin writes nothing");
        guard.add_param("password", json!("hunter2"));
        guard.finish(Outcome::Failed("no".into())).unwrap();
        let events = store.audit_events(None).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].outcome, Outcome::Failed("no".into()));
        assert_eq!(events[0].params, json!({"to": "x", "password": "***"}));
    }

    #[test]
    fn a_dropped_guard_writes_aborted_and_a_panic_too() {
        let store = Store::open_in_memory().unwrap();
        drop(store.begin(op()).unwrap());
        let guard = store.begin(op()).unwrap();
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _guard = guard;
            panic!("boom");
        }));
        assert_eq!(outcomes(&store), [Outcome::Aborted, Outcome::Aborted]);
    }

    #[test]
    fn interrupt_writes_open_operations_once() {
        let store = Store::open_in_memory().unwrap();
        let guard = store.begin(Operation { command: "interrupt-test".into(), ..op() }).unwrap();
        // Only this test's guard: the other tests' guards run in the same process.
        assert_eq!(interrupt_where(|e| e.command == "interrupt-test"), 1);
        // The operation then reaches its own end: nothing more is written.
        assert!(guard.finish(Outcome::Ok).unwrap().is_none());
        assert_eq!(outcomes(&store), [Outcome::Interrupted]);
        assert!(matches!(store.verify_audit().unwrap(), crate::store::AuditVerification::Intact { events: 1, .. }));
    }
}
