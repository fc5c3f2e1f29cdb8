use super::*;

/// A stack with two databases, a backup of `main`, suites `smoke` and `monitor`, and a deployable `api`.
pub(crate) fn stack() -> (tempfile::TempDir, Stack) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("docker-compose.yml"), "services:\n  api:\n    image: api:1\n").unwrap();
    std::fs::write(
        dir.path().join("tugboat.yml"),
        "stack: hub
databases:
  old: { kind: mariadb, url: \"mysql://u@127.0.0.1:1/a\" }
  new: { kind: mariadb, url: \"mysql://u@127.0.0.1:2/a\" }
backup:
  repository: /tmp/none
  password_env: REPO_PASSWORD
  sources: [ { database: old } ]
checks:
  smoke: [ { name: api, http: \"http://127.0.0.1:1/\" } ]
  monitor: [ { name: api, http: \"http://127.0.0.1:1/\" } ]
deploy:
  api: { host: api.example.org, port: 8000, health: /health }
",
    )
    .unwrap();
    let options = tugboat::stack::LoadOptions { process_env: Some(Default::default()), ..Default::default() };
    let stack = tugboat::stack::load(dir.path(), &options).unwrap();
    (dir, stack)
}

fn parse_text(text: &str) -> Result<Plan, ConfigError> {
    let (_dir, stack) = stack();
    parse(&stack, "cutover", Path::new("plans/cutover.yml"), text)
}

fn error(text: &str) -> String {
    parse_text(text).unwrap_err().to_string()
}

const ISSUE_EXAMPLE: &str = r#"# plans/cutover.yml
steps:
  - { name: fresh-drill, drill: { sources: [old] } }
  - { name: copy, migrate: { source: old, target: new }, gates: { drill_passed_within: 24h } }
  - { name: approve-switch, approve: { note: "freeze writes on the old host" } }
  - name: switch-route
    run: "./switch.sh new"
    undo: "./switch.sh old"
    gates: { parity_equal: { source: old, target: new, within: 1h }, approved_by: 1, smoke_passed_within: 15m }
  - { name: stabilise, watch: { suite: monitor, for: 24h } }
rollback:
  - { name: route-back, run: "./switch.sh old", undo: none, why: "the route is the only thing changed" }
"#;

#[test]
fn the_issue_example_reads_as_written() {
    let plan = parse_text(ISSUE_EXAMPLE).unwrap();
    let kinds: Vec<&str> = plan.steps.iter().map(|s| s.action.kind()).collect();
    assert_eq!(kinds, ["drill", "migrate", "approve", "run", "watch"]);
    assert_eq!(
        plan.steps[1].gates,
        [Gate::DrillPassedWithin { source: None, within: HumanDuration::parse("24h").unwrap() }]
    );
    let switch = &plan.steps[3];
    assert_eq!(
        switch.action,
        Action::Run {
            command: "./switch.sh new".into(),
            undo: Undo::Command { command: "./switch.sh old".into() },
            idempotent: false,
            timeout: None
        }
    );
    let gates: Vec<&str> = switch.gates.iter().map(Gate::name).collect();
    assert_eq!(gates, ["parity_equal", "approved_by", "smoke_passed_within"]);
    assert_eq!(
        switch.gates[2],
        Gate::SmokePassedWithin { suite: "smoke".into(), within: HumanDuration::parse("15m").unwrap() }
    );
    assert!(matches!(&plan.rollback[0].action, Action::Run { undo: Undo::None { .. }, .. }));
    assert!(switch.at.ends_with("plans/cutover.yml:6:5"), "{}", switch.at);
    assert_eq!(plan.digest.len(), 64);
}

#[test]
fn an_unknown_step_kind_is_named_at_its_line() {
    let e = error("steps:\n  - { name: a, smoke: {} }\n  - name: b\n    deploy_all: { service: api }\n");
    assert!(e.contains("plans/cutover.yml:4:5: steps[1].deploy_all: unknown step kind `deploy_all`"), "{e}");
}

#[test]
fn a_run_step_needs_an_undo_or_a_reason_for_none() {
    let e = error("steps:\n  - { name: switch, run: ./switch.sh }\n");
    assert!(e.contains("cutover.yml:2:5: steps[0].undo: a `run` step needs `undo:`"), "{e}");
    let e = error("steps:\n  - { name: switch, run: ./switch.sh, undo: none }\n");
    assert!(e.contains("steps[0].why: `undo: none` needs `why:`"), "{e}");
    assert!(parse_text("steps:\n  - { name: s, run: ./s.sh, undo: none, why: read only }\n").is_ok());
}

#[test]
fn gates_naming_unknown_or_later_steps_are_refused() {
    let e = error("steps:\n  - { name: a, smoke: {}, gates: { step_succeeded: nope } }\n");
    assert!(e.contains("unknown step `nope`"), "{e}");
    let e = error("steps:\n  - { name: a, smoke: {}, gates: { step_succeeded: b } }\n  - { name: b, smoke: {} }\n");
    assert!(e.contains("steps[0].gates.step_succeeded: step `a` waits for `b`, which comes after it: a cycle"), "{e}");
    let e = error("steps:\n  - { name: a, smoke: {}, gates: { step_succeeded: [a] } }\n");
    assert!(e.contains("waits for itself"), "{e}");
}

#[test]
fn unknown_databases_suites_services_and_gates_are_refused_together() {
    let e = error(
        "steps:
  - { name: copy, migrate: { source: old, target: nope } }
  - { name: p, smoke: {}, gates: { parity_equal: { source: old, target: gone, within: 1h } } }
  - { name: w, watch: { suite: nightly, for: 1h } }
  - { name: d, deploy: { service: db } }
  - { name: g, smoke: {}, gates: { drill_within: 1h } }
  - { name: copy, smoke: {} }
",
    );
    for wanted in [
        "cutover.yml:2:51: steps[0].migrate.target: unknown database `nope`: name one under `databases:` (new, old)",
        "cutover.yml:3:50: steps[1].gates.parity_equal: unknown database `gone`",
        "steps[2].watch.suite: unknown suite `nightly`",
        "steps[3].deploy.service: `db` is not under `deploy:`",
        "steps[4].gates.drill_within: unknown gate `drill_within`",
        "steps[5].name: two steps are called `copy`",
    ] {
        assert!(e.contains(wanted), "missing {wanted:?} in\n{e}");
    }
}

#[test]
fn shapes_that_cannot_mean_anything_are_refused() {
    assert!(error("steps: []\n").contains("a plan needs at least one step"));
    assert!(error("steps:\n  - { name: a }\n").contains("a step needs exactly one of"));
    assert!(error("steps:\n  - { name: a, smoke: {}, drill: {} }\n").contains("(it has smoke, drill)"));
    assert!(error("steps:\n  - { name: a, smoke: {}, undo: x }\n").contains("only `run` steps take undo"));
    assert!(error("steps:\n  - { name: a, approve: { count: 0 } }\n").contains("at least 1 approver"));
    assert!(error("steps:\n  - { name: a, watch: { suite: monitor, for: 1m, every: 2m } }\n")
        .contains("at most the window"));
    assert!(error("steps:\n  - { name: a, drill: { sources: [files] } }\n").contains("unknown backup source `files`"));
    assert!(error(
        "steps:\n  - { name: a, smoke: {} }\nrollback:\n  - { name: b, smoke: {}, gates: { approved_by: 1 } }\n"
    )
    .contains("rollback steps take no gates"));
    assert!(error("stepz: []\n").contains("unknown key `stepz`"));
    assert!(error("steps:\n  - { name: a, migrate: { source: old } }\n")
        .contains("steps[0].migrate: missing field `target`"));
}

#[test]
fn a_bare_kind_means_its_defaults() {
    let plan = parse_text("steps:\n  - name: b\n    backup:\n  - { name: s, smoke: }\n").unwrap();
    assert_eq!(plan.steps[0].action, Action::Backup { sources: vec![] });
    assert_eq!(plan.steps[1].action, Action::Smoke { suite: Some("smoke".into()) });
}
