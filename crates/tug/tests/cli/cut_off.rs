//! Cut off: the database server killed while tug reads or writes it — mid-dump, mid-parity, mid-restore. Each
//! command ends with a clear error naming what failed, and nothing is reported equal, backed up or restored.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use tugboat::db::scratch::ScratchServer;
use tugboat::db::Engine;

use crate::backups::{snapshots, REPO_PW};
use crate::util::{wait_for, Fixture};

/// A database large enough that dumping, comparing and restoring it takes a while (about 60 MB).
pub(crate) fn big_server() -> ScratchServer {
    let server = ScratchServer::start(Engine::Mariadb).unwrap();
    server.create_database("shop").unwrap();
    server
        .query(
            Some("shop"),
            "CREATE TABLE t (id INT PRIMARY KEY, body TEXT);
             INSERT INTO t SELECT seq, REPEAT(MD5(seq), 12) FROM seq_1_to_150000;",
        )
        .unwrap();
    server
}

fn stack(server: &ScratchServer, other: Option<&ScratchServer>) -> Fixture {
    let f = Fixture::new();
    let other = other
        .map(|o| format!("  new: {{ kind: mariadb, url: \"mysql://root@127.0.0.1:{}/shop\" }}\n", o.port()))
        .unwrap_or_default();
    f.write(
        "tugboat.yml",
        &format!(
            "stack: shop\ndatabases:\n  main: {{ kind: mariadb, url: \"mysql://root@127.0.0.1:{}/shop\" }}\n{other}\
             backup:\n  repository: ./repo\n  password_env: REPO_PW\n  sources: [ {{ database: main }} ]\n",
            server.port()
        ),
    );
    f.write("compose.yaml", "services:\n  app:\n    image: shop:1.0\n");
    f.write(".env", &format!("REPO_PW={REPO_PW}\n"));
    f
}

/// A session on a [`big_server`] holding a write lock on its table `t` until dropped. tug's reads of `t` then wait
/// on the server, so a fault injected once [`TableLock::wait_for_a_blocked_reader`] returns lands mid-statement
/// however fast the machine is (a comparison that finished before the fault would have nothing left to fail).
pub(crate) struct TableLock {
    client: Child,
    _stdin: ChildStdin,
}

impl TableLock {
    pub(crate) fn hold(server: &ScratchServer) -> TableLock {
        let socket = server.dir().join("mysqld.sock");
        let mut client = Command::new("mariadb")
            // Unbuffered: the client flushes each answer, so "locked" arrives while it holds the lock.
            .args([&format!("--socket={}", socket.display()), "--user=root", "--batch", "--unbuffered", "shop"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the mariadb client (apt-get install mariadb-client)");
        let mut stdin = client.stdin.take().unwrap();
        stdin.write_all(b"LOCK TABLES t WRITE;\nSELECT 'locked';\n").unwrap();
        stdin.flush().unwrap();
        let mut lines = BufReader::new(client.stdout.take().unwrap()).lines();
        assert!(lines.any(|l| l.is_ok_and(|l| l == "locked")), "the lock session took its lock");
        TableLock { client, _stdin: stdin }
    }

    /// Waits until a session on `server` waits for this lock.
    pub(crate) fn wait_for_a_blocked_reader(&self, server: &ScratchServer) {
        let blocked =
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE STATE = 'Waiting for table metadata lock'";
        wait_for("tug's read to wait for the locked table", Duration::from_secs(120), || {
            server.query(None, blocked).is_ok_and(|n| n != "0")
        });
    }
}

impl Drop for TableLock {
    fn drop(&mut self) {
        let _ = self.client.kill();
        let _ = self.client.wait();
    }
}

/// Kills the server's process (SIGKILL: a crash, not a shutdown).
fn crash(server: &ScratchServer) {
    let pid = server.pid().expect("the scratch server runs");
    let status = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap();
    assert!(status.success());
}

#[test]
fn the_database_crashing_mid_dump_keeps_no_snapshot_and_says_why() {
    let server = big_server();
    let f = stack(&server, None);
    f.tug().args(["backup", "init"]).run().success();
    let child = f.tug().arg("backup").spawn();
    wait_for("the dump to start", Duration::from_secs(120), || {
        child.has_child(&["mariadb-dump", "--single-transaction"])
    });
    crash(&server);
    let out = child.child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "a failed source: {stdout}");
    assert!(stdout.contains("mariadb-dump") && stdout.contains("failed"), "the failing command is named: {stdout}");
    assert!(snapshots(&f).is_empty(), "no snapshot of a cut dump");
    f.tug().args(["backup", "check", "--read-data"]).run().success();
    f.tug().args(["audit", "verify"]).run().success();
}

#[test]
fn the_database_crashing_mid_parity_reports_nothing_equal() {
    let source = big_server();
    let target = big_server();
    let f = stack(&source, Some(&target));
    let lock = TableLock::hold(&target);
    let child = f.tug().args(["parity", "main", "new", "--json"]).spawn();
    lock.wait_for_a_blocked_reader(&target);
    crash(&target);
    let out = child.child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "could not compare: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(!stdout.contains("\"equal\": true"), "nothing is reported equal: {stdout}");
    // A comparison that could not finish records nothing (no state database at all here) for gates to trust.
    if f.join(".tugboat/state.db").exists() {
        let db = rusqlite::Connection::open(f.join(".tugboat/state.db")).unwrap();
        let equal: i64 = db.query_row("SELECT COUNT(*) FROM parity_runs WHERE equal = 1", [], |r| r.get(0)).unwrap();
        assert_eq!(equal, 0, "no equal parity is recorded for gates to trust");
    }
}

#[test]
fn the_target_crashing_mid_restore_fails_and_a_migration_stays_marked_incomplete() {
    let source = big_server();
    let target = ScratchServer::start(Engine::Mariadb).unwrap();
    target.create_database("shop").unwrap();
    let f = stack(&source, Some(&target));
    let child = f.tug().args(["migrate", "main", "new"]).spawn();
    // The copy is under way once the dump reads the source (the restore client into the target follows at once).
    wait_for("the copy to start", Duration::from_secs(120), || {
        child.has_child(&["mariadb-dump", "--single-transaction"])
    });
    crash(&target);
    let out = child.child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // However far it got when the target died, tug could not act, and says what failed with the client's error.
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("error:"), "what failed, with its stderr: {stderr}");
    let db = rusqlite::Connection::open(f.join(".tugboat/state.db")).unwrap();
    let status: Option<String> =
        db.query_row("SELECT status FROM migration_runs ORDER BY id DESC LIMIT 1", [], |r| r.get(0)).ok();
    assert_ne!(status.as_deref(), Some("ok"), "a cut migration is never recorded as done");
    f.tug().args(["audit", "verify"]).run().success();
}
