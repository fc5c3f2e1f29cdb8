//! Top-level `include:` — another Compose application pulled into this one, as Compose v2 does it: each
//! entry is loaded as its own project (its relative paths resolve against its own directory, its own `.env`
//! fills variables the including project leaves unset), and its resources are added to the including
//! file's. A service, network, volume, secret or config defined on both sides is an error.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::compose::{load_file, resolve_extends, VariableUse, Variables};
use super::error::ConfigError;
use super::merge::merge;
use super::normalize::{err, resolve_path, scalar};
use super::project::entries_mut;
use super::yaml::{Node, NodeKind};

type Result<T> = std::result::Result<T, ConfigError>;

const MERGED_SECTIONS: &[&str] = &["services", "networks", "volumes", "secrets", "configs"];

/// Replaces `include:` in `doc` (read from `file`) by the resources of the included projects.
pub fn resolve(doc: &mut Node, file: &Path, vars: &Variables, used: &mut Vec<VariableUse>) -> Result<()> {
    resolve_chain(doc, file, vars, used, &mut vec![file.to_path_buf()])
}

fn resolve_chain(
    doc: &mut Node,
    file: &Path,
    vars: &Variables,
    used: &mut Vec<VariableUse>,
    chain: &mut Vec<PathBuf>,
) -> Result<()> {
    let Some(entries) = entries_mut(doc) else { return Ok(()) };
    let Some(index) = entries.iter().position(|(k, _)| k.name == "include") else { return Ok(()) };
    let include = entries.remove(index).1;
    let base = file.parent().unwrap_or(Path::new("."));
    let items: Vec<&Node> = match &include.kind {
        NodeKind::Seq(items) => items.iter().collect(),
        _ if include.is_null() => Vec::new(),
        _ => return Err(err(&include, "include", "expected a list of files to include")),
    };
    for (i, item) in items.into_iter().enumerate() {
        let path = format!("include[{i}]");
        let (paths, project_directory, env_files) = entry(item, &path)?;
        let paths: Vec<PathBuf> = paths.iter().map(|p| PathBuf::from(resolve_path(p, base))).collect();
        let Some(first) = paths.first() else { return Err(err(item, &path, "an include entry needs `path`")) };
        let project_dir = match project_directory {
            Some(d) => PathBuf::from(resolve_path(&d, base)),
            None => first.parent().map(Path::to_path_buf).unwrap_or_else(|| base.to_path_buf()),
        };
        if let Some(cycle) = paths.iter().find(|p| chain.contains(p)) {
            return Err(err(item, &path, format!("include cycle: {} is already being included", cycle.display())));
        }
        // The included project's own .env fills what the including project leaves unset.
        let env_files: Vec<PathBuf> = if env_files.is_empty() {
            vec![project_dir.join(".env")]
        } else {
            env_files.iter().map(|f| PathBuf::from(resolve_path(f, base))).collect()
        };
        let mut own_env: HashMap<String, String> = HashMap::new();
        for env_file in env_files.iter().filter(|f| f.is_file()) {
            for e in super::envfile::read(env_file, vars.lookup)? {
                own_env.insert(e.name, e.value);
            }
        }
        let lookup = |k: &str| (vars.lookup)(k).or_else(|| own_env.get(k).cloned());
        let inner_vars = Variables { lookup: &lookup };
        let mut included: Option<Node> = None;
        for p in &paths {
            let mut part = load_file(p, &project_dir, &inner_vars, used).map_err(|e| match e {
                ConfigError::Read { path: missing, source } => {
                    err(item, &path, format!("cannot read included file {}: {source}", missing.display()))
                }
                other => other,
            })?;
            let mut cache = HashMap::from([(p.clone(), part.clone())]);
            resolve_extends(&mut part, p, &project_dir, &inner_vars, used, &mut cache)?;
            chain.push(p.clone());
            resolve_chain(&mut part, p, &inner_vars, used, chain)?;
            chain.pop();
            included = Some(match included {
                None => part,
                Some(base) => merge(base, part, &[]),
            });
        }
        if let Some(included) = included {
            add_resources(doc, included, &path)?;
        }
    }
    Ok(())
}

/// `include: [a.yml]` items are a path; the long form has `path` (one or a list), `project_directory` and
/// `env_file` (one or a list).
fn entry(item: &Node, path: &str) -> Result<(Vec<String>, Option<String>, Vec<String>)> {
    let strings = |node: &Node, key: &str| -> Result<Vec<String>> {
        match &node.kind {
            NodeKind::Seq(items) => items
                .iter()
                .enumerate()
                .map(|(i, n)| scalar(n, &format!("{path}.{key}[{i}]"), "a path").map(str::to_string))
                .collect(),
            _ => Ok(vec![scalar(node, &format!("{path}.{key}"), "a path")?.to_string()]),
        }
    };
    match &item.kind {
        NodeKind::Scalar { .. } => Ok((vec![scalar(item, path, "a path")?.to_string()], None, Vec::new())),
        NodeKind::Map(_) => {
            let paths = match item.get("path") {
                Some(p) => strings(p, "path")?,
                None => return Err(err(item, path, "an include entry needs `path`")),
            };
            let dir = match item.get("project_directory") {
                Some(d) => Some(scalar(d, &format!("{path}.project_directory"), "a directory")?.to_string()),
                None => None,
            };
            let env = match item.get("env_file") {
                Some(e) => strings(e, "env_file")?,
                None => Vec::new(),
            };
            Ok((paths, dir, env))
        }
        NodeKind::Seq(_) => Err(err(item, path, "expected a path or a mapping with `path`")),
    }
}

fn add_resources(doc: &mut Node, included: Node, path: &str) -> Result<()> {
    let NodeKind::Map(sections) = included.kind else { return Ok(()) };
    let span = doc.span.clone();
    let Some(entries) = entries_mut(doc) else { return Ok(()) };
    let mut errors = Vec::new();
    for (section, value) in sections {
        if !MERGED_SECTIONS.contains(&section.name.as_str()) {
            continue;
        }
        let NodeKind::Map(resources) = value.kind else { continue };
        let index = match entries.iter().position(|(k, _)| k.name == section.name) {
            Some(i) => i,
            None => {
                entries.push((section.clone(), Node::map(Vec::new(), span.clone())));
                entries.len() - 1
            }
        };
        let target = &mut entries[index].1;
        if target.is_null() {
            *target = Node::map(Vec::new(), target.span.clone());
        }
        let Some(existing) = entries_mut(target) else { continue };
        for (k, v) in resources {
            if let Some((own, _)) = existing.iter().find(|(e, _)| e.name == k.name) {
                errors.push(ConfigError::at(
                    super::error::Location::new(own.span.clone(), format!("{}.{}", section.name, k.name)),
                    format!(
                        "conflicts with the {} `{}` imported by {path} (from {})",
                        singular(&section.name),
                        k.name,
                        k.span
                    ),
                ));
                continue;
            }
            existing.push((k, v));
        }
    }
    ConfigError::collect(errors)
}

fn singular(section: &str) -> &str {
    section.strip_suffix('s').unwrap_or(section)
}
