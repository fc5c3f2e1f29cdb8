//! `tug watch` collects the stack's container logs into `.tugboat/logs.db`: against the real Docker Engine
//! and a real SMTP server. Lines written while tug watch is killed are read when it comes back, none
//! twice; a recreated container's lines stay readable with `tug logs` after the engine dropped them; a
//! log alert's threshold sends one mail; lines are forwarded to a Loki push endpoint; secrets reach neither.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::logs::{get, stack, SECRET};
use crate::runtime_support::Project;
use crate::util::{wait_for, Fixture};
use crate::watch::support::{SmtpSink, WebhookReceiver};

const LONG: Duration = Duration::from_secs(120);

fn watch(f: &Fixture) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tug"))
        .args(["watch", "--listen", "127.0.0.1:0", "--log-format", "json", "--dir"])
        .arg(f.path())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(f.join("watch.log")).unwrap())
        .spawn()
        .unwrap()
}

/// Every stored line of `service` (through SQLite itself, not through tug).
pub(crate) fn stored(f: &Fixture, service: &str) -> Vec<String> {
    let path = f.join(".tugboat/logs.db");
    if !path.exists() {
        return Vec::new();
    }
    let Ok(db) = rusqlite::Connection::open(path) else { return Vec::new() };
    let Ok(mut stmt) = db.prepare("SELECT line FROM lines WHERE service = ? ORDER BY nanos, id") else {
        return Vec::new();
    };
    stmt.query_map([service], |r| r.get(0)).map(|rows| rows.flatten().collect()).unwrap_or_default()
}

pub(crate) fn count(lines: &[String], needle: &str) -> usize {
    lines.iter().filter(|l| l.contains(needle)).count()
}

#[track_caller]
fn wait_stored(f: &Fixture, needle: &str, n: usize) {
    wait_for(&format!("{n} stored lines with {needle:?}"), LONG, || count(&stored(f, "beta"), needle) >= n);
}

fn kill(child: &mut Child, signal: &str) {
    Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status().unwrap();
    let _ = child.wait();
}

#[test]
fn collected_logs_survive_a_killed_watch_and_a_recreated_container_and_raise_a_log_alert() {
    let p = Project::new();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let f = stack(&p, port);
    let smtp = SmtpSink::start();
    let loki = WebhookReceiver::start();
    f.write(
        "tugboat.yml",
        &format!(
            "alerts:\n  - smtp: {{ host: 127.0.0.1, port: {}, security: none, from: tug@example.com, to: [ops@example.com] }}\n\
             watch:\n  logs:\n    alerts:\n      - name: alarms\n        services: [beta]\n        \
             match: 'GET /alarm-[0-9]+ 404'\n        threshold: 3\n        window: 5m\n    \
             forward:\n      - loki: http://127.0.0.1:{}\n",
            smtp.port(),
            loki.port()
        ),
    );
    f.tug().args(["up", "--wait"]).run().success();
    // The dry run shows the collection, the log alert and the receiver.
    f.tug()
        .args(["watch", "--dry-run"])
        .run()
        .success()
        .stdout_contains("logs collected, kept 7d and at most 256MiB per service")
        .stdout_contains("log alert alarms: `GET /alarm-[0-9]+ 404` (3 within 5m)")
        .stdout_contains("logs forwarded to loki");

    let mut daemon = watch(&f);
    for i in 1..=5 {
        get(port, &format!("/one-{i}"));
    }
    wait_stored(&f, "GET /one-", 5);
    // Killed outright: no chance to flush anything; what it had read but not stored is read again.
    kill(&mut daemon, "KILL");
    for i in 1..=5 {
        get(port, &format!("/two-{i}"));
    }
    let mut daemon = watch(&f);
    wait_stored(&f, "GET /two-", 5);
    let lines = stored(&f, "beta");
    for i in 1..=5 {
        for what in ["one", "two"] {
            assert_eq!(count(&lines, &format!("GET /{what}-{i} ")), 1, "/{what}-{i} once: {lines:#?}");
        }
    }
    assert_eq!(count(&lines, "listening on"), 1, "the start line once: {lines:#?}");

    // A log alert: two matches are under the threshold, the third sends one mail.
    get(port, "/alarm-1");
    get(port, "/alarm-2");
    wait_stored(&f, "/alarm-", 2);
    assert!(smtp.messages().is_empty(), "no alert under the threshold");
    get(port, "/alarm-3");
    let mail = smtp.wait_for(1, LONG);
    assert!(mail[0].contains("logs/alarms"), "{}", mail[0]);
    assert!(mail[0].contains("3 lines matched"), "{}", mail[0]);
    assert!(mail[0].contains("GET /alarm-3 404"), "the matching lines are quoted: {}", mail[0]);

    // The status page lists the matches; /metrics counts the stored lines.
    let addr = std::fs::read_to_string(f.join("watch.log"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|l| l["addr"].as_str().map(str::to_string))
        .expect("tug watch logs the address it listens on");
    let page = ureq::get(&format!("http://{addr}/")).call().unwrap().into_body().read_to_string().unwrap();
    assert!(page.contains("Recent log matches") && page.contains("GET /alarm-3 404"), "{page}");
    let metrics = ureq::get(&format!("http://{addr}/metrics")).call().unwrap().into_body().read_to_string().unwrap();
    assert!(metrics.contains("tugboat_logs_lines_total{stack=") && metrics.contains("service=\"beta\"}"), "{metrics}");
    assert!(metrics.contains("tugboat_logs_forwarded_total{"), "{metrics}");

    // Forwarded to Loki's push API as they are stored, labelled by service.
    let pushed = || loki.requests().iter().map(|r| r.body.clone()).collect::<Vec<_>>().join("\n");
    wait_for("the alarm lines pushed to Loki", LONG, || pushed().contains("GET /alarm-3 404"));
    let push = loki.requests().into_iter().find(|r| r.body.contains("GET /alarm-3 404")).unwrap();
    assert_eq!((push.method.as_str(), push.path.as_str()), ("POST", "/loki/api/v1/push"));
    let body: serde_json::Value = serde_json::from_str(&push.body).unwrap();
    // A push holds one stream per container and stream that had lines; alpha's may come first.
    let alarm_stream = body["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["values"].to_string().contains("GET /alarm-3 404"))
        .unwrap_or_else(|| panic!("a stream with the alarm line: {body}"));
    assert_eq!(alarm_stream["stream"]["service"], "beta", "{body}");
    assert!(!pushed().contains(SECRET), "no secret is forwarded");

    // Recreated: the engine drops the old container's log; the store keeps it.
    f.tug().args(["up", "--force-recreate", "--wait", "beta"]).run().success();
    get(port, "/three-1");
    wait_stored(&f, "GET /three-1 ", 1);
    wait_stored(&f, "listening on", 2);
    let shown = f.tug().args(["logs", "beta"]).run();
    shown.success();
    let out = shown.stdout();
    for needle in ["GET /one-1 ", "GET /two-5 ", "GET /alarm-3 ", "GET /three-1 "] {
        assert_eq!(out.matches(needle).count(), 1, "{needle} once in tug logs:\n{out}");
    }
    assert_eq!(out.matches("listening on").count(), 2, "both containers' start lines:\n{out}");
    let grep = f.tug().args(["logs", "beta", "--since", "1h", "--grep", "two-[0-9]"]).run();
    assert_eq!(grep.success().stdout().lines().count(), 5, "{}", grep.stdout());

    // Nothing secret in the store, its write-ahead log included.
    kill(&mut daemon, "TERM");
    for file in ["logs.db", "logs.db-wal"] {
        let bytes = std::fs::read(f.join(".tugboat").join(file)).unwrap_or_default();
        assert!(!bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()), "{file} holds the secret");
    }
    assert!(count(&stored(&f, "beta"), "token=***") >= 1, "the masked line is stored");
    let log = std::fs::read_to_string(f.join("watch.log")).unwrap();
    assert!(log.contains("collecting container logs"), "{log}");
}
