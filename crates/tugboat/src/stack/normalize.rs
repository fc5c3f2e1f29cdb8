//! Short syntax to long syntax, per the compose specification, so merging and checking see one shape.
//! Each function takes the node as written and returns the canonical node, or a located error.

use std::path::Path;

use super::error::{ConfigError, Location};
use super::yaml::{Key, Node, NodeKind, Span};

type Result<T> = std::result::Result<T, ConfigError>;

pub(crate) fn err(node: &Node, path: &str, msg: impl Into<String>) -> ConfigError {
    ConfigError::at(Location::new(node.span.clone(), path), msg)
}

fn key(name: &str, span: &Span) -> Key {
    Key { name: name.to_string(), span: span.clone() }
}

/// Scalar text, or an error naming what was expected.
pub(crate) fn scalar<'a>(node: &'a Node, path: &str, what: &str) -> Result<&'a str> {
    match &node.kind {
        NodeKind::Scalar { value, .. } if !node.is_null() => Ok(value),
        _ => Err(err(node, path, format!("expected {what}, found {}", node.kind_name()))),
    }
}

/// `environment`, `labels`, `extra_hosts` style: a `KEY=VALUE` list or a mapping, both become a mapping of strings.
pub fn key_value_map(node: &Node, path: &str, sep: char) -> Result<Node> {
    let mut entries: Vec<(Key, Node)> = Vec::new();
    let mut put = |k: Key, v: Node| {
        entries.retain(|(e, _)| e.name != k.name);
        entries.push((k, v));
    };
    match &node.kind {
        NodeKind::Map(map) => {
            for (k, v) in map {
                let value = match &v.kind {
                    _ if v.is_null() => Node::plain("null", v.span.clone()),
                    NodeKind::Scalar { value, .. } => {
                        let mut s = Node::string(value.clone(), v.span.clone());
                        s.raw = v.raw.clone();
                        s
                    }
                    _ => return Err(err(v, &format!("{path}.{}", k.name), "expected a string, number or boolean")),
                };
                put(k.clone(), value);
            }
        }
        NodeKind::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                let text = scalar(item, &format!("{path}[{i}]"), "a KEY=VALUE string")?;
                if text.split(sep).next().is_none_or(|k| k.trim().is_empty()) {
                    return Err(err(item, &format!("{path}[{i}]"), format!("{text:?} has no name before `{sep}`")));
                }
                match text.split_once(sep) {
                    Some((k, v)) => {
                        let mut value = Node::string(v, item.span.clone());
                        value.raw = item.raw.as_ref().and_then(|r| r.split_once(sep)).map(|(_, r)| r.to_string());
                        put(key(k.trim(), &item.span), value)
                    }
                    None => put(key(text.trim(), &item.span), Node::plain("null", item.span.clone())),
                }
            }
        }
        _ if node.is_null() => {}
        _ => return Err(err(node, path, format!("expected a mapping or a list, found {}", node.kind_name()))),
    }
    Ok(Node::map(entries, node.span.clone()))
}

/// A list of strings (`cap_add`, `expose`, `dns`, …); a single string is accepted where compose allows it.
pub fn string_list(node: &Node, path: &str) -> Result<Node> {
    let items = match &node.kind {
        NodeKind::Seq(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| Ok(Node::string(scalar(item, &format!("{path}[{i}]"), "a string")?, item.span.clone())))
            .collect::<Result<Vec<_>>>()?,
        NodeKind::Scalar { value, .. } if !node.is_null() => vec![Node::string(value.clone(), node.span.clone())],
        _ if node.is_null() => Vec::new(),
        _ => return Err(err(node, path, format!("expected a list of strings, found {}", node.kind_name()))),
    };
    Ok(Node::seq(items, node.span.clone()))
}

/// `ports`: `"3000"`, `"3001:3000"`, `"127.0.0.1:8080:80/udp"`, `"9000-9001:9000-9001"`, integers, or long syntax.
pub fn ports(node: &Node, path: &str) -> Result<Node> {
    let Some(items) = node.as_seq() else {
        return Err(err(node, path, format!("expected a list of ports, found {}", node.kind_name())));
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let p = format!("{path}[{i}]");
        match &item.kind {
            NodeKind::Map(_) => out.push(long_port(item, &p)?),
            NodeKind::Scalar { value, .. } => {
                for port in parse_short_port(value).map_err(|m| err(item, &p, m))? {
                    out.push(port.to_node(&item.span));
                }
            }
            NodeKind::Seq(_) => return Err(err(item, &p, "expected a port string or mapping")),
        }
    }
    Ok(Node::seq(out, node.span.clone()))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShortPort {
    pub host_ip: Option<String>,
    pub published: Option<String>,
    pub target: u32,
    pub protocol: String,
}

impl ShortPort {
    fn to_node(&self, span: &Span) -> Node {
        let mut entries = vec![(key("mode", span), Node::string("ingress", span.clone()))];
        if let Some(ip) = &self.host_ip {
            entries.push((key("host_ip", span), Node::string(ip.clone(), span.clone())));
        }
        entries.push((key("target", span), Node::plain(self.target.to_string(), span.clone())));
        if let Some(p) = &self.published {
            entries.push((key("published", span), Node::string(p.clone(), span.clone())));
        }
        entries.push((key("protocol", span), Node::string(self.protocol.clone(), span.clone())));
        Node::map(entries, span.clone())
    }
}

fn parse_range(s: &str) -> std::result::Result<(u32, u32), String> {
    let num =
        |x: &str| x.trim().parse::<u32>().ok().filter(|n| *n <= 65535).ok_or_else(|| format!("invalid port {x:?}"));
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (num(a)?, num(b)?);
            if b < a {
                return Err(format!("invalid port range {s:?}"));
            }
            Ok((a, b))
        }
        None => num(s).map(|n| (n, n)),
    }
}

pub fn parse_short_port(spec: &str) -> std::result::Result<Vec<ShortPort>, String> {
    let (rest, protocol) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p.to_string()),
        None => (spec, "tcp".to_string()),
    };
    // An IPv6 host address is written in brackets: `[::1]:8080:80`.
    let (host_ip, rest) = if let Some(stripped) = rest.strip_prefix('[') {
        let (ip, after) = stripped.split_once(']').ok_or_else(|| format!("invalid port {spec:?}: unclosed `[`"))?;
        (Some(ip.to_string()), after.strip_prefix(':').unwrap_or(after))
    } else {
        (None, rest)
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (host_ip, published, target) = match (host_ip, parts.as_slice()) {
        (None, [t]) => (None, None, *t),
        (None, [p, t]) => (None, Some(*p), *t),
        (None, [ip, p, t]) => (Some(ip.to_string()), Some(*p), *t),
        (Some(ip), [p, t]) => (Some(ip), Some(*p), *t),
        _ => return Err(format!("invalid port {spec:?}: expected [[HOST_IP:]PUBLISHED:]TARGET[/PROTOCOL]")),
    };
    // `HOST_IP::TARGET` asks for a random host port; an empty published port anywhere else is a typo.
    if published == Some("") && host_ip.is_none() {
        return Err(format!("invalid port {spec:?}: empty published port"));
    }
    let published = published.filter(|p| !p.is_empty());
    let (t0, t1) = parse_range(target)?;
    let host_ip = host_ip.filter(|ip| !ip.is_empty());
    match published {
        None => Ok((t0..=t1)
            .map(|t| ShortPort { host_ip: host_ip.clone(), published: None, target: t, protocol: protocol.clone() })
            .collect()),
        Some(p) => {
            let (p0, p1) = parse_range(p)?;
            if p1 - p0 == t1 - t0 {
                Ok((0..=(t1 - t0))
                    .map(|i| ShortPort {
                        host_ip: host_ip.clone(),
                        published: Some((p0 + i).to_string()),
                        target: t0 + i,
                        protocol: protocol.clone(),
                    })
                    .collect())
            } else if t0 == t1 {
                // A published range for one target: Docker picks one port from the range.
                Ok(vec![ShortPort { host_ip, published: Some(p.to_string()), target: t0, protocol }])
            } else {
                Err(format!("invalid port {spec:?}: published and target ranges differ in size"))
            }
        }
    }
}

fn long_port(node: &Node, path: &str) -> Result<Node> {
    let mut out = vec![];
    let span = &node.span;
    let get = |k: &str| node.get(k);
    let mode = get("mode").cloned().unwrap_or_else(|| Node::string("ingress", span.clone()));
    out.push((key("mode", span), mode));
    if let Some(ip) = get("host_ip") {
        out.push((
            key("host_ip", span),
            Node::string(scalar(ip, &format!("{path}.host_ip"), "an IP address")?, ip.span.clone()),
        ));
    }
    let target = get("target").ok_or_else(|| err(node, path, "a port needs `target`"))?;
    let t = scalar(target, &format!("{path}.target"), "a port number")?;
    if t.parse::<u32>().ok().filter(|n| *n <= 65535).is_none() {
        return Err(err(target, &format!("{path}.target"), format!("invalid port {t:?}")));
    }
    out.push((key("target", span), Node::plain(t, target.span.clone())));
    if let Some(p) = get("published") {
        let text = scalar(p, &format!("{path}.published"), "a port")?;
        parse_range(text).map_err(|m| err(p, &format!("{path}.published"), m))?;
        out.push((key("published", span), Node::string(text, p.span.clone())));
    }
    let protocol = get("protocol").cloned().unwrap_or_else(|| Node::string("tcp", span.clone()));
    out.push((key("protocol", span), protocol));
    keep_other_keys(node, &mut out);
    Ok(Node::map(out, span.clone()))
}

/// Copies the keys of `node` that `out` lacks, as written: extensions (`x-*`) are kept, and anything else is
/// left for the schema check of the merged model to report, not dropped.
fn keep_other_keys(node: &Node, out: &mut Vec<(Key, Node)>) {
    for (k, v) in node.as_map().unwrap_or(&[]) {
        if !out.iter().any(|(o, _)| o.name == k.name) {
            out.push((k.clone(), v.clone()));
        }
    }
}

/// `volumes` of a service: `./src:/dst:ro`, `name:/dst`, `/anon`, or long syntax. Relative bind sources
/// are resolved against the project directory, `~` against $HOME, as Compose does.
pub fn volumes(node: &Node, path: &str, project_dir: &Path) -> Result<Node> {
    let Some(items) = node.as_seq() else {
        return Err(err(node, path, format!("expected a list of volumes, found {}", node.kind_name())));
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let span = &item.span;
        match &item.kind {
            NodeKind::Scalar { value, .. } => {
                let (source, target, mode) = split_volume(value).map_err(|m| err(item, &p, m))?;
                let mut entries = Vec::new();
                match source {
                    None => {
                        entries.push((key("type", span), Node::string("volume", span.clone())));
                        entries.push((key("target", span), Node::string(target, span.clone())));
                    }
                    Some(src) => {
                        let is_path = src.starts_with('.') || src.starts_with('/') || src.starts_with('~');
                        let kind = if is_path { "bind" } else { "volume" };
                        entries.push((key("type", span), Node::string(kind, span.clone())));
                        let src = if is_path { resolve_path(&src, project_dir) } else { src };
                        entries.push((key("source", span), Node::string(src, span.clone())));
                        entries.push((key("target", span), Node::string(target, span.clone())));
                        let opts: Vec<&str> =
                            mode.as_deref().unwrap_or("").split(',').filter(|o| !o.is_empty()).collect();
                        if opts.contains(&"ro") {
                            entries.push((key("read_only", span), Node::plain("true", span.clone())));
                        }
                        // Compose keeps the SELinux relabel option on named volumes too, under `bind`.
                        let selinux = opts.iter().find(|o| **o == "z" || **o == "Z");
                        let propagation = opts.iter().find(|o| PROPAGATIONS.contains(o));
                        if is_path || selinux.is_some() {
                            let mut bind = Vec::new();
                            if let Some(p) = propagation.filter(|_| is_path) {
                                bind.push((key("propagation", span), Node::string(*p, span.clone())));
                            }
                            if is_path {
                                bind.push((key("create_host_path", span), Node::plain("true", span.clone())));
                            }
                            if let Some(sel) = selinux {
                                bind.push((key("selinux", span), Node::string(*sel, span.clone())));
                            }
                            entries.push((key("bind", span), Node::map(bind, span.clone())));
                        }
                        if !is_path && opts.contains(&"nocopy") {
                            let volume = vec![(key("nocopy", span), Node::plain("true", span.clone()))];
                            entries.push((key("volume", span), Node::map(volume, span.clone())));
                        }
                    }
                }
                out.push(Node::map(entries, span.clone()));
            }
            NodeKind::Map(map) => {
                let kind = item.get("type").and_then(Node::as_str).unwrap_or("volume");
                if !matches!(kind, "bind" | "volume" | "tmpfs" | "npipe" | "cluster" | "image") {
                    return Err(err(item, &format!("{p}.type"), format!("unknown volume type {kind:?}")));
                }
                if item.get("target").is_none() {
                    return Err(err(item, &p, "a volume needs `target`"));
                }
                let mut entries: Vec<(Key, Node)> = map.clone();
                if kind == "bind" {
                    for (k, v) in entries.iter_mut() {
                        if k.name == "source" {
                            let src = scalar(v, &format!("{p}.source"), "a path")?;
                            *v = Node::string(resolve_path(src, project_dir), v.span.clone());
                        }
                    }
                }
                if item.get("type").is_none() {
                    entries.insert(0, (key("type", span), Node::string(kind, span.clone())));
                }
                out.push(Node::map(entries, span.clone()));
            }
            NodeKind::Seq(_) => return Err(err(item, &p, "expected a volume string or mapping")),
        }
    }
    Ok(Node::seq(out, node.span.clone()))
}

/// Mount propagation modes a short-syntax bind may carry in its options (`/mnt:/mnt:ro,rslave`).
const PROPAGATIONS: &[&str] = &["shared", "rshared", "slave", "rslave", "private", "rprivate"];

/// Splits `SOURCE:TARGET[:MODE]`, minding Windows drive letters is out of scope (Linux hosts).
fn split_volume(spec: &str) -> std::result::Result<(Option<String>, String, Option<String>), String> {
    let parts: Vec<&str> = spec.split(':').collect();
    match parts.as_slice() {
        [t] if !t.is_empty() => Ok((None, t.to_string(), None)),
        [s, t] if !s.is_empty() && !t.is_empty() => Ok((Some(s.to_string()), t.to_string(), None)),
        [s, t, m] if !s.is_empty() && !t.is_empty() => Ok((Some(s.to_string()), t.to_string(), Some(m.to_string()))),
        _ => Err(format!("invalid volume {spec:?}: expected [SOURCE:]TARGET[:MODE]")),
    }
}

pub fn resolve_path(src: &str, base: &Path) -> String {
    if let Some(rest) = src.strip_prefix("~/").or_else(|| (src == "~").then_some("")) {
        let home = std::env::var("HOME").unwrap_or_else(|_| "/".into());
        return Path::new(&home).join(rest).display().to_string().trim_end_matches('/').to_string();
    }
    let joined = base.join(src);
    // Lexical clean-up (no filesystem access: the path may not exist on this machine).
    let mut parts: Vec<std::path::Component> = Vec::new();
    for c in joined.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir if matches!(parts.last(), Some(std::path::Component::Normal(_))) => {
                parts.pop();
            }
            // `/..` is `/`.
            std::path::Component::ParentDir if matches!(parts.last(), Some(std::path::Component::RootDir)) => {}
            other => parts.push(other),
        }
    }
    parts.iter().collect::<std::path::PathBuf>().display().to_string()
}

/// `depends_on`: a list of names or a mapping; both become `name: {condition, required}`.
pub fn depends_on(node: &Node, path: &str) -> Result<Node> {
    let mut entries = Vec::new();
    let entry = |name: &str, span: &Span| {
        let m = vec![
            (key("condition", span), Node::string("service_started", span.clone())),
            (key("required", span), Node::plain("true", span.clone())),
        ];
        (key(name, span), Node::map(m, span.clone()))
    };
    match &node.kind {
        NodeKind::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                let name = scalar(item, &format!("{path}[{i}]"), "a service name")?;
                entries.push(entry(name, &item.span));
            }
        }
        NodeKind::Map(map) => {
            for (k, v) in map {
                let p = format!("{path}.{}", k.name);
                if v.as_map().is_none() && !v.is_null() {
                    return Err(err(
                        v,
                        &p,
                        format!("expected a mapping like {{condition: service_healthy}}, found {}", v.kind_name()),
                    ));
                }
                // Only what is written: an override that sets `required` keeps the base's `condition`
                // (compose-go merges first and fills the defaults in after, see `project::apply_defaults`).
                if let Some(c) = v.get("condition") {
                    let condition = scalar(c, &format!("{p}.condition"), "a condition")?;
                    if !matches!(condition, "service_started" | "service_healthy" | "service_completed_successfully") {
                        return Err(err(c, &format!("{p}.condition"), format!(
                            "unknown condition {condition:?}: use service_started, service_healthy or service_completed_successfully"
                        )));
                    }
                }
                let mut m = Vec::new();
                for name in ["condition", "required", "restart"] {
                    if let Some(value) = v.get(name) {
                        m.push((key(name, &value.span), value.clone()));
                    }
                }
                keep_other_keys(v, &mut m);
                let e = (k.clone(), Node::map(m, v.span.clone()));
                entries.push(e);
            }
        }
        _ => {
            return Err(err(node, path, format!("expected a list or mapping of services, found {}", node.kind_name())))
        }
    }
    Ok(Node::map(entries, node.span.clone()))
}

/// Service `networks`: a list of names or a mapping of name to options (or null).
pub fn service_networks(node: &Node, path: &str) -> Result<Node> {
    match &node.kind {
        NodeKind::Seq(items) => {
            let mut entries = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let name = scalar(item, &format!("{path}[{i}]"), "a network name")?;
                entries.push((key(name, &item.span), Node::plain("null", item.span.clone())));
            }
            Ok(Node::map(entries, node.span.clone()))
        }
        NodeKind::Map(_) => Ok(node.clone()),
        _ => Err(err(node, path, format!("expected a list or mapping of networks, found {}", node.kind_name()))),
    }
}

/// `env_file`: a path, a list of paths, or a list of `{path, required}`; all become `{path, required}` with absolute paths.
pub fn env_files(node: &Node, path: &str, base: &Path) -> Result<Node> {
    let items: Vec<&Node> = match &node.kind {
        NodeKind::Seq(items) => items.iter().collect(),
        _ => vec![node],
    };
    let mut out = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let p = format!("{path}[{i}]");
        let (file, required) = match &item.kind {
            NodeKind::Map(_) => {
                let f = item.get("path").ok_or_else(|| err(item, &p, "an env_file entry needs `path`"))?;
                (
                    scalar(f, &format!("{p}.path"), "a path")?,
                    item.get("required").and_then(Node::as_bool).unwrap_or(true),
                )
            }
            _ => (scalar(item, &p, "a path")?, true),
        };
        let span = &item.span;
        let mut entry = vec![
            (key("path", span), Node::string(resolve_path(file, base), span.clone())),
            (key("required", span), Node::plain(required.to_string(), span.clone())),
        ];
        keep_other_keys(item, &mut entry);
        out.push(Node::map(entry, span.clone()));
    }
    Ok(Node::seq(out, node.span.clone()))
}

/// `healthcheck.test` given as a string means `CMD-SHELL`.
pub fn healthcheck(node: &Node, path: &str) -> Result<Node> {
    let Some(entries) = node.as_map() else {
        return Err(err(node, path, format!("expected a mapping, found {}", node.kind_name())));
    };
    let mut out = Vec::new();
    for (k, v) in entries {
        let v = match (k.name.as_str(), &v.kind) {
            ("test", NodeKind::Scalar { value, .. }) if !v.is_null() => Node::seq(
                vec![Node::string("CMD-SHELL", v.span.clone()), Node::string(value.clone(), v.span.clone())],
                v.span.clone(),
            ),
            ("test", NodeKind::Seq(_)) => string_list(v, &format!("{path}.test"))?,
            ("disable", _) => {
                if v.as_bool().is_none() {
                    return Err(err(v, &format!("{path}.disable"), "expected true or false"));
                }
                v.clone()
            }
            _ => v.clone(),
        };
        out.push((k.clone(), v));
    }
    Ok(Node::map(out, node.span.clone()))
}

/// `environment`: like [`key_value_map`], but a name written with a space before `=` is refused, as
/// Compose v2 does (`- KEY = value` is almost always a typo for `KEY=value`).
pub fn environment(node: &Node, path: &str) -> Result<Node> {
    if let Some(items) = node.as_seq() {
        for (i, item) in items.iter().enumerate() {
            if let Some((name, _)) = item.as_str().and_then(|t| t.split_once('=')) {
                if name.ends_with(char::is_whitespace) {
                    return Err(err(
                        item,
                        &format!("{path}[{i}]"),
                        format!("environment variable {} is declared with a trailing space", name.trim()),
                    ));
                }
            }
        }
    }
    key_value_map(node, path, '=')
}

/// `labels` / `annotations`: a mapping of strings, where a bare name is an empty label (not null).
pub fn labels(node: &Node, path: &str) -> Result<Node> {
    let mut map = key_value_map(node, path, '=')?;
    if let NodeKind::Map(entries) = &mut map.kind {
        for (_, v) in entries.iter_mut() {
            if v.is_null() {
                *v = Node::string("", v.span.clone());
            }
        }
    }
    Ok(map)
}

/// `extra_hosts`: `host:ip`, `host=ip` or a mapping (whose value may be a list of addresses), as Compose's
/// list of `host=ip`, sorted. A host may appear with several addresses.
pub fn extra_hosts(node: &Node, path: &str) -> Result<Node> {
    let mut hosts: Vec<Node> = Vec::new();
    match &node.kind {
        NodeKind::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                let text = scalar(item, &format!("{path}[{i}]"), "a host:address string")?;
                let pair = text.split_once('=').or_else(|| text.split_once(':'));
                let Some((host, ip)) = pair.filter(|(h, _)| !h.trim().is_empty()) else {
                    return Err(err(item, &format!("{path}[{i}]"), format!("{text:?} is not host:address")));
                };
                hosts.push(Node::string(format!("{}={}", host.trim(), ip.trim()), item.span.clone()));
            }
        }
        NodeKind::Map(entries) => {
            for (k, v) in entries {
                let addresses: Vec<&Node> = match &v.kind {
                    NodeKind::Seq(items) => items.iter().collect(),
                    _ => vec![v],
                };
                for a in addresses {
                    let ip = scalar(a, &format!("{path}.{}", k.name), "an address")?;
                    hosts.push(Node::string(format!("{}={ip}", k.name), a.span.clone()));
                }
            }
        }
        _ => return Err(err(node, path, format!("expected a list or mapping of hosts, found {}", node.kind_name()))),
    }
    hosts.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    Ok(Node::seq(hosts, node.span.clone()))
}

/// `command` / `entrypoint` written as one string: split into words the way Compose does (shell quoting
/// rules, no expansion), so the runtime and every rule see the argument vector Docker gets.
pub fn shell_command(node: &Node, path: &str) -> Result<Node> {
    match &node.kind {
        NodeKind::Scalar { value, .. } => {
            let words = split_shell_words(value).map_err(|m| err(node, path, m))?;
            Ok(Node::seq(words.into_iter().map(|w| Node::string(w, node.span.clone())).collect(), node.span.clone()))
        }
        _ => string_list(node, path),
    }
}

/// Splits like a POSIX shell does before expansion: blanks separate words, `'…'` is literal, `"…"` allows
/// `\"`, `\\`, `\$` and `` \` `` escapes, a backslash outside quotes escapes the next character.
pub fn split_shell_words(text: &str) -> std::result::Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => word.push(ch),
                        None => return Err(format!("unclosed single quote in {text:?}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch @ ('"' | '\\' | '$' | '`')) => word.push(ch),
                            Some('\n') => {}
                            Some(ch) => {
                                word.push('\\');
                                word.push(ch);
                            }
                            None => return Err(format!("unclosed double quote in {text:?}")),
                        },
                        Some(ch) => word.push(ch),
                        None => return Err(format!("unclosed double quote in {text:?}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(ch) => word.push(ch),
                    None => word.push('\\'),
                }
            }
            other => {
                in_word = true;
                word.push(other);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// `devices`: `HOST[:CONTAINER[:PERMISSIONS]]` as `{source, target, permissions}` (default `rwm`), so
/// files merge them by target as Compose does.
pub fn devices(node: &Node, path: &str) -> Result<Node> {
    let Some(items) = node.as_seq() else {
        return Err(err(node, path, format!("expected a list of devices, found {}", node.kind_name())));
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let p = format!("{path}[{i}]");
        if item.as_map().is_some() {
            out.push(item.clone());
            continue;
        }
        let text = scalar(item, &p, "a device")?;
        let parts: Vec<&str> = text.split(':').collect();
        let (source, target, permissions) = match parts.as_slice() {
            [s] => (*s, *s, "rwm"),
            [s, t] => (*s, *t, "rwm"),
            [s, t, m] => (*s, *t, *m),
            _ => {
                return Err(err(item, &p, format!("invalid device {text:?}: expected HOST[:CONTAINER[:PERMISSIONS]]")))
            }
        };
        let span = &item.span;
        out.push(Node::map(
            vec![
                (key("source", span), Node::string(source, span.clone())),
                (key("target", span), Node::string(target, span.clone())),
                (key("permissions", span), Node::string(permissions, span.clone())),
            ],
            span.clone(),
        ));
    }
    Ok(Node::seq(out, node.span.clone()))
}

/// Service `secrets` / `configs` in short syntax become `{source}`; a secret also gets its default
/// target under `/run/secrets`, as Compose prints it.
pub fn service_files(node: &Node, path: &str, default_dir: Option<&str>) -> Result<Node> {
    let Some(items) = node.as_seq() else {
        return Err(err(node, path, format!("expected a list, found {}", node.kind_name())));
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let mut entries: Vec<(Key, Node)> = match &item.kind {
            NodeKind::Map(entries) => entries.clone(),
            _ => {
                let name = scalar(item, &format!("{path}[{i}]"), "a name")?;
                vec![(key("source", &item.span), Node::string(name, item.span.clone()))]
            }
        };
        if let Some(dir) = default_dir {
            let source =
                entries.iter().find(|(k, _)| k.name == "source").and_then(|(_, v)| v.as_str().map(str::to_string));
            let has_target = entries.iter().any(|(k, _)| k.name == "target");
            if let (Some(s), false) = (source, has_target) {
                entries.push((key("target", &item.span), Node::string(format!("{dir}/{s}"), item.span.clone())));
            }
        }
        out.push(Node::map(entries, item.span.clone()));
    }
    Ok(Node::seq(out, node.span.clone()))
}

/// `gpus: all` is `[{count: -1}]`, Compose's long form.
pub fn gpus(node: &Node) -> Node {
    match node.as_str() {
        Some("all") => {
            let span = &node.span;
            Node::seq(
                vec![Node::map(vec![(key("count", span), Node::plain("-1", span.clone()))], span.clone())],
                span.clone(),
            )
        }
        _ => node.clone(),
    }
}

/// `build`: a context path or a mapping; both become a mapping with an absolute `context`, a `dockerfile`
/// (default `Dockerfile`), and `args`/`labels` as mappings.
pub fn build(node: &Node, path: &str, base: &Path) -> Result<Node> {
    let span = &node.span;
    let mut entries: Vec<(Key, Node)> = match &node.kind {
        NodeKind::Scalar { value, .. } => vec![(key("context", span), Node::string(value.clone(), span.clone()))],
        NodeKind::Map(entries) => entries.clone(),
        NodeKind::Seq(_) => return Err(err(node, path, "expected a context path or a mapping")),
    };
    match entries.iter().position(|(k, _)| k.name == "context") {
        Some(i) => {
            let ctx = scalar(&entries[i].1, &format!("{path}.context"), "a path")?.to_string();
            // A remote context (git URL) stays as written.
            if !ctx.contains("://") && !ctx.starts_with("git@") {
                let s = entries[i].1.span.clone();
                entries[i].1 = Node::string(resolve_path(&ctx, base), s);
            }
        }
        None => entries.insert(0, (key("context", span), Node::string(resolve_path(".", base), span.clone()))),
    }
    if !entries.iter().any(|(k, _)| k.name == "dockerfile" || k.name == "dockerfile_inline") {
        entries.push((key("dockerfile", span), Node::string("Dockerfile", span.clone())));
    }
    for (k, v) in entries.iter_mut() {
        if matches!(k.name.as_str(), "args" | "labels") && v.tag.is_none() && !v.is_null() {
            *v = key_value_map(v, &format!("{path}.{}", k.name), '=')?;
        }
    }
    Ok(Node::map(entries, span.clone()))
}

/// `deploy`: `labels` as a mapping.
pub fn deploy(node: &Node, path: &str) -> Result<Node> {
    let mut out = node.clone();
    if let NodeKind::Map(entries) = &mut out.kind {
        for (k, v) in entries.iter_mut() {
            if k.name == "labels" && v.tag.is_none() && !v.is_null() {
                *v = labels(v, &format!("{path}.labels"))?;
            }
        }
    }
    Ok(out)
}

/// Top-level `networks`, `volumes`, `secrets` and `configs`: labels as mappings, `file` made absolute.
pub fn top_level_resources(root: &mut Node, base: &Path) -> Result<()> {
    let NodeKind::Map(sections) = &mut root.kind else { return Ok(()) };
    for (section, value) in sections.iter_mut() {
        if !matches!(section.name.as_str(), "networks" | "volumes" | "secrets" | "configs") {
            continue;
        }
        let NodeKind::Map(resources) = &mut value.kind else { continue };
        for (name, resource) in resources.iter_mut() {
            let NodeKind::Map(attrs) = &mut resource.kind else { continue };
            for (k, v) in attrs.iter_mut() {
                let p = format!("{}.{}.{}", section.name, name.name, k.name);
                match k.name.as_str() {
                    "labels" if v.tag.is_none() && !v.is_null() => *v = labels(v, &p)?,
                    "file" if matches!(section.name.as_str(), "secrets" | "configs") => {
                        let f = scalar(v, &p, "a path")?.to_string();
                        *v = Node::string(resolve_path(&f, base), v.span.clone());
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ports_per_spec() {
        let one = |s: &str| parse_short_port(s).unwrap();
        assert_eq!(one("3000")[0], ShortPort { host_ip: None, published: None, target: 3000, protocol: "tcp".into() });
        assert_eq!(one("3001:3000")[0].published.as_deref(), Some("3001"));
        let p = &one("127.0.0.1:5000:5000/udp")[0];
        assert_eq!((p.host_ip.as_deref(), p.protocol.as_str()), (Some("127.0.0.1"), "udp"));
        assert_eq!(one("9090-9091:8080-8081").len(), 2);
        assert_eq!(one("127.0.0.1::5000")[0].published, None);
        assert_eq!(one("[::1]:6001:6001")[0].host_ip.as_deref(), Some("::1"));
        assert_eq!(one("8000-9000:80")[0].published.as_deref(), Some("8000-9000"));
        assert!(parse_short_port("70000").is_err());
        assert!(parse_short_port("1:2:3:4").is_err());
        assert!(parse_short_port("abc").is_err());
        assert!(parse_short_port(":80").is_err());
    }

    #[test]
    fn shell_words_like_compose() {
        let w = |s: &str| split_shell_words(s).unwrap();
        assert_eq!(w("--port 8080  --verbose"), ["--port", "8080", "--verbose"]);
        assert_eq!(w(r#"sh -c 'echo "a b"' "x y" z\ w"#), ["sh", "-c", "echo \"a b\"", "x y", "z w"]);
        assert_eq!(w(r#""a\"b" '' """#), ["a\"b", "", ""]);
        assert!(split_shell_words("'open").is_err());
    }

    #[test]
    fn volume_short_syntax() {
        assert_eq!(split_volume("/data").unwrap(), (None, "/data".into(), None));
        assert_eq!(split_volume("./a:/b:ro").unwrap(), (Some("./a".into()), "/b".into(), Some("ro".into())));
        assert!(split_volume("a:b:c:d").is_err());
        assert_eq!(resolve_path("./data/../x", Path::new("/p")), "/p/x");
        assert_eq!(resolve_path("/abs", Path::new("/p")), "/abs");
        assert_eq!(resolve_path("../../../../var/run/docker.sock", Path::new("/p/q")), "/var/run/docker.sock");
    }
}
