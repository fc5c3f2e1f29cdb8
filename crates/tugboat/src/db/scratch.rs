//! Scratch servers: throwaway MariaDB and PostgreSQL servers started from the installed Debian binaries.
//!
//! A [`ScratchServer`] lives in a fresh directory under the temp dir (`tug-scratch-{engine}-{pid}-{nanos}`), listens
//! on a free loopback port, lets the superuser (`root` / `postgres`) in over TCP without a password, and is torn
//! down — process killed, directory removed — when it is dropped, when [`cleanup_all`] runs (the CLI's Ctrl-C
//! handler), and even when this process dies without either: each server has a tiny `sh` watchdog that holds a
//! pipe from us and kills the server's process group and removes the directory when that pipe closes.
//!
//! Used by the backup drill, by `tug migrate --to scratch` rehearsals, and by the tests.
//!
//! Running as root (CI and the dev machines do): `mariadbd` is started with `--user=root`; PostgreSQL refuses
//! root entirely, so `initdb` and `postgres` run as the `postgres` system user (`setpriv --reuid`), after the
//! directory is handed to that user.

use std::fmt::Write as _;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use super::{find_tool, DbError, Endpoint, Engine, Result, Target};

/// How long a server may take from start to answering a query.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How often readiness is polled.
const POLL: Duration = Duration::from_millis(100);
/// Starts on a fresh port when the chosen one was taken between probing and binding.
const BIND_ATTEMPTS: usize = 5;
/// `stop()` waits this long for a graceful shutdown, `Drop` less.
const STOP_GRACE: Duration = Duration::from_secs(30);
const DROP_GRACE: Duration = Duration::from_secs(5);
/// Log bytes quoted in error messages.
const LOG_TAIL: u64 = 3000;
const LOG_FILE: &str = "server.log";

/// A throwaway database server. Dropping it kills the server and removes its directory.
pub struct ScratchServer {
    engine: Engine,
    dir: PathBuf,
    data: PathBuf,
    port: u16,
    version: String,
    client: PathBuf,
    server_cmd: String,
    child: Option<Child>,
    /// `sh` holding the read end of a pipe whose write end (its stdin) only we hold; see [`WATCHDOG`].
    watchdog: Option<Child>,
    /// From the directory's creation on: removes it (and kills whatever runs in it, `mariadb-install-db`
    /// or `initdb` included) if this process dies before the server's own watchdog exists; see [`GUARD`].
    guard: Option<Child>,
    id: u64,
    stopped: bool,
}

impl std::fmt::Debug for ScratchServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScratchServer")
            .field("engine", &self.engine)
            .field("port", &self.port)
            .field("version", &self.version)
            .field("dir", &self.dir)
            .finish()
    }
}

/// The binaries one engine needs.
struct Tools {
    init: PathBuf,
    server: PathBuf,
    client: PathBuf,
}

impl Tools {
    fn find(engine: Engine) -> Result<Tools> {
        match engine {
            Engine::Mariadb => Ok(Tools {
                init: find_either("mariadb-install-db", "mysql_install_db")?,
                server: find_either("mariadbd", "mysqld")?,
                client: find_either("mariadb", "mysql")?,
            }),
            Engine::Postgres => {
                // initdb, postgres and (preferably) psql from one installation: several major versions may be installed.
                // Resolve symlinks (/usr/local/bin/postgres -> /usr/lib/postgresql/15/bin/postgres) to find the
                // installation's own psql rather than Debian's version-picking wrapper.
                let server = find_tool("postgres")?;
                let server = std::fs::canonicalize(&server).unwrap_or(server);
                let bin = server.parent().map(Path::to_path_buf).unwrap_or_default();
                let init = Some(bin.join("initdb")).filter(|p| p.is_file()).map_or_else(|| find_tool("initdb"), Ok)?;
                let client = Some(bin.join("psql")).filter(|p| p.is_file()).map_or_else(|| find_tool("psql"), Ok)?;
                Ok(Tools { init, server, client })
            }
        }
    }
}

fn find_either(tool: &str, old_name: &str) -> Result<PathBuf> {
    find_tool(tool).or_else(|err| find_tool(old_name).map_err(|_| err))
}

/// Who runs the server processes.
enum RunAs {
    /// This process's user (not root), or root for MariaDB (with `--user=root`).
    Me { root: bool },
    /// PostgreSQL while we are root: `setpriv` to the `postgres` system user.
    Postgres { setpriv: PathBuf, uid: u32, gid: u32 },
}

impl RunAs {
    fn detect(engine: Engine) -> Result<RunAs> {
        let root = effective_uid()? == 0;
        if !root || engine == Engine::Mariadb {
            return Ok(RunAs::Me { root });
        }
        let no_user = |detail: String| DbError::Command {
            command: "id postgres".into(),
            stderr: format!(
                "PostgreSQL refuses to run as root and there is no `postgres` user to run it as ({detail}): \
                 create a non-root user to run PostgreSQL, e.g. install the postgresql package"
            ),
        };
        let id = |flag: &str| -> Result<u32> {
            let out = Command::new("id").args([flag, "postgres"]).output().map_err(|e| no_user(e.to_string()))?;
            if !out.status.success() {
                return Err(no_user(String::from_utf8_lossy(&out.stderr).trim().to_string()));
            }
            String::from_utf8_lossy(&out.stdout).trim().parse().map_err(|_| no_user("unexpected output of id".into()))
        };
        let (uid, gid) = (id("-u")?, id("-g")?);
        let setpriv = find_tool("setpriv")
            .map_err(|_| DbError::ToolMissing { tool: "setpriv".into(), package: "util-linux".into() })?;
        Ok(RunAs::Postgres { setpriv, uid, gid })
    }

    /// A command for `program`, wrapped in `setpriv` when it must run as `postgres`.
    fn command(&self, program: &Path) -> Command {
        match self {
            RunAs::Me { .. } => Command::new(program),
            RunAs::Postgres { setpriv, uid, gid } => {
                let mut cmd = Command::new(setpriv);
                cmd.arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={gid}"))
                    .arg("--init-groups")
                    .arg("--")
                    .arg(program)
                    .env("HOME", "/");
                cmd
            }
        }
    }
}

/// The effective user id, from `/proc/self/status` (no libc: unsafe code is forbidden), else `id -u`.
fn effective_uid() -> Result<u32> {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        let euid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            .and_then(|e| e.parse().ok());
        if let Some(euid) = euid {
            return Ok(euid);
        }
    }
    let out = Command::new("id").arg("-u").output().map_err(DbError::io("running `id -u`"))?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| DbError::Protocol("cannot tell which user this process runs as".into()))
}

impl ScratchServer {
    /// Initializes a data directory, starts the server on a free loopback port and waits until it answers.
    pub fn start(engine: Engine) -> Result<ScratchServer> {
        ScratchServer::start_with(engine, &[])
    }

    /// [`start`](Self::start) with extra server options, e.g. `["--lower-case-table-names=1"]` for MariaDB or
    /// `["-c", "max_connections=20"]` for PostgreSQL.
    pub fn start_with(engine: Engine, extra_args: &[&str]) -> Result<ScratchServer> {
        let tools = Tools::find(engine)?;
        let run_as = RunAs::detect(engine)?;
        // From here on, Drop cleans up whatever happens.
        let mut server = ScratchServer::new(engine, &tools)?;
        server.init(&tools, &run_as)?;
        server.run(&tools, &run_as, extra_args, &mut free_port)?;
        Ok(server)
    }

    /// A registered, empty directory; no process yet.
    fn new(engine: Engine, tools: &Tools) -> Result<ScratchServer> {
        let (dir, id) = make_dir(engine)?;
        // The directory is passed in the environment, not argv, so `pkill -f DIR` does not match the guard.
        let guard = Command::new("sh")
            .args(["-c", GUARD, "tug-scratch-guard"])
            .env("TUG_SCRATCH_DIR", &dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn();
        let guard = match guard {
            Ok(g) => g,
            Err(e) => {
                let _ = remove_dir(&dir);
                unregister(id);
                return Err(DbError::io("starting the scratch directory's guard (sh)")(e));
            }
        };
        Ok(ScratchServer {
            engine,
            data: dir.join("data"),
            dir,
            port: 0,
            version: String::new(),
            client: tools.client.clone(),
            server_cmd: String::new(),
            child: None,
            watchdog: None,
            guard: Some(guard),
            id,
            stopped: false,
        })
    }

    /// Starts the initialized server on ports from `ports`, on the next one whenever the last was taken meanwhile.
    fn run(
        &mut self,
        tools: &Tools,
        run_as: &RunAs,
        extra_args: &[&str],
        ports: &mut dyn FnMut() -> Result<u16>,
    ) -> Result<()> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            self.port = ports()?;
            self.spawn(tools, run_as, extra_args)?;
            match self.wait_ready()? {
                Ready::Up => return Ok(()),
                Ready::PortTaken if attempts < BIND_ATTEMPTS => continue,
                Ready::PortTaken => {
                    return Err(DbError::Command {
                        command: self.server_cmd.clone(),
                        stderr: format!(
                            "could not bind a free port in {BIND_ATTEMPTS} attempts: {}",
                            read_tail(&self.log_path())
                        ),
                    })
                }
            }
        }
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's version: `SELECT VERSION()` for MariaDB ("10.11.19-MariaDB-0+deb12u1"), the number for
    /// PostgreSQL ("15.18").
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The directory holding the data directory, the socket and `server.log`; removed on drop.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The server's process id (the postmaster for PostgreSQL); `None` once stopped.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The superuser (`root` / `postgres`, no password) on `database`, over TCP to 127.0.0.1.
    pub fn endpoint(&self, database: &str) -> Endpoint {
        Endpoint {
            engine: self.engine,
            target: Target::Tcp { host: "127.0.0.1".into(), port: self.port, socket: None },
            user: superuser(self.engine).into(),
            password: None,
            database: database.into(),
        }
    }

    /// `CREATE DATABASE name` (quoted), through the command-line client.
    pub fn create_database(&self, name: &str) -> Result<()> {
        let sql = match self.engine {
            Engine::Mariadb => format!("CREATE DATABASE `{}`", name.replace('`', "``")),
            Engine::Postgres => format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\"")),
        };
        self.query(None, &sql).map(drop)
    }

    /// Runs SQL as the superuser through the command-line client (`mariadb -e` / `psql -c`) and returns its output:
    /// rows on lines, columns separated by tabs, no header. `None` connects to no database (MariaDB) or `postgres`.
    pub fn query(&self, database: Option<&str>, sql: &str) -> Result<String> {
        self.query_within(database, sql, 10)
    }

    fn query_within(&self, database: Option<&str>, sql: &str, connect_timeout_s: u32) -> Result<String> {
        let mut cmd = self.client_command(database, sql, connect_timeout_s);
        let shown = display(&cmd);
        let out = cmd.stdin(Stdio::null()).output().map_err(DbError::io(format!("running {shown}")))?;
        if !out.status.success() {
            return Err(DbError::Command {
                command: shown,
                stderr: String::from_utf8_lossy(&out.stderr).trim().into(),
            });
        }
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        while text.ends_with('\n') {
            text.pop();
        }
        Ok(text)
    }

    /// Shuts the server down gracefully (MariaDB: SIGTERM, PostgreSQL: SIGINT, the fast shutdown), kills it if it has
    /// not exited within 30 s, and removes the directory.
    pub fn stop(mut self) -> Result<()> {
        self.shutdown(STOP_GRACE)
    }

    fn client_command(&self, database: Option<&str>, sql: &str, connect_timeout_s: u32) -> Command {
        let port = self.port.to_string();
        let mut cmd = Command::new(&self.client);
        match self.engine {
            Engine::Mariadb => {
                cmd.args(["--no-defaults", "--protocol=TCP", "-h", "127.0.0.1", "-P", &port, "-u", "root"]);
                cmd.arg(format!("--connect-timeout={connect_timeout_s}"));
                cmd.args(["--batch", "--skip-column-names", "-e", sql]);
                cmd.args(database);
            }
            Engine::Postgres => {
                cmd.args(["-X", "-h", "127.0.0.1", "-p", &port, "-U", "postgres"]);
                cmd.args(["-d", database.unwrap_or("postgres"), "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql]);
                for var in ["PGPASSWORD", "PGPASSFILE", "PGSERVICE", "PGSERVICEFILE", "PGOPTIONS", "PGSSLMODE"] {
                    cmd.env_remove(var);
                }
                cmd.env("PGCONNECT_TIMEOUT", connect_timeout_s.to_string());
            }
        }
        cmd
    }

    /// `DIR/tmp`, created on first use.
    fn private_tmp(&self) -> Result<PathBuf> {
        let tmp = self.dir.join("tmp");
        std::fs::create_dir_all(&tmp).map_err(DbError::io(format!("cannot create {}", tmp.display())))?;
        Ok(tmp)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join(LOG_FILE)
    }

    fn init(&mut self, tools: &Tools, run_as: &RunAs) -> Result<()> {
        let mut cmd = match self.engine {
            Engine::Mariadb => {
                let mut cmd = run_as.command(&tools.init);
                cmd.arg("--no-defaults").arg(format!("--datadir={}", self.data.display()));
                cmd.args(["--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve"]);
                // A private tmpdir: concurrent bootstraps in the shared /tmp collide on temp table names.
                cmd.arg(format!("--tmpdir={}", self.private_tmp()?.display()));
                if matches!(run_as, RunAs::Me { root: true }) {
                    cmd.arg("--user=root");
                }
                // Passed through to the bootstrap server, so the first start need not resize the redo log.
                cmd.args(MARIADB_INNODB);
                cmd
            }
            Engine::Postgres => {
                if let RunAs::Postgres { uid, gid, .. } = run_as {
                    let mut chown = Command::new("chown");
                    chown.arg("-R").arg(format!("{uid}:{gid}")).arg(&self.dir);
                    run_to_end(&mut chown, self.id)?;
                }
                let mut cmd = run_as.command(&tools.init);
                cmd.arg("-D").arg(&self.data);
                cmd.args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]);
                cmd
            }
        };
        cmd.current_dir(&self.dir);
        run_to_end(&mut cmd, self.id)
    }

    fn spawn(&mut self, tools: &Tools, run_as: &RunAs, extra_args: &[&str]) -> Result<()> {
        let mut cmd = run_as.command(&tools.server);
        let port = self.port.to_string();
        match self.engine {
            Engine::Mariadb => {
                cmd.arg("--no-defaults");
                if matches!(run_as, RunAs::Me { root: true }) {
                    cmd.arg("--user=root");
                }
                cmd.arg(format!("--datadir={}", self.data.display()))
                    .arg(format!("--tmpdir={}", self.private_tmp()?.display()))
                    .arg(format!("--port={port}"))
                    .arg("--bind-address=127.0.0.1")
                    .arg(format!("--socket={}", self.dir.join("mysqld.sock").display()))
                    .arg(format!("--pid-file={}", self.dir.join("mysqld.pid").display()))
                    .args(["--skip-name-resolve", "--skip-log-bin", "--character-set-server=utf8mb4"])
                    .args(["--max-allowed-packet=256M", "--innodb-flush-log-at-trx-commit=2"])
                    .args(["--loose-innodb-doublewrite=0", "--innodb-buffer-pool-size=128M"])
                    .args(MARIADB_INNODB);
            }
            Engine::Postgres => {
                // The Unix socket lives in the directory when its path fits (108 bytes); clients use TCP anyway.
                let socket_dir = self.dir.to_string_lossy();
                let socket_dir = if socket_dir.len() + 20 < 108 { socket_dir } else { "".into() };
                cmd.arg("-D").arg(&self.data).args(["-p", &port]);
                for setting in [
                    "listen_addresses=127.0.0.1".to_string(),
                    format!("unix_socket_directories={socket_dir}"),
                    "fsync=off".into(),
                    "synchronous_commit=off".into(),
                    "full_page_writes=off".into(),
                    "logging_collector=off".into(),
                ] {
                    cmd.arg("-c").arg(setting);
                }
            }
        }
        cmd.args(extra_args);
        self.server_cmd = display(&cmd);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(DbError::io(format!("creating {}", self.log_path().display())))?;
        let log2 = log.try_clone().map_err(DbError::io("duplicating the log file handle"))?;
        cmd.current_dir(&self.dir).stdin(Stdio::null()).stdout(log).stderr(log2).process_group(0);
        let child = cmd.spawn().map_err(DbError::io(format!("starting {}", self.server_cmd)))?;
        let pid = child.id();
        self.child = Some(child);
        set_registered(self.id, Some(pid), None);
        // The watchdog: if this process dies without dropping us (SIGKILL, a leaked static), its stdin closes.
        let watchdog = Command::new("sh")
            .args(["-c", WATCHDOG, "tug-scratch-watchdog"])
            .arg(pid.to_string())
            .arg(&self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(DbError::io("starting the scratch server's watchdog (sh)"))?;
        set_registered(self.id, Some(pid), Some(watchdog.id()));
        self.watchdog = Some(watchdog);
        Ok(())
    }

    /// Polls the server with the command-line client until it answers, it exits, or the timeout passes.
    fn wait_ready(&mut self) -> Result<Ready> {
        let started = Instant::now();
        let probe = match self.engine {
            Engine::Mariadb => "SELECT VERSION(), @@datadir",
            Engine::Postgres => "SELECT current_setting('server_version'), current_setting('data_directory')",
        };
        let ours = std::fs::canonicalize(&self.data).unwrap_or_else(|_| self.data.clone());
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait().map_err(DbError::io("waiting for the scratch server"))? {
                    self.child = None;
                    self.disarm_watchdog();
                    set_registered(self.id, None, None);
                    let log = read_tail(&self.log_path());
                    if log.contains("Address already in use") {
                        return Ok(Ready::PortTaken);
                    }
                    return Err(DbError::Command {
                        command: self.server_cmd.clone(),
                        stderr: format!(
                            "the server exited ({status}) before accepting connections; end of {}:\n{log}",
                            self.log_path().display()
                        ),
                    });
                }
            }
            if let Ok(answer) = self.query_within(None, probe, 2) {
                let mut fields = answer.lines().next().unwrap_or("").split('\t');
                let version = fields.next().unwrap_or("").trim();
                let datadir = PathBuf::from(fields.next().unwrap_or("").trim().trim_end_matches('/'));
                let datadir = std::fs::canonicalize(&datadir).unwrap_or(datadir);
                // Another server that grabbed the port answers with its own data directory: keep waiting for ours
                // to fail to bind, and retry on a fresh port.
                if datadir == ours && !version.is_empty() {
                    self.version = match self.engine {
                        Engine::Mariadb => version.to_string(),
                        Engine::Postgres => version.split_whitespace().next().unwrap_or(version).to_string(),
                    };
                    return Ok(Ready::Up);
                }
            }
            if started.elapsed() > READY_TIMEOUT {
                let log = read_tail(&self.log_path());
                self.kill_now();
                return Err(DbError::Command {
                    command: self.server_cmd.clone(),
                    stderr: format!(
                        "the server did not accept connections on 127.0.0.1:{} within {} s; end of {}:\n{log}",
                        self.port,
                        READY_TIMEOUT.as_secs(),
                        self.log_path().display()
                    ),
                });
            }
            std::thread::sleep(POLL);
        }
    }

    /// Kills the watchdog so it cannot act on a pid we are about to reap.
    fn disarm_watchdog(&mut self) {
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
    }

    /// Kills the directory's guard: we remove the directory ourselves from here on.
    fn disarm_guard(&mut self) {
        if let Some(mut g) = self.guard.take() {
            let _ = g.kill();
            let _ = g.wait();
        }
    }

    /// SIGKILL to the server's process group, then reap it.
    fn kill_now(&mut self) {
        self.disarm_watchdog();
        if let Some(mut child) = self.child.take() {
            signal_group(child.id(), "KILL");
            let _ = child.wait();
        }
        set_registered(self.id, None, None);
    }

    fn shutdown(&mut self, grace: Duration) -> Result<()> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        unregister(self.id);
        self.disarm_watchdog();
        let mut problem = None;
        if let Some(mut child) = self.child.take() {
            let pid = child.id();
            let graceful = match self.engine {
                Engine::Mariadb => "TERM",
                Engine::Postgres => "INT",
            };
            signal(pid, graceful);
            if !wait_gone(pid, grace) {
                let log = read_tail(&self.log_path());
                problem = Some(format!(
                    "the server did not shut down within {} s and was killed; log:\n{log}",
                    grace.as_secs()
                ));
            }
            // Also takes any child process left over (the pid is still ours until we reap it, so no reuse).
            signal_group(pid, "KILL");
            let _ = child.wait();
        }
        let removed = remove_dir(&self.dir);
        // Only now: killed during the graceful stop above, the guard still kills the server and removes the
        // directory (found by the fault runs: a drill killed while it stopped its server left the directory).
        self.disarm_guard();
        if let Some(stderr) = problem {
            return Err(DbError::Command { command: self.server_cmd.clone(), stderr });
        }
        removed
    }
}

impl Drop for ScratchServer {
    fn drop(&mut self) {
        let _ = self.shutdown(DROP_GRACE);
    }
}

enum Ready {
    Up,
    PortTaken,
}

/// Small redo log: fast to create, enough for test and rehearsal loads. `loose-` so other versions ignore it.
const MARIADB_INNODB: [&str; 1] = ["--loose-innodb-log-file-size=48M"];

/// Runs with `$1` = server pid (its process group), `$2` = directory. Waits for its stdin to close (this process
/// gone), then kills the group and removes the directory (retrying while dying processes still write). We kill it
/// before we reap the server ourselves, so it never signals a reused pid.
const WATCHDOG: &str = r#"while read -r _; do :; done
kill -s KILL -- "-$1" 2>/dev/null
i=0
while [ -e "$2" ] && [ "$i" -lt 50 ]; do rm -rf -- "$2" 2>/dev/null || sleep 0.1; i=$((i+1)); done
"#;

/// The directory guard: when its stdin closes (this process died), kill every process whose command line names
/// the directory (the init tool, the server), then remove it.
const GUARD: &str = r#"while read -r _; do :; done
pkill -KILL -f -- "$TUG_SCRATCH_DIR" 2>/dev/null
i=0
while [ -e "$TUG_SCRATCH_DIR" ] && [ "$i" -lt 50 ]; do rm -rf -- "$TUG_SCRATCH_DIR" 2>/dev/null || sleep 0.1; i=$((i+1)); done
"#;

fn superuser(engine: Engine) -> &'static str {
    match engine {
        Engine::Mariadb => "root",
        Engine::Postgres => "postgres",
    }
}

/// A port the kernel just handed out on 127.0.0.1, released again for the server to bind.
fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(DbError::io("finding a free port"))?;
    let port = listener.local_addr().map_err(DbError::io("finding a free port"))?.port();
    Ok(port)
}

/// Creates `tug-scratch-{engine}-{pid}-{nanos}` and registers it for cleanup.
fn make_dir(engine: Engine) -> Result<(PathBuf, u64)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut base = std::env::temp_dir();
    // Socket paths must fit in 108 bytes; a long TMPDIR would break them.
    if base.as_os_str().len() > 48 {
        base = PathBuf::from("/tmp");
    }
    loop {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("tug-scratch-{}-{}-{nanos}", engine.name(), std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => {
                lock().push(Entry { id: n, dir: dir.clone(), pid: None, watchdog: None });
                return Ok((dir, n));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(DbError::Io { what: format!("creating {}", dir.display()), source: e }),
        }
    }
}

/// Runs an init step to completion in its own process group (registered, so Ctrl-C cleanup kills it too).
fn run_to_end(cmd: &mut Command, id: u64) -> Result<()> {
    let shown = display(cmd);
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(DbError::io(format!("running {shown}")))?;
    set_registered(id, Some(child.id()), None);
    let out = child.wait_with_output().map_err(DbError::io(format!("running {shown}")));
    set_registered(id, None, None);
    let out = out?;
    if out.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stdout));
    Err(DbError::Command { command: shown, stderr: tail(text.trim(), LOG_TAIL as usize) })
}

/// The command line as a user would type it (arguments with spaces quoted).
fn display(cmd: &Command) -> String {
    let mut out = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        let arg = arg.to_string_lossy();
        if arg.is_empty() || arg.contains([' ', '\t', '\'', '"', '\n']) {
            let _ = write!(out, " '{}'", arg.replace('\'', r"'\''"));
        } else {
            let _ = write!(out, " {arg}");
        }
    }
    out
}

/// The end of a log file, for error messages.
fn read_tail(path: &Path) -> String {
    let Ok(mut file) = std::fs::File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = file.metadata().map_or(0, |m| m.len());
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let text = if len > LOG_TAIL { text.split_once('\n').map_or(&*text, |(_, rest)| rest) } else { &text };
    text.trim_end().to_string()
}

fn tail(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

/// `kill -s SIG PID` (the `kill` command: no unsafe code here).
fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args(["-s", sig, "--", &pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// `kill -s SIG -- -PGID`: the server and any process it started. Also the pid itself, should it not lead a group.
fn signal_group(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args(["-s", sig, "--", &format!("-{pid}"), &pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Whether a process has exited (gone or a zombie), without reaping it.
fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()).unwrap_or("");
            matches!(state, "Z" | "X" | "x")
        }
        Err(_) => true,
    }
}

fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let started = Instant::now();
    loop {
        if exited(pid) {
            return true;
        }
        if started.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Removes the directory, retrying briefly: a dying server may still be writing into it.
fn remove_dir(dir: &Path) -> Result<()> {
    let mut last = None;
    for _ in 0..10 {
        match std::fs::remove_dir_all(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => last = Some(e),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    match last {
        Some(source) => Err(DbError::Io { what: format!("removing {}", dir.display()), source }),
        None => Ok(()),
    }
}

/// Every scratch server of this process, for [`cleanup_all`].
struct Entry {
    id: u64,
    dir: PathBuf,
    /// The server, or the init step running before it.
    pid: Option<u32>,
    watchdog: Option<u32>,
}

fn lock() -> MutexGuard<'static, Vec<Entry>> {
    static REGISTRY: OnceLock<Mutex<Vec<Entry>>> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(Vec::new())).lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn set_registered(id: u64, pid: Option<u32>, watchdog: Option<u32>) {
    if let Some(entry) = lock().iter_mut().find(|e| e.id == id) {
        entry.pid = pid;
        entry.watchdog = watchdog;
    }
}

fn unregister(id: u64) {
    lock().retain(|e| e.id != id);
}

/// Kills every scratch server this process started and removes their directories (for a Ctrl-C handler: SIGKILL,
/// no graceful shutdown). Idempotent; servers dropped afterwards only reap their processes.
pub fn cleanup_all() {
    cleanup_matching(|_| true);
}

fn cleanup_matching(pick: impl Fn(&Entry) -> bool) {
    let entries: Vec<Entry> = {
        let mut all = lock();
        let (picked, kept): (Vec<Entry>, Vec<Entry>) = all.drain(..).partition(|e| pick(e));
        *all = kept;
        picked
    };
    for entry in &entries {
        if let Some(w) = entry.watchdog {
            signal(w, "KILL");
        }
        if let Some(pid) = entry.pid {
            signal_group(pid, "KILL");
        }
    }
    for entry in &entries {
        if let Some(pid) = entry.pid {
            wait_gone(pid, Duration::from_secs(2));
        }
        let _ = remove_dir(&entry.dir);
    }
}

/// Compares the version of the server a dump came from with the server it is restored into, and warns on a downgrade
/// of the major (PostgreSQL ≥ 10) or major.minor (MariaDB) version: newer dumps may use syntax, collations or catalog
/// features the older server lacks. `None` when the target is the same or newer, or a version is unreadable.
pub fn version_mismatch(engine: Engine, source: &str, target: &str) -> Option<String> {
    let (s, t) = (release(engine, source)?, release(engine, target)?);
    if s <= t {
        return None;
    }
    let show = |r: &[u32]| r.iter().map(u32::to_string).collect::<Vec<_>>().join(".");
    let (s, t) = (show(&s), show(&t));
    Some(match engine {
        Engine::Mariadb => format!(
            "dump from MariaDB {s} restored into {t}: the target is older than the source, so statements, collations \
             (e.g. utf8mb4_uca1400_ai_ci) or system tables it does not know may fail or change; use MariaDB {s} or \
             newer for a faithful rehearsal"
        ),
        Engine::Postgres => format!(
            "dump from PostgreSQL {s} restored into {t}: the target is older than the source, so the archive format, \
             syntax or catalog features of {s} may be rejected; use PostgreSQL {s} or newer for a faithful rehearsal"
        ),
    })
}

/// The part of a version that matters for compatibility: MariaDB `[major, minor]`, PostgreSQL `[major]` (since 10;
/// `[major, minor]` before).
fn release(engine: Engine, version: &str) -> Option<Vec<u32>> {
    let numeric: String = version.trim().chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    let parts: Vec<u32> = numeric.split('.').map_while(|p| p.parse().ok()).collect();
    let major = *parts.first()?;
    let keep = match engine {
        Engine::Postgres if major >= 10 => 1,
        _ => 2,
    };
    Some(parts.into_iter().take(keep).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alive(pid: u32) -> bool {
        Path::new(&format!("/proc/{pid}")).exists()
    }

    fn timed_start(engine: Engine) -> ScratchServer {
        let t = Instant::now();
        let server = ScratchServer::start(engine).unwrap_or_else(|e| panic!("starting {}: {e}", engine.name()));
        eprintln!(
            "scratch {} {} started in {:?} on port {}",
            engine.name(),
            server.version(),
            t.elapsed(),
            server.port()
        );
        server
    }

    /// A query through the CLI as another client would run it, from the endpoint alone.
    fn cli(endpoint: &Endpoint, password: Option<&str>, sql: &str) -> std::process::Output {
        let Target::Tcp { host, port, .. } = &endpoint.target else { panic!("tcp") };
        let mut cmd = match endpoint.engine {
            Engine::Mariadb => {
                let mut cmd = Command::new(find_tool("mariadb").unwrap());
                cmd.args(["--no-defaults", "-h", host, "-P", &port.to_string(), "-u", &endpoint.user, "-N", "-B"]);
                if let Some(pw) = password {
                    cmd.arg(format!("-p{pw}"));
                }
                cmd.args(["-e", sql, &endpoint.database]);
                cmd
            }
            Engine::Postgres => {
                let mut cmd = Command::new(find_tool("psql").unwrap());
                cmd.args(["-X", "-h", host, "-p", &port.to_string(), "-U", &endpoint.user, "-d", &endpoint.database]);
                cmd.args(["-At", "-v", "ON_ERROR_STOP=1", "-c", sql]);
                if let Some(pw) = password {
                    cmd.env("PGPASSWORD", pw);
                }
                cmd
            }
        };
        cmd.output().unwrap()
    }

    fn check_gone(pid: u32, dir: &Path) {
        assert!(!alive(pid), "server process {pid} still exists");
        assert!(!dir.exists(), "{} still exists", dir.display());
        assert!(!lock().iter().any(|e| e.dir == dir), "still registered");
    }

    #[test]
    fn mariadb_starts_serves_and_is_gone_after_drop() {
        let server = timed_start(Engine::Mariadb);
        assert!(server.version().contains("MariaDB"), "{}", server.version());
        assert_ne!(server.port(), 0);
        let (pid, dir) = (server.pid().unwrap(), server.dir().to_path_buf());
        assert!(alive(pid) && dir.join("data").is_dir());
        server.create_database("shop").unwrap();
        let ep = server.endpoint("shop");
        assert_eq!(
            (ep.user.as_str(), ep.to_string()),
            ("root", format!("mariadb://root@127.0.0.1:{}/shop", server.port()))
        );
        let out = cli(&ep, None, "CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(10)); INSERT INTO t VALUES (1,'ä'),(2,'b'); SELECT COUNT(*), @@character_set_server FROM t");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2\tutf8mb4");
        // Grants are enforced: a user with a password can be created and must use it.
        server
            .query(
                None,
                "CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY 's3cret'; GRANT SELECT ON shop.* TO 'app'@'127.0.0.1'",
            )
            .unwrap();
        let app = Endpoint { user: "app".into(), ..ep.clone() };
        let out = cli(&app, Some("s3cret"), "SELECT s FROM t ORDER BY id");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "ä\nb\n", "{}", String::from_utf8_lossy(&out.stderr));
        assert!(!cli(&app, Some("wrong"), "SELECT 1").status.success());
        assert!(!cli(&app, Some("s3cret"), "DELETE FROM t").status.success());
        let err = server.query(Some("shop"), "SELECT nope FROM t").unwrap_err().to_string();
        assert!(err.contains("Unknown column") && err.contains("mariadb"), "{err}");
        drop(server);
        check_gone(pid, &dir);
    }

    #[test]
    fn postgres_starts_serves_and_is_gone_after_drop() {
        let server = timed_start(Engine::Postgres);
        assert!(server.version().chars().next().unwrap().is_ascii_digit(), "{}", server.version());
        let (pid, dir) = (server.pid().unwrap(), server.dir().to_path_buf());
        server.create_database("hub").unwrap();
        server.create_database("Odd \"name\"").unwrap();
        let ep = server.endpoint("hub");
        assert_eq!(ep.user, "postgres");
        let out = cli(
            &ep,
            None,
            "CREATE TABLE t (id int PRIMARY KEY, s text); INSERT INTO t VALUES (1,'ä'),(2,'b'); SELECT count(*) FROM t",
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).trim().ends_with('2'));
        let version_num = server.query(None, "SHOW server_version_num").unwrap();
        assert!(version_num.starts_with(server.version().split('.').next().unwrap()), "{version_num}");
        assert_eq!(server.query(Some("hub"), "SELECT id, s FROM t ORDER BY id").unwrap(), "1\tä\n2\tb");
        // Trust is only for the superuser's convenience; a password user can connect too.
        server.query(None, "CREATE ROLE app LOGIN PASSWORD 's3cret'").unwrap();
        assert!(cli(&Endpoint { user: "app".into(), ..ep.clone() }, Some("s3cret"), "SELECT 1").status.success());
        let err = server.query(Some("hub"), "SELECT nope FROM t").unwrap_err().to_string();
        assert!(err.contains("nope") && err.contains("psql"), "{err}");
        drop(server);
        check_gone(pid, &dir);
    }

    #[test]
    fn two_servers_at_once_get_different_ports_and_stop_gracefully() {
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| timed_start(Engine::Mariadb));
            let b = s.spawn(|| timed_start(Engine::Mariadb));
            (a.join().unwrap(), b.join().unwrap())
        });
        assert_ne!(a.port(), b.port());
        assert_ne!(a.dir(), b.dir());
        a.create_database("same").unwrap();
        b.create_database("same").unwrap();
        let (pid, dir) = (a.pid().unwrap(), a.dir().to_path_buf());
        let t = Instant::now();
        a.stop().unwrap();
        eprintln!("graceful stop took {:?}", t.elapsed());
        check_gone(pid, &dir);
        assert_eq!(b.query(None, "SELECT 1").unwrap(), "1");
    }

    #[test]
    fn cleanup_kills_registered_servers() {
        let server = timed_start(Engine::Postgres);
        let (pid, dir, id) = (server.pid().unwrap(), server.dir().to_path_buf(), server.id);
        // cleanup_all() would also take the servers of the tests running beside this one.
        cleanup_matching(|e| e.id == id);
        cleanup_matching(|e| e.id == id);
        assert!(!dir.exists());
        assert!(server.query(None, "SELECT 1").is_err());
        drop(server);
        check_gone(pid, &dir);
    }

    #[test]
    fn watchdog_kills_the_group_and_removes_the_dir_when_its_pipe_closes() {
        let dir = std::env::temp_dir().join(format!("tug-watchdog-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/f"), "x").unwrap();
        let mut sleeper = Command::new("sh").args(["-c", "sleep 300 & sleep 300"]).process_group(0).spawn().unwrap();
        let pid = sleeper.id();
        let mut watchdog = Command::new("sh")
            .args(["-c", WATCHDOG, "w"])
            .arg(pid.to_string())
            .arg(&dir)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert!(alive(pid));
        drop(watchdog.stdin.take());
        assert!(sleeper.wait().unwrap().code().is_none(), "group leader not killed");
        assert!(watchdog.wait().unwrap().success());
        assert!(!dir.exists());
    }

    /// Found by the fault runs: a `tug` killed while `mariadb-install-db` ran left the directory (and the init tool)
    /// behind, because the server's watchdog did not exist yet. The guard exists from the directory's creation.
    #[test]
    fn the_guard_kills_what_runs_in_the_directory_and_removes_it_when_its_pipe_closes() {
        let dir = std::env::temp_dir().join(format!("tug-guard-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        // Stands in for the init tool: a process whose command line names the directory.
        let mut init = Command::new("sh").args(["-c", "sleep 300", "init"]).arg(dir.join("data")).spawn().unwrap();
        let mut guard = Command::new("sh")
            .args(["-c", GUARD, "tug-scratch-guard"])
            .env("TUG_SCRATCH_DIR", &dir)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        assert!(alive(init.id()));
        drop(guard.stdin.take());
        assert!(guard.wait().unwrap().success(), "the guard survives its own pkill");
        assert!(init.wait().unwrap().code().is_none(), "the process in the directory was killed");
        assert!(!dir.exists());
    }

    #[test]
    fn a_taken_port_is_retried_on_a_fresh_one() {
        // Something else holds the first port offered (it accepts connections but never answers, like a stuck server).
        let squatter = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let taken = squatter.local_addr().unwrap().port();
        let engine = Engine::Postgres;
        let (tools, run_as) = (Tools::find(engine).unwrap(), RunAs::detect(engine).unwrap());
        let mut server = ScratchServer::new(engine, &tools).unwrap();
        server.init(&tools, &run_as).unwrap();
        let mut offered = vec![];
        server
            .run(&tools, &run_as, &[], &mut || {
                let port = if offered.is_empty() { taken } else { free_port()? };
                offered.push(port);
                Ok(port)
            })
            .unwrap();
        assert_eq!(offered.len(), 2, "{offered:?}");
        assert_eq!(server.port(), offered[1]);
        assert!(read_tail(&server.log_path()).contains("Address already in use"));
        assert_eq!(server.query(None, "SELECT 1").unwrap(), "1");
    }

    #[test]
    fn a_server_that_fails_to_start_reports_its_log() {
        let err = ScratchServer::start_with(Engine::Mariadb, &["--no-such-option=1"]).unwrap_err().to_string();
        assert!(err.contains("mariadbd") && err.contains("no-such-option") && err.contains("exited"), "{err}");
        let log = err.split("end of ").nth(1).and_then(|rest| rest.split(':').next()).unwrap();
        let dir = Path::new(log).parent().unwrap();
        assert!(dir.to_string_lossy().contains("tug-scratch-mariadb-") && !dir.exists(), "{err}");
        assert!(!lock().iter().any(|e| e.dir == dir), "still registered");
    }

    #[test]
    fn version_mismatch_warns_on_downgrades_only() {
        let cases = [
            (
                Engine::Mariadb,
                "11.8.2-MariaDB",
                "10.11.14-MariaDB-0+deb12u2",
                Some("dump from MariaDB 11.8 restored into 10.11: "),
            ),
            (Engine::Mariadb, "10.11.14-MariaDB-0+deb12u2", "10.11.14-MariaDB-0+deb12u2", None),
            (Engine::Mariadb, "10.11.14-MariaDB", "10.11.2-MariaDB", None),
            (Engine::Mariadb, "10.6.18-MariaDB", "10.11.14-MariaDB", None),
            (Engine::Mariadb, "11.4.2-MariaDB-ubu2404-log", "11.8.2-MariaDB", None),
            (Engine::Mariadb, "10.11.9", "10.6.18-MariaDB", Some("dump from MariaDB 10.11 restored into 10.6: ")),
            (Engine::Postgres, "16.4", "15.14", Some("dump from PostgreSQL 16 restored into 15: ")),
            (Engine::Postgres, "15.2", "16.1", None),
            (Engine::Postgres, "15.18 (Debian 15.18-0+deb12u1)", "15.2", None),
            (Engine::Postgres, "9.6.24", "9.5.25", Some("dump from PostgreSQL 9.6 restored into 9.5: ")),
            (Engine::Postgres, "unknown", "15.2", None),
        ];
        for (engine, source, target, want) in cases {
            let got = version_mismatch(engine, source, target);
            match want {
                Some(prefix) => {
                    assert!(got.as_deref().is_some_and(|g| g.starts_with(prefix)), "{source} -> {target}: {got:?}")
                }
                None => assert_eq!(got, None, "{source} -> {target}"),
            }
        }
    }

    #[test]
    fn tail_and_display_helpers() {
        let mut cmd = Command::new("psql");
        cmd.args(["-c", "SELECT 'a b'", ""]);
        assert_eq!(display(&cmd), r#"psql -c 'SELECT '\''a b'\''' ''"#);
        assert_eq!(tail("abcdef", 3), "…def");
        assert_eq!(tail("ab", 3), "ab");
    }
}
