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
    Rule { id: "TB008", name: "sensitive-host-mount", severity: High, rationale: "the Docker socket or host system paths mounted into a container give control of the host", fix: "remove the mount; use a socket proxy with a read-only API allowlist if the service must talk to Docker" },
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
];

const DANGEROUS_CAPS: &[&str] = &[
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

/// Host paths whose mount gives control of, or secrets from, the host.
const SENSITIVE_PATHS: &[&str] = &[
    "/",
    "/etc",
    "/root",
    "/proc",
    "/sys",
    "/boot",
    "/dev",
    "/var/run",
    "/run",
    "/var/lib/docker",
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/var/run/containerd",
    "/run/containerd",
    "/usr",
    "/lib",
    "/bin",
    "/sbin",
    "/home",
];

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
    for m in &s.volumes {
        let Some(src) = m.source.as_deref().filter(|_| m.kind == "bind") else { continue };
        let src = src.trim_end_matches('/');
        let src = if src.is_empty() { "/" } else { src };
        let hit = SENSITIVE_PATHS.contains(&src) || src.ends_with("docker.sock") || src.ends_with("containerd.sock");
        if hit {
            let ro = if m.read_only { " (read-only, still sensitive)" } else { "" };
            ctx.push("TB008", Some(s), Some(&m.span), format!("`{}` mounts host path {src}{ro}", s.name));
        }
    }
    if crate::stack::diff::memory_limit(s).is_none() {
        ctx.push("TB009", Some(s), None, format!("`{}` has no memory limit", s.name));
    }
    if crate::stack::diff::cpu_limit(s).is_none() {
        ctx.push("TB010", Some(s), None, format!("`{}` has no CPU limit", s.name));
    }
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

/// TB012: `latest`, no tag, or a variable that expanded to nothing.
fn unpinned(image: &str) -> Option<&'static str> {
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
fn is_reference_value(v: &str) -> bool {
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
