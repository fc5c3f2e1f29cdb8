//! The repository against real components: Debian's `restic` reads what we write (and writes what we read), locks exclude
//! each other both ways, and a `kill -9` in the middle of a backup leaves a repository that checks clean.
//!
//! Needs `restic` on PATH (`apt-get install restic`) and pyrestserver (`pip install pyrestserver`) for the REST test.

// Helpers outside #[test] functions unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tugboat::secret::Secret;
use tugboat_backup::repo::{BackupError, KeepPolicy, ReadData, Repo, RepoConfig, SnapshotMeta};

const PASSWORD: &str = "correct horse battery staple";

fn cfg(repo: &Path) -> RepoConfig {
    RepoConfig { location: repo.to_string_lossy().into_owned(), password: Secret::new(PASSWORD) }
}

fn restic(repo: &Path) -> Command {
    let probe = Command::new("restic").arg("version").output();
    assert!(
        probe.map(|o| o.status.success()).unwrap_or(false),
        "these tests run Debian's restic: apt-get install restic"
    );
    let mut c = Command::new("restic");
    c.env("RESTIC_PASSWORD", PASSWORD).env_remove("RESTIC_REPOSITORY").arg("--no-cache").arg("-r").arg(repo);
    c
}

fn run_ok(mut c: Command) -> String {
    let out = c.output().expect("run restic");
    assert!(
        out.status.success(),
        "{c:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn restic_snapshots(repo: &Path) -> Vec<serde_json::Value> {
    let mut c = restic(repo);
    c.args(["snapshots", "--json"]);
    let out = run_ok(c);
    serde_json::from_str::<Vec<serde_json::Value>>(out.trim()).unwrap_or_default()
}

fn meta(tags: &[&str]) -> SnapshotMeta {
    SnapshotMeta {
        tags: tags.iter().map(|t| t.to_string()).collect(),
        host: "tugtest".into(),
        label: "tugboat".into(),
        description: Some("a test".into()),
    }
}

fn no_progress(_: u64) {}

/// Incompressible, reproducible bytes.
fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

fn make_tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut add = |rel: &str, data: Vec<u8>| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, &data).unwrap();
        files.insert(PathBuf::from(rel), data);
    };
    add("README.txt", b"hello tugboat\n".to_vec());
    add("empty", Vec::new());
    add("docs/a.pdf", random_bytes(300_000, 1));
    add("docs/deep/b.bin", random_bytes(2_500_000, 2));
    add("docs/deep/text.sql", "INSERT INTO t VALUES (1);\n".repeat(20_000).into_bytes());
    add("cache/skip.tmp", b"excluded".to_vec());
    add("logs/x.log", b"excluded too".to_vec());
    files
}

fn sha_hex(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

fn abs_key(path: &Path) -> String {
    path.to_string_lossy().trim_start_matches('/').to_string()
}

#[test]
fn init_open_errors_name_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let e = Repo::open(&cfg(&repo)).unwrap_err();
    assert!(matches!(e, BackupError::NotARepository { .. }), "{e:?}");
    assert!(e.to_string().contains("run `tug backup init`"), "{e}");

    Repo::init(&cfg(&repo)).unwrap();
    let e = Repo::init(&cfg(&repo)).unwrap_err();
    assert!(matches!(e, BackupError::AlreadyExists { .. }), "{e:?}");

    let wrong = RepoConfig { location: repo.to_string_lossy().into_owned(), password: Secret::new("not-the-password") };
    let e = Repo::open(&wrong).unwrap_err();
    assert!(matches!(e, BackupError::WrongPassword { .. }), "{e:?}");
    assert!(e.to_string().contains("wrong password"), "{e}");
    assert!(!e.to_string().contains("not-the-password"), "{e}");
    assert!(!format!("{e:?}").contains("not-the-password"), "{e:?}");

    // restic opens what we created: format v2, and it sees no snapshots.
    let mut c = restic(&repo);
    c.args(["cat", "config"]);
    let config: serde_json::Value = serde_json::from_str(&run_ok(c)).unwrap();
    assert_eq!(config["version"], 2);
    assert!(restic_snapshots(&repo).is_empty());
    assert!(Repo::open(&cfg(&repo)).unwrap().snapshots(&[]).unwrap().is_empty());
}

#[test]
fn open_reads_a_repository_restic_created() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let mut c = restic(&repo);
    c.args(["init"]);
    run_ok(c);
    let mut c = restic(&repo);
    c.args(["backup", "--stdin", "--stdin-filename", "dump.sql", "--tag", "source=db"]).stdin(Stdio::piped());
    let mut child = c.stdout(Stdio::null()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"SELECT 1;\n").unwrap();
    assert!(child.wait().unwrap().success());

    let r = Repo::open(&cfg(&repo)).unwrap();
    let snaps = r.snapshots(&["source=db".into()]).unwrap();
    assert_eq!(snaps.len(), 1);
    assert!(snaps[0].summary.is_none()); // restic 0.14 writes none
    let mut out = Vec::new();
    assert_eq!(r.restore_file(&snaps[0].id, "dump.sql", &mut out).unwrap(), 10);
    assert_eq!(out, b"SELECT 1;\n");
}

#[test]
fn backup_paths_is_read_by_restic_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let src = dir.path().join("uploads");
    let files = make_tree(&src);
    let src = src.canonicalize().unwrap();
    let r = Repo::init(&cfg(&repo)).unwrap();

    let seen = std::sync::atomic::AtomicU64::new(0);
    let progress = |b: u64| seen.store(b, std::sync::atomic::Ordering::Relaxed);
    let excludes = vec!["*.log".to_string(), "cache/".to_string()];
    let snap = r
        .backup_paths(
            std::slice::from_ref(&src),
            &excludes,
            &meta(&["stack=dms", "source=uploads", "kind=files"]),
            &progress,
        )
        .unwrap();
    assert_eq!(snap.id.len(), 64);
    assert_eq!(&snap.id[..8], snap.short_id);
    assert_eq!(snap.paths, vec![src.to_string_lossy().into_owned()]);
    assert_eq!(snap.host, "tugtest");
    assert_eq!(snap.label, "tugboat");
    let summary = snap.summary.clone().unwrap();
    let kept: Vec<_> = files.iter().filter(|(p, _)| !p.starts_with("cache") && !p.starts_with("logs")).collect();
    let total: u64 = kept.iter().map(|(_, d)| d.len() as u64).sum();
    assert_eq!(summary.files, kept.len() as u64);
    assert_eq!(summary.bytes_total, total);
    assert!(summary.bytes_added > 0 && summary.bytes_added < total, "compressed: {summary:?}");
    assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), total);

    // restic lists it with our tags, host and time
    let listed = restic_snapshots(&repo);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], snap.id);
    assert_eq!(listed[0]["hostname"], "tugtest");
    let mut tags: Vec<String> =
        listed[0]["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect();
    tags.sort();
    assert_eq!(tags, vec!["kind=files", "source=uploads", "stack=dms"]);

    // restic restores it byte-identical, without the excluded files
    let target = dir.path().join("restic-restore");
    let mut c = restic(&repo);
    c.args(["restore", &snap.id, "--target"]).arg(&target);
    run_ok(c);
    let restored_root = target.join(src.strip_prefix("/").unwrap());
    for (rel, data) in &files {
        let p = restored_root.join(rel);
        if rel.starts_with("cache") || rel.starts_with("logs") {
            assert!(!p.exists(), "{} should be excluded", p.display());
        } else {
            assert_eq!(&std::fs::read(&p).unwrap(), data, "{}", p.display());
        }
    }

    // restic check --read-data is happy with what we wrote
    let mut c = restic(&repo);
    c.args(["check", "--read-data"]);
    run_ok(c);

    // our own restore gives the same layout
    let ours = dir.path().join("our-restore");
    let bytes = r.restore_to_path(&snap.short_id, &ours).unwrap();
    assert_eq!(bytes, total);
    for (rel, data) in &kept {
        assert_eq!(&std::fs::read(ours.join(src.strip_prefix("/").unwrap()).join(rel)).unwrap(), *data);
    }

    // file hashes match the originals; keys join onto the restore target
    let hashes = r.file_hashes(&snap.id).unwrap();
    let want: BTreeMap<String, String> = kept.iter().map(|(rel, d)| (abs_key(&src.join(rel)), sha_hex(d))).collect();
    assert_eq!(hashes, want);
    for key in hashes.keys() {
        assert!(ours.join(key).is_file());
    }

    // restore_file by absolute or relative path
    let mut out = Vec::new();
    let n = r.restore_file(&snap.id, &src.join("docs/deep/b.bin").to_string_lossy(), &mut out).unwrap();
    assert_eq!(n, 2_500_000);
    assert_eq!(out, files[Path::new("docs/deep/b.bin")]);
    let e = r.restore_file(&snap.id, "nope/missing", &mut Vec::new()).unwrap_err();
    assert!(matches!(e, BackupError::FileNotFound { .. }), "{e:?}");
    let e = r.restore_file("deadbeef", "x", &mut Vec::new()).unwrap_err();
    assert!(matches!(e, BackupError::SnapshotNotFound { .. }), "{e:?}");

    // an unchanged re-run adds (almost) nothing
    let again =
        r.backup_paths(std::slice::from_ref(&src), &excludes, &meta(&["source=uploads"]), &no_progress).unwrap();
    assert!(again.summary.unwrap().bytes_added < 10_000);
    assert!(r.backup_paths(&[dir.path().join("missing")], &[], &meta(&[]), &no_progress).is_err());
}

#[test]
fn backup_command_streams_a_dump_and_a_failure_leaves_no_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let dump = random_bytes(5_000_000, 7);
    let dump_file = dir.path().join("dump.bin");
    std::fs::write(&dump_file, &dump).unwrap();
    let r = Repo::init(&cfg(&repo)).unwrap();

    // The password travels in the environment; the command checks it.
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(r#"test "$DUMP_PASSWORD" = s3cr3t || exit 9; cat "$DUMP_FILE""#);
    cmd.env("DUMP_PASSWORD", "s3cr3t").env("DUMP_FILE", &dump_file);
    let last = std::sync::atomic::AtomicU64::new(0);
    let progress = |b: u64| last.store(b, std::sync::atomic::Ordering::Relaxed);
    let snap = r.backup_command(cmd, "lcbp3.sql", &meta(&["source=main", "kind=mariadb"]), &progress).unwrap();
    assert_eq!(last.load(std::sync::atomic::Ordering::Relaxed), dump.len() as u64);
    assert_eq!(snap.summary.as_ref().unwrap().files, 1);
    assert_eq!(snap.summary.as_ref().unwrap().bytes_total, dump.len() as u64);

    // restic sees it and dumps it identically
    let listed = restic_snapshots(&repo);
    assert_eq!(listed.len(), 1);
    let mut c = restic(&repo);
    c.args(["dump", &snap.id, "lcbp3.sql"]);
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, dump);

    // we stream it back identically
    let mut back = Vec::new();
    assert_eq!(r.restore_file(&snap.id, "lcbp3.sql", &mut back).unwrap(), dump.len() as u64);
    assert_eq!(back, dump);
    assert_eq!(r.file_hashes(&snap.id).unwrap(), BTreeMap::from([("lcbp3.sql".to_string(), sha_hex(&dump))]));

    // a small printf dump
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(r"printf 'CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\n'");
    let small = r.backup_command(cmd, "small.sql", &meta(&["source=small"]), &no_progress).unwrap();
    let mut back = Vec::new();
    r.restore_file(&small.id, "small.sql", &mut back).unwrap();
    assert_eq!(back, b"CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\n");

    // a dump that writes megabytes and then fails: error with command line and stderr, and no snapshot anywhere
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(r#"cat "$DUMP_FILE"; echo 'mariadb-dump: Got error: 2013: Lost connection' >&2; exit 1"#);
    cmd.env("DUMP_FILE", &dump_file).env("DUMP_PASSWORD", "s3cr3t");
    let e = r.backup_command(cmd, "broken.sql", &meta(&["source=broken"]), &no_progress).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, BackupError::Command { .. }), "{e:?}");
    assert!(msg.contains("exit status 1"), "{msg}");
    assert!(msg.contains("Lost connection"), "{msg}");
    assert!(msg.contains("sh -c"), "{msg}");
    assert!(!msg.contains("s3cr3t"), "{msg}");
    // an empty failing command, and one that does not exist
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg("exit 1");
    assert!(r.backup_command(cmd, "empty.sql", &meta(&["source=broken"]), &no_progress).is_err());
    let cmd = Command::new("/nonexistent/mariadb-dump");
    let e = r.backup_command(cmd, "x.sql", &meta(&["source=broken"]), &no_progress).unwrap_err();
    assert!(e.to_string().contains("could not start"), "{e}");
    // a command killed by a signal
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg("printf partial; kill -9 $$");
    let e = r.backup_command(cmd, "killed.sql", &meta(&["source=broken"]), &no_progress).unwrap_err();
    assert!(e.to_string().contains("signal 9"), "{e}");

    assert_eq!(restic_snapshots(&repo).len(), 2, "restic must list only the two good snapshots");
    assert!(r.snapshots(&["source=broken".into()]).unwrap().is_empty());
    assert_eq!(lock_files(&repo), 0, "locks are removed");
    let report = r.check(ReadData::All).unwrap();
    assert!(report.ok, "{report:?}");
    let mut c = restic(&repo);
    c.args(["check", "--read-data"]);
    run_ok(c);
    assert!(r.backup_command(Command::new("true"), "a/b", &meta(&[]), &no_progress).is_err());
}

#[test]
fn snapshots_filter_by_all_tags_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let r = Repo::init(&cfg(&repo)).unwrap();
    let echo = |s: &str| {
        let mut c = Command::new("printf");
        c.arg(s);
        c
    };
    let a = r.backup_command(echo("a"), "a.sql", &meta(&["stack=dms", "source=db"]), &no_progress).unwrap();
    let b = r.backup_command(echo("b"), "b.sql", &meta(&["stack=dms", "source=files"]), &no_progress).unwrap();
    let c = r.backup_command(echo("c"), "c.sql", &meta(&["stack=other", "source=db"]), &no_progress).unwrap();
    let ids = |v: Vec<tugboat_backup::repo::SnapshotInfo>| v.into_iter().map(|s| s.id).collect::<Vec<_>>();
    assert_eq!(ids(r.snapshots(&[]).unwrap()), vec![a.id.clone(), b.id.clone(), c.id.clone()]);
    assert_eq!(ids(r.snapshots(&["stack=dms".into()]).unwrap()), vec![a.id.clone(), b.id.clone()]);
    assert_eq!(ids(r.snapshots(&["stack=dms".into(), "source=db".into()]).unwrap()), vec![a.id.clone()]);
    assert!(r.snapshots(&["stack=none".into()]).unwrap().is_empty());
    let all = r.snapshots(&[]).unwrap();
    assert!(all.windows(2).all(|w| w[0].time_ms <= w[1].time_ms));
    assert!(all[0].time.contains('T'));
    let json = serde_json::to_value(&all[0]).unwrap();
    assert_eq!(json["tags"][0], "source=db");
}

#[test]
fn forget_applies_the_policy_per_source_and_prunes() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let r = Repo::init(&cfg(&repo)).unwrap();
    // Snapshots at chosen times, written by restic itself: 6 daily db dumps, 3 file snapshots, one untagged.
    let add = |time: &str, tag: Option<&str>, content: &str| {
        let mut c = restic(&repo);
        c.args(["backup", "--stdin", "--stdin-filename", "dump.sql", "--host", "tugtest", "--time", time]);
        if let Some(t) = tag {
            c.args(["--tag", t]);
        }
        let mut child = c.stdin(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(content.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success());
    };
    for day in 1..=6 {
        add(&format!("2024-03-0{day} 02:00:00"), Some("source=db"), &format!("db day {day}\n"));
        if day % 2 == 0 {
            add(&format!("2024-03-0{day} 03:00:00"), Some("source=files"), &format!("files day {day}\n"));
        }
    }
    add("2024-03-01 04:00:00", None, "hand-made\n");
    assert_eq!(restic_snapshots(&repo).len(), 10);

    let policy = KeepPolicy { daily: Some(2), ..KeepPolicy::default() };
    let plan = r.forget(&policy, "source=", true, true).unwrap();
    assert_eq!(plan.remove.len(), 4 + 1, "db days 1-4 and files day 2");
    assert_eq!(plan.keep.len(), 2 + 2 + 1);
    assert!(plan.keep.iter().any(|(s, why)| s.tags.is_empty() && why == &vec!["no source= tag".to_string()]));
    assert!(plan.keep.iter().filter(|(s, _)| !s.tags.is_empty()).all(|(_, why)| why.contains(&"daily".to_string())));
    assert!(plan.remove.windows(2).all(|w| w[0].time_ms <= w[1].time_ms));
    assert_eq!(restic_snapshots(&repo).len(), 10, "dry run forgets nothing");
    let json = serde_json::to_value(&plan).unwrap();
    assert!(json["keep"][0][1].is_array());

    assert!(r.forget(&KeepPolicy::default(), "source=", false, false).is_err(), "an empty policy is refused");

    let plan2 = r.forget(&policy, "source=", false, true).unwrap();
    assert_eq!(plan2, plan);
    let left: Vec<String> = restic_snapshots(&repo).iter().map(|s| s["id"].as_str().unwrap().to_string()).collect();
    let mut want: Vec<String> = plan.keep.iter().map(|(s, _)| s.id.clone()).collect();
    let mut got = left.clone();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    // restic agrees the pruned repository is sound, and the kept dumps are intact
    let mut c = restic(&repo);
    c.args(["check", "--read-data"]);
    run_ok(c);
    let newest_db = r.snapshots(&["source=db".into()]).unwrap().pop().unwrap();
    let mut out = Vec::new();
    r.restore_file(&newest_db.id, "dump.sql", &mut out).unwrap();
    assert_eq!(out, b"db day 6\n");
    assert!(r.check(ReadData::All).unwrap().ok);

    // keep.last over our own snapshots
    for i in 0..3 {
        let mut c = Command::new("printf");
        c.arg(format!("n{i}"));
        r.backup_command(c, "n.sql", &meta(&["source=n"]), &no_progress).unwrap();
    }
    let plan = r.forget(&KeepPolicy { last: Some(1), ..KeepPolicy::default() }, "source=", false, false).unwrap();
    let n_kept: Vec<_> = plan.keep.iter().filter(|(s, _)| s.tags == vec!["source=n".to_string()]).collect();
    assert_eq!(n_kept.len(), 1);
    assert!(n_kept[0].1.contains(&"last".to_string()));
    assert_eq!(r.snapshots(&["source=n".into()]).unwrap().len(), 1);
}

/// The largest file under data/ (a data pack).
fn largest_pack(repo: &Path) -> PathBuf {
    let mut best = (0, PathBuf::new());
    for sub in std::fs::read_dir(repo.join("data")).unwrap() {
        for f in std::fs::read_dir(sub.unwrap().path()).unwrap() {
            let f = f.unwrap();
            let len = f.metadata().unwrap().len();
            if len > best.0 {
                best = (len, f.path());
            }
        }
    }
    best.1
}

#[test]
fn check_reads_data_and_catches_a_flipped_byte() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("big.bin"), random_bytes(3_000_000, 11)).unwrap();
    let r = Repo::init(&cfg(&repo)).unwrap();
    r.backup_paths(std::slice::from_ref(&src), &[], &meta(&["source=files"]), &no_progress).unwrap();

    let clean = r.check(ReadData::All).unwrap();
    assert!(clean.ok, "{clean:?}");
    assert_eq!(clean.snapshots, 1);
    assert!(clean.packs_read >= 1, "{clean:?}");
    assert!(r.check(ReadData::No).unwrap().packs_read == 0);
    assert!(r.check(ReadData::Subset(100.0)).unwrap().ok);
    assert!(r.check(ReadData::Subset(0.0)).is_err());

    let pack = largest_pack(&repo);
    let mut data = std::fs::read(&pack).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0x01;
    std::fs::write(&pack, &data).unwrap();

    assert!(r.check(ReadData::No).unwrap().ok, "structure alone cannot see a flipped data byte");
    let bad = r.check(ReadData::All).unwrap();
    assert!(!bad.ok, "{bad:?}");
    assert!(!bad.errors.is_empty());
    let pack_id = pack.file_name().unwrap().to_string_lossy().to_string();
    assert!(bad.errors.iter().any(|e| e.contains(&pack_id[..8])), "{:?}", bad.errors);
    // restic agrees
    let mut c = restic(&repo);
    c.args(["check", "--read-data"]);
    assert!(!c.output().unwrap().status.success());
}

/// Lock files (named by their 64-hex id; a writer's temp file does not count).
fn lock_files(repo: &Path) -> usize {
    std::fs::read_dir(repo.join("locks"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit())
                })
                .count()
        })
        .unwrap_or(0)
}

fn wait_for_lock(repo: &Path) {
    let t0 = Instant::now();
    while lock_files(repo) == 0 {
        assert!(t0.elapsed() < Duration::from_secs(20), "no lock appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    // restic checks again 200 ms after writing its lock; let that pass so it does not give up because of ours
    std::thread::sleep(Duration::from_millis(400));
}

#[test]
fn locks_exclude_restic_and_restic_is_excluded_by_ours() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), b"x").unwrap();
    let r = Repo::init(&cfg(&repo)).unwrap();

    // restic backup --stdin holds its lock while it waits for its input
    let mut c = restic(&repo);
    c.args(["backup", "--stdin", "--stdin-filename", "slow.sql"]);
    let mut restic_child = c.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    wait_for_lock(&repo);
    let e = r.backup_paths(std::slice::from_ref(&src), &[], &meta(&["source=files"]), &no_progress).unwrap_err();
    assert!(matches!(e, BackupError::Locked { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains(&format!("pid {}", restic_child.id())), "{msg}");
    assert!(msg.contains("is locked"), "{msg}");
    // reads go on beside restic's non-exclusive lock
    assert!(r.snapshots(&[]).is_ok());
    restic_child.stdin.take().unwrap().write_all(b"slow\n").unwrap();
    assert!(restic_child.wait().unwrap().success());
    r.backup_paths(std::slice::from_ref(&src), &[], &meta(&["source=files"]), &no_progress).unwrap();

    // while our backup runs (a dump that takes its time), restic prune and restic backup are refused
    std::thread::scope(|s| {
        let h = s.spawn(|| {
            let mut cmd = Command::new("sh");
            cmd.arg("-c").arg("sleep 4; printf done");
            r.backup_command(cmd, "slow.sql", &meta(&["source=slow"]), &no_progress)
        });
        wait_for_lock(&repo);
        let mut c = restic(&repo);
        c.args(["prune"]);
        let out = c.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "restic prune must not run beside our backup");
        assert!(err.contains("locked"), "{err}");
        // restic decrypted our lock file: it names our pid
        assert!(err.contains(&format!("PID {}", std::process::id())), "{err}");
        // and a second tug backup is refused too
        let e = r.backup_paths(std::slice::from_ref(&src), &[], &meta(&["source=files"]), &no_progress).unwrap_err();
        assert!(matches!(e, BackupError::Locked { .. }), "{e:?}");
        assert!(h.join().unwrap().is_ok());
    });
    assert_eq!(lock_files(&repo), 0, "our lock is gone");
    let mut c = restic(&repo);
    c.args(["prune"]);
    run_ok(c);
}

#[test]
fn stale_lock_of_a_dead_process_on_this_host_is_removed_but_others_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let r = Repo::init(&cfg(&repo)).unwrap();
    // restic leaves its lock behind when killed
    let mut c = restic(&repo);
    c.args(["backup", "--stdin", "--stdin-filename", "x"]);
    let mut child = c.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    wait_for_lock(&repo);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(lock_files(&repo), 1);
    // Its pid is dead on this host: the lock is stale, we remove it and go on.
    let mut cmd = Command::new("printf");
    cmd.arg("ok");
    r.backup_command(cmd, "ok.sql", &meta(&["source=x"]), &no_progress).unwrap();
    assert_eq!(lock_files(&repo), 0);
}

// ---- crash: kill -9 in the middle of backups ----

/// Runs inside a child process (see `kill_9_mid_backup_leaves_a_sound_repository`): backs up the path in
/// TUGBOAT_CRASH_HELPER=repo|src|mode, printing its progress.
#[test]
#[ignore = "helper: runs only as the child of the crash test"]
fn crash_helper_child() {
    let Ok(spec) = std::env::var("TUGBOAT_CRASH_HELPER") else { return };
    let parts: Vec<&str> = spec.split('|').collect();
    let r = Repo::open(&cfg(Path::new(parts[0]))).unwrap();
    let progress = |b: u64| {
        let mut o = std::io::stdout().lock();
        let _ = writeln!(o, "P {b}");
        let _ = o.flush();
    };
    if parts[2] == "paths" {
        r.backup_paths(&[PathBuf::from(parts[1])], &[], &meta(&["source=big"]), &progress).unwrap();
    } else {
        let mut cmd = Command::new("cat");
        cmd.arg(parts[1]);
        r.backup_command(cmd, "big.sql", &meta(&["source=bigdump"]), &progress).unwrap();
    }
    println!("DONE");
}

/// Starts the helper and kills it with SIGKILL once its progress reaches `at` bytes (0: as soon as it reports).
fn run_and_kill(repo: &Path, src: &Path, mode: &str, at: u64) -> bool {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["crash_helper_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env("TUGBOAT_CRASH_HELPER", format!("{}|{}|{mode}", repo.display(), src.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut killed = false;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap_or_default();
        if let Some(b) = line.strip_prefix("P ") {
            if b.trim().parse::<u64>().unwrap_or(0) >= at {
                child.kill().unwrap(); // SIGKILL
                killed = true;
                break;
            }
        }
    }
    let status = child.wait().unwrap();
    killed && !status.success()
}

#[test]
fn kill_9_mid_backup_leaves_a_sound_repository() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let small = dir.path().join("small");
    let files = make_tree(&small);
    let small = small.canonicalize().unwrap();
    let big = dir.path().join("big");
    std::fs::create_dir_all(&big).unwrap();
    const FILES: u64 = 24;
    const SIZE: usize = 4_000_000;
    for i in 0..FILES {
        std::fs::write(big.join(format!("f{i:02}.bin")), random_bytes(SIZE, 100 + i)).unwrap();
    }
    let big = big.canonicalize().unwrap();
    let total = FILES * SIZE as u64;
    let dump = dir.path().join("dump.sql");
    std::fs::write(&dump, random_bytes(30_000_000, 99)).unwrap();

    let r = Repo::init(&cfg(&repo)).unwrap();
    let first = r.backup_paths(std::slice::from_ref(&small), &[], &meta(&["source=small"]), &no_progress).unwrap();
    let mut cmd = Command::new("cat");
    cmd.arg(&dump);
    let first_dump = r.backup_command(cmd, "dump.sql", &meta(&["source=dump"]), &no_progress).unwrap();

    // kill at several points: as soon as it runs (lock held, nothing written), early, half-way, at the very end
    // (packs flushed, index and snapshot being written), and in the middle of a streamed dump
    let mut kills = 0;
    for at in [0, total / 10, total / 2, total] {
        if run_and_kill(&repo, &big, "paths", at) {
            kills += 1;
        }
    }
    if run_and_kill(&repo, &dump, "command", 10_000_000) {
        kills += 1;
    }
    assert!(kills >= 4, "the helper must have been killed mid-way at least 4 times, got {kills}");

    assert!(lock_files(&repo) >= 1, "the killed helper left its lock behind");
    // the repository checks clean (unreferenced packs are warnings, as in restic); the dead helper's lock is removed
    let report = r.check(ReadData::All).unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(lock_files(&repo), 0);
    let mut c = restic(&repo);
    c.args(["check", "--read-data"]);
    run_ok(c);

    // every earlier snapshot restores byte-identical
    let target = dir.path().join("restore");
    r.restore_to_path(&first.id, &target).unwrap();
    for (rel, data) in &files {
        assert_eq!(&std::fs::read(target.join(small.strip_prefix("/").unwrap()).join(rel)).unwrap(), data);
    }
    let mut out = Vec::new();
    r.restore_file(&first_dump.id, "dump.sql", &mut out).unwrap();
    assert!(out == std::fs::read(&dump).unwrap());

    // no snapshot of a killed run is listed; the next backup succeeds (the dead helpers' locks are stale on this host)
    assert!(r.snapshots(&["source=bigdump".into()]).unwrap().is_empty());
    let snap = r.backup_paths(std::slice::from_ref(&big), &[], &meta(&["source=big"]), &no_progress).unwrap();
    assert_eq!(snap.summary.unwrap().bytes_total, total);
    let hashes = r.file_hashes(&snap.id).unwrap();
    assert_eq!(hashes.len() as u64, FILES);
    assert_eq!(hashes[&abs_key(&big.join("f03.bin"))], sha_hex(&random_bytes(SIZE, 103)));
    assert!(r.check(ReadData::All).unwrap().ok);
    // our prune removes what the killed runs left (restic then finds no stray pack), and restic agrees all is well
    let mut c = restic(&repo);
    c.args(["check"]);
    let before = run_ok(c);
    let plan = r.forget(&KeepPolicy { last: Some(10), ..KeepPolicy::default() }, "source=", false, true).unwrap();
    assert!(plan.remove.is_empty());
    let mut c = restic(&repo);
    c.args(["check", "--read-data"]);
    let after = run_ok(c);
    assert!(!after.contains("not referenced"), "before our prune:\n{before}\nafter:\n{after}");
    let mut c = restic(&repo);
    c.args(["prune"]);
    run_ok(c);
}

#[test]
fn repo_can_be_shared_between_threads() {
    fn is_send_sync<T: Send + Sync>() {}
    is_send_sync::<Repo>();
}

// ---- REST: restic's REST protocol against a real server on loopback ----

/// A REST server for restic repositories on a free loopback port, torn down on drop. pyrestserver (PyPI) implements
/// restic's REST protocol v2 and `restic` itself talks to it, so the test proves our REST client and locks against both.
struct RestServer {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl RestServer {
    fn start() -> RestServer {
        let exe = std::env::var("TUGBOAT_TEST_RESTSERVER").unwrap_or_else(|_| "pyrestserver".into());
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(&exe)
            .args(["serve", "--no-auth", "--listen", &format!("127.0.0.1:{port}"), "--path"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{exe}` ({e}): pip install pyrestserver"));
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(t0.elapsed() < Duration::from_secs(30), "the REST server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        RestServer { child, url: format!("http://127.0.0.1:{port}"), _dir: dir }
    }
}

impl Drop for RestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn restic_at(location: &str) -> Command {
    let mut c = Command::new("restic");
    c.env("RESTIC_PASSWORD", PASSWORD).env_remove("RESTIC_REPOSITORY").arg("--no-cache").arg("-r").arg(location);
    c
}

fn wait_for_rest_lock(location: &str) {
    let t0 = Instant::now();
    loop {
        let mut c = restic_at(location);
        c.args(["list", "locks", "--no-lock"]);
        if !run_ok(c).trim().is_empty() {
            return;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "no lock appeared on the server");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn rest_repository_on_a_real_server_interoperates_with_restic() {
    let server = RestServer::start();
    let location = format!("rest:{}/dms", server.url);
    let rc = RepoConfig { location: location.clone(), password: Secret::new(PASSWORD) };
    let e = Repo::open(&rc).unwrap_err();
    assert!(matches!(e, BackupError::NotARepository { .. }), "{e:?}");
    let r = Repo::init(&rc).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("uploads");
    let files = make_tree(&src);
    let src = src.canonicalize().unwrap();
    let snap = r.backup_paths(std::slice::from_ref(&src), &[], &meta(&["source=uploads"]), &no_progress).unwrap();
    let dump = random_bytes(3_000_000, 5);
    let dump_file = dir.path().join("dump");
    std::fs::write(&dump_file, &dump).unwrap();
    let mut cmd = Command::new("cat");
    cmd.arg(&dump_file);
    let dsnap = r.backup_command(cmd, "db.sql", &meta(&["source=db"]), &no_progress).unwrap();
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg("printf x; exit 3");
    assert!(r.backup_command(cmd, "bad.sql", &meta(&["source=bad"]), &no_progress).is_err());

    // restic, through the same server, lists both and restores them identically
    let mut c = restic_at(&location);
    c.args(["snapshots", "--json"]);
    let listed: Vec<serde_json::Value> = serde_json::from_str(run_ok(c).trim()).unwrap();
    assert_eq!(listed.len(), 2);
    let target = dir.path().join("restore");
    let mut c = restic_at(&location);
    c.args(["restore", &snap.id, "--target"]).arg(&target);
    run_ok(c);
    for (rel, data) in &files {
        assert_eq!(&std::fs::read(target.join(src.strip_prefix("/").unwrap()).join(rel)).unwrap(), data);
    }
    let mut c = restic_at(&location);
    c.args(["dump", &dsnap.id, "db.sql"]);
    assert_eq!(c.output().unwrap().stdout, dump);
    let mut back = Vec::new();
    r.restore_file(&dsnap.id, "db.sql", &mut back).unwrap();
    assert_eq!(back, dump);

    // our lock on the server keeps restic prune out, and restic's keeps our backup out
    std::thread::scope(|s| {
        let h = s.spawn(|| {
            let mut cmd = Command::new("sh");
            cmd.arg("-c").arg("sleep 3; printf later");
            r.backup_command(cmd, "later.sql", &meta(&["source=db"]), &no_progress)
        });
        wait_for_rest_lock(&location);
        let mut c = restic_at(&location);
        c.args(["prune"]);
        let out = c.output().unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("PID {}", std::process::id())), "{err}");
        assert!(h.join().unwrap().is_ok());
    });
    let mut c = restic_at(&location);
    c.args(["backup", "--stdin", "--stdin-filename", "slow.sql"]);
    let mut restic_child = c.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    wait_for_rest_lock(&location);
    let e = r.backup_paths(std::slice::from_ref(&src), &[], &meta(&["source=uploads"]), &no_progress).unwrap_err();
    assert!(e.to_string().contains(&format!("pid {}", restic_child.id())), "{e}");
    assert!(matches!(e, BackupError::Locked { .. }), "{e:?}");
    restic_child.stdin.take().unwrap().write_all(b"x").unwrap();
    assert!(restic_child.wait().unwrap().success());

    let report = r.check(ReadData::All).unwrap();
    assert!(report.ok, "{report:?}");
    let plan = r.forget(&KeepPolicy { last: Some(1), ..KeepPolicy::default() }, "source=", false, true).unwrap();
    assert!(!plan.remove.is_empty());
    let mut c = restic_at(&location);
    c.args(["check", "--read-data"]);
    run_ok(c);
    assert!(r.check(ReadData::All).unwrap().ok);
}
