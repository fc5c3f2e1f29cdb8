//! The measurements of `bench/watch` (run by that script with `--ignored`; not part of the test suite):
//! the real `tug watch` binary (`TUG_BIN`) against the test servers of `support/`.
//!
//! 1. Alert latency: a target goes down; how long until the alert e-mail reaches the SMTP server and the
//!    webhook reaches its receiver, at the defaults (10 s, threshold 2, re-probes after 1 s), at 10 s
//!    without re-probes, and at 1 s.
//! 2. Cost: CPU and memory of `tug watch` running `CHECKS` (default 1000) HTTP checks at a 10 s interval.
//!
//! With `RESULTS=FILE.tsv` (relative to the repository root, where `bench/watch` runs), the cost measurement
//! also appends `watch<TAB>CHECKS<TAB>tug<TAB>metric<TAB>value<TAB>unit` lines for `bench/plot.py`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{free_port, wait_until, HttpTarget, SmtpSink, StackDir, WebhookReceiver};

fn tug_bin() -> String {
    std::env::var("TUG_BIN").expect("set TUG_BIN to the tug binary to measure (bench/watch does)")
}

/// Starts `tug watch` on the stack and waits (at most `listen_within`) until its server listens.
fn spawn_watch(dir: &StackDir, port: u16, listen_within: Duration) -> Child {
    let child = Command::new(tug_bin())
        .args(["watch", "--listen", &format!("127.0.0.1:{port}"), "--dir"])
        .arg(dir.path())
        .arg("--state")
        .arg(dir.path().join("state.db"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(listen_within, "tug watch to listen", || support::port_open(port).then_some(()), || "".into());
    child
}

fn stop(mut child: Child) {
    Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    child.wait().unwrap();
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The settings `alert_latency` measures: a label, the check's extra YAML keys, and its interval.
const LATENCY_SETTINGS: &[(&str, &str, f64)] = &[
    // As a new user writes it: no interval, no alert settings (10 s, threshold 2, re-probes after 1 s).
    ("10 s (defaults)", "", 10.0),
    // The same without quick re-probes: how it was before them.
    ("10 s, `confirm_interval: 0`", ", alert: { confirm_interval: 0 }", 10.0),
    // A re-probe would come no sooner than the next run here: the interval alone decides.
    ("1 s", ", interval: 1s", 1.0),
];

#[test]
#[ignore = "a benchmark: run bench/watch"]
fn alert_latency() {
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(5);
    println!("| check interval | failure threshold | rounds | to SMTP: median / max | to webhook: median / max |");
    println!("|---|---|---|---|---|");
    for (label, settings, interval_s) in LATENCY_SETTINGS {
        let target = HttpTarget::start();
        let smtp = SmtpSink::start();
        let hook = WebhookReceiver::start();
        let dir = StackDir::new(&format!(
            "stack: bench\nchecks:\n  live:\n    - {{ name: api, http: \"{}\", expect: [\"[STATUS] == 200\"]{settings} }}\n\
             alerts:\n  - {{ smtp: {{ host: 127.0.0.1, port: {}, security: none, from: tug@bench, to: [ops@bench] }} }}\n  - {{ webhook: {{ url: \"{}\" }} }}\n",
            target.url("/"),
            smtp.port(),
            hook.url("/alert")
        ));
        let child = spawn_watch(&dir, free_port(), Duration::from_secs(30));
        let (mut to_smtp, mut to_hook) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            // Go down at a different phase of the check's interval each round.
            std::thread::sleep(Duration::from_secs_f64(interval_s * (1.0 + round as f64 / rounds as f64)));
            let (mails, hooks) = (smtp.messages().len(), hook.requests().len());
            let t0 = Instant::now();
            target.set(503, "down");
            let (mut smtp_at, mut hook_at) = (None, None);
            while smtp_at.is_none() || hook_at.is_none() {
                assert!(t0.elapsed() < Duration::from_secs(120), "no alert within 120 s");
                if smtp_at.is_none() && smtp.messages().len() > mails {
                    smtp_at = Some(t0.elapsed().as_secs_f64());
                }
                if hook_at.is_none() && hook.requests().len() > hooks {
                    hook_at = Some(t0.elapsed().as_secs_f64());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            to_smtp.push(smtp_at.unwrap());
            to_hook.push(hook_at.unwrap());
            target.set(200, "ok");
            smtp.wait_for(mails + 2, Duration::from_secs(120)); // the resolved e-mail
            hook.wait_for(hooks + 2, Duration::from_secs(120));
        }
        stop(child);
        let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
        println!(
            "| {label} | 2 | {rounds} | {:.1} s / {:.1} s | {:.1} s / {:.1} s |",
            median(to_smtp.clone()),
            max(&to_smtp),
            median(to_hook.clone()),
            max(&to_hook)
        );
    }
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn status_kib(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_whitespace().nth(1)).unwrap().parse().unwrap()
}

/// Raises this process's soft limit on open files to its hard limit; `tug watch`, started from here,
/// inherits it. Headroom for many checks: the local target (support/http.rs) serves every request on a
/// thread of its own over a connection of its own (`Connection: close`), and `tug watch` runs up to 64
/// probes at once, so normally neither end holds many sockets; but when the machine is busy, accepted
/// connections and their threads pile up faster than they finish, and a soft limit of 1024 (a common
/// default) would then fail probes with EMFILE rather than slow them down.
fn raise_open_files_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let want = limit.maximum.unwrap_or(1 << 20);
    if limit.current.is_some_and(|c| c < want) {
        if let Err(e) = setrlimit(Resource::Nofile, Rlimit { current: Some(want), maximum: limit.maximum }) {
            eprintln!("bench_watch: could not raise the open-files limit to {want}: {e}");
        }
    }
}

/// Appends `watch<TAB>checks<TAB>tug<TAB>metric<TAB>value<TAB>unit` lines to `RESULTS`, when set; a relative
/// path is taken from the repository root (where `bench/watch` runs).
fn append_results(checks: usize, rows: &[(&str, String, &str)]) {
    let Some(path) = std::env::var_os("RESULTS").filter(|p| !p.is_empty()) else { return };
    let mut path = PathBuf::from(path);
    if path.is_relative() {
        path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(path);
    }
    let lines: String =
        rows.iter().map(|(metric, value, unit)| format!("watch\t{checks}\ttug\t{metric}\t{value}\t{unit}\n")).collect();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("RESULTS {}: {e}", path.display()));
    file.write_all(lines.as_bytes()).unwrap_or_else(|e| panic!("RESULTS {}: {e}", path.display()));
}

#[test]
#[ignore = "a benchmark: run bench/watch"]
fn thousand_http_checks_cost() {
    let seconds: u64 = std::env::var("SECONDS_MEASURED").ok().and_then(|r| r.parse().ok()).unwrap_or(60);
    let count: usize = std::env::var("CHECKS").ok().and_then(|r| r.parse().ok()).unwrap_or(1000);
    assert!(count > 0, "CHECKS must be at least 1");
    raise_open_files_limit();
    let target = HttpTarget::start();
    let checks: String = (0..count)
        .map(|i| {
            format!(
                "    - {{ name: c{i}, http: \"{}\", interval: 10s, expect: [\"[STATUS] == 200\"] }}\n",
                target.url(&format!("/c{i}"))
            )
        })
        .collect();
    let dir = StackDir::new(&format!("stack: bench\nchecks:\n  load:\n{checks}"));
    let port = free_port();
    // Loading and compiling the checks grows with their number: 30 s, plus 1 s per 500 checks.
    let child = spawn_watch(&dir, port, Duration::from_secs(30 + count as u64 / 500));
    let pid = child.id();
    std::thread::sleep(Duration::from_secs(15)); // every check has run once (first runs spread over 10 s)
    let (cpu0, t0, requests0) = (cpu_seconds(pid), Instant::now(), target.requests().len());
    std::thread::sleep(Duration::from_secs(seconds));
    let (cpu1, wall, requests1) = (cpu_seconds(pid), t0.elapsed().as_secs_f64(), target.requests().len());
    let status: serde_json::Value = {
        let agent = ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(60))).build().new_agent();
        let mut r = agent.get(&format!("http://127.0.0.1:{port}/api/status")).call().unwrap();
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap()
    };
    // Memory is read after the status request (its answer lists every check), as in the earlier runs.
    let (rss, hwm) = (status_kib(pid, "VmRSS:") as f64 / 1024.0, status_kib(pid, "VmHWM:") as f64 / 1024.0);
    let drift = &status["schedule_drift_ms"];
    let failing = status["checks"].as_array().unwrap().iter().filter(|c| c["status"] != "pass").count();
    let (rate, cpu) = ((requests1 - requests0) as f64 / wall, 100.0 * (cpu1 - cpu0) / wall);
    let [p50, p99, max] = ["p50", "p99", "max"].map(|k| drift[k].as_f64().unwrap_or(0.0));
    println!("| checks | interval | measured | requests/s | CPU (% of one core) | RSS now | RSS peak | drift p50 / p99 / max | failing |");
    println!("|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {count} HTTP | 10 s | {wall:.0} s | {rate:.0} | {cpu:.1} % | {rss:.1} MiB | {hwm:.1} MiB | {p50:.1} / {p99:.1} / {max:.1} ms | {failing} |"
    );
    stop(child);
    append_results(
        count,
        &[
            ("cpu_pct", format!("{cpu:.1}"), "%"),
            ("rss_mib", format!("{rss:.1}"), "MiB"),
            ("peak_rss_mib", format!("{hwm:.1}"), "MiB"),
            ("requests_per_s", format!("{rate:.0}"), "req/s"),
            ("drift_p50_ms", format!("{p50:.1}"), "ms"),
            ("drift_p99_ms", format!("{p99:.1}"), "ms"),
            ("drift_max_ms", format!("{max:.1}"), "ms"),
            ("failing", failing.to_string(), "checks"),
            ("measured_s", format!("{wall:.0}"), "s"),
        ],
    );
}
