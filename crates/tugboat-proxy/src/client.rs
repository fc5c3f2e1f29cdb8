//! A small blocking client for the admin API (what `tug deploy` and the tests use).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use crate::config::Route;
use crate::ProxyError;

#[derive(Debug, Clone)]
pub struct AdminClient {
    socket: PathBuf,
    timeout: Duration,
}

/// Per-target counters from `GET /routes/{service}/stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TargetCounters {
    pub requests: u64,
    pub status_5xx: u64,
    pub in_flight: u64,
}

impl AdminClient {
    pub fn new(socket: impl AsRef<Path>) -> AdminClient {
        AdminClient { socket: socket.as_ref().to_path_buf(), timeout: Duration::from_secs(120) }
    }

    /// One request; `Ok((status, body as JSON, or as a string when it is not JSON))`.
    pub fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value), ProxyError> {
        let io = |e| ProxyError::io(format!("admin API {}", self.socket.display()), e);
        let mut stream = UnixStream::connect(&self.socket).map_err(io)?;
        stream.set_read_timeout(Some(self.timeout)).map_err(io)?;
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: tug-proxy\r\nConnection: close\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .map_err(io)?;
        let mut reader = BufReader::new(stream);
        let mut status_line = String::new();
        reader.read_line(&mut status_line).map_err(io)?;
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| ProxyError::Upgrade(format!("admin API: not an HTTP response: {status_line:?}")))?;
        let mut length = None;
        let mut chunked = false;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).map_err(io)? == 0 || line.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let name = name.trim().to_ascii_lowercase();
                if name == "content-length" {
                    length = value.trim().parse::<usize>().ok();
                } else if name == "transfer-encoding" && value.to_ascii_lowercase().contains("chunked") {
                    chunked = true;
                }
            }
        }
        let mut text = Vec::new();
        if chunked {
            loop {
                let mut size = String::new();
                reader.read_line(&mut size).map_err(io)?;
                let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
                if n == 0 {
                    break;
                }
                let mut chunk = vec![0; n + 2];
                reader.read_exact(&mut chunk).map_err(io)?;
                text.extend_from_slice(&chunk[..n]);
            }
        } else if let Some(n) = length {
            text.resize(n, 0);
            reader.read_exact(&mut text).map_err(io)?;
        } else {
            reader.read_to_end(&mut text).map_err(io)?;
        }
        let text = String::from_utf8_lossy(&text).into_owned();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, value))
    }

    fn ok(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, ProxyError> {
        let (status, value) = self.request(method, path, body)?;
        if status == 200 {
            Ok(value)
        } else {
            let message = value.get("error").and_then(Value::as_str).map(str::to_string).unwrap_or(value.to_string());
            Err(ProxyError::Admin { status, message })
        }
    }

    pub fn routes(&self) -> Result<Vec<Route>, ProxyError> {
        let value = self.ok("GET", "/routes", None)?;
        serde_json::from_value(value.get("routes").cloned().unwrap_or(Value::Null))
            .map_err(|e| ProxyError::Config(format!("GET /routes: {e}")))
    }

    /// Replaces (or adds) a service's route; persisted when this returns.
    pub fn put_route(&self, route: &Route) -> Result<(), ProxyError> {
        let body = serde_json::to_value(route).map_err(|e| ProxyError::Config(e.to_string()))?;
        self.ok("PUT", &format!("/routes/{}", route.service), Some(&body)).map(drop)
    }

    pub fn delete_route(&self, service: &str) -> Result<(), ProxyError> {
        self.ok("DELETE", &format!("/routes/{service}"), None).map(drop)
    }

    /// Waits (up to `timeout`) until `target` has nothing in flight; `Ok((drained, in_flight))`.
    pub fn drain(&self, service: &str, target: SocketAddr, timeout: Duration) -> Result<(bool, u64), ProxyError> {
        let body = json!({ "target": target.to_string(), "timeout_ms": timeout.as_millis() as u64 });
        let value = self.ok("POST", &format!("/routes/{service}/drain"), Some(&body))?;
        Ok((
            value.get("drained").and_then(Value::as_bool).unwrap_or(false),
            value.get("in_flight").and_then(Value::as_u64).unwrap_or(0),
        ))
    }

    /// The raw stats document of a service.
    pub fn stats(&self, service: &str) -> Result<Value, ProxyError> {
        self.ok("GET", &format!("/routes/{service}/stats"), None)
    }

    /// One target's counters (zero when the proxy has not seen it).
    pub fn target_counters(&self, service: &str, target: SocketAddr) -> Result<TargetCounters, ProxyError> {
        let stats = self.stats(service)?;
        let t = &stats["targets"][target.to_string()];
        Ok(TargetCounters {
            requests: t["requests"].as_u64().unwrap_or(0),
            status_5xx: t["status"]["5xx"].as_u64().unwrap_or(0),
            in_flight: t["in_flight"].as_u64().unwrap_or(0),
        })
    }

    pub fn pause(&self, service: &str, max: Duration) -> Result<(), ProxyError> {
        let body = json!({ "service": service, "max_ms": max.as_millis() as u64 });
        self.ok("POST", "/pause", Some(&body)).map(drop)
    }

    pub fn resume(&self, service: &str) -> Result<(), ProxyError> {
        self.ok("POST", "/resume", Some(&json!({ "service": service }))).map(drop)
    }

    pub fn maintenance(&self, service: &str, on: bool, page: Option<&str>) -> Result<(), ProxyError> {
        let body = json!({ "service": service, "on": on, "page": page });
        self.ok("POST", "/maintenance", Some(&body)).map(drop)
    }

    pub fn metrics(&self) -> Result<String, ProxyError> {
        match self.ok("GET", "/metrics", None)? {
            Value::String(text) => Ok(text),
            other => Ok(other.to_string()),
        }
    }

    pub fn health(&self) -> Result<Value, ProxyError> {
        self.ok("GET", "/health", None)
    }

    /// Starts the graceful upgrade; returns the new process's pid once it serves.
    pub fn upgrade(&self) -> Result<u32, ProxyError> {
        let value = self.ok("POST", "/upgrade", None)?;
        Ok(value.get("pid").and_then(Value::as_u64).unwrap_or(0) as u32)
    }
}
