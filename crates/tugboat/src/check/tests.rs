//! One test per rule: a compose snippet that triggers it and a hardened one that does not.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use super::*;
use crate::stack::{load, LoadOptions};

/// A service that passes every rule; cases add or remove lines.
const HARDENED: &[&str] = &[
    "    image: app:1.2.3",
    "    user: \"1000:1000\"",
    "    read_only: true",
    "    cap_drop: [ALL]",
    "    security_opt: [\"no-new-privileges:true\"]",
    "    deploy: { resources: { limits: { memory: 256m, cpus: \"0.5\", pids: 256 } } }",
    "    healthcheck: { test: [CMD, \"true\"], interval: 10s }",
    "    restart: unless-stopped",
    "    logging: { driver: local }",
];

struct Case {
    remove: Vec<&'static str>,
    add: Vec<&'static str>,
    tail: &'static str,
    tugboat: &'static str,
    files: Vec<(&'static str, &'static str)>,
}

fn case() -> Case {
    Case { remove: vec![], add: vec![], tail: "", tugboat: "", files: vec![] }
}

impl Case {
    fn remove(mut self, prefix: &'static str) -> Self {
        self.remove.push(prefix);
        self
    }
    fn add(mut self, line: &'static str) -> Self {
        self.add.push(line);
        self
    }
    fn tail(mut self, t: &'static str) -> Self {
        self.tail = t;
        self
    }
    fn tugboat(mut self, t: &'static str) -> Self {
        self.tugboat = t;
        self
    }
    fn file(mut self, name: &'static str, text: &'static str) -> Self {
        self.files.push((name, text));
        self
    }

    fn compose(&self) -> String {
        let mut lines = vec!["services:".to_string(), "  app:".to_string()];
        for l in HARDENED {
            if !self.remove.iter().any(|r| l.trim_start().starts_with(r)) {
                lines.push(l.to_string());
            }
        }
        lines.extend(self.add.iter().map(|l| format!("    {l}")));
        format!("{}\n{}", lines.join("\n"), self.tail)
    }

    /// Rule ids found, with the line they point at.
    fn run(&self) -> Vec<(String, u32)> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("docker-compose.yml"), self.compose()).unwrap();
        if !self.tugboat.is_empty() {
            std::fs::write(dir.path().join("tugboat.yml"), self.tugboat).unwrap();
        }
        for (name, text) in &self.files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        if self.files.iter().any(|(n, _)| *n == ".env") {
            let git =
                |args: &[&str]| std::process::Command::new("git").args(args).current_dir(dir.path()).output().unwrap();
            git(&["init", "-q"]);
        }
        let options = LoadOptions { process_env: Some(HashMap::new()), template_fallback: true, ..Default::default() };
        let stack = load(dir.path(), &options).unwrap_or_else(|e| panic!("{e}\n{}", self.compose()));
        check(&stack)
            .unwrap()
            .findings
            .iter()
            .filter(|f| f.exempted.is_none())
            .map(|f| (f.rule.to_string(), f.location.as_ref().map_or(0, |l| l.line)))
            .collect()
    }

    fn rules(&self) -> Vec<String> {
        self.run().into_iter().map(|(r, _)| r).collect()
    }
}

fn assert_only(found: Vec<String>, want: &[&str]) {
    let mut found = found;
    found.sort();
    found.dedup();
    assert_eq!(found, want.iter().map(|s| s.to_string()).collect::<Vec<_>>());
}

#[test]
fn hardened_service_is_clean() {
    assert_only(case().rules(), &[]);
}

#[test]
fn tb001_runs_as_root() {
    assert_only(case().remove("user").rules(), &["TB001"]);
    assert_only(case().remove("user").add("user: root").rules(), &["TB001"]);
    assert_only(case().remove("user").add("user: \"0:0\"").rules(), &["TB001"]);
}

#[test]
fn tb002_writable_root() {
    assert_only(case().remove("read_only").rules(), &["TB002"]);
    assert_only(case().remove("read_only").add("read_only: false").rules(), &["TB002"]);
}

#[test]
fn tb003_tb004_capabilities() {
    assert_only(case().remove("cap_drop").add("cap_drop: [NET_RAW]").rules(), &["TB003"]);
    assert_only(case().add("cap_add: [SYS_ADMIN]").rules(), &["TB004"]);
    assert_only(case().add("cap_add: [CAP_NET_ADMIN]").rules(), &["TB004"]);
    assert_only(case().add("cap_add: [CHOWN, NET_BIND_SERVICE]").rules(), &[]);
}

#[test]
fn tb005_tb022_security_opt() {
    assert_only(case().remove("security_opt").rules(), &["TB005"]);
    assert_only(case().remove("security_opt").add("security_opt: [no-new-privileges]").rules(), &[]);
    assert_only(
        case().remove("security_opt").add("security_opt: [\"no-new-privileges=true\", \"seccomp:unconfined\"]").rules(),
        &["TB022"],
    );
    assert_only(
        case()
            .remove("security_opt")
            .add("security_opt: [\"no-new-privileges:true\", \"apparmor=unconfined\"]")
            .rules(),
        &["TB022"],
    );
}

#[test]
fn tb006_privileged() {
    assert_only(case().add("privileged: true").rules(), &["TB006"]);
    assert_only(case().add("privileged: false").rules(), &[]);
}

#[test]
fn tb007_host_namespaces() {
    assert_only(case().add("network_mode: host").rules(), &["TB007"]);
    assert_only(case().add("pid: host").rules(), &["TB007"]);
    assert_only(case().add("ipc: host").rules(), &["TB007"]);
    assert_only(case().add("ipc: shareable").rules(), &[]);
}

#[test]
fn tb008_sensitive_mounts() {
    assert_only(case().add("volumes: [\"/var/run/docker.sock:/var/run/docker.sock:ro\"]").rules(), &["TB008"]);
    assert_only(case().add("volumes: [\"/etc:/host-etc\"]").rules(), &["TB008"]);
    assert_only(case().add("volumes: [\"/:/host\"]").rules(), &["TB008"]);
    assert_only(case().add("volumes: [\"./data:/data\", \"/etc/localtime:/etc/localtime:ro\"]").rules(), &[]);
}

/// The rule's messages, for the findings of one rule.
fn messages(compose: &str, rule: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("docker-compose.yml"), compose).unwrap();
    let options = LoadOptions { process_env: Some(HashMap::new()), ..Default::default() };
    let stack = load(dir.path(), &options).unwrap_or_else(|e| panic!("{e}\n{compose}"));
    check(&stack).unwrap().findings.into_iter().filter(|f| f.rule == rule).map(|f| f.message).collect()
}

#[test]
fn tb008_paths_under_a_sensitive_directory() {
    for src in [
        "/etc/ssl/private",
        "/etc/shadow",
        "/etc/",
        "/var/lib/docker/volumes",
        "/var/lib/docker/containers",
        "/var/lib/kubelet/pods",
        "/proc/1",
        "/proc/sys/kernel",
        "/sys/fs/cgroup",
        "/dev/sda",
        "/root/.ssh",
        "/home/alice/.ssh",
        "/home/alice/.aws/credentials",
        "/boot/grub",
        "/lib/modules",
        "/usr/bin",
        "/var/spool/cron/crontabs",
        "/run/containerd/containerd.sock",
        "/var/run/dbus/system_bus_socket",
        "/run/user/1000/docker.sock",
        "/srv/ci/docker.sock",
    ] {
        let line: &'static str = Box::leak(format!("volumes: [\"{src}:/host:ro\"]").into_boxed_str());
        assert_only(case().add(line).rules(), &["TB008"]);
    }
    // Directories that contain a sensitive path.
    for src in ["/var", "/var/lib", "/run", "/var/run", "/home", "/home/alice", "/run/user/1000", "/."] {
        let line: &'static str = Box::leak(format!("volumes: [\"{src}:/host:ro\"]").into_boxed_str());
        assert_only(case().add(line).rules(), &["TB008"]);
    }
    let text = case().add("volumes: [\"/var/lib:/host\"]").compose();
    assert_eq!(
        messages(&text, "TB008"),
        ["`app` mounts host path /var/lib: it contains /var/lib/docker, Docker's data: every container's filesystem, config and volumes"]
    );
    let text = case().add("volumes: [\"/etc/ssl/private:/keys:ro\"]").compose();
    assert_eq!(
        messages(&text, "TB008"),
        ["`app` mounts host path /etc/ssl/private read-only (still sensitive): under /etc, host configuration and secrets (shadow, sudoers, TLS keys, cron)"]
    );
}

#[test]
fn tb008_long_syntax_under_a_sensitive_directory() {
    let found = case()
        .add("volumes:")
        .add("  - type: bind")
        .add("    source: /etc/ssl/private")
        .add("    target: /keys")
        .add("    read_only: true")
        .add("  - type: bind")
        .add("    source: /var/lib/docker/volumes")
        .add("    target: /volumes")
        .run();
    assert_eq!(found, vec![("TB008".to_string(), 13), ("TB008".to_string(), 17)]);
    let found = case().add("volumes: [{ type: bind, source: /proc/1, target: /host/proc, read_only: true }]").rules();
    assert_only(found, &["TB008"]);
}

#[test]
fn tb008_matches_whole_components() {
    for src in [
        "/etcd",
        "/etc-backup",
        "/usrdata",
        "/procfs",
        "/devops",
        "/rootfs",
        "/home/alice/.sshkeys-backup",
        "/var/lib/dockerd",
    ] {
        let line: &'static str = Box::leak(format!("volumes: [\"{src}:/data\"]").into_boxed_str());
        assert_only(case().add(line).rules(), &[]);
    }
    // Ordinary data directories, and a repository's own `.docker/` folder.
    for src in [
        "/srv/app/data",
        "/mnt/nas",
        "/opt/app",
        "/var/log",
        "/var/lib/postgresql",
        "/home/alice/project",
        "/tmp/.docker",
    ] {
        let line: &'static str = Box::leak(format!("volumes: [\"{src}:/data\"]").into_boxed_str());
        assert_only(case().add(line).rules(), &[]);
    }
    assert_only(case().add("volumes: [\"./.docker/nginx.conf:/etc/nginx/nginx.conf:ro\"]").rules(), &[]);
}

#[test]
fn tb008_harmless_read_only_binds() {
    for src in [
        "/etc/localtime",
        "/etc/timezone",
        "/usr/share/zoneinfo",
        "/usr/share/zoneinfo/Europe/Berlin",
        "/etc/ssl/certs",
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/machine-id",
    ] {
        let ro: &'static str = Box::leak(format!("volumes: [\"{src}:{src}:ro\"]").into_boxed_str());
        assert_only(case().add(ro).rules(), &[]);
        // The same bind read-write is a finding.
        let rw: &'static str = Box::leak(format!("volumes: [\"{src}:{src}\"]").into_boxed_str());
        assert_only(case().add(rw).rules(), &["TB008"]);
    }
    let long = "volumes: [{ type: bind, source: /etc/localtime, target: /etc/localtime, read_only: true }]";
    assert_only(case().add(long).rules(), &[]);
    let long = "volumes: [{ type: bind, source: /etc/localtime, target: /etc/localtime }]";
    assert_only(case().add(long).rules(), &["TB008"]);
    let text = case().add("volumes: [\"/etc/localtime:/etc/localtime\"]").compose();
    assert_eq!(
        messages(&text, "TB008"),
        ["`app` mounts host path /etc/localtime read-write (only a read-only bind of it is harmless): under /etc, host configuration and secrets (shadow, sudoers, TLS keys, cron)"]
    );
    // A sibling of an allowlisted path is not allowed.
    assert_only(case().add("volumes: [\"/etc/ssl:/etc/ssl:ro\"]").rules(), &["TB008"]);
    assert_only(case().add("volumes: [\"/etc/localtime.d:/x:ro\"]").rules(), &["TB008"]);
}

#[test]
fn tb008_driver_opts_bind_volume() {
    let volume = |device: &'static str, o: &'static str| -> String {
        format!("volumes:\n  data:\n    driver: local\n    driver_opts:\n      type: none\n      o: {o}\n      device: {device}\n")
    };
    let tail: &'static str = Box::leak(volume("/etc", "bind").into_boxed_str());
    let found = case().add("volumes: [\"data:/data\"]").tail(tail).run();
    assert_eq!(found, vec![("TB008".to_string(), 12)]);
    assert_eq!(
        messages(&case().add("volumes: [\"data:/data\"]").tail(tail).compose(), "TB008"),
        ["`app` mounts host path /etc through volume `data` (driver_opts.device): host configuration and secrets (shadow, sudoers, TLS keys, cron)"]
    );
    // Long syntax, a path under a sensitive directory, `rbind`.
    let tail: &'static str = Box::leak(volume("/var/lib/docker/volumes", "rbind").into_boxed_str());
    assert_only(case().add("volumes: [{ type: volume, source: data, target: /data }]").tail(tail).rules(), &["TB008"]);
    // Harmless read-only, by the mount or by the volume's options; read-write it is a finding.
    let tail: &'static str = Box::leak(volume("/etc/localtime", "bind").into_boxed_str());
    assert_only(case().add("volumes: [\"data:/etc/localtime:ro\"]").tail(tail).rules(), &[]);
    assert_only(case().add("volumes: [\"data:/etc/localtime\"]").tail(tail).rules(), &["TB008"]);
    let tail: &'static str = Box::leak(volume("/etc/localtime", "\"bind,ro\"").into_boxed_str());
    assert_only(case().add("volumes: [\"data:/etc/localtime\"]").tail(tail).rules(), &[]);
    // Near misses: a bind volume of a data directory, an NFS volume, a plain named volume, a volume nobody mounts.
    let tail: &'static str = Box::leak(volume("/srv/app-data", "bind").into_boxed_str());
    assert_only(case().add("volumes: [\"data:/data\"]").tail(tail).rules(), &[]);
    let nfs = "volumes:\n  data:\n    driver_opts: { type: nfs, o: \"addr=10.0.0.1,rw\", device: \":/etc\" }\n";
    assert_only(case().add("volumes: [\"data:/data\"]").tail(nfs).rules(), &[]);
    assert_only(case().add("volumes: [\"data:/data\"]").tail("volumes:\n  data: {}\n").rules(), &[]);
    let tail: &'static str = Box::leak(volume("/etc", "bind").into_boxed_str());
    assert_only(case().tail(tail).rules(), &[]);
    // Another driver's `device` is not a host path.
    let other = "volumes:\n  data:\n    driver: rexray\n    driver_opts: { o: bind, device: /etc }\n";
    assert_only(case().add("volumes: [\"data:/data\"]").tail(other).rules(), &[]);
}

#[test]
fn tb023_pids_limit() {
    /// The hardened service's `deploy` line with `pids` set to `pids`, or left out.
    fn deploy(pids: Option<&str>) -> &'static str {
        let pids = pids.map_or_else(String::new, |p| format!(", pids: {p}"));
        Box::leak(
            format!("deploy: {{ resources: {{ limits: {{ memory: 256m, cpus: \"0.5\"{pids} }} }} }}").into_boxed_str(),
        )
    }
    // Missing: the finding points at the service.
    assert_eq!(case().remove("deploy").add(deploy(None)).run(), vec![("TB023".to_string(), 2)]);
    // -1 and 0 mean unlimited, under either key; the finding points at the value.
    for unlimited in ["-1", "0", "\"-1\""] {
        assert_eq!(case().remove("deploy").add(deploy(Some(unlimited))).run(), vec![("TB023".to_string(), 11)]);
        let line: &'static str = Box::leak(format!("pids_limit: {unlimited}").into_boxed_str());
        let found = case().remove("deploy").add("mem_limit: 256m").add("cpus: 0.5").add(line).run();
        assert_eq!(found, vec![("TB023".to_string(), 13)]);
    }
    assert_only(case().remove("deploy").add(deploy(Some("lots"))).rules(), &["TB023"]);
    // Set by either key. (Compose refuses `pids_limit` beside deploy limits with a different `pids`.)
    assert_only(case().remove("deploy").add(deploy(Some("1"))).rules(), &[]);
    assert_only(case().remove("deploy").add("mem_limit: 1g").add("cpus: 1").add("pids_limit: \"64\"").rules(), &[]);
    assert_only(case().add("pids_limit: 256").rules(), &[]);
    let legacy = case().remove("deploy").add("mem_limit: 1g").add("cpus: 1").add("pids_limit: -1").compose();
    assert_eq!(messages(&legacy, "TB023"), ["`app` sets `pids_limit: -1`, which means no limit"]);
    assert_eq!(
        messages(&case().remove("deploy").add(deploy(Some("0"))).compose(), "TB023"),
        ["`app` sets `deploy.resources.limits.pids: 0`, which means no limit"]
    );
}

#[test]
fn tb024_shared_propagation_long_syntax() {
    for mode in ["shared", "rshared", "slave", "rslave"] {
        let line: &'static str = Box::leak(
            format!("volumes: [{{ type: bind, source: /mnt, target: /mnt, read_only: true, bind: {{ propagation: {mode} }} }}]")
                .into_boxed_str(),
        );
        assert_eq!(case().add(line).run(), vec![("TB024".to_string(), 12)], "{mode}");
    }
    for mode in ["private", "rprivate"] {
        let line: &'static str = Box::leak(
            format!("volumes: [{{ type: bind, source: /mnt, target: /mnt, bind: {{ propagation: {mode} }} }}]")
                .into_boxed_str(),
        );
        assert_only(case().add(line).rules(), &[]);
    }
    let text = case()
        .add("volumes:")
        .add("  - type: bind")
        .add("    source: /srv/media")
        .add("    target: /media")
        .add("    bind:")
        .add("      propagation: rslave")
        .compose();
    assert_eq!(
        messages(&text, "TB024"),
        ["`app` binds /srv/media with `rslave` propagation: mounts made on the host later appear in the container"]
    );
    // With a sensitive source both rules report.
    let line = "volumes: [{ type: bind, source: /, target: /host, read_only: true, bind: { propagation: rslave } }]";
    assert_only(case().add(line).rules(), &["TB008", "TB024"]);
}

#[test]
fn tb024_shared_propagation_short_syntax() {
    for mode in ["shared", "rshared", "slave", "rslave"] {
        let line: &'static str = Box::leak(format!("volumes: [\"/mnt:/mnt:ro,{mode}\"]").into_boxed_str());
        assert_eq!(case().add(line).run(), vec![("TB024".to_string(), 12)], "{mode}");
        let line: &'static str = Box::leak(format!("volumes: [\"/srv/media:/media:{mode}\"]").into_boxed_str());
        assert_only(case().add(line).rules(), &["TB024"]);
    }
    assert_only(case().add("volumes: [\"/mnt:/mnt:ro,rprivate\"]").rules(), &[]);
}

#[test]
fn tb025_log_not_rotated() {
    // No `logging`: the engine's default driver, json-file, unrotated; the finding points at the service.
    assert_eq!(case().remove("logging").run(), vec![("TB025".to_string(), 2)]);
    assert_eq!(
        messages(&case().remove("logging").compose(), "TB025"),
        ["`app` sets no `logging`, so the engine's default driver keeps its log: `json-file`, which never rotates unless /etc/docker/daemon.json sets `log-opts.max-size`"]
    );
    // json-file without max-size: at `options`, else at `driver`.
    let found = case()
        .remove("logging")
        .add("logging:")
        .add("  driver: json-file")
        .add("  options: { max-file: \"3\", compress: \"true\" }")
        .run();
    assert_eq!(found, vec![("TB025".to_string(), 13)]);
    let found = case().remove("logging").add("logging:").add("  driver: json-file").run();
    assert_eq!(found, vec![("TB025".to_string(), 12)]);
    assert_eq!(
        messages(&case().remove("logging").add("logging: { driver: json-file }").compose(), "TB025"),
        ["`app` logs with `json-file` without `options.max-size`, so its log never rotates unless /etc/docker/daemon.json sets `log-opts.max-size`"]
    );
    // `logging` that names no driver and sets no max-size: the default driver again.
    let found = case().remove("logging").add("logging:").add("  options: { max-file: \"3\" }").run();
    assert_eq!(found, vec![("TB025".to_string(), 12)]);
    assert_eq!(
        messages(&case().remove("logging").add("logging: { options: { tag: app } }").compose(), "TB025"),
        ["`app` sets `logging` without a driver or `options.max-size`: the engine's default driver, `json-file`, never rotates unless /etc/docker/daemon.json sets `log-opts.max-size`"]
    );
    let found = case().remove("logging").add("logging:").add("  driver: \"\"").run();
    assert_eq!(found, vec![("TB025".to_string(), 11)]);
    assert_only(
        case().remove("logging").add("logging: { driver: json-file, options: { max-size: \"\" } }").rules(),
        &["TB025"],
    );
    assert_only(case().remove("logging").add("logging: {}").rules(), &["TB025"]);
    // Rotated: json-file with max-size (also for the default driver), `local`.
    assert_only(
        case()
            .remove("logging")
            .add("logging: { driver: json-file, options: { max-size: 10m, max-file: \"3\" } }")
            .rules(),
        &[],
    );
    assert_only(case().remove("logging").add("logging: { options: { max-size: 50m } }").rules(), &[]);
    assert_only(case().remove("logging").add("logging: { driver: local }").rules(), &[]);
    assert_only(case().remove("logging").add("logging: { driver: local, options: { max-size: 5m } }").rules(), &[]);
    // Nothing stored on the host, or the journal's own limits.
    for driver in ["none", "syslog", "journald", "gelf", "fluentd", "awslogs", "splunk", "loki"] {
        let line: &'static str = Box::leak(format!("logging: {{ driver: {driver} }}").into_boxed_str());
        assert_only(case().remove("logging").add(line).rules(), &[]);
    }
    assert_only(
        case()
            .remove("logging")
            .add("logging: { driver: syslog, options: { syslog-address: \"udp://10.0.0.5:514\" } }")
            .rules(),
        &[],
    );
}

#[test]
fn tb025_shared_logging_anchor() {
    // One `x-logging` anchor per file, `logging: *logging` per service: its keys point into the anchor.
    let rotated = "x-logging: &logging\n  driver: json-file\n  options: { max-size: 10m, max-file: \"3\" }\n";
    let text = format!("{rotated}{}", case().remove("logging").add("logging: *logging").compose());
    assert!(messages(&text, "TB025").is_empty(), "{text}");
    let unrotated = "x-logging: &logging\n  driver: json-file\n";
    let text = format!("{unrotated}{}", case().remove("logging").add("logging: *logging").compose());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("docker-compose.yml"), &text).unwrap();
    let stack = load(dir.path(), &LoadOptions { process_env: Some(HashMap::new()), ..Default::default() }).unwrap();
    let lines: Vec<(&str, u32)> = check(&stack)
        .unwrap()
        .findings
        .iter()
        .filter(|f| f.rule == "TB025")
        .map(|f| (f.rule, f.location.as_ref().map_or(0, |l| l.line)))
        .collect();
    assert_eq!(lines, [("TB025", 2)], "{text}");
}

#[test]
fn tb025_exemptions() {
    for exempt in ["app", "\"*\""] {
        let tugboat: &'static str = Box::leak(
            format!("policy:\n  exempt: {{ {exempt}: {{ TB025: \"daemon.json sets log-opts.max-size\" }} }}\n")
                .into_boxed_str(),
        );
        assert_only(case().remove("logging").tugboat(tugboat).rules(), &[]);
    }
}

#[test]
fn tb009_tb010_limits() {
    assert_only(case().remove("deploy").add("pids_limit: 256").rules(), &["TB009", "TB010"]);
    assert_only(case().remove("deploy").add("pids_limit: 256").add("mem_limit: 512m").rules(), &["TB010"]);
    assert_only(case().remove("deploy").add("pids_limit: 256").add("mem_limit: 512m").add("cpus: 1.5").rules(), &[]);
}

#[test]
fn tb011_healthcheck() {
    assert_only(case().remove("healthcheck").rules(), &["TB011"]);
    assert_only(case().remove("healthcheck").add("healthcheck: { disable: true }").rules(), &["TB011"]);
    assert_only(case().remove("healthcheck").add("healthcheck: { test: [NONE] }").rules(), &["TB011"]);
}

#[test]
fn tb012_unpinned_images() {
    assert_only(case().remove("image").add("image: app").rules(), &["TB012"]);
    assert_only(case().remove("image").add("image: registry.example.org:5000/team/app").rules(), &["TB012"]);
    assert_only(case().remove("image").add("image: app:latest").rules(), &["TB012"]);
    assert_only(case().remove("image").add("image: registry.example.org:5000/team/app:2.1").rules(), &[]);
    assert_only(
        case()
            .remove("image")
            .add("image: app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
            .rules(),
        &[],
    );
}

#[test]
fn tb013_restart_policy() {
    assert_only(case().remove("restart").rules(), &["TB013"]);
    assert_only(case().remove("restart").add("restart: \"no\"").rules(), &["TB013"]);
    assert_only(
        case()
            .remove("restart")
            .add("deploy: { restart_policy: { condition: on-failure } }")
            .remove("deploy")
            .add("mem_limit: 1g")
            .add("cpus: 1")
            .add("pids_limit: 256")
            .rules(),
        &[],
    );
}

const DB: &str = "  db:\n    image: db:1\n    user: \"999\"\n    read_only: true\n    cap_drop: [ALL]\n    security_opt: [no-new-privileges:true]\n    mem_limit: 1g\n    cpus: 1\n    restart: always\n    logging: { driver: local }\n    pids_limit: 512\n    healthcheck: { test: [CMD, pg_isready] }\n";

#[test]
fn tb014_depends_on_without_health_condition() {
    assert_only(case().add("depends_on: [db]").tail(DB).rules(), &["TB014"]);
    assert_only(case().add("depends_on: { db: { condition: service_healthy } }").tail(DB).rules(), &[]);
}

#[test]
fn tb015_tb016_published_ports() {
    let allow = "policy: { published_ports: [3000] }\n";
    let found = case().add("ports: [\"8080:80\", \"3000:3000\", \"127.0.0.1:9000:9000\"]").tugboat(allow).run();
    assert_eq!(found, vec![("TB015".to_string(), 12)]);
    assert_only(case().add("ports: [\"80\"]").tugboat(allow).rules(), &["TB015", "TB017"]);
    assert_only(case().add("ports: [\"8080:80\"]").rules(), &["TB016"]);
    assert_only(case().add("ports: [\"0.0.0.0:8080:80\"]").rules(), &["TB016"]);
    assert_only(case().add("ports: [\"127.0.0.1:8080:80\", \"[::1]:8081:81\"]").rules(), &[]);
}

#[test]
fn tb017_internal_service_on_external_network() {
    let allow = "policy: { published_ports: [3000] }\n";
    let nets = "networks:\n  front: {}\n  back: { internal: true }\n";
    assert_only(
        case().add("expose: [\"8765\"]").tail(nets).add("networks: [front]").tugboat(allow).rules(),
        &["TB017"],
    );
    assert_only(case().add("expose: [\"8765\"]").tugboat(allow).rules(), &["TB017"]);
    assert_only(case().add("expose: [\"8765\"]").add("networks: [back]").tail(nets).tugboat(allow).rules(), &[]);
    assert_only(case().add("ports: [\"3000:3000\"]").add("networks: [front]").tail(nets).tugboat(allow).rules(), &[]);
}

#[test]
fn tb018_literal_secrets() {
    let t = "env_template: .env.template\n";
    let tmpl = (".env.template", "DB_PASSWORD=\n");
    assert_only(case().add("environment: { DB_PASSWORD: hunter2 }").tugboat(t).file(tmpl.0, "").rules(), &["TB018"]);
    assert_only(case().add("environment: [\"API_TOKEN=abc\"]").tugboat(t).file(tmpl.0, "").rules(), &["TB018"]);
    assert_only(
        case()
            .add("environment: { DATABASE_URL: \"postgres://app:s3cret@db/app\" }")
            .tugboat(t)
            .file(tmpl.0, "")
            .rules(),
        &["TB018"],
    );
    assert_only(
        case().add("environment: { SOME_VALUE: \"Zq8fK2mXp9Lw4Rt7Yb3Nc6Vd\" }").tugboat(t).file(tmpl.0, "").rules(),
        &["TB018"],
    );
    assert_only(
        case().add("environment: { DB_PASSWORD: \"${DB_PASSWORD}\" }").tugboat(t).file(tmpl.0, tmpl.1).rules(),
        &[],
    );
    assert_only(
        case()
            .add("environment: { DB_PASSWORD_FILE: /run/secrets/db, LOG_LEVEL: info }")
            .tugboat(t)
            .file(tmpl.0, "")
            .rules(),
        &[],
    );
}

#[test]
fn tb019_tb020_env_template() {
    let t = "env_template: .env.template\ndatabases:\n  main: { kind: postgres, container: db, password_env: PG_PASSWORD }\n";
    let found = case()
        .remove("image")
        .add("image: \"app:${TAG:-1.0}\"")
        .tugboat(t)
        .file(".env.template", "UNUSED=\nPG_PASSWORD=\n")
        .run();
    assert_eq!(found, vec![("TB019".to_string(), 11), ("TB020".to_string(), 1)]);
    assert_only(case().remove("image").add("image: \"app:${TAG:-1.0}\"").rules(), &["TB019"]);
    assert_only(case().remove("image").add("image: \"app:$${TAG}\"").rules(), &[]);
}

#[test]
fn tb021_dotenv_not_ignored() {
    assert_only(case().file(".env", "A=1\n").rules(), &["TB021"]);
    assert_only(case().file(".env", "A=1\n").file(".gitignore", ".env\n").rules(), &[]);
}

#[test]
fn exemptions_keep_the_finding_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("docker-compose.yml"), case().remove("user").compose()).unwrap();
    std::fs::write(dir.path().join("tugboat.yml"), "policy:\n  exempt: { app: { TB001: \"image needs root\" } }\n")
        .unwrap();
    let stack = load(dir.path(), &LoadOptions { process_env: Some(HashMap::new()), ..Default::default() }).unwrap();
    let report = check(&stack).unwrap();
    assert_eq!(report.findings[0].exempted.as_deref(), Some("image needs root"));
    assert_eq!(report.failing(Severity::Low).count(), 0);

    std::fs::write(dir.path().join("tugboat.yml"), "policy:\n  exempt: { nope: { TB001: x }, app: { TB999: y } }\n")
        .unwrap();
    let stack = load(dir.path(), &LoadOptions { process_env: Some(HashMap::new()), ..Default::default() }).unwrap();
    let err = check(&stack).unwrap_err().to_string();
    assert!(err.contains("unknown service `nope`") && err.contains("unknown rule `TB999`"), "{err}");
}

#[test]
fn fail_on_threshold() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("docker-compose.yml"), case().remove("restart").compose()).unwrap();
    let stack = load(dir.path(), &LoadOptions { process_env: Some(HashMap::new()), ..Default::default() }).unwrap();
    let report = check(&stack).unwrap();
    assert_eq!(report.failing(Severity::Low).count(), 1);
    assert_eq!(report.failing(Severity::Medium).count(), 0);
}

#[test]
fn rule_ids_are_unique_and_sequential() {
    for (i, r) in RULES.iter().enumerate() {
        assert_eq!(r.id, format!("TB{:03}", i + 1));
        assert!(!r.rationale.is_empty() && !r.fix.is_empty());
    }
}

#[test]
fn rules_doc_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/rules.md");
    let want = rules_markdown();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(path, &want).unwrap();
    }
    let have = std::fs::read_to_string(path).unwrap_or_default();
    assert!(have == want, "docs/rules.md is out of date: run `UPDATE_DOCS=1 cargo test -p tugboat rules_doc`");
}
