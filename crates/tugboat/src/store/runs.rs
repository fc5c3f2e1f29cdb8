//! Run history that later gates read: parity reports and migration runs.

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParityRun {
    pub id: i64,
    pub time_ms: i64,
    pub source: String,
    pub target: String,
    pub equal: bool,
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MigrationRun {
    pub id: i64,
    pub started_ms: i64,
    pub finished_ms: Option<i64>,
    pub source: String,
    pub target: String,
    /// `running` (or the process died), `ok`, `failed`.
    pub status: String,
    pub detail: Option<String>,
}

fn now_ms() -> i64 {
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
}

impl Store {
    /// Stores a parity report (its JSON) and returns its id. Endpoints are identified by their
    /// password-free display form.
    pub fn record_parity(
        &mut self,
        source: &str,
        target: &str,
        equal: bool,
        summary: &str,
        report: &serde_json::Value,
    ) -> Result<i64, StoreError> {
        self.conn
            .execute(
                "INSERT INTO parity_runs (time_ms, source, target, equal, summary, report) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![now_ms(), source, target, equal, summary, report.to_string()],
            )
            .map_err(|e| self.sql_err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The newest parity run between the two (in either direction), or the newest equal one.
    pub fn last_parity(&self, source: &str, target: &str, equal_only: bool) -> Result<Option<ParityRun>, StoreError> {
        self.conn
            .query_row(
                "SELECT id, time_ms, source, target, equal, summary FROM parity_runs
                 WHERE ((source = ?1 AND target = ?2) OR (source = ?2 AND target = ?1)) AND (equal = 1 OR ?3 = 0)
                 ORDER BY time_ms DESC, id DESC LIMIT 1",
                params![source, target, equal_only],
                |r| {
                    Ok(ParityRun {
                        id: r.get(0)?,
                        time_ms: r.get(1)?,
                        source: r.get(2)?,
                        target: r.get(3)?,
                        equal: r.get(4)?,
                        summary: r.get(5)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.sql_err(e))
    }

    /// Marks a migration as started; if the process dies, the row stays `running` and the target is known incomplete.
    pub fn begin_migration(&mut self, source: &str, target: &str) -> Result<i64, StoreError> {
        self.conn
            .execute(
                "INSERT INTO migration_runs (started_ms, source, target, status) VALUES (?1, ?2, ?3, 'running')",
                params![now_ms(), source, target],
            )
            .map_err(|e| self.sql_err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn finish_migration(&mut self, id: i64, ok: bool, detail: &str) -> Result<(), StoreError> {
        let status = if ok { "ok" } else { "failed" };
        self.conn
            .execute(
                "UPDATE migration_runs SET finished_ms = ?1, status = ?2, detail = ?3 WHERE id = ?4",
                params![now_ms(), status, detail, id],
            )
            .map_err(|e| self.sql_err(e))?;
        Ok(())
    }

    /// The newest migration into `target`, when it did not finish cleanly (running, died, or failed).
    pub fn incomplete_migration(&self, target: &str) -> Result<Option<MigrationRun>, StoreError> {
        let last = self
            .conn
            .query_row(
                "SELECT id, started_ms, finished_ms, source, target, status, detail FROM migration_runs WHERE target = ?1 ORDER BY started_ms DESC, id DESC LIMIT 1",
                params![target],
                |r| {
                    Ok(MigrationRun {
                        id: r.get(0)?,
                        started_ms: r.get(1)?,
                        finished_ms: r.get(2)?,
                        source: r.get(3)?,
                        target: r.get(4)?,
                        status: r.get(5)?,
                        detail: r.get(6)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.sql_err(e))?;
        Ok(last.filter(|m| m.status != "ok"))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DrillRun {
    pub id: i64,
    pub time_ms: i64,
    pub stack: String,
    pub source: String,
    pub snapshot_id: Option<String>,
    pub ok: bool,
    pub rto_ms: Option<i64>,
}

impl Store {
    pub fn record_backup_run(
        &mut self,
        run_id: &str,
        stack: &str,
        ok: bool,
        report: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO backup_runs (run_id, time_ms, stack, ok, report) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![run_id, now_ms(), stack, ok, report.to_string()],
            )
            .map_err(|e| self.sql_err(e))?;
        Ok(())
    }

    /// What a database looked like when its snapshot was taken (table fingerprints), for drills.
    pub fn record_manifest(
        &mut self,
        snapshot_id: &str,
        source: &str,
        manifest: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO backup_manifests (snapshot_id, source, time_ms, manifest) VALUES (?1, ?2, ?3, ?4)",
                params![snapshot_id, source, now_ms(), manifest.to_string()],
            )
            .map_err(|e| self.sql_err(e))?;
        Ok(())
    }

    pub fn manifest(&self, snapshot_id: &str) -> Result<Option<serde_json::Value>, StoreError> {
        let text: Option<String> = self
            .conn
            .query_row("SELECT manifest FROM backup_manifests WHERE snapshot_id = ?1", params![snapshot_id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.sql_err(e))?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    pub fn record_drill(
        &mut self,
        stack: &str,
        source: &str,
        snapshot_id: Option<&str>,
        ok: bool,
        rto_ms: Option<i64>,
        report: &serde_json::Value,
    ) -> Result<i64, StoreError> {
        self.conn
            .execute(
                "INSERT INTO drill_runs (time_ms, stack, source, snapshot_id, ok, rto_ms, report) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![now_ms(), stack, source, snapshot_id, ok, rto_ms, report.to_string()],
            )
            .map_err(|e| self.sql_err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The newest passing drill of `source` (any source when `None`) at or after `since_ms`.
    pub fn last_passing_drill(
        &self,
        stack: &str,
        source: Option<&str>,
        since_ms: i64,
    ) -> Result<Option<DrillRun>, StoreError> {
        self.conn
            .query_row(
                "SELECT id, time_ms, stack, source, snapshot_id, ok, rto_ms FROM drill_runs
                 WHERE stack = ?1 AND (?2 IS NULL OR source = ?2) AND ok = 1 AND time_ms >= ?3 ORDER BY time_ms DESC, id DESC LIMIT 1",
                params![stack, source, since_ms],
                drill_row,
            )
            .optional()
            .map_err(|e| self.sql_err(e))
    }
}

/// A `drill_runs` row selected as `id, time_ms, stack, source, snapshot_id, ok, rto_ms`.
pub(super) fn drill_row(r: &rusqlite::Row) -> rusqlite::Result<DrillRun> {
    Ok(DrillRun {
        id: r.get(0)?,
        time_ms: r.get(1)?,
        stack: r.get(2)?,
        source: r.get(3)?,
        snapshot_id: r.get(4)?,
        ok: r.get(5)?,
        rto_ms: r.get(6)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parity_history_answers_when_last_equal() {
        let mut s = Store::open_in_memory().unwrap();
        assert_eq!(s.last_parity("a", "b", false).unwrap(), None);
        s.record_parity("a", "b", true, "3 tables equal", &serde_json::json!({})).unwrap();
        s.record_parity("a", "b", false, "1 of 3 tables differ", &serde_json::json!({})).unwrap();
        assert!(!s.last_parity("a", "b", false).unwrap().unwrap().equal);
        let eq = s.last_parity("b", "a", true).unwrap().unwrap();
        assert_eq!((eq.equal, eq.summary.as_str()), (true, "3 tables equal"));
    }

    #[test]
    fn unfinished_migration_marks_target_incomplete() {
        let mut s = Store::open_in_memory().unwrap();
        let id = s.begin_migration("src", "dst").unwrap();
        assert_eq!(s.incomplete_migration("dst").unwrap().unwrap().status, "running");
        s.finish_migration(id, true, "parity equal").unwrap();
        assert_eq!(s.incomplete_migration("dst").unwrap(), None);
        let id = s.begin_migration("src", "dst").unwrap();
        s.finish_migration(id, false, "restore failed").unwrap();
        assert_eq!(s.incomplete_migration("dst").unwrap().unwrap().detail.as_deref(), Some("restore failed"));
    }

    #[test]
    fn drills_and_manifests() {
        let mut s = Store::open_in_memory().unwrap();
        s.record_manifest("abc", "main", &serde_json::json!({"tables": []})).unwrap();
        assert_eq!(s.manifest("abc").unwrap(), Some(serde_json::json!({"tables": []})));
        assert_eq!(s.manifest("nope").unwrap(), None);
        s.record_drill("dms", "main", Some("abc"), false, Some(10), &serde_json::json!({})).unwrap();
        assert_eq!(s.last_passing_drill("dms", Some("main"), 0).unwrap(), None);
        s.record_drill("dms", "main", Some("abc"), true, Some(1200), &serde_json::json!({})).unwrap();
        let d = s.last_passing_drill("dms", None, 0).unwrap().unwrap();
        assert_eq!((d.ok, d.rto_ms), (true, Some(1200)));
        assert_eq!(s.last_passing_drill("dms", Some("main"), i64::MAX).unwrap(), None);
    }
}
