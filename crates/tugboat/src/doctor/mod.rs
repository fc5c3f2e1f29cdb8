//! `tug doctor`: what a careful operator verifies on a host before `tug up`, as checks with a status, a
//! one-line observation and, when not passing, a one-line fix.
//!
//! This module holds the host facts that need no Docker, one module per group of checks; each reads
//! /proc, /sys or a tool's output through a parser that is unit-tested with real-shaped samples. The
//! engine's own checks, and the wiring of the stack's binds, ports, memory and GPUs into these, are in
//! tugboat-runtime's `doctor` (bollard lives there).

pub mod cgroup;
pub mod compose;
pub mod expect;
pub mod gpu;
pub mod kernel;
pub mod memory;
pub mod mounts;
pub mod network;
pub mod ports;
pub mod space;

use serde::Serialize;

/// A check's outcome. `skip` is "not applicable here", with the reason as the observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    Skip,
}

/// The groups, in the order a report lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    Engine,
    Compose,
    Cgroups,
    Kernel,
    Network,
    Storage,
    Mounts,
    Gpu,
    Ports,
    Memory,
    Backup,
}

impl Group {
    pub fn as_str(self) -> &'static str {
        match self {
            Group::Engine => "engine",
            Group::Compose => "compose",
            Group::Cgroups => "cgroups",
            Group::Kernel => "kernel",
            Group::Network => "network",
            Group::Storage => "storage",
            Group::Mounts => "mounts",
            Group::Gpu => "gpu",
            Group::Ports => "ports",
            Group::Memory => "memory",
            Group::Backup => "backup",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// Stable: `engine.reachable`, or `KIND:SUBJECT` for a check per path or port (`bind:/srv/data`).
    pub id: String,
    pub group: Group,
    pub status: Status,
    pub observed: String,
    /// A command or a config change; `None` when the check passed or does not apply.
    pub fix: Option<String>,
}

impl Check {
    pub fn pass(group: Group, id: impl Into<String>, observed: impl Into<String>) -> Check {
        Check { id: id.into(), group, status: Status::Pass, observed: observed.into(), fix: None }
    }

    pub fn warn(group: Group, id: impl Into<String>, observed: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { id: id.into(), group, status: Status::Warn, observed: observed.into(), fix: Some(fix.into()) }
    }

    pub fn fail(group: Group, id: impl Into<String>, observed: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { id: id.into(), group, status: Status::Fail, observed: observed.into(), fix: Some(fix.into()) }
    }

    /// Not applicable, and why.
    pub fn skip(group: Group, id: impl Into<String>, why: impl Into<String>) -> Check {
        Check { id: id.into(), group, status: Status::Skip, observed: why.into(), fix: None }
    }
}

/// The document `tug doctor --json` prints (docs/doctor.md).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// No check failed (warnings do not fail).
    pub ok: bool,
    pub checks: Vec<Check>,
}

impl Report {
    /// Orders the checks by group, keeping each group's own order.
    pub fn new(mut checks: Vec<Check>) -> Report {
        checks.sort_by_key(|c| c.group);
        Report { ok: checks.iter().all(|c| c.status != Status::Fail), checks }
    }

    pub fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }
}

/// `12.3 GiB`, `512.0 MiB`, `812 B`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = "B";
    for u in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = u;
    }
    if unit == "B" {
        format!("{n} B")
    } else {
        format!("{value:.1} {unit}")
    }
}

/// Finds an executable on `PATH`, as a shell would.
pub fn which(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_ok_unless_a_check_failed_and_lists_groups_in_order() {
        let r = Report::new(vec![
            Check::warn(Group::Ports, "port:80/tcp", "x", "y"),
            Check::pass(Group::Engine, "engine.reachable", "ok"),
        ]);
        assert!(r.ok);
        assert_eq!(r.checks[0].id, "engine.reachable");
        let r = Report::new(vec![Check::fail(Group::Memory, "memory.limits", "x", "y")]);
        assert!(!r.ok);
        assert_eq!(human_bytes(812), "812 B");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }
}
