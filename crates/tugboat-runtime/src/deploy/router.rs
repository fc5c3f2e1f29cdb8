//! The proxy as `tug deploy` sees it: a [`Router`] that reads and replaces a service's route, drains a
//! target and counts a target's requests — implemented by `tug proxy`'s admin client (its Unix socket).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tugboat_proxy::ProxyError;
pub use tugboat_proxy::{AdminClient, Route, Target, TargetCounters};

#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    #[error(
        "cannot reach tug proxy's admin socket {}: {cause}; start it (`tug proxy`) or check `proxy.admin` in tugboat.yml",
        .socket.display()
    )]
    Unreachable { socket: PathBuf, cause: String },
    #[error("tug proxy refused {what}: {cause}")]
    Refused { what: String, cause: String },
    #[error("{0} is not an ip:port address")]
    Address(String),
}

impl tugboat::ops::Classify for RouterError {
    fn kind(&self) -> tugboat::ops::ErrorKind {
        tugboat::ops::ErrorKind::CannotAct
    }
}

pub type Result<T> = std::result::Result<T, RouterError>;

/// What a deploy needs from the proxy.
pub trait Router {
    fn route(&self, service: &str) -> Result<Option<Route>>;
    /// Replaces the route atomically (persisted by the proxy before it answers).
    fn set_route(&self, route: &Route) -> Result<()>;
    /// Waits until `target` has no request in flight for `service`, at most `timeout`; `true` when drained.
    fn drain(&self, service: &str, target: SocketAddr, timeout: Duration) -> Result<bool>;
    /// The target's counters since the proxy started (monotonic: a deploy diffs two readings).
    fn counters(&self, service: &str, target: SocketAddr) -> Result<TargetCounters>;
}

/// `ip:port` as the proxy takes it.
pub fn socket_addr(address: &str) -> Result<SocketAddr> {
    address.parse().map_err(|_| RouterError::Address(address.to_string()))
}

/// The proxy's admin socket of a stack: `proxy.admin` beside tugboat.yml, default `.tugboat/proxy.sock`.
pub fn admin_socket(stack: &tugboat::stack::Stack) -> PathBuf {
    let admin =
        stack.config.proxy.as_ref().and_then(|p| p.admin.clone()).unwrap_or_else(|| ".tugboat/proxy.sock".into());
    let base = stack
        .config_file
        .as_ref()
        .and_then(|(p, _)| p.parent().map(std::path::Path::to_path_buf))
        .unwrap_or(stack.dir.clone());
    base.join(admin)
}

/// The admin client bound to its socket, for error messages.
pub struct ProxyRouter {
    pub socket: PathBuf,
    client: AdminClient,
}

impl ProxyRouter {
    pub fn new(socket: PathBuf) -> ProxyRouter {
        ProxyRouter { client: AdminClient::new(&socket), socket }
    }

    fn error(&self, what: &str, e: ProxyError) -> RouterError {
        match e {
            ProxyError::Io { source, .. } => {
                RouterError::Unreachable { socket: self.socket.clone(), cause: source.to_string() }
            }
            other => RouterError::Refused { what: what.to_string(), cause: other.to_string() },
        }
    }
}

impl Router for ProxyRouter {
    fn route(&self, service: &str) -> Result<Option<Route>> {
        let routes = self.client.routes().map_err(|e| self.error("GET /routes", e))?;
        Ok(routes.into_iter().find(|r| r.service == service))
    }

    fn set_route(&self, route: &Route) -> Result<()> {
        self.client.put_route(route).map_err(|e| self.error(&format!("the route of {}", route.service), e))
    }

    fn drain(&self, service: &str, target: SocketAddr, timeout: Duration) -> Result<bool> {
        self.client.drain(service, target, timeout).map(|(drained, _)| drained).map_err(|e| self.error("a drain", e))
    }

    fn counters(&self, service: &str, target: SocketAddr) -> Result<TargetCounters> {
        self.client.target_counters(service, target).map_err(|e| self.error("stats", e))
    }
}
