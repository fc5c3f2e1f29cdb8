//! Counters: per target (requests, status classes, in flight; what the deployer diffs) and per route
//! (status classes, latency histogram, in flight; `/metrics`). Monotonic since the process started.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::Notify;

const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/// Latency histogram bounds in seconds (to the response head).
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

fn class_index(status: u16) -> usize {
    usize::from((status / 100).clamp(1, 5) - 1)
}

#[derive(Default)]
pub(crate) struct TargetStats {
    requests: AtomicU64,
    status: [AtomicU64; 5],
    in_flight: AtomicU64,
    /// Woken when `in_flight` drops to zero (drain waits on it).
    idle: Notify,
}

impl TargetStats {
    pub(crate) fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Waits until nothing is in flight or `timeout` passes; returns what is still in flight.
    pub(crate) async fn drain(&self, timeout: Duration) -> u64 {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            // Registered before the check, so a decrement in between is not missed.
            notified.as_mut().enable();
            let left = self.in_flight();
            if left == 0 {
                return 0;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.in_flight();
            }
        }
    }

    fn json(&self) -> Value {
        let status: serde_json::Map<String, Value> = CLASSES
            .iter()
            .zip(&self.status)
            .map(|(name, n)| (name.to_string(), json!(n.load(Ordering::SeqCst))))
            .collect();
        json!({ "requests": self.requests.load(Ordering::SeqCst), "status": status, "in_flight": self.in_flight() })
    }
}

#[derive(Default)]
pub(crate) struct RouteStats {
    status: [AtomicU64; 5],
    in_flight: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_micros: AtomicU64,
}

/// All counters, by service and by (service, target).
#[derive(Default)]
pub(crate) struct Stats {
    targets: Mutex<BTreeMap<(String, SocketAddr), Arc<TargetStats>>>,
    routes: Mutex<BTreeMap<String, Arc<RouteStats>>>,
}

impl Stats {
    pub(crate) fn target(&self, service: &str, address: SocketAddr) -> Arc<TargetStats> {
        let mut map = self.targets.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(map.entry((service.to_string(), address)).or_default())
    }

    pub(crate) fn find_target(&self, service: &str, address: SocketAddr) -> Option<Arc<TargetStats>> {
        let map = self.targets.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(&(service.to_string(), address)).cloned()
    }

    pub(crate) fn route(&self, service: &str) -> Arc<RouteStats> {
        let mut map = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(map.entry(service.to_string()).or_default())
    }

    /// `{ "service", "targets": { "ip:port": { requests, status, in_flight } } }`, old targets included.
    pub(crate) fn service_json(&self, service: &str) -> Value {
        let map = self.targets.lock().unwrap_or_else(PoisonError::into_inner);
        let targets: serde_json::Map<String, Value> = map
            .iter()
            .filter(|((s, _), _)| s == service)
            .map(|((_, addr), stats)| (addr.to_string(), stats.json()))
            .collect();
        json!({ "service": service, "targets": targets })
    }

    /// Prometheus text exposition.
    pub(crate) fn prometheus(&self) -> String {
        let routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = String::new();
        out.push_str("# HELP tug_proxy_requests_total Responses by route and status class.\n");
        out.push_str("# TYPE tug_proxy_requests_total counter\n");
        for (service, stats) in routes.iter() {
            for (class, n) in CLASSES.iter().zip(&stats.status) {
                let _ = writeln!(
                    out,
                    "tug_proxy_requests_total{{route=\"{service}\",status=\"{class}\"}} {}",
                    n.load(Ordering::SeqCst)
                );
            }
        }
        out.push_str("# HELP tug_proxy_in_flight Requests and tunnels in flight by route.\n");
        out.push_str("# TYPE tug_proxy_in_flight gauge\n");
        for (service, stats) in routes.iter() {
            let _ =
                writeln!(out, "tug_proxy_in_flight{{route=\"{service}\"}} {}", stats.in_flight.load(Ordering::SeqCst));
        }
        out.push_str("# HELP tug_proxy_request_duration_seconds Time to the upstream's response head.\n");
        out.push_str("# TYPE tug_proxy_request_duration_seconds histogram\n");
        for (service, stats) in routes.iter() {
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(&stats.buckets) {
                cumulative += n.load(Ordering::SeqCst);
                let _ = writeln!(
                    out,
                    "tug_proxy_request_duration_seconds_bucket{{route=\"{service}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let count = stats.latency_count.load(Ordering::SeqCst);
            let sum = stats.latency_micros.load(Ordering::SeqCst) as f64 / 1e6;
            let _ =
                writeln!(out, "tug_proxy_request_duration_seconds_bucket{{route=\"{service}\",le=\"+Inf\"}} {count}");
            let _ = writeln!(out, "tug_proxy_request_duration_seconds_sum{{route=\"{service}\"}} {sum}");
            let _ = writeln!(out, "tug_proxy_request_duration_seconds_count{{route=\"{service}\"}} {count}");
        }
        out
    }
}

/// One request (or upgraded tunnel) in flight on a target; counted out when dropped.
pub(crate) struct InFlight {
    target: Arc<TargetStats>,
    route: Arc<RouteStats>,
}

impl InFlight {
    pub(crate) fn new(target: Arc<TargetStats>, route: Arc<RouteStats>) -> InFlight {
        target.in_flight.fetch_add(1, Ordering::SeqCst);
        route.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight { target, route }
    }

    /// Counts a response (its head reached the client) and its latency.
    pub(crate) fn record(&self, status: u16, latency: Duration) {
        record_status(&self.target, &self.route, status);
        let secs = latency.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.route.buckets[i].fetch_add(1, Ordering::SeqCst);
        }
        self.route.latency_count.fetch_add(1, Ordering::SeqCst);
        self.route.latency_micros.fetch_add(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX), Ordering::SeqCst);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.route.in_flight.fetch_sub(1, Ordering::SeqCst);
        if self.target.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.target.idle.notify_waiters();
        }
    }
}

/// A response the proxy answered itself on a route (maintenance, pause timeout): counted on the route only.
pub(crate) fn record_route_status(route: &RouteStats, status: u16) {
    route.status[class_index(status)].fetch_add(1, Ordering::SeqCst);
}

fn record_status(target: &TargetStats, route: &RouteStats, status: u16) {
    target.requests.fetch_add(1, Ordering::SeqCst);
    target.status[class_index(status)].fetch_add(1, Ordering::SeqCst);
    record_route_status(route, status);
}
