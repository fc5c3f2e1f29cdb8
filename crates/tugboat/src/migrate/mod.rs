//! `tug migrate`: copy a database with its own tools, streamed (`mariadb-dump | mariadb`,
//! `pg_dump -Fc | pg_restore`), never through a temporary file, then prove parity.
//!
//! The source is only ever read (`--single-transaction` dumps take no locks). The target must be empty
//! unless the caller asked to replace it; a restore that fails names the statement that failed; a run
//! that dies half-way leaves a `running` row in the state database, so the next run knows the target is
//! incomplete.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::db::schema;
use crate::db::scratch::version_mismatch;
use crate::db::session::{client_command, describe, quote_ident, Session};
use crate::db::{DbError, Endpoint, Engine};

/// What will happen, shown by `--dry-run` and checked before anything is written.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub source: String,
    pub target: String,
    pub engine: Engine,
    pub source_version: String,
    pub target_version: String,
    /// Tables already in the target.
    pub target_tables: usize,
    pub replace: bool,
    pub dump_command: String,
    pub restore_command: String,
    /// Things that will not stop the copy but that the operator must know (an older target server, objects
    /// the dump user cannot read).
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("source and target must be the same engine (source is {0}, target is {1}); cross-engine copies need a conversion tool")]
    EngineMismatch(&'static str, &'static str),
    #[error("the target already holds {0} tables: pass --replace to drop them and restore over it")]
    TargetNotEmpty(usize),
    #[error("source and target are the same database ({0}): migrating it onto itself would destroy it")]
    SameDatabase(String),
    #[error("the dump failed: `{command}` exited with {status}: {stderr}")]
    Dump { command: String, status: String, stderr: String },
    #[error("the restore failed: {stderr}{}", statement.as_ref().map(|s| format!("\n  failing statement: {s}")).unwrap_or_default())]
    Restore { stderr: String, statement: Option<String> },
}

/// Connects to both sides and checks that the copy can go ahead.
pub fn plan(source: &Endpoint, target: &Endpoint, replace: bool) -> Result<Plan, MigrateError> {
    if source.engine != target.engine {
        return Err(MigrateError::EngineMismatch(source.engine.name(), target.engine.name()));
    }
    if source.same_database(target) {
        return Err(MigrateError::SameDatabase(source.to_string()));
    }
    let src = Session::connect(source)?;
    let mut tgt = Session::connect(target)?;
    let target_tables = schema::tables(&mut tgt)?.len();
    if target_tables > 0 && !replace {
        return Err(MigrateError::TargetNotEmpty(target_tables));
    }
    let (dump, restore) = commands(source, target)?;
    Ok(Plan {
        source: source.to_string(),
        target: target.to_string(),
        engine: source.engine,
        source_version: src.server_version().to_string(),
        target_version: tgt.server_version().to_string(),
        target_tables,
        replace,
        dump_command: describe(&dump),
        restore_command: describe(&restore),
        warnings: version_mismatch(source.engine, src.server_version(), tgt.server_version())
            .into_iter()
            .chain(unreadable_routines(source)?)
            .collect(),
    })
}

/// MariaDB dumps only the routines its user may read (SELECT on `mysql.proc`; SHOW CREATE ROUTINE from
/// 11.3), silently leaving out the rest — and parity as the same user cannot see them either.
fn unreadable_routines(source: &Endpoint) -> Result<Option<String>, DbError> {
    if source.engine != Engine::Mariadb {
        return Ok(None);
    }
    // A failing statement ends a session, so each probe gets its own.
    if Session::connect(source)?.query("SELECT 1 FROM mysql.proc LIMIT 1").is_ok() {
        return Ok(None);
    }
    let grants: Vec<String> = Session::connect(source)?
        .query("SHOW GRANTS")?
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect();
    let covered = grants.iter().any(|g| {
        let g = g.to_ascii_uppercase();
        g.contains("SHOW CREATE ROUTINE")
            || g.contains("ALL PRIVILEGES ON *.*")
            || g.starts_with("GRANT SELECT") && g.contains(" ON *.*")
    });
    Ok((!covered).then(|| {
        format!(
            "user `{}` cannot read stored routines (grant SELECT ON mysql.proc, or SHOW CREATE ROUTINE on MariaDB 11.3+): \
             the dump will leave procedures and functions out, and parity as the same user cannot see them",
            source.user
        )
    }))
}

fn commands(source: &Endpoint, target: &Endpoint) -> Result<(Command, Command), DbError> {
    Ok((dump_command(source, &[])?, restore_command(target)?))
}

/// The native dump of `source` to stdout: consistent (`--single-transaction`, no locks), with routines,
/// triggers and events (MariaDB), or PostgreSQL's custom format. `extra` adds options (`--snapshot=…`).
pub fn dump_command(source: &Endpoint, extra: &[&str]) -> Result<Command, DbError> {
    match source.engine {
        Engine::Mariadb => {
            let mut args = vec![
                "--single-transaction",
                "--routines",
                "--triggers",
                "--events",
                "--hex-blob",
                "--default-character-set=utf8mb4",
                "--skip-dump-date",
            ];
            args.extend_from_slice(extra);
            args.push(&source.database);
            client_command(source, "mariadb-dump", &args)
        }
        Engine::Postgres => {
            let mut args = vec!["-Fc", "--no-owner", "--no-acl"];
            args.extend_from_slice(extra);
            args.extend(["-d", &source.database]);
            client_command(source, "pg_dump", &args)
        }
    }
}

/// The native restore reading a dump from stdin (`pg_restore` in one transaction, so a failure leaves nothing).
pub fn restore_command(target: &Endpoint) -> Result<Command, DbError> {
    match target.engine {
        Engine::Mariadb => client_command(target, "mariadb", &["--default-character-set=utf8mb4", &target.database]),
        Engine::Postgres => client_command(
            target,
            "pg_restore",
            &["--no-owner", "--no-acl", "--exit-on-error", "--single-transaction", "-d", &target.database],
        ),
    }
}

/// The file name a dump is stored under in a backup snapshot.
pub fn dump_file_name(source: &Endpoint) -> String {
    match source.engine {
        Engine::Mariadb => format!("{}.sql", source.database),
        Engine::Postgres => format!("{}.pgdump", source.database),
    }
}

/// Drops every table, view, routine and event in the target database (for `--replace`), keeping the
/// database itself so no CREATE DATABASE privilege is needed.
pub fn clear_target(target: &Endpoint) -> Result<(), DbError> {
    let mut s = Session::connect(target)?;
    match target.engine {
        Engine::Mariadb => {
            let drops = s.query(
                "SELECT CONCAT('DROP ', CASE table_type WHEN 'VIEW' THEN 'VIEW' WHEN 'SEQUENCE' THEN 'SEQUENCE' ELSE 'TABLE' END, ' IF EXISTS `', REPLACE(table_name, '`', '``'), '`') \
                 FROM information_schema.tables WHERE table_schema = DATABASE() \
                 UNION ALL SELECT CONCAT('DROP ', routine_type, ' IF EXISTS `', REPLACE(routine_name, '`', '``'), '`') FROM information_schema.routines WHERE routine_schema = DATABASE() \
                 UNION ALL SELECT CONCAT('DROP EVENT IF EXISTS `', REPLACE(event_name, '`', '``'), '`') FROM information_schema.events WHERE event_schema = DATABASE()",
            )?;
            s.execute("SET FOREIGN_KEY_CHECKS = 0")?;
            for stmt in drops.into_iter().filter_map(|r| r.into_iter().next().flatten()) {
                s.execute(&stmt)?;
            }
        }
        Engine::Postgres => {
            let schemas = s.query("SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND nspname NOT LIKE 'pg_temp%' AND nspname NOT LIKE 'pg_toast_temp%'")?;
            for name in schemas.into_iter().filter_map(|r| r.into_iter().next().flatten()) {
                s.execute(&format!("DROP SCHEMA {} CASCADE", quote_ident(Engine::Postgres, &name)))?;
            }
            s.execute("CREATE SCHEMA IF NOT EXISTS public")?;
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
pub struct Copied {
    pub bytes: u64,
    pub duration_ms: u64,
}

/// Streams the dump into the restore. `progress` gets the bytes copied so far.
pub fn copy(source: &Endpoint, target: &Endpoint, progress: &dyn Fn(u64)) -> Result<Copied, MigrateError> {
    let started = Instant::now();
    let mut dump_cmd = dump_command(source, &[])?;
    let dump_line = describe(&dump_cmd);
    let mut dump = spawn(&mut dump_cmd, Stdio::null(), Stdio::piped())?;
    let mut from = dump.child.stdout.take();
    let restored = restore_from(target, &mut |to| {
        let Some(from) = from.as_mut() else { return Ok(0) };
        let mut buf = vec![0u8; 256 << 10];
        let mut bytes = 0u64;
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) => return Ok(bytes),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            to.write_all(&buf[..n])?;
            bytes += n as u64;
            progress(bytes);
        }
    });
    if restored.is_err() {
        let _ = dump.child.kill();
    }
    drop(from);
    let dump_status = dump.child.wait().map_err(DbError::io("waiting for the dump"))?;
    let bytes = restored?;
    if !dump_status.success() {
        return Err(MigrateError::Dump { command: dump_line, status: dump_status.to_string(), stderr: dump.stderr() });
    }
    Ok(Copied { bytes, duration_ms: started.elapsed().as_millis() as u64 })
}

/// Runs the native restore into `target`, with `feed` writing the dump into its stdin. A failure names the
/// failing statement (MariaDB reports its line; the recent dump text is kept to show it).
pub fn restore_from(
    target: &Endpoint,
    feed: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<u64>,
) -> Result<u64, MigrateError> {
    let mut restore_cmd = restore_command(target)?;
    let mut restore = spawn(&mut restore_cmd, Stdio::piped(), Stdio::null())?;
    let mut recent = Recent::new(if target.engine == Engine::Mariadb { 8 << 20 } else { 0 });
    let fed = match restore.child.stdin.take() {
        Some(stdin) => {
            let mut tee = Tee { inner: stdin, recent: &mut recent };
            let r = feed(&mut tee);
            drop(tee);
            r
        }
        None => Ok(0),
    };
    let status = restore.child.wait().map_err(DbError::io("waiting for the restore"))?;
    let stderr = restore.stderr();
    if !status.success() {
        let statement = failing_line(&stderr).and_then(|line| recent.statement_at(line));
        return Err(MigrateError::Restore { stderr, statement });
    }
    // A write error with a successful restore means the feed itself failed (e.g. the repository).
    fed.map_err(|e| MigrateError::Db(DbError::Io { what: "feeding the restore".into(), source: e }))
}

/// Writes through to the restore's stdin and keeps the recent text for error messages.
struct Tee<'a, W: Write> {
    inner: W,
    recent: &'a mut Recent,
}

impl<W: Write> Write for Tee<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.recent.push(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

struct Running {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Running {
    fn stderr(&self) -> String {
        std::thread::sleep(Duration::from_millis(20));
        self.stderr.lock().map(|s| s.trim().to_string()).unwrap_or_default()
    }
}

fn spawn(cmd: &mut Command, stdin: Stdio, stdout: Stdio) -> Result<Running, DbError> {
    let line = describe(cmd);
    let mut child = cmd
        .stdin(stdin)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| DbError::Command { command: line, stderr: e.to_string() })?;
    let stderr = Arc::new(Mutex::new(String::new()));
    if let Some(mut pipe) = child.stderr.take() {
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            if let Ok(mut s) = sink.lock() {
                s.push_str(&text);
            }
        });
    }
    Ok(Running { child, stderr })
}

/// `ERROR 1064 (42000) at line 123: …` -> 123.
fn failing_line(stderr: &str) -> Option<u64> {
    let rest = &stderr[stderr.find(" at line ")? + 9..];
    rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// The last `cap` bytes of the stream, with the line number of their first line.
struct Recent {
    cap: usize,
    data: VecDeque<u8>,
    /// Line number of `data[0]`.
    first_line: u64,
}

impl Recent {
    fn new(cap: usize) -> Recent {
        Recent { cap, data: VecDeque::with_capacity(cap), first_line: 1 }
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.cap == 0 {
            return;
        }
        self.data.extend(bytes);
        while self.data.len() > self.cap {
            if self.data.pop_front() == Some(b'\n') {
                self.first_line += 1;
            }
        }
    }

    /// The text of line `n` (shortened), when it is still held.
    fn statement_at(&self, n: u64) -> Option<String> {
        if n < self.first_line {
            return None;
        }
        let (a, b) = self.data.as_slices();
        let text = String::from_utf8_lossy(&[a, b].concat()).into_owned();
        // The first held line may be partial; it is line `first_line` only if we never dropped bytes.
        let line = text.split('\n').nth((n - self.first_line) as usize)?;
        let mut s: String = line.chars().take(300).collect();
        if line.chars().count() > 300 {
            s.push('…');
        }
        Some(s)
    }
}

#[cfg(test)]
mod tests;
