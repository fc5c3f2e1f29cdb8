//! Deploy state: the per-stack deploy lock and the deploy journal.
//!
//! The lock is a row, taken in an IMMEDIATE transaction, so of two `tug deploy`s exactly one gets it. It
//! names its owner (actor, pid, host, since when); a lock whose process no longer exists on this host is
//! stale and is taken over, saying so. The journal records each deploy's phase as it moves, so the next
//! command finds a deploy that was killed half-way and can finish or revert it.

use rusqlite::{params, OptionalExtension, TransactionBehavior};
use serde::Serialize;

use super::{Store, StoreError};

/// Who holds a stack's deploy lock.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeployLock {
    pub stack: String,
    pub service: String,
    pub actor: String,
    pub pid: i64,
    pub host: String,
    pub acquired_ms: i64,
}

impl DeployLock {
    /// Whether the owner is gone: a process on this host that no longer exists.
    pub fn is_stale(&self, this_host: &str) -> bool {
        self.host == this_host && !std::path::Path::new("/proc").join(self.pid.to_string()).exists()
    }
}

/// What taking the lock found.
#[derive(Debug, Clone, PartialEq)]
pub enum LockTaken {
    Free,
    /// The previous owner had died; its lock was taken over.
    TookOverFrom(DeployLock),
    /// Held by a live owner (or one on another host, which cannot be checked): not taken.
    HeldBy(DeployLock),
}

/// One deploy or rollback, as journaled.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeployRecord {
    pub id: i64,
    pub stack: String,
    pub service: String,
    /// `deploy` or `rollback`.
    pub kind: String,
    pub from_container: Option<String>,
    pub from_image: Option<String>,
    pub to_container: Option<String>,
    pub to_image: String,
    /// `name@sha256:…` once the image was resolved from a registry: what runs, and what rollback restores.
    pub to_digest: Option<String>,
    /// The last phase reached (`pulling`, `starting`, `health`, `switching`, `draining`, `watching`,
    /// `rolling_back`, `done`).
    pub phase: String,
    pub started_ms: i64,
    pub finished_ms: Option<i64>,
    /// `ok`, `failed`, `rolled_back`; `None` while running (or when the process died).
    pub outcome: Option<String>,
    pub detail: Option<String>,
}

fn now_ms() -> i64 {
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
}

const RECORD_COLUMNS: &str =
    "id, stack, service, kind, from_container, from_image, to_container, to_image, to_digest, \
     phase, started_ms, finished_ms, outcome, detail";

fn record(row: &rusqlite::Row) -> rusqlite::Result<DeployRecord> {
    Ok(DeployRecord {
        id: row.get(0)?,
        stack: row.get(1)?,
        service: row.get(2)?,
        kind: row.get(3)?,
        from_container: row.get(4)?,
        from_image: row.get(5)?,
        to_container: row.get(6)?,
        to_image: row.get(7)?,
        to_digest: row.get(8)?,
        phase: row.get(9)?,
        started_ms: row.get(10)?,
        finished_ms: row.get(11)?,
        outcome: row.get(12)?,
        detail: row.get(13)?,
    })
}

impl Store {
    /// Takes the stack's deploy lock for `service`, unless a live owner holds it.
    pub fn acquire_deploy_lock(
        &mut self,
        stack: &str,
        service: &str,
        actor: &str,
        pid: u32,
        host: &str,
    ) -> Result<LockTaken, StoreError> {
        let path = self.path.clone().unwrap_or_default();
        let err = |cause| StoreError::Sqlite { path: path.clone(), cause };
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
        let held = tx
            .query_row(
                "SELECT stack, service, actor, pid, host, acquired_ms FROM deploy_locks WHERE stack = ?1",
                params![stack],
                |r| {
                    Ok(DeployLock {
                        stack: r.get(0)?,
                        service: r.get(1)?,
                        actor: r.get(2)?,
                        pid: r.get(3)?,
                        host: r.get(4)?,
                        acquired_ms: r.get(5)?,
                    })
                },
            )
            .optional()
            .map_err(err)?;
        let taken = match held {
            Some(lock) if !lock.is_stale(host) => return Ok(LockTaken::HeldBy(lock)),
            Some(lock) => LockTaken::TookOverFrom(lock),
            None => LockTaken::Free,
        };
        tx.execute(
            "INSERT OR REPLACE INTO deploy_locks (stack, service, actor, pid, host, acquired_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![stack, service, actor, pid, host, now_ms()],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(taken)
    }

    /// Releases the lock if this process holds it.
    pub fn release_deploy_lock(&mut self, stack: &str, pid: u32) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM deploy_locks WHERE stack = ?1 AND pid = ?2", params![stack, pid])
            .map_err(|e| self.sql_err(e))?;
        Ok(())
    }

    /// Starts a journal entry; returns its id.
    #[allow(clippy::too_many_arguments)]
    pub fn begin_deploy(
        &mut self,
        stack: &str,
        service: &str,
        kind: &str,
        from_container: Option<&str>,
        from_image: Option<&str>,
        to_image: &str,
        phase: &str,
    ) -> Result<i64, StoreError> {
        let now = now_ms();
        self.conn
            .execute(
                "INSERT INTO deploys (stack, service, kind, from_container, from_image, to_image, phase, started_ms, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
                params![stack, service, kind, from_container, from_image, to_image, phase, now],
            )
            .map_err(|e| self.sql_err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Moves a journal entry to `phase` (and records green's container once it exists).
    pub fn deploy_phase(&mut self, id: i64, phase: &str, to_container: Option<&str>) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE deploys SET phase = ?2, to_container = COALESCE(?3, to_container), updated_ms = ?4 WHERE id = ?1",
                params![id, phase, to_container, now_ms()],
            )
            .map_err(|e| self.sql_err(e))?;
        Ok(())
    }

    /// Records the digest the image resolved to.
    pub fn deploy_digest(&mut self, id: i64, digest: &str) -> Result<(), StoreError> {
        self.conn
            .execute("UPDATE deploys SET to_digest = ?2, updated_ms = ?3 WHERE id = ?1", params![id, digest, now_ms()])
            .map_err(|e| self.sql_err(e))?;
        Ok(())
    }

    pub fn finish_deploy(&mut self, id: i64, outcome: &str, detail: Option<&str>) -> Result<(), StoreError> {
        let now = now_ms();
        self.conn
            .execute(
                "UPDATE deploys SET outcome = ?2, detail = ?3, finished_ms = ?4, updated_ms = ?4 WHERE id = ?1",
                params![id, outcome, detail, now],
            )
            .map_err(|e| self.sql_err(e))?;
        Ok(())
    }

    /// The newest deploys of a service, newest first.
    pub fn deploys(&self, stack: &str, service: &str, limit: usize) -> Result<Vec<DeployRecord>, StoreError> {
        let sql =
            format!("SELECT {RECORD_COLUMNS} FROM deploys WHERE stack = ?1 AND service = ?2 ORDER BY id DESC LIMIT ?3");
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.sql_err(e))?;
        let rows = stmt
            .query_map(params![stack, service, limit as i64], record)
            .map_err(|e| self.sql_err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.sql_err(e))?;
        Ok(rows)
    }

    /// A deploy of the service that never finished (its process died), if any.
    pub fn unfinished_deploy(&self, stack: &str, service: &str) -> Result<Option<DeployRecord>, StoreError> {
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM deploys WHERE stack = ?1 AND service = ?2 AND outcome IS NULL ORDER BY id DESC LIMIT 1"
        );
        self.conn.query_row(&sql, params![stack, service], record).optional().map_err(|e| self.sql_err(e))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn one_owner_at_a_time_and_a_dead_owners_lock_is_taken_over() {
        let mut store = Store::open_in_memory().unwrap();
        let me = std::process::id();
        assert_eq!(store.acquire_deploy_lock("s", "web", "a@h", me, "h").unwrap(), LockTaken::Free);
        // A live owner (this process) keeps it.
        let LockTaken::HeldBy(lock) = store.acquire_deploy_lock("s", "api", "b@h", me + 1, "h").unwrap() else {
            panic!("taken twice")
        };
        assert_eq!((lock.service.as_str(), lock.actor.as_str(), lock.pid), ("web", "a@h", i64::from(me)));
        // Another host's owner cannot be checked: held.
        store.release_deploy_lock("s", me).unwrap();
        store.acquire_deploy_lock("s", "web", "c@other", 1, "other").unwrap();
        assert!(matches!(store.acquire_deploy_lock("s", "web", "a@h", me, "h").unwrap(), LockTaken::HeldBy(_)));
        // A dead process on this host: taken over, and said so.
        store.conn.execute("DELETE FROM deploy_locks", []).unwrap();
        let dead = u32::MAX - 7;
        store.acquire_deploy_lock("s", "web", "gone@h", dead, "h").unwrap();
        let LockTaken::TookOverFrom(prev) = store.acquire_deploy_lock("s", "web", "a@h", me, "h").unwrap() else {
            panic!("dead owner's lock not taken over")
        };
        assert_eq!(prev.actor, "gone@h");
    }

    #[test]
    fn the_journal_keeps_phases_and_finds_an_unfinished_deploy() {
        let mut store = Store::open_in_memory().unwrap();
        let id = store.begin_deploy("s", "web", "deploy", Some("blue"), Some("app:1"), "app:2", "pulling").unwrap();
        store.deploy_phase(id, "health", Some("green")).unwrap();
        let open = store.unfinished_deploy("s", "web").unwrap().unwrap();
        assert_eq!((open.phase.as_str(), open.to_container.as_deref()), ("health", Some("green")));
        store.finish_deploy(id, "ok", None).unwrap();
        assert!(store.unfinished_deploy("s", "web").unwrap().is_none());
        assert_eq!(store.deploys("s", "web", 5).unwrap()[0].outcome.as_deref(), Some("ok"));
    }
}
