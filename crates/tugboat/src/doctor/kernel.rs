//! Kernel features Docker needs, from the kernel's build configuration (/proc/config.gz, else
//! /boot/config-RELEASE), grouped as moby's contrib/check-config.sh groups its "Generally Necessary"
//! list. An option built as a module (`=m`) counts: the engine loads it. `NETFILTER_XT_MATCH_IPVS` is
//! left out: only Swarm's routing mesh uses it.

use std::collections::BTreeMap;

use super::{Check, Group};

/// (check id, what it is for, options; a missing one fails unless the feature is optional)
const FEATURES: &[(&str, &str, &[&str], bool)] = &[
    ("kernel.namespaces", "namespaces", &["NAMESPACES", "NET_NS", "PID_NS", "IPC_NS", "UTS_NS"], true),
    ("kernel.cgroups", "cgroups", &["CGROUPS", "CGROUP_SCHED", "CGROUP_BPF", "MEMCG", "CGROUP_PIDS"], true),
    ("kernel.bridge", "container networking (veth, bridge)", &["VETH", "BRIDGE", "BRIDGE_NETFILTER"], true),
    (
        "kernel.netfilter",
        "iptables NAT for published ports",
        &[
            "NF_NAT",
            "IP_NF_FILTER",
            "IP_NF_MANGLE",
            "IP_NF_NAT",
            "IP_NF_RAW",
            "IP_NF_TARGET_MASQUERADE",
            "NETFILTER_XT_MATCH_ADDRTYPE",
            "NETFILTER_XT_MATCH_CONNTRACK",
            "NETFILTER_XT_MARK",
        ],
        true,
    ),
    ("kernel.ipc", "keys and POSIX message queues", &["KEYS", "POSIX_MQUEUE"], true),
    ("kernel.overlay", "the overlay2 storage driver", &["OVERLAY_FS"], false),
];

/// Under cgroup v1 the engine also needs these controllers built in (check-config.sh asks for them there).
const CGROUP_V1: &[&str] = &["CGROUP_FREEZER", "CGROUP_DEVICE", "CPUSETS", "CGROUP_CPUACCT"];

/// `CONFIG_X=y` / `=m` (and string or number values) by name without the `CONFIG_` prefix; `# … is not set`
/// lines are absent.
pub fn parse_config(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("CONFIG_")?.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect()
}

fn enabled(config: &BTreeMap<String, String>, option: &str) -> bool {
    matches!(config.get(option).map(String::as_str), Some("y" | "m"))
}

/// The configuration text and where it came from; `Err` says why none could be read.
pub fn read_config() -> Result<(String, String), String> {
    let gz = std::path::Path::new("/proc/config.gz");
    let mut tried = Vec::new();
    if gz.exists() {
        // No gzip decoder in the dependency tree: gzip(1) is on every host that has /proc/config.gz.
        match std::process::Command::new("gzip").args(["-dc", "/proc/config.gz"]).output() {
            Ok(o) if o.status.success() => {
                return Ok(("/proc/config.gz".into(), String::from_utf8_lossy(&o.stdout).into_owned()))
            }
            Ok(o) => tried.push(format!("gzip -dc /proc/config.gz: {}", String::from_utf8_lossy(&o.stderr).trim())),
            Err(e) => tried.push(format!("/proc/config.gz needs gzip, which cannot run: {e}")),
        }
    } else {
        tried.push("no /proc/config.gz (CONFIG_IKCONFIG_PROC)".into());
    }
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let boot = format!("/boot/config-{}", release.trim());
    match std::fs::read_to_string(&boot) {
        Ok(text) => Ok((boot, text)),
        Err(e) => {
            tried.push(format!("{boot}: {e}"));
            Err(tried.join("; "))
        }
    }
}

/// One check per feature group, or one skip when no configuration is readable.
pub fn check_kernel(config: Result<(String, String), String>, cgroup_v1: bool) -> Vec<Check> {
    let (source, text) = match config {
        Ok(c) => c,
        Err(why) => return vec![Check::skip(Group::Kernel, "kernel.config", format!("not readable: {why}"))],
    };
    let config = parse_config(&text);
    FEATURES
        .iter()
        .map(|(id, what, options, required)| {
            let mut options: Vec<&str> = options.to_vec();
            if *id == "kernel.cgroups" && cgroup_v1 {
                options.extend_from_slice(CGROUP_V1);
            }
            let missing: Vec<String> =
                options.iter().filter(|o| !enabled(&config, o)).map(|o| format!("CONFIG_{o}")).collect();
            if missing.is_empty() {
                return Check::pass(
                    Group::Kernel,
                    *id,
                    format!("{what}: {n}/{n} options set ({source})", n = options.len()),
                );
            }
            let observed = format!("{what}: {} not set in {source}", missing.join(", "));
            let fix =
                format!("use a kernel built with {} (your distribution's stock kernel has them)", missing.join(", "));
            if *required {
                Check::fail(Group::Kernel, *id, observed, fix)
            } else {
                Check::warn(Group::Kernel, *id, observed, format!("{fix}, or a storage driver other than overlay2"))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    /// Lines as a distribution kernel's config has them.
    const CONFIG: &str = "#
# Automatically generated file; DO NOT EDIT.
# Linux/x86 6.1.0 Kernel Configuration
#
CONFIG_CC_VERSION_TEXT=\"gcc (Debian 12.2.0-14) 12.2.0\"
CONFIG_NAMESPACES=y
CONFIG_UTS_NS=y
CONFIG_IPC_NS=y
CONFIG_PID_NS=y
CONFIG_NET_NS=y
CONFIG_CGROUPS=y
CONFIG_CGROUP_SCHED=y
CONFIG_CGROUP_BPF=y
CONFIG_MEMCG=y
CONFIG_CGROUP_PIDS=y
CONFIG_VETH=m
CONFIG_BRIDGE=m
# CONFIG_BRIDGE_NETFILTER is not set
CONFIG_NF_NAT=m
CONFIG_IP_NF_FILTER=m
CONFIG_IP_NF_MANGLE=m
CONFIG_IP_NF_NAT=m
CONFIG_IP_NF_RAW=m
CONFIG_IP_NF_TARGET_MASQUERADE=m
CONFIG_NETFILTER_XT_MATCH_ADDRTYPE=m
CONFIG_NETFILTER_XT_MATCH_CONNTRACK=m
CONFIG_NETFILTER_XT_MARK=m
CONFIG_KEYS=y
CONFIG_POSIX_MQUEUE=y
CONFIG_LOG_BUF_SHIFT=17
";

    #[test]
    fn options_set_as_module_count_and_unset_ones_fail_their_group() {
        let c = parse_config(CONFIG);
        assert_eq!(c.get("LOG_BUF_SHIFT").map(String::as_str), Some("17"));
        assert!(enabled(&c, "VETH") && !enabled(&c, "BRIDGE_NETFILTER") && !enabled(&c, "LOG_BUF_SHIFT"));
        let checks = check_kernel(Ok(("/boot/config-6.1.0".into(), CONFIG.into())), false);
        let status = |id: &str| checks.iter().find(|c| c.id == id).map(|c| c.status);
        assert_eq!(status("kernel.namespaces"), Some(Status::Pass));
        assert_eq!(status("kernel.bridge"), Some(Status::Fail));
        assert_eq!(status("kernel.overlay"), Some(Status::Warn), "overlay is optional");
        let bridge = checks.iter().find(|c| c.id == "kernel.bridge").unwrap();
        assert!(bridge.observed.contains("CONFIG_BRIDGE_NETFILTER not set in /boot/config-6.1.0"), "{bridge:?}");
        let v1 = check_kernel(Ok(("x".into(), CONFIG.into())), true);
        assert_eq!(v1.iter().find(|c| c.id == "kernel.cgroups").unwrap().status, Status::Fail, "v1 needs CPUSETS…");
        let none = check_kernel(Err("no /proc/config.gz".into()), false);
        assert_eq!((none.len(), none[0].status), (1, Status::Skip));
    }
}
