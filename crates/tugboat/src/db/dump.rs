//! The native dump and restore tools, streamed (`mariadb-dump | mariadb`, `pg_dump -Fc | pg_restore`), never
//! through a temporary file: used by backup (dump into the repository), restore and drill (restore from it)
//! and migrate (one into the other).

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use serde::Serialize;

use super::session::{client_command, describe, quote_ident, Session};
use super::{DbError, Endpoint, Engine};

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

/// Streams the dump into the restore. `progress` gets the bytes copied so far; an error from it (a
/// cancellation) stops the copy there.
pub fn copy(
    source: &Endpoint,
    target: &Endpoint,
    progress: &dyn Fn(u64) -> std::io::Result<()>,
) -> Result<Copied, DbError> {
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
            progress(bytes)?;
        }
    });
    if restored.is_err() {
        let _ = dump.child.kill();
    }
    drop(from);
    let dump_status = dump.child.wait().map_err(DbError::io("waiting for the dump"))?;
    let bytes = restored?;
    if !dump_status.success() {
        return Err(DbError::Dump { command: dump_line, status: dump_status.to_string(), stderr: dump.stderr() });
    }
    Ok(Copied { bytes, duration_ms: started.elapsed().as_millis() as u64 })
}

/// Runs the native restore into `target`, with `feed` writing the dump into its stdin. A failure names the
/// failing statement (MariaDB reports its line; the recent dump text is kept to show it).
pub fn restore_from(
    target: &Endpoint,
    feed: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<u64>,
) -> Result<u64, DbError> {
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
        return Err(DbError::Restore { stderr, statement });
    }
    // A write error with a successful restore means the feed itself failed (e.g. the repository).
    fed.map_err(|e| DbError::Io { what: "feeding the restore".into(), source: e })
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
    /// The thread collecting stderr; it ends when the tool (and anything holding its stderr) exits.
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Running {
    /// The tool's stderr, all of it: call after `wait`.
    fn stderr(&mut self) -> String {
        self.stderr.take().and_then(|reader| reader.join().ok()).map(|s| s.trim().to_string()).unwrap_or_default()
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
    let stderr = child.stderr.take().map(|mut pipe| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    });
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
mod tests {
    use super::*;

    #[test]
    fn failing_line_and_recent_text() {
        assert_eq!(failing_line("ERROR 1142 (42000) at line 25: CREATE command denied"), Some(25));
        assert_eq!(failing_line("no line here"), None);
        let mut r = Recent::new(1 << 20);
        r.push(b"one\ntwo\nthree");
        r.push(b" more\nfour\n");
        assert_eq!(r.statement_at(3).as_deref(), Some("three more"));
        let mut small = Recent::new(8);
        small.push(b"aaaa\nbbbb\ncc\n");
        assert_eq!(small.statement_at(1), None);
        assert_eq!(small.statement_at(3).as_deref(), Some("cc"));
    }
}
