//! The audit guarantee of the operations layer, end to end: `tug migrate` (and `tug smoke`) driven to each
//! way it can end — success, dry run, a failure at every stage, a problem found, Ctrl-C — leave exactly one
//! audit event with the right outcome, and the chain verifies. (Backup, restore and drill: `operations_backup`.)

use std::time::Duration;

use serde_json::Value;
use tugboat::db::scratch::ScratchServer;
use tugboat::db::Engine;

use crate::util::{audit_events, one_audit_event, wait_for, Fixture};

fn url(server: &ScratchServer, user: &str, db: &str) -> String {
    format!("mysql://{user}@127.0.0.1:{}/{db}", server.port())
}

/// A MariaDB server with `app` (two tables) and an empty `copy`.
fn server() -> ScratchServer {
    let server = ScratchServer::start(Engine::Mariadb).unwrap();
    server.create_database("app").unwrap();
    server.create_database("copy").unwrap();
    server
        .query(
            Some("app"),
            "CREATE TABLE docs (id INT PRIMARY KEY, body TEXT); INSERT INTO docs SELECT seq, CONCAT('doc ', seq) FROM seq_1_to_500;
             CREATE TABLE tags (id INT PRIMARY KEY, name TEXT); INSERT INTO tags VALUES (1, 'a'), (2, 'b');",
        )
        .unwrap();
    server
}

struct Audited {
    f: Fixture,
}

impl Audited {
    fn new() -> Audited {
        Audited { f: Fixture::new() }
    }

    fn state(&self) -> String {
        self.f.join("state.db").display().to_string()
    }

    fn tug(&self) -> crate::util::Tug {
        self.f.tug().args(["--state", &self.state()])
    }

    fn events(&self) -> Vec<Value> {
        audit_events(|| self.tug())
    }

    /// Runs a migration, expects `code`, and returns the one event it added.
    fn one_event(&self, args: &[&str], env: &[(&str, &str)], code: i32) -> (Value, String) {
        one_audit_event(|| self.tug(), "migrate", args, env, code)
    }
}

use crate::util::failed_reason as failed;

#[test]
fn migrate_leaves_one_event_on_every_path() {
    let server = server();
    let a = Audited::new();
    let (app, copy) = (url(&server, "root", "app"), url(&server, "root", "copy"));

    // Unreachable: planning fails, exit 3.
    let (e, _) = a.one_event(&["migrate", "mysql://root@127.0.0.1:1/x", &copy], &[], 3);
    assert!(failed(&e).contains("Can't connect"), "{e}");
    assert_eq!(e["command"], "migrate");

    // The client tools missing: exit 3, what to install.
    let empty = a.f.join("empty-path");
    std::fs::create_dir_all(&empty).unwrap();
    let (e, stderr) = a.one_event(&["migrate", &app, &copy], &[("PATH", empty.to_str().unwrap())], 3);
    assert!(failed(&e).contains("not installed"), "{e}");
    assert!(stderr.contains("apt-get install mariadb-client"), "{stderr}");

    // Dry run: the plan, nothing copied.
    let (e, _) = a.one_event(&["migrate", &app, &copy, "--dry-run"], &[], 0);
    assert_eq!(e["outcome"], "dry_run");
    assert!(e["params"]["dump_command"].as_str().unwrap().contains("mariadb-dump"), "{e}");
    assert!(server.query(Some("copy"), "SHOW TABLES").unwrap().trim().is_empty());

    // The copy, then a refused second one into the now full target: exit 2 and the flag to allow it.
    let (e, _) = a.one_event(&["migrate", &app, &copy], &[], 0);
    assert_eq!(e["outcome"], "ok");
    assert_eq!(e["params"]["parity"], "2 tables equal");
    let (e, stderr) = a.one_event(&["migrate", &app, &copy], &[], 2);
    assert!(failed(&e).contains("already holds 2 tables"), "{e}");
    assert!(stderr.contains("hint: pass --replace"), "{stderr}");

    // A failing restore (a target user who may not create tables): exit 3; the source is untouched.
    server.create_database("locked").unwrap();
    server.query(None, "CREATE USER 'reader'@'127.0.0.1'; GRANT SELECT ON locked.* TO 'reader'@'127.0.0.1'").unwrap();
    let (e, stderr) = a.one_event(&["migrate", &app, &url(&server, "reader", "locked")], &[], 3);
    assert!(failed(&e).contains("the restore failed"), "{e}");
    assert!(stderr.contains("the source was only read and is unchanged"), "{stderr}");
    assert_eq!(server.query(Some("app"), "SELECT COUNT(*) FROM docs").unwrap().trim(), "500");
}

#[test]
fn migrate_with_a_parity_failure_after_the_copy_is_recorded_as_failed() {
    let server = server();
    server
        .query(Some("app"), "CREATE TABLE codes (id INT PRIMARY KEY, code CHAR(8)); INSERT INTO codes VALUES (1, 'a')")
        .unwrap();
    // A target server that reads CHAR columns padded to their full length: the copy is byte-exact, but what
    // the target serves differs, and parity must say so after the copy.
    let padded = ScratchServer::start_with(Engine::Mariadb, &["--sql-mode=PAD_CHAR_TO_FULL_LENGTH"]).unwrap();
    padded.create_database("copy").unwrap();
    let a = Audited::new();
    let (e, _) = a.one_event(&["migrate", &url(&server, "root", "app"), &url(&padded, "root", "copy")], &[], 1);
    assert!(failed(&e).starts_with("parity: "), "{e}");
    assert!(e["params"]["bytes"].as_u64().is_some_and(|b| b > 0), "the copy happened: {e}");
    assert_eq!(padded.query(Some("copy"), "SELECT COUNT(*) FROM docs").unwrap().trim(), "500");
}

#[test]
fn ctrl_c_mid_migration_is_recorded_as_interrupted() {
    let server = ScratchServer::start(Engine::Mariadb).unwrap();
    server.create_database("big").unwrap();
    server.create_database("copy").unwrap();
    // Large enough that the copy is still running when the signal comes (about 100 MB of dump).
    server
        .query(
            Some("big"),
            "CREATE TABLE t (id INT PRIMARY KEY, body TEXT);
             INSERT INTO t SELECT seq, REPEAT(MD5(seq), 20) FROM seq_1_to_150000;",
        )
        .unwrap();
    let a = Audited::new();
    let child = a.tug().args(["migrate", &url(&server, "root", "big"), &url(&server, "root", "copy")]).spawn();
    wait_for("mariadb-dump to start", Duration::from_secs(120), || {
        child.has_child(&["mariadb-dump", "--single-transaction"])
    });
    child.signal("INT");
    let (code, stderr) = child.wait();
    assert_eq!(code, Some(130), "{stderr}");
    let events = a.events();
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["outcome"], "interrupted");
    a.tug().args(["audit", "verify"]).run().success();
    // The unfinished copy marks the target incomplete: the next migrate refuses it without --replace.
    let run = a.tug().args(["migrate", &url(&server, "root", "big"), &url(&server, "root", "copy")]).run();
    run.failure(2).stderr_contains("hint: pass --replace");
}

#[test]
fn smoke_dry_run_prints_the_checks_and_is_audited() {
    let a = Audited::new();
    a.f.write("compose.yaml", "services:\n  app:\n    image: app:1\n");
    a.f.write(
        "tugboat.yml",
        "stack: s\nchecks:\n  smoke:\n    - { name: home, http: \"http://127.0.0.1:1/\", expect: [\"[STATUS] == 200\"] }\n",
    );
    let before = a.events().len();
    let run = a.tug().args(["smoke", "--dry-run", "--dir", a.f.path().to_str().unwrap()]).run();
    run.success().stdout_contains("suite smoke: 1 checks").stdout_contains("home");
    let json = a.tug().args(["smoke", "--dry-run", "--json", "--dir", a.f.path().to_str().unwrap()]).run();
    assert_eq!(json.json()["plan"]["checks"][0]["name"], "home");
    let events = a.events();
    assert_eq!(events.len(), before + 2);
    assert!(events.iter().all(|e| e["outcome"] == "dry_run" && e["command"] == "smoke"), "{events:#?}");
}
