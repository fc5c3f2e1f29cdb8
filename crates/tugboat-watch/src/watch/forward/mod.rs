//! Log forwarding (`watch.logs.forward`): every line the collector keeps is also sent to syslog receivers
//! (RFC 5424 over TCP or TLS, octet-counted) and Loki (its JSON push API).
//!
//! ```text
//!  collector ──offer (sync, O(1))──▶ buffer per receiver ──▶ task per receiver ──▶ syslog / Loki
//!                                    (bounded: the oldest     (reconnect / retry with backoff,
//!                                     line is dropped and      a line leaves the buffer once
//!                                     counted when full)       written / accepted)
//! ```
//!
//! A receiver that is down, slow or refusing never holds the collector up: `offer` only puts the line in
//! each receiver's buffer. A task takes a batch out of its buffer, sends it and, when that fails, puts the
//! batch back at the front (so the oldest lines are still the first dropped) and waits before trying again
//! (1 s doubling to 30 s). The first failure of a receiver and its recovery are logged, not every retry.

mod loki;
mod syslog;

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tugboat::stack::logs::LogForwardConfig;
use tugboat::stack::ConfigError;
use tugboat_runtime::logs::LogLine;

/// Lines a receiver holds without `buffer`.
pub const DEFAULT_BUFFER: usize = 10_000;
/// The wait after a first failure; doubled after each further one up to [`BACKOFF_MAX`].
const BACKOFF_START: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Longest error text kept in `last_error`.
const ERROR_TEXT_MAX: usize = 500;

/// What `/metrics` and the status page show of one receiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForwardStats {
    /// `name`, else `syslog` / `loki`, numbered from the second of a kind on (`syslog-2`).
    pub name: String,
    /// `syslog` or `loki`.
    pub kind: &'static str,
    /// Lines written to the syslog connection / accepted by Loki (2xx).
    pub sent: u64,
    /// Lines lost: pushed out of a full buffer (the oldest first), or in a batch Loki refused for good (4xx).
    pub dropped: u64,
    /// Lines held now, the batch being sent included.
    pub queued: usize,
    /// Failed attempts (connect, write, push) that were or will be tried again.
    pub retries: u64,
    /// The latest failure (kept after the receiver recovers; `retries`/`sent` tell whether it still fails).
    pub last_error: Option<String>,
}

/// The receivers of `watch.logs.forward`, each with its buffer and its task.
pub struct Forwarders {
    receivers: Vec<Arc<Receiver>>,
    tasks: Vec<JoinHandle<()>>,
}

/// What a receiver's task sends to: resolved and checked at start.
enum Target {
    Syslog(syslog::Syslog),
    Loki(loki::Loki),
}

impl Forwarders {
    /// Validates every entry (a bad URL, both or neither of `syslog`/`loki`, an unreadable `ca_file`, … are
    /// errors naming the key, `watch.logs.forward[i].syslog`) and spawns one tokio task per receiver on the
    /// current runtime. `dir` is the stack directory a relative `ca_file` is read from; `stack` names the
    /// stack in every message (syslog structured data, Loki's `stack` label).
    pub fn start(entries: &[LogForwardConfig], stack: &str, dir: &Path) -> Result<Forwarders, ConfigError> {
        let targets = resolve(entries, stack, dir)?;
        if targets.is_empty() {
            return Ok(Forwarders { receivers: Vec::new(), tasks: Vec::new() });
        }
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| ConfigError::Other("log forwarding: no tokio runtime to run on".into()))?;
        let mut receivers = Vec::new();
        let mut tasks = Vec::new();
        for (name, capacity, target) in targets {
            let kind = match target {
                Target::Syslog(_) => "syslog",
                Target::Loki(_) => "loki",
            };
            let receiver = Arc::new(Receiver::new(name, kind, capacity));
            let r = receiver.clone();
            tasks.push(match target {
                Target::Syslog(s) => runtime.spawn(s.run(r)),
                Target::Loki(l) => runtime.spawn(l.run(r)),
            });
            receivers.push(receiver);
        }
        Ok(Forwarders { receivers, tasks })
    }

    /// The errors [`Forwarders::start`] would report, without starting anything (configuration loading).
    pub fn check(entries: &[LogForwardConfig], stack: &str, dir: &Path) -> Result<(), ConfigError> {
        resolve(entries, stack, dir).map(drop)
    }
}

/// Every entry checked and resolved: (name, buffer, target).
fn resolve(entries: &[LogForwardConfig], stack: &str, dir: &Path) -> Result<Vec<(String, usize, Target)>, ConfigError> {
    let names = forward_names(entries);
    let mut errors = Vec::new();
    let mut targets = Vec::new();
    for (i, (entry, name)) in entries.iter().zip(&names).enumerate() {
        let key = format!("watch.logs.forward[{i}]");
        if names[..i].contains(name) {
            errors.push(ConfigError::Other(format!(
                "{key}.name: `{name}` names an earlier receiver too; give each one its own name"
            )));
        }
        if entry.buffer == Some(0) {
            errors.push(ConfigError::Other(format!("{key}.buffer: must be at least 1 line")));
        }
        let ca_pem = match &entry.ca_file {
            Some(file) => match read_ca(&dir.join(file)) {
                Ok(pem) => Some(pem),
                Err(e) => {
                    errors.push(ConfigError::Other(format!("{key}.ca_file: {file}: {e}")));
                    None
                }
            },
            None => None,
        };
        let target = match (&entry.syslog, &entry.loki) {
            (Some(_), Some(_)) => Err(format!("{key}: set one of `syslog` or `loki`, not both")),
            (None, None) => {
                Err(format!("{key}: set `syslog` (tcp://host:port or tls://host:port) or `loki` (http://host:3100)"))
            }
            (Some(url), None) => {
                if !entry.labels.is_empty() {
                    errors.push(ConfigError::Other(format!(
                        "{key}.labels: labels are Loki stream labels; a syslog receiver takes none"
                    )));
                }
                syslog::Syslog::new(url, ca_pem.as_deref(), stack)
                    .map(Target::Syslog)
                    .map_err(|e| format!("{key}.syslog: {e}"))
            }
            (None, Some(url)) => loki::Loki::new(url, ca_pem.as_deref(), stack, &entry.labels)
                .map(Target::Loki)
                .map_err(|e| format!("{key}.{e}")),
        };
        match target {
            Ok(t) => targets.push((name.clone(), entry.buffer.unwrap_or(DEFAULT_BUFFER).max(1), t)),
            Err(e) => errors.push(ConfigError::Other(e)),
        }
    }
    ConfigError::collect(errors)?;
    Ok(targets)
}

impl Forwarders {
    /// Never blocks, never fails: puts the line in each receiver's buffer; a full buffer drops (and counts)
    /// its oldest line.
    pub fn offer(&self, line: &LogLine) {
        if self.receivers.is_empty() {
            return;
        }
        let line = Arc::new(line.clone());
        for r in &self.receivers {
            r.push(line.clone());
        }
    }

    /// Counters and state of each receiver, in `watch.logs.forward` order.
    pub fn stats(&self) -> Vec<ForwardStats> {
        self.receivers.iter().map(|r| r.stats()).collect()
    }

    /// Sends what is buffered, for at most `deadline`, then stops the tasks (what is left is lost; its
    /// count is logged).
    pub async fn shutdown(mut self, deadline: Duration) {
        for r in &self.receivers {
            r.closing.store(true, Ordering::SeqCst);
            r.wake.notify_one();
        }
        let tasks = std::mem::take(&mut self.tasks);
        let aborts: Vec<_> = tasks.iter().map(JoinHandle::abort_handle).collect();
        if tokio::time::timeout(deadline, futures_util::future::join_all(tasks)).await.is_err() {
            for a in &aborts {
                a.abort();
            }
        }
        for r in &self.receivers {
            let queued = r.stats().queued;
            if queued > 0 {
                tracing::warn!(receiver = %r.name, "log forwarding to {} stopped with {queued} lines unsent", r.name);
            }
        }
    }
}

impl Drop for Forwarders {
    /// Without [`Forwarders::shutdown`] the tasks stop at once.
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Receiver names: `name`, else the kind, numbered from the second of a kind on (as alert providers are).
pub fn forward_names(entries: &[LogForwardConfig]) -> Vec<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    entries
        .iter()
        .map(|e| match &e.name {
            Some(n) => n.clone(),
            None => {
                let kind = if e.syslog.is_some() || e.loki.is_none() { "syslog" } else { "loki" };
                let c = counts.entry(kind).or_default();
                *c += 1;
                if *c == 1 {
                    kind.to_string()
                } else {
                    format!("{kind}-{c}")
                }
            }
        })
        .collect()
}

/// The PEM file's bytes, once it is known to hold at least one certificate.
fn read_ca(path: &Path) -> Result<Vec<u8>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let pem = std::fs::read(path).map_err(|e| e.to_string())?;
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        cert.map_err(|e| format!("not a PEM certificate file: {e}"))?;
        count += 1;
    }
    if count == 0 {
        return Err("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into());
    }
    Ok(pem)
}

/// The trust anchors for a receiver's certificate: the public web PKI roots plus `ca_pem`'s certificates.
fn root_store(ca_pem: Option<&[u8]>) -> Result<rustls::RootCertStore, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(pem) = ca_pem {
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("ca_file: {e}"))?;
            roots.add(cert).map_err(|e| format!("ca_file: {e}"))?;
        }
    }
    Ok(roots)
}

/// An error with its causes (`error sending request: connection refused`), cut to a readable length and
/// with URL passwords masked.
fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    clip(&tugboat::secret::mask_urls(&text))
}

fn clip(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(ERROR_TEXT_MAX) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// 1 s, doubling to 30 s; back to 1 s after a success.
struct Backoff {
    next: Duration,
}

impl Backoff {
    fn new() -> Backoff {
        Backoff { next: BACKOFF_START }
    }

    /// The wait before the next attempt (at least `floor`, a server's `Retry-After`).
    fn step(&mut self, floor: Duration) -> Duration {
        let wait = self.next.max(floor).min(BACKOFF_MAX * 2);
        self.next = (self.next * 2).min(BACKOFF_MAX);
        wait
    }

    fn reset(&mut self) {
        self.next = BACKOFF_START;
    }
}

/// One receiver's buffer and counters, shared by `offer` and its task.
struct Receiver {
    name: String,
    kind: &'static str,
    capacity: usize,
    state: Mutex<State>,
    /// Woken by each offered line and by shutdown (one waiter: the task; a wake-up before it waits is kept).
    wake: Notify,
    /// Set by shutdown: send what is left without waiting to fill a batch, then stop.
    closing: AtomicBool,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Arc<LogLine>>,
    /// Bytes of `queue`'s lines (`line` only).
    bytes: usize,
    /// Lines the task took out and is sending.
    in_flight: usize,
    sent: u64,
    dropped: u64,
    retries: u64,
    last_error: Option<String>,
    failing: bool,
}

impl Receiver {
    fn new(name: String, kind: &'static str, capacity: usize) -> Receiver {
        Receiver {
            name,
            kind,
            capacity,
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            closing: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent counters; keep going.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    fn push(&self, line: Arc<LogLine>) {
        {
            let mut s = self.lock();
            s.bytes += line.line.len();
            s.queue.push_back(line);
            s.trim(self.capacity);
        }
        self.wake.notify_one();
    }

    /// Up to `max_lines` lines, and no more bytes than `max_bytes` unless the first line alone is larger;
    /// they count as queued until [`Receiver::sent`], [`Receiver::give_back`] or [`Receiver::refused`].
    fn take(&self, max_lines: usize, max_bytes: usize) -> Vec<Arc<LogLine>> {
        let mut s = self.lock();
        let mut batch = Vec::new();
        let mut bytes = 0;
        while let Some(line) = s.queue.front() {
            let size = line.line.len();
            if batch.len() >= max_lines || (!batch.is_empty() && bytes + size > max_bytes) {
                break;
            }
            bytes += size;
            if let Some(line) = s.queue.pop_front() {
                batch.push(line);
            }
        }
        s.bytes -= bytes;
        s.in_flight += batch.len();
        batch
    }

    /// Whether a full batch (`max_lines` or `max_bytes`) is waiting.
    fn batch_ready(&self, max_lines: usize, max_bytes: usize) -> bool {
        let s = self.lock();
        s.queue.len() >= max_lines || s.bytes >= max_bytes
    }

    fn has_lines(&self) -> bool {
        !self.lock().queue.is_empty()
    }

    /// Waits until lines are buffered (true) or shutdown finds none left (false).
    async fn lines(&self) -> bool {
        loop {
            if self.has_lines() {
                return true;
            }
            if self.closing() {
                return false;
            }
            self.wake.notified().await;
        }
    }

    /// `n` taken lines were delivered.
    fn sent(&self, n: usize) {
        let recovered = {
            let mut s = self.lock();
            s.in_flight -= n;
            s.sent += n as u64;
            std::mem::replace(&mut s.failing, false)
        };
        if recovered {
            tracing::info!(receiver = %self.name, kind = self.kind, "log forwarding to {} works again", self.name);
        }
    }

    /// A taken batch goes back to the front, to be sent again; if the buffer filled meanwhile, its oldest
    /// lines are dropped.
    fn give_back(&self, batch: Vec<Arc<LogLine>>) {
        let mut s = self.lock();
        s.in_flight -= batch.len();
        for line in batch.into_iter().rev() {
            s.bytes += line.line.len();
            s.queue.push_front(line);
        }
        s.trim(self.capacity);
    }

    /// A taken batch the receiver refused for good: dropped and counted.
    fn refused(&self, n: usize, error: String) {
        self.note_failure(error, false, n);
    }

    /// An attempt failed and will be repeated.
    fn failed(&self, error: String) {
        self.note_failure(error, true, 0);
    }

    fn note_failure(&self, error: String, retry: bool, refused: usize) {
        let first = {
            let mut s = self.lock();
            if retry {
                s.retries += 1;
            }
            s.in_flight -= refused;
            s.dropped += refused as u64;
            s.last_error = Some(error.clone());
            !std::mem::replace(&mut s.failing, true)
        };
        if first {
            if retry {
                tracing::warn!(receiver = %self.name, kind = self.kind,
                    "log forwarding to {} fails (lines are kept and retried with backoff): {error}", self.name);
            } else {
                tracing::warn!(receiver = %self.name, kind = self.kind,
                    "log forwarding to {} refused {refused} lines (dropped): {error}", self.name);
            }
        }
    }

    fn stats(&self) -> ForwardStats {
        let s = self.lock();
        ForwardStats {
            name: self.name.clone(),
            kind: self.kind,
            sent: s.sent,
            dropped: s.dropped,
            queued: s.queue.len() + s.in_flight,
            retries: s.retries,
            last_error: s.last_error.clone(),
        }
    }
}

impl State {
    /// Drops the oldest lines beyond `capacity`.
    fn trim(&mut self, capacity: usize) {
        while self.queue.len() > capacity {
            if let Some(old) = self.queue.pop_front() {
                self.bytes -= old.line.len();
                self.dropped += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use tugboat_runtime::logs::Stream;

    pub(super) fn line(n: usize, text: &str) -> LogLine {
        LogLine {
            time: "2026-12-02T10:00:00.123456789Z".into(),
            nanos: 1_796_205_600_123_456_789 + n as i128,
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

    fn errors(entries: &[LogForwardConfig]) -> String {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let _guard = rt.enter();
        match Forwarders::start(entries, "shop", Path::new("/nonexistent-stack-dir")) {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn names_default_to_the_kind_numbered() {
        let named = LogForwardConfig { name: Some("central".into()), ..syslog("tcp://a:514") };
        let entries = [syslog("tcp://a:514"), loki("http://l:3100"), syslog("tls://b:6514"), named, loki("http://m")];
        assert_eq!(forward_names(&entries), ["syslog", "loki", "syslog-2", "central", "loki-2"]);
    }

    #[test]
    fn bad_entries_name_their_key() {
        let both = LogForwardConfig { loki: Some("http://l:3100".into()), ..syslog("tcp://a:514") };
        let text = errors(&[
            both,
            LogForwardConfig::default(),
            syslog("udp://a:514"),
            syslog("tcp://"),
            loki("ftp://l"),
            LogForwardConfig { ca_file: Some("missing.pem".into()), ..loki("https://l") },
            LogForwardConfig { buffer: Some(0), ..syslog("tcp://a") },
            LogForwardConfig { labels: [("bad-name".to_string(), "x".to_string())].into(), ..loki("http://l") },
            LogForwardConfig { labels: [("stack".to_string(), "x".to_string())].into(), ..loki("http://l") },
            LogForwardConfig { labels: [("env".to_string(), "x".to_string())].into(), ..syslog("tcp://a") },
            syslog("tcp://user:hunter22@a:514/path"),
        ]);
        for expected in [
            "watch.logs.forward[0]: set one of `syslog` or `loki`, not both",
            "watch.logs.forward[1]: set `syslog`",
            "watch.logs.forward[2].syslog: `udp://a:514`",
            "watch.logs.forward[3].syslog: `tcp://`",
            "watch.logs.forward[4].loki: `ftp://l`",
            "watch.logs.forward[5].ca_file: missing.pem:",
            "watch.logs.forward[6].buffer: must be at least 1",
            "watch.logs.forward[7].labels.bad-name:",
            "watch.logs.forward[8].labels.stack:",
            "watch.logs.forward[9].labels:",
            "watch.logs.forward[10].syslog:",
        ] {
            assert!(text.contains(expected), "no `{expected}` in:\n{text}");
        }
        assert!(!text.contains("hunter22"), "a password in an error:\n{text}");
        let twice = errors(&[syslog("tcp://a"), LogForwardConfig { name: Some("syslog".into()), ..loki("http://l") }]);
        assert!(twice.contains("watch.logs.forward[1].name: `syslog`"), "{twice}");
    }

    #[test]
    fn ca_file_must_hold_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("empty.pem"), "not a certificate\n").unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let _guard = rt.enter();
        let entry = LogForwardConfig { ca_file: Some("empty.pem".into()), ..syslog("tls://localhost:6514") };
        let Err(e) = Forwarders::start(&[entry], "shop", dir.path()) else { panic!("accepted") };
        assert!(e.to_string().contains("watch.logs.forward[0].ca_file: empty.pem: holds no PEM certificate"), "{e}");
    }

    #[test]
    fn a_full_buffer_drops_the_oldest_and_a_failed_batch_keeps_its_place() {
        let r = Receiver::new("syslog".into(), "syslog", 3);
        for n in 0..5 {
            r.push(Arc::new(line(n, &format!("line {n}"))));
        }
        let s = r.stats();
        assert_eq!((s.queued, s.dropped), (3, 2));
        let batch = r.take(2, usize::MAX);
        assert_eq!(batch.iter().map(|l| l.line.as_str()).collect::<Vec<_>>(), ["line 2", "line 3"]);
        assert_eq!(r.stats().queued, 3, "a batch in flight still counts as queued");
        r.push(Arc::new(line(5, "line 5")));
        r.push(Arc::new(line(6, "line 6")));
        r.give_back(batch);
        // 2, 3 (given back), 4, 5, 6: the two oldest go.
        let s = r.stats();
        assert_eq!((s.queued, s.dropped), (3, 4));
        let rest = r.take(10, usize::MAX);
        assert_eq!(rest.iter().map(|l| l.line.as_str()).collect::<Vec<_>>(), ["line 4", "line 5", "line 6"]);
        r.sent(3);
        assert_eq!(r.lock().bytes, 0);
        let s = r.stats();
        assert_eq!((s.sent, s.queued, s.dropped), (3, 0, 4));
    }

    #[test]
    fn batches_are_bounded_by_bytes_but_take_at_least_one_line() {
        let r = Receiver::new("loki".into(), "loki", 100);
        r.push(Arc::new(line(0, &"x".repeat(50))));
        r.push(Arc::new(line(1, &"y".repeat(50))));
        r.push(Arc::new(line(2, "z")));
        assert!(r.batch_ready(100, 101));
        assert!(!r.batch_ready(100, 102));
        assert_eq!(r.take(100, 10).len(), 1, "a line larger than the byte bound goes alone");
        assert_eq!(r.take(100, 60).len(), 2);
    }

    #[test]
    fn refused_batches_are_dropped_and_counted() {
        let r = Receiver::new("loki".into(), "loki", 100);
        for n in 0..4 {
            r.push(Arc::new(line(n, "x")));
        }
        let batch = r.take(10, usize::MAX);
        r.refused(batch.len(), "HTTP 400: entry too far behind".into());
        let s = r.stats();
        assert_eq!((s.sent, s.queued, s.dropped, s.retries), (0, 0, 4, 0));
        assert_eq!(s.last_error.as_deref(), Some("HTTP 400: entry too far behind"));
    }

    #[test]
    fn backoff_doubles_to_thirty_seconds() {
        let mut b = Backoff::new();
        let waits: Vec<u64> = (0..7).map(|_| b.step(Duration::ZERO).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(b.step(Duration::from_secs(45)).as_secs(), 45, "Retry-After is honoured");
        b.reset();
        assert_eq!(b.step(Duration::ZERO).as_secs(), 1);
    }

    #[test]
    fn errors_are_clipped_and_masked() {
        let long = "e".repeat(2000);
        assert_eq!(clip(&long).chars().count(), ERROR_TEXT_MAX + 1);
        let e = std::io::Error::other("cannot reach https://u:secret@loki");
        assert!(!describe(&e).contains("secret"));
    }
}
