//! The HTTP server: one thread per connection, one request per connection (HTTP/1.0 style), so it stays
//! a page of std code.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::args::Config;

/// Longest request head we read; anything longer is answered 431.
const MAX_HEAD: usize = 16 * 1024;

struct State {
    config: Config,
    /// Health requests seen so far (for `--healthy-after`).
    health_requests: AtomicU64,
    /// All requests seen so far (for `--fail-after`).
    requests: AtomicU64,
    /// The `GET /` body; computed once at start (the environment does not change).
    root_body: String,
}

pub struct Server {
    listener: TcpListener,
    state: Arc<State>,
}

impl Server {
    pub fn bind(config: Config) -> io::Result<Server> {
        let listener = TcpListener::bind(config.listen)?;
        let root_body = root_json(&config.version, &hostname(), std::env::vars());
        Ok(Server {
            listener,
            state: Arc::new(State {
                config,
                health_requests: AtomicU64::new(0),
                requests: AtomicU64::new(0),
                root_body,
            }),
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts connections forever, each on its own thread.
    pub fn serve(self) -> io::Error {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    let state = Arc::clone(&self.state);
                    thread::spawn(move || handle(stream, &state));
                }
                // Per-connection accept errors (ECONNABORTED, EMFILE) must not stop the server.
                Err(e) if is_transient(&e) => thread::sleep(Duration::from_millis(10)),
                Err(e) => return e,
            }
        }
    }

    /// Serves on a background thread (tests); returns the bound address.
    pub fn spawn(self) -> io::Result<SocketAddr> {
        let addr = self.local_addr()?;
        thread::spawn(move || self.serve());
        Ok(addr)
    }
}

fn is_transient(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::Interrupted)
        || e.raw_os_error() == Some(24)
}

fn handle(stream: TcpStream, state: &State) {
    // A client that never sends a request must not pin a thread forever.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(&stream);
    let head = match read_head(&mut reader) {
        Ok(Some(head)) => head,
        Ok(None) => return,
        Err(_) => {
            let _ = respond(&stream, "HEAD", 431, "text/plain", "request head too large\n");
            return;
        }
    };
    let mut parts = head.line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("/");
    let target = target.split('#').next().unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if state.config.slow_ms > 0 {
        thread::sleep(Duration::from_millis(state.config.slow_ms));
    }
    let seen = state.requests.fetch_add(1, Ordering::SeqCst);
    if state.config.fail_after.is_some_and(|n| seen >= n) {
        println!("{method} {path} 500");
        let _ = respond(&stream, &method, 500, "text/plain", "failing (--fail-after)\n");
        return;
    }
    if method == "GET" {
        match path {
            "/sse" => {
                println!("{method} {path} 200");
                let _ = serve_sse(&stream, query);
                return;
            }
            "/ws" => {
                let status = crate::ws::serve(&stream, reader, &head.headers);
                println!("{method} {path} {status}");
                return;
            }
            _ => {}
        }
    }
    let (status, content_type, body) = route(state, &method, path, &head.headers);
    println!("{method} {path} {status}");
    let _ = respond(&stream, &method, status, content_type, &body);
}

/// A request head: the request line and the headers (names lower-cased).
pub(crate) struct Head {
    line: String,
    pub(crate) headers: Vec<(String, String)>,
}

impl Head {
    pub(crate) fn header(headers: &[(String, String)], name: &str) -> Option<String> {
        headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }
}

/// The request line and headers; None when the client sent nothing.
fn read_head(reader: &mut impl BufRead) -> io::Result<Option<Head>> {
    let mut request_line = String::new();
    if reader.read_line(&mut request_line)? == 0 {
        return Ok(None);
    }
    let mut total = request_line.len();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line)?;
        total += n;
        if total > MAX_HEAD {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "request head too large"));
        }
        if n == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    Ok(Some(Head { line: request_line.trim_end().to_string(), headers }))
}

fn route(state: &State, method: &str, path: &str, headers: &[(String, String)]) -> (u16, &'static str, String) {
    if method != "GET" && method != "HEAD" {
        return (405, "text/plain", "method not allowed\n".to_string());
    }
    if let Some(code) = path.strip_prefix("/status/") {
        return match code.parse::<u16>() {
            Ok(code) if (200..=599).contains(&code) => (code, "text/plain", format!("status {code}\n")),
            _ => (400, "text/plain", "bad status code\n".to_string()),
        };
    }
    match path {
        "/" => (200, "application/json", state.root_body.clone()),
        "/headers" => {
            let fields = headers.iter().map(|(k, v)| format!("{}: {}", json_string(k), json_string(v)));
            (200, "application/json", format!("{{{}}}\n", fields.collect::<Vec<_>>().join(", ")))
        }
        "/health" => {
            let seen = state.health_requests.fetch_add(1, Ordering::SeqCst);
            if state.config.unhealthy || seen < state.config.healthy_after {
                (503, "text/plain", "unhealthy".to_string())
            } else {
                (200, "text/plain", "ok".to_string())
            }
        }
        _ => (404, "text/plain", "not found\n".to_string()),
    }
}

/// `n` events `data: I` (default 10), `every` ms apart (default 100); each written and flushed on its own
/// so a buffering proxy shows. The body ends when the connection closes (no length, no chunking).
fn serve_sse(mut stream: &TcpStream, query: &str) -> io::Result<()> {
    let param = |name: &str, default: u64| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.parse::<u64>().ok())
            .unwrap_or(default)
    };
    let (n, every) = (param("n", 10), param("every", 100));
    stream.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
    )?;
    stream.flush()?;
    for i in 1..=n {
        if i > 1 {
            thread::sleep(Duration::from_millis(every));
        }
        stream.write_all(format!("data: {i}\n\n").as_bytes())?;
        stream.flush()?;
    }
    Ok(())
}

pub(crate) fn respond(
    mut stream: &TcpStream,
    method: &str,
    status: u16,
    content_type: &str,
    body: &str,
) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if method != "HEAD" {
        out.push_str(body);
    }
    stream.write_all(out.as_bytes())?;
    stream.flush()
}

/// `$HOSTNAME`, else `/etc/hostname` (Docker writes both), else empty.
fn hostname() -> String {
    if let Ok(name) = std::env::var("HOSTNAME") {
        if !name.is_empty() {
            return name;
        }
    }
    std::fs::read_to_string("/etc/hostname").map(|s| s.trim().to_string()).unwrap_or_default()
}

/// `{"version": …, "hostname": …, "env": {APP_* only, sorted}}`.
pub fn root_json(version: &str, hostname: &str, vars: impl Iterator<Item = (String, String)>) -> String {
    let env: BTreeMap<String, String> = vars.filter(|(k, _)| k.starts_with("APP_")).collect();
    let env = env.iter().map(|(k, v)| format!("{}: {}", json_string(k), json_string(v))).collect::<Vec<_>>();
    format!(
        "{{\"version\": {}, \"hostname\": {}, \"env\": {{{}}}}}\n",
        json_string(version),
        json_string(hostname),
        env.join(", ")
    )
}

pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
