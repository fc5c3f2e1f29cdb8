//! The HTML cutover record in a real browser (Debian's Chromium, headless): the browser's DOM has the
//! timeline, every step and the approver, and a screenshot at 1280 px wide lands in target/plan-report.png
//! to look at.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Duration;

use serde_json::json;
use tugboat::stack::probes::HumanDuration;
use tugboat::store::{AuditEvent, Outcome, PlanEvent, PlanRun};
use tugboat_plan::file::{Action, Gate, Plan, Step, Undo};
use tugboat_plan::report::{render, Format, Record};

/// 2026-12-01 17:04:05Z.
const T0: i64 = 1_796_144_645_000;
const MIN: i64 = 60_000;

fn step(name: &str, action: Action, gates: Vec<Gate>) -> Step {
    Step { name: name.into(), action, gates, at: "plans/cutover.yml:3:5".into() }
}

fn plan() -> Plan {
    let day = HumanDuration(Duration::from_secs(86_400));
    Plan {
        name: "cutover".into(),
        path: "plans/cutover.yml".into(),
        digest: "9c1185a5c5e9fc54612808977ee8f548b2258d31e3b2a0c3c2a4d6a0f5e6d7c8".into(),
        description: Some("Move the DMS to new-host".into()),
        steps: vec![
            step("drill-main", Action::Drill { sources: vec!["main".into()], deep: false }, vec![]),
            step("go-ahead", Action::Approve { note: Some("freeze writes".into()), count: 1 }, vec![]),
            step(
                "switch",
                Action::Run {
                    command: "./switch.sh new && echo '<script>alert(1)</script>'".into(),
                    undo: Undo::Command { command: "./switch.sh old".into() },
                    idempotent: false,
                    timeout: None,
                },
                vec![Gate::ApprovedBy { count: 1 }],
            ),
            step("soak", Action::Watch { suite: "monitor".into(), window: day, every: None }, vec![]),
            step(
                "decommission-the-old-database-host",
                Action::Run {
                    command: "./decommission.sh".into(),
                    undo: Undo::None { why: "kept a week".into() },
                    idempotent: false,
                    timeout: None,
                },
                vec![Gate::WatchCleanFor { suite: None, window: day }],
            ),
        ],
        rollback: vec![],
    }
}

fn events() -> Vec<PlanEvent> {
    let ops = "ops@old-host";
    let drill = json!({"operation": "drill", "report": {"ok": true, "drills": [{"source": "main", "kind": "mariadb", "ok": true,
        "snapshot": {"short_id": "ab12cd34", "time": "2026-12-01T16:00:00+00:00"}, "restore_ms": 41_234,
        "tables": [{"table": "documents", "verdict": "equal", "restored_rows": 120_331, "snapshot_rows": 120_331, "live_rows": 120_331}]}]}});
    let gate = json!({"gates": [{"gate": "approved_by", "requirement": "approved by 1 person", "ok": true,
        "evidence": {"approvers": [{"person": "alice", "time_ms": T0 + 3 * MIN, "note": "go"}]}, "reason": null, "fix": null}]});
    let command = json!({"operation": "plan command", "report": {"command": "./switch.sh new && echo '<script>alert(1)</script>'",
        "exit_code": 0, "duration_ms": 2100, "output": "switched to new-host\n", "timed_out": false}});
    let so_far = json!({"suite": "monitor", "since_ms": T0 + 5 * MIN, "until_ms": T0 + 6 * 60 * MIN, "buckets": 60,
        "buckets_expected": 60, "results": 3600, "failed": 0, "alerts": 0, "problem": null});
    let list = [
        (T0, "-", "run_started", ops, json!({"digest": "9c1185a5c5e9"})),
        (T0 + 1_000, "drill-main", "started", ops, json!({"action": "drill main"})),
        (T0 + 43_000, "drill-main", "succeeded", ops, json!({"evidence": drill})),
        (T0 + 43_100, "go-ahead", "awaiting_approval", ops, json!({"need": 1, "have": 0, "note": "freeze writes"})),
        (T0 + 3 * MIN, "go-ahead", "approved", "alice", json!({"note": "go & good luck", "by": "alice@laptop"})),
        (
            T0 + 4 * MIN,
            "go-ahead",
            "succeeded",
            ops,
            json!({"evidence": {"operation": "approve", "report": {"approvers": []}}}),
        ),
        (T0 + 4 * MIN + 100, "switch", "gates_passed", ops, gate),
        (T0 + 4 * MIN + 200, "switch", "started", ops, json!({"action": "run ./switch.sh new"})),
        (T0 + 4 * MIN + 2_300, "switch", "succeeded", ops, json!({"evidence": command})),
        (T0 + 5 * MIN, "soak", "started", ops, json!({"action": "watch monitor for 24h"})),
        (
            T0 + 6 * 60 * MIN,
            "soak",
            "waiting",
            ops,
            json!({"until_ms": T0 + 24 * 60 * MIN + 5 * MIN, "so_far": so_far}),
        ),
    ];
    list.into_iter()
        .enumerate()
        .map(|(i, (time_ms, step, kind, actor, detail))| PlanEvent {
            id: i as i64 + 1,
            run_id: 7,
            time_ms,
            step: step.into(),
            kind: kind.into(),
            actor: actor.into(),
            detail,
        })
        .collect()
}

fn find_chromium() -> &'static str {
    ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()))
        .expect("install Chromium (apt-get install chromium) for the plan report's browser test")
}

#[test]
fn the_html_report_renders_in_a_headless_browser() {
    let chromium = find_chromium();
    let (plan, events) = (plan(), events());
    let run = PlanRun {
        id: 7,
        stack: "dms".into(),
        plan: "cutover".into(),
        digest: plan.digest.clone(),
        started_by: "ops@old-host".into(),
        started_ms: T0,
        finished_ms: None,
        status: "active".into(),
    };
    let audit = vec![AuditEvent {
        seq: 12,
        time: String::new(),
        time_ms: T0 + 43_000,
        actor: "ops@old-host".into(),
        command: "drill".into(),
        stack: "dms".into(),
        config_digest: "c0ffee".into(),
        params: json!({}),
        outcome: Outcome::Ok,
        prev_hash: "0".repeat(64),
        hash: "7".repeat(64),
    }];
    let record = Record {
        plan: &plan,
        run: &run,
        events: &events,
        audit: &audit,
        audit_head: None,
        generated_ms: T0 + 7 * 60 * MIN,
    };
    let html = render(&record, Format::Html);

    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("plan-report.html");
    std::fs::write(&page, &html).unwrap();
    let url = format!("file://{}", page.display());
    let profile = tempfile::tempdir().unwrap();
    let browser = |args: &[&str]| {
        let out = Command::new(chromium)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(args)
            .arg(&url)
            .output()
            .unwrap();
        assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    let dom = String::from_utf8(browser(&["--dump-dom"])).unwrap();
    assert!(dom.contains("<svg") && dom.contains("role=\"img\""), "the DOM lacks the timeline:\n{dom}");
    for s in &plan.steps {
        assert!(dom.contains(&s.name), "the DOM lacks step {}:\n{dom}", s.name);
    }
    for needle in ["alice", "go &amp; good luck", "&lt;script&gt;alert(1)&lt;/script&gt;", "waiting", "6h 55m"] {
        assert!(dom.contains(needle), "the DOM lacks {needle}:\n{dom}");
    }
    assert!(!dom.contains("<script"), "no script ran or was parsed from the inputs");

    let png = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().join("plan-report.png");
    let _ = std::fs::remove_file(&png);
    browser(&[&format!("--screenshot={}", png.display()), "--window-size=1280,2200"]);
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    assert_eq!(width, 1280, "rendered 1280 px wide");
    assert!(bytes.len() > 20_000, "the page has content ({} bytes)", bytes.len());
}
