//! The proxy as `tug deploy` sees it: a [`Router`] that reads and replaces a service's route, drains a
//! target and reports per-target counters; [`AdminClient`] is `tug proxy`'s admin API over its Unix
//! socket (HTTP/1.1, JSON, one request per connection — deploys make a handful of calls).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Route {
    pub service: String,
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default = "root")]
    pub path_prefix: String,
    pub targets: Vec<Target>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<Canary>,
}

fn root() -> String {
    "/".into()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// `ip:port`
    pub address: String,
    #[serde(default = "full_weight")]
    pub weight: u32,
}

fn full_weight() -> u32 {
    100
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Canary {
    pub address: String,
    pub percent: u8,
}

/// Counters of one target since the proxy started (monotonic: a deploy diffs two readings).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetStats {
    #[serde(default)]
    pub requests: u64,
    #[serde(default)]
    pub status: BTreeMap<String, u64>,
    #[serde(default)]
    pub in_flight: u64,
}

impl TargetStats {
    pub fn errors(&self) -> u64 {
        self.status.get("5xx").copied().unwrap_or(0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    #[error(
        "cannot reach tug proxy's admin socket {}: {cause}; start it (`tug proxy`) or check `proxy.admin` in tugboat.yml",
        .socket.display()
    )]
    Unreachable { socket: PathBuf, cause: std::io::Error },
    #[error("tug proxy answered {status} to {what}: {body}")]
    Refused { what: String, status: u16, body: String },
    #[error("tug proxy's answer to {what} is not understood: {detail}")]
    Garbled { what: String, detail: String },
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
    fn drain(&self, service: &str, target: &str, timeout: Duration) -> Result<bool>;
    fn stats(&self, service: &str) -> Result<BTreeMap<String, TargetStats>>;
}

/// `tug proxy`'s admin API.
pub struct AdminClient {
    pub socket: PathBuf,
}

impl AdminClient {
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
        wait: Duration,
    ) -> Result<(u16, String)> {
        let what = format!("{method} {path}");
        let unreachable = |cause| RouterError::Unreachable { socket: self.socket.clone(), cause };
        let mut stream = UnixStream::connect(&self.socket).map_err(unreachable)?;
        let timeout = Some(wait + Duration::from_secs(10));
        stream.set_read_timeout(timeout).map_err(unreachable)?;
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: tug-proxy\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).map_err(unreachable)?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).map_err(unreachable)?;
        let garbled = |detail: &str| RouterError::Garbled { what: what.clone(), detail: detail.to_string() };
        let text = String::from_utf8_lossy(&raw);
        let (head, rest) = text.split_once("\r\n\r\n").ok_or_else(|| garbled("no end of headers"))?;
        let status: u16 =
            head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| garbled("no status line"))?;
        let chunked = head.lines().any(|l| {
            let l = l.to_ascii_lowercase();
            l.starts_with("transfer-encoding:") && l.contains("chunked")
        });
        let body = if chunked { dechunk(rest) } else { rest.to_string() };
        if !(200..300).contains(&status) && status != 404 {
            return Err(RouterError::Refused { what, status, body: body.trim().to_string() });
        }
        Ok((status, body))
    }

    fn json<T: for<'de> Deserialize<'de>>(&self, what: &str, body: &str) -> Result<T> {
        serde_json::from_str(body).map_err(|e| RouterError::Garbled { what: what.into(), detail: e.to_string() })
    }
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

impl Router for AdminClient {
    fn route(&self, service: &str) -> Result<Option<Route>> {
        let path = format!("/routes/{service}");
        let (status, body) = self.call("GET", &path, None, Duration::ZERO)?;
        if status == 404 {
            return Ok(None);
        }
        self.json(&path, &body).map(Some)
    }

    fn set_route(&self, route: &Route) -> Result<()> {
        let path = format!("/routes/{}", route.service);
        let body = serde_json::to_value(route).unwrap_or_default();
        let (status, body) = self.call("PUT", &path, Some(&body), Duration::ZERO)?;
        if status == 404 {
            return Err(RouterError::Refused { what: format!("PUT {path}"), status, body });
        }
        Ok(())
    }

    fn drain(&self, service: &str, target: &str, timeout: Duration) -> Result<bool> {
        let path = format!("/routes/{service}/drain");
        let body = serde_json::json!({ "target": target, "timeout_ms": timeout.as_millis() as u64 });
        let (_, answer) = self.call("POST", &path, Some(&body), timeout)?;
        let v: serde_json::Value = self.json(&path, &answer)?;
        Ok(v.get("drained").and_then(serde_json::Value::as_bool).unwrap_or(false))
    }

    fn stats(&self, service: &str) -> Result<BTreeMap<String, TargetStats>> {
        let path = format!("/routes/{service}/stats");
        let (status, body) = self.call("GET", &path, None, Duration::ZERO)?;
        if status == 404 {
            return Ok(BTreeMap::new());
        }
        let v: serde_json::Value = self.json(&path, &body)?;
        // `{targets: {addr: stats}}` or `{addr: stats}`.
        let targets = v.get("targets").cloned().unwrap_or(v);
        serde_json::from_value(targets).map_err(|e| RouterError::Garbled { what: path, detail: e.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(dechunk("4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n"), "Wikipedia");
    }
}
