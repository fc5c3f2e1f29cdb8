//! The upstream client: HTTP/1.1 keep-alive connections per target, on hyper's connection API.
//!
//! Not hyper-util's legacy `Client`: per request it locks a pool keyed by scheme and authority, rewrites
//! the URI and spawns a task that waits for the connection to be reusable. Here a connection goes back to
//! its target's idle list when the response body ends (the proxy knows when), and a checkout takes one that
//! is ready, else connects. A request that never started on a reused connection (closed meanwhile) is
//! retried once per idle connection and then on a fresh one, as the legacy client does.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Idle connections older than this are closed (the legacy client's `pool_idle_timeout`).
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// At most this many idle connections per target are kept.
const MAX_IDLE_PER_TARGET: usize = 256;

#[derive(Debug)]
pub(crate) enum UpstreamError {
    Connect(std::io::Error),
    ConnectTimeout,
    Http(hyper::Error),
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamError::Connect(e) => write!(f, "connect: {e}"),
            UpstreamError::ConnectTimeout => f.write_str("connect: timed out"),
            UpstreamError::Http(e) => write!(f, "{e}"),
        }
    }
}

struct Idle {
    sender: SendRequest<Incoming>,
    since: Instant,
}

pub(crate) struct Upstream {
    idle: Mutex<HashMap<SocketAddr, Vec<Idle>>>,
    connect_timeout: Duration,
}

/// A connection lent to one request; [`Lease::release`] gives it back once the response has been read.
pub(crate) struct Lease {
    upstream: Arc<Upstream>,
    addr: SocketAddr,
    sender: SendRequest<Incoming>,
}

impl Lease {
    /// Back to the idle list: the response (head and body) was read to its end.
    pub(crate) fn release(self) {
        if self.sender.is_closed() {
            return;
        }
        let mut idle = self.upstream.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let list = idle.entry(self.addr).or_default();
        if list.len() >= MAX_IDLE_PER_TARGET {
            list.remove(0);
        }
        list.push(Idle { sender: self.sender, since: Instant::now() });
    }
}

impl Upstream {
    pub(crate) fn new(connect_timeout: Duration) -> Upstream {
        Upstream { idle: Mutex::new(HashMap::new()), connect_timeout }
    }

    /// Sends `req` (origin-form URI, Host set) to `addr`. The lease goes with the response.
    pub(crate) async fn request(
        self: &Arc<Self>,
        addr: SocketAddr,
        mut req: Request<Incoming>,
    ) -> Result<(Response<Incoming>, Lease), UpstreamError> {
        // Idle connections not yet ready (their last response is still being finished) are set aside and
        // put back afterwards rather than waited for.
        let mut busy = Vec::new();
        let result = loop {
            let reused = self.checkout(addr, &mut busy);
            let (mut sender, fresh) = match reused {
                Some(sender) => (sender, false),
                None => match self.connect(addr).await {
                    Ok(sender) => (sender, true),
                    Err(e) => break Err(e),
                },
            };
            match sender.try_send_request(req).await {
                Ok(response) => break Ok((response, Lease { upstream: Arc::clone(self), addr, sender })),
                Err(mut e) => match e.take_message() {
                    // Never started on a reused connection: try the next one.
                    Some(unsent) if !fresh => req = unsent,
                    _ => break Err(UpstreamError::Http(e.into_error())),
                },
            }
        };
        if !busy.is_empty() {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            let list = idle.entry(addr).or_default();
            // Oldest first: the busy ones go in front, the ready ones stay where a checkout looks first.
            busy.append(list);
            busy.truncate(MAX_IDLE_PER_TARGET);
            *list = busy;
        }
        result
    }

    /// The most recently used ready idle connection to `addr`; closed and expired ones are dropped.
    fn checkout(&self, addr: SocketAddr, busy: &mut Vec<Idle>) -> Option<SendRequest<Incoming>> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let list = idle.get_mut(&addr)?;
        while let Some(entry) = list.pop() {
            if entry.sender.is_closed() || entry.since.elapsed() > IDLE_TIMEOUT {
                continue;
            }
            if entry.sender.is_ready() {
                return Some(entry.sender);
            }
            busy.push(entry);
        }
        None
    }

    async fn connect(&self, addr: SocketAddr) -> Result<SendRequest<Incoming>, UpstreamError> {
        let stream = match tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(UpstreamError::Connect(e)),
            Err(_) => return Err(UpstreamError::ConnectTimeout),
        };
        // Small requests and responses go out at once, not after the peer's delayed ACK.
        let _ = stream.set_nodelay(true);
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await.map_err(UpstreamError::Http)?;
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!(%addr, "upstream connection: {e}");
            }
        });
        Ok(sender)
    }

    /// Drops idle connections that expired or closed (run now and then, so none linger for long).
    pub(crate) fn reap(&self) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        for list in idle.values_mut() {
            list.retain(|entry| !entry.sender.is_closed() && entry.since.elapsed() <= IDLE_TIMEOUT);
        }
        idle.retain(|_, list| !list.is_empty());
    }
}
