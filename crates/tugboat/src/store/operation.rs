//! The audit guarantee: an operation that has begun leaves exactly one audit event, however it ends.
//!
//! [`Store::begin`] returns an [`OpGuard`] holding the event to be written and a connection of its own.
//! [`OpGuard::finish`] writes it with the outcome; a guard dropped unfinished (a panic, an early return
//! nobody meant) writes `aborted`; [`interrupt_open_operations`] — called by the signal handler when the
//! operation did not reach a safe point in time — writes `interrupted` for every guard still open.
//! Whoever takes the pending event out of its slot writes it, under the slot's lock, so the three paths
//! can race and still produce one event.
//!
//! A process killed outright (SIGKILL, a power cut) runs none of those paths. So `begin` also writes the
//! pending event to `open_operations`, and writing the event removes that row in the same transaction;
//! the next operation to begin on this host finds rows whose process is gone and writes their events as
//! `aborted`, saying so ([`Store::record_abandoned_operations`]).

use std::sync::{Arc, Mutex, Weak};

use super::audit::{current_actor, now_ms, AuditEvent, NewAuditEvent, Outcome};
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
    /// Its `open_operations` row.
    open_id: i64,
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
        let mut store = self.reopen()?;
        store.record_abandoned_operations()?;
        let open_id = store.open_operation(&event)?;
        let slot: Slot = Arc::new(Mutex::new(Some(Pending { event, store, open_id })));
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
            p.save();
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
            p.save();
        }
    }

    /// The stack, once it is known (a guard can begin before the stack is loaded).
    pub fn set_stack(&self, stack: &str, config_digest: &str) {
        if let Some(p) = self.slot.lock().ok().as_deref_mut().and_then(Option::as_mut) {
            p.event.stack = stack.to_string();
            p.event.config_digest = config_digest.to_string();
            p.save();
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
    pending.store.append_audit_closing(pending.event, now_ms(), Some(pending.open_id))
}

impl Pending {
    /// Keeps the open row's copy current, so an event written for a killed process says what it knew.
    /// Best effort: the event itself is written from memory.
    fn save(&self) {
        let params = serde_json::to_string(&self.event.params).unwrap_or_default();
        let _ = self.store.conn.execute(
            "UPDATE open_operations SET stack = ?1, config_digest = ?2, params = ?3 WHERE id = ?4",
            rusqlite::params![self.event.stack, self.event.config_digest, params, self.open_id],
        );
    }
}

impl Store {
    /// Records `event` as begun by this process; returns its row.
    fn open_operation(&self, event: &NewAuditEvent) -> Result<i64, StoreError> {
        let params = serde_json::to_string(&event.params).unwrap_or_default();
        self.conn
            .execute(
                "INSERT INTO open_operations (pid, pid_start, host, started_ms, actor, command, stack, \
                 config_digest, params) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                rusqlite::params![
                    std::process::id(),
                    process_start(std::process::id()),
                    host_name(),
                    now_ms(),
                    event.actor,
                    event.command,
                    event.stack,
                    event.config_digest,
                    params
                ],
            )
            .map_err(|e| self.sql_err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Writes an `aborted` event for every operation begun on this host whose process is gone without
    /// writing its own (killed outright); returns how many. Other hosts' rows are theirs to judge.
    pub fn record_abandoned_operations(&mut self) -> Result<usize, StoreError> {
        let host = host_name();
        let rows: Vec<(i64, u32, String, i64, NewAuditEvent)> = {
            let mut stmt = self
                .conn
                .prepare(
                    "SELECT id, pid, pid_start, started_ms, actor, command, stack, config_digest, params \
                     FROM open_operations WHERE host = ?1 ORDER BY id",
                )
                .map_err(|e| self.sql_err(e))?;
            let rows = stmt
                .query_map([&host], |r| {
                    let params: String = r.get(8)?;
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        NewAuditEvent {
                            actor: r.get(4)?,
                            command: r.get(5)?,
                            stack: r.get(6)?,
                            config_digest: r.get(7)?,
                            params: serde_json::from_str(&params).unwrap_or(serde_json::Value::Null),
                            outcome: Outcome::Aborted,
                        },
                    ))
                })
                .map_err(|e| self.sql_err(e))?;
            rows.collect::<Result<_, _>>().map_err(|e| self.sql_err(e))?
        };
        let mut written = 0;
        for (id, pid, pid_start, started_ms, mut event) in rows {
            if process_start(pid) == pid_start && !pid_start.is_empty() {
                continue; // still running
            }
            let found = serde_json::json!({
                "pid": pid,
                "started_ms": started_ms,
                "why": format!(
                    "process {pid} on {host} ended without finishing (killed or the machine stopped); \
                     recorded by the next command"
                ),
            });
            match &mut event.params {
                serde_json::Value::Object(map) => {
                    map.insert("abandoned".into(), found);
                }
                other => *other = serde_json::json!({ "abandoned": found }),
            }
            if self.append_audit_closing(event, now_ms(), Some(id))?.is_some() {
                written += 1;
            }
        }
        Ok(written)
    }
}

/// The process's start time since boot (field 22 of `/proc/PID/stat`), which tells a reused pid from the
/// original; empty when the process does not exist.
fn process_start(pid: u32) -> String {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // `PID (COMM) STATE …`: COMM may hold spaces and parentheses, so count fields after the last `)`.
    stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(19)).unwrap_or_default().to_string()
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
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

    fn open_rows(store: &Store) -> i64 {
        store.conn.query_row("SELECT COUNT(*) FROM open_operations", [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn an_operation_whose_process_was_killed_is_recorded_aborted_by_the_next_one() {
        let store = Store::open_in_memory().unwrap();
        let guard = store.begin(Operation { command: "killed".into(), ..op() }).unwrap();
        guard.set_params(json!({"to": "y", "token": "s3cret"}));
        // The process "dies": its guard never writes (forgotten), and its row names a pid that has exited.
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        let gone_pid = gone.id();
        gone.wait().unwrap();
        store.conn.execute("UPDATE open_operations SET pid = ?1", [gone_pid]).unwrap();
        std::mem::forget(guard);
        assert!(outcomes(&store).is_empty());

        // A live operation's row is left alone; the dead one's event is written once, with what it knew.
        let next = store.begin(op()).unwrap();
        let events = store.audit_events(None).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].command, "killed");
        assert_eq!(events[0].outcome, Outcome::Aborted);
        assert_eq!(events[0].params["to"], "y");
        assert_eq!(events[0].params["token"], "***");
        assert_eq!(events[0].params["abandoned"]["pid"], gone_pid);
        assert!(events[0].params["abandoned"]["why"].as_str().unwrap().contains("recorded by the next command"));
        assert_eq!(open_rows(&store), 1, "the next operation's own row");
        let mut again = store.reopen().unwrap();
        assert_eq!(again.record_abandoned_operations().unwrap(), 0, "written once");
        next.finish(Outcome::Ok).unwrap();
        assert_eq!(open_rows(&store), 0);
        assert_eq!(outcomes(&store), [Outcome::Aborted, Outcome::Ok]);
        assert!(matches!(store.verify_audit().unwrap(), crate::store::AuditVerification::Intact { events: 2, .. }));
    }
}
