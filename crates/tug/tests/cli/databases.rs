//! `tug parity` and `tug migrate` against real scratch servers (the engine's own scratch-server code).

use tugboat::db::scratch::ScratchServer;
use tugboat::db::Engine;

use crate::util::Fixture;

fn url(server: &ScratchServer, db: &str) -> String {
    let scheme = if server.engine() == Engine::Mariadb { "mysql" } else { "postgres" };
    let user = if server.engine() == Engine::Mariadb { "root" } else { "postgres" };
    format!("{scheme}://{user}@127.0.0.1:{}/{db}", server.port())
}

const APP: &str = "CREATE TABLE docs (id INT PRIMARY KEY, title VARCHAR(50), body TEXT);
INSERT INTO docs SELECT seq, CONCAT('doc ', seq), REPEAT('x', seq % 50) FROM seq_1_to_2000;
CREATE VIEW titles AS SELECT title FROM docs;
CREATE PROCEDURE bump() UPDATE docs SET title = CONCAT(title, '!') WHERE id = 1;";

fn mariadb_with_app() -> ScratchServer {
    let server = ScratchServer::start(Engine::Mariadb).unwrap();
    server.create_database("app").unwrap();
    server.create_database("copy").unwrap();
    server.query(Some("app"), APP).unwrap();
    server
}

#[test]
fn migrate_then_parity_then_tamper() {
    let server = mariadb_with_app();
    let f = Fixture::new();
    f.write(
        "tugboat.yml",
        "stack: dbtest\ndatabases:\n  main: { kind: mariadb, url: \"mysql://root:${DB_PW}@127.0.0.1:PORT/app\" }\n"
            .replace("PORT", &server.port().to_string())
            .as_str(),
    );
    f.write(".env", "DB_PW=\n");
    f.write("compose.yaml", "services:\n  app:\n    image: app:1\n");

    // Dry run: the plan, nothing copied.
    let dry = f.tug().args(["migrate", "main", &url(&server, "copy"), "--dry-run"]).run();
    dry.success()
        .stdout_contains("--single-transaction --routines --triggers --events")
        .stdout_contains("target empty");
    let copy_tables = server.query(Some("copy"), "SHOW TABLES").unwrap();
    assert!(copy_tables.trim().is_empty(), "dry run copied: {copy_tables}");

    let run = f.tug().args(["migrate", "main", &url(&server, "copy")]).run();
    run.success().stdout_contains("equal:").stdout_contains("docs");

    // A second migrate into the filled target is refused (exit 2) until --replace.
    f.tug().args(["migrate", "main", &url(&server, "copy")]).run().failure(2).stderr_contains("--replace");
    f.tug().args(["migrate", "main", &url(&server, "copy"), "--replace", "--json"]).run().success();

    // Tamper with the copy: parity names the rows, exit 1.
    server.query(Some("copy"), "UPDATE docs SET body = 'changed' WHERE id = 77; DELETE FROM docs WHERE id = 1500; INSERT INTO docs VALUES (9999, 'new', '')").unwrap();
    let parity = f.tug().args(["parity", "main", &url(&server, "copy"), "--json"]).run();
    parity.failure(1);
    let report = parity.json();
    let docs = report["tables"].as_array().unwrap().iter().find(|t| t["table"] == "docs").unwrap();
    assert_eq!(docs["changed"]["keys"], serde_json::json!([[77]]));
    assert_eq!(docs["missing"]["keys"], serde_json::json!([[1500]]));
    assert_eq!(docs["extra"]["keys"], serde_json::json!([[9999]]));
    let text = f.tug().args(["parity", "main", &url(&server, "copy")]).run();
    text.failure(1).stdout_contains("changed: [77]").stdout_contains("content differs");

    // The audit log has the migrations (never a password), parity runs are remembered.
    let log = f.tug().args(["audit", "log", "--json"]).run();
    log.success();
    let events = log.json();
    let commands: Vec<&str> = events.as_array().unwrap().iter().map(|e| e["command"].as_str().unwrap()).collect();
    // The refused second migration is recorded too: every path of an acting command leaves one event.
    assert_eq!(commands, ["migrate", "migrate", "migrate", "migrate"]);
    assert_eq!(events[0]["outcome"], "dry_run");
    assert!(events[1]["params"]["parity"].as_str().unwrap().contains("equal"));
    assert!(events[2]["outcome"]["failed"].as_str().unwrap().contains("already holds"), "{}", events[2]);
    f.tug().args(["audit", "verify"]).run().success();
}

#[test]
fn rehearsal_into_scratch() {
    let server = mariadb_with_app();
    let f = Fixture::new();
    let run = f
        .tug()
        .args(["migrate", &url(&server, "app"), "scratch", "--state", &f.join("state.db").display().to_string()])
        .run();
    run.success().stdout_contains("equal:").stdout_contains("rehearsal");
}

#[test]
fn postgres_parity() {
    let server = ScratchServer::start(Engine::Postgres).unwrap();
    for db in ["a", "b"] {
        server.create_database(db).unwrap();
        server.query(Some(db), "CREATE TABLE t (k text PRIMARY KEY, v int); INSERT INTO t SELECT 'k' || g, g FROM generate_series(1, 500) g").unwrap();
    }
    let f = Fixture::new();
    f.tug().args(["parity", &url(&server, "a"), &url(&server, "b")]).run().success().stdout_contains("equal:");
    server.query(Some("b"), "UPDATE t SET v = 0 WHERE k = 'k42'").unwrap();
    f.tug()
        .args(["parity", &url(&server, "a"), &url(&server, "b")])
        .run()
        .failure(1)
        .stdout_contains("changed: [\"k42\"]");
    f.tug().args(["parity", &url(&server, "a"), &url(&server, "b"), "--counts-only"]).run().success();
}

#[test]
fn unreachable_wrong_password_and_missing_tools() {
    let f = Fixture::new();
    let run = f.tug().args(["parity", "mysql://root@127.0.0.1:1/x", "mysql://root@127.0.0.1:1/y"]).run();
    run.failure(3).stderr_contains("Can't connect");

    let server = mariadb_with_app();
    server.query(None, "CREATE USER 'u'@'127.0.0.1' IDENTIFIED BY 'right-pw'").unwrap();
    let bad = format!("mysql://u:wrong-pw-123@127.0.0.1:{}/app", server.port());
    let run = f.tug().args(["parity", &bad, &url(&server, "copy")]).run();
    run.failure(3).stderr_contains("Access denied");
    assert!(!run.stderr().contains("wrong-pw-123") && !run.stdout().contains("wrong-pw-123"));

    let empty = f.join("empty-path");
    std::fs::create_dir_all(&empty).unwrap();
    let run = f.tug().env("PATH", &empty).args(["parity", &url(&server, "app"), &url(&server, "copy")]).run();
    run.failure(3).stderr_contains("apt-get install mariadb-client");

    f.tug().args(["parity", "nosuchdb", &url(&server, "copy")]).run().failure(2);
    f.tug().args(["parity", "ftp://x/y", "mysql://h/db"]).run().failure(2);
}

#[test]
fn a_migration_that_died_marks_its_target_incomplete() {
    let server = mariadb_with_app();
    let f = Fixture::new();
    let state = f.join("state.db");
    let target = url(&server, "copy");
    // Let tug create the state database, then leave a `running` row as a killed migrate would.
    f.tug().args(["audit", "log"]).arg("--state").arg(&state).run().success();
    f.tug().args(["migrate", &url(&server, "app"), &target, "--dry-run", "--state"]).arg(&state).run().success();
    let conn = rusqlite::Connection::open(&state).unwrap();
    let display = format!("mariadb://root@127.0.0.1:{}/copy", server.port());
    conn.execute(
        "INSERT INTO migration_runs (started_ms, source, target, status) VALUES (1, 'x', ?1, 'running')",
        [&display],
    )
    .unwrap();
    let run = f.tug().args(["migrate", &url(&server, "app"), &target, "--state"]).arg(&state).run();
    run.failure(2).stderr_contains("did not finish").stderr_contains("--replace");
    f.tug().args(["migrate", &url(&server, "app"), &target, "--replace", "--state"]).arg(&state).run().success();
    f.tug().args(["migrate", &url(&server, "app"), &target, "--replace", "--state"]).arg(&state).run().success();
}
