//! One long-lived client process (`mariadb` or `psql`) per connection.
//!
//! Queries are written to the client's stdin, each followed by `SELECT '<marker>'`; the reply is every line
//! up to the marker. Both clients stop at the first error (batch mode / `ON_ERROR_STOP`), so an early end
//! of output means an error, whose text is on stderr. Values come back one row per line, tab-separated;
//! queries that may return tabs or newlines in values must encode them (JSON, hex) — the parity and
//! introspection queries do.
//!
//! A statement may run for as long as it needs, but not in silence over a dead link: a client waiting for a reply
//! over a connection whose packets are dropped (a cable pulled, a VPN or firewall gone, a host frozen) waits
//! forever, since no reset ever arrives. So every [`SILENCE`] without a line from the client, the server is asked
//! over a fresh connection whether it is still there; when it cannot be reached either, the client is killed and
//! the statement fails naming the database. A slow statement on a reachable server is never cut.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::endpoint::{Endpoint, Engine, Target};
use super::{find_tool, DbError, Result};

/// NULL as `psql` is told to print it (MariaDB prints `NULL`).
const PG_NULL: &str = "\u{1}NULL\u{1}";

pub type Row = Vec<Option<String>>;

/// How long a statement may go without a line from the client before the server's reachability is checked.
pub const SILENCE: Duration = Duration::from_secs(30);
/// How long the reachability check may take: its connect timeout, and a kill after twice that.
const PROBE_CONNECT_TIMEOUT_S: u64 = 10;
/// Lines read ahead of the caller (bounded, so a huge result is never held whole).
const LINES_AHEAD: usize = 1024;

pub struct Session {
    engine: Engine,
    endpoint: Endpoint,
    child: Child,
    stdin: ChildStdin,
    /// The client's stdout, line by line, from a reader thread (so a wait can time out).
    lines: Receiver<std::io::Result<String>>,
    stderr: Arc<Mutex<String>>,
    /// The command line, for error messages (never holds the password).
    command: String,
    next_marker: u64,
    server_version: String,
}

/// The client command for an endpoint: `(program, args, env)`; the password travels in the environment
/// (`MYSQL_PWD` / `PGPASSWORD`), never on the command line where `ps` would show it.
pub fn client_command(ep: &Endpoint, tool: &str, extra: &[&str]) -> Result<Command> {
    let mut args: Vec<String> = Vec::new();
    let password_var = match ep.engine {
        Engine::Mariadb => "MYSQL_PWD",
        Engine::Postgres => "PGPASSWORD",
    };
    let mut cmd = match &ep.target {
        Target::Tcp { host, port, socket } => {
            let program = find_tool(tool)?;
            match (ep.engine, socket) {
                (Engine::Mariadb, Some(sock)) => args.push(format!("--socket={}", sock.display())),
                (Engine::Mariadb, None) => {
                    args.extend(["--protocol=TCP".into(), format!("--host={host}"), format!("--port={port}")]);
                }
                (Engine::Postgres, Some(sock)) => {
                    args.extend(["-h".into(), sock.display().to_string(), "-p".into(), port.to_string()])
                }
                (Engine::Postgres, None) => args.extend(["-h".into(), host.clone(), "-p".into(), port.to_string()]),
            }
            Command::new(program)
        }
        Target::Container { container } => {
            let mut c = Command::new(find_tool("docker")?);
            c.args(["exec", "-i"]);
            if ep.password.is_some() {
                // `-e NAME` passes the variable from docker's own environment: the value stays off the command line.
                c.args(["-e", password_var]);
            }
            c.arg(container).arg(tool);
            c
        }
    };
    match ep.engine {
        Engine::Mariadb => args.push(format!("--user={}", ep.user)),
        Engine::Postgres => args.extend(["-U".into(), ep.user.clone()]),
    }
    if let Some(pw) = &ep.password {
        cmd.env(password_var, pw.expose());
    }
    cmd.args(&args).args(extra);
    Ok(cmd)
}

/// `program arg arg …` for messages.
pub fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

impl Session {
    pub fn connect(ep: &Endpoint) -> Result<Session> {
        let mut cmd = match ep.engine {
            Engine::Mariadb => client_command(
                ep,
                "mariadb",
                &[
                    "--batch",
                    "--unbuffered",
                    "--skip-column-names",
                    "--default-character-set=utf8mb4",
                    "--connect-timeout=10",
                    &ep.database,
                ],
            )?,
            Engine::Postgres => {
                client_command(ep, "psql", &["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", &ep.database])?
            }
        };
        cmd.env("PGCONNECT_TIMEOUT", "10").env("PGAPPNAME", "tugboat");
        let command = describe(&cmd);
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| DbError::Command { command: command.clone(), stderr: e.to_string() })?;
        let (Some(stdin), Some(stdout), Some(mut stderr_pipe)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(DbError::Protocol("client pipes were not created".into()));
        };
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        // Drain stderr continuously so a chatty client never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut s) = sink.lock() {
                    s.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        });
        let (line_tx, lines) = std::sync::mpsc::sync_channel(LINES_AHEAD);
        std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            loop {
                let mut line = String::new();
                let read = match stdout.read_line(&mut line) {
                    Ok(0) => break,
                    Ok(_) => Ok(line),
                    Err(e) => Err(e),
                };
                let failed = read.is_err();
                if line_tx.send(read).is_err() || failed {
                    break;
                }
            }
        });
        let mut session = Session {
            engine: ep.engine,
            endpoint: ep.clone(),
            child,
            stdin,
            lines,
            stderr,
            command,
            next_marker: 0,
            server_version: String::new(),
        };
        if ep.engine == Engine::Postgres {
            session.send(&format!("\\pset null '{PG_NULL}'\n\\pset fieldsep '\\t'\n"))?;
        }
        let version_sql = match ep.engine {
            Engine::Mariadb => "SELECT VERSION()",
            Engine::Postgres => "SHOW server_version",
        };
        session.server_version = session.query_value(version_sql)?.unwrap_or_default();
        if ep.engine == Engine::Postgres {
            // Parity groups a whole table into buckets; with the default 4 MB the sort spills to disk.
            session.execute("SET work_mem = '64MB'")?;
        }
        Ok(session)
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The server's version string (`11.8.2-MariaDB`, `16.4 (Debian 16.4-1)`).
    pub fn server_version(&self) -> &str {
        &self.server_version
    }

    fn send(&mut self, text: &str) -> Result<()> {
        self.stdin.write_all(text.as_bytes()).and_then(|_| self.stdin.flush()).map_err(|e| self.failure(e.to_string()))
    }

    /// The error for a dead or failing client: its stderr, or `fallback`.
    fn failure(&mut self, fallback: String) -> DbError {
        // Give the client a moment to exit so its last words reach stderr.
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        let stderr = self.stderr.lock().map(|s| s.trim().to_string()).unwrap_or_default();
        DbError::Command { command: self.command.clone(), stderr: if stderr.is_empty() { fallback } else { stderr } }
    }

    /// Runs one statement and returns its rows (NULL as `None`).
    pub fn query(&mut self, sql: &str) -> Result<Vec<Row>> {
        let mut rows = Vec::new();
        self.query_each(sql, |row| {
            rows.push(row);
            Ok(())
        })?;
        Ok(rows)
    }

    /// Runs one statement and hands each row to `f` as it arrives (large results are never held whole).
    pub fn query_each(&mut self, sql: &str, mut f: impl FnMut(Row) -> Result<()>) -> Result<()> {
        self.next_marker += 1;
        let marker = format!("tugboat-end-{}", self.next_marker);
        let sql = sql.trim().trim_end_matches(';');
        self.send(&format!("{sql};\nSELECT '{marker}';\n"))?;
        loop {
            let Some(line) = self.next_line()? else {
                return Err(self.failure("the client exited without an error message".into()));
            };
            let text = line.strip_suffix('\n').unwrap_or(&line);
            if text == marker {
                return Ok(());
            }
            f(self.parse_row(text))?;
        }
    }

    /// The client's next line (`None` at its end), waiting as long as the server can be reached; see [`SILENCE`].
    fn next_line(&mut self) -> Result<Option<String>> {
        let waiting_since = Instant::now();
        loop {
            match self.lines.recv_timeout(SILENCE) {
                Ok(Ok(line)) => return Ok(Some(line)),
                Ok(Err(e)) => return Err(DbError::Protocol(format!("reading from {}: {e}", self.command))),
                Err(RecvTimeoutError::Disconnected) => return Ok(None),
                Err(RecvTimeoutError::Timeout) => {
                    if let Err(why) = reachable(&self.endpoint) {
                        let _ = self.child.kill();
                        let _ = self.child.wait();
                        return Err(DbError::Command {
                            command: self.command.clone(),
                            stderr: format!(
                                "no answer from the database {} for {} s, and a new connection failed too ({why}): \
                                 the network to it or the server is down",
                                self.endpoint,
                                waiting_since.elapsed().as_secs()
                            ),
                        });
                    }
                }
            }
        }
    }

    fn parse_row(&self, line: &str) -> Row {
        line.split('\t')
            .map(|field| match self.engine {
                Engine::Mariadb if field == "NULL" => None,
                Engine::Mariadb => Some(unescape_batch(field)),
                Engine::Postgres if field == PG_NULL => None,
                Engine::Postgres => Some(field.to_string()),
            })
            .collect()
    }

    /// Runs statements that return no rows.
    pub fn execute(&mut self, sql: &str) -> Result<()> {
        self.query_each(sql, |_| Ok(()))
    }

    /// The first column of the first row.
    pub fn query_value(&mut self, sql: &str) -> Result<Option<String>> {
        Ok(self.query(sql)?.into_iter().next().and_then(|r| r.into_iter().next()).flatten())
    }
}

/// Whether a fresh connection to `ep` answers `SELECT 1` within the probe's timeout; else why not.
pub fn reachable(ep: &Endpoint) -> std::result::Result<(), String> {
    let connect_timeout = format!("--connect-timeout={PROBE_CONNECT_TIMEOUT_S}");
    let mut cmd = match ep.engine {
        Engine::Mariadb => {
            client_command(ep, "mariadb", &[&connect_timeout, "--batch", "-e", "SELECT 1", &ep.database])
        }
        Engine::Postgres => client_command(ep, "psql", &["-X", "-q", "-A", "-t", "-c", "SELECT 1", "-d", &ep.database]),
    }
    .map_err(|e| e.to_string())?;
    cmd.env("PGCONNECT_TIMEOUT", PROBE_CONNECT_TIMEOUT_S.to_string());
    let mut probe =
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().map_err(|e| e.to_string())?;
    // The connect timeout may not cover every step after the TCP handshake: the probe gets twice that, then a kill.
    let deadline = Instant::now() + Duration::from_secs(2 * PROBE_CONNECT_TIMEOUT_S);
    loop {
        match probe.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                let mut stderr = String::new();
                if let Some(mut pipe) = probe.stderr.take() {
                    let _ = pipe.read_to_string(&mut stderr);
                }
                let stderr = stderr.trim();
                return Err(if stderr.is_empty() { format!("the check exited with {status}") } else { stderr.into() });
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                let _ = probe.kill();
                let _ = probe.wait();
                return Err(format!("no answer to a new connection within {} s", 2 * PROBE_CONNECT_TIMEOUT_S));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.stdin.write_all(match self.engine {
            Engine::Mariadb => b"quit\n",
            Engine::Postgres => b"\\q\n",
        });
        let _ = self.stdin.flush();
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `mariadb --batch` escapes `\n`, `\t`, `\\` and NUL in values.
fn unescape_batch(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('0') => out.push('\0'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Quotes an identifier for the engine (`` `t` `` / `"t"`).
pub fn quote_ident(engine: Engine, name: &str) -> String {
    match engine {
        Engine::Mariadb => format!("`{}`", name.replace('`', "``")),
        Engine::Postgres => {
            // Schema-qualified names (`audit.events`) quote each part.
            name.split('.').map(|p| format!("\"{}\"", p.replace('"', "\"\""))).collect::<Vec<_>>().join(".")
        }
    }
}

/// Quotes a string literal.
pub fn quote_literal(engine: Engine, value: &str) -> String {
    match engine {
        Engine::Mariadb => format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''")),
        Engine::Postgres => format!("'{}'", value.replace('\'', "''")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::scratch::ScratchServer;

    #[test]
    fn a_statement_silent_for_longer_than_the_deadline_on_a_reachable_server_is_not_cut() {
        let server = ScratchServer::start(Engine::Mariadb).unwrap();
        let mut session = Session::connect(&server.endpoint("mysql")).unwrap();
        let started = Instant::now();
        let sql = format!("SELECT SLEEP({}) + 7", SILENCE.as_secs() + 3);
        assert_eq!(session.query_value(&sql).unwrap().as_deref(), Some("7"));
        assert!(started.elapsed() > SILENCE, "the statement outlasted the silence deadline");
    }

    #[test]
    fn a_server_that_cannot_be_reached_is_reported_with_the_clients_error() {
        let server = ScratchServer::start(Engine::Mariadb).unwrap();
        let ep = server.endpoint("mysql");
        assert_eq!(reachable(&ep), Ok(()));
        drop(server);
        let why = reachable(&ep).unwrap_err();
        assert!(why.contains("Can't connect"), "{why}");
    }
}
