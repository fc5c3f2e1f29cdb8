//! The running proxy: shared state, accept loops, connections, and the stop/upgrade lifecycle.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{watch, Notify};

use crate::access_log::AccessLog;
use crate::config::{ProxyConfig, Route};
use crate::handoff::{self, Listeners, Successor};
use crate::state::{self, PersistedState};
use crate::stats::Stats;
use crate::table::Table;
use crate::upstream::Upstream;
use crate::{acme, admin, proxy, tls, ProxyError};

pub(crate) type Body = BoxBody<Bytes, hyper::Error>;

/// After a stop begins, an idle keep-alive connection is closed once it starts a request (its response
/// then says `Connection: close`) or after this grace: closing it at once would race a request the
/// client is sending right now. A connection that has not had its first request yet gets the idle
/// timeout instead: its client connected to send one, and a close before any answer is an error to it
/// (under load, the request of a connection accepted as the stop began can take longer than the grace).
const IDLE_GRACE: Duration = Duration::from_secs(1);
/// How long an upgrade waits for the new process to report ready.
const UPGRADE_TIMEOUT: Duration = Duration::from_secs(30);

/// Stop levels on `Shared::stop`.
const RUNNING: u8 = 0;
const DRAINING: u8 = 1;
const CLOSED: u8 = 2;

/// Why a proxy ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Stopped (SIGTERM/SIGINT or [`ProxyHandle::shutdown`]) after draining.
    Stopped,
    /// A new process took over the sockets; this one drained.
    Upgraded,
}

#[derive(Clone)]
pub(crate) struct ConnInfo {
    pub peer: SocketAddr,
    pub https: bool,
    /// The peer's IP as a header value, made once per connection (X-Forwarded-For).
    pub peer_ip: hyper::header::HeaderValue,
    /// The worker thread serving the connection (its own upstream pool).
    pub worker: usize,
}

impl ConnInfo {
    fn new(peer: SocketAddr, https: bool, worker: usize) -> ConnInfo {
        let peer_ip = hyper::header::HeaderValue::from_str(&peer.ip().to_string())
            .unwrap_or_else(|_| hyper::header::HeaderValue::from_static(""));
        ConnInfo { peer, https, peer_ip, worker }
    }
}

/// Single-threaded runtimes that serve client connections, as nginx runs its worker processes: a
/// connection, its upstream connections and their tasks stay on one thread, so a request wakes no other
/// thread (on a multi-threaded runtime each hop between the client and the upstream connection tasks may
/// wake a parked worker: a futex call and a context switch, per request).
pub(crate) struct Workers {
    handles: Vec<tokio::runtime::Handle>,
    next: AtomicUsize,
}

impl Workers {
    pub(crate) fn new(handles: Vec<tokio::runtime::Handle>) -> Workers {
        Workers { handles, next: AtomicUsize::new(0) }
    }

    fn len(&self) -> usize {
        self.handles.len().max(1)
    }

    /// Round robin over the workers: (index, handle); none means the caller's runtime.
    fn pick(&self) -> Option<(usize, &tokio::runtime::Handle)> {
        if self.handles.is_empty() {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        Some((i, &self.handles[i]))
    }
}

pub(crate) struct Shared {
    pub config: ProxyConfig,
    pub table: RwLock<Arc<Table>>,
    pub stats: Stats,
    pub maintenance: RwLock<BTreeMap<String, String>>,
    /// Paused services and how long each request may be held.
    pub paused: Mutex<BTreeMap<String, Duration>>,
    /// Bumped on every resume (held requests re-check).
    pub resumed: watch::Sender<u64>,
    /// One upstream pool per worker (its connections' tasks run on that worker).
    pub upstream: Vec<Arc<Upstream>>,
    workers: Workers,
    pub access_log: Option<AccessLog>,
    /// Serializes route changes and their persistence.
    pub state_lock: tokio::sync::Mutex<()>,
    pub upgrading: AtomicBool,
    /// Requests held by a pause right now (in `GET /health`).
    pub held: AtomicU64,
    pub stop: watch::Sender<u8>,
    exit: watch::Sender<Option<Exit>>,
    active: Arc<Active>,
    /// Accept loops still running: a stop waits for them before it counts `active` down, so a connection
    /// one of them accepts as the stop begins is drained too, not cut when `active` was briefly zero.
    accepting: Arc<Active>,
    /// Our handles on the sockets (for a handoff); taken when a stop begins.
    listeners: Mutex<Option<Sockets>>,
    pub addrs: Vec<SocketAddr>,
    /// Certificates (files, ACME), HTTP-01 answers, the HTTP->HTTPS redirect.
    pub certs: Arc<acme::Certs>,
}

struct Held<'a>(&'a AtomicU64);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The client listeners (with their addresses) and the admin listener.
type Sockets = (Vec<(SocketAddr, Arc<TcpListener>)>, Arc<UnixListener>);

/// Connections and tunnels alive (what a stop drains).
#[derive(Default)]
struct Active {
    n: AtomicUsize,
    zero: Notify,
}

struct ActiveGuard(Arc<Active>);

impl Active {
    fn guard(self: &Arc<Self>) -> ActiveGuard {
        self.n.fetch_add(1, Ordering::SeqCst);
        ActiveGuard(Arc::clone(self))
    }

    async fn wait_zero(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.zero.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.n.load(Ordering::SeqCst) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return false;
            }
        }
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        if self.0.n.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.zero.notify_waiters();
        }
    }
}

impl Shared {
    pub(crate) fn routes(&self) -> Vec<Route> {
        self.table.read().unwrap_or_else(PoisonError::into_inner).routes()
    }

    pub(crate) fn snapshot(&self) -> Arc<Table> {
        Arc::clone(&self.table.read().unwrap_or_else(PoisonError::into_inner))
    }

    pub(crate) fn maintenance_page(&self, service: &str) -> Option<String> {
        self.maintenance.read().unwrap_or_else(PoisonError::into_inner).get(service).cloned()
    }

    fn pause_of(&self, service: &str) -> Option<Duration> {
        self.paused.lock().unwrap_or_else(PoisonError::into_inner).get(service).copied()
    }

    /// Holds a request of a paused service until resumed (true) or its bound passes (false).
    pub(crate) async fn wait_unpaused(&self, service: &str) -> bool {
        // Not paused (the usual case): no subscription needed.
        if self.pause_of(service).is_none() {
            return true;
        }
        // Subscribed before the (second) check, so a resume in between is seen.
        let mut resumed = self.resumed.subscribe();
        let Some(max) = self.pause_of(service) else { return true };
        self.held.fetch_add(1, Ordering::SeqCst);
        let _held = Held(&self.held);
        let deadline = tokio::time::Instant::now() + max;
        loop {
            match tokio::time::timeout_at(deadline, resumed.changed()).await {
                Err(_) => return self.pause_of(service).is_none(),
                Ok(Err(_)) => return true,
                Ok(Ok(())) if self.pause_of(service).is_none() => return true,
                Ok(Ok(())) => {}
            }
        }
    }

    /// Replaces the routes (and maintenance pages): persisted first, then swapped in whole.
    pub(crate) fn commit(&self, routes: Vec<Route>, maintenance: BTreeMap<String, String>) -> Result<(), ProxyError> {
        let state = PersistedState { routes: routes.clone(), maintenance: maintenance.clone() };
        state::save(&self.config.state, &state)?;
        let table = Arc::new(Table::new(routes, &self.stats));
        *self.table.write().unwrap_or_else(PoisonError::into_inner) = table;
        *self.maintenance.write().unwrap_or_else(PoisonError::into_inner) = maintenance;
        Ok(())
    }

    /// Client and admin connections open now (a stop drains them).
    pub(crate) fn connections(&self) -> usize {
        self.active.n.load(Ordering::SeqCst)
    }

    pub(crate) fn stopping(&self) -> bool {
        *self.stop.borrow() != RUNNING
    }

    /// Stops accepting, drains (bounded by `drain_timeout_ms`), then closes what is left.
    pub(crate) fn begin_stop(self: &Arc<Self>, exit: Exit) {
        let started = self.stop.send_if_modified(|level| {
            if *level == RUNNING {
                *level = DRAINING;
                true
            } else {
                false
            }
        });
        if !started {
            return;
        }
        // Our copies of the listeners close here; after an upgrade the new process holds them open.
        self.listeners.lock().unwrap_or_else(PoisonError::into_inner).take();
        if exit == Exit::Stopped {
            let _ = std::fs::remove_file(&self.config.admin_socket);
        }
        tracing::info!(?exit, "proxy stopping: draining");
        let shared = Arc::clone(self);
        tokio::spawn(async move {
            let drain = Duration::from_millis(shared.config.drain_timeout_ms);
            let started = tokio::time::Instant::now();
            shared.accepting.wait_zero(drain).await;
            if !shared.active.wait_zero(drain.saturating_sub(started.elapsed())).await {
                tracing::warn!("drain timeout: closing {} connections", shared.active.n.load(Ordering::SeqCst));
            }
            shared.stop.send_replace(CLOSED);
            shared.active.wait_zero(Duration::from_secs(5)).await;
            shared.exit.send_replace(Some(exit));
        });
    }

    /// Starts the configured command on our sockets; once it is ready, this proxy drains and ends.
    pub(crate) async fn upgrade(self: &Arc<Self>) -> Result<Successor, ProxyError> {
        let Some(command) = self.config.upgrade.clone() else {
            return Err(ProxyError::Upgrade("no upgrade command configured".into()));
        };
        if self.stopping() {
            return Err(ProxyError::Upgrade("the proxy is stopping".into()));
        }
        if self.upgrading.swap(true, Ordering::SeqCst) {
            return Err(ProxyError::Upgrade("an upgrade is already in progress".into()));
        }
        let fds = self.listener_fds();
        let result = match fds {
            Ok((tcp, admin)) => {
                let admin_socket = self.config.admin_socket.clone();
                tokio::task::spawn_blocking(move || {
                    handoff::hand_over(&command, &admin_socket, tcp, admin, UPGRADE_TIMEOUT)
                })
                .await
                .unwrap_or_else(|e| Err(ProxyError::Upgrade(format!("handoff task: {e}"))))
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(successor) => {
                tracing::info!(pid = successor.pid(), "upgrade: the new process is serving");
                self.begin_stop(Exit::Upgraded);
                Ok(successor)
            }
            Err(e) => {
                self.upgrading.store(false, Ordering::SeqCst);
                Err(e)
            }
        }
    }

    fn listener_fds(&self) -> Result<(Vec<(SocketAddr, OwnedFd)>, OwnedFd), ProxyError> {
        let guard = self.listeners.lock().unwrap_or_else(PoisonError::into_inner);
        let Some((tcp, admin)) = guard.as_ref() else {
            return Err(ProxyError::Upgrade("the proxy is stopping".into()));
        };
        let dup = |fd: std::os::fd::BorrowedFd<'_>| fd.try_clone_to_owned().map_err(|e| ProxyError::io("dup", e));
        let tcp = tcp.iter().map(|(addr, l)| Ok((*addr, dup(l.as_fd())?))).collect::<Result<Vec<_>, ProxyError>>()?;
        Ok((tcp, dup(admin.as_fd())?))
    }
}

/// A running proxy. Dropping it does not stop it; call [`ProxyHandle::shutdown`] and [`ProxyHandle::wait`].
#[derive(Clone)]
pub struct ProxyHandle {
    shared: Arc<Shared>,
}

impl ProxyHandle {
    /// The client listeners' addresses, in config order.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.shared.addrs
    }

    pub fn admin_socket(&self) -> PathBuf {
        self.shared.config.admin_socket.clone()
    }

    /// Begins a graceful stop (stop accepting, drain, close); see [`ProxyHandle::wait`].
    pub fn shutdown(&self) {
        self.shared.begin_stop(Exit::Stopped);
    }

    /// Hands the sockets to a new process (the config's `upgrade` command) and, once it is ready, drains.
    pub async fn upgrade(&self) -> Result<Successor, ProxyError> {
        self.shared.upgrade().await
    }

    /// Resolves when the proxy has ended (drained or upgraded).
    pub async fn wait(&self) -> Exit {
        let mut exit = self.shared.exit.subscribe();
        loop {
            if let Some(reason) = *exit.borrow_and_update() {
                return reason;
            }
            if exit.changed().await.is_err() {
                return Exit::Stopped;
            }
        }
    }
}

/// Starts serving on `listeners` (call inside a tokio runtime). Loads the state file (or the config's
/// routes on a first start); an adopted proxy reports ready to its predecessor once it serves.
pub async fn start(config: ProxyConfig, listeners: Listeners) -> Result<ProxyHandle, ProxyError> {
    start_on(config, listeners, Workers::new(Vec::new())).await
}

/// [`start`], serving client connections on `workers` (none: on the caller's runtime).
pub(crate) async fn start_on(
    config: ProxyConfig,
    listeners: Listeners,
    workers: Workers,
) -> Result<ProxyHandle, ProxyError> {
    let persisted = match state::load(&config.state)? {
        Some(state) => state,
        None => {
            let mut routes = config.routes.clone();
            for route in &mut routes {
                route.validate().map_err(|e| ProxyError::Config(format!("route {}: {e}", route.service)))?;
            }
            PersistedState { routes, maintenance: BTreeMap::new() }
        }
    };
    let access_log = config.access_log.as_deref().map(AccessLog::open).transpose()?;
    let connect_timeout = Duration::from_millis(config.request_timeout_ms.min(10_000));
    let upstream = (0..workers.len()).map(|_| Arc::new(Upstream::new(connect_timeout))).collect();
    let mut tcp = Vec::new();
    let mut addrs = Vec::new();
    for (_, std_listener) in &listeners.tcp {
        addrs.push(std_listener.local_addr().map_err(|e| ProxyError::io("listener address", e))?);
    }
    let certs = Arc::new(acme::Certs::new(&config, &addrs)?);
    let acme_listen = config.tls.as_ref().map(|t| t.listen.clone()).unwrap_or_default();
    for ((listen, std_listener), addr) in listeners.tcp.into_iter().zip(addrs.clone()) {
        let acceptor = match &listen.tls {
            Some(files) => Some(tls::acceptor(files)?),
            None if acme_listen.contains(&listen.address) => Some(tls::resolver_acceptor(Arc::clone(&certs.resolver))?),
            None => None,
        };
        let listener = Arc::new(TcpListener::from_std(std_listener).map_err(|e| ProxyError::io("listener", e))?);
        tcp.push((addr, listener, acceptor));
    }
    let admin = Arc::new(UnixListener::from_std(listeners.admin).map_err(|e| ProxyError::io("admin socket", e))?);
    let stats = Stats::default();
    let table = Arc::new(Table::new(persisted.routes.clone(), &stats));
    let shared = Arc::new(Shared {
        table: RwLock::new(table),
        stats,
        maintenance: RwLock::new(persisted.maintenance),
        paused: Mutex::new(BTreeMap::new()),
        resumed: watch::Sender::new(0),
        upstream,
        workers,
        access_log,
        state_lock: tokio::sync::Mutex::new(()),
        upgrading: AtomicBool::new(false),
        held: AtomicU64::new(0),
        stop: watch::Sender::new(RUNNING),
        exit: watch::Sender::new(None),
        active: Arc::new(Active::default()),
        accepting: Arc::new(Active::default()),
        listeners: Mutex::new(Some((
            tcp.iter().map(|(addr, l, _)| (*addr, Arc::clone(l))).collect(),
            Arc::clone(&admin),
        ))),
        addrs,
        certs,
        config,
    });
    // A first start writes the state file, so a restart finds exactly what is served.
    if !shared.config.state.exists() {
        shared.commit(shared.routes(), BTreeMap::new())?;
    }
    for (addr, listener, acceptor) in tcp {
        tokio::spawn(accept_tcp(Arc::clone(&shared), listener, acceptor, shared.accepting.guard()));
        tracing::info!(%addr, "proxy listening");
    }
    tokio::spawn(accept_admin(Arc::clone(&shared), admin, shared.accepting.guard()));
    tokio::spawn(acme::run(Arc::clone(&shared.certs), shared.stop.subscribe()));
    tokio::spawn(reap_idle(Arc::clone(&shared)));
    if let Some(stream) = listeners.ready {
        handoff::signal_ready(stream).map_err(|e| ProxyError::io("report ready to the old process", e))?;
    }
    Ok(ProxyHandle { shared })
}

/// Closes expired idle upstream connections now and then, until the proxy closes.
async fn reap_idle(shared: Arc<Shared>) {
    let mut stop = shared.stop.subscribe();
    let mut tick = tokio::time::interval(crate::upstream::IDLE_TIMEOUT / 9);
    loop {
        tokio::select! {
            _ = tick.tick() => shared.upstream.iter().for_each(|u| u.reap()),
            () = stopped(&mut stop, CLOSED) => return,
        }
    }
}

async fn stopped(stop: &mut watch::Receiver<u8>, level: u8) {
    let _ = stop.wait_for(|v| *v >= level).await;
}

async fn accept_tcp(
    shared: Arc<Shared>,
    listener: Arc<TcpListener>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    accepting: ActiveGuard,
) {
    let mut stop = shared.stop.subscribe();
    loop {
        // Biased: once a stop begins, this process accepts no more (after an upgrade, the successor does).
        let accepted = tokio::select! {
            biased;
            () = stopped(&mut stop, DRAINING) => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // EMFILE and friends: back off a little instead of spinning.
                tracing::warn!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let active = shared.active.guard();
        let tls = tls.clone();
        match shared.workers.pick() {
            None => {
                tokio::spawn(serve_tcp(Arc::clone(&shared), stream, peer, tls, 0, active));
            }
            Some((worker, handle)) => {
                // Registered again on the worker's own reactor, so its events wake that thread.
                let stream = match stream.into_std() {
                    Ok(stream) => stream,
                    Err(e) => {
                        tracing::warn!(%peer, "hand the connection to a worker: {e}");
                        continue;
                    }
                };
                let shared = Arc::clone(&shared);
                handle.spawn(async move {
                    match tokio::net::TcpStream::from_std(stream) {
                        Ok(stream) => serve_tcp(shared, stream, peer, tls, worker, active).await,
                        Err(e) => tracing::warn!(%peer, "register the connection on a worker: {e}"),
                    }
                });
            }
        }
    }
    drop(listener);
    // Every connection accepted here holds its own guard by now: the stop may count them down.
    drop(accepting);
}

async fn serve_tcp(
    shared: Arc<Shared>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    worker: usize,
    active: ActiveGuard,
) {
    match tls {
        None => {
            let info = ConnInfo::new(peer, false, worker);
            serve_client(shared, stream, info, active).await;
        }
        Some(acceptor) => {
            let handshake = Duration::from_millis(shared.config.idle_timeout_ms);
            match tokio::time::timeout(handshake, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => {
                    let info = ConnInfo::new(peer, true, worker);
                    serve_client(shared, stream, info, active).await;
                }
                Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake: {e}"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        }
    }
}

async fn accept_admin(shared: Arc<Shared>, listener: Arc<UnixListener>, accepting: ActiveGuard) {
    let mut stop = shared.stop.subscribe();
    loop {
        let accepted = tokio::select! {
            biased;
            () = stopped(&mut stop, DRAINING) => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!("admin accept: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let active = shared.active.guard();
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service_shared = Arc::clone(&shared);
            let conn_state = Arc::new(ConnState::default());
            let state = Arc::clone(&conn_state);
            let service = hyper::service::service_fn(move |req| {
                let shared = Arc::clone(&service_shared);
                let state = Arc::clone(&state);
                state.begin();
                async move {
                    let response = admin::handle(shared, req).await;
                    state.end();
                    Ok::<_, std::convert::Infallible>(response)
                }
            });
            let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            drive(&shared, conn, &conn_state, |c| c.graceful_shutdown()).await;
            drop(active);
        });
    }
    // Every connection accepted here holds its own guard by now: the stop may count them down.
    drop(accepting);
}

/// Requests begun and in progress on one connection (its idle timeout, the idle grace of a stop).
struct ConnState {
    busy: AtomicUsize,
    started: AtomicU64,
    notify: Notify,
    last_activity: Mutex<tokio::time::Instant>,
}

impl Default for ConnState {
    fn default() -> Self {
        ConnState {
            busy: AtomicUsize::new(0),
            started: AtomicU64::new(0),
            notify: Notify::new(),
            last_activity: Mutex::new(tokio::time::Instant::now()),
        }
    }
}

impl ConnState {
    fn begin(&self) {
        self.busy.fetch_add(1, Ordering::SeqCst);
        self.started.fetch_add(1, Ordering::SeqCst);
        self.touch();
        self.notify.notify_waiters();
    }

    fn end(&self) {
        self.touch();
        self.busy.fetch_sub(1, Ordering::SeqCst);
    }

    fn touch(&self) {
        *self.last_activity.lock().unwrap_or_else(PoisonError::into_inner) = tokio::time::Instant::now();
    }

    fn last_activity(&self) -> tokio::time::Instant {
        *self.last_activity.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

async fn serve_client<I>(shared: Arc<Shared>, io: I, info: ConnInfo, active: ActiveGuard)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn_state = Arc::new(ConnState::default());
    let service_shared = Arc::clone(&shared);
    let state = Arc::clone(&conn_state);
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let shared = Arc::clone(&service_shared);
        let state = Arc::clone(&state);
        let info = info.clone();
        state.begin();
        async move {
            let response: Response<Body> = proxy::handle(shared, info, req).await;
            state.end();
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    let idle = Duration::from_millis(shared.config.idle_timeout_ms);
    builder.http1().timer(TokioTimer::new()).header_read_timeout(idle).keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(idle))
        .keep_alive_timeout(Duration::from_secs(20));
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    drive(&shared, conn, &conn_state, |c| c.graceful_shutdown()).await;
    drop(active);
}

/// Runs a connection. It is closed gracefully when it has had no request for `idle_timeout_ms`, or on a
/// stop (after the idle grace); a forced close drops it.
async fn drive<C, F>(shared: &Shared, conn: C, state: &ConnState, graceful: F)
where
    C: Future,
    F: FnOnce(std::pin::Pin<&mut C>),
{
    tokio::pin!(conn);
    let mut stop = shared.stop.subscribe();
    let idle = Duration::from_millis(shared.config.idle_timeout_ms);
    let mut deadline = state.last_activity() + idle;
    let draining = loop {
        // Biased: a connection with bytes waiting is read before a stop or a timer that fired alongside.
        tokio::select! {
            biased;
            _ = conn.as_mut() => return,
            () = stopped(&mut stop, DRAINING) => break true,
            () = tokio::time::sleep_until(deadline) => {
                let now = tokio::time::Instant::now();
                if state.busy.load(Ordering::SeqCst) > 0 {
                    deadline = now + idle;
                } else if state.last_activity() + idle <= now {
                    break false;
                } else {
                    deadline = state.last_activity() + idle;
                }
            }
        }
    };
    if draining && state.busy.load(Ordering::SeqCst) == 0 {
        let seen = state.started.load(Ordering::SeqCst);
        let grace = tokio::time::sleep(if seen == 0 { idle } else { IDLE_GRACE });
        tokio::pin!(grace);
        loop {
            let notified = state.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if state.started.load(Ordering::SeqCst) != seen {
                break;
            }
            tokio::select! {
                biased;
                _ = conn.as_mut() => return,
                () = &mut notified => {}
                () = &mut grace => break,
                () = stopped(&mut stop, CLOSED) => return,
            }
        }
    }
    graceful(conn.as_mut());
    tokio::select! {
        _ = conn.as_mut() => {}
        () = stopped(&mut stop, CLOSED) => {}
    }
}

/// Copies an upgraded connection both ways; ends with either side or a forced close.
pub(crate) fn spawn_tunnel(
    shared: Arc<Shared>,
    client: hyper::upgrade::OnUpgrade,
    upstream: hyper::upgrade::OnUpgrade,
    on_end: impl FnOnce(u64) + Send + 'static,
) {
    let active = shared.active.guard();
    tokio::spawn(async move {
        let mut stop = shared.stop.subscribe();
        let mut bytes = 0;
        match tokio::try_join!(client, upstream) {
            Ok((client, upstream)) => {
                let mut client = TokioIo::new(client);
                let mut upstream = TokioIo::new(upstream);
                tokio::select! {
                    copied = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {
                        if let Ok((up, down)) = copied {
                            bytes = up + down;
                        }
                    }
                    () = stopped(&mut stop, CLOSED) => {}
                }
            }
            Err(e) => tracing::debug!("upgrade: {e}"),
        }
        on_end(bytes);
        drop(active);
    });
}
