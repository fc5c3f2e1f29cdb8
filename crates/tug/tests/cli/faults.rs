//! The real `tug` binary killed (SIGKILL) or stopped (SIGTERM) at seeded random points of `backup`, `drill`,
//! `migrate`, `restore` and `plan run`, then the invariants: the repository passes `restic check --read-data`
//! and every earlier snapshot restores byte-identical; no run is recorded as succeeded that did not succeed; the
//! state database opens and `tug audit verify` passes; a migration target is complete or marked incomplete; no
//! scratch server outlives its `tug`; and the next run succeeds without repair.
//!
//! `TUG_FAULT_POINTS` (default 20 per command) and `TUG_FAULT_SEED` set the schedule; `bench/faults/run.sh` runs
//! the long version. Where a kill lands depends on the machine's load; every invariant must hold wherever it does.

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tugboat::db::scratch::ScratchServer;
use tugboat::db::Engine;

use crate::backups::{mariadb_shop, restic, snapshots, stack, tags_of};
use crate::util::{Fixture, Run};

/// xorshift64*: a seeded schedule, the same on every machine.
struct Schedule(u64);

impl Schedule {
    fn new(salt: u64) -> Schedule {
        let seed = std::env::var("TUG_FAULT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x7a6b_5c4d_3e2f_1a0b);
        Schedule((seed ^ salt).max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A point in `[0, span)`.
    fn point(&mut self, span: Duration) -> Duration {
        let ms = span.as_millis().max(1) as u64;
        Duration::from_millis(self.next() % ms)
    }
}

fn points() -> usize {
    std::env::var("TUG_FAULT_POINTS").ok().and_then(|s| s.parse().ok()).unwrap_or(20)
}

/// How a faulted run ended.
#[derive(Debug, PartialEq)]
enum Ended {
    /// It finished before the signal (exit code).
    Finished(i32),
    Killed,
    /// Stopped by SIGTERM: its exit code.
    Stopped(Option<i32>),
}

/// Runs `tug ARGS`, sends `signal` after `after`, and says how it ended; the pid, for leftovers.
fn fault(f: &Fixture, args: &[&str], after: Duration, signal: &str) -> (Ended, u32) {
    let child = f.tug().args(args).spawn();
    let pid = child.child.id();
    let start = Instant::now();
    let mut child = child;
    // Sleep to the fault point, but notice an early exit (it may finish first).
    loop {
        if let Ok(Some(status)) = child.child.try_wait() {
            return (Ended::Finished(status.code().unwrap_or(-1)), pid);
        }
        if start.elapsed() >= after {
            break;
        }
        std::thread::sleep(Duration::from_millis(5).min(after.saturating_sub(start.elapsed())));
    }
    child.signal(signal);
    let (code, _) = child.wait();
    let ended = match (signal, code) {
        ("KILL", None) => Ended::Killed,
        ("KILL", Some(c)) => Ended::Finished(c),
        (_, code) => Ended::Stopped(code),
    };
    (ended, pid)
}

/// How long a command takes here, unfaulted: the span the fault points are drawn from.
fn timed(f: &Fixture, args: &[&str]) -> Duration {
    let start = Instant::now();
    f.tug().args(args).run().success();
    start.elapsed()
}

fn sql(f: &Fixture, query: &str) -> i64 {
    let db = rusqlite::Connection::open(f.join(".tugboat/state.db")).expect("the state database opens after a kill");
    db.query_row(query, [], |r| r.get(0)).unwrap()
}

/// The JSON column of every row `query` returns.
fn rows(f: &Fixture, query: &str) -> Vec<serde_json::Value> {
    let db = rusqlite::Connection::open(f.join(".tugboat/state.db")).unwrap();
    let mut stmt = db.prepare(query).unwrap();
    let texts: Vec<String> = stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
    texts.iter().map(|t| serde_json::from_str(t).unwrap()).collect()
}

fn audit_intact(f: &Fixture) {
    f.tug().args(["audit", "verify"]).run().success().stdout_contains("chain intact");
}

/// After the next command, no operation is left open: a killed run's event was written, as `aborted`, by
/// the command that followed it (at most one per killed run).
fn no_operation_left_open(f: &Fixture, killed: usize) {
    assert_eq!(sql(f, "SELECT COUNT(*) FROM open_operations"), 0, "an operation is still open");
    let abandoned = sql(f, "SELECT COUNT(*) FROM audit_events WHERE params LIKE '%\"abandoned\"%'");
    assert!(abandoned as usize <= killed, "{abandoned} abandoned events for {killed} killed runs");
}

/// No scratch server of the killed `tug` is left running, and its directory is gone.
fn no_scratch_left(pid: u32) {
    let marker = format!("tug-scratch-mariadb-{pid}-");
    let left = || {
        let running: Vec<String> = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let cmdline = String::from_utf8_lossy(&std::fs::read(e.path().join("cmdline")).unwrap_or_default())
                    .replace('\0', " ");
                cmdline.contains(&marker).then(|| format!("{}: {cmdline}", e.file_name().to_string_lossy()))
            })
            .collect();
        let dirs: Vec<String> = std::fs::read_dir("/tmp")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&marker))
            .collect();
        (running, dirs)
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (running, dirs) = left();
        if running.is_empty() && dirs.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "a killed tug left scratch servers {running:?} or directories {dirs:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn sha(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// What the first snapshot of each source holds, to compare after every fault.
fn snapshot_digests(f: &Fixture) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for s in snapshots(f) {
        let id = s["id"].as_str().unwrap().to_string();
        let kind = tags_of(&s).into_iter().find(|t| t.starts_with("kind=")).unwrap_or_default();
        let path = match kind.as_str() {
            "kind=database" => s["paths"][0].as_str().unwrap().to_string(),
            _ => continue,
        };
        let dump = restic(f, &["dump", &id, &path]);
        out.push((id, sha(&dump.stdout)));
    }
    out
}

/// Ours first: like restic's own commands after a crash (`restic unlock`), it removes the dead process's lock on
/// this host; restic 0.14 itself refuses any lock, stale or not.
fn repository_sound(f: &Fixture, digests: &[(String, String)]) {
    f.tug().args(["backup", "check", "--read-data"]).run().success();
    restic(f, &["check", "--read-data"]);
    for (id, digest) in digests {
        let path = snapshots(f).into_iter().find(|s| s["id"] == id.as_str()).expect("an earlier snapshot survives")
            ["paths"][0]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(&sha(&restic(f, &["dump", id, &path]).stdout), digest, "snapshot {id} restores byte-identical");
    }
}

#[test]
fn backup_killed_anywhere_keeps_the_repository_and_the_record_true() {
    let server = mariadb_shop();
    let f = stack(&server, "");
    f.tug().args(["backup", "init"]).run().success();
    let span = timed(&f, &["backup"]).mul_f64(1.3);
    let digests = snapshot_digests(&f);
    let mut schedule = Schedule::new(1);
    let (mut ok_runs, mut killed) = (1, 0);
    for _ in 0..points() {
        let (ended, _) = fault(&f, &["backup"], schedule.point(span), "KILL");
        match ended {
            Ended::Finished(0) => ok_runs += 1,
            Ended::Killed => killed += 1,
            other => panic!("backup ended {other:?}"),
        }
        repository_sound(&f, &digests);
        // A run recorded as succeeded has its snapshots in the repository (a kill after the record is a real
        // success); one that finished is recorded.
        let ids: Vec<String> = snapshots(&f).iter().map(|s| s["id"].as_str().unwrap().to_string()).collect();
        for report in rows(&f, "SELECT report FROM backup_runs WHERE ok = 1") {
            for source in report["sources"].as_array().unwrap() {
                let id = source["snapshot"]["id"].as_str().expect("a succeeded source has a snapshot");
                assert!(ids.iter().any(|i| i.starts_with(id)), "recorded snapshot {id} is not in the repository");
            }
        }
        assert!(sql(&f, "SELECT COUNT(*) FROM backup_runs WHERE ok = 1") >= ok_runs);
        audit_intact(&f);
        // The next run needs no repair (a killed run's lock is stale and taken over).
        f.tug().arg("backup").run().success();
        ok_runs += 1;
        no_operation_left_open(&f, killed);
    }
    assert!(killed > 0, "no fault point landed inside a backup");
    f.tug().args(["backup", "check", "--read-data"]).run().success();
}

#[test]
fn sigterm_mid_backup_and_drill_exits_cleanly_and_tears_down() {
    let server = mariadb_shop();
    let f = stack(&server, "");
    f.tug().args(["backup", "init"]).run().success();
    f.tug().arg("backup").run().success();
    let digests = snapshot_digests(&f);
    let mut schedule = Schedule::new(2);
    for args in [&["backup"][..], &["drill"]] {
        let span = timed(&f, args).mul_f64(1.2);
        for _ in 0..points().div_ceil(4) {
            let events_before = crate::util::audit_events(|| f.tug()).len();
            let (ended, pid) = fault(&f, args, schedule.point(span), "TERM");
            let events = crate::util::audit_events(|| f.tug());
            match ended {
                Ended::Stopped(Some(130)) => {
                    assert_eq!(events.len(), events_before + 1, "one event for the stopped command");
                    assert_eq!(events.last().unwrap()["outcome"], "interrupted", "{:#}", events.last().unwrap());
                }
                Ended::Stopped(Some(0)) | Ended::Finished(0) => {}
                other => panic!("{args:?} ended {other:?}"),
            }
            no_scratch_left(pid);
            repository_sound(&f, &digests);
            audit_intact(&f);
        }
    }
}

#[test]
fn drill_killed_anywhere_records_no_false_pass_and_leaves_no_server() {
    let server = mariadb_shop();
    let f = stack(&server, "");
    f.tug().args(["backup", "init"]).run().success();
    f.tug().arg("backup").run().success();
    let span = timed(&f, &["drill", "main"]).mul_f64(1.2);
    let mut schedule = Schedule::new(3);
    let mut passes = 1;
    for _ in 0..points() {
        let (ended, pid) = fault(&f, &["drill", "main"], schedule.point(span), "KILL");
        if ended == Ended::Finished(0) {
            passes += 1;
        }
        no_scratch_left(pid);
        // A drill is recorded as passed only with its verdicts and its measured restore (a kill after the record
        // is a real pass); one that finished is recorded.
        for report in rows(&f, "SELECT report FROM drill_runs WHERE ok = 1") {
            assert_eq!(report["ok"], true, "{report:#}");
            assert!(report["restore_ms"].as_u64().is_some(), "a passed drill has its restore time: {report:#}");
        }
        assert!(sql(&f, "SELECT COUNT(*) FROM drill_runs WHERE ok = 1") >= passes);
        audit_intact(&f);
    }
    f.tug().args(["drill", "main"]).run().success();
}

#[test]
fn migrate_killed_anywhere_leaves_the_target_complete_or_marked_incomplete() {
    let source = mariadb_shop();
    let target = ScratchServer::start(Engine::Mariadb).unwrap();
    target.create_database("shop").unwrap();
    let f = stack(&source, "");
    let yml = f.read("tugboat.yml").replace(
        "databases:\n",
        &format!("databases:\n  new: {{ kind: mariadb, url: \"mysql://root@127.0.0.1:{}/shop\" }}\n", target.port()),
    );
    f.write("tugboat.yml", &yml);
    let span = timed(&f, &["migrate", "main", "new", "--replace"]).mul_f64(1.3);
    let mut schedule = Schedule::new(4);
    for _ in 0..points() {
        let (ended, _) = fault(&f, &["migrate", "main", "new", "--replace"], schedule.point(span), "KILL");
        let last = {
            let db = rusqlite::Connection::open(f.join(".tugboat/state.db")).unwrap();
            db.query_row("SELECT status FROM migration_runs ORDER BY id DESC LIMIT 1", [], |r| r.get::<_, String>(0))
                .unwrap()
        };
        match (&ended, last.as_str()) {
            (Ended::Finished(0), "ok") => {
                f.tug().args(["parity", "main", "new"]).run().success();
            }
            // Killed mid-copy: the target is known incomplete, and a plain migrate says so.
            (Ended::Killed, "running") => {
                let run = f.tug().args(["migrate", "main", "new", "--dry-run"]).run();
                assert!(run.describe().contains("incomplete") || run.code() == 0, "{}", run.describe());
            }
            // Killed after the copy was recorded done.
            (Ended::Killed, "ok") => {
                f.tug().args(["parity", "main", "new"]).run().success();
            }
            other => panic!("migrate ended {other:?}"),
        }
        audit_intact(&f);
        // The next run needs no repair.
        f.tug().args(["migrate", "main", "new", "--replace"]).run().success();
    }
}

#[test]
fn restore_killed_anywhere_is_repaired_by_the_next_restore() {
    let server = mariadb_shop();
    server.create_database("restored").unwrap();
    let f = stack(&server, "");
    f.tug().args(["backup", "init"]).run().success();
    f.tug().arg("backup").run().success();
    let to = format!("mysql://root@127.0.0.1:{}/restored", server.port());
    let args = ["restore", "main", "--to", to.as_str(), "--force"];
    let span = timed(&f, &args).mul_f64(1.3);
    let digests = snapshot_digests(&f);
    let mut schedule = Schedule::new(5);
    for _ in 0..points() {
        let (ended, _) = fault(&f, &args, schedule.point(span), "KILL");
        assert!(matches!(ended, Ended::Killed | Ended::Finished(0)), "{ended:?}");
        repository_sound(&f, &digests);
        audit_intact(&f);
        f.tug().args(args).run().success();
        f.tug().args(["parity", "main", &to]).run().success();
    }
}

#[test]
fn plan_run_killed_anywhere_resumes_to_the_end() {
    let source = mariadb_shop();
    let target = ScratchServer::start(Engine::Mariadb).unwrap();
    target.create_database("shop").unwrap();
    let f = stack(&source, "");
    let yml = f.read("tugboat.yml").replace(
        "databases:\n",
        &format!("databases:\n  new: {{ kind: mariadb, url: \"mysql://root@127.0.0.1:{}/shop\" }}\n", target.port()),
    );
    f.write("tugboat.yml", &yml);
    f.write(
        "plans/p.yml",
        "steps:
  - { name: snap, backup: { sources: [main] } }
  - { name: prove, drill: { sources: [main] } }
  - { name: copy, migrate: { source: main, target: new, replace: true }, gates: { drill_passed_within: 1h } }
  - { name: mark, run: \"echo done >> marks\", undo: none, why: \"appends a line\", idempotent: true }
",
    );
    f.tug().args(["backup", "init"]).run().success();
    let span = timed(&f, &["plan", "run", "p"]).mul_f64(1.2);
    let mut schedule = Schedule::new(6);
    for _ in 0..points() {
        let (ended, _) = fault(&f, &["plan", "run", "p", "--new"], schedule.point(span), "KILL");
        assert!(matches!(ended, Ended::Killed | Ended::Finished(0)), "{ended:?}");
        audit_intact(&f);
        // Resumed where it was: to the end, with no repair (every step here is idempotent).
        let run: Run = f.tug().args(["plan", "run", "p"]).run();
        let finished_before = run.code() == 2 && run.stderr().contains("--new");
        assert!(run.code() == 0 || finished_before, "{}", run.describe());
        let done = sql(&f, "SELECT COUNT(*) FROM plan_runs WHERE status = 'done'");
        let all = sql(&f, "SELECT COUNT(*) FROM plan_runs");
        assert_eq!(done, all, "every run ends done");
    }
    f.tug().args(["parity", "main", "new"]).run().success();
}

/// A database healthy after two checks and a web service waiting for it: `up` creates networks and a
/// volume, creates and starts containers, and waits on health — a kill can land in any of those.
const GATED_UP: &str = "services:
  db:
    image: IMAGE
    command: [\"--healthy-after\", \"2\"]
    healthcheck: { test: [\"CMD\", \"/tug-testserver\", \"health\"], interval: 1s, retries: 30 }
    volumes: [data:/data]
  web:
    image: IMAGE
    depends_on: { db: { condition: service_healthy } }
    networks: [default, front]
networks:
  front: {}
volumes:
  data: {}
";

#[test]
fn up_killed_anywhere_is_converged_by_the_next_up() {
    use crate::runtime_support::{test_image, Project};
    let p = Project::new();
    let f = Fixture::new();
    f.write("compose.yml", &format!("name: {}\n{}", p.name, GATED_UP.replace("IMAGE", test_image())));
    let span = timed(&f, &["up"]).mul_f64(1.3);
    f.tug().arg("down").run().success();
    let expected: Vec<(String, String)> =
        ["db", "web"].iter().map(|s| (format!("{}-{s}-1", p.name), "running".to_string())).collect();
    let mut schedule = Schedule::new(7);
    let mut killed = 0;
    for _ in 0..points() {
        let (ended, _) = fault(&f, &["up"], schedule.point(span), "KILL");
        match ended {
            Ended::Killed => killed += 1,
            Ended::Finished(0) => {}
            other => panic!("up ended {other:?}"),
        }
        audit_intact(&f);
        // Whatever it left (a network, a created container, one started and one not), the next up converges.
        f.tug().arg("up").run().success();
        let mut containers = p.containers();
        containers.sort();
        assert_eq!(containers, expected, "one running container per service after the next up");
        f.tug().arg("status").run().success().stdout_contains("in sync");
        no_operation_left_open(&f, killed);
        f.tug().arg("down").run().success();
    }
    assert!(killed > 0, "no fault point landed inside an up");
}
