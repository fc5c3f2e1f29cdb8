//! Loading Docker Compose files into a [`Project`]: parse, interpolate, normalize to long syntax, resolve
//! `extends`, merge in `-f` order, read per-service `env_file`s, then type what the checks need.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::{ConfigError, Location};
use super::interpolate::interpolate;
use super::merge::merge;
use super::normalize::{self, err, scalar};
use super::yaml::{self, Key, Node, NodeKind, Span};

type Result<T> = std::result::Result<T, ConfigError>;

/// A variable reference found while interpolating, for the `.env.template` rules.
#[derive(Clone, Debug)]
pub struct VariableUse {
    pub name: String,
    pub span: Span,
}

/// The merged compose model.
#[derive(Clone, Debug)]
pub struct Project {
    /// The merged document in long syntax, as `tug config` prints it.
    pub root: Node,
    pub services: Vec<Service>,
    pub networks: Vec<Network>,
    pub variables_used: Vec<VariableUse>,
    pub files: Vec<PathBuf>,
}

#[derive(Clone, Debug)]
pub struct Network {
    pub name: String,
    pub span: Span,
    pub internal: bool,
    pub external: bool,
}

#[derive(Clone, Debug)]
pub struct Service {
    pub name: String,
    /// Where the service's name is written (in the first file that defines it).
    pub span: Span,
    pub node: Node,
    pub image: Option<String>,
    pub build: bool,
    pub profiles: Vec<String>,
    pub ports: Vec<Port>,
    pub volumes: Vec<Mount>,
    pub environment: Vec<EnvVar>,
    pub depends_on: Vec<Dependency>,
    /// Networks the service joins; empty with no `network_mode` means the project's `default` network.
    pub networks: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Port {
    pub host_ip: Option<String>,
    pub published: Option<String>,
    pub target: u32,
    pub protocol: String,
    pub span: Span,
}

impl Port {
    /// Published ports as numbers (a range gives each port in it).
    pub fn published_ports(&self) -> Vec<u32> {
        let Some(p) = &self.published else { return Vec::new() };
        let parse = |s: &str| s.trim().parse::<u32>().ok();
        match p.split_once('-') {
            Some((a, b)) => match (parse(a), parse(b)) {
                (Some(a), Some(b)) => (a..=b).collect(),
                _ => Vec::new(),
            },
            None => parse(p).into_iter().collect(),
        }
    }

    /// Bound to loopback only: not reachable from other machines.
    pub fn is_loopback(&self) -> bool {
        matches!(self.host_ip.as_deref(), Some(ip) if ip.starts_with("127.") || ip == "::1" || ip == "localhost")
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Mount {
    pub kind: String,
    pub source: Option<String>,
    pub target: String,
    pub read_only: bool,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EnvVar {
    pub name: String,
    /// `None` when declared without a value and not set in the environment.
    pub value: Option<String>,
    /// The text before interpolation, when it had variables in it.
    pub raw: Option<String>,
    pub span: Span,
    /// Set when the value came from a service `env_file` rather than the compose file.
    pub from_file: Option<PathBuf>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Dependency {
    pub service: String,
    pub condition: String,
    pub span: Span,
}

/// Everything the loader reads variables from.
pub struct Variables<'a> {
    pub lookup: &'a dyn Fn(&str) -> Option<String>,
}

/// Every attribute the compose specification allows on a service; anything else is a typo.
const SERVICE_KEYS: &[&str] = &[
    "annotations",
    "attach",
    "blkio_config",
    "build",
    "cap_add",
    "cap_drop",
    "cgroup",
    "cgroup_parent",
    "command",
    "configs",
    "container_name",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpu_shares",
    "cpus",
    "cpuset",
    "credential_spec",
    "depends_on",
    "deploy",
    "develop",
    "device_cgroup_rules",
    "devices",
    "dns",
    "dns_opt",
    "dns_search",
    "domainname",
    "driver_opts",
    "entrypoint",
    "env_file",
    "environment",
    "expose",
    "extends",
    "external_links",
    "extra_hosts",
    "gpus",
    "group_add",
    "healthcheck",
    "hostname",
    "image",
    "init",
    "ipc",
    "isolation",
    "labels",
    "label_file",
    "links",
    "logging",
    "mac_address",
    "mem_limit",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "models",
    "network_mode",
    "networks",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "ports",
    "post_start",
    "pre_stop",
    "privileged",
    "profiles",
    "provider",
    "pull_policy",
    "read_only",
    "restart",
    "runtime",
    "scale",
    "secrets",
    "security_opt",
    "shm_size",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "storage_opt",
    "sysctls",
    "tmpfs",
    "tty",
    "ulimits",
    "use_api_socket",
    "user",
    "userns_mode",
    "uts",
    "volumes",
    "volumes_from",
    "working_dir",
];

const TOP_LEVEL_KEYS: &[&str] =
    &["version", "name", "services", "networks", "volumes", "secrets", "configs", "include", "models"];

const BOOL_KEYS: &[&str] =
    &["privileged", "read_only", "init", "tty", "stdin_open", "oom_kill_disable", "use_api_socket"];
const STRING_KEYS: &[&str] = &[
    "image",
    "user",
    "network_mode",
    "pid",
    "ipc",
    "restart",
    "container_name",
    "hostname",
    "working_dir",
    "platform",
    "pull_policy",
    "userns_mode",
    "stop_signal",
    "stop_grace_period",
    "runtime",
    "uts",
    "cgroup",
];
const STRING_LIST_KEYS: &[&str] = &[
    "cap_add",
    "cap_drop",
    "security_opt",
    "profiles",
    "dns",
    "dns_search",
    "expose",
    "tmpfs",
    "group_add",
    "devices_cgroup_rules",
    "external_links",
    "links",
    "volumes_from",
];

/// Reads one compose file: parse, interpolate every scalar value, check the top level, normalize services.
pub fn load_file(path: &Path, project_dir: &Path, vars: &Variables, used: &mut Vec<VariableUse>) -> Result<Node> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    let file = Arc::new(path.to_path_buf());
    let mut root = yaml::parse(&text, &file)?;
    if root.is_null() {
        root = Node::map(Vec::new(), root.span.clone());
    }
    if root.as_map().is_none() {
        return Err(err(&root, "", format!("a compose file must be a mapping, found {}", root.kind_name())));
    }
    let mut errors = Vec::new();
    interpolate_node(&mut root, "", vars, used, &mut errors);
    ConfigError::collect(errors)?;

    let mut errors = Vec::new();
    let NodeKind::Map(entries) = &mut root.kind else { return Ok(root) };
    for (k, v) in entries.iter_mut() {
        if !TOP_LEVEL_KEYS.contains(&k.name.as_str()) && !k.name.starts_with("x-") {
            errors.push(ConfigError::at(
                Location::new(k.span.clone(), k.name.clone()),
                format!("unknown top-level key `{}`", k.name),
            ));
            continue;
        }
        if k.name == "services" {
            if v.is_null() {
                *v = Node::map(Vec::new(), v.span.clone());
            }
            let NodeKind::Map(services) = &mut v.kind else {
                errors.push(err(v, "services", format!("expected a mapping of services, found {}", v.kind_name())));
                continue;
            };
            for (name, service) in services.iter_mut() {
                let path = format!("services.{}", name.name);
                match normalize_service(service, &path, project_dir) {
                    Ok(n) => *service = n,
                    Err(e) => errors.push(e),
                }
            }
        }
    }
    ConfigError::collect(errors)?;
    Ok(root)
}

fn interpolate_node(
    node: &mut Node,
    path: &str,
    vars: &Variables,
    used: &mut Vec<VariableUse>,
    errors: &mut Vec<ConfigError>,
) {
    match &mut node.kind {
        NodeKind::Scalar { value, quoted } => {
            if !value.contains('$') {
                return;
            }
            let mut names = Vec::new();
            match interpolate(value, vars.lookup, &mut names) {
                Ok(new) => {
                    node.raw = Some(std::mem::replace(value, new));
                }
                Err(e) => {
                    let mut span = node.span.clone();
                    if !*quoted {
                        span.col += value.get(..e.offset).map_or(0, |v| v.chars().count()) as u32;
                    }
                    errors.push(ConfigError::at(Location::new(span, path), e.message));
                }
            }
            used.extend(names.into_iter().map(|name| VariableUse { name, span: node.span.clone() }));
        }
        NodeKind::Seq(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate_node(item, &format!("{path}[{i}]"), vars, used, errors);
            }
        }
        NodeKind::Map(entries) => {
            for (k, v) in entries.iter_mut() {
                let child = if path.is_empty() { k.name.clone() } else { format!("{path}.{}", k.name) };
                interpolate_node(v, &child, vars, used, errors);
            }
        }
    }
}

fn normalize_service(service: &Node, path: &str, project_dir: &Path) -> Result<Node> {
    if service.is_null() {
        return Ok(Node::map(Vec::new(), service.span.clone()));
    }
    let Some(entries) = service.as_map() else {
        return Err(err(service, path, format!("a service must be a mapping, found {}", service.kind_name())));
    };
    let mut out = Vec::with_capacity(entries.len());
    let mut errors = Vec::new();
    for (k, v) in entries {
        let p = format!("{path}.{}", k.name);
        let name = k.name.as_str();
        let normalized = if !SERVICE_KEYS.contains(&name) && !name.starts_with("x-") {
            Err(ConfigError::at(
                Location::new(k.span.clone(), p.clone()),
                format!("unknown service attribute `{name}`"),
            ))
        } else if v.tag.is_some() || v.is_null() && name != "environment" {
            Ok(v.clone())
        } else {
            match name {
                "environment" | "labels" | "annotations" | "sysctls" => normalize::key_value_map(v, &p, '='),
                "extra_hosts" => normalize::key_value_map(v, &p, ':').or_else(|_| normalize::key_value_map(v, &p, '=')),
                "ports" => normalize::ports(v, &p),
                "volumes" => normalize::volumes(v, &p, project_dir),
                "depends_on" => normalize::depends_on(v, &p),
                "networks" => normalize::service_networks(v, &p),
                "env_file" => normalize::env_files(v, &p, project_dir),
                "healthcheck" => normalize::healthcheck(v, &p),
                "build" => Ok(normalize_build(v, project_dir)),
                _ if BOOL_KEYS.contains(&name) => match v.as_bool() {
                    Some(_) => Ok(v.clone()),
                    None => Err(err(
                        v,
                        &p,
                        format!("expected true or false, found {:?}", v.as_str().unwrap_or(v.kind_name())),
                    )),
                },
                _ if STRING_KEYS.contains(&name) => scalar(v, &p, "a string").map(|_| v.clone()),
                _ if STRING_LIST_KEYS.contains(&name) => normalize::string_list(v, &p),
                _ => Ok(v.clone()),
            }
        };
        match normalized {
            Ok(n) => out.push((k.clone(), n)),
            Err(e) => errors.push(e),
        }
    }
    ConfigError::collect(errors)?;
    Ok(Node::map(out, service.span.clone()))
}

fn normalize_build(v: &Node, project_dir: &Path) -> Node {
    match v.as_str() {
        Some(ctx) => {
            let span = &v.span;
            Node::map(
                vec![
                    (
                        Key { name: "context".into(), span: span.clone() },
                        Node::string(normalize::resolve_path(ctx, project_dir), span.clone()),
                    ),
                    (Key { name: "dockerfile".into(), span: span.clone() }, Node::string("Dockerfile", span.clone())),
                ],
                span.clone(),
            )
        }
        None => v.clone(),
    }
}

/// Loads and merges `files` in order, resolves `extends`, reads `env_file`s and types the services.
pub fn load_project(files: &[PathBuf], project_dir: &Path, vars: &Variables) -> Result<Project> {
    let mut used = Vec::new();
    let mut merged: Option<Node> = None;
    let mut cache: HashMap<PathBuf, Node> = HashMap::new();
    for file in files {
        let mut doc = load_file(file, project_dir, vars, &mut used)?;
        cache.insert(file.clone(), doc.clone());
        resolve_extends(&mut doc, file, project_dir, vars, &mut used, &mut cache)?;
        merged = Some(match merged {
            None => doc,
            Some(base) => merge(base, doc, &[]),
        });
    }
    let mut root = merged.ok_or_else(|| ConfigError::Other("no compose file to load".into()))?;
    if root.get("services").is_none_or(|s| s.as_map().is_none_or(<[_]>::is_empty)) {
        return Err(err(&root, "services", "no services defined"));
    }
    let env_files = resolve_env_files(&mut root, vars)?;
    let networks = networks(&root);
    let services = typed_services(&root, &env_files)?;
    check_references(&services, &networks)?;
    check_dependency_cycles(&services)?;
    Ok(Project { root, services, networks, variables_used: used, files: files.to_vec() })
}

/// `extends: {service, file}` or `extends: name`: the base is merged under the service, recursively, and a
/// cycle is an error naming the chain.
fn resolve_extends(
    doc: &mut Node,
    file: &Path,
    project_dir: &Path,
    vars: &Variables,
    used: &mut Vec<VariableUse>,
    cache: &mut HashMap<PathBuf, Node>,
) -> Result<()> {
    let names: Vec<String> = doc
        .get("services")
        .and_then(Node::as_map)
        .map(|m| m.iter().map(|(k, _)| k.name.clone()).collect())
        .unwrap_or_default();
    for name in names {
        let Some(service) = doc.get("services").and_then(|s| s.get(&name)).cloned() else { continue };
        if service.get("extends").is_none() {
            continue;
        }
        let mut chain = vec![(file.to_path_buf(), name.clone())];
        let resolved = extend_service(service, file, project_dir, vars, used, cache, &mut chain)?;
        if let Some(NodeKind::Map(services)) = doc_services_mut(doc) {
            if let Some(slot) = services.iter_mut().find(|(k, _)| k.name == name) {
                slot.1 = resolved;
            }
        }
    }
    Ok(())
}

fn doc_services_mut(doc: &mut Node) -> Option<&mut NodeKind> {
    let NodeKind::Map(entries) = &mut doc.kind else { return None };
    entries.iter_mut().find(|(k, _)| k.name == "services").map(|(_, v)| &mut v.kind)
}

fn extend_service(
    service: Node,
    file: &Path,
    project_dir: &Path,
    vars: &Variables,
    used: &mut Vec<VariableUse>,
    cache: &mut HashMap<PathBuf, Node>,
    chain: &mut Vec<(PathBuf, String)>,
) -> Result<Node> {
    let Some(ext) = service.get("extends").cloned() else { return Ok(service) };
    let path = format!("services.{}.extends", chain.last().map(|c| c.1.as_str()).unwrap_or(""));
    let path_str = path.clone();
    let (base_name, base_file) = match &ext.kind {
        NodeKind::Scalar { value, .. } => (value.clone(), file.to_path_buf()),
        NodeKind::Map(_) => {
            let s = ext.get("service").ok_or_else(|| err(&ext, &path, "`extends` needs `service`"))?;
            let name = scalar(s, &format!("{path}.service"), "a service name")?.to_string();
            let f = match ext.get("file") {
                Some(f) => PathBuf::from(normalize::resolve_path(
                    scalar(f, &format!("{path}.file"), "a path")?,
                    file.parent().unwrap_or(project_dir),
                )),
                None => file.to_path_buf(),
            };
            (name, f)
        }
        NodeKind::Seq(_) => return Err(err(&ext, &path, "expected a service name or a mapping")),
    };
    if chain.iter().any(|(f, n)| *f == base_file && *n == base_name) {
        let names: Vec<&str> = chain.iter().map(|c| c.1.as_str()).chain([base_name.as_str()]).collect();
        return Err(err(&ext, &path, format!("cyclic `extends`: {}", names.join(" -> "))));
    }
    if !cache.contains_key(&base_file) {
        let doc = load_file(&base_file, project_dir, vars, used).map_err(|e| match e {
            ConfigError::Read { path, source } => {
                err(&ext, &path_str, format!("cannot read {}: {source}", path.display()))
            }
            other => other,
        })?;
        cache.insert(base_file.clone(), doc);
    }
    let base =
        cache.get(&base_file).and_then(|d| d.get("services")).and_then(|s| s.get(&base_name)).cloned().ok_or_else(
            || err(&ext, &path, format!("extends unknown service `{base_name}` in {}", base_file.display())),
        )?;
    chain.push((base_file.clone(), base_name.clone()));
    let base = extend_service(base, &base_file, project_dir, vars, used, cache, chain)?;
    chain.pop();
    let mut own = service;
    if let NodeKind::Map(entries) = &mut own.kind {
        entries.retain(|(k, _)| k.name != "extends");
    }
    // The merge rules for `services.X` apply, so wrap both in that path.
    Ok(merge(base, own, &["services", "_"]))
}

/// Folds each service's `env_file` entries into `environment` (explicit `environment` wins), as Compose does.
/// Returns the env files read per service, so variables can say where they came from.
fn resolve_env_files(root: &mut Node, vars: &Variables) -> Result<HashMap<String, Vec<PathBuf>>> {
    let mut read_files: HashMap<String, Vec<PathBuf>> = HashMap::new();
    let NodeKind::Map(entries) = &mut root.kind else { return Ok(read_files) };
    let Some((_, services)) = entries.iter_mut().find(|(k, _)| k.name == "services") else { return Ok(read_files) };
    let NodeKind::Map(services) = &mut services.kind else { return Ok(read_files) };
    for (service_name, service) in services.iter_mut() {
        let NodeKind::Map(attrs) = &mut service.kind else { continue };
        let files = attrs.iter().position(|(k, _)| k.name == "env_file").map(|i| attrs.remove(i).1);
        let mut from_files: Vec<(Key, Node)> = Vec::new();
        for entry in files.iter().flat_map(|f| f.as_seq().unwrap_or(&[])) {
            let path = entry.get("path").and_then(Node::as_str).unwrap_or_default();
            let required = entry.get("required").and_then(Node::as_bool).unwrap_or(true);
            if !required && !Path::new(path).exists() {
                continue;
            }
            let parsed = super::envfile::read(Path::new(path), vars.lookup).map_err(|e| match e {
                ConfigError::Read { path, source } => ConfigError::at(
                    Location::new(entry.span.clone(), "env_file"),
                    format!("cannot read env_file {}: {source}", path.display()),
                ),
                other => other,
            })?;
            let file = Arc::new(PathBuf::from(path));
            read_files.entry(service_name.name.clone()).or_default().push(PathBuf::from(path));
            for e in parsed {
                let span = Span::new(&file, e.line, 1);
                from_files.retain(|(k, _)| k.name != e.name);
                from_files.push((Key { name: e.name, span: span.clone() }, Node::string(e.value, span)));
            }
        }
        let env_index = attrs.iter().position(|(k, _)| k.name == "environment");
        if from_files.is_empty() && env_index.is_none() {
            continue;
        }
        let mut env = match env_index {
            Some(i) => attrs.remove(i),
            None => (
                Key { name: "environment".into(), span: service.span.clone() },
                Node::map(Vec::new(), service.span.clone()),
            ),
        };
        if let NodeKind::Map(vars_map) = &mut env.1.kind {
            // `KEY` with no value takes the value from the shell or .env, when it is set there.
            for (k, v) in vars_map.iter_mut() {
                if v.is_null() {
                    if let Some(value) = (vars.lookup)(&k.name) {
                        *v = Node::string(value, v.span.clone());
                    }
                }
            }
            for (k, v) in from_files {
                if !vars_map.iter().any(|(e, _)| e.name == k.name) {
                    vars_map.push((k, v));
                }
            }
        }
        attrs.push(env);
    }
    Ok(read_files)
}

fn networks(root: &Node) -> Vec<Network> {
    root.get("networks")
        .and_then(Node::as_map)
        .unwrap_or(&[])
        .iter()
        .map(|(k, v)| Network {
            name: k.name.clone(),
            span: k.span.clone(),
            internal: v.get("internal").and_then(Node::as_bool).unwrap_or(false),
            external: v.get("external").is_some_and(|e| e.as_bool().unwrap_or(true)),
        })
        .collect()
}

fn typed_services(root: &Node, env_files: &HashMap<String, Vec<PathBuf>>) -> Result<Vec<Service>> {
    let services = root.get("services").and_then(Node::as_map).unwrap_or(&[]);
    let mut out = Vec::new();
    for (k, node) in services {
        let name = k.name.clone();
        let strings = |key: &str| -> Vec<String> {
            node.get(key)
                .and_then(Node::as_seq)
                .unwrap_or(&[])
                .iter()
                .filter_map(Node::as_str)
                .map(str::to_string)
                .collect()
        };
        let ports = node
            .get("ports")
            .and_then(Node::as_seq)
            .unwrap_or(&[])
            .iter()
            .map(|p| Port {
                host_ip: p.get("host_ip").and_then(Node::as_str).map(str::to_string),
                published: p.get("published").and_then(Node::as_str).map(str::to_string),
                target: p.get("target").and_then(Node::as_str).and_then(|t| t.parse().ok()).unwrap_or(0),
                protocol: p.get("protocol").and_then(Node::as_str).unwrap_or("tcp").to_string(),
                span: p.span.clone(),
            })
            .collect();
        let volumes = node
            .get("volumes")
            .and_then(Node::as_seq)
            .unwrap_or(&[])
            .iter()
            .map(|v| Mount {
                kind: v.get("type").and_then(Node::as_str).unwrap_or("volume").to_string(),
                source: v.get("source").and_then(Node::as_str).map(str::to_string),
                target: v.get("target").and_then(Node::as_str).unwrap_or("").to_string(),
                read_only: v.get("read_only").and_then(Node::as_bool).unwrap_or(false),
                span: v.span.clone(),
            })
            .collect();
        let files = env_files.get(&k.name).map(Vec::as_slice).unwrap_or(&[]);
        let environment = node
            .get("environment")
            .and_then(Node::as_map)
            .unwrap_or(&[])
            .iter()
            .map(|(k, v)| EnvVar {
                name: k.name.clone(),
                value: (!v.is_null()).then(|| v.as_str().unwrap_or("").to_string()),
                raw: v.raw.clone(),
                span: v.span.clone(),
                from_file: files.iter().find(|f| f.as_path() == k.span.path()).cloned(),
            })
            .collect();
        let depends_on = node
            .get("depends_on")
            .and_then(Node::as_map)
            .unwrap_or(&[])
            .iter()
            .map(|(k, v)| Dependency {
                service: k.name.clone(),
                condition: v.get("condition").and_then(Node::as_str).unwrap_or("service_started").to_string(),
                span: k.span.clone(),
            })
            .collect();
        let networks =
            node.get("networks").and_then(Node::as_map).unwrap_or(&[]).iter().map(|(k, _)| k.name.clone()).collect();
        out.push(Service {
            image: node.get("image").and_then(Node::as_str).map(str::to_string),
            build: node.get("build").is_some(),
            profiles: strings("profiles"),
            ports,
            volumes,
            environment,
            depends_on,
            networks,
            span: k.span.clone(),
            node: node.clone(),
            name,
        });
        if node.get("image").is_none() && node.get("build").is_none() {
            return Err(ConfigError::at(
                Location::new(k.span.clone(), format!("services.{}", k.name)),
                "a service needs `image` or `build`",
            ));
        }
    }
    Ok(out)
}

/// `depends_on` and `networks` must name things that exist.
fn check_references(services: &[Service], networks: &[Network]) -> Result<()> {
    let names: BTreeSet<&str> = services.iter().map(|s| s.name.as_str()).collect();
    let mut errors = Vec::new();
    for s in services {
        for d in &s.depends_on {
            if !names.contains(d.service.as_str()) {
                errors.push(ConfigError::at(
                    Location::new(d.span.clone(), format!("services.{}.depends_on", s.name)),
                    format!("depends on undefined service `{}`", d.service),
                ));
            }
        }
        for n in &s.networks {
            if n != "default" && !networks.iter().any(|x| &x.name == n) {
                let span = s
                    .node
                    .get("networks")
                    .and_then(|m| m.entry(n))
                    .map(|(k, _)| k.span.clone())
                    .unwrap_or(s.span.clone());
                errors.push(ConfigError::at(
                    Location::new(span, format!("services.{}.networks", s.name)),
                    format!("uses undefined network `{n}`; declare it under top-level `networks:`"),
                ));
            }
        }
    }
    ConfigError::collect(errors)
}

fn check_dependency_cycles(services: &[Service]) -> Result<()> {
    fn visit<'a>(
        name: &'a str,
        services: &'a [Service],
        stack: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<&'a str>> {
        if let Some(pos) = stack.iter().position(|n| *n == name) {
            let mut cycle = stack[pos..].to_vec();
            cycle.push(name);
            return Some(cycle);
        }
        if done.contains(name) {
            return None;
        }
        stack.push(name);
        let service = services.iter().find(|s| s.name == name)?;
        for d in &service.depends_on {
            if let Some(c) = visit(&d.service, services, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(name);
        None
    }
    let mut done = BTreeSet::new();
    for s in services {
        if let Some(cycle) = visit(&s.name, services, &mut Vec::new(), &mut done) {
            let first = services.iter().find(|x| x.name == cycle[0]).unwrap_or(s);
            let span = first
                .depends_on
                .iter()
                .find(|d| d.service == cycle[1])
                .map(|d| d.span.clone())
                .unwrap_or(first.span.clone());
            return Err(ConfigError::at(
                Location::new(span, format!("services.{}.depends_on", first.name)),
                format!("circular dependency: {}", cycle.join(" -> ")),
            ));
        }
    }
    Ok(())
}
