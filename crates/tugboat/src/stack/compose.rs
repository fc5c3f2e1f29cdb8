//! Loading Docker Compose files into a [`Project`]: parse, interpolate, normalize to long syntax, resolve
//! `extends`, merge in `-f` order, read per-service `env_file`s, then type what the checks need.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::{ConfigError, Location};
use super::interpolate::{interpolate_with, References};
use super::merge::merge;
use super::normalize::{self, err, scalar};
use super::schema;
use super::yaml::{self, Key, Node, NodeKind, Span};
use super::{include, project};

type Result<T> = std::result::Result<T, ConfigError>;

/// A variable reference found while interpolating, for the `.env.template` rules.
#[derive(Clone, Debug)]
pub struct VariableUse {
    pub name: String,
    pub span: Span,
    /// Unset where no default applied: Compose warns and uses a blank string.
    pub unset: bool,
}

/// The merged compose model.
#[derive(Clone, Debug)]
pub struct Project {
    /// The Compose project name (see [`project::project_name`]).
    pub name: String,
    /// The merged document in long syntax, as `tug config` prints it.
    pub root: Node,
    pub services: Vec<Service>,
    pub networks: Vec<Network>,
    pub variables_used: Vec<VariableUse>,
    pub files: Vec<PathBuf>,
    /// What Compose would warn about: variables used unset without a default, once each.
    pub warnings: Vec<String>,
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
    /// Networks the service joins (`default` when the file names none and sets no `network_mode`).
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

/// Reads one compose file: parse, interpolate every scalar value, normalize services. Relative paths in it
/// resolve against `base_dir` (the project directory, or the directory of a file reached by `extends` or
/// `include`).
pub fn load_file(path: &Path, base_dir: &Path, vars: &Variables, used: &mut Vec<VariableUse>) -> Result<Node> {
    process_file(parse_file(path)?, base_dir, vars, used)
}

/// Reads and parses one compose file, before interpolation.
pub(crate) fn parse_file(path: &Path) -> Result<Node> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    let file = Arc::new(path.to_path_buf());
    // A file with no document is an empty mapping; a document that is empty (`---` alone) is null, which
    // Compose v2 refuses like any other non-mapping.
    let root = yaml::parse(&text, &file)?;
    if root.as_map().is_none() {
        return Err(err(&root, "", format!("a compose file must be a mapping, found {}", root.kind_name())));
    }
    Ok(root)
}

/// Interpolates and normalizes a parsed file.
pub(crate) fn process_file(
    mut root: Node,
    project_dir: &Path,
    vars: &Variables,
    used: &mut Vec<VariableUse>,
) -> Result<Node> {
    let mut errors = Vec::new();
    interpolate_node(&mut root, "", vars, used, &mut errors);
    ConfigError::collect(errors)?;

    let mut errors = Vec::new();
    let NodeKind::Map(entries) = &mut root.kind else { return Ok(root) };
    // Unknown keys and wrong types are the schema's to report, on the merged model (`schema::validate`).
    for (k, v) in entries.iter_mut() {
        if k.name == "services" {
            if v.is_null() {
                *v = Node::map(Vec::new(), v.span.clone());
            }
            let NodeKind::Map(services) = &mut v.kind else { continue };
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
    normalize::top_level_resources(&mut root, project_dir)?;
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
            let mut refs = References::default();
            match interpolate_with(value, vars.lookup, &mut refs) {
                Ok(new) => {
                    // `${TOKEN:-}` is an empty string, not YAML's null (which would mean "unset").
                    if new.is_empty() {
                        *quoted = true;
                    }
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
            used.extend(refs.names.into_iter().map(|name| VariableUse {
                unset: refs.unset.contains(&name),
                name,
                span: node.span.clone(),
            }));
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

/// Service attributes of type string that compose-go leaves out when empty (Go's `omitempty`).
const OMITTED_WHEN_EMPTY: &[&str] = &[
    "image",
    "platform",
    "user",
    "hostname",
    "domainname",
    "container_name",
    "working_dir",
    "network_mode",
    "pid",
    "ipc",
    "uts",
    "restart",
    "pull_policy",
    "userns_mode",
    "stop_signal",
    "runtime",
    "cgroup",
    "cgroup_parent",
    "mac_address",
    "isolation",
];

fn normalize_service(service: &Node, path: &str, project_dir: &Path) -> Result<Node> {
    if service.is_null() {
        return Ok(Node::map(Vec::new(), service.span.clone()));
    }
    // Not a mapping: left for the schema to report.
    let Some(entries) = service.as_map() else { return Ok(service.clone()) };
    let mut out = Vec::with_capacity(entries.len());
    let mut errors = Vec::new();
    for (k, v) in entries {
        let p = format!("{path}.{}", k.name);
        let name = k.name.as_str();
        // A string attribute that interpolated to nothing (`platform: ${PLATFORM:-}`) is left out, as
        // Compose does; elsewhere (`cpus: ""`) the schema reports the empty value.
        let blank = matches!(&v.kind, NodeKind::Scalar { value, quoted: true } if value.is_empty());
        if blank && v.tag.is_none() && OMITTED_WHEN_EMPTY.contains(&name) {
            continue;
        }
        let normalized = if v.is_null() && name != "environment" {
            Ok(v.clone())
        } else {
            match name {
                "environment" => normalize::environment(v, &p),
                "labels" | "annotations" => normalize::labels(v, &p),
                "sysctls" => normalize::key_value_map(v, &p, '='),
                "extra_hosts" => normalize::extra_hosts(v, &p),
                "command" | "entrypoint" => normalize::shell_command(v, &p),
                "devices" => normalize::devices(v, &p),
                "secrets" => normalize::service_files(v, &p, Some("/run/secrets")),
                "configs" => normalize::service_files(v, &p, None),
                "gpus" => Ok(normalize::gpus(v)),
                "deploy" => normalize::deploy(v, &p),
                "ports" => normalize::ports(v, &p),
                "volumes" => normalize::volumes(v, &p, project_dir),
                "depends_on" => normalize::depends_on(v, &p),
                "networks" => normalize::service_networks(v, &p),
                "env_file" => normalize::env_files(v, &p, project_dir),
                "healthcheck" => normalize::healthcheck(v, &p),
                "build" => normalize::build(v, &p, project_dir),
                // Only where the schema takes the written form too: a single string for a list, numbers
                // that Compose prints as strings. Types are checked by `schema::validate` after the merge.
                "dns" | "dns_search" | "tmpfs" if schema::is_string(v) => normalize::string_list(v, &p),
                "expose" | "group_add"
                    if v.as_seq().is_some_and(|i| i.iter().all(|i| schema::is_string(i) || schema::is_number(i))) =>
                {
                    normalize::string_list(v, &p)
                }
                _ => Ok(v.clone()),
            }
        };
        match normalized {
            // `!reset` / `!override` stay on the normalized value for the merge to read.
            Ok(n) => out.push((k.clone(), Node { tag: v.tag, ..n })),
            Err(e) => errors.push(e),
        }
    }
    ConfigError::collect(errors)?;
    Ok(Node::map(out, service.span.clone()))
}

/// Loads and merges `files` in order, resolves `extends`, reads `env_file`s and types the services.
pub fn load_project(files: &[PathBuf], project_dir: &Path, vars: &Variables) -> Result<Project> {
    let parsed = files.iter().map(|f| parse_file(f)).collect::<Result<Vec<_>>>()?;
    // The project name comes before interpolation, which may read it as ${COMPOSE_PROJECT_NAME}.
    let declared = parsed.iter().rev().find_map(|d| d.get("name").and_then(Node::as_str)).map(|raw| {
        super::interpolate::interpolate(raw, vars.lookup, &mut Vec::new()).unwrap_or_else(|_| raw.to_string())
    });
    let name =
        project::project_name((vars.lookup)("COMPOSE_PROJECT_NAME").as_deref(), declared.as_deref(), project_dir);
    let lookup = |k: &str| (vars.lookup)(k).or_else(|| (k == "COMPOSE_PROJECT_NAME").then(|| name.clone()));
    let vars = &Variables { lookup: &lookup };

    let mut used = Vec::new();
    let mut merged: Option<Node> = None;
    let mut cache: HashMap<PathBuf, Node> = HashMap::new();
    for (file, doc) in files.iter().zip(parsed) {
        let mut doc = process_file(doc, project_dir, vars, &mut used)?;
        cache.insert(file.clone(), doc.clone());
        resolve_extends(&mut doc, file, project_dir, vars, &mut used, &mut cache)?;
        include::resolve(&mut doc, file, vars, &mut used)?;
        merged = Some(match merged {
            None => doc,
            Some(base) => merge(base, doc, &[]),
        });
    }
    let mut root = merged.ok_or_else(|| ConfigError::Other("no compose file to load".into()))?;
    // As compose-go does, the merged model is validated against the compose-spec schema.
    schema::validate(&root)?;
    if root.get("services").is_none_or(|s| s.as_map().is_none_or(<[_]>::is_empty)) {
        return Err(err(&root, "services", "no services defined"));
    }
    let env_files = resolve_env_files(&mut root, vars)?;
    project::apply_defaults(&mut root, &name, vars.lookup);
    let networks = networks(&root);
    let services = typed_services(&root, &env_files)?;
    check_references(&services, &networks)?;
    check_pids_limits(&services)?;
    check_dependency_cycles(&services)?;
    let mut warnings: Vec<String> = Vec::new();
    for v in used.iter().filter(|v| v.unset) {
        let warning = format!("the {:?} variable is not set; using a blank string ({})", v.name, v.span);
        if !warnings.iter().any(|w| w.starts_with(&format!("the {:?} ", v.name))) {
            warnings.push(warning);
        }
    }
    Ok(Project { name, root, services, networks, variables_used: used, files: files.to_vec(), warnings })
}

/// `extends: {service, file}` or `extends: name`: the base is merged under the service, recursively, and a
/// cycle is an error naming the chain.
pub(crate) fn resolve_extends(
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
        let doc =
            load_file(&base_file, base_file.parent().unwrap_or(project_dir), vars, used).map_err(|e| match e {
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
            let parsed = if entry.get("format").and_then(Node::as_str) == Some("raw") {
                super::envfile::read_raw(Path::new(path))
            } else {
                super::envfile::read(Path::new(path), vars.lookup)
            };
            let parsed = parsed.map_err(|e| match e {
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

/// Compose v2 refuses `pids_limit` beside a `deploy.resources.limits` whose `pids` differs — an unset `pids`
/// there counts as 0 — so `docker compose up` would fail on such a file.
fn check_pids_limits(services: &[Service]) -> Result<()> {
    let mut errors = Vec::new();
    for s in services {
        let Some(pids_limit) = s.node.get("pids_limit") else { continue };
        let Some(limits) = s.node.get_path(&["deploy", "resources", "limits"]).filter(|l| l.as_map().is_some()) else {
            continue;
        };
        let deploy_pids = limits.get("pids").and_then(Node::as_str).unwrap_or("0");
        if pids_limit.as_str() != Some(deploy_pids) {
            errors.push(err(
                pids_limit,
                &format!("services.{}.pids_limit", s.name),
                format!(
                    "Compose refuses `pids_limit` beside `deploy.resources.limits` without the same `pids` (it has {deploy_pids}); \
                     set `deploy.resources.limits.pids` instead"
                ),
            ));
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
