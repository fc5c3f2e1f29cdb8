//! The deploy parts of `tugboat.yml`: `proxy:` (the blue-green reverse proxy in front of the stack) and
//! `deploy:` (per service: the route, the health gate, drain and post-switch watch). Only their shape
//! lives here, so a typo is reported at its line and column; `tug proxy` and `tug deploy` give it meaning.

use serde::{Deserialize, Serialize};

use super::probes::HumanDuration;

/// `proxy:`: where `tug proxy` listens, its admin socket and where it keeps its routes.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    /// Addresses to accept traffic on (default `127.0.0.1:8088`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listen: Vec<String>,
    /// The admin API's Unix socket, relative to `tugboat.yml` (default `.tugboat/proxy.sock`).
    pub admin: Option<String>,
    /// Where the routes are kept so a restarted proxy serves at once (default `.tugboat/proxy-routes.json`).
    pub state: Option<String>,
    /// Per request, from the first byte in to the last byte out of the response head (default 60s).
    pub request_timeout: Option<HumanDuration>,
    /// A client connection with no request for this long is closed (default 120s).
    pub idle_timeout: Option<HumanDuration>,
    /// Access log: `stdout` (default), a file path, or `off`.
    pub access_log: Option<String>,
    /// HTTPS: certificate files, or certificates from ACME that `tug proxy` issues and renews.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ProxyTls>,
}

/// `proxy.tls`: one HTTPS listener with either `cert_file` + `key_file` or `acme`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyTls {
    /// The HTTPS listener (default `0.0.0.0:443`).
    pub listen: Option<String>,
    /// PEM certificate chain and private key, relative to `tugboat.yml`.
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub acme: Option<ProxyAcme>,
    /// The plain listeners answer 308 to the same URL over HTTPS (ACME challenges excepted).
    #[serde(default)]
    pub redirect_http: bool,
}

/// `proxy.tls.acme`: an ACME (RFC 8555) account; one certificate per domain, validated over HTTP-01 on
/// the plain listeners (which must be reachable on port 80 for a public CA).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyAcme {
    /// The directory URL, e.g. `https://acme-v02.api.letsencrypt.org/directory`.
    pub directory: String,
    /// The account contact, for the CA's expiry notices.
    pub email: Option<String>,
    /// PEM CA certificates trusted for the directory's HTTPS (a private CA), relative to `tugboat.yml`.
    pub ca_file: Option<String>,
    pub domains: Vec<String>,
    /// Renew when the certificate expires within this (default 30d).
    pub renew_before: Option<HumanDuration>,
}

/// `deploy.SERVICE`: how `tug deploy` moves the service's traffic from blue to green.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeployTarget {
    /// Host names the proxy routes to the service (empty: any host).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// One host name (shorthand for `hosts: [NAME]`).
    pub host: Option<String>,
    /// Requests under this path go to the service (default `/`).
    pub path_prefix: Option<String>,
    /// The container port the service answers on. Without it the service is a worker: start new,
    /// health-gate, stop old, no traffic to move.
    pub port: Option<u16>,
    #[serde(default)]
    pub health: DeployHealth,
    /// How long blue may finish its in-flight requests after the switch (default 10s).
    pub drain: Option<HumanDuration>,
    /// How long green is watched after the switch (health and 5xx through the proxy) before the deploy
    /// is done; a failure in it rolls back (default 15s; `0s` turns it off).
    pub watch: Option<HumanDuration>,
    /// The share of green's responses in the watch window that may be 5xx before it is rolled back
    /// (default 0.05).
    pub max_error_rate: Option<f64>,
    /// Send a share of sessions to green first.
    pub canary: Option<CanaryConfig>,
}

/// The health gate green must pass before traffic moves. `health: /health` is short for `health: {path:
/// /health}`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[serde(remote = "Self")]
pub struct DeployHealth {
    /// An HTTP path asked on green's address (2xx/3xx = healthy); without it, the container's own
    /// Docker health check, or running for a service without one.
    pub path: Option<String>,
    /// The Host header sent with the health request: `route` (the first of `hosts`, default), `none`
    /// (the container address), or a name.
    pub host: Option<String>,
    /// Between health requests (default 1s).
    pub interval: Option<HumanDuration>,
    /// How long green may take to become healthy (default 60s; slow apps set more).
    pub timeout: Option<HumanDuration>,
}

impl<'de> Deserialize<'de> for DeployHealth {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Form;
        impl<'de> serde::de::Visitor<'de> for Form {
            type Value = DeployHealth;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a path such as /health, or {path, host, interval, timeout}")
            }
            fn visit_str<E: serde::de::Error>(self, path: &str) -> Result<DeployHealth, E> {
                Ok(DeployHealth { path: Some(path.to_string()), ..Default::default() })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<DeployHealth, A::Error> {
                DeployHealth::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_any(Form)
    }
}

impl Serialize for DeployHealth {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        DeployHealth::serialize(self, s)
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CanaryConfig {
    /// Percent of sessions (sticky by cookie) sent to green (1–99).
    pub percent: u8,
    /// How long the canary runs before the full switch (default 60s).
    pub duration: Option<HumanDuration>,
}

impl DeployTarget {
    pub fn all_hosts(&self) -> Vec<String> {
        self.host.iter().cloned().chain(self.hosts.iter().cloned()).collect()
    }
}
