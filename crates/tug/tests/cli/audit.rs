//! `tug init` on a bare compose project, the audit events it records, and `tug audit verify` catching an
//! edited or a deleted event in `.tugboat/state.db`.

use serde_json::Value;

use crate::util::Fixture;

const BARE_COMPOSE: &str = "\
services:
  db:
    image: postgres:16.4
    environment:
      POSTGRES_PASSWORD: ${PG_PASSWORD}
  web:
    image: nginx:1.27.0
    ports:
      - \"8080:80\"
      - \"127.0.0.1:9000:9000\"
";

fn bare() -> Fixture {
    let f = Fixture::new();
    f.write("docker-compose.yml", BARE_COMPOSE);
    f
}

fn events(f: &Fixture) -> Vec<Value> {
    let doc = f.tug().args(["audit", "log", "--json", "."]).run();
    doc.success();
    doc.json().as_array().expect("an array of events").clone()
}

fn db(f: &Fixture) -> rusqlite::Connection {
    rusqlite::Connection::open(f.join(".tugboat/state.db")).expect("open state.db")
}

#[test]
fn init_writes_config_and_template() {
    let f = bare();
    let run = f.tug().args(["init", "."]).run();
    run.success().stdout_contains("tugboat.yml").stdout_contains(".env.template");
    let config = f.read("tugboat.yml");
    assert!(config.contains("compose: [docker-compose.yml]"), "{config}");
    // Only the port reachable from other machines is proposed; the loopback one is not.
    assert!(config.contains("published_ports: [8080]"), "{config}");
    assert!(config.contains("kind: postgres"), "{config}");
    assert!(f.read(".env.template").lines().any(|l| l == "PG_PASSWORD="));
    // What it wrote loads: config and check accept it (exit 0 or 1, never a config error).
    f.tug().args(["config", "."]).run().success();
    let check = f.tug().args(["check", "."]).run();
    assert!(matches!(check.code(), 0 | 1), "{}", check.describe());
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let f = bare();
    f.tug().args(["init", "."]).run().success();
    f.write("tugboat.yml", "stack: mine\n");
    f.tug().args(["init", "."]).run().failure(2).stderr_contains("--force");
    assert_eq!(f.read("tugboat.yml"), "stack: mine\n", "the refused init changed tugboat.yml");
    f.tug().args(["init", ".", "--force"]).run().success();
    assert_ne!(f.read("tugboat.yml"), "stack: mine\n");
}

#[test]
fn init_dry_run_writes_nothing() {
    let f = bare();
    let run = f.tug().args(["init", ".", "--dry-run"]).run();
    run.success().stdout_contains("published_ports: [8080]").stdout_contains("PG_PASSWORD=");
    for path in ["tugboat.yml", ".env.template", ".tugboat"] {
        assert!(!f.exists(path), "--dry-run created {path}");
    }
}

#[test]
fn init_keeps_an_existing_template() {
    let f = bare();
    f.write(".env.template", "# mine\nPG_PASSWORD=\n");
    f.tug().args(["init", "."]).run().success();
    assert_eq!(f.read(".env.template"), "# mine\nPG_PASSWORD=\n");
}

/// BUG: `tug init` proposes `databases.db.user_env: DB_USER` / `password_env: DB_PASSWORD` but does not
/// declare them in the `.env.template` it writes, so its own output fails `tug check` with TB019.
#[test]
fn init_output_passes_its_own_template_rules() {
    let f = bare();
    f.tug().args(["init", "."]).run().success();
    let doc = f.tug().args(["check", ".", "--json"]).run().json();
    let template_findings: Vec<&Value> = doc["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|x| x["rule"] == "TB019" || x["rule"] == "TB020")
        .collect();
    assert!(template_findings.is_empty(), "{template_findings:#?}");
}

#[test]
fn init_is_audited_and_the_chain_verifies() {
    let f = bare();
    f.tug().args(["init", "."]).run().success();
    f.tug().args(["init", ".", "--force"]).run().success();
    let events = events(&f);
    assert_eq!(events.len(), 2, "{events:#?}");
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["seq"], i as i64 + 1);
        assert_eq!(e["command"], "init");
        assert_eq!(e["outcome"], "ok");
        assert_eq!(e["hash"].as_str().map(str::len), Some(64));
    }
    assert_eq!(events[0]["prev_hash"], "0".repeat(64));
    assert_eq!(events[1]["prev_hash"], events[0]["hash"]);
    assert_eq!(events[0]["params"]["force"], false);
    assert_eq!(events[1]["params"]["force"], true);
    // The stack name is the Compose project name, from the directory (no tugboat.yml named one before init).
    let dir_name = f.path().file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    assert_eq!(events[0]["stack"], dir_name);

    let verify = f.tug().args(["audit", "verify", "."]).run();
    verify.success().stdout_contains("2 events, chain intact");
    let json = f.tug().args(["audit", "verify", "--json", "."]).run().json();
    assert_eq!(json["status"], "intact");
    assert_eq!(json["head"], events[1]["hash"]);

    // The human log shows both.
    let log = f.tug().args(["audit", "log", "."]).run();
    log.success();
    assert_eq!(log.stdout().lines().filter(|l| l.contains(" init ")).count(), 2, "{}", log.stdout());

    // --since: everything is within the last day, nothing is after tomorrow.
    let day = f.tug().args(["audit", "log", "--json", "--since", "24h", "."]).run().json();
    assert_eq!(day.as_array().map(Vec::len), Some(2));
    let tomorrow = (time::OffsetDateTime::now_utc() + time::Duration::days(2)).date();
    let later = f.tug().args(["audit", "log", "--json", "--since", &tomorrow.to_string(), "."]).run().json();
    assert_eq!(later.as_array().map(Vec::len), Some(0));
}

/// Every path of an acting command leaves one event (issue 11) — except a dry run of `init` before the stack
/// has a state database, which writes nothing at all (`init_dry_run_writes_nothing`).
#[test]
fn dry_run_and_refused_init_are_audited() {
    let f = bare();
    f.tug().args(["init", ".", "--dry-run"]).run().success();
    f.tug().args(["init", "."]).run().success();
    f.tug().args(["init", "."]).run().failure(2).stderr_contains("hint: pass --force");
    f.tug().args(["init", ".", "--dry-run", "--force"]).run().success();
    let outcomes: Vec<Value> = events(&f).iter().map(|e| e["outcome"].clone()).collect();
    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
    assert_eq!(outcomes[0], "ok");
    assert!(outcomes[1]["failed"].as_str().is_some_and(|r| r.ends_with("tugboat.yml exists")), "{outcomes:?}");
    assert_eq!(outcomes[2], "dry_run");
    f.tug().args(["audit", "verify", "."]).run().success();
}

#[test]
fn verify_detects_an_edited_event() {
    let f = bare();
    f.tug().args(["init", "."]).run().success();
    f.tug().args(["init", ".", "--force"]).run().success();
    let changed =
        db(&f).execute("UPDATE audit_events SET params = '{\"force\":true}' WHERE seq = 1", []).expect("tamper");
    assert_eq!(changed, 1);
    let run = f.tug().args(["audit", "verify", "."]).run();
    run.failure(1).stdout_contains("event 1").stdout_contains("edited");
    let json = f.tug().args(["audit", "verify", "--json", "."]).run();
    json.failure(1);
    let doc = json.json();
    assert_eq!(
        (doc["status"].as_str(), doc["seq"].as_i64(), doc["reason"].as_str()),
        (Some("broken"), Some(1), Some("edited"))
    );
}

#[test]
fn verify_detects_a_deleted_last_event() {
    let f = bare();
    f.tug().args(["init", "."]).run().success();
    f.tug().args(["init", ".", "--force"]).run().success();
    db(&f).execute("DELETE FROM audit_events WHERE seq = (SELECT MAX(seq) FROM audit_events)", []).expect("tamper");
    let run = f.tug().args(["audit", "verify", "."]).run();
    run.failure(1).stdout_contains("event 2");
    let doc = f.tug().args(["audit", "verify", "--json", "."]).run().json();
    assert_eq!(doc["reason"], "truncated");
}

#[test]
fn verify_detects_a_deleted_middle_event() {
    let f = bare();
    for force in [false, true, true] {
        let mut args = vec!["init", "."];
        if force {
            args.push("--force");
        }
        f.tug().args(args).run().success();
    }
    db(&f).execute("DELETE FROM audit_events WHERE seq = 2", []).expect("tamper");
    let run = f.tug().args(["audit", "verify", "."]).run();
    run.failure(1).stdout_contains("event 2");
}

#[test]
fn unreadable_event_is_reported_not_a_crash() {
    let f = bare();
    f.tug().args(["init", "."]).run().success();
    db(&f).execute("UPDATE audit_events SET params = 'not json' WHERE seq = 1", []).expect("tamper");
    f.tug().args(["audit", "verify", "."]).run().failure(1).stdout_contains("event 1");
    // `audit log` cannot show it and says what to run; exit 3 (could not act).
    f.tug().args(["audit", "log", "."]).run().failure(3).stderr_contains("tug audit verify");
}

#[test]
fn empty_audit_log() {
    let f = bare();
    f.tug().args(["audit", "log", "."]).run().success().stdout_contains("no audit events");
    f.tug().args(["audit", "verify", "."]).run().success().stdout_contains("0 events");
    assert_eq!(events(&f).len(), 0);
}

#[test]
fn state_flag_and_env_choose_the_database() {
    let f = bare();
    let state = f.join("elsewhere/state.db");
    f.tug().args(["init", ".", "--state"]).arg(&state).run().success();
    assert!(state.exists() && !f.exists(".tugboat/state.db"));
    let via_env = f.tug().args(["audit", "log", "--json", "."]).env("TUGBOAT_STATE", &state).run().json();
    assert_eq!(via_env.as_array().map(Vec::len), Some(1));
}
