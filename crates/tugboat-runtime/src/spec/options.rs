//! Container options that need more than a copy: health checks, ports, the restart policy, security
//! options and the platform, each as Compose v2 sends it.

use std::path::Path;

use bollard::models::{HealthConfig, PortBinding, PortMap, RestartPolicy, RestartPolicyNameEnum};
use tugboat::stack::{Node, Stack};

use super::values::{compact_json, join, Cx};

/// `healthcheck` -> the engine's config (durations in nanoseconds) and whether there is a check to wait on.
pub(super) fn healthcheck(cx: &mut Cx, h: &Node, path: &str) -> (Option<HealthConfig>, Option<bool>) {
    cx.keys(
        h,
        path,
        &["test", "interval", "timeout", "start_period", "retries", "disable"],
        &[("start_interval", "`start_interval` needs Docker Engine API 1.44 (Compose refuses it on this engine too)")],
    );
    let at = |k: &str| join(path, k);
    let d = |cx: &mut Cx, k: &str| h.get(k).and_then(|v| cx.duration(v, &at(k)));
    let disabled = h.get("disable").and_then(|v| cx.bool(v, &at("disable"))).unwrap_or(false);
    let mut test = h.get("test").and_then(|v| cx.strings(v, &at("test")));
    if let (Some(t), Some(node)) = (&test, h.get("test")) {
        if !t.is_empty() && !matches!(t[0].as_str(), "NONE" | "CMD" | "CMD-SHELL") {
            cx.at(&node.span, &at("test"), format!("a test starts with CMD, CMD-SHELL or NONE, not {:?}", t[0]));
        }
    }
    if disabled {
        test = Some(vec!["NONE".to_string()]);
    }
    let healthy = match test.as_deref() {
        Some([first, ..]) if first == "NONE" => Some(false),
        Some([_, ..]) => Some(true),
        // No test of its own (or `[]`): the image's check, if any, applies.
        _ => None,
    };
    let config = HealthConfig {
        test,
        interval: d(cx, "interval"),
        timeout: d(cx, "timeout"),
        start_period: d(cx, "start_period"),
        retries: h.get("retries").and_then(|v| cx.int(v, &at("retries"))),
        ..Default::default()
    };
    (Some(config), healthy)
}

/// `ports` and `expose` -> exposed ports (`80/tcp`; `expose` entries as written, as Compose sends them)
/// and the bindings per container port.
pub(super) fn ports(cx: &mut Cx, n: &Node, path: &str) -> (Option<Vec<String>>, Option<PortMap>) {
    let mut exposed: Vec<String> = Vec::new();
    let mut bindings: Vec<(String, Vec<PortBinding>)> = Vec::new();
    for (i, p) in n.get("ports").and_then(Node::as_seq).unwrap_or(&[]).iter().enumerate() {
        let pp = format!("{path}.ports[{i}]");
        // `name` and `app_protocol` are metadata for tools; the engine has no field for them.
        cx.keys(p, &pp, &["target", "published", "host_ip", "protocol", "mode", "name", "app_protocol"], &[]);
        let Some(target) = p.get("target").and_then(|t| cx.int(t, &join(&pp, "target"))) else { continue };
        let protocol = p.get("protocol").and_then(|v| cx.string(v, &join(&pp, "protocol"))).unwrap_or("tcp".into());
        if !matches!(protocol.as_str(), "tcp" | "udp" | "sctp") {
            if let Some(v) = p.get("protocol") {
                cx.at(&v.span, &join(&pp, "protocol"), format!("unknown protocol {protocol:?}: use tcp, udp or sctp"));
            }
        }
        // `mode: ingress` is swarm's routing mesh; on one engine both modes publish on the host, as in Compose.
        if let Some(mode) = p.get("mode").and_then(|v| cx.string(v, &join(&pp, "mode"))) {
            if mode != "host" && mode != "ingress" {
                if let Some(v) = p.get("mode") {
                    cx.at(&v.span, &join(&pp, "mode"), format!("unknown port mode {mode:?}: use host or ingress"));
                }
            }
        }
        let key = format!("{target}/{protocol}");
        if !exposed.contains(&key) {
            exposed.push(key.clone());
        }
        let binding = PortBinding {
            host_ip: Some(p.get("host_ip").and_then(|v| cx.string(v, &join(&pp, "host_ip"))).unwrap_or_default()),
            host_port: Some(p.get("published").and_then(|v| cx.string(v, &join(&pp, "published"))).unwrap_or_default()),
        };
        match bindings.iter_mut().find(|(k, _)| *k == key) {
            Some((_, list)) => list.push(binding),
            None => bindings.push((key, vec![binding])),
        }
    }
    for e in n.get("expose").and_then(|v| cx.strings(v, &join(path, "expose"))).unwrap_or_default() {
        if !exposed.contains(&e) {
            exposed.push(e);
        }
    }
    let bindings = (!bindings.is_empty()).then(|| bindings.into_iter().map(|(k, v)| (k, Some(v))).collect());
    ((!exposed.is_empty()).then_some(exposed), bindings)
}

/// `restart`, then `deploy.restart_policy` (which wins, as in Compose's `getRestartPolicy`).
pub(super) fn restart_policy(cx: &mut Cx, n: &Node, path: &str) -> Option<RestartPolicy> {
    let mut policy = None;
    if let Some(v) = n.get("restart") {
        if let Some(text) = cx.string(v, &join(path, "restart")) {
            let (name, count) = match text.split_once(':') {
                Some((name, count)) => (name.to_string(), count.parse::<i64>().ok()),
                None => (text.clone(), None),
            };
            if text.contains(':') && (name != "on-failure" || count.is_none()) {
                cx.at(
                    &v.span,
                    &join(path, "restart"),
                    format!("invalid restart policy {text:?}: only on-failure takes a count (on-failure:3)"),
                );
            }
            match restart_name(&name) {
                Some(n) => {
                    policy = Some(RestartPolicy { name: Some(n), maximum_retry_count: Some(count.unwrap_or(0)) })
                }
                None => cx.at(
                    &v.span,
                    &join(path, "restart"),
                    format!("unknown restart policy {text:?}: use no, always, unless-stopped or on-failure[:N]"),
                ),
            }
        }
    }
    if let Some(rp) = n.get_path(&["deploy", "restart_policy"]).filter(|r| !r.is_null()) {
        let p = join(path, "deploy.restart_policy");
        // `delay` and `window` are swarm's; Compose ignores them for containers too.
        cx.keys(rp, &p, &["condition", "max_attempts", "delay", "window"], &[]);
        let condition = rp.get("condition").and_then(|c| cx.string(c, &join(&p, "condition"))).unwrap_or_default();
        let attempts = rp.get("max_attempts").and_then(|m| cx.int(m, &join(&p, "max_attempts"))).unwrap_or(0);
        match restart_name(&condition) {
            Some(name) => policy = Some(RestartPolicy { name: Some(name), maximum_retry_count: Some(attempts) }),
            None => {
                let span = rp.get("condition").map_or(&rp.span, |c| &c.span);
                cx.at(
                    span,
                    &join(&p, "condition"),
                    format!("unknown restart condition {condition:?}: use none, on-failure or any"),
                );
            }
        }
    }
    policy
}

/// Compose's `mapRestartPolicyCondition`: both `restart` and `deploy.restart_policy` spellings.
fn restart_name(name: &str) -> Option<RestartPolicyNameEnum> {
    match name {
        "no" | "none" => Some(RestartPolicyNameEnum::NO),
        "always" | "any" => Some(RestartPolicyNameEnum::ALWAYS),
        "unless-stopped" => Some(RestartPolicyNameEnum::UNLESS_STOPPED),
        "on-failure" => Some(RestartPolicyNameEnum::ON_FAILURE),
        _ => None,
    }
}

/// Compose's `parseSecurityOpts`: `systempaths=unconfined` unmasks paths, `seccomp=FILE` is inlined (the
/// engine reads no files), everything else is passed as written.
pub(super) fn security_opts(cx: &mut Cx, stack: &Stack, n: &Node, path: &str) -> (Option<Vec<String>>, bool) {
    let Some(node) = n.get("security_opt") else { return (None, false) };
    let mut unconfined = false;
    let mut out = Vec::new();
    for opt in cx.strings(node, path).unwrap_or_default() {
        if opt == "systempaths=unconfined" {
            unconfined = true;
            continue;
        }
        let split = opt.split_once('=').or_else(|| opt.split_once(':'));
        let Some((key, value)) = split else {
            if opt != "no-new-privileges" {
                cx.at(&node.span, path, format!("invalid security option {opt:?}"));
            }
            out.push(opt);
            continue;
        };
        if key == "seccomp" && value != "unconfined" && value != "builtin" {
            let file = Path::new(value);
            let file = if file.is_absolute() { file.to_path_buf() } else { stack.dir.join(file) };
            match std::fs::read_to_string(&file).map_err(|e| e.to_string()).and_then(|t| compact_json(&t)) {
                Ok(json) => out.push(format!("seccomp={json}")),
                Err(e) => cx.at(&node.span, path, format!("seccomp profile {}: {e}", file.display())),
            }
        } else {
            out.push(opt);
        }
    }
    (Some(out), unconfined)
}

/// `platform` picks the image variant to pull or build; the runtime runs what the engine has, so only the
/// engine's own platform is accepted rather than silently running another.
pub(super) fn platform(cx: &mut Cx, v: &Node, path: &str) {
    let Some(text) = cx.string(v, path) else { return };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        other => other,
    };
    let mut parts = text.split('/');
    let os = parts.next().unwrap_or("");
    let wanted = parts.next();
    if os != "linux" || wanted.is_some_and(|a| a != arch) {
        cx.unsupported(&v.span, path, "platform", &format!("only this engine's platform linux/{arch} can be run"));
    }
}
