//! `tug proxy`: the blue-green reverse proxy that `tug deploy` switches (tugboat issue 13).
//!
//! # Use
//!
//! ```no_run
//! # fn main() -> Result<(), tugboat_proxy::ProxyError> {
//! let config = tugboat_proxy::ProxyConfig::from_file(std::path::Path::new("proxy.json"))?;
//! // Before any tokio runtime: adopts the sockets of an upgrading predecessor, or binds them.
//! let listeners = tugboat_proxy::Listeners::acquire(&config)?;
//! // Serves until SIGTERM/SIGINT (drain, then Exit::Stopped) or a SIGUSR2 / `POST /upgrade` handover
//! // to a new process (Exit::Upgraded). Either way the caller exits 0.
//! let exit = tugboat_proxy::run_with(config, listeners)?;
//! # let _ = exit; Ok(()) }
//! ```
//!
//! [`run`] does both steps; [`start`] is the async core (a [`ProxyHandle`] with `shutdown`, `upgrade`,
//! `wait`) for callers that own a runtime. [`AdminClient`] speaks the admin API (blocking).
//!
//! # Behaviour
//!
//! - Listeners: HTTP/1.1 and HTTP/2 (h2c prior knowledge on plain listeners; ALPN h2 on TLS ones).
//! - Routes (`PUT /routes/{service}`): by Host (port stripped, case-insensitive; routes naming the host win
//!   over any-host routes), then the longest path prefix on segment boundaries. Targets by weighted round
//!   robin; upstream HTTP/1.1 with a keep-alive pool per target. X-Forwarded-For is appended to,
//!   X-Forwarded-Proto/-Host set; hop-by-hop headers stripped. No route: 404; upstream refused: 502;
//!   no response head within `request_timeout_ms`: 504.
//! - Bodies stream both ways frame by frame (SSE is not buffered); HTTP/1.1 upgrades (WebSocket) are
//!   tunnelled byte for byte.
//! - A route change is one atomic swap of an immutable table, persisted (temp + fsync + rename) before the
//!   API answers. Requests in flight keep their target; each target counts requests, status classes and
//!   in-flight requests/tunnels (until the response body or the tunnel ends), so `drain` can wait.
//! - Canary: `percent` of sessions, sticky by the `tug_canary=1|0` cookie (set when drawn).
//! - Pause holds each new request of the service up to `max_ms` (then 503) until resumed; maintenance
//!   answers 503 with the page (kept across restarts and upgrades).
//! - Upgrade without a gap: see [`handoff`]. Stop: stop accepting, drain up to `drain_timeout_ms`, close.
//! - TLS: listeners with cert/key files, or (`tls`) certificates from an ACME CA per SNI name, issued over
//!   HTTP-01 (answered by the plain listeners), renewed `renew_before_s` before expiry and swapped in
//!   without a restart; a failed renewal keeps the old one and retries with capped backoff ([`TlsConfig`],
//!   [`AcmeConfig`]). `redirect_http`: plain listeners answer 308 to HTTPS.
//! - Access log: JSON lines (time, route, target, method, path without query, status, duration_ms,
//!   bytes); never bodies, cookies or Authorization.
//!
//! # Admin API (Unix socket, mode 0600)
//!
//! | | |
//! |---|---|
//! | `GET /health` | `{status, pid, held, connections, version, listen}` (open client and admin connections) |
//! | `GET /routes` | `{routes: [Route]}`; `GET /routes/{service}`: one route |
//! | `PUT /routes/{service}` | body: a [`Route`]; replaces atomically, persisted before the answer |
//! | `DELETE /routes/{service}` | `{deleted}` or 404 |
//! | `POST /routes/{service}/drain` | `{target, timeout_ms}` -> `{drained, in_flight}` |
//! | `GET /routes/{service}/stats` | `{service, targets: {"ip:port": {requests, status: {1xx..5xx}, in_flight}}}` |
//! | `POST /pause` / `POST /resume` | `{service, max_ms}` / `{service}` |
//! | `POST /maintenance` | `{service, on, page?}` |
//! | `GET /certificates` | `{certificates: [{name, source: file\|acme, not_after, renewed, error, failures, retry_delay_ms, next_attempt}]}` |
//! | `GET /metrics` | Prometheus text |
//! | `POST /upgrade` | `{upgraded, pid}` once the new process serves |
//!
//! Changes during an upgrade or a stop answer 409.

mod access_log;
mod acme;
mod admin;
mod client;
mod config;
#[doc(hidden)]
pub mod fuzzing;
pub mod handoff;
mod proxy;
mod server;
mod state;
mod stats;
mod table;
mod tls;
mod upstream;

pub use client::{AdminClient, TargetCounters};
pub use config::{AcmeConfig, Canary, Listen, ProxyConfig, Route, Target, TlsConfig, TlsFiles, UpgradeCommand};
pub use handoff::{Listeners, Successor, HANDOFF_ENV};
pub use proxy::CANARY_COOKIE;
pub use server::{start, Exit, ProxyHandle};
pub use state::{load as load_state, PersistedState};

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("proxy config: {0}")]
    Config(String),
    #[error("upgrade: {0}")]
    Upgrade(String),
    #[error("admin API: {status}: {message}")]
    Admin { status: u16, message: String },
}

impl ProxyError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> ProxyError {
        ProxyError::Io { what: what.into(), source }
    }
}

/// Acquires the listeners ([`Listeners::acquire`]) and serves ([`run_with`]).
pub fn run(config: ProxyConfig) -> Result<Exit, ProxyError> {
    let listeners = Listeners::acquire(&config)?;
    run_with(config, listeners)
}

/// Serves until a stop or an upgrade has drained: client connections on single-threaded worker runtimes
/// (half the cores; `TOKIO_WORKER_THREADS` sets the count), the listeners, admin API and signals on another.
/// Signals: SIGTERM/SIGINT stop gracefully; SIGUSR2 upgrades (a failed upgrade is logged; serving goes on).
pub fn run_with(config: ProxyConfig, listeners: Listeners) -> Result<Exit, ProxyError> {
    let count = std::env::var("TOKIO_WORKER_THREADS")
        .ok()
        .and_then(|n| n.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        // Half the cores by default: the proxy shares its host with the stack it fronts. Measured on 2
        // cores with the backend and load generator alongside (bench/proxy), one worker batched more per
        // wake-up and served ~25% more requests than two, with a lower p99.
        .or_else(|| std::thread::available_parallelism().ok().map(|n| (n.get() / 2).max(1)))
        .unwrap_or(1);
    let (end_tx, end_rx) = tokio::sync::watch::channel(false);
    let mut threads = Vec::new();
    let mut handles = Vec::new();
    for i in 0..count {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ProxyError::io("start a worker runtime", e))?;
        handles.push(runtime.handle().clone());
        let mut end = end_rx.clone();
        let thread = std::thread::Builder::new()
            .name(format!("tug-proxy-{i}"))
            .spawn(move || {
                runtime.block_on(async move { while !*end.borrow_and_update() && end.changed().await.is_ok() {} })
            })
            .map_err(|e| ProxyError::io("start a worker thread", e))?;
        threads.push(thread);
    }
    let result = serve(config, listeners, server::Workers::new(handles));
    let _ = end_tx.send(true);
    for thread in threads {
        let _ = thread.join();
    }
    result
}

fn serve(config: ProxyConfig, listeners: Listeners, workers: server::Workers) -> Result<Exit, ProxyError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| ProxyError::io("start the tokio runtime", e))?;
    runtime.block_on(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let sig = |kind| signal(kind).map_err(|e| ProxyError::io("install signal handlers", e));
        let mut term = sig(SignalKind::terminate())?;
        let mut int = sig(SignalKind::interrupt())?;
        let mut usr2 = sig(SignalKind::user_defined2())?;
        let handle = server::start_on(config, listeners, workers).await?;
        loop {
            tokio::select! {
                _ = term.recv() => handle.shutdown(),
                _ = int.recv() => handle.shutdown(),
                _ = usr2.recv() => {
                    let handle = handle.clone();
                    tokio::spawn(async move {
                        match handle.upgrade().await {
                            Ok(successor) => tracing::info!(pid = successor.pid(), "upgraded"),
                            Err(e) => tracing::error!("{e}"),
                        }
                    });
                }
                exit = handle.wait() => return Ok(exit),
            }
        }
    })
}
