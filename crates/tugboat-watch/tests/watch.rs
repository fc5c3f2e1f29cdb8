//! `tug watch` in-process against real servers: alerts through a real SMTP server (aiosmtpd) and a real
//! webhook receiver, the outbox surviving an SMTP outage, a restart mid-incident, reloads, the status page
//! and /metrics, and a thousand checks at a one-second interval.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: failing loudly is the point

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use support::{wait_until, HttpTarget, SmtpSink, StackDir, WebhookReceiver};
use tokio::sync::{mpsc, oneshot};
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
        let options = Options {
            dir: dir.path().to_path_buf(),
            environment: None,
            state,
            listen: Some("127.0.0.1:0".into()),
            job_command: vec!["false".into()],
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
    let status = daemon.status();
    let alerts = status["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 2);
    assert!(alerts.iter().all(|a| a["pending"] == 0), "{alerts:?}");
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
    assert_eq!(hook.requests().len(), 1, "no second alert for the same incident");
    let status = daemon.status();
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
    let all_ran = |d: &Daemon| d.status()["checks"].as_array().unwrap().iter().all(|c| !c["status"].is_null());
    wait_until(Duration::from_secs(20), "all checks to run", || all_ran(&options_dir).then_some(()), || "".into());

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
    let after_stop = beat.requests().len();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(beat.requests().len(), after_stop, "a stopped daemon sends no heartbeat: that is the point");
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
    assert_eq!(ids(&daemon), ["live/a"]);

    dir.write(
        "tugboat.yml",
        "stack: shop\nchecks:\n  live:\n    - { name: broken, http: \"x\", expect: [\"[STATUS] = 200\"] }\n",
    );
    daemon.reload.blocking_send(()).unwrap();
    let before = daemon.runs();
    wait_until(Duration::from_secs(20), "runs to go on", || (daemon.runs() >= before + 3).then_some(()), || "".into());
    assert_eq!(ids(&daemon), ["live/a"], "an invalid file keeps the running configuration");

    dir.write("tugboat.yml", &yml(&["a", "b"]));
    daemon.reload.blocking_send(()).unwrap();
    wait_until(
        Duration::from_secs(20),
        "the new check",
        || (ids(&daemon).len() == 2).then_some(()),
        || format!("{:?}", ids(&daemon)),
    );
    assert_eq!(ids(&daemon), ["live/a", "live/b"]);
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

/// A scheduled backup that fails alerts like a failed check. The job command here is `false` (the
/// daemon appends `backup --dir … --state …`), and the schedule fires at the next minute.
#[test]
fn a_failed_scheduled_backup_alerts() {
    let hook = WebhookReceiver::start();
    let dir = StackDir::new(&format!(
        "stack: shop\nalerts:\n  - {{ webhook: {{ url: \"{}\" }} }}\nwatch:\n  schedule: {{ backup: \"* * * * *\" }}\n",
        hook.url("/alert")
    ));
    let daemon = Daemon::start(&dir, state_db(&dir));
    let alert = hook.wait_for(1, Duration::from_secs(75))[0].json();
    assert_eq!(alert["check"], "schedule/backup", "{alert}");
    assert_eq!(alert["kind"], "triggered", "{alert}");
    assert!(alert["summary"].as_str().unwrap().contains("tug backup exited with 1"), "{alert}");
    let page = daemon.get("/").1;
    assert!(page.contains("schedule/backup"), "{page}");
}
