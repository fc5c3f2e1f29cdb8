//! The cgroup version (v2 preferred: Docker's resource limits and rootless mode are complete there) and
//! the controllers Docker needs: cpu, memory and pids (a missing one fails: its limits would be ignored)
//! and io (`blkio` on v1; missing is a warning: only blkio_config needs it).

use std::collections::BTreeSet;
use std::path::Path;

use super::mounts::MountEntry;
use super::{Check, Group};

const NEEDED: &[&str] = &["cpu", "memory", "pids"];
const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "blkio",
    "pids",
    "net_cls",
    "net_prio",
    "hugetlb",
    "perf_event",
    "rdma",
    "misc",
];

#[derive(Debug, Clone, PartialEq)]
pub struct Cgroups {
    pub version: u8,
    /// v1 with a v2 hierarchy beside it (systemd's "hybrid" mode).
    pub hybrid: bool,
    /// In v2's names (`io`, not `blkio`).
    pub controllers: BTreeSet<String>,
}

/// From the mounts, and for v2 the text of `cgroup.controllers` at the unified root.
pub fn from_mounts(mounts: &[MountEntry], v2_controllers: impl Fn(&Path) -> Option<String>) -> Option<Cgroups> {
    if let Some(unified) =
        mounts.iter().rev().find(|m| m.fstype == "cgroup2" && m.mount_point == Path::new("/sys/fs/cgroup"))
    {
        let text = v2_controllers(&unified.mount_point.join("cgroup.controllers")).unwrap_or_default();
        return Some(Cgroups {
            version: 2,
            hybrid: false,
            controllers: text.split_whitespace().map(str::to_string).collect(),
        });
    }
    let v1: BTreeSet<String> = mounts
        .iter()
        .filter(|m| m.fstype == "cgroup")
        .flat_map(|m| m.super_options.iter())
        .filter(|o| V1_CONTROLLERS.contains(&o.as_str()))
        .map(|o| if o == "blkio" { "io".to_string() } else { o.clone() })
        .collect();
    if v1.is_empty() {
        return None;
    }
    Some(Cgroups { version: 1, hybrid: mounts.iter().any(|m| m.fstype == "cgroup2"), controllers: v1 })
}

pub fn detect(mounts: &[MountEntry]) -> Option<Cgroups> {
    from_mounts(mounts, |p| std::fs::read_to_string(p).ok())
}

pub fn check_cgroups(cgroups: Option<&Cgroups>) -> Vec<Check> {
    let Some(c) = cgroups else {
        return vec![Check::fail(
            Group::Cgroups,
            "cgroup.version",
            "no cgroup hierarchy is mounted (nothing of type cgroup or cgroup2 in /proc/self/mountinfo)",
            "mount cgroup2 at /sys/fs/cgroup (systemd does this at boot): `mount -t cgroup2 none /sys/fs/cgroup`",
        )];
    };
    let version = if c.version == 2 {
        Check::pass(Group::Cgroups, "cgroup.version", "cgroup v2 (unified hierarchy at /sys/fs/cgroup)")
    } else {
        let hybrid = if c.hybrid { ", hybrid: a v2 hierarchy beside it is not used for containers" } else { "" };
        Check::warn(
            Group::Cgroups,
            "cgroup.version",
            format!("cgroup v1{hybrid}"),
            "boot with `systemd.unified_cgroup_hierarchy=1` on the kernel command line for cgroup v2 (Docker 20.10+ supports it)",
        )
    };
    let missing: Vec<&str> = NEEDED.iter().copied().filter(|n| !c.controllers.contains(*n)).collect();
    let have = c.controllers.iter().cloned().collect::<Vec<_>>().join(" ");
    let controllers = if !missing.is_empty() {
        Check::fail(
            Group::Cgroups,
            "cgroup.controllers",
            format!("missing {} (available: {have}): Docker cannot enforce those limits", missing.join(", ")),
            if c.version == 2 {
                format!(
                    "enable them for the root cgroup: `echo '+{}' > /sys/fs/cgroup/cgroup.subtree_control`",
                    missing.join(" +")
                )
            } else {
                "mount the missing v1 controllers (cgroupfs-mount) or boot with cgroup v2".to_string()
            },
        )
    } else if !c.controllers.contains("io") {
        Check::warn(
            Group::Cgroups,
            "cgroup.controllers",
            format!("no io controller (available: {have}): blkio_config limits are ignored"),
            "enable the io controller (v2: `echo +io > /sys/fs/cgroup/cgroup.subtree_control`)",
        )
    } else {
        Check::pass(Group::Cgroups, "cgroup.controllers", format!("cpu, memory, pids and io available ({have})"))
    };
    vec![version, controllers]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::mounts::parse_mountinfo;
    use crate::doctor::Status;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const UNIFIED: &str = "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n";

    #[test]
    fn v1_hybrid_is_a_warning_and_its_controllers_are_read_from_the_mounts() {
        let c = from_mounts(&parse_mountinfo(HYBRID), |_| None).unwrap();
        assert_eq!((c.version, c.hybrid), (1, true));
        assert_eq!(c.controllers.iter().map(String::as_str).collect::<Vec<_>>(), ["cpu", "io", "memory", "pids"]);
        let checks = check_cgroups(Some(&c));
        assert_eq!((checks[0].status, checks[1].status), (Status::Warn, Status::Pass));
    }

    #[test]
    fn v2_controllers_come_from_the_unified_root_and_a_missing_one_fails() {
        let m = parse_mountinfo(UNIFIED);
        let c = from_mounts(&m, |p| {
            assert_eq!(p, Path::new("/sys/fs/cgroup/cgroup.controllers"));
            Some("cpuset cpu io memory hugetlb pids rdma misc\n".into())
        })
        .unwrap();
        assert_eq!(c.version, 2);
        assert!(check_cgroups(Some(&c)).iter().all(|c| c.status == Status::Pass));
        let c = from_mounts(&m, |_| Some("cpuset cpu io\n".into())).unwrap();
        let checks = check_cgroups(Some(&c));
        assert_eq!(checks[1].status, Status::Fail);
        assert!(checks[1].observed.contains("missing memory, pids"), "{checks:?}");
        assert_eq!(check_cgroups(None)[0].status, Status::Fail);
    }
}
