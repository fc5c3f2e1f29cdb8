//! The rules. Each is a small function over one service (or the whole stack) that pushes findings.

use std::collections::BTreeSet;
use std::path::Path;

use super::{Finding, FindingLocation, Rule, Severity};
use crate::secret;
use crate::stack::interpolate::interpolate;
use crate::stack::{Node, Service, Span, Stack};

use Severity::{High, Low, Medium};

pub static RULES: &[Rule] = &[
    Rule { id: "TB001", name: "runs-as-root", severity: Medium, rationale: "a process running as root turns any container escape or writable mount into root on the host", fix: "set `user: \"1000:1000\"` (a non-root uid:gid the image supports)" },
    Rule { id: "TB002", name: "writable-root-filesystem", severity: Low, rationale: "a writable root filesystem lets an intruder plant binaries and persist inside the container", fix: "set `read_only: true` and mount `tmpfs:` or volumes for the paths the app writes" },
    Rule { id: "TB003", name: "capabilities-not-dropped", severity: Medium, rationale: "Docker's default capability set (CHOWN, NET_RAW, SETUID, …) is more than most services need", fix: "set `cap_drop: [ALL]` and add back only what the service needs with `cap_add`" },
    Rule { id: "TB004", name: "dangerous-capability", severity: High, rationale: "capabilities such as SYS_ADMIN, NET_ADMIN or SYS_PTRACE are close to root on the host", fix: "remove the capability from `cap_add`; find the narrower capability or a host-side helper" },
    Rule { id: "TB005", name: "no-new-privileges-missing", severity: Medium, rationale: "without no-new-privileges, setuid binaries inside the container can raise privileges", fix: "add `security_opt: [\"no-new-privileges:true\"]`" },
    Rule { id: "TB006", name: "privileged", severity: High, rationale: "a privileged container has every capability and all host devices: it is root on the host", fix: "remove `privileged: true`; grant the specific `devices:` or `cap_add` needed" },
    Rule { id: "TB007", name: "host-namespace", severity: High, rationale: "sharing the host's network, PID, IPC or user namespace removes the isolation between container and host", fix: "remove `network_mode: host` / `pid: host` / `ipc: host` / `userns_mode: host`; publish ports instead" },
    Rule { id: "TB008", name: "sensitive-host-mount", severity: High, rationale: "a container runtime socket, a host system directory or a user's credentials bound into a container give control of, or secrets from, the host", fix: "remove the bind (read-only does not help for sockets and secrets); use a socket proxy with a read-only API allowlist if the service must talk to Docker, and bind single harmless files read-only (`/etc/localtime:/etc/localtime:ro`)" },
    Rule { id: "TB009", name: "no-memory-limit", severity: Medium, rationale: "one service without a memory limit can exhaust the host and take every other service down", fix: "set `deploy.resources.limits.memory` (or `mem_limit`)" },
    Rule { id: "TB010", name: "no-cpu-limit", severity: Low, rationale: "one service without a CPU limit can starve the others", fix: "set `deploy.resources.limits.cpus` (or `cpus`)" },
    Rule { id: "TB011", name: "no-healthcheck", severity: Low, rationale: "without a healthcheck Docker cannot tell a hung service from a healthy one, and dependants start too early", fix: "add a `healthcheck:` with `test`, `interval`, `timeout` and `retries`" },
    Rule { id: "TB012", name: "unpinned-image", severity: Medium, rationale: "`latest` or an untagged image changes under you: deploys are not repeatable and rollbacks go to a different image", fix: "pin a version tag (`postgres:16.4`), or better a digest (`postgres:16.4@sha256:…`)" },
    Rule { id: "TB013", name: "no-restart-policy", severity: Low, rationale: "without a restart policy a crashed service stays down until someone notices", fix: "set `restart: unless-stopped` (or `on-failure` for one-shot jobs)" },
    Rule { id: "TB014", name: "depends-on-not-healthy", severity: Low, rationale: "`depends_on` without `condition: service_healthy` starts the dependant before its dependency is ready", fix: "use the long syntax: `depends_on: { db: { condition: service_healthy } }`" },
    Rule { id: "TB015", name: "port-not-allowed", severity: High, rationale: "a port published on a reachable address but missing from policy.published_ports exposes a service that should be internal", fix: "remove the port (use `expose:` for container-to-container traffic), bind it to 127.0.0.1, or add it to `policy.published_ports`" },
    Rule { id: "TB016", name: "port-on-all-interfaces", severity: Medium, rationale: "a port published without a host address listens on every interface, and Docker's iptables rules bypass the host firewall", fix: "bind to loopback (`127.0.0.1:8080:80`) unless it must be reachable, and declare reachable ports in `policy.published_ports`" },
    Rule { id: "TB017", name: "internal-service-on-external-network", severity: Medium, rationale: "a service that publishes nothing allowed but sits on a non-internal network can be reached from, and reach, more than it needs", fix: "attach it only to networks with `internal: true`" },
    Rule { id: "TB018", name: "literal-secret", severity: High, rationale: "a secret written into the compose file ends up in git, in `docker inspect` and in every copy of the file", fix: "write `${VAR}` and keep the value in `.env` (not committed), or use compose `secrets:`" },
    Rule { id: "TB019", name: "variable-not-in-template", severity: Medium, rationale: "a variable missing from the env template is one the next operator will not know to set", fix: "declare the variable in the env template (with an empty or example value and a comment)" },
    Rule { id: "TB020", name: "template-variable-unused", severity: Low, rationale: "template entries nobody uses make operators fill in values that do nothing", fix: "remove the entry from the env template" },
    Rule { id: "TB021", name: "dotenv-not-ignored", severity: High, rationale: "a `.env` that git does not ignore is one `git add .` away from publishing every secret", fix: "add `.env` to `.gitignore` (and remove it from the index with `git rm --cached .env` if it was committed)" },
    Rule { id: "TB022", name: "security-profile-disabled", severity: High, rationale: "seccomp:unconfined, apparmor:unconfined or label:disable turn off the kernel's syscall and MAC filtering", fix: "remove the option from `security_opt`; write a custom profile if the default blocks something" },
    Rule { id: "TB023", name: "no-pids-limit", severity: Medium, rationale: "one fork bomb or thread leak in a service without a PID limit exhausts the host's process table and takes every other service down", fix: "set `deploy.resources.limits.pids: 256` next to the memory limit, or `pids_limit: 256` on a service without `deploy.resources.limits` (Compose rejects `pids_limit` beside limits that lack `pids`), sized to the processes and threads the service really runs; -1 and 0 mean no limit" },
    Rule { id: "TB024", name: "shared-mount-propagation", severity: Medium, rationale: "`shared`/`rshared` bind propagation puts mounts made in the container onto the host, and `slave`/`rslave` brings later host mounts into the container: the bind is no longer a fixed view of one directory", fix: "remove `propagation` (`bind.propagation`, or the `:rshared`-style option) so the default `rprivate` applies; exempt a storage or mount helper that truly needs it, with the reason" },
    Rule { id: "TB025", name: "log-not-rotated", severity: Medium, rationale: "the engine keeps a container's log on the host's disk, and its default driver `json-file` never rotates it: one chatty or looping service fills the disk and every service on it fails", fix: "set `logging: { driver: local }` (rotates by default: 5 files of 20 MB) or `logging: { driver: json-file, options: { max-size: 10m, max-file: \"3\" } }`, once per file as an `x-logging: &logging` extension field and `logging: *logging` per service; without `logging:` the daemon's default applies, so where /etc/docker/daemon.json already sets `log-opts.max-size`, exempt the stack (`\"*\": { TB025: reason }`). `tug watch` collects the logs into its own store independently of the driver, so rotation loses nothing it has collected" },
];

pub(super) const DANGEROUS_CAPS: &[&str] = &[
    "ALL",
    "SYS_ADMIN",
    "NET_ADMIN",
    "SYS_PTRACE",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_BOOT",
    "SYS_TIME",
    "DAC_READ_SEARCH",
    "BPF",
    "PERFMON",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "SYSLOG",
    "LINUX_IMMUTABLE",
    "SYS_RESOURCE",
];

/// A host path whose bind gives control of, or secrets from, the host: that path and everything below
/// it (compared component by component, `*` matching any one component). `/var/run/…` is read as
/// `/run/…`. A bind of a directory that contains one of these (`/`, `/var`, `/home`) is reported too.
struct HostPath {
    path: &'static str,
    what: &'static str,
    /// A socket (or a directory of them): read-only does not stop a client using it.
    socket: bool,
}

const fn host(path: &'static str, what: &'static str) -> HostPath {
    HostPath { path, what, socket: false }
}

const fn socket(path: &'static str, what: &'static str) -> HostPath {
    HostPath { path, what, socket: true }
}

const SENSITIVE_HOST_PATHS: &[HostPath] = &[
    host("/etc", "host configuration and secrets (shadow, sudoers, TLS keys, cron)"),
    host("/root", "root's home (SSH keys, shell startup files)"),
    host("/home/*/.ssh", "a user's SSH keys and authorized_keys"),
    host("/home/*/.gnupg", "a user's GnuPG keys"),
    host("/home/*/.aws", "a user's cloud credentials"),
    host("/home/*/.azure", "a user's cloud credentials"),
    host("/home/*/.kube", "a user's cluster credentials"),
    host("/home/*/.docker", "a user's registry credentials and Docker contexts"),
    host("/boot", "the kernel and boot loader"),
    host("/proc", "host processes and kernel tunables"),
    host("/sys", "kernel, cgroup and device interfaces"),
    host("/dev", "host devices (disks, memory, USB); grant single devices with `devices:`"),
    host("/usr", "host programs and libraries"),
    host("/bin", "host programs"),
    host("/sbin", "host programs"),
    host("/lib", "host libraries and kernel modules"),
    host("/lib32", "host libraries"),
    host("/lib64", "host libraries"),
    host("/libx32", "host libraries"),
    host("/var/lib/docker", "Docker's data: every container's filesystem, config and volumes"),
    host("/var/lib/containerd", "containerd's data: every container's filesystem"),
    host("/var/lib/containers", "Podman/CRI-O's data: every container's filesystem"),
    host("/var/lib/kubelet", "the kubelet's data: pod secrets and volumes"),
    host("/var/lib/rancher", "k3s/RKE2 data: cluster tokens and container storage"),
    host("/var/spool/cron", "crontabs: a line written there runs on the host"),
    socket("/run/docker.sock", "the Docker API socket: control of every container and of the host"),
    socket("/run/docker", "Docker's runtime directory (sockets)"),
    socket("/run/containerd", "containerd's sockets"),
    socket("/run/crio", "CRI-O's sockets"),
    socket("/run/podman", "Podman's API socket"),
    socket("/run/dbus", "the system D-Bus: systemd and other root services"),
    socket("/run/systemd", "systemd's private sockets"),
    socket("/run/user/*/docker.sock", "rootless Docker's API socket"),
];

/// Socket file names that are a container runtime's API wherever they live.
const RUNTIME_SOCKETS: &[&str] = &["docker.sock", "containerd.sock", "podman.sock", "crio.sock"];

/// Paths under [`SENSITIVE_HOST_PATHS`] that are harmless when bound read-only (and only then): the
/// path and everything below it.
const HARMLESS_READ_ONLY: &[(&str, &str)] = &[
    ("/etc/localtime", "clock and timezone"),
    ("/etc/timezone", "clock and timezone"),
    ("/usr/share/zoneinfo", "clock and timezone"),
    ("/etc/ssl/certs", "public CA certificates"),
    ("/etc/ca-certificates", "public CA certificates"),
    ("/etc/pki/ca-trust/extracted", "public CA certificates"),
    ("/etc/pki/tls/certs", "public CA certificates"),
    ("/usr/share/ca-certificates", "public CA certificates"),
    ("/etc/machine-id", "host identity read by log shippers and exporters"),
    ("/etc/os-release", "host identity read by log shippers and exporters"),
];

/// Bind propagation modes that let mounts cross between container and host.
const SHARED_PROPAGATION: &[&str] = &["shared", "rshared", "slave", "rslave"];

/// The logging driver that keeps a container's log in a file on the host and rotates it only with
/// `options.max-size`; it is also the engine's default.
const UNROTATED_DRIVER: &str = "json-file";

/// Logging drivers that rotate by default (`local`), write to the journal (which has its own limits) or
/// send the log off the host: not reported, and listed in docs/rules.md.
const ROTATED_OR_REMOTE_DRIVERS: &[&str] =
    &["local", "journald", "syslog", "none", "gelf", "fluentd", "awslogs", "splunk", "gcplogs", "etwlogs", "loki"];

struct Ctx<'a> {
    stack: &'a Stack,
    out: Vec<Finding>,
}

impl Ctx<'_> {
    fn push(&mut self, rule: &str, service: Option<&Service>, span: Option<&Span>, message: String) {
        let severity = super::rule(rule).map(|r| r.severity).unwrap_or(High);
        let span = span.or(service.map(|s| &s.span));
        self.out.push(Finding {
            rule: super::rule(rule).map(|r| r.id).unwrap_or("TB000"),
            severity,
            service: service.map(|s| s.name.clone()),
            message,
            location: span.filter(|s| s.line > 0).map(FindingLocation::from),
            exempted: None,
            fix: None,
        });
    }
}

fn key_span<'a>(s: &'a Service, key: &str) -> Option<&'a Span> {
    s.node.entry(key).map(|(k, _)| &k.span)
}

fn strings<'a>(s: &'a Service, key: &str) -> Vec<(&'a str, &'a Span)> {
    s.node
        .get(key)
        .and_then(Node::as_seq)
        .unwrap_or(&[])
        .iter()
        .filter_map(|n| n.as_str().map(|v| (v, &n.span)))
        .collect()
}

fn str_attr<'a>(s: &'a Service, key: &str) -> Option<(&'a str, &'a Span)> {
    s.node.get(key).and_then(|n| n.as_str().map(|v| (v, &n.span)))
}

pub fn run(stack: &Stack) -> Vec<Finding> {
    let mut ctx = Ctx { stack, out: Vec::new() };
    for s in &stack.project.services {
        service_rules(&mut ctx, s);
    }
    template_rules(&mut ctx);
    dotenv_rule(&mut ctx);
    ctx.out
}

fn service_rules(ctx: &mut Ctx, s: &Service) {
    let one_shot = matches!(str_attr(s, "restart"), Some(("no" | "on-failure", _)))
        && s.node.get("healthcheck").is_none()
        && ctx.stack.project.services.iter().any(|o| {
            o.depends_on.iter().any(|d| d.service == s.name && d.condition == "service_completed_successfully")
        });

    // TB001: no user, or an explicit root user.
    match str_attr(s, "user") {
        None => ctx.push(
            "TB001",
            Some(s),
            None,
            format!(
                "`{}` sets no `user`, so it runs as the image's user (root unless the image says otherwise)",
                s.name
            ),
        ),
        Some((u, span)) if matches!(u.split(':').next(), Some("root" | "0")) => {
            ctx.push("TB001", Some(s), Some(span), format!("`{}` runs as root (`user: {u}`)", s.name))
        }
        _ => {}
    }
    if s.node.get("read_only").and_then(Node::as_bool) != Some(true) {
        ctx.push("TB002", Some(s), key_span(s, "read_only"), format!("`{}` has a writable root filesystem", s.name));
    }
    let cap_drop = strings(s, "cap_drop");
    if !cap_drop.iter().any(|(c, _)| c.eq_ignore_ascii_case("ALL")) {
        ctx.push("TB003", Some(s), key_span(s, "cap_drop"), format!("`{}` does not drop all capabilities", s.name));
    }
    for (cap, span) in strings(s, "cap_add") {
        let bare = cap.trim_start_matches("CAP_").to_ascii_uppercase();
        if DANGEROUS_CAPS.contains(&bare.as_str()) {
            ctx.push("TB004", Some(s), Some(span), format!("`{}` adds capability {bare}", s.name));
        }
    }
    let opts = strings(s, "security_opt");
    let normalized = |o: &str| o.replace('=', ":").to_ascii_lowercase();
    if !opts.iter().any(|(o, _)| matches!(normalized(o).as_str(), "no-new-privileges" | "no-new-privileges:true")) {
        ctx.push("TB005", Some(s), key_span(s, "security_opt"), format!("`{}` does not set no-new-privileges", s.name));
    }
    for (o, span) in &opts {
        if matches!(
            normalized(o).as_str(),
            "seccomp:unconfined" | "apparmor:unconfined" | "label:disable" | "systempaths:unconfined"
        ) {
            ctx.push("TB022", Some(s), Some(span), format!("`{}` disables a kernel security profile (`{o}`)", s.name));
        }
    }
    if s.node.get("privileged").and_then(Node::as_bool) == Some(true) {
        ctx.push("TB006", Some(s), key_span(s, "privileged"), format!("`{}` runs privileged", s.name));
    }
    for key in ["network_mode", "pid", "ipc", "userns_mode", "uts"] {
        if let Some(("host", span)) = str_attr(s, key) {
            ctx.push("TB007", Some(s), Some(span), format!("`{}` shares the host's namespace (`{key}: host`)", s.name));
        }
    }
    sensitive_mounts(ctx, s);
    mount_propagation(ctx, s);
    if crate::stack::diff::memory_limit(s).is_none() {
        ctx.push("TB009", Some(s), None, format!("`{}` has no memory limit", s.name));
    }
    if crate::stack::diff::cpu_limit(s).is_none() {
        ctx.push("TB010", Some(s), None, format!("`{}` has no CPU limit", s.name));
    }
    pids_limit(ctx, s);
    log_rotation(ctx, s);
    let health = s.node.get("healthcheck");
    let disabled = health.is_some_and(|h| {
        h.get("disable").and_then(Node::as_bool) == Some(true)
            || h.get("test").and_then(Node::as_seq).and_then(|t| t.first()).and_then(Node::as_str) == Some("NONE")
    });
    if (health.is_none() && !one_shot) || disabled {
        let what = if disabled { "disables its healthcheck" } else { "has no healthcheck" };
        ctx.push("TB011", Some(s), key_span(s, "healthcheck"), format!("`{}` {what}", s.name));
    }
    if let Some((image, span)) = str_attr(s, "image") {
        if let Some(problem) = unpinned(image) {
            ctx.push("TB012", Some(s), Some(span), format!("`{}` uses {image:?}: {problem}", s.name));
        }
    }
    let restart = str_attr(s, "restart")
        .map(|(r, _)| r)
        .or_else(|| s.node.get_path(&["deploy", "restart_policy", "condition"]).and_then(Node::as_str));
    if matches!(restart, None | Some("no" | "none")) && !one_shot {
        ctx.push("TB013", Some(s), key_span(s, "restart"), format!("`{}` has no restart policy", s.name));
    }
    for d in &s.depends_on {
        let has_health = ctx.stack.service(&d.service).is_some_and(|o| {
            o.node.get("healthcheck").is_some_and(|h| h.get("disable").and_then(Node::as_bool) != Some(true))
        });
        if has_health && d.condition == "service_started" {
            ctx.push(
                "TB014",
                Some(s),
                Some(&d.span),
                format!(
                    "`{}` depends on `{}`, which has a healthcheck, without `condition: service_healthy`",
                    s.name, d.service
                ),
            );
        }
    }
    exposure_rules(ctx, s);
    secret_rules(ctx, s);
}

/// A host directory or file a service's mount makes visible in the container.
struct HostBind<'a> {
    /// The host path, absolute and lexically clean.
    source: String,
    read_only: bool,
    span: &'a Span,
    /// The top-level volume it comes through, when it is a `driver_opts` bind volume.
    volume: Option<&'a str>,
}

/// Bind mounts, and named volumes whose `local` driver binds a host path
/// (`driver_opts: { type: none, o: bind, device: /path }`), as the host paths they expose.
fn host_binds<'a>(stack: &Stack, s: &'a Service) -> Vec<HostBind<'a>> {
    let top = stack.project.root.get("volumes");
    let mut out = Vec::new();
    for m in &s.volumes {
        let Some(src) = m.source.as_deref() else { continue };
        match m.kind.as_str() {
            "bind" => {
                out.push(HostBind { source: src.to_string(), read_only: m.read_only, span: &m.span, volume: None })
            }
            "volume" => {
                let Some(device) = top.and_then(|t| t.get(src)).and_then(bind_volume_device) else { continue };
                let dir = std::path::absolute(&stack.dir).unwrap_or_else(|_| stack.dir.clone());
                out.push(HostBind {
                    source: crate::stack::normalize::resolve_path(device.0, &dir),
                    read_only: m.read_only || device.1,
                    span: &m.span,
                    volume: Some(src),
                });
            }
            _ => {}
        }
    }
    out
}

/// The host path a top-level volume binds, and whether its options make it read-only.
fn bind_volume_device(volume: &Node) -> Option<(&str, bool)> {
    if !matches!(volume.get("driver").and_then(Node::as_str), None | Some("local")) {
        return None;
    }
    let opts = volume.get("driver_opts")?;
    let o: Vec<&str> = opts.get("o").and_then(Node::as_str).unwrap_or("").split(',').map(str::trim).collect();
    if !o.iter().any(|x| matches!(*x, "bind" | "rbind")) {
        return None;
    }
    let device = opts.get("device").and_then(Node::as_str).filter(|d| !d.is_empty())?;
    Some((device, o.contains(&"ro")))
}

/// A path's components: `/var/run/x` → `["run", "x"]` (`/var/run` is a link to `/run`).
fn host_components(path: &str) -> Vec<&str> {
    let parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    match parts.as_slice() {
        ["var", "run", rest @ ..] => std::iter::once("run").chain(rest.iter().copied()).collect(),
        _ => parts,
    }
}

fn plain_components(path: &str) -> Vec<&str> {
    path.split('/').filter(|c| !c.is_empty() && *c != ".").collect()
}

/// `pattern` is `path` or one of its parents (`*` matches any one component).
fn covers(pattern: &[&str], path: &[&str]) -> bool {
    pattern.len() <= path.len() && pattern.iter().zip(path).all(|(p, c)| *p == "*" || p == c)
}

/// On [`HARMLESS_READ_ONLY`]: harmless when bound read-only.
pub(super) fn harmless_read_only(source: &str) -> bool {
    let path = plain_components(source);
    HARMLESS_READ_ONLY.iter().any(|(p, _)| covers(&plain_components(p), &path))
}

/// Why a bind of `source` is sensitive, or `None`; and whether what it hits is a socket.
pub(super) fn sensitive_reason(source: &str) -> Option<(String, bool)> {
    let path = host_components(source);
    if path.is_empty() {
        return Some(("the host's whole filesystem".to_string(), false));
    }
    if let Some(name) = path.last().filter(|n| RUNTIME_SOCKETS.contains(n)) {
        let exact = SENSITIVE_HOST_PATHS.iter().find(|h| h.socket && covers(&plain_components(h.path), &path));
        let what = exact.map_or_else(|| format!("a container runtime's API socket ({name})"), |h| h.what.to_string());
        return Some((what, true));
    }
    for h in SENSITIVE_HOST_PATHS {
        let pattern = plain_components(h.path);
        if covers(&pattern, &path) {
            let why = if pattern.len() == path.len() {
                h.what.to_string()
            } else {
                let base: Vec<&str> = pattern.iter().zip(&path).map(|(_, c)| *c).collect();
                format!("under /{}, {}", base.join("/"), h.what)
            };
            return Some((why, h.socket));
        }
    }
    // A directory that contains a sensitive path: `/var` holds `/var/lib/docker`, `/home/alice` `.ssh`.
    for h in SENSITIVE_HOST_PATHS {
        let pattern = plain_components(h.path);
        if path.len() < pattern.len() && covers(&pattern[..path.len()], &path) {
            let inner: Vec<&str> = path.iter().copied().chain(pattern[path.len()..].iter().copied()).collect();
            return Some((format!("it contains /{}, {}", inner.join("/"), h.what), h.socket));
        }
    }
    None
}

/// TB008: binds (direct, or through a `driver_opts` bind volume) of sensitive host paths.
fn sensitive_mounts(ctx: &mut Ctx, s: &Service) {
    for b in host_binds(ctx.stack, s) {
        let harmless = harmless_read_only(&b.source);
        if harmless && b.read_only {
            continue;
        }
        let Some((why, socket)) = sensitive_reason(&b.source) else { continue };
        let mode = match (b.read_only, socket, harmless) {
            (false, _, true) => " read-write (only a read-only bind of it is harmless)",
            (true, true, _) => " read-only (which does not stop a client using a socket)",
            (true, false, _) => " read-only (still sensitive)",
            (false, _, false) => "",
        };
        let via = b.volume.map_or_else(String::new, |v| format!(" through volume `{v}` (driver_opts.device)"));
        let message = format!("`{}` mounts host path {}{via}{mode}: {why}", s.name, b.source);
        ctx.push("TB008", Some(s), Some(b.span), message);
    }
}

/// TB024: `bind.propagation` that lets mounts cross between container and host.
fn mount_propagation(ctx: &mut Ctx, s: &Service) {
    let items = s.node.get("volumes").and_then(Node::as_seq).unwrap_or(&[]);
    for item in items {
        if item.get("type").and_then(Node::as_str) != Some("bind") {
            continue;
        }
        let Some(p) = item.get_path(&["bind", "propagation"]) else { continue };
        let Some(mode) = p.as_str().filter(|m| SHARED_PROPAGATION.contains(m)) else { continue };
        let source = item.get("source").and_then(Node::as_str).unwrap_or("?");
        let direction = if mode.ends_with("shared") {
            "mounts made in the container appear on the host"
        } else {
            "mounts made on the host later appear in the container"
        };
        let message = format!("`{}` binds {source} with `{mode}` propagation: {direction}", s.name);
        ctx.push("TB024", Some(s), Some(&p.span), message);
    }
}

/// TB023: no `pids_limit` / `deploy.resources.limits.pids`, or one that means unlimited.
fn pids_limit(ctx: &mut Ctx, s: &Service) {
    let set: Vec<(&str, &Node)> = [
        ("pids_limit", s.node.get("pids_limit")),
        ("deploy.resources.limits.pids", s.node.get_path(&["deploy", "resources", "limits", "pids"])),
    ]
    .into_iter()
    .filter_map(|(k, n)| n.filter(|n| !n.is_null()).map(|n| (k, n)))
    .collect();
    if set.is_empty() {
        ctx.push("TB023", Some(s), None, format!("`{}` has no PID limit", s.name));
    }
    for (key, node) in set {
        let value = node.as_str().unwrap_or("").trim();
        let problem = match value.parse::<i64>() {
            Ok(n) if n > 0 => continue,
            Ok(_) => "which means no limit",
            Err(_) => "which is not a number of processes",
        };
        ctx.push("TB023", Some(s), Some(&node.span), format!("`{}` sets `{key}: {value}`, {problem}", s.name));
    }
}

/// TB025: a log the engine keeps on the host without rotation: no `logging` (the default driver,
/// `json-file`), or `json-file` without `options.max-size`.
fn log_rotation(ctx: &mut Ctx, s: &Service) {
    const DAEMON: &str = "unless /etc/docker/daemon.json sets `log-opts.max-size`";
    let Some((key, logging)) = s.node.entry("logging").filter(|(_, v)| !v.is_null()) else {
        let message = format!(
            "`{}` sets no `logging`, so the engine's default driver keeps its log: `{UNROTATED_DRIVER}`, which never rotates {DAEMON}",
            s.name
        );
        ctx.push("TB025", Some(s), None, message);
        return;
    };
    // A key counts when it has a value (`driver: ${LOG_DRIVER:-}` that expands to nothing does not).
    let set =
        |k: &str| logging.entry(k).filter(|(_, v)| !v.is_null() && v.as_str().is_none_or(|t| !t.trim().is_empty()));
    let driver = set("driver");
    let name = driver.and_then(|(_, v)| v.as_str()).map(str::trim);
    if name.is_some_and(|d| d != UNROTATED_DRIVER) {
        return;
    }
    let options = set("options");
    let max_size = options.and_then(|(_, o)| o.get("max-size")).and_then(Node::as_str);
    if max_size.is_some_and(|m| !m.trim().is_empty()) {
        return;
    }
    let message = match name {
        Some(_) => format!(
            "`{}` logs with `{UNROTATED_DRIVER}` without `options.max-size`, so its log never rotates {DAEMON}",
            s.name
        ),
        None => format!(
            "`{}` sets `logging` without a driver or `options.max-size`: the engine's default driver, `{UNROTATED_DRIVER}`, never rotates {DAEMON}",
            s.name
        ),
    };
    let span = options.or(driver).map_or(&key.span, |(k, _)| &k.span);
    ctx.push("TB025", Some(s), Some(span), message);
}

/// What TB008, TB023, TB024 and TB025 look for, as Markdown (appended to docs/rules.md).
pub fn details_markdown() -> String {
    let mut s = String::from(
        "\n## TB008: sensitive host paths\n\n\
         A bind mount (`/src:/dst`, or `type: bind` with `source:`) and a named volume whose `local` driver binds \
         a host path (`driver_opts: { type: none, o: bind, device: /src }`) are checked against these host paths. \
         Each covers the path and everything below it, compared component by component (`/etcd` is not under \
         `/etc`); `*` stands for any one component, and `/var/run/…` is read as `/run/…`. A bind of a directory \
         that contains one of them is reported too: `/` (the whole host filesystem), `/var`, `/var/lib`, `/run`, \
         `/home` or a home directory such as `/home/alice`. Read-only does not make a bind safe, except for the \
         paths listed under *Harmless when read-only*.\n\n\
         | host path | why |\n|---|---|\n",
    );
    for h in SENSITIVE_HOST_PATHS {
        s.push_str(&format!("| `{}` | {} |\n", h.path, h.what));
    }
    let sockets: Vec<String> = RUNTIME_SOCKETS.iter().map(|n| format!("`{n}`")).collect();
    let sockets = match sockets.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => sockets.join(""),
    };
    s.push_str(&format!(
        "\nA file named {} is a container runtime's API socket wherever it lives (`~/.docker/run/docker.sock`, \
         `/run/user/1000/podman/podman.sock`).\n\n\
         Binds of ordinary data directories (`./data`, `/srv/app`, `/mnt/nas`, `/opt/app`, `/var/log`, \
         `/home/alice/project`) are not reported.\n\n\
         ### Harmless when read-only\n\n\
         These paths (and what is below them) are not reported when the bind is read-only (`:ro`, \
         `read_only: true`, or `ro` in the volume's `o` options); bound read-write they are.\n\n\
         | host path | what it is |\n|---|---|\n",
        sockets
    ));
    for (p, what) in HARMLESS_READ_ONLY {
        s.push_str(&format!("| `{p}` | {what} |\n"));
    }
    let modes: Vec<String> = SHARED_PROPAGATION.iter().map(|m| format!("`{m}`")).collect();
    s.push_str(&format!(
        "\n## TB023: PID limit\n\n\
         `deploy.resources.limits.pids` or `pids_limit` on the service; a missing limit, `-1` and `0` (no limit) \
         and a value that is not a whole number are reported. Compose rejects `pids_limit` beside a \
         `deploy.resources.limits` that lacks the same `pids`, so a service with deploy limits sets it there.\n\n\
         ## TB024: mount propagation\n\n\
         A bind with propagation {} (`bind: {{ propagation: rshared }}`, or the short-syntax option in \
         `/mnt:/mnt:ro,rshared`). `private`, `rprivate` (the default) and no propagation are not reported.\n",
        modes.join(", ")
    ));
    let drivers: Vec<String> = ROTATED_OR_REMOTE_DRIVERS.iter().map(|d| format!("`{d}`")).collect();
    s.push_str(&format!(
        "\n## TB025: log rotation\n\n\
         A service without `logging:` (or whose `logging:` names no driver) gets the engine's default driver, \
         `{UNROTATED_DRIVER}`, whose file under /var/lib/docker/containers grows without bound unless \
         /etc/docker/daemon.json sets `log-opts.max-size`; so does `driver: {UNROTATED_DRIVER}` without \
         `options.max-size`. Both are reported, at the service, or at `logging`'s `options` (else `driver`, else \
         `logging`) key. tug does not read the daemon's configuration: where daemon.json rotates, exempt the stack \
         with `policy.exempt: {{ \"*\": {{ TB025: \"daemon.json sets log-opts.max-size\" }} }}`.\n\n\
         Not reported: `{UNROTATED_DRIVER}` with `max-size`, and the drivers {} (and plugins). `local` rotates \
         by default (5 files of 20 MB), `journald` writes to the journal, which has its own size limits, `none` \
         keeps nothing, and the others send the log elsewhere (the read cache the engine keeps beside them for \
         `docker logs` rotates by default).\n",
        drivers.join(", ")
    ));
    s
}

/// TB012: `latest`, no tag, or a variable that expanded to nothing.
pub(super) fn unpinned(image: &str) -> Option<&'static str> {
    if image.contains("@sha256:") {
        return None;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        None => Some("no tag, so it means `latest`"),
        Some((_, "latest")) => Some("`latest` is not a version"),
        Some((_, "")) => Some("empty tag"),
        _ => None,
    }
}

fn exposure_rules(ctx: &mut Ctx, s: &Service) {
    let allow = ctx.stack.config.policy.published_ports.clone();
    let mut allowed_published = false;
    for p in &s.ports {
        let ports = p.published_ports();
        if p.is_loopback() {
            continue;
        }
        let where_ = p.host_ip.as_deref().unwrap_or("all interfaces");
        match &allow {
            Some(list) => {
                let (ok, bad): (Vec<u32>, Vec<u32>) =
                    ports.iter().partition(|n| list.iter().any(|a| u32::from(*a) == **n));
                allowed_published |= !ok.is_empty();
                if p.published.is_none() {
                    ctx.push(
                        "TB015",
                        Some(s),
                        Some(&p.span),
                        format!("`{}` publishes container port {} on a random host port ({where_})", s.name, p.target),
                    );
                }
                for n in bad {
                    ctx.push(
                        "TB015",
                        Some(s),
                        Some(&p.span),
                        format!(
                            "`{}` publishes port {n} on {where_}; policy.published_ports does not allow it",
                            s.name
                        ),
                    );
                }
            }
            None => {
                if p.host_ip.as_deref().is_none_or(|ip| ip == "0.0.0.0" || ip == "::") {
                    let shown = p.published.clone().unwrap_or_else(|| format!("(random)->{}", p.target));
                    ctx.push(
                        "TB016",
                        Some(s),
                        Some(&p.span),
                        format!("`{}` publishes port {shown} on all interfaces", s.name),
                    );
                }
            }
        }
    }
    // TB017 needs the allowlist to know which services are meant to be internal.
    if allow.is_none() || allowed_published || s.node.get("network_mode").is_some() {
        return;
    }
    let exposed = !strings(s, "expose").is_empty() || s.ports.iter().any(|p| !p.is_loopback());
    if !exposed {
        return;
    }
    let nets: Vec<String> = if s.networks.is_empty() { vec!["default".into()] } else { s.networks.clone() };
    for n in nets {
        let internal = ctx.stack.project.networks.iter().any(|x| x.name == n && x.internal);
        if !internal {
            let span = s.node.get("networks").and_then(|m| m.entry(&n)).map(|(k, _)| k.span.clone());
            ctx.push(
                "TB017",
                Some(s),
                span.as_ref(),
                format!("`{}` publishes no allowed port but joins non-internal network `{n}`", s.name),
            );
        }
    }
}

/// The literal part of a value: what is left when `${…}` and `$VAR` references are removed.
fn literal_part(value: &str, raw: Option<&str>) -> String {
    match raw {
        None => value.to_string(),
        Some(raw) => interpolate(raw, &|_| Some(String::new()), &mut Vec::new()).unwrap_or_default(),
    }
}

fn secret_rules(ctx: &mut Ctx, s: &Service) {
    for e in &s.environment {
        if e.from_file.is_some() {
            continue; // values from env_file are not in the compose file
        }
        let Some(value) = &e.value else { continue };
        let literal = literal_part(value, e.raw.as_deref());
        let by_name = secret::is_secret_name(&e.name) && !literal.trim().is_empty() && !is_reference_value(&literal);
        let by_url = secret::url_has_literal_password(&literal);
        let by_shape = secret::looks_random(&literal);
        if by_name || by_url || by_shape {
            let why = if by_url {
                "a URL with a literal password"
            } else if by_name {
                "a literal value in a secret-named variable"
            } else {
                "a high-entropy literal"
            };
            ctx.push("TB018", Some(s), Some(&e.span), format!("`{}` sets {} to {why}", s.name, e.name));
        }
    }
}

/// Values that name where a secret is rather than being one (`/run/secrets/db`, `file:…`, booleans, empty).
pub(super) fn is_reference_value(v: &str) -> bool {
    let v = v.trim();
    v.starts_with("/run/secrets/")
        || v.starts_with('/') && !v.contains(' ')
        || matches!(v.to_ascii_lowercase().as_str(), "true" | "false" | "yes" | "no" | "none" | "null")
}

/// Variables `tugboat.yml` uses: `${VAR}` in any value and the names in `*_env` keys.
pub fn config_variables(stack: &Stack) -> Vec<(String, Span)> {
    fn walk(node: &Node, key: Option<&str>, out: &mut Vec<(String, Span)>) {
        match (&node.as_map(), &node.as_seq(), node.as_str()) {
            (Some(entries), _, _) => entries.iter().for_each(|(k, v)| walk(v, Some(&k.name), out)),
            (_, Some(items), _) => items.iter().for_each(|i| walk(i, key, out)),
            (_, _, Some(text)) => {
                if key.is_some_and(|k| k.ends_with("_env")) && crate::stack::envfile::is_name(text) {
                    out.push((text.to_string(), node.span.clone()));
                }
                let mut names = Vec::new();
                let _ = interpolate(text, &|_| None, &mut names);
                out.extend(names.into_iter().map(|n| (n, node.span.clone())));
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Some((_, node)) = &stack.config_file {
        walk(node, None, &mut out);
    }
    out
}

fn template_rules(ctx: &mut Ctx) {
    let stack = ctx.stack;
    let mut used: Vec<(String, Span)> =
        stack.project.variables_used.iter().map(|v| (v.name.clone(), v.span.clone())).collect();
    used.extend(config_variables(stack));
    let Some((template_path, entries)) = &stack.env_template else {
        let names: BTreeSet<&str> = used.iter().map(|(n, _)| n.as_str()).collect();
        if !names.is_empty() {
            let list: Vec<&str> = names.into_iter().collect();
            ctx.push(
                "TB019",
                None,
                None,
                format!(
                    "no env template (.env.template) declares the {} variables the stack uses: {}",
                    list.len(),
                    list.join(", ")
                ),
            );
        }
        return;
    };
    let declared: BTreeSet<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    let mut reported = BTreeSet::new();
    for (name, span) in &used {
        if !declared.contains(name.as_str()) && reported.insert(name.clone()) {
            ctx.push(
                "TB019",
                None,
                Some(span),
                format!("${{{name}}} is used but not declared in {}", file_name(template_path)),
            );
        }
    }
    let used_names: BTreeSet<&str> = used.iter().map(|(n, _)| n.as_str()).collect();
    let template_file = std::sync::Arc::new(template_path.clone());
    for e in entries {
        if !used_names.contains(e.name.as_str()) {
            let span = Span::new(&template_file, e.line, 1);
            ctx.push(
                "TB020",
                None,
                Some(&span),
                format!("{} declares {} but nothing uses it", file_name(template_path), e.name),
            );
        }
    }
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// TB021: a `.env` in a git work tree that git does not ignore.
fn dotenv_rule(ctx: &mut Ctx) {
    let Some((path, _)) = &ctx.stack.dotenv else { return };
    let Some(dir) = path.parent() else { return };
    let inside =
        std::process::Command::new("git").args(["rev-parse", "--is-inside-work-tree"]).current_dir(dir).output();
    if !matches!(&inside, Ok(o) if o.status.success()) {
        return; // not a git work tree (or no git): nothing can commit it by accident
    }
    let ignored = std::process::Command::new("git").arg("check-ignore").arg("-q").arg(path).current_dir(dir).status();
    if matches!(ignored, Ok(s) if !s.success()) {
        let span = Span::new(&std::sync::Arc::new(path.clone()), 1, 1);
        ctx.push("TB021", None, Some(&span), format!("{} is not ignored by git", path.display()));
    }
}
