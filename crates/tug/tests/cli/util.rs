//! The harness: a fluent builder that runs the real `tug` binary, and temp-dir fixtures.
//!
//! Every run is hermetic: the environment is cleared (a developer's `DB_PASSWORD` or `TUGBOAT_STATE`
//! must not change what a stack resolves to), then `PATH`, a throwaway `HOME` and `NO_COLOR=1` are set.
//! Every run also asserts that `tug` did not panic, whatever exit code the test expects.

#![allow(dead_code)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

/// The `examples/` directory of the workspace.
pub const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");

/// `schemas/` of the workspace (SARIF schema).
pub const SCHEMAS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas");

pub struct Tug {
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    current_dir: Option<PathBuf>,
    home: TempDir,
}

impl Tug {
    pub fn new() -> Tug {
        Tug { args: Vec::new(), envs: Vec::new(), current_dir: None, home: tempdir() }
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Tug {
        self.current_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Tug {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Tug
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Tug {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// Starts `tug` without waiting (to signal it mid-run); stdout and stderr are piped.
    pub fn spawn(self) -> Spawned {
        let mut cmd = self.command();
        cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start tug: {e}"));
        Spawned { child, _home: self.home }
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tug"));
        cmd.args(&self.args);
        cmd.env_clear();
        if let Some(path) = std::env::var_os("PATH") {
            cmd.env("PATH", path);
        }
        cmd.env("HOME", self.home.path());
        cmd.env("NO_COLOR", "1");
        cmd.env("RUST_BACKTRACE", "0");
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        if let Some(dir) = &self.current_dir {
            cmd.current_dir(dir);
        }
        cmd
    }

    pub fn run(self) -> Run {
        let mut cmd = self.command();
        let line =
            format!("tug {}", self.args.iter().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>().join(" "));
        let output = cmd.output().unwrap_or_else(|e| panic!("cannot run {line}: {e}"));
        let run = Run { line, output, _home: self.home };
        assert!(
            !run.stderr().contains("panicked") && run.output.status.code() != Some(101),
            "`{}` panicked:\n{}",
            run.line,
            run.describe()
        );
        run
    }
}

/// A `tug` still running.
pub struct Spawned {
    pub child: std::process::Child,
    _home: TempDir,
}

impl Spawned {
    /// Sends `signal` (`"INT"`, `"TERM"`) to the process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").arg(format!("-{signal}")).arg(self.child.id().to_string()).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -{signal} {} failed", self.child.id());
    }

    /// Whether a child of this process (started from any of its threads) has a command line containing every
    /// one of `words`.
    pub fn has_child(&self, words: &[&str]) -> bool {
        let pid = self.child.id();
        let Ok(entries) = std::fs::read_dir("/proc") else { return false };
        entries.flatten().filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok())).any(|child| {
            // `PID (COMM) STATE PPID …`; COMM may hold spaces, so read after its closing parenthesis.
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
            let cmdline = std::fs::read(format!("/proc/{child}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            ppid == Some(pid) && words.iter().all(|w| cmdline.contains(w))
        })
    }

    /// Waits for the exit; returns the code (None when killed by a signal) and stderr.
    pub fn wait(self) -> (Option<i32>, String) {
        let out = self.child.wait_with_output().expect("wait for tug");
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The audit log of the state database that `tug()` reaches (empty when there is none yet: reading never
/// creates one).
pub fn audit_events(tug: impl Fn() -> Tug) -> Vec<serde_json::Value> {
    let log = tug().args(["audit", "log", "--json"]).run();
    log.success();
    log.json().as_array().cloned().unwrap_or_default()
}

/// Runs `args` (with `env`), expects exit `code`, asserts it added exactly one audit event, for `command`,
/// and that the chain verifies. Returns the event and stderr.
#[track_caller]
pub fn one_audit_event(
    tug: impl Fn() -> Tug,
    command: &str,
    args: &[&str],
    env: &[(&str, &str)],
    code: i32,
) -> (serde_json::Value, String) {
    let before = audit_events(&tug).len();
    let mut run = tug().args(args);
    for (k, v) in env {
        run = run.env(k, v);
    }
    let run = run.run();
    assert_eq!(run.code(), code, "{}", run.describe());
    let after = audit_events(&tug);
    assert_eq!(after.len(), before + 1, "`{}` left {} events: {after:#?}", run.line, after.len() - before);
    let event = after[before].clone();
    assert_eq!(event["command"], command, "{event:#}");
    tug().args(["audit", "verify"]).run().success().stdout_contains("chain intact");
    (event, run.stderr())
}

/// The reason of a failed audit event.
#[track_caller]
pub fn failed_reason(event: &serde_json::Value) -> &str {
    event["outcome"]["failed"].as_str().unwrap_or_else(|| panic!("not failed: {event:#}"))
}

/// Waits until `condition` holds, checking every 50 ms, for at most `deadline`; panics naming `what` after.
pub fn wait_for(what: &str, deadline: std::time::Duration, mut condition: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !condition() {
        assert!(start.elapsed() < deadline, "timed out after {deadline:?} waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// What a run of `tug` produced.
pub struct Run {
    pub line: String,
    pub output: std::process::Output,
    _home: TempDir,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or_else(|| panic!("`{}` was killed by a signal", self.line))
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// stdout parsed as one JSON document.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.output.stdout)
            .unwrap_or_else(|e| panic!("`{}` did not print JSON ({e}):\n{}", self.line, self.describe()))
    }

    pub fn describe(&self) -> String {
        format!(
            "exit: {:?}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.output.status.code(),
            self.stdout(),
            self.stderr()
        )
    }

    #[track_caller]
    pub fn success(&self) -> &Run {
        self.failure(0)
    }

    #[track_caller]
    pub fn failure(&self, code: i32) -> &Run {
        assert_eq!(self.code(), code, "`{}` exit code\n{}", self.line, self.describe());
        self
    }

    #[track_caller]
    pub fn stdout_contains(&self, needle: &str) -> &Run {
        assert!(self.stdout().contains(needle), "`{}`: stdout lacks {needle:?}\n{}", self.line, self.describe());
        self
    }

    #[track_caller]
    pub fn stdout_lacks(&self, needle: &str) -> &Run {
        assert!(!self.stdout().contains(needle), "`{}`: stdout has {needle:?}\n{}", self.line, self.describe());
        self
    }

    #[track_caller]
    pub fn stderr_contains(&self, needle: &str) -> &Run {
        assert!(self.stderr().contains(needle), "`{}`: stderr lacks {needle:?}\n{}", self.line, self.describe());
        self
    }

    /// Some line of stdout contains every needle (a rule id and its `file:line:col`, say).
    #[track_caller]
    pub fn stdout_line_with(&self, needles: &[&str]) -> &Run {
        let out = self.stdout();
        assert!(
            out.lines().any(|l| needles.iter().all(|n| l.contains(n))),
            "`{}`: no stdout line contains all of {needles:?}\n{}",
            self.line,
            self.describe()
        );
        self
    }
}

pub fn tempdir() -> TempDir {
    tempfile::Builder::new().prefix("tug-test-").tempdir().expect("temp dir")
}

/// A directory of files in a temp dir, removed when dropped.
pub struct Fixture {
    dir: TempDir,
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture { dir: tempdir() }
    }

    /// A copy of `examples/NAME` (without any local `.env` or `.tugboat/` a developer may have there).
    pub fn example(name: &str) -> Fixture {
        let f = Fixture::new();
        copy_dir(&Path::new(EXAMPLES).join(name), f.path());
        f
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, rel: &str) -> PathBuf {
        self.path().join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) -> &Fixture {
        let p = self.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create dir");
        }
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        self
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.join(rel).exists()
    }

    /// Rewrites a file, asserting that the edit changed it.
    #[track_caller]
    pub fn edit(&self, rel: &str, f: impl FnOnce(&str) -> String) -> String {
        let old = self.read(rel);
        let new = f(&old);
        assert_ne!(old, new, "the edit of {rel} changed nothing");
        self.write(rel, &new);
        new
    }

    /// `tug` with this fixture as its working directory.
    pub fn tug(&self) -> Tug {
        Tug::new().current_dir(self.path())
    }

    /// `git init` here (TB021 needs a work tree).
    pub fn git_init(&self) -> &Fixture {
        let status = Command::new("git")
            .args(["init", "-q", "."])
            .current_dir(self.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", self.path())
            .status()
            .expect("git is needed for the TB021 tests");
        assert!(status.success(), "git init failed");
        self
    }

    /// A `.env` built from `.env.template`, with a dummy value for every empty entry.
    pub fn dotenv_from_template(&self) -> &Fixture {
        let env = dummy_env(&self.read(".env.template"));
        self.write(".env", &env)
    }
}

/// `NAME=value` lines for every entry of an env template, filling empty values with `dummy-NAME`.
pub fn dummy_env(template: &str) -> String {
    let mut out = String::new();
    for line in template.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else { continue };
        let value =
            if value.trim().is_empty() { format!("dummy-{}", name.to_ascii_lowercase()) } else { value.to_string() };
        out.push_str(&format!("{name}={value}\n"));
    }
    out
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display())) {
        let entry = entry.expect("dir entry");
        let name = entry.file_name();
        if name == ".env" || name == ".tugboat" {
            continue;
        }
        let src = entry.path();
        let dst = to.join(&name);
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
        }
    }
}

/// The names of the directories under `examples/`.
pub fn example_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(EXAMPLES)
        .expect("examples/")
        .filter_map(Result::ok)
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no examples found under {EXAMPLES}");
    names
}

/// 1-based line and column (in characters) of `target` inside the one occurrence of `context` in `text`.
/// `context` disambiguates: `at(text, "\n  backend:", "backend")` finds the service key, not a `depends_on` entry.
#[track_caller]
pub fn at(text: &str, context: &str, target: &str) -> (usize, usize) {
    let matches: Vec<usize> = text.match_indices(context).map(|(i, _)| i).collect();
    assert_eq!(matches.len(), 1, "{context:?} occurs {} times in:\n{text}", matches.len());
    let inner = context.find(target).unwrap_or_else(|| panic!("{target:?} is not inside {context:?}"));
    let offset = matches[0] + inner;
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let col = text[line_start..offset].chars().count() + 1;
    (line, col)
}

/// `at` where the context is the target itself.
#[track_caller]
pub fn at1(text: &str, target: &str) -> (usize, usize) {
    at(text, target, target)
}

/// `FILE:LINE:COL` as `tug` prints it.
pub fn loc(file: &str, (line, col): (usize, usize)) -> String {
    format!("{file}:{line}:{col}")
}

/// Finds an executable on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}
