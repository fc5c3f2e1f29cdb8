//! The measurements of `bench/watch` (run by that script with `--ignored`; not part of the test suite):
//! the real `tug watch` binary (`TUG_BIN`) against the test servers of `support/`.
//!
//! 1. Alert latency: a target goes down; how long until the alert e-mail reaches the SMTP server and the
//!    webhook reaches its receiver, at the defaults (10 s, threshold 2, re-probes after 1 s), at 10 s
//!    without re-probes, and at 1 s.
//! 2. Cost: CPU and memory of `tug watch` running 1000 HTTP checks at a 10 s interval.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{free_port, wait_until, HttpTarget, SmtpSink, StackDir, WebhookReceiver};

fn tug_bin() -> String {
    std::env::var("TUG_BIN").expect("set TUG_BIN to the tug binary to measure (bench/watch does)")
}

fn spawn_watch(dir: &StackDir, port: u16) -> Child {
    let child = Command::new(tug_bin())
        .args(["watch", "--listen", &format!("127.0.0.1:{port}"), "--dir"])
        .arg(dir.path())
        .arg("--state")
        .arg(dir.path().join("state.db"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(30), "tug watch to listen", || support::port_open(port).then_some(()), || "".into());
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
        let child = spawn_watch(&dir, free_port());
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

#[test]
#[ignore = "a benchmark: run bench/watch"]
fn thousand_http_checks_cost() {
    let seconds: u64 = std::env::var("SECONDS_MEASURED").ok().and_then(|r| r.parse().ok()).unwrap_or(60);
    let target = HttpTarget::start();
    let checks: String = (0..1000)
        .map(|i| {
            format!(
                "    - {{ name: c{i}, http: \"{}\", interval: 10s, expect: [\"[STATUS] == 200\"] }}\n",
                target.url(&format!("/c{i}"))
            )
        })
        .collect();
    let dir = StackDir::new(&format!("stack: bench\nchecks:\n  load:\n{checks}"));
    let port = free_port();
    let child = spawn_watch(&dir, port);
    let pid = child.id();
    std::thread::sleep(Duration::from_secs(15)); // every check has run once; pools are warm
    let (cpu0, t0, requests0) = (cpu_seconds(pid), Instant::now(), target.requests().len());
    std::thread::sleep(Duration::from_secs(seconds));
    let (cpu1, wall, requests1) = (cpu_seconds(pid), t0.elapsed().as_secs_f64(), target.requests().len());
    let status: serde_json::Value = {
        let mut r = ureq::get(&format!("http://127.0.0.1:{port}/api/status")).call().unwrap();
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap()
    };
    let drift = &status["schedule_drift_ms"];
    let failing = status["checks"].as_array().unwrap().iter().filter(|c| c["status"] != "pass").count();
    println!("| checks | interval | measured | requests/s | CPU (% of one core) | RSS now | RSS peak | drift p50 / p99 / max | failing |");
    println!("|---|---|---|---|---|---|---|---|---|");
    println!(
        "| 1000 HTTP | 10 s | {wall:.0} s | {:.0} | {:.1} % | {:.1} MiB | {:.1} MiB | {:.1} / {:.1} / {:.1} ms | {failing} |",
        (requests1 - requests0) as f64 / wall,
        100.0 * (cpu1 - cpu0) / wall,
        status_kib(pid, "VmRSS:") as f64 / 1024.0,
        status_kib(pid, "VmHWM:") as f64 / 1024.0,
        drift["p50"].as_f64().unwrap_or(0.0),
        drift["p99"].as_f64().unwrap_or(0.0),
        drift["max"].as_f64().unwrap_or(0.0),
    );
    stop(child);
}
