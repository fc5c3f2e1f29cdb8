//! Migrations between real scratch servers: routines, triggers and views round-trip with parity equal;
//! a non-empty target is refused; a failed restore names its statement and never touches the source.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::db::scratch::ScratchServer;
use crate::parity::{compare, ParityOptions};

fn run(server: &ScratchServer, db: &str, sql: &str) {
    let mut s = Session::connect(&server.endpoint(db)).unwrap();
    for stmt in sql.split(";;\n").map(str::trim).filter(|s| !s.is_empty()) {
        s.execute(stmt).unwrap_or_else(|e| panic!("{stmt}: {e}"));
    }
}

const MARIADB_APP: &str = "
CREATE TABLE docs (id INT PRIMARY KEY AUTO_INCREMENT, title VARCHAR(100) NOT NULL, body MEDIUMTEXT, blobby BLOB, updated DATETIME);;
CREATE TABLE doc_log (id INT PRIMARY KEY AUTO_INCREMENT, doc_id INT, action VARCHAR(10));;
CREATE TRIGGER docs_ins AFTER INSERT ON docs FOR EACH ROW INSERT INTO doc_log (doc_id, action) VALUES (NEW.id, 'insert');;
CREATE VIEW recent AS SELECT id, title FROM docs WHERE updated > '2026-01-01';;
CREATE FUNCTION title_len(t VARCHAR(100)) RETURNS INT DETERMINISTIC RETURN CHAR_LENGTH(t);;
CREATE PROCEDURE touch(IN d INT) UPDATE docs SET updated = NOW() WHERE id = d;;
INSERT INTO docs (title, body, blobby, updated) SELECT CONCAT('doc ', seq), REPEAT('line\\n\\ttabbed ''quoted'' ', seq % 20), UNHEX(MD5(seq)), '2026-02-01 10:00:00' FROM seq_1_to_3000;;
";

#[test]
fn mariadb_round_trip_with_routines_triggers_and_views() {
    let server = ScratchServer::start(Engine::Mariadb).unwrap();
    server.create_database("app").unwrap();
    server.create_database("copy").unwrap();
    run(&server, "app", MARIADB_APP);
    let (src, dst) = (server.endpoint("app"), server.endpoint("copy"));

    let plan = plan(&src, &dst, false).unwrap();
    assert_eq!(plan.target_tables, 0);
    assert!(plan.dump_command.contains("--single-transaction") && plan.dump_command.contains("--routines"));
    let copied = copy(&src, &dst, &|_| Ok(())).unwrap();
    assert!(copied.bytes > 100_000, "{copied:?}");
    let report = compare(&src, &dst, &ParityOptions::default(), &()).unwrap();
    assert!(report.equal, "{report:#?}");

    // The trigger came along: inserting into the copy logs there.
    run(&server, "copy", "INSERT INTO docs (title) VALUES ('after')");
    let mut s = Session::connect(&dst).unwrap();
    assert_eq!(s.query_value("SELECT COUNT(*) FROM doc_log").unwrap().as_deref(), Some("3001"));
    assert_eq!(s.query_value("SELECT title_len('abc')").unwrap().as_deref(), Some("3"));

    // Now the target is not empty: refused, then replaced.
    assert!(matches!(plan_err(&src, &dst), MigrateError::TargetNotEmpty(n) if n == 2));
    clear_target(&dst).unwrap();
    copy(&src, &dst, &|_| Ok(())).unwrap();
    assert!(compare(&src, &dst, &ParityOptions::default(), &()).unwrap().equal);
}

fn plan_err(src: &Endpoint, dst: &Endpoint) -> MigrateError {
    plan(src, dst, false).unwrap_err()
}

#[test]
fn failed_restore_names_the_statement_and_leaves_the_source_alone() {
    let server = ScratchServer::start(Engine::Mariadb).unwrap();
    server.create_database("app").unwrap();
    server.create_database("locked").unwrap();
    run(&server, "app", MARIADB_APP);
    // A target user that may read but not create.
    server
        .query(
            None,
            "CREATE USER 'reader'@'127.0.0.1' IDENTIFIED BY 'pw'; GRANT SELECT ON locked.* TO 'reader'@'127.0.0.1'",
        )
        .unwrap();
    let src = server.endpoint("app");
    let mut dst = server.endpoint("locked");
    dst.user = "reader".into();
    dst.password = Some(crate::secret::Secret::new("pw"));
    let before = compare(&src, &server.endpoint("app"), &ParityOptions::default(), &()).unwrap();
    assert!(before.equal);
    match copy(&src, &dst, &|_| Ok(())).unwrap_err() {
        DbError::Restore { stderr, statement } => {
            assert!(stderr.contains("denied"), "{stderr}");
            let statement = statement.unwrap();
            assert!(statement.starts_with("DROP TABLE") || statement.starts_with("CREATE TABLE"), "{statement}");
            assert!(!stderr.contains("pw"));
        }
        other => panic!("{other}"),
    }
    let mut s = Session::connect(&src).unwrap();
    assert_eq!(s.query_value("SELECT COUNT(*) FROM docs").unwrap().as_deref(), Some("3000"));
}

#[test]
fn postgres_round_trip_with_function_trigger_and_view() {
    let server = ScratchServer::start(Engine::Postgres).unwrap();
    server.create_database("hub").unwrap();
    server.create_database("copy").unwrap();
    run(
        &server,
        "hub",
        "CREATE TABLE states (id serial PRIMARY KEY, name text NOT NULL, payload jsonb, changed timestamptz DEFAULT now());;
         CREATE TABLE history (id serial PRIMARY KEY, state_id int, at timestamptz DEFAULT now());;
         CREATE FUNCTION log_state() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO history (state_id) VALUES (NEW.id); RETURN NEW; END $$;;
         CREATE TRIGGER states_log AFTER INSERT ON states FOR EACH ROW EXECUTE FUNCTION log_state();;
         CREATE VIEW named AS SELECT id, name FROM states;;
         INSERT INTO states (name, payload, changed) SELECT 's' || g, jsonb_build_object('n', g, 'tags', jsonb_build_array('a', 'b')), timestamptz '2026-03-01' FROM generate_series(1, 2000) g",
    );
    let (src, dst) = (server.endpoint("hub"), server.endpoint("copy"));
    copy(&src, &dst, &|_| Ok(())).unwrap();
    let report = compare(&src, &dst, &ParityOptions::default(), &()).unwrap();
    assert!(report.equal, "{report:#?}");
    run(&server, "copy", "INSERT INTO states (name) VALUES ('new')");
    let mut s = Session::connect(&dst).unwrap();
    assert_eq!(s.query_value("SELECT count(*) FROM history").unwrap().as_deref(), Some("2001"));
    // A second copy into the now non-empty target is refused; --replace clears it.
    assert!(matches!(plan_err(&src, &dst), MigrateError::TargetNotEmpty(_)));
    clear_target(&dst).unwrap();
    copy(&src, &dst, &|_| Ok(())).unwrap();
    assert!(compare(&src, &dst, &ParityOptions::default(), &()).unwrap().equal);
}
