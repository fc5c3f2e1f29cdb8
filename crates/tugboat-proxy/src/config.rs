//! The proxy's configuration and the route model (both JSON, serde).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ProxyError;

/// What `tug proxy` runs with. Only `listen`, `admin_socket` and `state` are required.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    /// Client listeners: `"127.0.0.1:8088"` or `{ "address": "0.0.0.0:443", "tls": { "cert", "key" } }`.
    pub listen: Vec<Listen>,
    /// The admin API's Unix socket (created mode 0600).
    pub admin_socket: PathBuf,
    /// The routes file (e.g. `.tugboat/proxy-routes.json`): loaded at start, rewritten atomically on change.
    pub state: PathBuf,
    /// Time for an upstream to send its response head (not the body: streams may last); then 504.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_ms: u64,
    /// A client connection that sends no request head for this long is closed.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_ms: u64,
    /// How long a stop or an upgrade waits for in-flight requests and tunnels before closing them.
    #[serde(default = "default_drain_timeout")]
    pub drain_timeout_ms: u64,
    /// Access log (JSON lines): `"-"` for stdout, a file path (appended), or absent for none.
    #[serde(default)]
    pub access_log: Option<String>,
    /// The command a graceful upgrade starts (the CLI passes `/proc/self/exe` and its own arguments).
    #[serde(default)]
    pub upgrade: Option<UpgradeCommand>,
    /// Routes used only when the state file does not exist yet (first start).
    #[serde(default)]
    pub routes: Vec<Route>,
    /// HTTPS listeners whose certificates come from an ACME CA (issued, renewed, swapped in place).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    /// Plain listeners answer `308` to the same URL on the first TLS listener (ACME challenges excepted).
    #[serde(default)]
    pub redirect_http: bool,
}

fn default_request_timeout() -> u64 {
    60_000
}
fn default_idle_timeout() -> u64 {
    60_000
}
fn default_drain_timeout() -> u64 {
    30_000
}

impl ProxyConfig {
    /// A config with the defaults, for the given listeners and files.
    pub fn new(listen: Vec<Listen>, admin_socket: PathBuf, state: PathBuf) -> ProxyConfig {
        ProxyConfig {
            listen,
            admin_socket,
            state,
            request_timeout_ms: default_request_timeout(),
            idle_timeout_ms: default_idle_timeout(),
            drain_timeout_ms: default_drain_timeout(),
            access_log: None,
            upgrade: None,
            routes: Vec::new(),
            tls: None,
            redirect_http: false,
        }
    }

    /// Reads a JSON config file.
    pub fn from_file(path: &std::path::Path) -> Result<ProxyConfig, ProxyError> {
        let text = std::fs::read_to_string(path).map_err(|e| ProxyError::io(format!("read {}", path.display()), e))?;
        serde_json::from_str(&text).map_err(|e| ProxyError::Config(format!("{}: {e}", path.display())))
    }
}

/// One client listener.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(from = "ListenSpec")]
pub struct Listen {
    pub address: SocketAddr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFiles>,
}

impl Listen {
    pub fn plain(address: SocketAddr) -> Listen {
        Listen { address, tls: None }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ListenSpec {
    Address(SocketAddr),
    Full {
        address: SocketAddr,
        #[serde(default)]
        tls: Option<TlsFiles>,
    },
}

impl From<ListenSpec> for Listen {
    fn from(spec: ListenSpec) -> Listen {
        match spec {
            ListenSpec::Address(address) => Listen { address, tls: None },
            ListenSpec::Full { address, tls } => Listen { address, tls },
        }
    }
}

/// PEM files of a TLS listener (certificate chain, private key). ALPN offers h2 and http/1.1.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// HTTPS with certificates from ACME. The listeners are bound from `listen` (so they are handed over on an
/// upgrade like the others): `listen` names those of its entries (by their configured address, without
/// `tls` files) that serve these certificates, chosen by SNI.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub listen: Vec<SocketAddr>,
    pub acme: AcmeConfig,
}

/// An ACME (RFC 8555) account and the names it keeps certificates for (one certificate per name, HTTP-01
/// answered by the proxy's plain listeners).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AcmeConfig {
    /// The directory URL, e.g. `https://acme-v02.api.letsencrypt.org/directory`.
    pub directory: String,
    /// The account's contact (`mailto:`), for the CA's expiry notices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// PEM CA certificates trusted for the directory's HTTPS instead of the public roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    pub domains: Vec<String>,
    /// Where `account.key`, `NAME.crt` and `NAME.key` are kept (keys mode 0600, written atomically).
    pub dir: PathBuf,
    /// Renew when the certificate expires within this (default 30 days).
    #[serde(default = "default_renew_before")]
    pub renew_before_s: u64,
    /// How often the certificates are checked (default 1 h).
    #[serde(default = "default_check_interval")]
    pub check_interval_ms: u64,
    /// After a failed attempt, retry after this, doubling per failure up to `retry_max_ms`.
    #[serde(default = "default_retry_min")]
    pub retry_min_ms: u64,
    #[serde(default = "default_retry_max")]
    pub retry_max_ms: u64,
}

fn default_renew_before() -> u64 {
    30 * 86_400
}
fn default_check_interval() -> u64 {
    3_600_000
}
fn default_retry_min() -> u64 {
    60_000
}
fn default_retry_max() -> u64 {
    6 * 3_600_000
}

impl AcmeConfig {
    /// An account at `directory` for `domains`, kept in `dir`, with the default timings.
    pub fn new(directory: impl Into<String>, domains: Vec<String>, dir: PathBuf) -> AcmeConfig {
        AcmeConfig {
            directory: directory.into(),
            email: None,
            ca_file: None,
            domains,
            dir,
            renew_before_s: default_renew_before(),
            check_interval_ms: default_check_interval(),
            retry_min_ms: default_retry_min(),
            retry_max_ms: default_retry_max(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UpgradeCommand {
    pub program: PathBuf,
    #[serde(default)]
    pub args: Vec<String>,
}

/// A service's route: which requests (hosts, path prefix) go to which targets.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Filled from the URL on `PUT /routes/{service}` when absent.
    #[serde(default)]
    pub service: String,
    /// Host names (port stripped, case-insensitive); empty matches any host.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Matched on segment boundaries: `/api` matches `/api` and `/api/x`, not `/apix`.
    #[serde(default = "default_prefix")]
    pub path_prefix: String,
    pub targets: Vec<Target>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<Canary>,
}

fn default_prefix() -> String {
    "/".to_string()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub address: SocketAddr,
    /// Relative share of requests; 0 takes the target out of rotation (it still drains).
    #[serde(default = "default_weight")]
    pub weight: u32,
}

fn default_weight() -> u32 {
    1
}

/// `percent` of sessions (sticky by the `tug_canary` cookie) go to `address`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Canary {
    pub address: SocketAddr,
    pub percent: u8,
}

impl Route {
    /// A route to one target, any host, path `/`.
    pub fn single(service: &str, address: SocketAddr) -> Route {
        Route {
            service: service.to_string(),
            hosts: Vec::new(),
            path_prefix: default_prefix(),
            targets: vec![Target { address, weight: 1 }],
            canary: None,
        }
    }

    /// Checks the route and normalizes hosts as request hosts are (lower case, port and trailing dot off),
    /// so that `example.com:8080` or `example.com.` matches the requests meant for it.
    pub fn validate(&mut self) -> Result<(), String> {
        if !valid_service_name(&self.service) {
            return Err(format!("service name {:?}: use letters, digits, '-', '_' and '.'", self.service));
        }
        if !self.path_prefix.starts_with('/') {
            return Err(format!("path_prefix {:?} must start with '/'", self.path_prefix));
        }
        if !self.targets.iter().any(|t| t.weight > 0) {
            return Err("a route needs at least one target with a weight above 0".to_string());
        }
        if let Some(canary) = &self.canary {
            if canary.percent > 100 {
                return Err(format!("canary percent {} is above 100", canary.percent));
            }
        }
        for host in &mut self.hosts {
            let stripped = crate::table::strip_host(host);
            // Stripping twice must change nothing, or no request host would ever compare equal.
            if stripped.is_empty() || stripped.contains(['/', ' ']) || crate::table::strip_host(stripped) != stripped {
                return Err(format!("host {host:?} is not a host name"));
            }
            *host = stripped.to_ascii_lowercase();
        }
        Ok(())
    }
}

pub fn valid_service_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regression_admin_route_host_with_port_or_trailing_dot() {
        let mut route = Route::single("web", SocketAddr::from(([127, 0, 0, 1], 8080)));
        route.hosts = vec!["Example.com:8080".into(), "www.example.com.".into(), "[::1]:80".into()];
        assert_eq!(route.validate(), Ok(()));
        assert_eq!(route.hosts, ["example.com", "www.example.com", "[::1]"]);
        for bad in ["", ".", ":80", "a:80.", "a b"] {
            let mut route = Route::single("web", SocketAddr::from(([127, 0, 0, 1], 8080)));
            route.hosts = vec![bad.into()];
            assert!(route.validate().is_err(), "{bad:?} accepted");
        }
        crate::fuzzing::admin_request(
            b"PUT /routes/web\n{\"hosts\":[\"example.com:8080\",\"example.com.\"],\"targets\":[{\"address\":\"127.0.0.1:1\"}]}",
        );
    }
}
