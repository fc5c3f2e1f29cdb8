//! `tug watch` in-process against real servers: alerts through a real SMTP server (aiosmtpd) and a real
//! webhook receiver, the outbox surviving an SMTP outage, a restart mid-incident, reloads, the status page
//! and /metrics, scheduled jobs on an injected clock, and a thousand checks at a one-second interval.
//!
//! Nothing here waits for a timing window: each test waits for the state it asserts (with a generous
//! limit that only bounds a hang), and cron-driven behaviour runs on a [`ManualClock`] the test moves.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: failing loudly is the point

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::TimeZone;
use support::{wait_until, HttpTarget, SmtpSink, StackDir, WebhookReceiver};
use tokio::sync::{mpsc, oneshot};
use tugboat::ops::{Clock, ManualClock, SystemClock};
use tugboat_watch::watch::jobs::{Job, JobOutcome, JobRunner, NoJobs, SourceFailure};
use tugboat_watch::watch::{self, Options};

/// A daemon running on its own thread and runtime, stopped (gracefully) on drop.
struct Daemon {
    addr: SocketAddr,
    token: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    reload: mpsc::Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Daemon {
    fn start(dir: &StackDir, state: PathBuf) -> Daemon {
        Daemon::start_with(dir, state, Arc::new(NoJobs), Arc::new(SystemClock))
    }

    fn start_with(dir: &StackDir, state: PathBuf, jobs: Arc<dyn JobRunner>, clock: Arc<dyn Clock>) -> Daemon {
        let options = Options {
            dir: dir.path().to_path_buf(),
            environment: None,
            state,
            listen: Some("127.0.0.1:0".into()),
            jobs,
            clock,
        };
        let loaded = watch::load(&options).unwrap_or_else(|e| panic!("config loads: {e}"));
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (reload_tx, reload_rx) = mpsc::channel(4);
        let (bound_tx, bound_rx) = oneshot::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tugboat_watch::runtime().unwrap();
            runtime.block_on(async move {
                let shutdown = async move {
                    let _ = stop_rx.await;
                };
                watch::run(options, loaded, reload_rx, shutdown, Some(bound_tx)).await.unwrap();
            });
        });
        let addr = bound_rx.blocking_recv().expect("the daemon listens");
        Daemon { addr, token: None, stop: Some(stop_tx), reload: reload_tx, thread: Some(thread) }
    }

    fn get(&self, path: &str) -> (u16, String) {
        get(&format!("http://127.0.0.1:{}{path}", self.addr.port()), self.token.as_deref())
    }

    fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.get("/api/status").1).unwrap()
    }

    fn runs(&self) -> u64 {
        self.status()["runs"].as_u64().unwrap()
    }

    /// The status of `check` on /api/status (`null` until it has run).
    fn check_status(&self, check: &str) -> serde_json::Value {
        let status = self.status();
        let row = status["checks"].as_array().unwrap().iter().find(|c| c["check"] == check).cloned();
        row.unwrap_or_else(|| panic!("{check} is not listed: {status}"))["status"].clone()
    }

    fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn get(url: &str, bearer: Option<&str>) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut request = agent.get(url);
    if let Some(t) = bearer {
        request = request.header("Authorization", &format!("Bearer {t}"));
    }
    let mut response = request.call().unwrap();
    (response.status().as_u16(), response.body_mut().read_to_string().unwrap())
}

fn state_db(dir: &StackDir) -> PathBuf {
    dir.path().join(".tugboat/state.db")
}

#[test]
fn smtp_down_alert_waits_in_the_outbox_while_the_fallback_webhook_gets_it() {
    let target = HttpTarget::start();
    target.set(503, r#"{"status":"degraded"}"#);
    let mut smtp = SmtpSink::start();
    smtp.stop();
    let hook = WebhookReceiver::start();
    let dir = StackDir::new(&format!(
        r#"stack: shop
checks:
  live:
    - {{ name: api, http: "{url}", interval: 200ms, expect: ["[STATUS] == 200", "[BODY].status == ok"], alert: {{ providers: [email] }} }}
alerts:
  - {{ name: email, fallback: chat, smtp: {{ host: 127.0.0.1, port: {smtp}, security: none, from: tug@example.org, to: [ops@example.org] }} }}
  - {{ name: chat, webhook: {{ url: "{hook}", format: slack }} }}
"#,
        url = target.url("/health"),
        smtp = smtp.port(),
        hook = hook.url("/hooks/SECRET-TOKEN"),
    ));
    let daemon = Daemon::start(&dir, state_db(&dir));

    // SMTP refuses: the alert fails over to the webhook at once.
    let requests = hook.wait_for(1, Duration::from_secs(20));
    let text = requests[0].json()["text"].as_str().unwrap().to_string();
    assert!(text.contains("[tugboat] shop: live/api is DOWN"), "{text}");
    assert!(text.contains(r#"[STATUS] == 200 (observed 503); [BODY].status == ok (observed "degraded")"#), "{text}");
    assert!(text.contains("Failing since:") && text.contains("Last success:  never"), "{text}");
    assert!(smtp.messages().is_empty());
    // Once the webhook delivery is marked, only the e-mail is left in the queue.
    let metrics = wait_until(
        Duration::from_secs(10),
        "one queued delivery",
        || Some(daemon.get("/metrics").1).filter(|m| m.contains(r#"tugboat_alerts_pending{stack="shop"} 1"#)),
        || daemon.get("/metrics").1,
    );
    assert!(metrics.contains(r#"tugboat_check_up{stack="shop",suite="live",check="api",kind="http"} 0"#), "{metrics}");

    // SMTP comes back: the queued e-mail is delivered by a retry, unchanged.
    smtp.restart();
    let mail = smtp.wait_for(1, Duration::from_secs(30));
    assert!(mail[0].contains("Subject: [tugboat] shop: live/api is DOWN"), "{}", mail[0]);
    assert!(mail[0].contains("X-Sink-Rcpt-To: ops@example.org") || mail[0].contains("ops@example.org"), "{}", mail[0]);
    assert!(mail[0].contains("observed 503"), "{}", mail[0]);

    // Recovery goes to the e-mail provider, which works now: no fallback needed.
    target.set(200, r#"{"status":"ok"}"#);
    let mail = smtp.wait_for(2, Duration::from_secs(20));
    assert!(mail[1].contains("Subject: [tugboat] shop: live/api is RESOLVED"), "{}", mail[1]);
    assert_eq!(hook.requests().len(), 1, "the webhook only stood in while SMTP was down");
    // The sink has the mail a moment before the daemon marks it delivered: wait for the mark.
    let status = wait_until(
        Duration::from_secs(20),
        "both alerts marked delivered",
        || {
            let status = daemon.status();
            let alerts = status["alerts"].as_array().unwrap();
            (alerts.len() == 2 && alerts.iter().all(|a| a["pending"] == 0)).then_some(status)
        },
        || daemon.status()["alerts"].to_string(),
    );
    assert_eq!(status["alerts"].as_array().unwrap().len(), 2);
    daemon.stop();
    // The webhook's token never reaches the log or the stored alert.
    let db = std::fs::read(state_db(&dir)).unwrap();
    assert!(!String::from_utf8_lossy(&db).contains("SECRET-TOKEN"));
}

#[test]
fn a_restart_mid_incident_neither_alerts_again_nor_forgets_the_incident() {
    let target = HttpTarget::start();
    target.set(500, "down");
    let hook = WebhookReceiver::start();
    let dir = StackDir::new(&format!(
        "stack: shop\nchecks:\n  live:\n    - {{ name: api, http: \"{}\", interval: 200ms }}\nalerts:\n  - {{ webhook: {{ url: \"{}\" }} }}\nwatch: {{ public_url: \"https://status.example.org/\" }}\n",
        target.url("/"),
        hook.url("/alert"),
    ));
    let daemon = Daemon::start(&dir, state_db(&dir));
    let first = hook.wait_for(1, Duration::from_secs(20));
    assert_eq!(first[0].json()["kind"], "triggered");
    assert_eq!(first[0].json()["status_url"], "https://status.example.org/", "alerts link to the status page");
    daemon.stop();

    let daemon = Daemon::start(&dir, state_db(&dir));
    wait_until(
        Duration::from_secs(20),
        "five runs after the restart",
        || (daemon.runs() >= 5).then_some(()),
        || "".into(),
    );
    // A result counts in `runs` once the alert it raised is saved, so five runs settle it.
    let status = daemon.status();
    assert_eq!(status["alerts"].as_array().unwrap().len(), 1, "no second alert for the same incident: {status}");
    assert_eq!(hook.requests().len(), 1, "no second alert for the same incident");
    assert!(status["checks"][0]["incident_since_ms"].is_i64(), "the open incident is remembered: {status}");

    target.set(200, "ok");
    let all = hook.wait_for(2, Duration::from_secs(20));
    assert_eq!(all[1].json()["kind"], "resolved");
    assert_eq!(all[1].json()["check"], "live/api");
}

#[test]
fn status_page_metrics_and_token() {
    let up = HttpTarget::start();
    let down = HttpTarget::start();
    down.set(502, "bad gateway");
    let dir = StackDir::new(&format!(
        r#"stack: dms
checks:
  smoke:
    - {{ name: frontend, http: "{}", interval: 200ms }}
    - {{ name: backend, http: "{}", interval: 200ms, expect: ["[STATUS] == 200"] }}
    - {{ name: gpu, gpu: true, interval: 1s }}
watch:
  listen: 0.0.0.0:0
  token_env: WATCH_TOKEN
"#,
        up.url("/"),
        down.url("/health")
    ));
    dir.write(".env", "WATCH_TOKEN=let-me-in\n");
    let mut options_dir = Daemon::start(&dir, state_db(&dir));
    options_dir.token = Some("let-me-in".into());
    let base = format!("http://127.0.0.1:{}", options_dir.addr.port());
    let all_ran = |d: &Daemon| {
        let checks = d.status()["checks"].as_array().unwrap().clone();
        checks.len() == 3 && checks.iter().all(|c| !c["status"].is_null())
    };
    wait_until(
        Duration::from_secs(20),
        "all three checks to run",
        || all_ran(&options_dir).then_some(()),
        || options_dir.status()["checks"].to_string(),
    );

    assert_eq!(get(&format!("{base}/"), None).0, 401, "a token is required beyond loopback");
    assert_eq!(get(&format!("{base}/"), Some("wrong")).0, 401);
    let (code, page) = get(&format!("{base}/"), Some("let-me-in"));
    assert_eq!(code, 200);
    for needle in [
        "<meta name=\"viewport\"",
        "1 failing",
        "smoke/frontend",
        "smoke/backend",
        "[STATUS] == 200 (observed 502)",
        "class=\"dot pass\"",
        "class=\"dot fail\"",
        "class=\"dot na\"",
        "Last backup",
        "Recent alerts",
    ] {
        assert!(page.contains(needle), "status page lacks {needle}:\n{page}");
    }
    assert!(!page.contains("<script"), "no JavaScript");
    // 48 half-hour segments per check.
    assert_eq!(page.matches("ok, ").count(), 3 * 48);
    let (_, metrics) = get(&format!("{base}/metrics?token=let-me-in"), None);
    assert!(
        metrics.contains(r#"tugboat_check_up{stack="dms",suite="smoke",check="backend",kind="http"} 0"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"tugboat_check_up{stack="dms",suite="smoke",check="frontend",kind="http"} 1"#),
        "{metrics}"
    );
    // No GPU here: not applicable is neither up nor down, and says so.
    assert!(!metrics.contains(r#"tugboat_check_up{stack="dms",suite="smoke",check="gpu""#), "{metrics}");
    assert!(
        metrics.contains(r#"tugboat_check_applicable{stack="dms",suite="smoke",check="gpu",kind="gpu"} 0"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"tugboat_check_applicable{stack="dms",suite="smoke",check="backend",kind="http"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains("# TYPE tugboat_watch_schedule_drift_seconds gauge"), "{metrics}");
    options_dir.shutdown();
}

#[test]
fn the_heartbeat_is_pinged_while_the_daemon_runs() {
    let beat = WebhookReceiver::start();
    let dir = StackDir::new(&format!(
        "stack: shop\nwatch:\n  heartbeat: {{ url: \"{}\", interval: 200ms }}\n",
        beat.url("/ping/abc")
    ));
    let daemon = Daemon::start(&dir, state_db(&dir));
    let pings = beat.wait_for(3, Duration::from_secs(20));
    assert!(pings.iter().all(|p| p.method == "GET" && p.path == "/ping/abc"), "{pings:?}");
    daemon.stop();
    // The daemon's runtime is gone once `stop` returns. One ping may have been on its way (pings go one at
    // a time); a pinger that outlived the daemon would send five in this second. The wait bounds what is
    // looked for, it decides nothing: no timing can make this fail for a daemon that stops.
    let at_stop = beat.requests().len();
    std::thread::sleep(Duration::from_secs(1));
    let after = beat.requests().len();
    assert!(
        after <= at_stop + 1,
        "a stopped daemon sends no heartbeat ({at_stop} at the stop, {after} a second later)"
    );
}

#[test]
fn reload_applies_a_valid_config_and_keeps_the_old_one_when_invalid() {
    let target = HttpTarget::start();
    let yml = |names: &[&str]| {
        let checks: String = names
            .iter()
            .map(|n| format!("    - {{ name: {n}, http: \"{}\", interval: 200ms }}\n", target.url("/")))
            .collect();
        format!("stack: shop\nchecks:\n  live:\n{checks}")
    };
    let dir = StackDir::new(&yml(&["a"]));
    let daemon = Daemon::start(&dir, state_db(&dir));
    let ids = |d: &Daemon| -> Vec<String> {
        d.status()["checks"].as_array().unwrap().iter().map(|c| c["check"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(ids(&daemon), ["live/a"], "listed from the first request");

    dir.write(
        "tugboat.yml",
        "stack: shop\nchecks:\n  live:\n    - { name: broken, http: \"x\", expect: [\"[STATUS] = 200\"] }\n",
    );
    daemon.reload.blocking_send(()).unwrap();
    let reloads = wait_until(
        Duration::from_secs(20),
        "the invalid file to be refused",
        || Some(daemon.status()["reloads"].clone()).filter(|r| r["refused"] == 1),
        || daemon.status()["reloads"].to_string(),
    );
    assert!(reloads["last_error"].as_str().unwrap().contains("use `==`"), "{reloads}");
    assert_eq!(reloads["applied"], 0);
    assert_eq!(ids(&daemon), ["live/a"], "an invalid file keeps the running configuration");
    let before = daemon.runs();
    wait_until(Duration::from_secs(20), "runs to go on", || (daemon.runs() >= before + 3).then_some(()), || "".into());

    dir.write("tugboat.yml", &yml(&["a", "b"]));
    daemon.reload.blocking_send(()).unwrap();
    wait_until(
        Duration::from_secs(20),
        "the valid file to be applied",
        || (daemon.status()["reloads"]["applied"] == 1).then_some(()),
        || daemon.status()["reloads"].to_string(),
    );
    assert_eq!(ids(&daemon), ["live/a", "live/b"]);
}

/// A check that fails is re-probed `confirm_interval` apart until its failures reach the threshold: at a
/// one-hour interval only the re-probes can make the three failures the alert needs, and once it is sent
/// nothing is probed before the next interval.
#[test]
fn a_failing_check_is_re_probed_until_the_alert_is_confirmed() {
    let target = HttpTarget::start();
    target.set(503, "down");
    let hook = WebhookReceiver::start();
    let dir = StackDir::new(&format!(
        "stack: shop\nchecks:\n  live:\n    - {{ name: api, http: \"{}\", interval: 1h, alert: {{ failure_threshold: 3, confirm_interval: 100ms }} }}\nalerts:\n  - {{ webhook: {{ url: \"{}\" }} }}\n",
        target.url("/"),
        hook.url("/alert"),
    ));
    let daemon = Daemon::start(&dir, state_db(&dir));
    let alert = hook.wait_for(1, Duration::from_secs(30));
    assert_eq!(alert[0].json()["kind"], "triggered");
    assert_eq!(target.requests().len(), 3, "the first run and two re-probes");
    daemon.stop();
}

/// 1000 TCP checks at a one-second interval for a few seconds: every check keeps running on time. The
/// drift (how late runs start) is printed; `bench/watch` measures it properly.
#[test]
fn a_thousand_checks_at_one_second_keep_their_schedule() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            drop(stream);
        }
    });
    let checks: String =
        (0..1000).map(|i| format!("    - {{ name: c{i}, tcp: \"127.0.0.1:{port}\", interval: 1s }}\n")).collect();
    let dir = StackDir::new(&format!("stack: many\nwatch: {{ concurrency: 256 }}\nchecks:\n  load:\n{checks}"));
    let daemon = Daemon::start(&dir, state_db(&dir));
    let start = std::time::Instant::now();
    wait_until(
        Duration::from_secs(60),
        "5000 runs",
        || (daemon.runs() >= 5000).then_some(()),
        || format!("{} runs", daemon.runs()),
    );
    let elapsed = start.elapsed();
    let status = daemon.status();
    let drift = &status["schedule_drift_ms"];
    println!(
        "1000 checks @1s: 5000 runs in {elapsed:?}; drift over the last minute: p50 {} ms, p99 {} ms, max {} ms",
        drift["p50"], drift["p99"], drift["max"]
    );
    let failing: Vec<&serde_json::Value> =
        status["checks"].as_array().unwrap().iter().filter(|c| c["status"] != "pass").collect();
    assert!(failing.is_empty(), "{} checks not passing, e.g. {:?}", failing.len(), failing.first());
}

/// The status page in a real browser (Debian's Chromium, headless) at a phone's width: the browser's DOM
/// has every check, and the screenshot is taken at 412 px wide (target/status-page.png, to look at).
#[test]
fn status_page_renders_in_a_headless_browser_at_phone_width() {
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()))
        .expect("install Chromium (apt-get install chromium) for the status page's browser test");
    let up = HttpTarget::start();
    let down = HttpTarget::start();
    down.set(503, "{\"status\":\"degraded\"}");
    let dir = StackDir::new(&format!(
        "stack: dms\nchecks:\n  smoke:\n    - {{ name: frontend, http: \"{}\", interval: 200ms }}\n    - {{ name: backend, http: \"{}\", interval: 200ms, expect: [\"[STATUS] == 200\", \"[BODY].status == ok\"] }}\n",
        up.url("/"),
        down.url("/health")
    ));
    let daemon = Daemon::start(&dir, state_db(&dir));
    let all_ran = |d: &Daemon| d.status()["checks"].as_array().unwrap().iter().all(|c| !c["status"].is_null());
    wait_until(Duration::from_secs(20), "both checks to run", || all_ran(&daemon).then_some(()), || "".into());
    let url = format!("http://127.0.0.1:{}/", daemon.addr.port());
    let profile = tempfile::tempdir().unwrap();
    let browser = |args: &[&str]| {
        let out = Command::new(chromium)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(args)
            .arg(&url)
            .output()
            .unwrap();
        assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    let dom = String::from_utf8(browser(&["--dump-dom"])).unwrap();
    // An alert raised with no provider configured says so.
    wait_until(
        Duration::from_secs(20),
        "the alert to be listed",
        || daemon.get("/").1.contains("not sent: no provider").then_some(()),
        || daemon.get("/").1,
    );
    for needle in ["smoke/frontend", "smoke/backend", "1 failing", "(observed 503)"] {
        assert!(dom.contains(needle), "the browser's DOM lacks {needle}:\n{dom}");
    }
    let png = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    let _ = std::fs::remove_file(&png);
    browser(&[&format!("--screenshot={}", png.display()), "--window-size=412,915"]);
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    assert_eq!(width, 412, "rendered at phone width");
    assert!(bytes.len() > 10_000, "the page has content ({} bytes)", bytes.len());
}

/// E-mail through STARTTLS (the relay's certificate from a private CA given as `ca_file`) with AUTH, the
/// password from `.env`: the message arrives, and a wrong password is a delivery error that keeps it queued.
#[test]
fn alert_mail_goes_through_starttls_with_auth() {
    let target = HttpTarget::start();
    target.set(500, "down");
    let cert = support::TestCert::expiring_in(Duration::from_secs(86_400));
    let ca = cert.ca_pem.clone();
    let smtp = SmtpSink::start_with(support::SmtpOptions {
        auth: Some(("alerts".into(), "s3cret-relay".into())),
        starttls: Some(cert),
    });
    let dir = StackDir::new(&format!(
        "stack: shop\nchecks:\n  live:\n    - {{ name: api, http: \"{}\", interval: 200ms }}\n\
         alerts:\n  - {{ smtp: {{ host: localhost, port: {}, security: starttls, ca_file: relay-ca.pem, user: alerts, password_env: SMTP_PASSWORD, to: [ops@example.org] }} }}\n",
        target.url("/"),
        smtp.port()
    ));
    dir.write("relay-ca.pem", &ca);
    dir.write(".env", "SMTP_PASSWORD=s3cret-relay\n");
    let daemon = Daemon::start(&dir, state_db(&dir));
    let mail = smtp.wait_for(1, Duration::from_secs(20));
    assert!(mail[0].contains("Subject: [tugboat] shop: live/api is DOWN"), "{}", mail[0]);
    daemon.stop();
    let db = std::fs::read(state_db(&dir)).unwrap();
    assert!(!String::from_utf8_lossy(&db).contains("s3cret-relay"), "the password is not stored");
}

/// Unix milliseconds of a local time (cron schedules are in local time).
fn local_ms(y: i32, mo: u32, d: u32, h: u32, mi: u32, sec: u32) -> i64 {
    chrono::Local.with_ymd_and_hms(y, mo, d, h, mi, sec).single().unwrap().timestamp_millis()
}

/// A job runner that answers with `outcome` and remembers each call (the job's name and the process it
/// ran in: this one, since jobs run in process).
struct Recorder {
    outcome: JobOutcome,
    calls: Mutex<Vec<(String, u32)>>,
    count: AtomicUsize,
}

impl Recorder {
    fn new(outcome: JobOutcome) -> Arc<Recorder> {
        Arc::new(Recorder { outcome, calls: Mutex::new(Vec::new()), count: AtomicUsize::new(0) })
    }

    fn calls(&self) -> Vec<(String, u32)> {
        self.calls.lock().unwrap().clone()
    }
}

impl JobRunner for Recorder {
    fn run(&self, job: &Job<'_>) -> JobOutcome {
        self.calls.lock().unwrap().push((job.name.to_string(), std::process::id()));
        self.count.fetch_add(1, Ordering::SeqCst);
        self.outcome.clone()
    }
}

/// A scheduled backup that fails alerts like a failed check, naming the source that failed and why. The
/// schedule runs on a manual clock: moving it past the cron time runs the job, no minute boundary waited for.
#[test]
fn a_failed_scheduled_backup_alerts_with_the_source_and_the_reason() {
    let hook = WebhookReceiver::start();
    let dir = StackDir::new(&format!(
        "stack: shop\nalerts:\n  - {{ webhook: {{ url: \"{}\" }} }}\nwatch:\n  schedule: {{ backup: \"0 2 * * *\" }}\n",
        hook.url("/alert")
    ));
    let runner = Recorder::new(JobOutcome::failed(
        "backup: 1 of 2 sources failed",
        vec![SourceFailure {
            source: "db".into(),
            reason: "cannot connect to mariadb://backup@127.0.0.1:1/shop: Connection refused".into(),
        }],
    ));
    let clock = Arc::new(ManualClock::at(local_ms(2026, 11, 26, 1, 59, 30)));
    let daemon = Daemon::start_with(&dir, state_db(&dir), runner.clone(), clock.clone());
    assert!(daemon.check_status("schedule/backup").is_null(), "listed, not run yet");
    assert!(runner.calls().is_empty(), "not before its time");

    clock.set(local_ms(2026, 11, 26, 2, 0, 1));
    let alert = hook.wait_for(1, Duration::from_secs(30))[0].json();
    assert_eq!(alert["check"], "schedule/backup", "{alert}");
    assert_eq!(alert["kind"], "triggered", "{alert}");
    let summary = alert["summary"].as_str().unwrap();
    assert!(summary.contains("1 of 2 sources failed"), "{alert}");
    assert!(summary.contains("db: cannot connect to mariadb://backup@127.0.0.1:1/shop: Connection refused"), "{alert}");
    assert_eq!(alert["failed_sources"][0]["source"], "db", "{alert}");
    assert!(alert["failed_sources"][0]["reason"].as_str().unwrap().contains("Connection refused"), "{alert}");
    assert_eq!(runner.calls(), [("backup".to_string(), std::process::id())], "one run, in this process");
    let page = daemon.get("/").1;
    assert!(page.contains("schedule/backup") && page.contains("db: cannot connect"), "{page}");
    assert_eq!(daemon.check_status("schedule/backup"), "fail");

    // The next run is the next night's 02:00.
    clock.set(local_ms(2026, 11, 27, 2, 0, 0));
    wait_until(
        Duration::from_secs(30),
        "the second night's run",
        || (runner.count.load(Ordering::SeqCst) == 2).then_some(()),
        || format!("{:?}", runner.calls()),
    );
}

/// A scheduled job that passes sends nothing: its result is recorded (and with it any alert it would
/// have raised), and no alert exists.
#[test]
fn a_passing_scheduled_drill_sends_nothing() {
    let hook = WebhookReceiver::start();
    let dir = StackDir::new(&format!(
        "stack: shop\nalerts:\n  - {{ webhook: {{ url: \"{}\" }} }}\nwatch:\n  schedule: {{ drill: \"30 3 * * 0\" }}\n",
        hook.url("/alert")
    ));
    let runner = Recorder::new(JobOutcome::passed("drill: 2 sources restored and proven"));
    let clock = Arc::new(ManualClock::at(local_ms(2026, 11, 29, 3, 0, 0)));
    let daemon = Daemon::start_with(&dir, state_db(&dir), runner.clone(), clock.clone());
    clock.set(local_ms(2026, 11, 29, 3, 30, 0));
    wait_until(
        Duration::from_secs(30),
        "the drill's result",
        || (daemon.check_status("schedule/drill") == "pass").then_some(()),
        || daemon.status().to_string(),
    );
    assert_eq!(runner.calls().len(), 1);
    let status = daemon.status();
    assert_eq!(status["alerts"], serde_json::json!([]), "a passing job raises no alert: {status}");
    daemon.stop();
    assert!(hook.requests().is_empty(), "{:?}", hook.requests());
}

/// Failures inside a maintenance window (on the daemon's clock) raise no alert; after it they do.
#[test]
fn maintenance_windows_follow_the_injected_clock() {
    let target = HttpTarget::start();
    target.set(500, "down");
    let hook = WebhookReceiver::start();
    let dir = StackDir::new(&format!(
        "stack: shop\nchecks:\n  live:\n    - {{ name: api, http: \"{}\", interval: 200ms, alert: {{ failure_threshold: 1 }} }}\n\
         alerts:\n  - {{ webhook: {{ url: \"{}\" }} }}\nwatch:\n  maintenance: [ {{ cron: \"0 4 * * 0\", duration: 1h }} ]\n",
        target.url("/"),
        hook.url("/alert"),
    ));
    // Sunday 04:10: inside the window.
    let clock = Arc::new(ManualClock::at(local_ms(2026, 11, 29, 4, 10, 0)));
    let daemon = Daemon::start_with(&dir, state_db(&dir), Arc::new(NoJobs), clock.clone());
    wait_until(Duration::from_secs(20), "five failing runs", || (daemon.runs() >= 5).then_some(()), || "".into());
    let status = daemon.status();
    assert_eq!(status["alerts"], serde_json::json!([]), "muted in the window: {status}");
    assert_eq!(daemon.check_status("live/api"), "fail");

    clock.set(local_ms(2026, 11, 29, 5, 0, 0));
    let alert = hook.wait_for(1, Duration::from_secs(30))[0].json();
    assert_eq!(alert["check"], "live/api", "{alert}");
    assert_eq!(alert["kind"], "triggered", "{alert}");
}

/// Every check is on /api/status from the first request, before any has run: start-up registers them
/// before the status page listens.
#[test]
fn every_check_is_listed_from_the_first_request() {
    let target = HttpTarget::start();
    let checks: String =
        (0..50).map(|i| format!("    - {{ name: c{i}, http: \"{}\", interval: 1h }}\n", target.url("/"))).collect();
    let dir = StackDir::new(&format!(
        "stack: many\nchecks:\n  live:\n{checks}watch:\n  schedule: {{ backup: \"0 2 * * *\" }}\n"
    ));
    let daemon = Daemon::start(&dir, state_db(&dir));
    let status = daemon.status();
    let ids: Vec<&str> = status["checks"].as_array().unwrap().iter().map(|c| c["check"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 51, "{status}");
    assert_eq!(ids[0], "live/c0");
    assert_eq!(ids[50], "schedule/backup");
    let (_, page) = daemon.get("/");
    assert_eq!(page.matches(r#"<div class="check">"#).count(), 51, "{page}");
}
