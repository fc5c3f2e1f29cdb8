//! Disk full: a small tmpfs (mounted by the test; root is needed, as on the CI machine) as the backup
//! repository, as the restore target and as the state directory. Each command fails naming the path (and
//! for the repository, the space free and needed), exit 3; earlier snapshots stay intact; nothing
//! half-written is left behind; the audit chain stays intact.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::backups::{restic, snapshots};
use crate::util::Fixture;

/// A tmpfs of `size` at `dir`, unmounted when dropped.
struct Small {
    dir: PathBuf,
}

impl Small {
    fn mount(dir: &Path, size: &str) -> Small {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", &dir.display().to_string()])
            .output()
            .expect("mount(8) is needed for the disk-full tests");
        assert!(
            out.status.success(),
            "mounting a {size} tmpfs at {} failed (the disk-full tests need root): {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Small { dir: dir.to_path_buf() }
    }
}

impl Drop for Small {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// Files under `dir` (relative), for "nothing half-written is left".
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(d: &Path, root: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, root, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn random_file(path: &Path, bytes: usize) {
    // Incompressible, so the repository cannot squeeze it in.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let data: Vec<u8> = (0..bytes)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(path, data).unwrap();
}

/// Writes to `path` until the filesystem is full.
fn fill(path: &Path) {
    use std::io::Write;
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![0x5a_u8; 4096];
    while file.write_all(&chunk).is_ok() {}
    let _ = file.sync_all();
}

fn stack(f: &Fixture) {
    f.write(
        "tugboat.yml",
        "stack: shop\nbackup:\n  repository: ./repo\n  password_env: REPO_PW\n  sources: [ { files: ./uploads } ]\n",
    );
    f.write("compose.yaml", "services:\n  app:\n    image: shop:1.0\n");
    f.write(".env", &format!("REPO_PW={}\n", crate::backups::REPO_PW));
    f.write("uploads/letter.txt", "a first upload\n");
}

#[test]
fn a_full_repository_fails_clearly_and_keeps_every_earlier_snapshot() {
    let f = Fixture::new();
    stack(&f);
    let _repo = Small::mount(&f.join("repo"), "4m");
    f.tug().args(["backup", "init"]).run().success();
    f.tug().arg("backup").run().success();
    let before = snapshots(&f);
    random_file(&f.join("uploads/scan.bin"), 12 * 1024 * 1024);
    let repo_files = files(&f.join("repo"));

    let run = f.tug().arg("backup").run();
    run.failure(3)
        .stdout_contains(&format!("no space left on {}", f.join("repo").display()))
        .stdout_contains("free of")
        .stdout_contains("this source needs about 12.0 MiB");
    // Earlier snapshots intact, no pack or lock half-written, the record and the chain true.
    restic(&f, &["check", "--read-data"]);
    assert_eq!(snapshots(&f).len(), before.len());
    let after = files(&f.join("repo"));
    let new: Vec<&String> = after.iter().filter(|p| !repo_files.contains(p)).collect();
    assert!(new.iter().all(|p| p.starts_with("index/") || p.starts_with("data/")), "leftovers: {new:?}");
    assert!(files(&f.join("repo/locks")).is_empty(), "the lock was released");
    let events = crate::util::audit_events(|| f.tug());
    let last = events.last().unwrap();
    assert!(crate::util::failed_reason(last).contains("no space left"), "{last:#}");
    f.tug().args(["audit", "verify"]).run().success();
    // Space freed: the next backup succeeds with no repair.
    std::fs::remove_file(f.join("uploads/scan.bin")).unwrap();
    f.tug().arg("backup").run().success();
    f.tug().args(["backup", "check", "--read-data"]).run().success();
}

#[test]
fn a_full_restore_target_and_a_full_state_directory_fail_naming_the_path() {
    let f = Fixture::new();
    stack(&f);
    random_file(&f.join("uploads/scan.bin"), 6 * 1024 * 1024);
    f.tug().args(["backup", "init"]).run().success();
    f.tug().arg("backup").run().success();

    // The restore target is too small: exit 3, the path named, nothing half-written left there.
    let target = f.join("back");
    let _small = Small::mount(&target, "2m");
    let run = f.tug().args(["restore", "uploads", "--to", &target.display().to_string(), "--force"]).run();
    run.failure(3);
    let text = run.stderr() + &run.stdout();
    assert!(text.contains("No space left") || text.contains("no space left"), "{}", run.describe());
    assert!(text.contains(&target.display().to_string()), "the path is named: {}", run.describe());
    f.tug().args(["audit", "verify"]).run().success();

    // The state directory is full: a command that must record fails naming the database, and writes nothing
    // half-way (the chain verifies once there is room again).
    let state = f.join("state");
    let _full = Small::mount(&state, "2m");
    std::fs::copy(f.join(".tugboat/state.db"), state.join("state.db")).unwrap();
    fill(&state.join("filler"));
    let run = f.tug().args(["--state", &state.join("state.db").display().to_string(), "backup"]).run();
    assert_eq!(run.code(), 3, "{}", run.describe());
    assert!(run.stderr().contains(&state.display().to_string()), "the state database is named: {}", run.describe());
    std::fs::remove_file(state.join("filler")).unwrap();
    f.tug().args(["--state", &state.join("state.db").display().to_string(), "audit", "verify"]).run().success();
}
