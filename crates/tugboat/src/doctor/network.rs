//! IPv4 forwarding (containers reach beyond the host only through it) and bridge netfilter (without it,
//! traffic between containers on one bridge bypasses iptables, so Docker's isolation rules do not apply).
//! Both are per network namespace, as /proc/sys/net is.

use std::path::Path;

use super::{Check, Group};

/// The checks, reading the sysctls under `proc_sys_net` (`/proc/sys/net`).
pub fn check_network(proc_sys_net: &Path) -> Vec<Check> {
    let read = |rel: &str| std::fs::read_to_string(proc_sys_net.join(rel)).map(|s| s.trim().to_string());
    let forward = match read("ipv4/ip_forward") {
        Ok(v) if v == "1" => Check::pass(Group::Network, "network.ip-forward", "net.ipv4.ip_forward = 1"),
        Ok(v) => Check::fail(
            Group::Network,
            "network.ip-forward",
            format!("net.ipv4.ip_forward = {v}: containers cannot reach beyond this host"),
            "`sysctl -w net.ipv4.ip_forward=1`, and keep it: `echo net.ipv4.ip_forward=1 > /etc/sysctl.d/99-docker.conf`",
        ),
        Err(e) => Check::fail(
            Group::Network,
            "network.ip-forward",
            format!("cannot read net.ipv4.ip_forward: {e}"),
            "check that /proc is mounted and the kernel has IPv4 networking",
        ),
    };
    let bridge = match read("bridge/bridge-nf-call-iptables") {
        Ok(v) if v == "1" => Check::pass(Group::Network, "network.bridge-nf", "net.bridge.bridge-nf-call-iptables = 1"),
        Ok(v) => Check::warn(
            Group::Network,
            "network.bridge-nf",
            format!("net.bridge.bridge-nf-call-iptables = {v}: traffic between containers bypasses iptables"),
            "`sysctl -w net.bridge.bridge-nf-call-iptables=1` (and in /etc/sysctl.d/99-docker.conf)",
        ),
        Err(_) => Check::warn(
            Group::Network,
            "network.bridge-nf",
            "no net.bridge.bridge-nf-call-iptables: the br_netfilter module is not loaded",
            "`modprobe br_netfilter`, and load it at boot: `echo br_netfilter > /etc/modules-load.d/docker.conf`",
        ),
    };
    vec![forward, bridge]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    #[test]
    fn forwarding_off_fails_and_bridge_netfilter_off_or_absent_warns() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("ipv4")).unwrap();
        std::fs::write(dir.path().join("ipv4/ip_forward"), "0\n").unwrap();
        let checks = check_network(dir.path());
        assert_eq!((checks[0].status, checks[1].status), (Status::Fail, Status::Warn));
        assert!(checks[1].observed.contains("br_netfilter"), "{checks:?}");
        std::fs::write(dir.path().join("ipv4/ip_forward"), "1\n").unwrap();
        std::fs::create_dir_all(dir.path().join("bridge")).unwrap();
        std::fs::write(dir.path().join("bridge/bridge-nf-call-iptables"), "1\n").unwrap();
        assert!(check_network(dir.path()).iter().all(|c| c.status == Status::Pass));
    }
}
