//! `tug plan` end to end: a cutover of a real MariaDB (two scratch servers) with a backup, a restore drill,
//! a migration with parity, smoke checks against a local HTTP service, approvals, a `run` step with undo
//! that edits the file standing in for the proxy route, a `tug` killed mid-step, a failing check after the
//! switch and the rollback that restores the route — and the whole story in `tug audit log --plan`.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tugboat::db::scratch::ScratchServer;
use tugboat::db::Engine;

use crate::backups::{mariadb_shop, REPO_PW};
use crate::util::{wait_for, Fixture, Run};

/// An HTTP service whose every answer has the status the test sets: the application behind the route.
struct Service {
    port: u16,
    status: Arc<AtomicU16>,
}

impl Service {
    fn start() -> Service {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let status = Arc::new(AtomicU16::new(200));
        let answer = Arc::clone(&status);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let answer = Arc::clone(&answer);
                std::thread::spawn(move || {
                    let mut stream = stream;
                    let mut buf = [0u8; 4096];
                    let _ = stream.read(&mut buf);
                    let code = answer.load(Ordering::SeqCst);
                    let body = if code == 200 { "{\"status\":\"ok\"}" } else { "{\"status\":\"down\"}" };
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                });
            }
        });
        Service { port, status }
    }

    fn set(&self, code: u16) {
        self.status.store(code, Ordering::SeqCst);
    }
}

const CUTOVER: &str = r#"description: "rehearsal: old -> new with a route switch"
steps:
  - { name: fresh-backup, backup: { sources: [old] } }
  - { name: fresh-drill, drill: { sources: [old] } }
  - { name: copy, migrate: { source: old, target: new, replace: true }, gates: { drill_passed_within: 24h } }
  - { name: pre-smoke, smoke: {} }
  - { name: approve-freeze, approve: { note: "freeze writes on the old host" } }
  - { name: freeze-writes, run: "./freeze.sh", undo: "./thaw.sh" }
  - name: switch-route
    run: "./switch.sh new"
    undo: "./switch.sh old"
    gates: { parity_equal: { source: old, target: new, within: 1h }, approved_by: 2, smoke_passed_within: 15m }
  - { name: check-live, smoke: {} }
  - { name: stabilise, watch: { suite: smoke, for: 1s, every: 200ms } }
rollback:
  - { name: route-back, run: "./switch.sh old", undo: none, why: "the route is the only thing changed" }
"#;

/// Only the migration, gated on a fresh drill.
const COPY_ONLY: &str =
    "steps:\n  - { name: copy, migrate: { source: old, target: new, replace: true }, gates: { drill_passed_within: 24h } }\n";

fn stack(old: &ScratchServer, new: &ScratchServer, service: &Service) -> Fixture {
    let f = Fixture::new();
    f.write(
        "tugboat.yml",
        &format!(
            "stack: shop
databases:
  old: {{ kind: mariadb, url: \"mysql://root@127.0.0.1:{}/shop\" }}
  new: {{ kind: mariadb, url: \"mysql://root@127.0.0.1:{}/shop\" }}
backup:
  repository: ./repo
  password_env: REPO_PW
  sources: [ {{ database: old }} ]
checks:
  smoke:
    - {{ name: app, http: \"http://127.0.0.1:{}/health\", expect: [\"[STATUS] == 200\", \"[BODY].status == ok\"] }}
",
            old.port(),
            new.port(),
            service.port
        ),
    );
    f.write("compose.yaml", "services:\n  app:\n    image: shop:1.0\n");
    f.write(".env", &format!("REPO_PW={REPO_PW}\n"));
    f.write("route", "old\n");
    // The proxy route as a file: what `switch.sh` changes and its undo restores.
    f.write(
        "switch.sh",
        "#!/bin/sh\necho \"$1\" > route\necho \"route -> $1 (step $TUG_STEP of run $TUG_PLAN_RUN)\"\n",
    );
    // Freezing writes takes as long as `hold` exists, so the test can kill tug inside the step.
    f.write(
        "freeze.sh",
        "#!/bin/sh\necho frozen >> writes.log\ntouch freezing\nwhile [ -f hold ]; do sleep 0.05; done\n",
    );
    f.write("thaw.sh", "#!/bin/sh\necho thawed >> writes.log\n");
    for script in ["switch.sh", "freeze.sh", "thaw.sh"] {
        let status = std::process::Command::new("chmod").args(["+x", &f.join(script).display().to_string()]).status();
        assert!(status.unwrap().success());
    }
    f.write("plans/cutover.yml", CUTOVER);
    f.write("plans/copy-only.yml", COPY_ONLY);
    f
}

fn plan(f: &Fixture, args: &[&str]) -> Run {
    f.tug().arg("plan").args(args).run()
}

fn state(f: &Fixture, sql: &str) {
    let db = rusqlite::Connection::open(f.join(".tugboat/state.db")).unwrap();
    db.execute_batch(sql).unwrap();
}

fn step<'a>(show: &'a Value, name: &str) -> &'a Value {
    show["steps"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("no step {name}"))
}

#[test]
fn a_cutover_plan_end_to_end() {
    let old = mariadb_shop();
    let new = ScratchServer::start(Engine::Mariadb).unwrap();
    new.create_database("shop").unwrap();
    let service = Service::start();
    let f = stack(&old, &new, &service);
    f.tug().args(["backup", "init"]).run().success();

    // Both plans validate; the cutover's first step is next, its gates not yet evaluated against a run.
    plan(&f, &["show"]).success().stdout_contains("cutover  9 steps, 1 rollback steps");
    let show = plan(&f, &["show", "cutover", "--json"]);
    show.success();
    assert_eq!(show.json()["next"], "fresh-backup");
    assert!(show.json()["run"].is_null());

    // A stale drill blocks the migration, naming the drill, its age and the command that refreshes it.
    let run = plan(&f, &["run", "copy-only"]);
    run.failure(1).stdout_contains("step copy is blocked by drill_passed_within: no drill is recorded");
    run.stdout_contains("next: tug drill");
    f.tug().arg("backup").run().success();
    f.tug().args(["drill", "old"]).run().success();
    state(&f, "UPDATE drill_runs SET time_ms = time_ms - 25 * 3600 * 1000");
    let run = plan(&f, &["run", "copy-only", "--json"]);
    run.failure(1);
    let report = run.json();
    assert_eq!(report["stop"], "blocked");
    let reason = report["gates"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("passed 25h 0m ago: older than 1d"), "{reason}");
    assert_eq!(report["gates"][0]["evidence"]["source"], "old");
    assert_eq!(count(&new, "orders"), None, "nothing was copied");
    f.tug().args(["drill", "old"]).run().success();
    plan(&f, &["run", "copy-only"]).success().stdout_contains("done copy (migrate)");
    assert_eq!(count(&new, "orders"), Some(3000));

    // The cutover: backup, drill, copy and smoke run, then the approval stops it (exit 1, what to run).
    let run = plan(&f, &["run", "cutover"]);
    run.failure(1)
        .stdout_contains("awaiting approval (run #2): step approve-freeze needs approval (0 of 1): freeze writes");
    run.stdout_contains("next: tug approve cutover approve-freeze --as NAME");
    for s in ["fresh-backup", "fresh-drill", "copy", "pre-smoke"] {
        run.stdout_contains(&format!("done {s}"));
    }
    // A dry run shows where it stands and changes nothing.
    plan(&f, &["run", "cutover", "--dry-run"]).success().stdout_contains("step approve-freeze needs approval (0 of 1)");
    f.tug()
        .args(["approve", "cutover", "approve-freeze", "--as", "alice", "--note", "writes frozen at 14:02"])
        .run()
        .success()
        .stdout_contains("alice approved step approve-freeze");
    f.tug()
        .args(["approve", "cutover", "approve-freeze", "--as", "alice"])
        .run()
        .failure(2)
        .stderr_contains("already approved");

    // tug killed inside freeze-writes (a command that cannot safely run twice): the next run asks.
    f.write("hold", "");
    let running = f.tug().args(["plan", "run", "cutover"]).spawn();
    wait_for("freeze.sh to start", Duration::from_secs(120), || f.join("freezing").exists());
    // One run at a time: a second `tug plan run` names the owner and does nothing.
    plan(&f, &["run", "cutover"])
        .failure(3)
        .stderr_contains("plan cutover is being run by")
        .stderr_contains("one run at a time");
    running.signal("KILL");
    let (code, _) = running.wait();
    assert_eq!(code, None, "killed");
    std::fs::remove_file(f.join("hold")).unwrap();
    let run = plan(&f, &["run", "cutover"]);
    run.failure(1).stdout_contains("step freeze-writes was interrupted mid-way and cannot safely run twice");
    run.stdout_contains("tug plan resolve cutover freeze-writes --succeeded");
    plan(&f, &["resolve", "cutover", "switch-route", "--succeeded"]).failure(2).stderr_contains("not interrupted");
    plan(&f, &["resolve", "cutover", "freeze-writes", "--succeeded", "--note", "writes.log says frozen"]).success();
    assert_eq!(f.read("writes.log"), "frozen\n", "freeze-writes ran once");

    // The switch needs a second person: alice's approval of approve-freeze is one of two.
    let run = plan(&f, &["run", "cutover"]);
    run.failure(1)
        .stdout_contains("step switch-route is blocked by approved_by: 1 of 2 approvals recorded in this run");
    assert_eq!(f.read("route"), "old\n");
    f.tug().args(["approve", "cutover", "switch-route", "--as", "bob"]).run().success();

    // The switch happens; the application then fails its check: the step fails, the route stays switched.
    service.set(503);
    let run = plan(&f, &["run", "cutover"]);
    run.failure(1).stdout_contains("done switch-route").stdout_contains("FAILED check-live (smoke)");
    assert_eq!(f.read("route"), "new\n");
    let show = plan(&f, &["show", "cutover", "--json"]).json();
    assert_eq!(step(&show, "check-live")["state"]["status"], "failed");
    assert_eq!(step(&show, "switch-route")["approvals"][0]["person"], "bob");

    // Rollback: the undos newest first (route back, writes thawed), then the rollback section.
    let dry = plan(&f, &["rollback", "cutover", "--dry-run"]);
    dry.success().stdout_contains("undo     switch-route: run ./switch.sh old").stdout_contains("rollback route-back");
    assert_eq!(f.read("route"), "new\n", "a dry run changes nothing");
    plan(&f, &["rollback", "cutover"]).success().stdout_contains("rolled back run #2");
    assert_eq!(f.read("route"), "old\n");
    assert_eq!(f.read("writes.log"), "frozen\nthawed\n");
    plan(&f, &["run", "cutover"]).failure(2).stderr_contains("is rolled back").stderr_contains("--new");

    // A second run, the application healthy: to the end.
    service.set(200);
    plan(&f, &["run", "cutover", "--new"]).failure(1).stdout_contains("awaiting approval (run #3)");
    f.tug().args(["approve", "cutover", "approve-freeze", "--as", "alice"]).run().success();
    f.tug().args(["approve", "cutover", "switch-route", "--as", "bob"]).run().success();
    let run = plan(&f, &["run", "cutover"]);
    run.success().stdout_contains("done stabilise (watch)").stdout_contains("every step succeeded (run #3)");
    assert_eq!(f.read("route"), "new\n");

    // The cutover as one story in the audit log: every action, tagged with its run; the chain intact.
    let log = f.tug().args(["audit", "log", "--plan", "cutover", "--json"]).run();
    log.success();
    let events = log.json().as_array().unwrap().clone();
    let commands: std::collections::BTreeSet<&str> = events.iter().map(|e| e["command"].as_str().unwrap()).collect();
    for c in [
        "plan run",
        "backup",
        "drill",
        "migrate",
        "smoke",
        "approve",
        "plan command",
        "plan resolve",
        "plan rollback",
        "plan undo",
        "plan watch",
    ] {
        assert!(commands.contains(c), "no {c} event in {commands:?}");
    }
    assert!(events.iter().all(|e| e["params"]["plan_run"]["plan"] == "cutover"), "every event is tagged");
    let copy = events.iter().find(|e| e["command"] == "migrate" && e["params"]["plan_run"]["run"] == 3).unwrap();
    assert_eq!(copy["params"]["plan_run"]["step"], "copy");
    f.tug().args(["audit", "verify"]).run().success();
    assert!(!log.stdout().contains(REPO_PW));

    // The cutover record: Markdown and HTML with the evidence and the people.
    let md = plan(&f, &["report", "cutover", "--format", "markdown"]);
    md.success().stdout_contains("switch-route").stdout_contains("alice").stdout_contains("bob");
    plan(&f, &["report", "cutover", "--run", "2", "--format", "markdown"]).success().stdout_contains("route-back");
    plan(&f, &["report", "cutover", "-o", "cutover.html"]).success();
    let html = f.read("cutover.html");
    assert!(html.contains("<svg") && html.contains("stabilise") && !html.contains("<script"), "{html}");
}

fn count(server: &ScratchServer, table: &str) -> Option<i64> {
    let out = server.query(Some("shop"), &format!("SELECT COUNT(*) FROM {table}")).ok()?;
    out.trim().lines().last()?.trim().parse().ok()
}

#[test]
fn ctrl_c_stops_a_step_which_then_runs_again_and_bad_plans_are_refused_before_anything_runs() {
    let f = Fixture::new();
    f.write("tugboat.yml", "stack: shop\n");
    f.write("compose.yaml", "services:\n  app:\n    image: shop:1.0\n");
    f.write("wait.sh", "#!/bin/sh\necho started >> wait.log\nwhile [ -f hold ]; do sleep 0.05; done\n");
    let status = std::process::Command::new("chmod").args(["+x", &f.join("wait.sh").display().to_string()]).status();
    assert!(status.unwrap().success());

    // Unknown step kinds, a run without undo, a gate on a later step: all at their lines, nothing run.
    f.write(
        "plans/bad.yml",
        "steps:\n  - { name: a, run: ./a.sh }\n  - { name: b, restart: { service: app } }\n  - { name: c, run: ./c.sh, undo: none, why: x, gates: { step_succeeded: d } }\n  - { name: d, run: ./d.sh, undo: none, why: y }\n",
    );
    for args in [&["plan", "show", "bad"][..], &["plan", "run", "bad"]] {
        let run = f.tug().args(args).run();
        run.failure(2)
            .stderr_contains("plans/bad.yml:2:5: steps[0].undo: a `run` step needs `undo:`")
            .stderr_contains("plans/bad.yml:3:16: steps[1].restart: unknown step kind `restart`")
            .stderr_contains("steps[2].gates.step_succeeded: step `c` waits for `d`, which comes after it");
    }
    f.tug()
        .args(["plan", "show", "nope"])
        .run()
        .failure(2)
        .stderr_contains("no plan `nope`")
        .stderr_contains("(plans: bad)");
    assert!(!f.join(".tugboat").exists(), "nothing was written");

    // Ctrl-C inside an idempotent step: the command is stopped, both events say interrupted, and the next
    // run runs the step again.
    f.write(
        "plans/hold.yml",
        "steps:\n  - { name: wait, run: ./wait.sh, undo: none, why: \"only waits\", idempotent: true }\n",
    );
    f.write("hold", "");
    let running = f.tug().args(["plan", "run", "hold"]).spawn();
    wait_for("wait.sh to start", Duration::from_secs(120), || f.join("wait.log").exists());
    running.signal("INT");
    let (code, stderr) = running.wait();
    assert_eq!(code, Some(130), "{stderr}");
    let events = crate::util::audit_events(|| f.tug());
    let outcomes: Vec<(&str, &str)> =
        events.iter().map(|e| (e["command"].as_str().unwrap(), e["outcome"].as_str().unwrap())).collect();
    assert_eq!(outcomes, [("plan command", "interrupted"), ("plan run", "interrupted")]);
    std::fs::remove_file(f.join("hold")).unwrap();
    plan(&f, &["run", "hold"]).success().stdout_contains("done wait (run)");
    assert_eq!(f.read("wait.log"), "started\nstarted\n");
}
