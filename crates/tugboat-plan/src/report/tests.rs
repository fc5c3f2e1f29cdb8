use std::time::Duration;

use serde_json::{json, Value};
use tugboat::stack::probes::HumanDuration;
use tugboat::store::{AuditEvent, Outcome, PlanEvent, PlanRun};

use super::timeline::{Scale, MIN_BAR};
use super::*;
use crate::file::{Action, Gate, Plan, Step, Undo};

/// 2026-12-01 17:04:05Z.
const T0: i64 = 1_796_144_645_000;
const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

fn hours(h: u64) -> HumanDuration {
    HumanDuration(Duration::from_secs(h * 3600))
}

fn step(name: &str, action: Action, gates: Vec<Gate>, line: u32) -> Step {
    Step { name: name.into(), action, gates, at: format!("plans/cutover.yml:{line}:5") }
}

fn plan() -> Plan {
    let run =
        |command: &str, undo: Undo| Action::Run { command: command.into(), undo, idempotent: false, timeout: None };
    Plan {
        name: "cutover".into(),
        path: "plans/cutover.yml".into(),
        digest: "9c1185a5c5e9fc54612808977ee8f548b2258d31e3b2a0c3c2a4d6a0f5e6d7c8".into(),
        description: Some("Move the DMS database and web tier to new-host".into()),
        steps: vec![
            step("drill-main", Action::Drill { sources: vec!["main".into()], deep: false }, vec![], 3),
            step(
                "copy",
                Action::Migrate {
                    source: "main".into(),
                    target: "mysql://dms@new-host:3306/dms".into(),
                    replace: false,
                    tables: vec![],
                    exclude: vec![],
                },
                vec![Gate::DrillPassedWithin { source: Some("main".into()), within: hours(24) }],
                5,
            ),
            step(
                "go-ahead",
                Action::Approve { note: Some("freeze writes on the old host".into()), count: 1 },
                vec![],
                9,
            ),
            step(
                "freeze",
                run(
                    "./freeze.sh --host old && echo '<script>alert(1)</script>'",
                    Undo::Command { command: "./unfreeze.sh --host old | logger -t tug".into() },
                ),
                vec![Gate::ApprovedBy { count: 1 }, Gate::StepSucceeded { steps: vec!["copy".into()] }],
                12,
            ),
            step(
                "verify",
                Action::Parity {
                    source: "main".into(),
                    target: "mysql://dms@new-host:3306/dms".into(),
                    tables: vec![],
                    exclude: vec![],
                    counts_only: false,
                },
                vec![],
                17,
            ),
            step(
                "switch",
                Action::Deploy { service: "web".into(), image: Some("dms/web:2.0".into()) },
                vec![Gate::SmokePassedWithin { suite: "smoke".into(), within: hours(1) }],
                20,
            ),
            step("smoke", Action::Smoke { suite: Some("smoke".into()) }, vec![], 24),
            step("soak", Action::Watch { suite: "monitor".into(), window: hours(24), every: None }, vec![], 26),
            step(
                "decommission",
                run(
                    "ssh old 'systemctl stop mariadb' | tee -a stop.log",
                    Undo::None { why: "the old host is kept for a week".into() },
                ),
                vec![Gate::WatchCleanFor { suite: Some("monitor".into()), window: hours(24) }],
                28,
            ),
        ],
        rollback: vec![step(
            "restore-dns",
            run("./dns.sh point dms.example.org old-host", Undo::None { why: "the way back".into() }),
            vec![],
            34,
        )],
    }
}

fn parity_report() -> Value {
    let table = |name: &str, rows: u64, method: &str| {
        json!({"table": name, "status": "equal", "method": method, "source_rows": rows, "target_rows": rows,
               "missing": {"total": 0, "keys": []}, "extra": {"total": 0, "keys": []}, "changed": {"total": 0, "keys": []},
               "schema_differences": [], "note": null, "duration_ms": 3200})
    };
    json!({"source": "mysql://dms@old-host:3306/dms", "target": "mysql://dms@new-host:3306/dms",
           "source_version": "10.11.6-MariaDB", "target_version": "11.4.2-MariaDB", "equal": true,
           "tables": [table("audit_log", 88_210, "row_hashes"), table("documents", 120_331, "key_ranges"), table("users", 43, "key_ranges")],
           "tables_only_in_source": [], "tables_only_in_target": [], "objects_only_in_source": [], "objects_only_in_target": [],
           "where_clause": null, "duration_ms": 5400})
}

fn drill_report(ok: bool) -> Value {
    let drill = if ok {
        json!({"source": "main", "kind": "mariadb", "ok": true,
               "snapshot": {"id": "ab12cd34ef567890", "short_id": "ab12cd34", "time": "2026-12-01T16:00:00+00:00", "time_ms": T0 - HOUR},
               "snapshot_age_s": 3905, "restore_ms": 41_234,
               "tables": [
                   {"table": "documents", "verdict": "equal", "restored_rows": 120_331, "snapshot_rows": 120_331, "live_rows": 120_331, "note": null},
                   {"table": "users", "verdict": "newer_than_snapshot", "restored_rows": 42, "snapshot_rows": 42, "live_rows": 43,
                    "note": "live has changed since the snapshot"}],
               "files_checked": null, "files_differing": [], "parity": null, "error": null})
    } else {
        json!({"source": "main", "kind": "mariadb", "ok": false, "snapshot": null, "snapshot_age_s": null, "restore_ms": null,
               "tables": [], "files_checked": null, "files_differing": [], "parity": null,
               "error": "no scratch server: mariadbd is not installed"})
    };
    json!({"operation": "drill", "summary": {"ok": ok}, "report": {"ok": ok, "drills": [drill]}})
}

fn command(command: &str, exit_code: i64, duration_ms: i64, output: &str) -> Value {
    json!({"operation": "plan command", "summary": {"exit_code": exit_code, "duration_ms": duration_ms},
           "report": {"command": command, "exit_code": exit_code, "duration_ms": duration_ms, "output": output, "timed_out": false}})
}

/// A run that went through every step, soaked for 24 h, failed to decommission and was rolled back.
fn events() -> Vec<PlanEvent> {
    let ops = "ops@old-host";
    let gate = |gate: &str, requirement: &str, ok: bool, evidence: Value, reason: Option<&str>, fix: Option<&str>| json!({"gate": gate, "requirement": requirement, "ok": ok, "evidence": evidence, "reason": reason, "fix": fix});
    let watch = |since: i64, until: i64, buckets: u64| {
        json!({"suite": "monitor", "since_ms": since, "until_ms": until, "buckets": buckets, "buckets_expected": buckets,
               "results": buckets * 60, "failed": 0, "alerts": 0, "problem": null})
    };
    let soak = T0 + 12 * MIN;
    let drill_gate = gate(
        "drill_passed_within",
        "a passing drill of main within 1d",
        true,
        json!({"drill": 4, "source": "main", "time_ms": T0 + 2 * MIN, "ok": true, "rto_ms": 41_234, "snapshot": "ab12cd34"}),
        None,
        None,
    );
    let list: Vec<(i64, &str, &str, &str, Value)> = vec![
        (
            T0,
            "-",
            "run_started",
            ops,
            json!({"digest": "5f2b8e0d41c7a9e3b6d4f1a2c8e7b9d0a3f6c5e4d2b1a0f9e8d7c6b5a4f3e2d1"}),
        ),
        (T0 + 1_000, "drill-main", "started", ops, json!({"action": "drill main"})),
        (
            T0 + 9_000,
            "drill-main",
            "failed",
            ops,
            json!({"reason": "main: no scratch server: mariadbd is not installed", "evidence": drill_report(false)}),
        ),
        (T0 + 60_000, "-", "plan_changed", ops, json!({"from": "5f2b8e0d41c7a9e3b6d4", "to": "9c1185a5c5e9fc546128"})),
        (T0 + 61_000, "drill-main", "started", ops, json!({"action": "drill main"})),
        (T0 + 2 * MIN, "drill-main", "succeeded", ops, json!({"evidence": drill_report(true)})),
        (T0 + 2 * MIN + 100, "copy", "gates_passed", ops, json!({"gates": [drill_gate]})),
        (
            T0 + 2 * MIN + 200,
            "copy",
            "started",
            ops,
            json!({"action": "migrate main -> mysql://dms@new-host:3306/dms"}),
        ),
        (
            T0 + 6 * MIN + 12_200,
            "copy",
            "succeeded",
            ops,
            json!({"evidence": {"operation": "migrate", "summary": {"bytes": 734_003_200, "duration_ms": 248_000, "parity": "3 tables equal"},
                   "report": {"copied": {"bytes": 734_003_200, "duration_ms": 248_000}, "parity": parity_report(), "rehearsal": false}}}),
        ),
        (
            T0 + 6 * MIN + 12_300,
            "go-ahead",
            "awaiting_approval",
            ops,
            json!({"need": 1, "have": 0, "note": "freeze writes on the old host"}),
        ),
        (
            T0 + 8 * MIN,
            "go-ahead",
            "approved",
            "alice",
            json!({"note": "ok | go — <b>writes</b> frozen & users told", "by": "alice@laptop"}),
        ),
        (
            T0 + 8 * MIN + 30_000,
            "go-ahead",
            "succeeded",
            ops,
            json!({"evidence": {"operation": "approve", "report": {"approvers": [{"person": "alice", "time_ms": T0 + 8 * MIN, "note": "ok | go — <b>writes</b> frozen & users told"}]}}}),
        ),
        (
            T0 + 8 * MIN + 30_100,
            "freeze",
            "gates_passed",
            ops,
            json!({"gates": [
                gate("approved_by", "approved by 1 person", true, json!({"approvers": [{"person": "alice", "step": "go-ahead", "time_ms": T0 + 8 * MIN, "note": "ok | go"}]}), None, None),
                gate("step_succeeded", "step copy succeeded", true, json!({"steps": [{"step": "copy", "time_ms": T0 + 6 * MIN + 12_200}]}), None, None)]}),
        ),
        (
            T0 + 8 * MIN + 30_200,
            "freeze",
            "started",
            ops,
            json!({"action": "run ./freeze.sh --host old && echo '<script>alert(1)</script>'"}),
        ),
        (
            T0 + 9 * MIN,
            "freeze",
            "resolved",
            "bob@ops",
            json!({"outcome": "succeeded", "note": "the run was killed; checked by hand: writes are frozen", "by": "bob@ops"}),
        ),
        (
            T0 + 9 * MIN + 10_000,
            "verify",
            "started",
            "bob@ops",
            json!({"action": "parity main = mysql://dms@new-host:3306/dms"}),
        ),
        (
            T0 + 9 * MIN + 16_000,
            "verify",
            "succeeded",
            "bob@ops",
            json!({"evidence": {"operation": "parity", "summary": {"parity": 8, "equal": true, "summary": "3 tables equal"},
                   "report": {"id": 8, "equal": true, "summary": "3 tables equal", "report": parity_report()}}}),
        ),
        (
            T0 + 9 * MIN + 16_100,
            "switch",
            "blocked",
            "bob@ops",
            json!({"gates": [gate("smoke_passed_within", "smoke suite smoke passed within 1h", false, Value::Null, Some("no run of smoke suite smoke is recorded"), Some("tug smoke smoke"))]}),
        ),
        (
            T0 + 10 * MIN,
            "switch",
            "gates_passed",
            "bob@ops",
            json!({"gates": [gate("smoke_passed_within", "smoke suite smoke passed within 1h", true,
                   json!({"smoke": 3, "suite": "smoke", "time_ms": T0 + 9 * MIN + 40_000, "ok": true, "summary": "3 passed, 0 failed, 1 not applicable"}), None, None)]}),
        ),
        (T0 + 10 * MIN + 100, "switch", "started", "bob@ops", json!({"action": "deploy web (dms/web:2.0)"})),
        (
            T0 + 10 * MIN + 9_400,
            "switch",
            "succeeded",
            "bob@ops",
            json!({"evidence": {"operation": "deploy", "summary": {"outcome": "deployed"}, "report": {
                "service": "web", "outcome": "deployed", "from": {"container": "dms-web-1", "image": "dms/web:1.9"},
                "to": {"container": "dms-web-2", "image": "dms/web:2.0", "address": "172.18.0.5:8080"},
                "digest": "dms/web@sha256:9f86d081884c7d65", "healthy_after_ms": 1300, "watched_requests": 214, "watched_errors": 0}}}),
        ),
        (T0 + 10 * MIN + 9_500, "smoke", "started", "bob@ops", json!({"action": "smoke smoke"})),
        (
            T0 + 10 * MIN + 10_400,
            "smoke",
            "succeeded",
            "bob@ops",
            json!({"evidence": {"operation": "smoke", "report": {"suite": "smoke", "ok": true, "passed": 3, "failed": 0, "not_applicable": 1, "duration_ms": 812.4,
                "checks": [
                    {"check": "smoke/frontend", "suite": "smoke", "name": "frontend", "kind": "http", "target": "https://dms.example.org/", "status": "pass",
                     "started_ms": T0 + 10 * MIN + 9_600, "duration_ms": 120.5, "conditions": [{"condition": "[STATUS] == 200", "ok": true, "observed": "200"}], "values": {}},
                    {"check": "smoke/api", "suite": "smoke", "name": "api", "kind": "http", "target": "https://dms.example.org/api/health", "status": "pass",
                     "started_ms": T0 + 10 * MIN + 9_600, "duration_ms": 88.0, "conditions": [], "values": {}},
                    {"check": "smoke/db", "suite": "smoke", "name": "db", "kind": "sql", "target": "main", "status": "pass",
                     "started_ms": T0 + 10 * MIN + 9_600, "duration_ms": 31.0, "conditions": [], "values": {}},
                    {"check": "smoke/gpu", "suite": "smoke", "name": "gpu", "kind": "gpu", "target": "nvidia-smi", "status": "not_applicable",
                     "started_ms": T0 + 10 * MIN + 9_600, "duration_ms": 4.0, "conditions": [], "error": "no GPU on this host", "values": {}}]}}}),
        ),
        (soak, "soak", "started", "bob@ops", json!({"action": "watch monitor for 1d (tug watch history)"})),
        (
            soak + 100,
            "soak",
            "waiting",
            "bob@ops",
            json!({"until_ms": soak + 24 * HOUR, "so_far": watch(soak, soak, 0)}),
        ),
        (
            soak + 6 * HOUR,
            "soak",
            "waiting",
            "carol@ops",
            json!({"until_ms": soak + 24 * HOUR, "so_far": watch(soak, soak + 6 * HOUR, 72)}),
        ),
        (
            soak + 24 * HOUR + 5 * MIN,
            "soak",
            "succeeded",
            "carol@ops",
            json!({"evidence": {"operation": "watch", "report": watch(soak, soak + 24 * HOUR, 288)}}),
        ),
        (
            soak + 24 * HOUR + 5 * MIN + 100,
            "decommission",
            "gates_passed",
            "carol@ops",
            json!({"gates": [gate("watch_clean_for", "watch of monitor clean for 1d", true, watch(soak, soak + 24 * HOUR, 288), None, None)]}),
        ),
        (
            soak + 24 * HOUR + 5 * MIN + 200,
            "decommission",
            "started",
            "carol@ops",
            json!({"action": "run ssh old 'systemctl stop mariadb' | tee -a stop.log"}),
        ),
        (
            soak + 24 * HOUR + 5 * MIN + 3_212,
            "decommission",
            "failed",
            "carol@ops",
            json!({"reason": "`ssh old 'systemctl stop mariadb' | tee -a stop.log` exited with 255: ssh: connect to host old port 22: Connection refused",
                   "evidence": command("ssh old 'systemctl stop mariadb' | tee -a stop.log", 255, 3012, "stopping mariadb on old\nssh: connect to host old port 22: Connection refused\n")}),
        ),
        (soak + 24 * HOUR + 20 * MIN, "-", "rollback_started", "carol@ops", json!({})),
        (soak + 24 * HOUR + 20 * MIN + 100, "switch", "undo_started", "carol@ops", json!({"action": "rollback web"})),
        (
            soak + 24 * HOUR + 20 * MIN + 2_100,
            "switch",
            "undo_failed",
            "carol@ops",
            json!({"reason": "proxy admin socket /run/tug/proxy.sock: connection refused", "evidence": null}),
        ),
        (soak + 24 * HOUR + 25 * MIN, "switch", "undo_started", "carol@ops", json!({"action": "rollback web"})),
        (
            soak + 24 * HOUR + 25 * MIN + 2_100,
            "switch",
            "undone",
            "carol@ops",
            json!({"evidence": {"operation": "rollback", "report": {"service": "web", "from": {"container": "dms-web-2", "image": "dms/web:2.0"},
                   "to": {"container": "dms-web-1", "image": "dms/web:1.9"}, "took_ms": 2100}}}),
        ),
        (
            soak + 24 * HOUR + 25 * MIN + 2_200,
            "freeze",
            "undo_started",
            "carol@ops",
            json!({"action": "./unfreeze.sh --host old | logger -t tug"}),
        ),
        (
            soak + 24 * HOUR + 25 * MIN + 3_040,
            "freeze",
            "undone",
            "carol@ops",
            json!({"evidence": {"operation": "plan undo", "report": {"command": "./unfreeze.sh --host old | logger -t tug", "exit_code": 0, "duration_ms": 840, "output": "writes enabled on old\n", "timed_out": false}}}),
        ),
        (
            soak + 24 * HOUR + 25 * MIN + 3_100,
            "restore-dns",
            "started",
            "carol@ops",
            json!({"action": "run ./dns.sh point dms.example.org old-host"}),
        ),
        (
            soak + 24 * HOUR + 25 * MIN + 4_000,
            "restore-dns",
            "succeeded",
            "carol@ops",
            json!({"evidence": command("./dns.sh point dms.example.org old-host", 0, 840, "dms.example.org -> old-host\n")}),
        ),
        (soak + 24 * HOUR + 25 * MIN + 4_100, "-", "rollback_done", "carol@ops", json!({})),
    ];
    list.into_iter()
        .enumerate()
        .map(|(i, (time_ms, step, kind, actor, detail))| PlanEvent {
            id: i as i64 + 1,
            run_id: 3,
            time_ms,
            step: step.into(),
            kind: kind.into(),
            actor: actor.into(),
            detail,
        })
        .collect()
}

fn run_of(events: &[PlanEvent]) -> PlanRun {
    PlanRun {
        id: 3,
        stack: "dms".into(),
        plan: "cutover".into(),
        digest: "5f2b8e0d41c7a9e3b6d4f1a2c8e7b9d0a3f6c5e4d2b1a0f9e8d7c6b5a4f3e2d1".into(),
        started_by: "ops@old-host".into(),
        started_ms: T0,
        finished_ms: events.last().map(|e| e.time_ms),
        status: "rolled_back".into(),
    }
}

fn audit() -> Vec<AuditEvent> {
    let event = |seq: i64, t: i64, command: &str, actor: &str, outcome: Outcome| AuditEvent {
        seq,
        time: String::new(),
        time_ms: t,
        actor: actor.into(),
        command: command.into(),
        stack: "dms".into(),
        config_digest: "c0ffee".into(),
        params: json!({"plan_run": {"plan": "cutover", "run": 3}}),
        outcome,
        prev_hash: format!("{:064x}", seq - 1),
        hash: format!("{:x}{:060x}", seq, seq * 7919),
    };
    vec![
        event(41, T0 + 9_000, "drill", "ops@old-host", Outcome::Failed("main: no scratch server".into())),
        event(42, T0 + 2 * MIN, "drill", "ops@old-host", Outcome::Ok),
        event(43, T0 + 6 * MIN + 12_200, "migrate", "ops@old-host", Outcome::Ok),
        event(44, T0 + 8 * MIN, "approve", "alice@laptop", Outcome::Ok),
        event(45, T0 + 8 * MIN + 30_000, "plan run", "ops@old-host", Outcome::Interrupted),
    ]
}

fn render_with(events: &[PlanEvent], run: &PlanRun, format: Format) -> String {
    let plan = plan();
    let audit = audit();
    let record = Record {
        plan: &plan,
        run,
        events,
        audit: &audit,
        audit_head: Some("3f7a0c9e5b2d8f1e4a6c0b9d7e5f3a1c2b4d6e8f0a9c7b5d3e1f2a4c6b8d0e9f"),
        generated_ms: T0 + 26 * HOUR,
    };
    render(&record, format)
}

fn both() -> (String, String) {
    let events = events();
    let run = run_of(&events);
    let html = render_with(&events, &run, Format::Html);
    (render_with(&events, &run, Format::Markdown), html)
}

#[test]
fn the_markdown_record_reads_well() {
    let (md, _) = both();
    insta::assert_snapshot!("cutover_record", md);
}

#[test]
fn html_escapes_every_input_and_has_no_script() {
    let (_, html) = both();
    assert!(!html.to_ascii_lowercase().contains("<script"), "no script element, not even from a command");
    assert!(html.contains("echo &#39;&lt;script&gt;alert(1)&lt;/script&gt;&#39;"), "the command shows escaped");
    assert!(html.contains("&lt;b&gt;writes&lt;/b&gt; frozen &amp; users told"), "an approval note shows escaped");
    assert!(html.contains("./freeze.sh --host old &amp;&amp; echo"));
    assert!(!html.contains("<b>"), "no markup comes from the inputs");
    for external in ["http-equiv=\"refresh\"", "<link", "<img", "<iframe", "src=", "@import", "url(http"] {
        assert!(!html.contains(external), "nothing external: {external}");
    }
    assert!(html.contains("default-src 'none'"), "the policy forbids fetching anything");
    assert!(html.contains("<svg") && html.contains("role=\"img\"") && html.contains("aria-label=\"Timeline of run #3"));
}

#[test]
fn markdown_tables_keep_their_columns() {
    let (md, _) = both();
    assert!(md.contains("ok \\| go — \\<b>writes\\</b> frozen & users told"), "the note's `|` and HTML are escaped");
    assert!(md.contains("| `./unfreeze.sh --host old \\| logger -t tug` |"), "a `|` in a code span in a table");
    // Every row of a table has as many cell separators as its head.
    let unescaped = |l: &str| {
        let b = l.as_bytes();
        (0..b.len()).filter(|&i| b[i] == b'|' && (i == 0 || b[i - 1] != b'\\')).count()
    };
    let mut tables = 0;
    let mut head: Option<usize> = None;
    for l in md.lines() {
        match (l.starts_with('|'), head) {
            (true, None) => {
                head = Some(unescaped(l));
                tables += 1;
            }
            (true, Some(n)) => assert_eq!(unescaped(l), n, "a row with a stray `|`: {l}"),
            (false, _) => head = None,
        }
    }
    assert!(tables >= 10, "{tables} tables");
    let raw_html = md.match_indices("<script").filter(|(i, _)| !md[..*i].ends_with('\\')).count();
    assert_eq!(raw_html, 0, "raw HTML in Markdown is escaped too");
}

#[test]
fn every_event_kind_renders() {
    let (md, html) = both();
    let kinds: Vec<String> = events().iter().map(|e| e.kind.clone()).collect();
    for kind in [
        "run_started",
        "plan_changed",
        "blocked",
        "gates_passed",
        "started",
        "succeeded",
        "failed",
        "waiting",
        "awaiting_approval",
        "approved",
        "resolved",
        "undo_started",
        "undone",
        "undo_failed",
        "rollback_started",
        "rollback_done",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "the fixture has a {kind} event");
    }
    for words in [
        "run #3: started with plan file",
        "plan file changed",
        "blocked by `smoke_passed_within`",
        "gates passed: `approved_by, step_succeeded`",
        "started: migrate main -> mysql://dms@new-host:3306/dms",
        "failed: main: no scratch server",
        "waiting until 2026-12-02 17:16:05Z; so far 72 of 72 buckets, 4320 results, 0 failed, 0 alerts",
        "awaiting approval (0 of 1): freeze writes on the old host",
        "approved by alice",
        "resolved as succeeded: the run was killed; checked by hand",
        "undo started: `rollback web`",
        "undone",
        "undo failed: proxy admin socket",
        "rollback started",
        "rollback done",
    ] {
        assert!(md.contains(words), "the Markdown lacks {words:?}");
    }
    // `done` ends a run that succeeded, so it has a run of its own.
    let mut done = events()[..9].to_vec();
    done.push(PlanEvent { id: 99, kind: "done".into(), step: "-".into(), ..done[0].clone() });
    let mut run = run_of(&done);
    run.status = "done".into();
    assert!(render_with(&done, &run, Format::Markdown).contains("done: every step succeeded"));
    // An event kind this file does not know still shows, with its detail.
    let mut odd = events()[..2].to_vec();
    odd.push(PlanEvent { id: 98, kind: "paused".into(), detail: json!({"until_ms": T0 + HOUR}), ..odd[1].clone() });
    let odd_md = render_with(&odd, &run_of(&odd), Format::Markdown);
    assert!(odd_md.contains("`paused` until ms: 2026-12-01 18:04:05Z"), "{odd_md}");
    // The evidence of each operation shows in its known shape.
    for words in [
        "Restore time (RTO)",
        "41s",
        "`ab12cd34` 2026-12-01T16:00:00+00:00",
        "newer than snapshot",
        "700.0 MiB in 4m 8s",
        "equal: 3 tables",
        "10.11.6-MariaDB",
        "`dms/web:1.9` in `dms-web-1`",
        "214 requests, 0 errors",
        "no GPU on this host",
        "288 of 288 five-minute buckets, 17280 results",
        "Exit code:** 255",
        "ssh: connect to host old port 22: Connection refused",
        "drill #4 of main passed at 2026-12-01 17:06:05Z, RTO 41s, snapshot `ab12cd34`",
        "no run of smoke suite smoke is recorded; fix: `tug smoke smoke`",
        "copy succeeded at 2026-12-01 17:10:17Z",
        "Audit chain head (the chain verified intact): `3f7a0c9e",
    ] {
        assert!(md.contains(words), "the Markdown lacks {words:?}");
    }
    assert!(html.contains("<span class=\"st bad\">blocked</span>"));
}

/// The positions of the step bars in the SVG: (step, x, width).
fn bars(svg: &str) -> Vec<(String, f64, f64)> {
    let attr = |tag: &str, name: &str| -> String {
        let start = tag.find(&format!(" {name}=\"")).map(|i| i + name.len() + 3).unwrap();
        tag[start..].split('"').next().unwrap().to_string()
    };
    svg.split("<rect class=\"bar ")
        .skip(1)
        .map(|tag| {
            let tag = tag.split('>').next().unwrap();
            (attr(tag, "data-step"), attr(tag, "x").parse().unwrap(), attr(tag, "width").parse().unwrap())
        })
        .collect()
}

#[test]
fn a_day_long_watch_does_not_squash_the_short_steps() {
    let (_, html) = both();
    let bars = bars(&html);
    for s in plan().steps.iter().chain(&plan().rollback) {
        assert!(bars.iter().any(|(step, _, _)| step == &s.name), "{} has a bar", s.name);
    }
    for (step, _, w) in &bars {
        assert!(*w >= MIN_BAR, "{step}'s bar is {w} px wide");
    }
    let start = |name: &str| bars.iter().find(|(s, _, _)| s == name).map(|(_, x, _)| *x).unwrap();
    // The steps of the first ten minutes spread out instead of sharing a few pixels.
    assert!(start("copy") - start("drill-main") > 20.0, "{bars:?}");
    assert!(start("smoke") - start("freeze") > 20.0, "{bars:?}");
    assert!(
        start("soak") - start("drill-main") > 760.0 / 4.0,
        "the first 12 minutes get a quarter of the axis: {bars:?}"
    );
    let soak = bars.iter().find(|(s, _, _)| s == "soak").unwrap();
    assert!(soak.2 < 200.0, "the 24 h window is cut short: {soak:?}");
    assert!(
        html.contains("class=\"cut\"") && html.contains("24h 5m cut from the axis"),
        "the cut is shown and labelled"
    );
}

#[test]
fn the_scale_is_linear_until_a_long_gap_is_cut() {
    let s = Scale::new(&[0, 10_000, 20_000, 40_000], 100.0, 500.0);
    assert_eq!((s.x(0), s.x(10_000), s.x(40_000)), (100.0, 200.0, 500.0), "no gap under a minute is cut");
    // Four minutes among six are not cut either: they keep their proportion.
    let s = Scale::new(&[0, 120_000, 360_000], 0.0, 600.0);
    assert_eq!(s.x(120_000), 200.0);
    // A day among minutes is: the minutes get the width, the day a band.
    let day = 86_400_000;
    let s = Scale::new(&[0, 60_000, 120_000, 120_000 + day, 180_000 + day], 0.0, 1000.0);
    let minute = s.x(60_000) - s.x(0);
    assert!(minute > 300.0, "a minute is {minute} px");
    assert!(s.x(120_000 + day) - s.x(120_000) < 100.0);
    assert!(s.x(day / 2 + 120_000) > s.x(120_000) && s.x(day / 2 + 120_000) < s.x(120_000 + day), "monotonic");
    // One instant, or none, still gives an axis.
    assert_eq!(Scale::new(&[5], 0.0, 100.0).x(5), 0.0);
    assert_eq!(Scale::new(&[], 0.0, 100.0).x(0), 0.0);
}

#[test]
fn an_unfinished_run_draws_to_when_the_report_was_made() {
    let events: Vec<PlanEvent> = events().into_iter().take(8).collect();
    let mut run = run_of(&events);
    (run.status, run.finished_ms) = ("active".into(), None);
    let html = render_with(&events, &run, Format::Html);
    let md = render_with(&events, &run, Format::Markdown);
    assert!(md.contains("**Finished:** not finished") && md.contains("started, not finished"));
    let copy = bars(&html).into_iter().find(|(s, _, _)| s == "copy").unwrap();
    assert!(
        html.contains("bar open") && copy.1 + copy.2 > 900.0,
        "the running copy reaches the report's time: {copy:?}"
    );
    assert!(md.contains("Nothing was undone or rolled back in this run."), "no rollback happened");
}

#[test]
fn durations_and_escaping_helpers() {
    let cases = [
        (340, "340ms"),
        (1_234, "1.2s"),
        (42_000, "42s"),
        (252_000, "4m 12s"),
        (240_000, "4m"),
        (11_100_000, "3h 5m"),
        (0, "0s"),
        (86_400_000, "24h"),
        (87_000_000, "24h 10m"),
        (300_000_000, "3d 11h"),
    ];
    for (ms, text) in cases {
        assert_eq!(duration_text(ms), text);
    }
    assert_eq!(escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
}

#[test]
fn a_run_blocked_at_its_first_gate_renders() {
    let events: Vec<PlanEvent> = events().into_iter().filter(|e| e.kind == "run_started").collect();
    let mut blocked = events[0].clone();
    blocked.kind = "blocked".into();
    blocked.step = "drill-main".into();
    blocked.detail = Value::String("not JSON: the store keeps such a detail as text".into());
    let events = vec![events[0].clone(), blocked];
    let mut run = run_of(&events);
    (run.status, run.finished_ms) = ("active".into(), None);
    for format in [Format::Markdown, Format::Html] {
        let out = render_with(&events, &run, format);
        assert!(out.contains("blocked") && out.contains("not run"), "{out}");
    }
    let nothing = render_with(&[], &run, Format::Html);
    assert!(nothing.contains("<svg") && nothing.contains("No approvals were recorded"));
}
