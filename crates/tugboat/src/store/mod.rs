//! The embedded state store: one SQLite file, `.tugboat/state.db` beside `tugboat.yml`.
//!
//! SQLite because the state must survive without a server to run (the store has to work when the
//! database servers it backs up are down) and because two `tug` processes — a cron'd backup and
//! an operator's deploy — may write at the same time. For that the file runs in WAL mode (readers
//! never block the writer) with a busy timeout (a second writer waits instead of failing), and
//! every write that reads-then-writes takes an IMMEDIATE transaction so it never has to upgrade a
//! read lock, which is the one case SQLite cannot wait out.
//!
//! The schema is a list of migrations applied in order and counted by `PRAGMA user_version`;
//! later tables (run history, drill results, parity reports, monitor history) are added by
//! appending to [`MIGRATIONS`], never by editing an entry that has shipped.

mod audit;
mod deploy;
mod operation;
mod plan;
mod redact;
mod runs;
mod watch;

pub use audit::{current_actor, AuditEvent, AuditVerification, BreakReason, NewAuditEvent, Outcome};
pub use deploy::{DeployLock, DeployRecord, LockTaken};
pub use operation::{interrupt_open_operations, OpGuard, Operation};
pub use plan::{PlanEvent, PlanLock, PlanRun, SmokeRun};
pub use redact::redact_params;
pub use runs::{DrillRun, MigrationRun, ParityRun};
pub use watch::{AlertEvent, CheckState, HistoryBucket, NewAlert, OutboxEntry, BUCKET_MS};

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

/// Schema migrations; entry `i` takes the database from `user_version` `i` to `i + 1`.
///
/// Append only: a database written by an older tugboat is brought up to date on open, and a
/// database with a higher version than this list knows is refused rather than misread.
const MIGRATIONS: &[&str] = &[
    // 1: the hash-chained audit log and its head record (see `audit.rs`).
    "CREATE TABLE audit_events (
        seq           INTEGER PRIMARY KEY,
        time_ms       INTEGER NOT NULL,
        actor         TEXT NOT NULL,
        command       TEXT NOT NULL,
        stack         TEXT NOT NULL,
        config_digest TEXT NOT NULL,
        params        TEXT NOT NULL,
        outcome       TEXT NOT NULL,
        outcome_detail TEXT,
        prev_hash     TEXT NOT NULL,
        hash          TEXT NOT NULL
    );
    CREATE INDEX audit_events_time ON audit_events (time_ms);
    CREATE TABLE audit_head (
        id   INTEGER PRIMARY KEY CHECK (id = 1),
        seq  INTEGER NOT NULL,
        hash TEXT NOT NULL
    );
    INSERT INTO audit_head (id, seq, hash)
        VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');",
    // 2: parity reports (gates ask "when did these two last match?") and migration runs (an
    //    unfinished one marks its target incomplete).
    "CREATE TABLE parity_runs (
        id       INTEGER PRIMARY KEY,
        time_ms  INTEGER NOT NULL,
        source   TEXT NOT NULL,
        target   TEXT NOT NULL,
        equal    INTEGER NOT NULL,
        summary  TEXT NOT NULL,
        report   TEXT NOT NULL
    );
    CREATE INDEX parity_runs_pair ON parity_runs (source, target, time_ms);
    CREATE TABLE migration_runs (
        id          INTEGER PRIMARY KEY,
        started_ms  INTEGER NOT NULL,
        finished_ms INTEGER,
        source      TEXT NOT NULL,
        target      TEXT NOT NULL,
        status      TEXT NOT NULL,
        detail      TEXT
    );
    CREATE INDEX migration_runs_target ON migration_runs (target, started_ms);",
    // 3: backup runs, the table fingerprints taken with each database snapshot, and drill results
    //    (gates ask "was there a passing drill in the last 24 h?").
    "CREATE TABLE backup_runs (
        run_id   TEXT PRIMARY KEY,
        time_ms  INTEGER NOT NULL,
        stack    TEXT NOT NULL,
        ok       INTEGER NOT NULL,
        report   TEXT NOT NULL
    );
    CREATE TABLE backup_manifests (
        snapshot_id TEXT PRIMARY KEY,
        source      TEXT NOT NULL,
        time_ms     INTEGER NOT NULL,
        manifest    TEXT NOT NULL
    );
    CREATE TABLE drill_runs (
        id          INTEGER PRIMARY KEY,
        time_ms     INTEGER NOT NULL,
        stack       TEXT NOT NULL,
        source      TEXT NOT NULL,
        snapshot_id TEXT,
        ok          INTEGER NOT NULL,
        rto_ms      INTEGER,
        report      TEXT NOT NULL
    );
    CREATE INDEX drill_runs_source ON drill_runs (stack, source, time_ms);",
    // 4: `tug watch`: each check's alert state (so a restart neither re-alerts nor forgets an open
    //    incident), its history in 5-minute buckets, the alerts raised, and the outbox of deliveries
    //    still to make (so no alert is lost while a provider is down).
    "CREATE TABLE watch_checks (
        stack                 TEXT NOT NULL,
        check_id              TEXT NOT NULL,
        failures              INTEGER NOT NULL,
        successes             INTEGER NOT NULL,
        last_ok_ms            INTEGER,
        failing_since_ms      INTEGER,
        incident_since_ms     INTEGER,
        last_notified_ms      INTEGER,
        last_result           TEXT,
        PRIMARY KEY (stack, check_id)
    );
    CREATE TABLE watch_history (
        stack       TEXT NOT NULL,
        check_id    TEXT NOT NULL,
        bucket_ms   INTEGER NOT NULL,
        ok          INTEGER NOT NULL,
        failed      INTEGER NOT NULL,
        duration_ms INTEGER NOT NULL,
        PRIMARY KEY (stack, check_id, bucket_ms)
    );
    CREATE INDEX watch_history_time ON watch_history (bucket_ms);
    CREATE TABLE alert_events (
        id        INTEGER PRIMARY KEY,
        time_ms   INTEGER NOT NULL,
        stack     TEXT NOT NULL,
        check_id  TEXT NOT NULL,
        kind      TEXT NOT NULL,
        summary   TEXT NOT NULL,
        payload   TEXT NOT NULL
    );
    CREATE INDEX alert_events_time ON alert_events (stack, time_ms);
    CREATE TABLE alert_outbox (
        id              INTEGER PRIMARY KEY,
        event_id        INTEGER NOT NULL REFERENCES alert_events (id),
        provider        TEXT NOT NULL,
        created_ms      INTEGER NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_ms INTEGER NOT NULL,
        delivered_ms    INTEGER,
        gave_up_ms      INTEGER,
        last_error      TEXT
    );
    CREATE INDEX alert_outbox_due ON alert_outbox (delivered_ms, gave_up_ms, next_attempt_ms);",
    // 5: `tug deploy`: one lock per stack (so two deploys never run at once, and a dead owner's lock is
    //    seen as such) and a journal of every deploy and rollback, phase by phase (so a deploy killed
    //    half-way is resumed or reverted by the next command).
    "CREATE TABLE deploy_locks (
        stack       TEXT PRIMARY KEY,
        service     TEXT NOT NULL,
        actor       TEXT NOT NULL,
        pid         INTEGER NOT NULL,
        host        TEXT NOT NULL,
        acquired_ms INTEGER NOT NULL
    );
    CREATE TABLE deploys (
        id             INTEGER PRIMARY KEY,
        stack          TEXT NOT NULL,
        service        TEXT NOT NULL,
        kind           TEXT NOT NULL,
        from_container TEXT,
        from_image     TEXT,
        to_container   TEXT,
        to_image       TEXT NOT NULL,
        to_digest      TEXT,
        phase          TEXT NOT NULL,
        started_ms     INTEGER NOT NULL,
        updated_ms     INTEGER NOT NULL,
        finished_ms    INTEGER,
        outcome        TEXT,
        detail         TEXT
    );
    CREATE INDEX deploys_service ON deploys (stack, service, id);",
    // 6: cutover plans: each run of a plan, its append-only story of events (gates, steps, approvals,
    //    undos; a step's state is its last event), one lock per plan; and smoke runs, which gates read.
    "CREATE TABLE plan_runs (
        id          INTEGER PRIMARY KEY,
        stack       TEXT NOT NULL,
        plan        TEXT NOT NULL,
        digest      TEXT NOT NULL,
        started_by  TEXT NOT NULL,
        started_ms  INTEGER NOT NULL,
        finished_ms INTEGER,
        status      TEXT NOT NULL
    );
    CREATE INDEX plan_runs_plan ON plan_runs (stack, plan, id);
    CREATE TABLE plan_events (
        id      INTEGER PRIMARY KEY,
        run_id  INTEGER NOT NULL REFERENCES plan_runs (id),
        time_ms INTEGER NOT NULL,
        step    TEXT NOT NULL,
        kind    TEXT NOT NULL,
        actor   TEXT NOT NULL,
        detail  TEXT NOT NULL
    );
    CREATE INDEX plan_events_run ON plan_events (run_id, id);
    CREATE TABLE plan_locks (
        stack       TEXT NOT NULL,
        plan        TEXT NOT NULL,
        actor       TEXT NOT NULL,
        pid         INTEGER NOT NULL,
        host        TEXT NOT NULL,
        acquired_ms INTEGER NOT NULL,
        PRIMARY KEY (stack, plan)
    );
    CREATE TABLE smoke_runs (
        id      INTEGER PRIMARY KEY,
        time_ms INTEGER NOT NULL,
        stack   TEXT NOT NULL,
        suite   TEXT NOT NULL,
        ok      INTEGER NOT NULL,
        summary TEXT NOT NULL
    );
    CREATE INDEX smoke_runs_suite ON smoke_runs (stack, suite, time_ms);",
    // 7: operations begun and not yet finished, so the next command writes the audit event of one whose
    //    process was killed (SIGKILL, power cut) before it could (see `operation.rs`).
    "CREATE TABLE open_operations (
        id            INTEGER PRIMARY KEY,
        pid           INTEGER NOT NULL,
        pid_start     TEXT NOT NULL,
        host          TEXT NOT NULL,
        started_ms    INTEGER NOT NULL,
        actor         TEXT NOT NULL,
        command       TEXT NOT NULL,
        stack         TEXT NOT NULL,
        config_digest TEXT NOT NULL,
        params        TEXT NOT NULL
    );",
];

/// How long a writer waits for another process's write transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(15);

/// What the store could not do. Every message names the database file, so the operator knows
/// which `--state` / `TUGBOAT_STATE` was in effect.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory that should hold the database could not be created.
    #[error("cannot create directory {} for the state database: {cause}", dir.display())]
    CreateDir { dir: PathBuf, cause: std::io::Error },
    /// SQLite could not open the file or set it up (permissions, not a database, locked).
    #[error("cannot open state database {}: {cause}", path.display())]
    Open { path: PathBuf, cause: rusqlite::Error },
    /// A schema migration failed; the database is left at its previous version.
    #[error("cannot upgrade state database {} to schema version {version}: {cause}", path.display())]
    Migrate { path: PathBuf, version: usize, cause: rusqlite::Error },
    /// The database was written by a newer tugboat; reading it could misinterpret it.
    #[error(
        "state database {} has schema version {found}, but this tugboat knows only up to {known}; upgrade tugboat",
        path.display()
    )]
    TooNew { path: PathBuf, found: i64, known: usize },
    /// A query or write failed after the database was opened.
    #[error("state database {}: {cause}", path.display())]
    Sqlite { path: PathBuf, cause: rusqlite::Error },
    /// A stored audit event cannot be read back (its row was altered outside tugboat).
    #[error(
        "state database {}: audit event {seq} is unreadable ({detail}); run `tug audit verify`",
        path.display()
    )]
    CorruptAuditEvent { path: PathBuf, seq: i64, detail: String },
    /// An audit event could not be encoded (clock outside the representable range, etc.).
    #[error("state database {}: cannot record audit event: {detail}", path.display())]
    InvalidAuditEvent { path: PathBuf, detail: String },
}

/// An open state database.
pub struct Store {
    conn: Connection,
    path: Option<PathBuf>,
    /// For an in-memory store: the shared-cache URI that lets [`Store::reopen`] reach the same database.
    memory_uri: Option<String>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.display_path()).finish()
    }
}

impl Store {
    /// Opens the state database at `path`, creating its directory and schema on first use and
    /// upgrading an older schema.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|cause| StoreError::CreateDir { dir: dir.to_path_buf(), cause })?;
        }
        let open_err = |cause| StoreError::Open { path: path.to_path_buf(), cause };
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        // WAL cannot be enabled on some network filesystems; SQLite then keeps its rollback
        // journal, which is slower under contention but still correct, so the result is ignored.
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0)).map_err(open_err)?;
        let mut store = Store { conn, path: Some(path.to_path_buf()), memory_uri: None };
        store.migrate()?;
        Ok(store)
    }

    /// Opens a fresh database that lives only as long as the returned value (tests, `--dry-run`).
    pub fn open_in_memory() -> Result<Store, StoreError> {
        // A named shared-cache database, so a second connection (an operation's audit guard) sees it too.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let uri = format!("file:tugboat-memory-{}-{n}?mode=memory&cache=shared", std::process::id());
        let conn = Self::connect_uri(&uri)?;
        let mut store = Store { conn, path: None, memory_uri: Some(uri) };
        store.migrate()?;
        Ok(store)
    }

    fn connect_uri(uri: &str) -> Result<Connection, StoreError> {
        use rusqlite::OpenFlags;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(uri, flags)
            .map_err(|cause| StoreError::Open { path: PathBuf::from(":memory:"), cause })?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(|cause| StoreError::Open { path: PathBuf::from(":memory:"), cause })?;
        Ok(conn)
    }

    /// A second connection to the same database (the audit guard of an operation writes through its own,
    /// so the operation keeps the first).
    pub fn reopen(&self) -> Result<Store, StoreError> {
        match (&self.path, &self.memory_uri) {
            (Some(path), _) => Store::open(path),
            (None, Some(uri)) => Ok(Store { conn: Self::connect_uri(uri)?, path: None, memory_uri: Some(uri.clone()) }),
            (None, None) => Err(StoreError::Open {
                path: PathBuf::from(":memory:"),
                cause: rusqlite::Error::InvalidPath(PathBuf::from(":memory:")),
            }),
        }
    }

    /// The database file, or `None` for an in-memory store.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The path used in error messages.
    fn display_path(&self) -> PathBuf {
        self.path.clone().unwrap_or_else(|| PathBuf::from(":memory:"))
    }

    /// Wraps a SQLite error with this database's path.
    fn sql_err(&self, cause: rusqlite::Error) -> StoreError {
        StoreError::Sqlite { path: self.display_path(), cause }
    }

    /// Brings the schema up to `MIGRATIONS.len()`. Runs in one IMMEDIATE transaction so two
    /// processes opening a new file at once do not both try to create the tables.
    fn migrate(&mut self) -> Result<(), StoreError> {
        let path = self.display_path();
        let open_err = |cause| StoreError::Open { path: path.clone(), cause };
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(open_err)?;
        let found: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(open_err)?;
        let known = MIGRATIONS.len();
        let start = match usize::try_from(found) {
            Ok(v) if v <= known => v,
            _ => return Err(StoreError::TooNew { path: path.clone(), found, known }),
        };
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(start) {
            let version = index + 1;
            let migrate_err = |cause| StoreError::Migrate { path: path.clone(), version, cause };
            tx.execute_batch(sql).map_err(migrate_err)?;
            // PRAGMA values cannot be bound as parameters; `version` is a small integer.
            tx.execute_batch(&format!("PRAGMA user_version = {version}")).map_err(migrate_err)?;
        }
        tx.commit().map_err(open_err)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn open_creates_parent_dir_schema_and_wal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/.tugboat/state.db");
        let store = Store::open(&path).unwrap();
        assert!(path.exists());
        assert_eq!(store.path(), Some(path.as_path()));
        let version: i64 = store.conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let mode: String = store.conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn reopening_does_not_rerun_migrations() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        drop(Store::open(&path).unwrap());
        // A second open would fail with "table already exists" if migration 1 ran again.
        let store = Store::open(&path).unwrap();
        let version: i64 = store.conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let store = Store::open(&path).unwrap();
        store.conn.execute_batch("PRAGMA user_version = 999").unwrap();
        drop(store);
        let err = Store::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::TooNew { found: 999, .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("upgrade tugboat"), "{msg}");
    }

    #[test]
    fn open_error_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("not-a-dir");
        std::fs::write(&blocker, b"x").unwrap();
        let err = Store::open(&blocker.join("state.db")).unwrap_err();
        assert!(matches!(err, StoreError::CreateDir { .. }), "{err}");
        assert!(err.to_string().contains("not-a-dir"), "{err}");

        let garbage = dir.path().join("garbage.db");
        std::fs::write(&garbage, vec![b'x'; 4096]).unwrap();
        let err = Store::open(&garbage).unwrap_err();
        assert!(err.to_string().starts_with(&format!("cannot open state database {}: ", garbage.display())), "{err}");
    }

    #[test]
    fn in_memory_store_has_schema() {
        let store = Store::open_in_memory().unwrap();
        assert_eq!(store.path(), None);
        assert_eq!(format!("{store:?}"), "Store { path: \":memory:\" }");
        let n: i64 = store.conn.query_row("SELECT count(*) FROM audit_head", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1);
    }
}
