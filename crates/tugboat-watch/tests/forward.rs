//! Log forwarding against real receivers: rsyslog (Debian's `rsyslogd`, plain TCP and TLS through its
//! gtls driver) parsing what is sent into its RFC 5424 fields, and an in-test Loki push endpoint (axum)
//! that records every push and answers as scripted (503 a few times, 400).
//!
//! Nothing waits for a timing window: each test waits for the state it asserts (rsyslog's output file
//! holding the lines, the receiver's counters) with a generous limit that only bounds a hang. A missing
//! `rsyslogd` fails the test, saying what to install.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: failing loudly is the point

mod support;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use support::{free_port, port_open, TestCert, TlsServer};
use tugboat::stack::logs::LogForwardConfig;
use tugboat_runtime::logs::{LogLine, Stream};
use tugboat_watch::watch::forward::{ForwardStats, Forwarders};

/// Bounds every wait: far beyond what a healthy run needs (backoffs of 1, 2, 4 s included).
const LIMIT: Duration = Duration::from_secs(90);
/// 2026-12-02T10:00:00.123456Z, in Unix nanoseconds (plus 789 ns, which syslog cannot carry).
const BASE_NANOS: i128 = 1_796_205_600_123_456_789;

/// Line `n`: `text`, a microsecond after line `n - 1`.
fn line(n: usize, text: &str) -> LogLine {
    let nanos = BASE_NANOS + n as i128 * 1000;
    let time = chrono::DateTime::from_timestamp((nanos / 1_000_000_000) as i64, (nanos % 1_000_000_000) as u32)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    LogLine {
        time,
        nanos,
        service: "web".into(),
        container: "shop-web-1".into(),
        label: "web-1".into(),
        stream: Stream::Stdout,
        line: text.into(),
    }
}

fn syslog(url: &str) -> LogForwardConfig {
    LogForwardConfig { syslog: Some(url.into()), ..Default::default() }
}

fn loki(url: &str) -> LogForwardConfig {
    LogForwardConfig { loki: Some(url.into()), ..Default::default() }
}

fn start(entries: &[LogForwardConfig], dir: &Path) -> Forwarders {
    Forwarders::start(entries, "shop", dir).unwrap_or_else(|e| panic!("forwarders refused: {e}"))
}

/// Polls `probe` every 20 ms until it gives `Some`; panics after [`LIMIT`] with `describe`'s state.
async fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>, describe: impl Fn() -> String) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = probe() {
            return v;
        }
        if start.elapsed() > LIMIT {
            panic!("waited {LIMIT:?} for {what}; {}", describe());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn stats(f: &Forwarders, name: &str) -> ForwardStats {
    f.stats().into_iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no receiver {name}"))
}

// ---------------------------------------------------------------------------------------------------
// rsyslog

fn rsyslogd() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("rsyslogd"))
        .find(|p| p.is_file());
    on_path.or_else(|| Some(PathBuf::from("/usr/sbin/rsyslogd")).filter(|p| p.is_file())).unwrap_or_else(|| {
        panic!("rsyslogd is missing: the syslog forwarding tests run a real rsyslog; apt-get install rsyslog rsyslog-gnutls")
    })
}

/// One record of rsyslog's output file: the fields rsyslog parsed out of a message.
#[derive(Debug, Clone, PartialEq)]
struct Record {
    pri: String,
    timestamp: String,
    hostname: String,
    app_name: String,
    procid: String,
    msgid: String,
    structured_data: String,
    msg: String,
}

/// `rsyslogd -n` on 127.0.0.1:`port` (TLS with `cert` through the gtls driver, anonymous clients),
/// writing each received message's parsed fields to a file; killed on drop.
struct Rsyslog {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Rsyslog {
    async fn start(port: u16, cert: Option<&TestCert>) -> Rsyslog {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        // Messages may be longer than rsyslog's default 8 KiB (a 20 KiB line is sent); the global must come
        // before the input module is loaded.
        let mut conf = format!("global(workDirectory=\"{d}\" maxMessageSize=\"64k\")\n");
        match cert {
            None => conf.push_str("module(load=\"imtcp\")\n"),
            Some(cert) => {
                std::fs::write(dir.path().join("ca.pem"), &cert.ca_pem).unwrap();
                std::fs::write(dir.path().join("cert.pem"), &cert.cert_pem).unwrap();
                std::fs::write(dir.path().join("key.pem"), &cert.key_pem).unwrap();
                conf.push_str(&format!(
                    "global(DefaultNetstreamDriver=\"gtls\" DefaultNetstreamDriverCAFile=\"{d}/ca.pem\" \
                     DefaultNetstreamDriverCertFile=\"{d}/cert.pem\" DefaultNetstreamDriverKeyFile=\"{d}/key.pem\")\n\
                     module(load=\"imtcp\" StreamDriver.Name=\"gtls\" StreamDriver.Mode=\"1\" StreamDriver.AuthMode=\"anon\")\n"
                ));
            }
        }
        conf.push_str(&format!(
            "input(type=\"imtcp\" port=\"{port}\" address=\"127.0.0.1\")\n\
             template(name=\"fields\" type=\"string\" string=\"%PRI%\\t%TIMESTAMP:::date-rfc3339%\\t%HOSTNAME%\\t%APP-NAME%\\t%PROCID%\\t%MSGID%\\t%STRUCTURED-DATA%\\t%msg%\\n\")\n\
             if $inputname == \"imtcp\" then action(type=\"omfile\" file=\"{d}/out.log\" template=\"fields\")\n"
        ));
        let conf_path = dir.path().join("rsyslog.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(rsyslogd())
            .arg("-n")
            .arg("-f")
            .arg(&conf_path)
            .arg("-i")
            .arg(dir.path().join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.path().join("stdout")).unwrap())
            .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run rsyslogd ({e}): apt-get install rsyslog rsyslog-gnutls"));
        let mut rsyslog = Rsyslog { child, dir, port };
        let log = rsyslog.dir.path().to_path_buf();
        let mut exited = None;
        wait_for(
            &format!("rsyslogd to listen on 127.0.0.1:{port}"),
            || {
                if let Ok(Some(status)) = rsyslog.child.try_wait() {
                    exited = Some(status);
                    return Some(());
                }
                port_open(port).then_some(())
            },
            || rsyslog_output(&log),
        )
        .await;
        if let Some(status) = exited {
            panic!("rsyslogd exited ({status}); {}", rsyslog_output(rsyslog.dir.path()));
        }
        rsyslog
    }

    fn records(&self) -> Vec<Record> {
        let text = match std::fs::read(self.dir.path().join("out.log")) {
            Ok(bytes) => String::from_utf8(bytes).expect("rsyslog's output is UTF-8"),
            Err(_) => return Vec::new(),
        };
        text.lines()
            .map(|l| {
                let f: Vec<&str> = l.splitn(8, '\t').collect();
                assert_eq!(f.len(), 8, "not a record: {l}");
                Record {
                    pri: f[0].into(),
                    timestamp: f[1].into(),
                    hostname: f[2].into(),
                    app_name: f[3].into(),
                    procid: f[4].into(),
                    msgid: f[5].into(),
                    structured_data: f[6].into(),
                    msg: f[7].into(),
                }
            })
            .collect()
    }

    /// Waits until rsyslog has written `n` records; panics if it writes more.
    async fn wait_records(&self, n: usize) -> Vec<Record> {
        let records = wait_for(
            &format!("{n} messages in rsyslog's output"),
            || Some(self.records()).filter(|r| r.len() >= n),
            || format!("it has {}; {}", self.records().len(), rsyslog_output(self.dir.path())),
        )
        .await;
        assert_eq!(records.len(), n, "more messages than sent: {records:#?}");
        records
    }

    fn url(&self, scheme: &str, host: &str) -> String {
        format!("{scheme}://{host}:{}", self.port)
    }
}

fn rsyslog_output(dir: &Path) -> String {
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
    format!("rsyslogd stdout: {}\nstderr: {}", read("stdout"), read("stderr"))
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The lines of the parsing tests: quotes and brackets, non-ASCII text, stderr, an empty line, 20 KiB.
fn tricky_lines() -> Vec<LogLine> {
    let mut err = line(1, "error: disk \"full\" ] [retry] \\ now");
    err.stream = Stream::Stderr;
    let long = format!("{}<end>", "0123456789abcdef".repeat(20 * 1024 / 16));
    vec![line(0, "GET / 200 in 3ms"), err, line(2, "ünïcödé ✓ 日本語 — ok"), line(3, ""), line(4, &long)]
}

fn assert_parsed(records: &[Record], lines: &[LogLine], stack_sd: &str) {
    let host = tugboat_watch::watch::notify::hostname();
    for (r, l) in records.iter().zip(lines) {
        let (pri, msgid) = match l.stream {
            Stream::Stdout => ("14", "stdout"),
            Stream::Stderr => ("11", "stderr"),
        };
        assert_eq!(r.pri, pri, "{r:?}");
        assert_eq!(r.msgid, msgid, "{r:?}");
        let micros = (l.nanos % 1_000_000_000) / 1000;
        assert_eq!(r.timestamp, format!("2026-12-02T10:00:00.{micros:06}Z"));
        assert_eq!(r.hostname, host);
        assert_eq!(r.app_name, "web");
        assert_eq!(r.procid, "shop-web-1");
        assert_eq!(r.structured_data, format!("[tugboat@32473 stack=\"{stack_sd}\" container=\"shop-web-1\"]"));
        assert_eq!(r.msg, l.line, "the message arrives as sent");
    }
    assert!(records.iter().any(|r| r.msg.len() > 20 * 1024), "the 20 KiB line");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syslog_over_tcp_is_parsed_by_rsyslog_field_by_field() {
    let rsyslog = Rsyslog::start(free_port(), None).await;
    let dir = tempfile::tempdir().unwrap();
    // A stack name with every character RFC 5424 makes a PARAM-VALUE escape.
    let f = Forwarders::start(&[syslog(&rsyslog.url("tcp", "127.0.0.1"))], "sh\"o\\p]", dir.path()).unwrap();
    let lines = tricky_lines();
    for l in &lines {
        f.offer(l);
    }
    let records = rsyslog.wait_records(lines.len()).await;
    assert_parsed(&records, &lines, "sh\\\"o\\\\p\\]");
    let s = stats(&f, "syslog");
    assert_eq!((s.kind, s.sent, s.dropped, s.queued, s.retries), ("syslog", 5, 0, 0, 0), "{s:?}");
    assert_eq!(s.last_error, None);
    f.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syslog_over_tls_verifies_the_server_certificate() {
    let cert = TestCert::expiring_in(Duration::from_secs(86_400));
    let rsyslog = Rsyslog::start(free_port(), Some(&cert)).await;
    let stack_dir = tempfile::tempdir().unwrap();
    std::fs::write(stack_dir.path().join("syslog-ca.pem"), &cert.ca_pem).unwrap();
    let trusted = LogForwardConfig {
        name: Some("trusted".into()),
        ca_file: Some("syslog-ca.pem".into()),
        ..syslog(&rsyslog.url("tls", "localhost"))
    };
    // The same server without its CA: only the public roots, which do not sign the test certificate.
    let untrusted = LogForwardConfig { name: Some("untrusted".into()), ..syslog(&rsyslog.url("tls", "localhost")) };
    let f = start(&[trusted, untrusted], stack_dir.path());
    let lines = tricky_lines();
    for l in &lines {
        f.offer(l);
    }
    let records = rsyslog.wait_records(lines.len()).await;
    assert_parsed(&records, &lines, "shop");
    let refused = wait_for(
        "the untrusted receiver to fail its handshake",
        || Some(stats(&f, "untrusted")).filter(|s| s.retries >= 1),
        || format!("{:?}", f.stats()),
    )
    .await;
    let error = refused.last_error.unwrap_or_default();
    assert!(error.contains("TLS handshake failed") && error.contains("certificate"), "{error}");
    assert_eq!((refused.sent, refused.queued), (0, lines.len()));
    assert_eq!(stats(&f, "trusted").sent, lines.len() as u64);
    assert_eq!(rsyslog.records().len(), lines.len(), "nothing came through the unverified connection");
    f.shutdown(Duration::from_millis(200)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syslog_down_at_start_gets_the_buffered_lines_once_it_is_up() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let f = start(&[LogForwardConfig { buffer: Some(100), ..syslog(&format!("tcp://127.0.0.1:{port}")) }], dir.path());
    let lines: Vec<LogLine> = (0..50).map(|n| line(n, &format!("line {n}"))).collect();
    for l in &lines {
        f.offer(l);
    }
    let down = wait_for(
        "a refused connection",
        || Some(stats(&f, "syslog")).filter(|s| s.retries >= 1),
        || format!("{:?}", f.stats()),
    )
    .await;
    assert_eq!((down.sent, down.dropped, down.queued), (0, 0, 50));
    assert!(down.last_error.as_deref().unwrap_or_default().contains("cannot connect"), "{down:?}");

    let rsyslog = Rsyslog::start(port, None).await;
    let records = rsyslog.wait_records(50).await;
    let got: Vec<&str> = records.iter().map(|r| r.msg.as_str()).collect();
    let sent: Vec<&str> = lines.iter().map(|l| l.line.as_str()).collect();
    assert_eq!(got, sent, "every buffered line, once, in order");
    let s =
        wait_for("the counters", || Some(stats(&f, "syslog")).filter(|s| s.sent == 50), || format!("{:?}", f.stats()))
            .await;
    assert_eq!((s.dropped, s.queued), (0, 0));
    f.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_buffer_drops_exactly_the_oldest_lines() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let f = start(&[LogForwardConfig { buffer: Some(10), ..syslog(&format!("tcp://127.0.0.1:{port}")) }], dir.path());
    let lines: Vec<LogLine> = (0..25).map(|n| line(n, &format!("line {n}"))).collect();
    for l in &lines {
        f.offer(l);
    }
    let s = stats(&f, "syslog");
    assert_eq!((s.sent, s.dropped, s.queued), (0, 15, 10), "{s:?}");

    let rsyslog = Rsyslog::start(port, None).await;
    let records = rsyslog.wait_records(10).await;
    let got: Vec<&str> = records.iter().map(|r| r.msg.as_str()).collect();
    let newest: Vec<&str> = lines[15..].iter().map(|l| l.line.as_str()).collect();
    assert_eq!(got, newest, "the 10 newest lines arrive; the 15 oldest were dropped");
    let s =
        wait_for("the counters", || Some(stats(&f, "syslog")).filter(|s| s.sent == 10), || format!("{:?}", f.stats()))
            .await;
    assert_eq!((s.dropped, s.queued), (15, 0));
    f.shutdown(Duration::from_secs(5)).await;
}

// ---------------------------------------------------------------------------------------------------
// Loki

/// A push as the in-test Loki received it, and what it answered.
#[derive(Debug, Clone)]
struct Push {
    answered: u16,
    content_type: String,
    body: Value,
}

#[derive(Clone, Default)]
struct LokiState {
    pushes: Arc<Mutex<Vec<Push>>>,
    /// Answers for the next pushes; 204 when empty.
    script: Arc<Mutex<VecDeque<(u16, &'static str)>>>,
}

/// A Loki push endpoint (`POST /loki/api/v1/push`) on 127.0.0.1 that records every push.
struct LokiReceiver {
    addr: SocketAddr,
    state: LokiState,
    server: tokio::task::JoinHandle<()>,
}

impl LokiReceiver {
    async fn start(script: &[(u16, &'static str)]) -> LokiReceiver {
        let state = LokiState::default();
        state.script.lock().unwrap().extend(script.iter().copied());
        let app = axum::Router::new().route("/loki/api/v1/push", axum::routing::post(push)).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        LokiReceiver { addr, state, server }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn pushes(&self) -> Vec<Push> {
        self.state.pushes.lock().unwrap().clone()
    }

    /// (stream labels, timestamp, line) of every accepted (2xx) push, in the order received.
    fn accepted(&self) -> Vec<(Value, String, String)> {
        let mut out = Vec::new();
        for p in self.pushes().into_iter().filter(|p| (200..300).contains(&p.answered)) {
            for stream in p.body["streams"].as_array().unwrap() {
                for v in stream["values"].as_array().unwrap() {
                    let v = v.as_array().unwrap();
                    assert_eq!(v.len(), 2, "a value is [timestamp, line]: {v:?}");
                    out.push((stream["stream"].clone(), v[0].as_str().unwrap().into(), v[1].as_str().unwrap().into()));
                }
            }
        }
        out
    }
}

impl Drop for LokiReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn push(State(state): State<LokiState>, headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
    let (answered, text) = state.script.lock().unwrap().pop_front().unwrap_or((204, ""));
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let body = serde_json::from_slice(&body).unwrap_or_else(|e| json!({"not JSON": e.to_string()}));
    state.pushes.lock().unwrap().push(Push { answered, content_type, body });
    (StatusCode::from_u16(answered).unwrap(), text.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loki_gets_streams_with_labels_and_nanosecond_timestamps() {
    let receiver = LokiReceiver::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let labels = BTreeMap::from([("env".to_string(), "prod".to_string()), ("region".to_string(), "eu".to_string())]);
    let f = start(&[LogForwardConfig { labels, ..loki(&receiver.url()) }], dir.path());
    let mut lines: Vec<LogLine> = tricky_lines();
    let mut db = line(5, "database system is ready");
    db.service = "db".into();
    db.container = "shop-db-1".into();
    lines.push(db);
    for l in &lines {
        f.offer(l);
    }
    let accepted = wait_for(
        "every line at Loki",
        || Some(receiver.accepted()).filter(|a| a.len() >= lines.len()),
        || format!("{:?}", receiver.pushes()),
    )
    .await;
    assert_eq!(accepted.len(), lines.len());
    for p in receiver.pushes() {
        assert_eq!(p.content_type, "application/json");
        assert!(p.body.as_object().unwrap().keys().eq(["streams"]), "{}", p.body);
    }
    for l in &lines {
        let stream = match l.stream {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        };
        let labels = json!({"stack": "shop", "service": l.service, "container": l.container, "stream": stream,
                            "env": "prod", "region": "eu"});
        let found =
            accepted.iter().find(|(_, _, text)| *text == l.line).unwrap_or_else(|| panic!("{} missing", l.line));
        assert_eq!(found.0, labels);
        assert_eq!(found.1, l.nanos.to_string(), "Unix nanoseconds, as a string, to the nanosecond");
    }
    let s = stats(&f, "loki");
    assert_eq!((s.kind, s.sent, s.dropped, s.queued, s.retries), ("loki", lines.len() as u64, 0, 0, 0));
    f.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loki_503s_are_retried_and_every_line_arrives_once_in_order() {
    let busy = "ingester unavailable";
    let receiver = LokiReceiver::start(&[(503, busy), (503, busy), (503, busy)]).await;
    let dir = tempfile::tempdir().unwrap();
    let f = start(&[loki(&receiver.url())], dir.path());
    let lines: Vec<LogLine> = (0..40).map(|n| line(n, &format!("line {n}"))).collect();
    for l in &lines[..20] {
        f.offer(l);
    }
    wait_for("a first 503", || Some(stats(&f, "loki")).filter(|s| s.retries >= 1), || format!("{:?}", f.stats())).await;
    for l in &lines[20..] {
        f.offer(l);
    }
    let accepted = wait_for(
        "every line accepted",
        || Some(receiver.accepted()).filter(|a| a.len() >= lines.len()),
        || format!("{:?} {:?}", f.stats(), receiver.pushes()),
    )
    .await;
    let got: Vec<&str> = accepted.iter().map(|(_, _, l)| l.as_str()).collect();
    let sent: Vec<&str> = lines.iter().map(|l| l.line.as_str()).collect();
    assert_eq!(got, sent, "once each, in order");
    let s = stats(&f, "loki");
    assert_eq!((s.sent, s.dropped, s.queued, s.retries), (40, 0, 0, 3), "{s:?}");
    assert!(s.last_error.as_deref().unwrap_or_default().contains("503") && s.last_error.unwrap().contains(busy));
    f.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loki_refusing_a_batch_drops_it_and_keeps_the_answer() {
    let too_old = "entry for stream '{service=\"web\"}' has timestamp too old: 2020-01-01T00:00:00Z";
    let receiver = LokiReceiver::start(&[(400, too_old)]).await;
    let dir = tempfile::tempdir().unwrap();
    let f = start(&[loki(&receiver.url())], dir.path());
    for n in 0..5 {
        f.offer(&line(n, &format!("old {n}")));
    }
    let s = wait_for(
        "the refused batch",
        || Some(stats(&f, "loki")).filter(|s| s.dropped > 0),
        || format!("{:?}", f.stats()),
    )
    .await;
    assert_eq!((s.sent, s.dropped, s.queued, s.retries), (0, 5, 0, 0), "refused for good, not retried: {s:?}");
    let error = s.last_error.unwrap_or_default();
    assert!(error.contains("400") && error.contains(too_old), "{error}");
    // The next lines go through.
    f.offer(&line(5, "new"));
    let s = wait_for("the next line", || Some(stats(&f, "loki")).filter(|s| s.sent > 0), || format!("{:?}", f.stats()))
        .await;
    assert_eq!((s.sent, s.dropped), (1, 5));
    assert_eq!(receiver.pushes().len(), 2);
    f.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loki_over_https_trusts_ca_file() {
    let server = TlsServer::expiring_in(Duration::from_secs(86_400));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), server.ca_pem()).unwrap();
    let trusted =
        LogForwardConfig { name: Some("trusted".into()), ca_file: Some("ca.pem".into()), ..loki(&server.url("")) };
    let untrusted = LogForwardConfig { name: Some("untrusted".into()), ..loki(&server.url("")) };
    let f = start(&[trusted, untrusted], dir.path());
    f.offer(&line(0, "over https"));
    wait_for(
        "the trusted push and the untrusted failure",
        || (stats(&f, "trusted").sent == 1 && stats(&f, "untrusted").retries >= 1).then_some(()),
        || format!("{:?}", f.stats()),
    )
    .await;
    let untrusted = stats(&f, "untrusted");
    assert_eq!(untrusted.sent, 0);
    assert!(untrusted.last_error.unwrap_or_default().contains("certificate"), "{:?}", f.stats());
    f.shutdown(Duration::from_millis(200)).await;
}

// ---------------------------------------------------------------------------------------------------
// Both

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offer_never_blocks_on_receivers_that_do_not_read() {
    // Listening, never accepting: connections complete in the kernel's backlog, and nothing is ever read
    // or answered.
    let blackhole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = blackhole.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let f = start(&[syslog(&format!("tcp://{addr}")), loki(&format!("http://{addr}"))], dir.path());
    let offered = 100_000u64;
    let text = "x".repeat(100);
    for n in 0..offered as usize {
        f.offer(&line(n, &text));
    }
    let loki = stats(&f, "loki");
    assert_eq!(loki.sent, 0, "nothing is ever answered");
    assert_eq!(loki.queued as u64 + loki.dropped, offered, "{loki:?}");
    assert!(loki.queued <= 10_000 + 1000, "bounded by the buffer and one batch: {loki:?}");
    // The kernel takes some of the syslog stream before the writes stall; those lines count as sent.
    let syslog = stats(&f, "syslog");
    assert_eq!(syslog.queued as u64 + syslog.dropped + syslog.sent, offered, "{syslog:?}");
    assert!(syslog.queued <= 10_000 + 256, "{syslog:?}");
    tokio::time::timeout(LIMIT, f.shutdown(Duration::from_millis(500)))
        .await
        .expect("shutdown is bounded by its deadline");
    drop(blackhole);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_sends_what_is_buffered() {
    let rsyslog = Rsyslog::start(free_port(), None).await;
    let receiver = LokiReceiver::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let f = start(&[syslog(&rsyslog.url("tcp", "127.0.0.1")), loki(&receiver.url())], dir.path());
    let lines: Vec<LogLine> = (0..20).map(|n| line(n, &format!("bye {n}"))).collect();
    for l in &lines {
        f.offer(l);
    }
    let stats_before = f.stats();
    let start = Instant::now();
    f.shutdown(Duration::from_secs(30)).await;
    assert!(start.elapsed() < Duration::from_secs(30), "shutdown finished before its deadline: {stats_before:?}");
    assert_eq!(receiver.accepted().len(), 20, "Loki's batch is sent at once, not after the batching second");
    let records = rsyslog.wait_records(20).await;
    assert_eq!(records.last().unwrap().msg, "bye 19");
}
