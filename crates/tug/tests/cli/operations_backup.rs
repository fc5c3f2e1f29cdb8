//! The audit guarantee for backup, `backup init`, `backup forget`, restore and drill, end to end: each
//! driven to every way it can end — success, dry run, an unknown source, an unreachable database, a tool
//! missing, a target that holds data, a failing restore, Ctrl-C mid-dump — leaves exactly one audit event
//! with the right outcome, and the chain verifies. Then their plans and reports, pinned (text and JSON).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use tugboat::db::scratch::ScratchServer;
use tugboat::db::Engine;

use crate::backups::{mariadb_shop, snapshots, stack, REPO_PW};
use crate::util::{audit_events, one_audit_event, wait_for, Fixture};

fn events(f: &Fixture) -> Vec<Value> {
    audit_events(|| f.tug())
}

#[track_caller]
fn one_event(f: &Fixture, command: &str, args: &[&str], env: &[(&str, &str)], code: i32) -> (Value, String) {
    one_audit_event(|| f.tug(), command, args, env, code)
}

use crate::util::failed_reason as failed;

/// A directory for `PATH` with no tools in it.
fn empty_path(f: &Fixture) -> String {
    let dir = f.join("empty-path");
    std::fs::create_dir_all(&dir).unwrap();
    dir.display().to_string()
}

/// Every file of the repository with its size, except the lock files (readers take and drop them).
fn repo_files(f: &Fixture) -> Vec<(String, u64)> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, u64)>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            if rel == "locks" || rel.starts_with("locks/") {
                continue;
            }
            if path.is_dir() {
                walk(&path, root, out);
            } else {
                out.push((rel, entry.metadata().map(|m| m.len()).unwrap_or(0)));
            }
        }
    }
    let root = f.join("repo");
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    out.sort();
    out
}

fn count(server: &ScratchServer, db: &str, table: &str) -> String {
    server.query(Some(db), &format!("SELECT COUNT(*) FROM {table}")).unwrap().trim().to_string()
}

fn drill_runs(f: &Fixture) -> i64 {
    let state = rusqlite::Connection::open(f.join(".tugboat/state.db")).unwrap();
    state.query_row("SELECT COUNT(*) FROM drill_runs", [], |r| r.get(0)).unwrap()
}

#[test]
fn backup_init_and_forget_leave_one_event_on_every_path() {
    let server = mariadb_shop();
    let f = stack(&server, "");

    // No repository yet: planning fails (exit 3), and says how to create one.
    let (e, _) = one_event(&f, "backup", &["backup"], &[], 3);
    assert!(failed(&e).contains("no restic repository"), "{e:#}");

    // `backup init --dry-run`: the plan, no repository.
    let (e, _) = one_event(&f, "backup init", &["backup", "init", "--dry-run"], &[], 0);
    assert_eq!(e["outcome"], "dry_run");
    assert!(e["params"]["repository"].as_str().unwrap().ends_with("/repo"), "{e:#}");
    assert!(!f.exists("repo/config"), "a dry run creates no repository");
    let (e, _) = one_event(&f, "backup init", &["backup", "init"], &[], 0);
    assert_eq!(e["outcome"], "ok");
    // A second init is refused before anything is written.
    let (e, _) = one_event(&f, "backup init", &["backup", "init"], &[], 2);
    assert!(failed(&e).contains("already exists"), "{e:#}");

    // An unknown source: exit 2, nothing backed up.
    let (e, stderr) = one_event(&f, "backup", &["backup", "nope"], &[], 2);
    assert!(failed(&e).contains("no backup source `nope`"), "{e:#}");
    assert!(stderr.contains("defined: main, uploads, config"), "{stderr}");
    assert_eq!(e["params"]["sources"], serde_json::json!(["nope"]));

    // Dry run: the plan, nothing written to the repository.
    let files = repo_files(&f);
    let (e, _) = one_event(&f, "backup", &["backup", "--dry-run"], &[], 0);
    assert_eq!(e["outcome"], "dry_run");
    let sources = e["params"]["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 3, "{e:#}");
    assert!(sources[0]["dump"].as_str().unwrap().contains("mariadb-dump"), "{e:#}");
    assert!(snapshots(&f).is_empty());
    assert_eq!(repo_files(&f), files, "a dry run writes nothing to the repository");

    // The dump tool missing: exit 3, what to install, no snapshot.
    let (e, stderr) = one_event(&f, "backup", &["backup"], &[("PATH", &empty_path(&f))], 3);
    assert!(failed(&e).contains("mariadb-dump is not installed"), "{e:#}");
    assert!(stderr.contains("apt-get install mariadb-client"), "{stderr}");
    assert!(snapshots(&f).is_empty());

    // Success, then an unreachable database among the sources: exit 1, the others still backed up.
    let (e, _) = one_event(&f, "backup", &["backup"], &[], 0);
    assert_eq!(e["outcome"], "ok");
    assert_eq!(e["params"]["results"].as_array().unwrap().len(), 3, "{e:#}");
    let yml = f
        .read("tugboat.yml")
        .replace("databases:\n", "databases:\n  broken: { kind: mariadb, url: \"mysql://root@127.0.0.1:1/nope\" }\n")
        + "    - { database: broken }\n";
    f.write("tugboat.yml", &yml);
    let (e, _) = one_event(&f, "backup", &["backup"], &[], 1);
    assert!(failed(&e).starts_with("failed: broken (") && failed(&e).contains("Can't connect"), "{e:#}");
    assert!(!failed(&e).contains("main ("), "{e:#}");
    assert_eq!(snapshots(&f).len(), 6);

    // Forget: the dry run removes nothing; the run keeps the last 2 per source.
    let (e, _) = one_event(&f, "backup forget", &["backup", "forget", "--dry-run"], &[], 0);
    assert_eq!(e["outcome"], "dry_run");
    assert_eq!(e["params"]["remove"].as_array().unwrap().len(), 0, "{e:#}");
    one_event(&f, "backup", &["backup", "main"], &[], 0);
    let (e, _) = one_event(&f, "backup forget", &["backup", "forget", "--dry-run"], &[], 0);
    assert_eq!(e["params"]["remove"].as_array().unwrap().len(), 1, "{e:#}");
    assert_eq!(snapshots(&f).len(), 7, "a dry run forgets nothing");
    let (e, _) = one_event(&f, "backup forget", &["backup", "forget", "--prune"], &[], 0);
    assert_eq!(e["outcome"], "ok");
    assert_eq!(e["params"]["removed"].as_array().unwrap().len(), 1, "{e:#}");
    assert_eq!(snapshots(&f).len(), 6);
    // An empty keep policy is refused: it would forget everything.
    f.write("tugboat.yml", &f.read("tugboat.yml").replace("  keep: { last: 2 }\n", ""));
    let (e, _) = one_event(&f, "backup forget", &["backup", "forget"], &[], 2);
    assert!(failed(&e).contains("backup.keep is empty"), "{e:#}");
}

#[test]
fn restore_leaves_one_event_on_every_path() {
    let server = mariadb_shop();
    let f = stack(&server, "");
    f.tug().args(["backup", "init"]).run().success();
    f.tug().args(["backup", "main"]).run().success();
    server.create_database("copy").unwrap();
    let copy = format!("mysql://root@127.0.0.1:{}/copy", server.port());

    // An unknown source: exit 2.
    let (e, _) = one_event(&f, "restore", &["restore", "nope"], &[], 2);
    assert!(failed(&e).contains("no backup source `nope`"), "{e:#}");

    // An unreachable target: exit 3.
    let (e, _) = one_event(&f, "restore", &["restore", "main", "--to", "mysql://root@127.0.0.1:1/x"], &[], 3);
    assert!(failed(&e).contains("Can't connect"), "{e:#}");

    // The client tools missing: exit 3, what to install.
    let (e, stderr) = one_event(&f, "restore", &["restore", "main", "--to", &copy], &[("PATH", &empty_path(&f))], 3);
    assert!(failed(&e).contains("not installed"), "{e:#}");
    assert!(stderr.contains("apt-get install mariadb-client"), "{stderr}");

    // The live database holds tables: refused without --force (exit 2, the flag named), nothing dropped.
    let (e, stderr) = one_event(&f, "restore", &["restore", "main"], &[], 2);
    assert!(failed(&e).contains("holds 2 tables"), "{e:#}");
    assert_eq!(e["params"]["force"], false);
    assert!(stderr.contains("hint: pass --force to replace it"), "{stderr}");
    assert_eq!(count(&server, "shop", "orders"), "3000");

    // Dry run: the plan, the target untouched.
    let (e, _) = one_event(&f, "restore", &["restore", "main", "--to", &copy, "--dry-run"], &[], 0);
    assert_eq!(e["outcome"], "dry_run");
    assert_eq!(e["params"]["target_tables"], 0);
    assert!(e["params"]["restore"].as_str().unwrap().contains("mariadb"), "{e:#}");
    assert!(server.query(Some("copy"), "SHOW TABLES").unwrap().trim().is_empty());

    // A failing restore (a target user who may not create tables): exit 3.
    server.create_database("locked").unwrap();
    server.query(None, "CREATE USER 'reader'@'127.0.0.1'; GRANT SELECT ON locked.* TO 'reader'@'127.0.0.1'").unwrap();
    let locked = format!("mysql://reader@127.0.0.1:{}/locked", server.port());
    let (e, stderr) = one_event(&f, "restore", &["restore", "main", "--to", &locked], &[], 3);
    assert!(failed(&e).contains("the restore failed"), "{e:#}");
    assert!(stderr.contains("denied"), "{stderr}");

    // Success, and with --force over the now full target.
    let (e, _) = one_event(&f, "restore", &["restore", "main", "--to", &copy], &[], 0);
    assert_eq!(e["outcome"], "ok");
    assert!(e["params"]["bytes"].as_u64().is_some_and(|b| b > 0), "{e:#}");
    assert_eq!(count(&server, "copy", "orders"), "3000");
    let (e, _) = one_event(&f, "restore", &["restore", "main", "--to", &copy, "--force"], &[], 0);
    assert_eq!(e["params"]["force"], true);
    assert_eq!(e["params"]["replaced_tables"], 2);
    assert_eq!(count(&server, "copy", "orders"), "3000");

    // A file source into a directory that holds files: refused without --force.
    let dest = f.join("dest");
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::write(dest.join("keep.txt"), "mine").unwrap();
    f.tug().args(["backup", "uploads"]).run().success();
    let (e, stderr) = one_event(&f, "restore", &["restore", "uploads", "--to", dest.to_str().unwrap()], &[], 2);
    assert!(failed(&e).contains("is not empty"), "{e:#}");
    assert!(stderr.contains("hint: pass --force"), "{stderr}");
}

#[test]
fn drill_leaves_one_event_on_every_path() {
    let server = mariadb_shop();
    let f = stack(&server, "");
    f.tug().args(["backup", "init"]).run().success();
    f.tug().args(["backup", "main", "uploads"]).run().success();

    let (e, _) = one_event(&f, "drill", &["drill", "nope"], &[], 2);
    assert!(failed(&e).contains("no backup source `nope`"), "{e:#}");

    // Dry run: the plan (the snapshot, its manifest, the scratch server), no drill run.
    let (e, _) = one_event(&f, "drill", &["drill", "--dry-run"], &[], 0);
    assert_eq!(e["outcome"], "dry_run");
    let sources = e["params"]["sources"].as_array().unwrap();
    assert_eq!(sources[0]["scratch"], "mariadb", "{e:#}");
    assert_eq!(sources[0]["manifest"], true, "{e:#}");
    assert!(sources[2]["error"].as_str().unwrap().contains("no snapshot of `config` yet"), "{e:#}");
    assert_eq!(drill_runs(&f), 0);

    // The tools missing: exit 3.
    let (e, stderr) = one_event(&f, "drill", &["drill", "main"], &[("PATH", &empty_path(&f))], 3);
    assert!(failed(&e).contains("not installed"), "{e:#}");
    assert!(stderr.contains("apt-get install mariadb-client"), "{stderr}");

    // Success, then the live database unreachable: the restore is proven against the manifest, but the
    // comparison with live cannot run: that source fails (exit 1), the others pass.
    let (e, _) = one_event(&f, "drill", &["drill", "main", "uploads"], &[], 0);
    assert_eq!(e["outcome"], "ok");
    assert_eq!(drill_runs(&f), 2);
    let yml = f.read("tugboat.yml").replace(&format!("127.0.0.1:{}/shop", server.port()), "127.0.0.1:1/shop");
    f.write("tugboat.yml", &yml);
    let (e, _) = one_event(&f, "drill", &["drill", "main", "uploads"], &[], 1);
    assert!(failed(&e).starts_with("failed: main (") && failed(&e).contains("Can't connect"), "{e:#}");
    assert_eq!(drill_runs(&f), 4);
}

#[test]
fn ctrl_c_mid_backup_is_interrupted_and_keeps_no_snapshot() {
    let server = ScratchServer::start(Engine::Mariadb).unwrap();
    server.create_database("shop").unwrap();
    // Large enough that the dump is still running when the signal comes (about 100 MB).
    server
        .query(
            Some("shop"),
            "CREATE TABLE t (id INT PRIMARY KEY, body TEXT);
             INSERT INTO t SELECT seq, REPEAT(MD5(seq), 20) FROM seq_1_to_150000;",
        )
        .unwrap();
    let f = Fixture::new();
    f.write(
        "tugboat.yml",
        &format!(
            "stack: shop\ndatabases:\n  main: {{ kind: mariadb, url: \"mysql://root@127.0.0.1:{}/shop\" }}\n\
             backup:\n  repository: ./repo\n  password_env: REPO_PW\n  sources: [ {{ database: main }} ]\n",
            server.port()
        ),
    );
    f.write("compose.yaml", "services:\n  app:\n    image: shop:1.0\n");
    f.write(".env", &format!("REPO_PW={REPO_PW}\n"));
    f.tug().args(["backup", "init"]).run().success();
    let before = events(&f).len();

    let child = f.tug().arg("backup").spawn();
    // The dump itself (not `mariadb-dump --version`), started from a worker thread of tug.
    wait_for("mariadb-dump to start", Duration::from_secs(120), || {
        child.has_child(&["mariadb-dump", "--single-transaction"])
    });
    child.signal("INT");
    let (code, stderr) = child.wait();
    assert_eq!(code, Some(130), "{stderr}");

    let after = events(&f);
    assert_eq!(after.len(), before + 1, "{after:#?}");
    assert_eq!(after[before]["command"], "backup");
    assert_eq!(after[before]["outcome"], "interrupted", "{:#}", after[before]);
    f.tug().args(["audit", "verify"]).run().success();
    assert!(snapshots(&f).is_empty(), "an interrupted dump leaves no snapshot");
    // The repository is sound, and its lock was released (the check takes one).
    f.tug().args(["backup", "check"]).run().success().stdout_contains("ok: 0 snapshots");
}

// ---- reports, pinned ------------------------------------------------------------------------------------

/// Replaces what changes from run to run: the temp dir, ports, snapshot ids, times, durations, sizes, run ids,
/// the host and the dump tool's version.
struct Redact {
    dirs: Vec<String>,
}

impl Redact {
    fn new(f: &Fixture) -> Redact {
        let mut dirs = vec![f.path().display().to_string()];
        if let Ok(c) = f.path().canonicalize() {
            dirs.push(c.display().to_string());
        }
        dirs.sort_by_key(|d| std::cmp::Reverse(d.len()));
        Redact { dirs }
    }

    /// A line of text: each rule, then runs of spaces (column padding of redacted values) collapsed.
    fn text(&self, text: &str) -> String {
        let mut out = String::new();
        for line in text.lines() {
            let line = self.string(line);
            let words: Vec<&str> = line.split(' ').filter(|w| !w.is_empty()).collect();
            let indent = line.len() - line.trim_start().len();
            out.push_str(&" ".repeat(indent.min(8)));
            out.push_str(&words.join(" "));
            out.push('\n');
        }
        out
    }

    fn string(&self, s: &str) -> String {
        let mut s = s.to_string();
        for d in &self.dirs {
            s = s.replace(d.as_str(), "[DIR]");
        }
        s = after_prefix(&s, "127.0.0.1:", |c| c.is_ascii_digit(), "[PORT]");
        s = after_prefix(&s, "--port=", |c| c.is_ascii_digit(), "[PORT]");
        s = after_prefix(&s, "run=", |c| c.is_ascii_hexdigit(), "[RUN]");
        s = after_prefix(&s, "tool=", |c| !matches!(c, ',' | ' ' | '"'), "[TOOL]");
        s = ages(&s);
        s = times(&s);
        s = hex_ids(&s);
        s = sizes(&s);
        s = seconds(&s);
        s
    }

    fn json(&self, v: &mut Value) {
        const VARYING: &[&str] = &[
            "time_ms",
            "duration_ms",
            "restore_ms",
            "snapshot_age_s",
            "run_id",
            "run",
            "host",
            "bytes",
            "bytes_added",
            "bytes_total",
            "tool",
        ];
        match v {
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    if VARYING.contains(&k.as_str()) && !v.is_null() {
                        *v = "[N]".into();
                    } else {
                        self.json(v);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.json(v)),
            Value::String(s) => *s = self.string(s),
            _ => {}
        }
    }
}

/// Replaces the run of characters matching `keep` after every `prefix`.
fn after_prefix(s: &str, prefix: &str, keep: impl Fn(char) -> bool, with: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(prefix) {
        out.push_str(&rest[..i + prefix.len()]);
        rest = &rest[i + prefix.len()..];
        let n = rest.find(|c: char| !keep(c)).unwrap_or(rest.len());
        if n > 0 {
            out.push_str(with);
        }
        rest = &rest[n..];
    }
    out.push_str(rest);
    out
}

/// Splits `s` into maximal runs of characters for which `class` holds and the rest, and maps the runs.
fn map_runs(s: &str, class: impl Fn(char) -> bool, f: impl Fn(&str, &str, &str) -> Option<String>) -> String {
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let start = chars[i].0;
        let in_run = class(chars[i].1);
        let mut j = i;
        while j < chars.len() && class(chars[j].1) == in_run {
            j += 1;
        }
        let end = chars.get(j).map_or(s.len(), |c| c.0);
        let run = &s[start..end];
        match in_run.then(|| f(&s[..start], run, &s[end..])).flatten() {
            Some(r) => out.push_str(&r),
            None => out.push_str(run),
        }
        i = j;
    }
    out
}

/// Snapshot ids: 8 or 64 hex digits standing alone.
fn hex_ids(s: &str) -> String {
    map_runs(
        s,
        |c| c.is_ascii_alphanumeric(),
        |_, run, _| {
            ((run.len() == 8 || run.len() == 64)
                && run.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()))
            .then(|| "[ID]".to_string())
        },
    )
}

/// RFC 3339 times (`2026-05-01T12:00:00.123+02:00`).
fn times(s: &str) -> String {
    map_runs(
        s,
        |c| c.is_ascii_alphanumeric() || matches!(c, '-' | ':' | '.' | '+'),
        |_, run, _| {
            let b = run.as_bytes();
            (b.len() >= 19 && b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[13] == b':')
                .then(|| "[TIME]".to_string())
        },
    )
}

/// `812 B`, `1.5 MiB`.
fn sizes(s: &str) -> String {
    let mut out = s.to_string();
    for unit in [" B", " KiB", " MiB", " GiB"] {
        out = map_runs(
            &out,
            |c| c.is_ascii_digit() || c == '.',
            |_, _, after| {
                (after.starts_with(unit) && !after[unit.len()..].starts_with(|c: char| c.is_ascii_alphanumeric()))
                    .then(|| "[SIZE]".to_string())
            },
        );
        out = out.replace(&format!("[SIZE]{unit}"), "[SIZE]");
    }
    out
}

/// `0.3s`.
fn seconds(s: &str) -> String {
    map_runs(
        s,
        |c| c.is_ascii_digit() || c == '.',
        |_, run, after| {
            (run.contains('.')
                && after.starts_with('s')
                && !after[1..].starts_with(|c: char| c.is_ascii_alphanumeric()))
            .then(|| "[N]".to_string())
        },
    )
}

/// `(12 s old)`, `(3 min old)`.
fn ages(s: &str) -> String {
    let mut out = s.to_string();
    while let Some(end) = out.find(" old)") {
        let Some(start) = out[..end].rfind('(') else { break };
        out.replace_range(start..end + 5, "([AGE] OLD)");
    }
    out.replace("[AGE] OLD", "[AGE] old")
}

#[test]
fn redaction_rules() {
    let f = Fixture::new();
    let r = Redact::new(&f);
    let dir = f.path().display().to_string();
    assert_eq!(
        r.text(&format!("main   database  ok        1.5 MiB    812 B    0.3s  a1b2c3d4 in {dir}/repo")),
        "main database ok [SIZE] [SIZE] [N]s [ID] in [DIR]/repo\n"
    );
    assert_eq!(
        r.string("mariadb://root@127.0.0.1:40123/shop --port=40123 run=19a2b3c4d5e tool=mariadb-dump-10.11,x"),
        "mariadb://root@127.0.0.1:[PORT]/shop --port=[PORT] run=[RUN] tool=[TOOL],x"
    );
    assert_eq!(
        r.string("snapshot 0a1b2c3d (12 s old) at 2026-05-01T12:00:00.5+02:00"),
        "snapshot [ID] ([AGE] old) at [TIME]"
    );
    assert_eq!(r.string("3000 rows, 2 files, shop12ab"), "3000 rows, 2 files, shop12ab");
}

struct Pinned<'a> {
    f: &'a Fixture,
    redact: Redact,
}

impl Pinned<'_> {
    /// `tug ARGS` and `tug ARGS --json`, both expected to exit `code`; their redacted output pinned as `NAME_text`
    /// and `NAME_json`.
    #[track_caller]
    fn both(&self, name: &str, args: &[&str], code: i32) {
        let run = self.f.tug().args(args).run();
        run.failure(code);
        insta::assert_snapshot!(format!("{name}_text"), self.redact.text(&run.stdout()));
        let run = self.f.tug().args(args).arg("--json").run();
        run.failure(code);
        let mut doc = run.json();
        self.redact.json(&mut doc);
        insta::assert_json_snapshot!(format!("{name}_json"), doc);
    }
}

#[test]
fn plans_and_reports_are_pinned() {
    let server = mariadb_shop();
    let f = stack(&server, "");
    let p = Pinned { f: &f, redact: Redact::new(&f) };
    p.both("backup_init_plan", &["backup", "init", "--dry-run"], 0);
    let run = f.tug().args(["backup", "init"]).run();
    run.success();
    insta::assert_snapshot!("backup_init_text", p.redact.text(&run.stdout()));

    p.both("backup_plan", &["backup", "--dry-run"], 0);
    let run = f.tug().arg("backup").run();
    run.success();
    insta::assert_snapshot!("backup_text", p.redact.text(&run.stdout()));
    let run = f.tug().args(["backup", "main", "--json"]).run();
    run.success();
    let mut doc = run.json();
    p.redact.json(&mut doc);
    insta::assert_json_snapshot!("backup_json", doc);

    // Both runs' snapshots; then a third run, so that forget (keep last 2) has one of each to remove.
    p.both("snapshots", &["backup", "snapshots"], 0);
    f.tug().arg("backup").run().success();
    p.both("forget_plan", &["backup", "forget", "--dry-run"], 0);
    let run = f.tug().args(["backup", "forget", "--prune"]).run();
    run.success();
    insta::assert_snapshot!("forget_text", p.redact.text(&run.stdout()));
    f.tug().arg("backup").run().success();
    let run = f.tug().args(["backup", "forget", "--json"]).run();
    run.success();
    let mut doc = run.json();
    p.redact.json(&mut doc);
    insta::assert_json_snapshot!("forget_json", doc);

    p.both("restore_plan", &["restore", "main", "--to", "scratch", "--dry-run"], 0);
    p.both("restore", &["restore", "main", "--to", "scratch"], 0);
    let dest: PathBuf = f.join("files-back");
    p.both("restore_files", &["restore", "uploads", "--to", dest.to_str().unwrap(), "--force"], 0);

    p.both("drill_plan", &["drill", "--dry-run"], 0);
    p.both("drill", &["drill"], 0);
}
