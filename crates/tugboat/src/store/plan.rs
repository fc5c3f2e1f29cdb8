//! Cutover plan state: runs, their append-only event story, the one-run-at-a-time lock, and smoke runs.
//!
//! A run's events are never updated: a step's state is its newest event, so a run killed between two
//! writes is still a consistent story, and the report can draw everything that happened, blocks included.

use rusqlite::{params, OptionalExtension, TransactionBehavior};
use serde::Serialize;

use super::{Store, StoreError};

/// One run of a plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanRun {
    pub id: i64,
    pub stack: String,
    pub plan: String,
    /// The plan file's digest when the run began.
    pub digest: String,
    pub started_by: String,
    pub started_ms: i64,
    pub finished_ms: Option<i64>,
    /// `active`, `done`, `rolling_back`, `rolled_back`.
    pub status: String,
}

/// One thing that happened in a run: a gate evaluated, a step started or ended, an approval, an undo.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanEvent {
    pub id: i64,
    pub run_id: i64,
    pub time_ms: i64,
    pub step: String,
    pub kind: String,
    /// Who: `user@host` for actions, the approver's name for approvals.
    pub actor: String,
    pub detail: serde_json::Value,
}

/// Who holds a plan's lock.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanLock {
    pub actor: String,
    pub pid: i64,
    pub host: String,
    pub acquired_ms: i64,
}

impl PlanLock {
    /// Whether the owner is gone: a process on this host that no longer exists.
    pub fn is_stale(&self, this_host: &str) -> bool {
        self.host == this_host && !std::path::Path::new("/proc").join(self.pid.to_string()).exists()
    }
}

/// A recorded smoke run, for `smoke_passed_within` gates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SmokeRun {
    pub id: i64,
    pub time_ms: i64,
    pub suite: String,
    pub ok: bool,
    pub summary: String,
}

fn now_ms() -> i64 {
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
}

const RUN_COLUMNS: &str = "id, stack, plan, digest, started_by, started_ms, finished_ms, status";

fn run_row(r: &rusqlite::Row) -> rusqlite::Result<PlanRun> {
    Ok(PlanRun {
        id: r.get(0)?,
        stack: r.get(1)?,
        plan: r.get(2)?,
        digest: r.get(3)?,
        started_by: r.get(4)?,
        started_ms: r.get(5)?,
        finished_ms: r.get(6)?,
        status: r.get(7)?,
    })
}

impl Store {
    /// Starts a run of `plan`.
    pub fn begin_plan_run(
        &mut self,
        stack: &str,
        plan: &str,
        digest: &str,
        actor: &str,
    ) -> Result<PlanRun, StoreError> {
        let started_ms = now_ms();
        self.conn
            .execute(
                "INSERT INTO plan_runs (stack, plan, digest, started_by, started_ms, status) VALUES (?1, ?2, ?3, ?4, ?5, 'active')",
                params![stack, plan, digest, actor, started_ms],
            )
            .map_err(|e| self.sql_err(e))?;
        let id = self.conn.last_insert_rowid();
        Ok(PlanRun {
            id,
            stack: stack.into(),
            plan: plan.into(),
            digest: digest.into(),
            started_by: actor.into(),
            started_ms,
            finished_ms: None,
            status: "active".into(),
        })
    }

    /// The newest run of `plan`, finished or not.
    pub fn last_plan_run(&self, stack: &str, plan: &str) -> Result<Option<PlanRun>, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {RUN_COLUMNS} FROM plan_runs WHERE stack = ?1 AND plan = ?2 ORDER BY id DESC LIMIT 1"),
                params![stack, plan],
                run_row,
            )
            .optional()
            .map_err(|e| self.sql_err(e))
    }

    pub fn plan_run(&self, id: i64) -> Result<Option<PlanRun>, StoreError> {
        self.conn
            .query_row(&format!("SELECT {RUN_COLUMNS} FROM plan_runs WHERE id = ?1"), params![id], run_row)
            .optional()
            .map_err(|e| self.sql_err(e))
    }

    /// Sets a run's status; `done` and `rolled_back` also stamp its end.
    pub fn set_plan_run_status(&mut self, id: i64, status: &str) -> Result<(), StoreError> {
        let finished = matches!(status, "done" | "rolled_back").then(now_ms);
        self.conn
            .execute("UPDATE plan_runs SET status = ?1, finished_ms = ?2 WHERE id = ?3", params![status, finished, id])
            .map_err(|e| self.sql_err(e))?;
        Ok(())
    }

    /// Appends an event to a run's story.
    pub fn record_plan_event(
        &mut self,
        run_id: i64,
        step: &str,
        kind: &str,
        actor: &str,
        detail: &serde_json::Value,
    ) -> Result<PlanEvent, StoreError> {
        let time_ms = now_ms();
        let detail = super::redact_params(detail.clone());
        self.conn
            .execute(
                "INSERT INTO plan_events (run_id, time_ms, step, kind, actor, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![run_id, time_ms, step, kind, actor, detail.to_string()],
            )
            .map_err(|e| self.sql_err(e))?;
        Ok(PlanEvent {
            id: self.conn.last_insert_rowid(),
            run_id,
            time_ms,
            step: step.into(),
            kind: kind.into(),
            actor: actor.into(),
            detail,
        })
    }

    /// A run's events, oldest first.
    pub fn plan_events(&self, run_id: i64) -> Result<Vec<PlanEvent>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, run_id, time_ms, step, kind, actor, detail FROM plan_events WHERE run_id = ?1 ORDER BY id",
            )
            .map_err(|e| self.sql_err(e))?;
        let rows = stmt
            .query_map(params![run_id], |r| {
                let detail: String = r.get(6)?;
                Ok(PlanEvent {
                    id: r.get(0)?,
                    run_id: r.get(1)?,
                    time_ms: r.get(2)?,
                    step: r.get(3)?,
                    kind: r.get(4)?,
                    actor: r.get(5)?,
                    detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail)),
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
        rows.map_err(|e| self.sql_err(e))
    }

    /// Takes `plan`'s lock unless a live owner holds it. `Ok(None)`: taken (a dead owner's lock is taken over);
    /// `Ok(Some(owner))`: held by a live owner, or one on another host, which cannot be checked.
    pub fn acquire_plan_lock(
        &mut self,
        stack: &str,
        plan: &str,
        actor: &str,
        pid: u32,
        host: &str,
    ) -> Result<Option<PlanLock>, StoreError> {
        let path = self.display_path();
        let err = |cause| StoreError::Sqlite { path: path.clone(), cause };
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
        let held = tx
            .query_row(
                "SELECT actor, pid, host, acquired_ms FROM plan_locks WHERE stack = ?1 AND plan = ?2",
                params![stack, plan],
                |r| Ok(PlanLock { actor: r.get(0)?, pid: r.get(1)?, host: r.get(2)?, acquired_ms: r.get(3)? }),
            )
            .optional()
            .map_err(err)?;
        if let Some(lock) = held.filter(|l| !l.is_stale(host) && l.pid != i64::from(pid)) {
            return Ok(Some(lock));
        }
        tx.execute(
            "INSERT OR REPLACE INTO plan_locks (stack, plan, actor, pid, host, acquired_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![stack, plan, actor, pid, host, now_ms()],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(None)
    }

    /// Releases the lock if this process holds it.
    pub fn release_plan_lock(&mut self, stack: &str, plan: &str, pid: u32) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM plan_locks WHERE stack = ?1 AND plan = ?2 AND pid = ?3", params![stack, plan, pid])
            .map_err(|e| self.sql_err(e))?;
        Ok(())
    }

    pub fn record_smoke(&mut self, stack: &str, suite: &str, ok: bool, summary: &str) -> Result<i64, StoreError> {
        self.conn
            .execute(
                "INSERT INTO smoke_runs (time_ms, stack, suite, ok, summary) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![now_ms(), stack, suite, ok, summary],
            )
            .map_err(|e| self.sql_err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The newest smoke run of `suite`, passing or not.
    pub fn last_smoke(&self, stack: &str, suite: &str) -> Result<Option<SmokeRun>, StoreError> {
        self.conn
            .query_row(
                "SELECT id, time_ms, suite, ok, summary FROM smoke_runs WHERE stack = ?1 AND suite = ?2 ORDER BY time_ms DESC, id DESC LIMIT 1",
                params![stack, suite],
                |r| Ok(SmokeRun { id: r.get(0)?, time_ms: r.get(1)?, suite: r.get(2)?, ok: r.get(3)?, summary: r.get(4)? }),
            )
            .optional()
            .map_err(|e| self.sql_err(e))
    }

    /// The newest drill of `source` (any source when `None`), passing or not.
    pub fn last_drill(&self, stack: &str, source: Option<&str>) -> Result<Option<super::DrillRun>, StoreError> {
        self.conn
            .query_row(
                "SELECT id, time_ms, stack, source, snapshot_id, ok, rto_ms FROM drill_runs
                 WHERE stack = ?1 AND (?2 IS NULL OR source = ?2) ORDER BY time_ms DESC, id DESC LIMIT 1",
                params![stack, source],
                super::runs::drill_row,
            )
            .optional()
            .map_err(|e| self.sql_err(e))
    }

    /// Alerts raised for `stack` at or after `since_ms` (all kinds, oldest first).
    pub fn alerts_since(&self, stack: &str, since_ms: i64) -> Result<Vec<super::AlertEvent>, StoreError> {
        let all = self.recent_alerts(stack, 10_000)?;
        let mut alerts: Vec<_> = all.into_iter().filter(|a| a.time_ms >= since_ms).collect();
        alerts.sort_by_key(|a| a.time_ms);
        Ok(alerts)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn runs_events_and_status() {
        let mut s = Store::open_in_memory().unwrap();
        assert_eq!(s.last_plan_run("dms", "cutover").unwrap(), None);
        let run = s.begin_plan_run("dms", "cutover", "abc", "ops@host").unwrap();
        s.record_plan_event(run.id, "copy", "started", "ops@host", &serde_json::json!({})).unwrap();
        s.record_plan_event(run.id, "copy", "succeeded", "ops@host", &serde_json::json!({"password": "x"})).unwrap();
        let events = s.plan_events(run.id).unwrap();
        assert_eq!(events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), ["started", "succeeded"]);
        assert_eq!(events[1].detail, serde_json::json!({"password": "***"}), "details are redacted");
        s.set_plan_run_status(run.id, "done").unwrap();
        let last = s.last_plan_run("dms", "cutover").unwrap().unwrap();
        assert_eq!(last.status, "done");
        assert!(last.finished_ms.is_some());
    }

    #[test]
    fn the_lock_excludes_a_live_owner_and_takes_over_a_dead_one() {
        let mut s = Store::open_in_memory().unwrap();
        let me = std::process::id();
        assert_eq!(s.acquire_plan_lock("dms", "p", "a@h", me, "h").unwrap(), None);
        // Our own pid again (a nested step): allowed.
        assert_eq!(s.acquire_plan_lock("dms", "p", "a@h", me, "h").unwrap(), None);
        // Another live process (pid 1 exists) holds it.
        s.release_plan_lock("dms", "p", me).unwrap();
        assert_eq!(s.acquire_plan_lock("dms", "p", "init@h", 1, "h").unwrap(), None);
        let held = s.acquire_plan_lock("dms", "p", "a@h", me, "h").unwrap().unwrap();
        assert_eq!(held.actor, "init@h");
        // A pid that does not exist is a dead owner.
        s.release_plan_lock("dms", "p", 1).unwrap();
        assert_eq!(s.acquire_plan_lock("dms", "p", "dead@h", 999_999_999, "h").unwrap(), None);
        assert_eq!(s.acquire_plan_lock("dms", "p", "a@h", me, "h").unwrap(), None);
    }

    #[test]
    fn smoke_runs_answer_the_newest() {
        let mut s = Store::open_in_memory().unwrap();
        s.record_smoke("dms", "smoke", false, "1 failed").unwrap();
        s.record_smoke("dms", "smoke", true, "7 passed").unwrap();
        let last = s.last_smoke("dms", "smoke").unwrap().unwrap();
        assert!(last.ok);
        assert_eq!(s.last_smoke("dms", "other").unwrap(), None);
    }
}
