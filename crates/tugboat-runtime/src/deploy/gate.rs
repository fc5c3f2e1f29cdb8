//! Green's two gates: healthy before the switch (its Docker health check and/or an HTTP path asked on its
//! own address, with the route's Host or none), and healthy after it (the watch window: 5xx through the
//! proxy, its health check, its health path).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use tugboat::ops::{CancelToken, Error, ErrorKind, Result};
use tugboat::stack::deployment::DeployTarget;

use super::router::{Router, TargetCounters};
use super::DeployPlan;
use crate::engine::Engine;
use crate::observe::{self, ContainerState};

const POLL: Duration = Duration::from_millis(250);

/// The Host header of health requests: `route` (the first host, the default), `none`, or a name.
fn health_host(target: &DeployTarget, address: &str) -> String {
    match target.health.host.as_deref() {
        Some("none") => address.to_string(),
        None | Some("route") => target.all_hosts().into_iter().next().unwrap_or_else(|| address.to_string()),
        Some(name) => name.to_string(),
    }
}

/// `GET path` on `address`: the status, or why there is none.
pub fn http_status(address: &str, path: &str, host: &str) -> std::result::Result<u16, String> {
    let addr: SocketAddr = address.parse().map_err(|e| format!("{address}: {e}"))?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: tug-deploy\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).map_err(|e| e.to_string())?;
    let line = String::from_utf8_lossy(&head[..n]);
    line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| format!("not HTTP: {line:?}"))
}

fn docker_verdict(state: &ContainerState) -> std::result::Result<bool, String> {
    if matches!(state.status.as_str(), "exited" | "dead") {
        return Err(format!("it exited with code {}", state.exit_code.unwrap_or(0)));
    }
    match state.health.as_deref() {
        Some("healthy") => Ok(true),
        Some("unhealthy") => {
            Err(format!("its health check fails: {}", state.health_log.last().map(String::as_str).unwrap_or("")))
        }
        Some(_) => Ok(false),
        None => Ok(state.running()),
    }
}

/// Waits until green passes its gate, at most `timeout`.
pub fn healthy(
    engine: &dyn Engine,
    id: &str,
    target: &DeployTarget,
    timeout: Duration,
    cancel: &CancelToken,
) -> Result<ContainerState> {
    let deadline = Instant::now() + timeout;
    let interval = target.health.interval.map(|d| d.0).unwrap_or(Duration::from_secs(1)).min(Duration::from_secs(5));
    let mut last = String::from("not checked yet");
    loop {
        cancel.check()?;
        let state = observe::inspect(engine, id)?;
        let docker = docker_verdict(&state).map_err(|e| Error::new(ErrorKind::CannotAct, e))?;
        let http = match (&target.health.path, target.port, super::address(&state, target.port.unwrap_or(0))) {
            (Some(path), Some(_), Some(address)) => match http_status(&address, path, &health_host(target, &address)) {
                Ok(code) if (200..400).contains(&code) => true,
                Ok(code) => {
                    last = format!("GET {path} answered {code}");
                    false
                }
                Err(e) => {
                    last = format!("GET {path}: {e}");
                    false
                }
            },
            _ => true,
        };
        if !docker {
            last = format!("health check {}", state.health.as_deref().unwrap_or("starting"));
        }
        if docker && http {
            return Ok(state);
        }
        if Instant::now() >= deadline {
            return Err(Error::new(ErrorKind::CannotAct, format!("not healthy after {}s ({last})", timeout.as_secs())));
        }
        std::thread::sleep(interval.min(POLL.max(interval / 4)));
    }
}

/// What the watch window saw.
pub struct Watched {
    pub failure: Option<String>,
    pub requests: u64,
    pub errors: u64,
}

/// Green for `window` (the canary's duration, or the watch after the switch): its 5xx share through the
/// proxy, its container, its health path.
#[allow(clippy::too_many_arguments)]
pub fn watch(
    engine: &dyn Engine,
    router: &dyn Router,
    service: &str,
    green_id: &str,
    green_address: std::net::SocketAddr,
    baseline: &TargetCounters,
    plan: &DeployPlan,
    window: Duration,
    cancel: &CancelToken,
) -> Result<Watched> {
    let deadline = Instant::now() + window;
    let mut watched = Watched { failure: None, requests: 0, errors: 0 };
    let mut path_failures = 0;
    while Instant::now() < deadline {
        cancel.check()?;
        let now = router.counters(service, green_address)?;
        watched.requests = now.requests.saturating_sub(baseline.requests);
        watched.errors = now.status_5xx.saturating_sub(baseline.status_5xx);
        let rate = if watched.requests == 0 { 0.0 } else { watched.errors as f64 / watched.requests as f64 };
        // A rate needs a sample: ten requests, or five errors.
        if rate > plan.max_error_rate && (watched.requests >= 10 || watched.errors >= 5) {
            watched.failure = Some(format!(
                "{} of {} requests through the proxy failed (5xx; the limit is {:.0} %)",
                watched.errors,
                watched.requests,
                plan.max_error_rate * 100.0
            ));
            return Ok(watched);
        }
        let state = observe::inspect(engine, green_id)?;
        if let Err(why) = docker_verdict(&state) {
            watched.failure = Some(format!("green failed after the switch: {why}"));
            return Ok(watched);
        }
        if let Some(path) = &plan.target.health.path {
            let address = green_address.to_string();
            match http_status(&address, path, &health_host(&plan.target, &address)) {
                Ok(code) if (200..400).contains(&code) => path_failures = 0,
                _ => path_failures += 1,
            }
            if path_failures >= 3 {
                watched.failure = Some(format!("GET {path} on green failed three times in a row after the switch"));
                return Ok(watched);
            }
        }
        std::thread::sleep(POLL);
    }
    Ok(watched)
}
