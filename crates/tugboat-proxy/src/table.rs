//! The route table: an immutable snapshot swapped whole (`RwLock<Arc<Table>>`), so a request sees either
//! the old routes or the new ones, and requests already in flight keep the target they were given.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::config::Route;
use crate::stats::{RouteStats, Stats, TargetStats};

pub(crate) struct Table {
    /// Sorted by service name (stable `GET /routes`).
    entries: Vec<Arc<RouteEntry>>,
}

pub(crate) struct RouteEntry {
    pub(crate) route: Route,
    targets: Vec<(SocketAddr, u32, Arc<TargetStats>)>,
    total_weight: u64,
    next: AtomicU64,
    pub(crate) canary: Option<(SocketAddr, u8, Arc<TargetStats>)>,
    pub(crate) stats: Arc<RouteStats>,
}

impl RouteEntry {
    fn new(route: Route, stats: &Stats) -> RouteEntry {
        let targets: Vec<_> = route
            .targets
            .iter()
            .filter(|t| t.weight > 0)
            .map(|t| (t.address, t.weight, stats.target(&route.service, t.address)))
            .collect();
        let total_weight = targets.iter().map(|(_, w, _)| u64::from(*w)).sum();
        let canary = route.canary.as_ref().map(|c| (c.address, c.percent, stats.target(&route.service, c.address)));
        RouteEntry { stats: stats.route(&route.service), route, targets, total_weight, next: AtomicU64::new(0), canary }
    }

    /// Weighted round robin over the stable targets.
    pub(crate) fn pick(&self) -> Option<(SocketAddr, Arc<TargetStats>)> {
        if self.total_weight == 0 {
            return None;
        }
        let mut n = self.next.fetch_add(1, Ordering::Relaxed) % self.total_weight;
        for (addr, weight, stats) in &self.targets {
            if n < u64::from(*weight) {
                return Some((*addr, Arc::clone(stats)));
            }
            n -= u64::from(*weight);
        }
        None
    }

    /// `host` is stripped but not lower-cased yet (route hosts are lower case).
    fn host_matches(&self, host: &str) -> bool {
        self.route
            .hosts
            .iter()
            .any(|h| h.len() == host.len() && h.bytes().zip(host.bytes()).all(|(a, b)| a == b.to_ascii_lowercase()))
    }
}

impl Table {
    pub(crate) fn new(mut routes: Vec<Route>, stats: &Stats) -> Table {
        routes.sort_by(|a, b| a.service.cmp(&b.service));
        Table { entries: routes.into_iter().map(|r| Arc::new(RouteEntry::new(r, stats))).collect() }
    }

    pub(crate) fn routes(&self) -> Vec<Route> {
        self.entries.iter().map(|e| e.route.clone()).collect()
    }

    pub(crate) fn get(&self, service: &str) -> Option<&Arc<RouteEntry>> {
        self.entries.iter().find(|e| e.route.service == service)
    }

    /// Routes naming the host first; among them (else among the any-host routes) the longest prefix.
    pub(crate) fn lookup(&self, host: &str, path: &str) -> Option<Arc<RouteEntry>> {
        // Compared case-insensitively in place: no lower-cased copy per request.
        let host = strip_host(host);
        let best = |named: bool| {
            self.entries
                .iter()
                .filter(|e| if named { e.host_matches(host) } else { e.route.hosts.is_empty() })
                .filter(|e| prefix_matches(&e.route.path_prefix, path))
                .max_by_key(|e| e.route.path_prefix.len())
                .cloned()
        };
        best(true).or_else(|| best(false))
    }
}

/// Lower case, port stripped (`Example.com:8080` -> `example.com`, `[::1]:80` -> `[::1]`).
#[cfg(test)]
pub(crate) fn normalize_host(host: &str) -> String {
    strip_host(host).to_ascii_lowercase()
}

/// Port and trailing dots stripped, case kept.
pub(crate) fn strip_host(host: &str) -> &str {
    let host = host.trim();
    let without_port = if host.starts_with('[') {
        match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if !name.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => name,
            _ => host,
        }
    };
    without_port.trim_end_matches('.')
}

pub(crate) fn prefix_matches(prefix: &str, path: &str) -> bool {
    if prefix == "/" || path == prefix {
        return true;
    }
    if prefix.ends_with('/') {
        return path.starts_with(prefix);
    }
    path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Target;

    fn route(service: &str, hosts: &[&str], prefix: &str, port: u16) -> Route {
        Route {
            service: service.into(),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            path_prefix: prefix.into(),
            targets: vec![Target { address: SocketAddr::from(([127, 0, 0, 1], port)), weight: 1 }],
            canary: None,
        }
    }

    #[test]
    fn host_then_longest_prefix() {
        let stats = Stats::default();
        let table = Table::new(
            vec![
                route("any", &[], "/", 1),
                route("api", &["example.com"], "/api", 2),
                route("site", &["example.com"], "/", 3),
                route("any-admin", &[], "/admin/", 4),
            ],
            &stats,
        );
        let service = |host: &str, path: &str| table.lookup(host, path).map(|e| e.route.service.clone());
        assert_eq!(service("Example.COM:8080", "/api/v1").as_deref(), Some("api"));
        assert_eq!(service("example.com", "/api").as_deref(), Some("api"));
        assert_eq!(service("example.com", "/apix").as_deref(), Some("site"));
        assert_eq!(service("other.org", "/api/v1").as_deref(), Some("any"));
        assert_eq!(service("other.org", "/admin/x").as_deref(), Some("any-admin"));
        // A named host falls back to the any-host routes when none of its own prefixes match.
        let table = Table::new(vec![route("api", &["example.com"], "/api", 2)], &stats);
        assert!(table.lookup("example.com", "/").is_none());
        assert!(table.lookup("x", "/api").is_none());
    }

    #[test]
    fn hosts_are_normalized() {
        assert_eq!(normalize_host("Example.com:80"), "example.com");
        assert_eq!(normalize_host("[::1]:8080"), "[::1]");
        assert_eq!(normalize_host("example.com."), "example.com");
        assert_eq!(normalize_host("::1"), "::1");
    }

    #[test]
    fn weighted_round_robin() {
        let stats = Stats::default();
        let mut r = route("s", &[], "/", 1);
        r.targets.push(Target { address: SocketAddr::from(([127, 0, 0, 1], 2)), weight: 3 });
        r.targets.push(Target { address: SocketAddr::from(([127, 0, 0, 1], 3)), weight: 0 });
        let table = Table::new(vec![r], &stats);
        let entry = table.get("s").unwrap();
        let ports: Vec<u16> = (0..8).map(|_| entry.pick().unwrap().0.port()).collect();
        assert_eq!(ports, [1, 2, 2, 2, 1, 2, 2, 2]);
    }
}
