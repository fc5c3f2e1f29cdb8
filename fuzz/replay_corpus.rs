//! The corpus replay every crate's `tests/fuzz_corpus.rs` includes (`#[path]`): one copy for five crates that
//! share no test-support crate.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(5);

/// Runs `check` over every file of `fuzz/corpus/<target>/`, each in its own thread with a 5 s limit, and
/// fails naming every input that panicked or ran past the limit. A missing or empty corpus fails too.
pub fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) => panic!("{}: {e} (the committed corpus; `python3 fuzz/seed-corpus.py` seeds it)", dir.display()),
    };
    let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_file()).collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no inputs", dir.display());
    let mut failures = Vec::new();
    for file in &files {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let (done, finished) = mpsc::channel();
        std::thread::spawn(move || {
            let passed = std::panic::catch_unwind(|| check(&data)).is_ok();
            let _ = done.send(passed);
        });
        match finished.recv_timeout(LIMIT) {
            Ok(true) => {}
            Ok(false) => failures.push(format!("{}: panicked (message above)", file.display())),
            Err(_) => failures.push(format!("{}: still running after {LIMIT:?}", file.display())),
        }
    }
    assert!(failures.is_empty(), "{} of {} inputs failed:\n{}", failures.len(), files.len(), failures.join("\n"));
}
