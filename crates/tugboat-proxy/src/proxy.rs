//! One client request: route it, pick a target (canary cookie), forward it with X-Forwarded-*, stream the
//! response back (no buffering), or tunnel an upgrade; count it and log it when it ends.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Uri, Version};

use crate::access_log::{now_rfc3339, Entry};
use crate::server::{spawn_tunnel, Body, ConnInfo, Shared};
use crate::stats::{record_route_status, InFlight, TargetStats};
use crate::table::RouteEntry;
use crate::upstream::Lease;

pub const CANARY_COOKIE: &str = "tug_canary";

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Hop-by-hop headers (RFC 9110 7.6.1), never forwarded; plus any the Connection header names. Header
/// names, not strings: removing by a string parses it on every request.
static HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
];

/// What the access log needs, carried until the response ends. Without an access log the strings stay
/// empty (nothing is copied per request for a log that is off).
struct LogInfo {
    shared: Arc<Shared>,
    logging: bool,
    route: String,
    target: Option<SocketAddr>,
    method: Method,
    path: String,
    status: u16,
    start: Instant,
}

impl LogInfo {
    fn write(&self, bytes: u64) {
        if !self.logging {
            return;
        }
        let Some(log) = &self.shared.access_log else { return };
        log.write(&Entry {
            time: now_rfc3339(),
            route: &self.route,
            target: self.target.map(|t| t.to_string()).unwrap_or_else(|| "-".to_string()),
            method: self.method.as_str(),
            path: &self.path,
            status: self.status,
            duration_ms: u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX),
            bytes,
        });
    }
}

pub(crate) fn local(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()).map_err(|never| match never {}).boxed());
    *response.status_mut() = status;
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

/// The request's host as a header value (for HTTP/1.1 a shared copy of the Host header, no allocation).
fn request_host(req: &Request<Incoming>) -> HeaderValue {
    let authority = || {
        req.uri()
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            .unwrap_or_else(|| HeaderValue::from_static(""))
    };
    // HTTP/2 carries the host in :authority; HTTP/1.1 in Host.
    if req.version() == Version::HTTP_2 && req.uri().authority().is_some() {
        return authority();
    }
    match req.headers().get(header::HOST) {
        Some(host) if host.to_str().is_ok() => host.clone(),
        _ => authority(),
    }
}

pub(crate) async fn handle(shared: Arc<Shared>, conn: ConnInfo, mut req: Request<Incoming>) -> Response<Body> {
    let start = Instant::now();
    let host_value = request_host(&req);
    let host = host_value.to_str().unwrap_or_default();
    let logging = shared.access_log.is_some();
    let mut log = LogInfo {
        shared: Arc::clone(&shared),
        logging,
        route: if logging { "-".to_string() } else { String::new() },
        target: None,
        method: req.method().clone(),
        path: if logging { req.uri().path().to_string() } else { String::new() },
        status: 404,
        start,
    };
    if !conn.https {
        if let Some(response) = shared.certs.plain_http(&req, host) {
            log.status = response.status().as_u16();
            log.write(0);
            return response;
        }
    }
    let table = shared.snapshot();
    let Some(entry) = table.lookup(host, req.uri().path()) else {
        log.write(0);
        return local(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "tug proxy: no route for this host and path\n",
        );
    };
    drop(table);
    if logging {
        log.route = entry.route.service.clone();
    }
    if let Some(page) = shared.maintenance_page(&entry.route.service) {
        record_route_status(&entry.stats, 503);
        log.status = 503;
        log.write(page.len() as u64);
        let content_type =
            if page.trim_start().starts_with('<') { "text/html; charset=utf-8" } else { "text/plain; charset=utf-8" };
        let mut response = local(StatusCode::SERVICE_UNAVAILABLE, content_type, page);
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
        return response;
    }
    if !shared.wait_unpaused(&entry.route.service).await {
        record_route_status(&entry.stats, 503);
        log.status = 503;
        log.write(0);
        return local(StatusCode::SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", "tug proxy: service paused\n");
    }
    let Some((addr, target, set_cookie)) = choose(&entry, req.headers()) else {
        record_route_status(&entry.stats, 503);
        log.status = 503;
        log.write(0);
        return local(StatusCode::SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", "tug proxy: no target\n");
    };
    log.target = Some(addr);
    let in_flight = InFlight::new(target, Arc::clone(&entry.stats));
    let upgrade = upgrade_protocol(&req);
    let client_upgrade = upgrade.is_some().then(|| hyper::upgrade::on(&mut req));
    let upstream_req = match upstream_request(req, addr, &conn, &host_value, upgrade) {
        Ok(r) => r,
        Err(message) => {
            in_flight.record(400, start.elapsed());
            log.status = 400;
            log.write(0);
            return local(StatusCode::BAD_REQUEST, "text/plain; charset=utf-8", message);
        }
    };
    let timeout = Duration::from_millis(shared.config.request_timeout_ms);
    let (status, message) = match tokio::time::timeout(
        timeout,
        shared.upstream[conn.worker % shared.upstream.len()].request(addr, upstream_req),
    )
    .await
    {
        Ok(Ok((response, lease))) => {
            return forward(shared, entry, in_flight, log, response, lease, client_upgrade, set_cookie)
        }
        Ok(Err(e)) => {
            tracing::warn!(route = %entry.route.service, target = %addr, "upstream: {e}");
            (StatusCode::BAD_GATEWAY, "tug proxy: the upstream did not answer\n")
        }
        Err(_) => (StatusCode::GATEWAY_TIMEOUT, "tug proxy: the upstream timed out\n"),
    };
    in_flight.record(status.as_u16(), start.elapsed());
    log.status = status.as_u16();
    log.write(0);
    local(status, "text/plain; charset=utf-8", message)
}

#[allow(clippy::too_many_arguments)]
fn forward(
    shared: Arc<Shared>,
    entry: Arc<RouteEntry>,
    in_flight: InFlight,
    mut log: LogInfo,
    mut response: Response<Incoming>,
    lease: Lease,
    client_upgrade: Option<hyper::upgrade::OnUpgrade>,
    set_cookie: Option<HeaderValue>,
) -> Response<Body> {
    drop(entry);
    let status = response.status();
    in_flight.record(status.as_u16(), log.start.elapsed());
    log.status = status.as_u16();
    if status == StatusCode::SWITCHING_PROTOCOLS {
        if let Some(client_upgrade) = client_upgrade {
            let upstream_upgrade = hyper::upgrade::on(&mut response);
            let (mut parts, _) = response.into_parts();
            let protocol = parts.headers.get(header::UPGRADE).cloned();
            strip_hop_by_hop(&mut parts.headers);
            if let Some(protocol) = protocol {
                parts.headers.insert(header::UPGRADE, protocol);
                parts.headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            }
            // The connection is the tunnel now; it never goes back to the pool.
            drop(lease);
            spawn_tunnel(shared, client_upgrade, upstream_upgrade, move |bytes| {
                drop(in_flight);
                log.write(bytes);
            });
            return Response::from_parts(parts, http_body_util::Empty::new().map_err(|never| match never {}).boxed());
        }
    }
    let (mut parts, body) = response.into_parts();
    // A connection the upstream closes after this response is not worth pooling.
    let reusable = !has_token(&parts.headers, "close");
    strip_hop_by_hop(&mut parts.headers);
    if let Some(cookie) = set_cookie {
        parts.headers.append(header::SET_COOKIE, cookie);
    }
    let body = Counted { inner: body, bytes: 0, end: Some((in_flight, log)), lease: reusable.then_some(lease) };
    Response::from_parts(parts, body.boxed())
}

/// The target for a request: the canary by cookie or a fresh draw (then a Set-Cookie), else round robin.
fn choose(entry: &RouteEntry, headers: &HeaderMap) -> Option<(SocketAddr, Arc<TargetStats>, Option<HeaderValue>)> {
    if let Some((addr, percent, stats)) = &entry.canary {
        let (to_canary, cookie) = match cookie(headers, CANARY_COOKIE).as_deref() {
            Some("1") => (true, None),
            Some("0") => (false, None),
            _ => {
                let drawn = canary_draw(*percent);
                let value = format!("{CANARY_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax", u8::from(drawn));
                (drawn, HeaderValue::from_str(&value).ok())
            }
        };
        if to_canary {
            return Some((*addr, Arc::clone(stats), cookie));
        }
        return entry.pick().map(|(addr, stats)| (addr, stats, cookie));
    }
    entry.pick().map(|(addr, stats)| (addr, stats, None))
}

pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
}

/// The `Upgrade` protocol of an HTTP/1.1 upgrade request (`Connection: upgrade` + `Upgrade: …`).
fn upgrade_protocol(req: &Request<Incoming>) -> Option<HeaderValue> {
    if req.version() != Version::HTTP_11 {
        return None;
    }
    if !has_token(req.headers(), "upgrade") {
        return None;
    }
    req.headers().get(header::UPGRADE).cloned()
}

/// Whether a Connection header lists `token` (case-insensitive).
fn has_token(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    if headers.contains_key(header::CONNECTION) {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

fn upstream_request(
    req: Request<Incoming>,
    addr: SocketAddr,
    conn: &ConnInfo,
    host: &HeaderValue,
    upgrade: Option<HeaderValue>,
) -> Result<Request<Incoming>, &'static str> {
    let (mut parts, body) = req.into_parts();
    // Origin-form (`/path?query`), what goes on the upstream connection.
    parts.uri = match parts.uri.path_and_query() {
        Some(pq) if pq.as_str().starts_with('/') => Uri::from(pq.clone()),
        // Anything else (`*`, no path): as before, through an absolute URI to the target, which must parse.
        pq => {
            let pq = pq.map(|p| p.as_str()).unwrap_or("/");
            let absolute: Uri = format!("http://{addr}{pq}").parse().map_err(|_| "tug proxy: bad request target\n")?;
            absolute.path_and_query().cloned().map(Uri::from).unwrap_or_else(|| Uri::from_static("/"))
        }
    };
    parts.version = Version::HTTP_11;
    strip_hop_by_hop(&mut parts.headers);
    if let Some(protocol) = upgrade {
        parts.headers.insert(header::UPGRADE, protocol);
        parts.headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
    if !host.is_empty() {
        parts.headers.insert(header::HOST, host.clone());
        parts.headers.insert(X_FORWARDED_HOST.clone(), host.clone());
    } else {
        // HTTP/1.0 without a Host: the target's address, as the HTTP client adds for an absolute URI.
        let value = HeaderValue::from_str(&addr.to_string()).map_err(|_| "tug proxy: bad host\n")?;
        parts.headers.insert(header::HOST, value);
    }
    let prior: Vec<&str> = parts.headers.get_all(&X_FORWARDED_FOR).iter().filter_map(|v| v.to_str().ok()).collect();
    let forwarded_for = if prior.is_empty() {
        conn.peer_ip.clone()
    } else {
        let client = conn.peer.ip();
        HeaderValue::from_str(&format!("{}, {client}", prior.join(", ")))
            .map_err(|_| "tug proxy: bad X-Forwarded-For\n")?
    };
    parts.headers.insert(X_FORWARDED_FOR.clone(), forwarded_for);
    let proto = if conn.https { "https" } else { "http" };
    parts.headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static(proto));
    Ok(Request::from_parts(parts, body))
}

/// The upstream body passed through frame by frame (an SSE event goes out as soon as it comes in);
/// when it ends or the client goes away, the request leaves the in-flight count and is logged.
/// The upstream connection goes back to the pool only after the body was read to its end.
struct Counted {
    inner: Incoming,
    bytes: u64,
    end: Option<(InFlight, LogInfo)>,
    lease: Option<Lease>,
}

impl Counted {
    fn finish(&mut self, complete: bool) {
        if let Some(lease) = self.lease.take() {
            if complete {
                lease.release();
            }
        }
        if let Some((in_flight, log)) = self.end.take() {
            drop(in_flight);
            log.write(self.bytes);
        }
    }
}

impl HttpBody for Counted {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.bytes += data.len() as u64;
                }
            }
            Poll::Ready(None) => self.finish(true),
            Poll::Ready(Some(Err(_))) => self.finish(false),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        // The server stops polling once the body says it has ended (a known length all read).
        let complete = self.inner.is_end_stream();
        self.finish(complete);
    }
}

/// New sessions sent to the canary: exactly `percent` of every hundred, spread evenly (session n goes
/// when floor((n+1)·p/100) steps past floor(n·p/100)) — the share holds from the first sessions on, and
/// tests can count it.
fn canary_draw(percent: u8) -> bool {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SESSIONS: AtomicU64 = AtomicU64::new(0);
    let n = SESSIONS.fetch_add(1, Ordering::Relaxed);
    let p = u64::from(percent.min(100));
    (n + 1) * p / 100 > n * p / 100
}
