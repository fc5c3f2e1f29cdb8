//! Plain HTTP/1.1 servers on loopback, one thread per connection, every answer `Connection: close`:
//! [`WebhookReceiver`] records what alert providers post; [`HttpTarget`] is a monitored service whose
//! answers (status, body, headers, delay, per-path routes) change while a test runs, and which can be
//! stopped and started again on the same port.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A request as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The request target: path and query (`/hooks/alert?x=1`).
    pub path: String,
    /// Names lower-cased, in the order sent.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Request {
    /// The first header of that name (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    /// The body as JSON; panics (showing it) when it is not.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }
}

/// An answer to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn new(status: u16, body: &str) -> Response {
        Response { status, headers: Vec::new(), body: body.to_string() }
    }

    /// `200` with a JSON body and `Content-Type: application/json`.
    pub fn json(body: serde_json::Value) -> Response {
        Response::new(200, &body.to_string()).header("Content-Type", "application/json")
    }

    /// A redirect to `location`.
    pub fn redirect(status: u16, location: &str) -> Response {
        Response::new(status, "").header("Location", location)
    }

    pub fn header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// The accept loop of a listening server; stopping it closes the port.
struct Listener {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    /// Listens on 127.0.0.1:`port` (0: a free one); returns the port. Retries briefly while a just-closed
    /// listener's port is still held (the same port after a stop).
    fn bind(port: u16, handler: Handler) -> (Listener, u16) {
        let start = Instant::now();
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", port)) {
                Ok(l) => break l,
                Err(e) if port != 0 && start.elapsed() < Duration::from_secs(10) => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("cannot listen on 127.0.0.1:{port}: {e}"),
            }
        };
        let port = listener.local_addr().expect("local address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let handler = handler.clone();
                std::thread::spawn(move || serve(stream, &handler));
            }
        });
        (Listener { stop, thread: Some(thread) }, port)
    }

    fn stop(&mut self, port: u16) {
        if let Some(thread) = self.thread.take() {
            self.stop.store(true, Ordering::SeqCst);
            // Wake the blocked accept; the loop sees the flag and drops the listener.
            let _ = TcpStream::connect(("127.0.0.1", port));
            let _ = thread.join();
        }
    }
}

fn serve(stream: TcpStream, handler: &Handler) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(read_half) = stream.try_clone() else { return };
    let mut reader = BufReader::new(read_half);
    let Some(request) = read_request(&mut reader) else { return };
    let response = handler(&request);
    let mut head = format!("HTTP/1.1 {} {}\r\n", response.status, reason(response.status));
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", response.body.len()));
    let mut stream = stream;
    let _ = stream.write_all(head.as_bytes());
    if request.method != "HEAD" {
        let _ = stream.write_all(response.body.as_bytes());
    }
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

fn read_request(reader: &mut impl BufRead) -> Option<Request> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let find = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let body = if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut body = Vec::new();
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?.trim(), 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
        body
    } else {
        let len: usize = find("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        let mut body = vec![0; len];
        reader.read_exact(&mut body).ok()?;
        body
    };
    Some(Request { method, path, headers, body: String::from_utf8_lossy(&body).into_owned() })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Requests seen so far, with a way to wait for more.
#[derive(Default)]
struct Log {
    requests: Mutex<Vec<Request>>,
    arrived: Condvar,
}

impl Log {
    fn push(&self, r: Request) {
        self.requests.lock().expect("request log").push(r);
        self.arrived.notify_all();
    }

    fn all(&self) -> Vec<Request> {
        self.requests.lock().expect("request log").clone()
    }

    #[track_caller]
    fn wait_for(&self, n: usize, timeout: Duration, what: &str) -> Vec<Request> {
        let deadline = Instant::now() + timeout;
        let mut requests = self.requests.lock().expect("request log");
        while requests.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!("{what}: waited {timeout:?} for {n} requests, got {}: {:#?}", requests.len(), *requests);
            }
            requests = self.arrived.wait_timeout(requests, left).expect("request log").0;
        }
        requests.clone()
    }
}

/// Receives webhooks: records every request and answers `200 {"ok":true}` (or the status set with
/// [`set_status`](Self::set_status), to play a failing provider).
pub struct WebhookReceiver {
    port: u16,
    log: Arc<Log>,
    status: Arc<AtomicU16>,
    listener: Listener,
}

impl WebhookReceiver {
    pub fn start() -> WebhookReceiver {
        let log = Arc::new(Log::default());
        let status = Arc::new(AtomicU16::new(200));
        let (l, s) = (log.clone(), status.clone());
        let handler: Handler = Arc::new(move |r: &Request| {
            l.push(r.clone());
            let status = s.load(Ordering::SeqCst);
            let body = if status < 400 { r#"{"ok":true}"# } else { r#"{"ok":false,"error":"told to fail"}"# };
            Response::new(status, body).header("Content-Type", "application/json")
        });
        let (listener, port) = Listener::bind(0, handler);
        WebhookReceiver { port, log, status, listener }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT` + `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Every request so far (failed ones included: a provider answered 500 was still called).
    pub fn requests(&self) -> Vec<Request> {
        self.log.all()
    }

    /// Waits until at least `n` requests arrived; panics with those that did after `timeout`.
    #[track_caller]
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Request> {
        self.log.wait_for(n, timeout, "webhook receiver")
    }

    /// The status every following request is answered with.
    pub fn set_status(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.listener.stop(self.port);
    }
}

/// A route of [`HttpTarget`]: its answer, and optionally a header the request must carry (else `401`).
#[derive(Clone)]
struct Route {
    response: Response,
    require: Option<(String, String)>,
}

struct TargetState {
    default: Response,
    routes: HashMap<String, Route>,
    delay: Duration,
}

/// A monitored service: answers every path with the default response (`200 ok` at first) unless a route
/// for that path says otherwise; records requests; can be slowed down, stopped and started again.
pub struct HttpTarget {
    port: u16,
    state: Arc<Mutex<TargetState>>,
    log: Arc<Log>,
    listener: Option<Listener>,
    stopped: Arc<AtomicBool>,
}

impl HttpTarget {
    pub fn start() -> HttpTarget {
        let state = Arc::new(Mutex::new(TargetState {
            default: Response::new(200, "ok"),
            routes: HashMap::new(),
            delay: Duration::ZERO,
        }));
        let mut target =
            HttpTarget { port: 0, state, log: Arc::new(Log::default()), listener: None, stopped: Default::default() };
        target.listen();
        target
    }

    fn listen(&mut self) {
        let (state, log, stopped) = (self.state.clone(), self.log.clone(), self.stopped.clone());
        stopped.store(false, Ordering::SeqCst);
        let handler: Handler = Arc::new(move |r: &Request| {
            log.push(r.clone());
            let (response, delay) = {
                let s = state.lock().expect("target state");
                let path = r.path.split('?').next().unwrap_or_default();
                let response = match s.routes.get(&r.path).or_else(|| s.routes.get(path)) {
                    Some(route) => match &route.require {
                        Some((name, value)) if r.header(name) != Some(value.as_str()) => {
                            Response::new(401, &format!("missing or wrong {name}"))
                        }
                        _ => route.response.clone(),
                    },
                    None => s.default.clone(),
                };
                (response, s.delay)
            };
            // Slow answers sleep in slices, so a stopped target does not answer late.
            let until = Instant::now() + delay;
            while Instant::now() < until && !stopped.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(10).min(until - Instant::now()));
            }
            response
        });
        let (listener, port) = Listener::bind(self.port, handler);
        self.port = port;
        self.listener = Some(listener);
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`, for TCP checks.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT` + `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// What every path without a route answers from now on.
    pub fn set(&self, status: u16, body: &str) {
        self.set_response(Response::new(status, body));
    }

    pub fn set_response(&self, response: Response) {
        self.state.lock().expect("target state").default = response;
    }

    /// How long each answer waits before it is sent.
    pub fn set_delay(&self, delay: Duration) {
        self.state.lock().expect("target state").delay = delay;
    }

    /// Answers `path` (with or without its query) with `response`.
    pub fn route(&self, path: &str, response: Response) {
        let route = Route { response, require: None };
        self.state.lock().expect("target state").routes.insert(path.to_string(), route);
    }

    /// Answers `path` with `response` only when the request carries `header: value`, else `401`.
    pub fn route_requiring(&self, path: &str, header: (&str, &str), response: Response) {
        let route = Route { response, require: Some((header.0.to_string(), header.1.to_string())) };
        self.state.lock().expect("target state").routes.insert(path.to_string(), route);
    }

    pub fn requests(&self) -> Vec<Request> {
        self.log.all()
    }

    #[track_caller]
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Request> {
        self.log.wait_for(n, timeout, "HTTP target")
    }

    /// Closes the port: connections are refused until [`restart`](Self::restart).
    pub fn stop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        if let Some(mut l) = self.listener.take() {
            l.stop(self.port);
        }
    }

    /// Listens again on the same port, with the same responses.
    pub fn restart(&mut self) {
        if self.listener.is_none() {
            self.listen();
        }
    }
}

impl Drop for HttpTarget {
    fn drop(&mut self) {
        self.stop();
    }
}
