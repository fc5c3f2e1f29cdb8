//! Databases inside compose services whose port is not published (seed 000 keeps MariaDB internal):
//! `databases.NAME.container` makes `tug` find the service's container by Compose's labels and run the
//! native client tools inside it with `docker exec -i`, the password passed in the environment.
//!
//! Needs a running Docker Engine — the tests fail, saying so, without one. No image can be pulled on the
//! test machines, so `containers/build-mariadb-image.sh` builds `tugboat-test/mariadb:local` from this
//! host's own MariaDB binaries (about 80 MB, a few seconds; cached by `mariadbd --version`). Each test
//! starts its own container (root over the socket, `--skip-networking`: only `docker exec` reaches it)
//! and a guard removes it with `docker rm -f` when the test ends, passed or failed. Containers left by a
//! killed test run are removed by the next run (they carry the test process's pid).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use tugboat::db::scratch::ScratchServer;
use tugboat::db::Engine;

use crate::util::{which, Fixture, Run, Tug};

const IMAGE: &str = "tugboat-test/mariadb:local";
const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cli/containers");
/// The backup user's password: it must never show in tug's output or on any command line.
const PASSWORD: &str = "Bk-7f2a9c_pw.q41";
const NEED_DOCKER: &str =
    "these tests need a running Docker Engine: install it (apt-get install docker.io) and start it \
     (systemctl start docker), and let this user reach it (`docker info` must work)";
const NEED_COMPOSE: &str = "install docker-compose (apt-get install docker-compose) — scripts/test does this";
const PID_LABEL: &str = "org.tugboat.test.pid";
const HOST_LABEL: &str = "org.tugboat.test.host";

/// The server as the stack's container runs it: socket only, small InnoDB log (as the image was initialised).
const MARIADBD: &[&str] = &[
    "/usr/sbin/mariadbd",
    "--no-defaults",
    "--user=root",
    "--datadir=/var/lib/mysql",
    "--socket=/run/mysqld/mysqld.sock",
    "--skip-networking",
    "--innodb-log-file-size=8M",
];

/// The seed-000 shape: a document-management database with a composite key, a view and a trigger, UTF-8
/// text, and a least-privilege backup user (what a dump needs, nothing more).
fn seed_sql(password: &str) -> String {
    format!(
        "CREATE DATABASE lcbp3 CHARACTER SET utf8mb4;
USE lcbp3;
CREATE TABLE correspondences (id INT PRIMARY KEY, subject VARCHAR(200) NOT NULL, body TEXT, sent DATE);
INSERT INTO correspondences SELECT seq, CONCAT('RFA-', LPAD(seq, 5, '0')), REPEAT('หนังสือ ', seq % 7), DATE '2024-01-01' + INTERVAL (seq % 700) DAY FROM seq_1_to_3000;
CREATE TABLE attachments (correspondence_id INT, n INT, name VARCHAR(100), PRIMARY KEY (correspondence_id, n));
INSERT INTO attachments SELECT seq DIV 3 + 1, seq MOD 3, CONCAT('file-', seq, '.pdf') FROM seq_0_to_1499;
CREATE VIEW recent AS SELECT id, subject FROM correspondences WHERE sent > '2025-06-01';
CREATE TRIGGER trim_subject BEFORE INSERT ON correspondences FOR EACH ROW SET NEW.subject = TRIM(NEW.subject);
CREATE USER 'backup'@'localhost' IDENTIFIED BY '{password}';
GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES ON lcbp3.* TO 'backup'@'localhost';"
    )
}

const TUGBOAT_YML: &str = "databases:
  main: { kind: mariadb, container: mariadb, database: lcbp3, user_env: DB_BACKUP_USER, password_env: DB_BACKUP_PASSWORD }
";

/// The stack as seed 000 has it: MariaDB with no published port.
const COMPOSE: &str = "services:
  mariadb:
    image: mariadb:11.8
    volumes:
      - db:/var/lib/mysql
volumes:
  db:
";

// ---------------------------------------------------------------------------------------------------------
// Docker, the image and the containers.

/// The real docker CLI; fails the test (not skips it) when there is no working engine.
fn docker_exe() -> PathBuf {
    static READY: OnceLock<PathBuf> = OnceLock::new();
    READY
        .get_or_init(|| {
            let exe = which("docker").unwrap_or_else(|| panic!("no `docker` on PATH: {NEED_DOCKER}"));
            let out = Command::new(&exe).args(["info", "--format", "{{.ServerVersion}}"]).output();
            match out {
                Ok(o) if o.status.success() => {}
                Ok(o) => panic!("`docker info` failed: {}\n{NEED_DOCKER}", String::from_utf8_lossy(&o.stderr).trim()),
                Err(e) => panic!("cannot run docker: {e}\n{NEED_DOCKER}"),
            }
            remove_stale_containers(&exe);
            exe
        })
        .clone()
}

/// `docker ARGS`, its output; panics with stderr on failure.
#[track_caller]
fn docker(args: &[&str]) -> String {
    let out = docker_output(args, None);
    assert!(
        out.status.success(),
        "`docker {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn docker_output(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(docker_exe());
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run docker: {e}\n{NEED_DOCKER}"));
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write;
        pipe.write_all(text.as_bytes()).expect("write to docker's stdin");
    }
    child.wait_with_output().expect("wait for docker")
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

/// Removes containers that earlier, killed test runs on this host left behind (their process is gone).
fn remove_stale_containers(docker: &Path) {
    let format = format!("{{{{.ID}}}} {{{{.Label \"{PID_LABEL}\"}}}} {{{{.Label \"{HOST_LABEL}\"}}}}");
    let Ok(out) = Command::new(docker)
        .args(["ps", "-a", "--filter", &format!("label={PID_LABEL}"), "--format", &format])
        .output()
    else {
        return;
    };
    let host = hostname();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if let [id, pid, h] = parts.as_slice() {
            if *h == host && !Path::new("/proc").join(pid).exists() {
                let _ = Command::new(docker).args(["rm", "-f", "-v", id]).output();
            }
        }
    }
}

/// Builds the image once per test process (the script itself skips a build when the image is current).
fn image() -> &'static str {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let docker = docker_exe();
    let built = BUILT.get_or_init(|| {
        let started = std::time::Instant::now();
        let out = Command::new("sh")
            .arg(Path::new(SCRIPTS).join("build-mariadb-image.sh"))
            .arg(IMAGE)
            .env("PATH", path_with(docker.parent().expect("docker's directory")))
            .output()
            .map_err(|e| format!("cannot run build-mariadb-image.sh: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "build-mariadb-image.sh failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        eprintln!("{IMAGE} ready in {:.1}s", started.elapsed().as_secs_f64());
        Ok(())
    });
    if let Err(e) = built {
        panic!("{e}");
    }
    IMAGE
}

/// PATH with `dir` first.
fn path_with(dir: &Path) -> std::ffi::OsString {
    let mut dirs = vec![dir.to_path_buf()];
    dirs.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    std::env::join_paths(dirs).expect("PATH")
}

/// A running MariaDB container labelled as compose service `mariadb` of a project; removed on drop.
struct Container {
    name: String,
    id: String,
    /// Removed on drop (not when Compose started it: `docker-compose down` does that).
    owned: bool,
}

impl Container {
    /// Starts a container of `project`'s `mariadb` service (no published port) and waits until it answers.
    fn start(project: &str) -> Container {
        static N: AtomicUsize = AtomicUsize::new(0);
        let image = image();
        let name = format!("tug-test-mariadb-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        // The guard exists before the container does: whatever fails from here on, it is removed.
        let mut c = Container { name, id: String::new(), owned: true };
        let (project, pid, host) = (
            format!("com.docker.compose.project={project}"),
            format!("{PID_LABEL}={}", std::process::id()),
            format!("{HOST_LABEL}={}", hostname()),
        );
        let mut args = vec!["run", "-d", "--name", &c.name, "--label", "com.docker.compose.service=mariadb"];
        args.extend(["--label", &project, "--label", &pid, "--label", &host, image]);
        args.extend(MARIADBD);
        c.id = docker(&args).trim().to_string();
        c.wait_ready();
        c
    }

    fn wait_ready(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let out = docker_output(&["exec", &self.name, "mariadb", "-uroot", "-e", "SELECT 1"], None);
            if out.status.success() {
                return;
            }
            let running = docker(&["inspect", "-f", "{{.State.Running}}", &self.name]);
            if running.trim() != "true" || std::time::Instant::now() > deadline {
                let logs = docker_output(&["logs", "--tail", "30", &self.name], None);
                panic!(
                    "MariaDB in container {} did not come up: {}\n{}",
                    self.name,
                    String::from_utf8_lossy(&out.stderr).trim(),
                    String::from_utf8_lossy(&logs.stderr)
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }

    /// The short id `docker ps` prints (what tug names the container by).
    fn short_id(&self) -> &str {
        &self.id[..12]
    }

    /// Runs SQL as root inside the container; the result rows, tab-separated.
    #[track_caller]
    fn sql(&self, database: Option<&str>, sql: &str) -> String {
        let mut args = vec!["exec", "-i", &self.name, "mariadb", "-uroot", "--batch", "--skip-column-names"];
        args.push("--default-character-set=utf8mb4");
        args.extend(database);
        let out = docker_output(&args, Some(sql));
        assert!(out.status.success(), "SQL in {} failed: {}\n{sql}", self.name, String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `CHECKSUM TABLE` of every table of lcbp3, plus its objects: what "the source is unchanged" means.
    fn fingerprint(&self) -> String {
        let tables = self.sql(Some("lcbp3"), "CHECKSUM TABLE correspondences, attachments EXTENDED");
        let objects = self.sql(
            None,
            "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = 'lcbp3' \
             UNION ALL SELECT trigger_name, 'trigger' FROM information_schema.triggers WHERE trigger_schema = 'lcbp3' \
             UNION ALL SELECT routine_name, routine_type FROM information_schema.routines WHERE routine_schema = 'lcbp3' ORDER BY 1",
        );
        format!("{tables}{objects}")
    }

    fn stop(&self) {
        docker(&["stop", "-t", "10", &self.name]);
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        // By name: also covers a `docker run` that failed after creating the container.
        let _ = Command::new(docker_exe()).args(["rm", "-f", "-v", &self.name]).output();
    }
}

// ---------------------------------------------------------------------------------------------------------
// The stack and tug.

/// A stack directory with tugboat.yml (`main` is the `mariadb` service's lcbp3 database, reached as the
/// backup user), the compose file and a .env holding the backup user's credentials.
fn stack(password: &str) -> Fixture {
    let f = Fixture::new();
    f.write("tugboat.yml", TUGBOAT_YML);
    f.write("compose.yaml", COMPOSE);
    f.write(".env", &format!("DB_BACKUP_USER=backup\nDB_BACKUP_PASSWORD={password}\n"));
    f
}

/// The compose project name of a stack directory, as Compose derives it (the directory's name, lowercased).
fn project_of(f: &Fixture) -> String {
    f.path().canonicalize().unwrap().file_name().unwrap().to_string_lossy().to_lowercase()
}

/// A seeded MariaDB container for the stack `f`.
fn seeded(f: &Fixture) -> Container {
    let c = Container::start(&project_of(f));
    c.sql(None, &seed_sql(PASSWORD));
    c
}

/// tug in the stack directory, reaching the same Docker Engine as the tests do.
fn tug(f: &Fixture) -> Tug {
    let mut t = f.tug();
    for var in ["DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY"] {
        if let Some(v) = std::env::var_os(var) {
            t = t.env(var, v);
        }
    }
    if std::env::var_os("DOCKER_CONFIG").is_none() {
        if let Some(home) = std::env::var_os("HOME") {
            let config = Path::new(&home).join(".docker");
            if config.is_dir() {
                t = t.env("DOCKER_CONFIG", config);
            }
        }
    }
    t
}

/// The password shows nowhere in what tug printed.
#[track_caller]
fn no_password(run: &Run) {
    assert!(
        !run.stdout().contains(PASSWORD) && !run.stderr().contains(PASSWORD),
        "`{}` printed the password\n{}",
        run.line,
        run.describe()
    );
}

fn url(server: &ScratchServer, db: &str) -> String {
    format!("mysql://root@127.0.0.1:{}/{db}", server.port())
}

fn scratch_with(databases: &[&str]) -> ScratchServer {
    let server = ScratchServer::start(Engine::Mariadb).expect("scratch MariaDB (apt-get install mariadb-server)");
    for db in databases {
        server.create_database(db).unwrap();
    }
    server
}

fn table<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["tables"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["table"] == name))
        .unwrap_or_else(|| panic!("no table {name} in the report:\n{report:#}"))
}

// ---------------------------------------------------------------------------------------------------------
// The tests.

/// The seed-000 path end to end: plan, rehearse into a scratch server, migrate into a real target, prove
/// parity, find tampered rows — every step through `docker exec`, the source untouched, no password shown.
#[test]
fn migrate_and_parity_through_docker_exec() {
    let f = stack(PASSWORD);
    let c = seeded(&f);
    let before = c.fingerprint();
    let server = scratch_with(&["copy"]);
    let copy = url(&server, "copy");

    // The plan: dump and restore command lines, the container and the server version, no password.
    let dry = tug(&f).args(["--json", "migrate", "main", &copy, "--dry-run"]).run();
    dry.success();
    no_password(&dry);
    let plan = &dry.json()["plan"];
    let dump = plan["dump_command"].as_str().unwrap();
    let exec = format!(" exec -i -e MYSQL_PWD {} mariadb-dump --user=backup --single-transaction", c.short_id());
    assert!(dump.contains(&exec), "dump command {dump:?} lacks {exec:?}");
    assert!(dump.ends_with(" lcbp3"), "{dump}");
    assert!(!dump.contains(PASSWORD) && !plan["restore_command"].as_str().unwrap().contains(PASSWORD), "{plan:#}");
    assert_eq!(plan["source"], format!("mariadb in container {} (database lcbp3, user backup)", c.short_id()));
    assert!(plan["source_version"].as_str().is_some_and(|v| v.contains("MariaDB")), "{plan:#}");
    assert_eq!(plan["source_version"], plan["target_version"], "same binaries on both sides");
    assert_eq!(plan["target_tables"], 0);

    // A rehearsal into a throwaway server.
    let rehearsal = tug(&f).args(["migrate", "main", "scratch"]).run();
    rehearsal.success().stdout_contains("equal:").stdout_contains("rehearsal");
    no_password(&rehearsal);

    // The real copy, then parity both ways.
    let run = tug(&f).args(["migrate", "main", &copy]).run();
    run.success().stdout_contains("equal:").stdout_contains("correspondences").stdout_contains("attachments");
    no_password(&run);
    let parity = tug(&f).args(["--json", "parity", "main", &copy]).run();
    parity.success();
    no_password(&parity);
    let report = parity.json();
    assert_eq!(report["equal"], true, "{report:#}");
    assert_eq!(table(&report, "correspondences")["source_rows"], 3000);
    assert_eq!(table(&report, "attachments")["target_rows"], 1500);
    assert_eq!(report["objects_only_in_target"], serde_json::json!([]), "the view and trigger were copied");
    tug(&f).args(["parity", &copy, "main"]).run().success();

    // Tamper with the copy: parity names the keys, exit 1.
    server
        .query(
            Some("copy"),
            "UPDATE correspondences SET body = 'changed' WHERE id = 77; DELETE FROM correspondences WHERE id = 2500; \
             INSERT INTO correspondences VALUES (9001, 'RFA-new', NULL, NULL); UPDATE attachments SET name = 'x.pdf' WHERE correspondence_id = 10 AND n = 2",
        )
        .unwrap();
    let parity = tug(&f).args(["--json", "parity", "main", &copy]).run();
    parity.failure(1);
    no_password(&parity);
    let report = parity.json();
    let docs = table(&report, "correspondences");
    assert_eq!(docs["changed"]["keys"], serde_json::json!([[77]]), "{docs:#}");
    assert_eq!(docs["missing"]["keys"], serde_json::json!([[2500]]), "{docs:#}");
    assert_eq!(docs["extra"]["keys"], serde_json::json!([[9001]]), "{docs:#}");
    assert_eq!(table(&report, "attachments")["changed"]["keys"], serde_json::json!([[10, 2]]));
    tug(&f).args(["parity", "main", &copy]).run().failure(1).stdout_contains("changed: [77]");

    assert_eq!(c.fingerprint(), before, "the source changed");
}

/// No command line tug starts carries the password — `docker exec -e MYSQL_PWD` passes it from docker's
/// environment — for sessions (parity), dumps and restores (migrate). A stand-in `docker` logs them all.
#[test]
fn the_password_is_on_no_command_line() {
    let f = stack(PASSWORD);
    let c = seeded(&f);
    let server = scratch_with(&["copy"]);
    let bin = f.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let shim = Path::new(SCRIPTS).join("docker-shim.sh");
    std::fs::write(bin.join("docker"), format!("#!/bin/sh\nexec sh '{}' \"$@\"\n", shim.display())).unwrap();
    std::fs::set_permissions(bin.join("docker"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let log = f.join("docker.log");
    let shimmed = |t: Tug| {
        t.env("PATH", path_with(&bin)).env("TUG_TEST_DOCKER_LOG", &log).env("TUG_TEST_REAL_DOCKER", docker_exe())
    };

    shimmed(tug(&f)).args(["migrate", "main", &url(&server, "copy")]).run().success();
    shimmed(tug(&f)).args(["parity", "main", "main"]).run().success();

    let log = std::fs::read_to_string(&log).expect("tug ran no docker command");
    assert!(!log.contains(PASSWORD), "a docker command line holds the password:\n{log}");
    let id = c.short_id();
    let session = format!("MYSQL_PWD=set argv: exec -i -e MYSQL_PWD {id} mariadb --user=backup --batch");
    let dump = format!("MYSQL_PWD=set argv: exec -i -e MYSQL_PWD {id} mariadb-dump --user=backup --single-transaction");
    for needle in [session.as_str(), dump.as_str(), "argv: ps --format"] {
        assert!(log.lines().any(|l| l.starts_with(needle) || l.contains(needle)), "no {needle:?} in:\n{log}");
    }
    // Every exec into the container had the password in its environment (none logged in without it).
    assert!(log.lines().filter(|l| l.contains(" exec ")).all(|l| l.starts_with("MYSQL_PWD=set ")), "{log}");
}

/// Compose itself labels the containers: tug finds the one `docker-compose up -d` started for this
/// directory's project, even with the same service running in another project.
#[test]
fn finds_the_container_that_compose_started() {
    let other = Container::start("some-other-project");
    let f = stack(PASSWORD);
    let compose = format!(
        "services:\n  mariadb:\n    image: {}\n    network_mode: none\n    command: {:?}\n    labels:\n      {PID_LABEL}: \"{}\"\n      {HOST_LABEL}: \"{}\"\n",
        image(),
        MARIADBD,
        std::process::id(),
        hostname()
    );
    f.write("compose.yaml", &compose);
    let up = compose_cmd(&f, &["up", "-d"]);
    let _down = Down(&f);
    assert!(up.status.success(), "docker-compose up failed:\n{}", String::from_utf8_lossy(&up.stderr));
    let id = docker(&[
        "ps",
        "-q",
        "--no-trunc",
        "--filter",
        &format!("label=com.docker.compose.project={}", project_of(&f)),
    ]);
    let id = id.trim().to_string();
    assert_eq!(id.lines().count(), 1, "compose started {id:?}");
    let c = Container { name: id.clone(), id, owned: false };
    c.wait_ready();
    c.sql(None, &seed_sql(PASSWORD));

    let dry = tug(&f).args(["--json", "parity", "main", "main"]).run();
    dry.success();
    let source = dry.json()["source"].as_str().unwrap().to_string();
    assert!(source.contains(c.short_id()), "tug picked {source:?}, not this project's {}", c.short_id());
    assert!(!source.contains(other.short_id()), "tug picked the other project's container");
    tug(&f).args(["parity", "main", "main"]).run().success().stdout_contains("equal:");
}

/// `docker-compose` (v1) or `docker compose` (v2) in the stack directory.
fn compose_cmd(f: &Fixture, args: &[&str]) -> Output {
    let mut cmd = match which("docker-compose") {
        Some(exe) => Command::new(exe),
        None => {
            let mut c = Command::new(docker_exe());
            c.arg("compose");
            c
        }
    };
    let out = cmd
        .args(["-f", "compose.yaml"])
        .args(args)
        .current_dir(f.path())
        .output()
        .unwrap_or_else(|e| panic!("{NEED_COMPOSE}: {e}"));
    if !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("is not a docker command") {
        panic!("{NEED_COMPOSE}");
    }
    out
}

/// Runs `docker-compose down` when dropped.
struct Down<'a>(&'a Fixture);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = compose_cmd(self.0, &["down", "-v", "-t", "1"]);
    }
}

/// `COMPOSE_PROJECT_NAME` in .env names the project, as it does for Compose: tug looks for that project's
/// container, not one of another project that has the same service.
#[test]
fn compose_project_name_from_dotenv() {
    let f = stack(PASSWORD);
    f.write(
        ".env",
        &format!("COMPOSE_PROJECT_NAME=lcbp3-prod\nDB_BACKUP_USER=backup\nDB_BACKUP_PASSWORD={PASSWORD}\n"),
    );
    let other = Container::start("some-other-project");
    let c = Container::start("lcbp3-prod");
    let newer = Container::start("yet-another-project"); // `docker ps` lists the newest first
    c.sql(None, &seed_sql(PASSWORD));
    let dry = tug(&f).args(["--json", "parity", "main", "main"]).run();
    dry.success();
    let source = dry.json()["source"].as_str().unwrap().to_string();
    assert!(source.contains(c.short_id()), "tug picked {source:?}; this project's container is {}", c.short_id());
    drop((other, newer));
}

/// Failures through `docker exec`: a wrong password (Access denied, exit 3, never shown), a missing
/// variable (exit 2), and a stopped container — exit 3 naming the service, even when another project's
/// `mariadb` service is running (tug must not fall back to that one: its database is not this stack's).
#[test]
fn stopped_container_wrong_password_missing_variable() {
    let f = stack("Wrong-pw-9c1e");
    let c = seeded(&f);
    let other = Container::start("some-other-project");

    let run = tug(&f).args(["parity", "main", "main"]).run();
    run.failure(3).stderr_contains("Access denied for user 'backup'@'localhost'");
    assert!(!run.stderr().contains("Wrong-pw-9c1e") && !run.stdout().contains("Wrong-pw-9c1e"), "{}", run.describe());

    f.write(".env", "DB_BACKUP_USER=backup\n");
    tug(&f).args(["parity", "main", "main"]).run().failure(2).stderr_contains("DB_BACKUP_PASSWORD is not set");

    f.write(".env", &format!("DB_BACKUP_USER=backup\nDB_BACKUP_PASSWORD={PASSWORD}\n"));
    tug(&f).args(["parity", "main", "main"]).run().success();
    c.stop();
    let run = tug(&f).args(["parity", "main", "mysql://root@127.0.0.1:1/x"]).run();
    run.failure(3)
        .stderr_contains("no running container for compose service `mariadb`")
        .stderr_contains(&format!("in compose project `{}`", project_of(&f)))
        .stderr_contains("it runs only in other projects: some-other-project");
    let run = tug(&f).args(["migrate", "main", "scratch"]).run();
    run.failure(3).stderr_contains("no running container for compose service `mariadb`");
    drop(other);
}

/// Migrating a database onto itself with --replace would drop the source's tables before dumping it:
/// tug must refuse (exit 2) and leave the source as it was.
#[test]
fn migrate_onto_itself_is_refused() {
    let f = stack(PASSWORD);
    let c = seeded(&f);
    c.sql(None, "GRANT ALL ON lcbp3.* TO 'backup'@'localhost'");
    let before = c.fingerprint();
    let run = tug(&f).args(["migrate", "main", "main", "--replace"]).run();
    assert_eq!(c.fingerprint(), before, "the source changed\n{}", run.describe());
    run.failure(2);
}

const PROCEDURE: &str =
    "CREATE PROCEDURE close_rfa(IN rid INT) UPDATE correspondences SET subject = CONCAT(subject, ' [closed]') WHERE id = rid";

/// Routines of the source, as root sees them in `database` of a server.
fn routines(server: &ScratchServer, database: &str) -> String {
    server
        .query(
            None,
            &format!("SELECT routine_name FROM information_schema.routines WHERE routine_schema = '{database}'"),
        )
        .unwrap()
}

/// With a dump user allowed to read routines (SELECT on mysql.proc in 10.x), the procedure, the view and
/// the trigger all reach the copy through `docker exec`, and parity (objects included) says equal.
#[test]
fn routines_views_and_triggers_round_trip() {
    let f = stack(PASSWORD);
    let c = seeded(&f);
    c.sql(Some("lcbp3"), PROCEDURE);
    c.sql(None, "GRANT SELECT ON mysql.proc TO 'backup'@'localhost'");
    let server = scratch_with(&["copy"]);
    let run = tug(&f).args(["--json", "migrate", "main", &url(&server, "copy")]).run();
    run.success();
    no_password(&run);
    assert_eq!(routines(&server, "copy").trim(), "close_rfa");
    let objects = server
        .query(Some("copy"), "SELECT COUNT(*) FROM information_schema.triggers WHERE trigger_schema = 'copy' UNION ALL SELECT COUNT(*) FROM information_schema.views WHERE table_schema = 'copy'")
        .unwrap();
    assert_eq!(objects.trim(), "1\n1", "the trigger and the view");
    let report = &run.json()["parity"];
    assert_eq!(report["equal"], true, "{report:#}");
    assert_eq!(report["objects_only_in_source"], serde_json::json!([]), "{report:#}");
}

/// The seed-000 backup user (SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES) cannot read stored routines
/// (MariaDB 10.x needs SELECT on mysql.proc, 11.3+ SHOW CREATE ROUTINE): its dump leaves them out, and
/// parity, run as the same user, cannot see them either. tug must say so (fail, or warn naming the
/// routine or the missing privilege), not report the copy as equal.
#[test]
fn routines_the_backup_user_cannot_read_are_not_lost_silently() {
    let f = stack(PASSWORD);
    let c = seeded(&f);
    c.sql(Some("lcbp3"), PROCEDURE);
    let server = scratch_with(&["copy"]);
    let run = tug(&f).args(["migrate", "main", &url(&server, "copy")]).run();
    let copied = routines(&server, "copy").contains("close_rfa");
    let said = ["close_rfa", "mysql.proc", "SHOW CREATE ROUTINE"]
        .iter()
        .any(|w| run.stdout().contains(w) || run.stderr().contains(w));
    assert!(
        copied || run.code() != 0 || said,
        "the copy lacks procedure close_rfa, yet migrate succeeded without a word about it\n{}",
        run.describe()
    );
}
