//! The three `tug check` formats for one small stack, pinned by snapshots. Run in the stack's directory
//! with DIR `.`, so every path is relative; the temp dir is redacted anyway in case one slips through.

use insta::{assert_json_snapshot, assert_snapshot};
use serde_json::Value;

use crate::util::Fixture;

pub const SNAP_CONFIG: &str = "\
stack: snap
compose: [docker-compose.yml]
env_template: .env.template
policy:
  published_ports: [8080]
  exempt:
    worker:
      TB001: \"the vendor image only runs as root\"
";

pub const SNAP_COMPOSE: &str = "\
name: snap
services:
  web:
    image: example.org/web:${WEB_TAG}
    user: \"1000:1000\"
    read_only: true
    cap_drop: [ALL]
    security_opt: [\"no-new-privileges:true\"]
    ports:
      - \"8080:8080\"
      - \"9000:9000\"
    healthcheck:
      test: [\"CMD\", \"/healthcheck\"]
      interval: 30s
    restart: unless-stopped
    deploy:
      resources:
        limits: { memory: 256m, cpus: \"0.5\", pids: 256 }
    logging: { driver: local }
  worker:
    image: example.org/worker:2.0.1
    read_only: true
    cap_drop: [ALL]
    security_opt: [\"no-new-privileges:true\"]
    restart: unless-stopped
    deploy:
      resources:
        limits: { memory: 128m, cpus: \"0.25\", pids: 128 }
    logging: { driver: local }
";

pub const SNAP_TEMPLATE: &str = "\
# Tag of the web image.
WEB_TAG=1.4.2
# Left over from an older version.
OLD_FLAG=
";

/// The snapshot stack: TB015 (9000 is not allowed), TB011 (worker has no healthcheck), TB020 (OLD_FLAG),
/// and an exempted TB001 on worker.
pub fn snap_stack() -> Fixture {
    let f = Fixture::new();
    f.write("tugboat.yml", SNAP_CONFIG).write("docker-compose.yml", SNAP_COMPOSE).write(".env.template", SNAP_TEMPLATE);
    f
}

fn redact(f: &Fixture, text: &str) -> String {
    let dir = f.path().display().to_string();
    let canonical = std::fs::canonicalize(f.path()).map(|p| p.display().to_string()).unwrap_or_else(|_| dir.clone());
    text.replace(&canonical, "[TEMP]").replace(&dir, "[TEMP]")
}

fn redacted_json(f: &Fixture, text: &str) -> Value {
    serde_json::from_str(&redact(f, text)).expect("JSON")
}

#[test]
fn check_text() {
    let f = snap_stack();
    let run = f.tug().args(["check", "."]).run();
    run.failure(1);
    assert_snapshot!(redact(&f, &run.stdout()));
}

#[test]
fn check_json() {
    let f = snap_stack();
    let run = f.tug().args(["check", ".", "--format", "json"]).run();
    run.failure(1);
    assert_json_snapshot!(redacted_json(&f, &run.stdout()));
    // `--json` is the same document.
    let again = f.tug().args(["check", ".", "--json"]).run();
    assert_eq!(again.stdout(), run.stdout());
}

#[test]
fn check_sarif() {
    let f = snap_stack();
    let run = f.tug().args(["check", ".", "--format", "sarif"]).run();
    run.failure(1);
    let mut doc = redacted_json(&f, &run.stdout());
    // The tool version changes with every release; the rest is the format.
    doc["runs"][0]["tool"]["driver"]["version"] = Value::String("[version]".into());
    assert_json_snapshot!(doc);
}

#[test]
fn check_text_below_threshold_and_exempt_counts() {
    let f = snap_stack();
    let run = f.tug().args(["check", ".", "--fail-on", "high"]).run();
    run.failure(1);
    assert_snapshot!(run.stdout().lines().last().unwrap_or_default(), @"fail: 1 finding at or above high (1 exempted, 2 below high)");
}

#[test]
fn config_yaml() {
    let f = snap_stack();
    let run = f.tug().args(["config", "."]).run();
    run.success();
    assert_snapshot!(redact(&f, &run.stdout()));
}

#[test]
fn list_rules_text() {
    let run = Fixture::new().tug().args(["check", "--list-rules"]).run();
    run.success();
    assert_snapshot!(run.stdout());
}

#[test]
fn config_error_rendering() {
    let f = snap_stack();
    f.write(
        "docker-compose.yml",
        &SNAP_COMPOSE.replace(
            "    read_only: true\n    cap_drop: [ALL]\n    security_opt: [\"no-new-privileges:true\"]\n    restart",
            "    read_only: maybe\n    cap_drop: [ALL]\n    security_opt: [\"no-new-privileges:true\"]\n    restart",
        ),
    );
    let run = f.tug().args(["check", "."]).run();
    run.failure(2);
    assert_eq!(run.stdout(), "");
    assert_snapshot!(redact(&f, &run.stderr()));
}
