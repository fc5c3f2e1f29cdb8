//! Syslog receivers: RFC 5424 messages, octet-counted (RFC 6587 3.4.1: `LEN SP MSG`), over one persistent
//! TCP connection, or TLS (RFC 5425) with the server's certificate verified against the public roots and
//! `ca_file`, for the URL's host name.
//!
//! A message:
//!
//! ```text
//! <14>1 2026-12-02T10:00:00.123456Z host web shop-web-1 stdout [tugboat@32473 stack="shop" container="shop-web-1"] GET / 200
//! ```
//!
//! - PRI: facility `user` (1), the facility of application messages (`local0`–`local7` are left to the
//!   site's own conventions); severity `info` (6) for stdout, `err` (3) for stderr: 14 and 11.
//! - TIMESTAMP: the line's time in UTC, cut to microseconds (RFC 5424 allows at most six fraction digits);
//!   `-` for a line without a time.
//! - HOSTNAME: this host's name; APP-NAME: the service (48 printable ASCII characters at most); PROCID:
//!   the container name (128 at most); MSGID: `stdout` or `stderr`. A character outside printable ASCII
//!   becomes `_` (Compose names never have one).
//! - STRUCTURED-DATA: `[tugboat@32473 stack="…" container="…"]` with `"`, `\` and `]` escaped (RFC 5424
//!   6.3.3). 32473 is the enterprise number RFC 5612 reserves for examples.
//! - MSG: the line as UTF-8, without a BOM (RFC 5424's MSG-ANY): rsyslog and others keep a BOM as part of
//!   the text, so every stored line would start with three invisible bytes.
//!
//! A line leaves the buffer once written to the socket. Plain syslog has no acknowledgement: what the
//! kernel still held when a connection breaks mid-stream is lost; a receiver that closes an idle
//! connection is noticed (its end of file is read) and the next lines go over a new one.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tugboat_runtime::logs::{LogLine, Stream};

use super::{describe, root_store, Backoff, Receiver};

/// RFC 5424 facility `user`.
const FACILITY: u8 = 1;
const SEVERITY_STDOUT: u8 = 6;
const SEVERITY_STDERR: u8 = 3;
/// The SD-ID of the structured data element (RFC 5612's example enterprise number).
const SD_ID: &str = "tugboat@32473";
const DEFAULT_TCP_PORT: u16 = 514;
/// RFC 5425's port for syslog over TLS.
const DEFAULT_TLS_PORT: u16 = 6514;
/// Lines (and bytes) written in one go.
const BATCH_LINES: usize = 256;
const BATCH_BYTES: usize = 256 << 10;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A write that makes no progress this long means the receiver stopped reading: the connection is
/// dropped and a new one made.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub(super) struct Syslog {
    /// `host:port` to connect to.
    address: String,
    /// The URL, for messages (with any password masked).
    display: String,
    tls: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
    hostname: String,
    stack: String,
}

impl Syslog {
    /// From `tcp://host[:port]` or `tls://host[:port]` (ports 514 and 6514 by default).
    pub(super) fn new(url: &str, ca_pem: Option<&[u8]>, stack: &str) -> Result<Syslog, String> {
        let display = tugboat::secret::mask_urls(url).into_owned();
        let bad = |why: &str| format!("`{display}`: {why}; write tcp://host:port or tls://host:port");
        let parsed = Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        let tls = match parsed.scheme() {
            "tcp" => false,
            "tls" => true,
            other => return Err(bad(&format!("`{other}` is not a syslog transport (tcp or tls)"))),
        };
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(bad("a syslog URL takes no user or password"));
        }
        if !matches!(parsed.path(), "" | "/") || parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(bad("a syslog URL has no path or query"));
        }
        let port = parsed.port().unwrap_or(if tls { DEFAULT_TLS_PORT } else { DEFAULT_TCP_PORT });
        let host = parsed.host_str().unwrap_or_default();
        let (address, server_name) = if host.is_empty() {
            return Err(bad("no host"));
        } else if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            let ip: std::net::Ipv6Addr = v6.parse().map_err(|e| bad(&format!("`{host}`: {e}")))?;
            (format!("[{ip}]:{port}"), Ok(ServerName::IpAddress(std::net::IpAddr::V6(ip).into())))
        } else {
            // An IPv4 address stays text in a tcp:// URL; rustls reads it as an address.
            (
                format!("{host}:{port}"),
                ServerName::try_from(host.to_string()).map_err(|e| bad(&format!("`{host}`: {e}"))),
            )
        };
        let tls = if tls {
            let roots = root_store(ca_pem)?;
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS setup: {e}"))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Some((Arc::new(config), server_name?))
        } else {
            None
        };
        Ok(Syslog {
            address,
            display,
            tls,
            hostname: header_field(&super::super::notify::hostname(), 255),
            stack: stack.to_string(),
        })
    }

    async fn connect(&self) -> Result<Box<dyn Io>, String> {
        let connect = async {
            let tcp = TcpStream::connect(&self.address).await.map_err(|e| format!("cannot connect: {e}"))?;
            let _ = tcp.set_nodelay(true);
            Ok::<Box<dyn Io>, String>(match &self.tls {
                None => Box::new(tcp),
                Some((config, name)) => Box::new(
                    tokio_rustls::TlsConnector::from(config.clone())
                        .connect(name.clone(), tcp)
                        .await
                        .map_err(|e| format!("TLS handshake failed: {}", describe(&e)))?,
                ),
            })
        };
        tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .unwrap_or_else(|_| Err(format!("no connection within {}s", CONNECT_TIMEOUT.as_secs())))
            .map_err(|e| format!("{}: {e}", self.display))
    }

    /// Sends until shutdown finds the buffer empty.
    pub(super) async fn run(self, r: Arc<Receiver>) {
        let mut conn: Option<Box<dyn Io>> = None;
        let mut backoff = Backoff::new();
        let mut out = Vec::new();
        loop {
            if !r.has_lines() {
                if r.closing() {
                    if let Some(mut c) = conn.take() {
                        let _ = tokio::time::timeout(Duration::from_secs(1), c.shutdown()).await;
                    }
                    return;
                }
                let closed = match conn.as_mut() {
                    // Idle: wait for lines, and notice the receiver closing the connection meanwhile.
                    Some(c) => {
                        let mut scratch = [0u8; 512];
                        tokio::select! {
                            _ = r.wake.notified() => false,
                            read = c.read(&mut scratch) => matches!(read, Ok(0) | Err(_)),
                        }
                    }
                    None => {
                        r.wake.notified().await;
                        false
                    }
                };
                if closed {
                    conn = None;
                }
                continue;
            }
            let c = match conn.as_mut() {
                Some(c) => c,
                None => match self.connect().await {
                    Ok(c) => conn.insert(c),
                    Err(e) => {
                        r.failed(e);
                        tokio::time::sleep(backoff.step(Duration::ZERO)).await;
                        continue;
                    }
                },
            };
            let batch = r.take(BATCH_LINES, BATCH_BYTES);
            out.clear();
            for line in &batch {
                frame(&mut out, line, &self.hostname, &self.stack);
            }
            let written = write_batch(c.as_mut(), &out).await;
            let error = match written {
                Ok(Ok(())) => {
                    r.sent(batch.len());
                    backoff.reset();
                    continue;
                }
                Ok(Err(e)) => format!("{}: write failed: {e}", self.display),
                Err(Stalled) => format!(
                    "{}: a write made no progress for {}s (the receiver does not read)",
                    self.display,
                    WRITE_TIMEOUT.as_secs()
                ),
            };
            conn = None;
            r.give_back(batch);
            r.failed(error);
            tokio::time::sleep(backoff.step(Duration::ZERO)).await;
        }
    }
}

/// A write that made no progress for [`WRITE_TIMEOUT`].
struct Stalled;

/// Writes and flushes `bytes`, giving up when a single write or the flush makes no progress for
/// [`WRITE_TIMEOUT`] (a slow link is fine; a receiver that stopped reading is not).
async fn write_batch(c: &mut dyn Io, mut bytes: &[u8]) -> Result<std::io::Result<()>, Stalled> {
    while !bytes.is_empty() {
        match tokio::time::timeout(WRITE_TIMEOUT, c.write(bytes)).await.map_err(|_| Stalled)? {
            Ok(0) => return Ok(Err(std::io::ErrorKind::WriteZero.into())),
            Ok(n) => bytes = &bytes[n..],
            Err(e) => return Ok(Err(e)),
        }
    }
    tokio::time::timeout(WRITE_TIMEOUT, c.flush()).await.map_err(|_| Stalled)
}

/// Appends `line` as one octet-counted RFC 5424 frame.
fn frame(out: &mut Vec<u8>, line: &LogLine, hostname: &str, stack: &str) {
    let (severity, msgid) = match line.stream {
        Stream::Stdout => (SEVERITY_STDOUT, "stdout"),
        Stream::Stderr => (SEVERITY_STDERR, "stderr"),
    };
    let mut msg = String::with_capacity(line.line.len() + 200);
    let _ = write!(
        msg,
        "<{}>1 {} {hostname} {} {} {msgid} [{SD_ID} stack=\"{}\" container=\"{}\"]",
        FACILITY * 8 + severity,
        timestamp(line),
        header_field(&line.service, 48),
        header_field(&line.container, 128),
        param_value(stack),
        param_value(&line.container),
    );
    if !line.line.is_empty() {
        msg.push(' ');
        msg.push_str(&line.line);
    }
    out.extend_from_slice(msg.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(msg.as_bytes());
}

/// RFC 3339 in UTC with microseconds, or `-` (NILVALUE) when the line has no time.
fn timestamp(line: &LogLine) -> String {
    const NANOS: i128 = 1_000_000_000;
    if line.time.is_empty() {
        return "-".into();
    }
    let secs = i64::try_from(line.nanos.div_euclid(NANOS)).ok();
    let micros = (line.nanos.rem_euclid(NANOS) / 1000) as u32;
    secs.and_then(|s| chrono::DateTime::from_timestamp(s, micros * 1000))
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
        .unwrap_or_else(|| "-".into())
}

/// A header field: printable US-ASCII (33–126) only, at most `max` characters, `-` when empty.
fn header_field(text: &str, max: usize) -> String {
    let field: String = text.chars().take(max).map(|c| if ('!'..='~').contains(&c) { c } else { '_' }).collect();
    if field.is_empty() {
        "-".into()
    } else {
        field
    }
}

/// A PARAM-VALUE with `"`, `\` and `]` escaped.
fn param_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::super::tests::line;
    use super::*;

    fn framed(line: &LogLine) -> String {
        let mut out = Vec::new();
        frame(&mut out, line, "box", "sh\"op");
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_line_becomes_one_octet_counted_rfc5424_message() {
        let text = framed(&line(0, "GET / 200 ü"));
        let msg = "<14>1 2026-12-02T10:00:00.123456Z box web shop-web-1 stdout \
                   [tugboat@32473 stack=\"sh\\\"op\" container=\"shop-web-1\"] GET / 200 ü";
        assert_eq!(text, format!("{} {msg}", msg.len()));
        assert_eq!(msg.len(), msg.chars().count() + 1, "the length counts octets");
    }

    #[test]
    fn stderr_is_severity_err_and_an_empty_line_has_no_msg() {
        let mut l = line(0, "");
        l.stream = Stream::Stderr;
        let text = framed(&l);
        assert!(text.ends_with(" <11>1 2026-12-02T10:00:00.123456Z box web shop-web-1 stderr [tugboat@32473 stack=\"sh\\\"op\" container=\"shop-web-1\"]"), "{text}");
    }

    #[test]
    fn header_fields_are_printable_ascii_within_their_limits() {
        assert_eq!(header_field(&"s".repeat(60), 48), "s".repeat(48));
        assert_eq!(header_field("a b\u{e9}", 48), "a_b_");
        assert_eq!(header_field("", 48), "-");
        assert_eq!(param_value(r#"a"b\c]d"#), r#"a\"b\\c\]d"#);
    }

    #[test]
    fn timestamps_have_microseconds_at_most() {
        let mut l = line(0, "x");
        assert_eq!(timestamp(&l), "2026-12-02T10:00:00.123456Z");
        l.nanos = 1_796_205_600_000_000_999;
        assert_eq!(timestamp(&l), "2026-12-02T10:00:00.000000Z");
        l.time.clear();
        assert_eq!(timestamp(&l), "-");
    }

    #[test]
    fn urls() {
        let s = Syslog::new("tcp://logs.example:1514", None, "shop").unwrap();
        assert_eq!(s.address, "logs.example:1514");
        assert!(s.tls.is_none());
        let s = Syslog::new("tls://10.0.0.5", None, "shop").unwrap();
        assert_eq!(s.address, "10.0.0.5:6514");
        assert!(s.tls.is_some());
        assert_eq!(Syslog::new("tcp://[::1]", None, "shop").unwrap().address, "[::1]:514");
        for bad in ["udp://a", "tcp://", "tcp://a/x", "a:514", "tcp://u:p@a"] {
            assert!(Syslog::new(bad, None, "shop").is_err(), "{bad}");
        }
    }
}
