//! The sum of the services' memory limits (a reservation where a service sets no limit) against the
//! host's memory: warn over 90 %, fail over 100 % (the kernel's OOM killer would pick among them).

use super::{human_bytes, Check, Group};

pub const WARN_PERCENT: f64 = 90.0;
pub const FAIL_PERCENT: f64 = 100.0;

/// A field of /proc/meminfo in bytes (`MemTotal:  24683584 kB`).
pub fn meminfo_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.split(':').next() == Some(name))?;
    let mut parts = line.split(':').nth(1)?.split_whitespace();
    let value: u64 = parts.next()?.parse().ok()?;
    Some(match parts.next() {
        Some("kB") => value * 1024,
        _ => value,
    })
}

pub fn mem_total() -> Option<u64> {
    meminfo_field(&std::fs::read_to_string("/proc/meminfo").ok()?, "MemTotal")
}

/// What one service asks, per container.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryAsk {
    pub service: String,
    pub containers: u32,
    pub limit: Option<u64>,
    pub reservation: Option<u64>,
}

pub fn check_memory(asks: &[MemoryAsk], mem_total: Option<u64>) -> Check {
    let id = "memory.limits";
    let Some(total) = mem_total.filter(|t| *t > 0) else {
        return Check::skip(Group::Memory, id, "/proc/meminfo has no MemTotal");
    };
    let counted: Vec<(&MemoryAsk, u64)> =
        asks.iter().filter_map(|a| a.limit.or(a.reservation).map(|b| (a, b * u64::from(a.containers)))).collect();
    if counted.is_empty() {
        return Check::skip(Group::Memory, id, "no service sets a memory limit or reservation");
    }
    let sum: u64 = counted.iter().map(|(_, b)| b).sum();
    let unlimited: Vec<&str> =
        asks.iter().filter(|a| a.limit.is_none() && a.reservation.is_none()).map(|a| a.service.as_str()).collect();
    let share = 100.0 * sum as f64 / total as f64;
    let mut observed = format!(
        "limits sum to {} of {} host memory ({share:.0} %), from {} service(s)",
        human_bytes(sum),
        human_bytes(total),
        counted.len()
    );
    if !unlimited.is_empty() {
        observed.push_str(&format!("; no limit: {}", unlimited.join(", ")));
    }
    let biggest = counted.iter().max_by_key(|(_, b)| *b).map(|(a, b)| format!("{} ({})", a.service, human_bytes(*b)));
    let fix = format!(
        "lower `deploy.resources.limits.memory` (largest: {}) or add memory to the host",
        biggest.unwrap_or_default()
    );
    if share > FAIL_PERCENT {
        Check::fail(Group::Memory, id, observed, fix)
    } else if share > WARN_PERCENT {
        Check::warn(Group::Memory, id, observed, fix)
    } else {
        Check::pass(Group::Memory, id, observed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    const MEMINFO: &str = "MemTotal:       24683584 kB\nMemFree:        21012340 kB\nMemAvailable:   23001212 kB\nHugePages_Total:       0\n";

    #[test]
    fn meminfo_fields_in_bytes() {
        assert_eq!(meminfo_field(MEMINFO, "MemTotal"), Some(24683584 * 1024));
        assert_eq!(meminfo_field(MEMINFO, "HugePages_Total"), Some(0));
        assert_eq!(meminfo_field(MEMINFO, "Mem"), None);
    }

    #[test]
    fn limits_over_the_host_fail_and_near_it_warn() {
        let gib = 1u64 << 30;
        let ask = |service: &str, containers, limit: Option<u64>, reservation: Option<u64>| MemoryAsk {
            service: service.into(),
            containers,
            limit,
            reservation,
        };
        let asks =
            vec![ask("db", 1, Some(8 * gib), None), ask("web", 3, None, Some(2 * gib)), ask("cache", 1, None, None)];
        assert_eq!(check_memory(&asks, Some(16 * gib)).status, Status::Pass, "14 GiB of 16 is 87.5 %");
        // 8 + 3 × 2 = 14 GiB.
        let c = check_memory(&asks, Some(15 * gib));
        assert_eq!(c.status, Status::Warn, "{c:?}");
        assert!(c.observed.contains("14.0 GiB") && c.observed.contains("no limit: cache"), "{c:?}");
        assert_eq!(check_memory(&asks, Some(13 * gib)).status, Status::Fail);
        assert!(check_memory(&asks, Some(13 * gib)).fix.unwrap().contains("db (8.0 GiB)"));
        assert_eq!(check_memory(&[ask("x", 1, None, None)], Some(gib)).status, Status::Skip);
    }
}
