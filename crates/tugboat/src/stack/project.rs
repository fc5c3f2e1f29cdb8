//! What Compose v2 derives from the merged files before anything runs: the project name, the names its
//! networks, volumes, secrets and configs get on the engine, the implicit `default` network, bare build
//! arguments taken from the environment, and dropping resources no service uses.

use std::path::Path;

use super::yaml::{Key, Node, NodeKind, Span};

/// The four kinds of top-level resources, each named `<project>_<key>` on the engine unless `name:` says
/// otherwise (external ones keep their key).
const RESOURCES: &[&str] = &["networks", "volumes", "secrets", "configs"];

/// The project name as Compose picks it: `COMPOSE_PROJECT_NAME` (shell, then `.env`), the files' top-level
/// `name:`, then the directory's name; lowercased, with characters the engine refuses dropped.
pub fn project_name(explicit: Option<&str>, declared: Option<&str>, dir: &Path) -> String {
    let dir_name = std::fs::canonicalize(dir)
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let raw = [explicit, declared].into_iter().flatten().find(|n| !n.is_empty()).unwrap_or(&dir_name);
    let name: String = raw
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'))
        .collect();
    let name = name.trim_start_matches(['_', '-']).to_string();
    if name.is_empty() {
        "default".into()
    } else {
        name
    }
}

pub(crate) fn entries_mut(node: &mut Node) -> Option<&mut Vec<(Key, Node)>> {
    match &mut node.kind {
        NodeKind::Map(entries) => Some(entries),
        _ => None,
    }
}

pub(crate) fn get_mut<'a>(node: &'a mut Node, key: &str) -> Option<&'a mut Node> {
    entries_mut(node)?.iter_mut().find(|(k, _)| k.name == key).map(|(_, v)| v)
}

/// The mapping under `key`, created empty when missing (or null).
fn map_entry<'a>(node: &'a mut Node, key: &str, span: &Span) -> Option<&'a mut Vec<(Key, Node)>> {
    let entries = entries_mut(node)?;
    let index = match entries.iter().position(|(k, _)| k.name == key) {
        Some(i) => i,
        None => {
            entries.push((Key { name: key.into(), span: span.clone() }, Node::map(Vec::new(), span.clone())));
            entries.len() - 1
        }
    };
    let value = &mut entries[index].1;
    if value.is_null() {
        *value = Node::map(Vec::new(), value.span.clone());
    }
    entries_mut(value)
}

/// Applies Compose's defaults to the merged document, in place.
pub fn apply_defaults(root: &mut Node, project: &str, lookup: &dyn Fn(&str) -> Option<String>) {
    let span = root.span.clone();
    let mut uses_default_network = false;
    if let Some(services) = get_mut(root, "services").and_then(entries_mut) {
        for (name, service) in services.iter_mut() {
            let attached = service.get("networks").is_some() || service.get("network_mode").is_some();
            if !attached {
                // Written nowhere: findings about it point at the service's name.
                let at = name.span.clone();
                if let Some(entries) = entries_mut(service) {
                    let net = vec![(Key { name: "default".into(), span: at.clone() }, Node::plain("null", at.clone()))];
                    entries.push((Key { name: "networks".into(), span: at.clone() }, Node::map(net, at)));
                }
            }
            uses_default_network |= service.get("networks").is_some_and(|n| n.get("default").is_some());
            if let Some(deps) = get_mut(service, "depends_on").and_then(entries_mut) {
                for (_, dep) in deps.iter_mut() {
                    fill_dependency_defaults(dep);
                }
            }
            // A bare build argument takes its value from the environment, like a bare `environment` entry.
            if let Some(args) = get_mut(service, "build").and_then(|b| get_mut(b, "args")).and_then(entries_mut) {
                for (k, v) in args.iter_mut() {
                    if v.is_null() {
                        if let Some(value) = lookup(&k.name) {
                            *v = Node::string(value, v.span.clone());
                        }
                    }
                }
            }
        }
    }
    if uses_default_network {
        if let Some(networks) = map_entry(root, "networks", &span) {
            if !networks.iter().any(|(k, _)| k.name == "default") {
                networks
                    .push((Key { name: "default".into(), span: span.clone() }, Node::map(Vec::new(), span.clone())));
            }
        }
    }
    for kind in RESOURCES {
        let Some(entries) = get_mut(root, kind).and_then(entries_mut) else { continue };
        for (key, value) in entries.iter_mut() {
            if value.is_null() {
                *value = Node::map(Vec::new(), value.span.clone());
            }
            let external = value.get("external").is_some_and(|e| e.as_bool().unwrap_or(true));
            let Some(attrs) = entries_mut(value) else { continue };
            if !attrs.iter().any(|(k, _)| k.name == "name") {
                let name = if external { key.name.clone() } else { format!("{project}_{}", key.name) };
                attrs.insert(
                    0,
                    (Key { name: "name".into(), span: key.span.clone() }, Node::string(name, key.span.clone())),
                );
            }
        }
    }
}

/// A `depends_on` entry without `condition` waits for the start, and is `required`.
fn fill_dependency_defaults(dep: &mut Node) {
    if dep.is_null() {
        *dep = Node::map(Vec::new(), dep.span.clone());
    }
    let span = dep.span.clone();
    let Some(attrs) = entries_mut(dep) else { return };
    if !attrs.iter().any(|(k, _)| k.name == "required") {
        let at = attrs.iter().position(|(k, _)| k.name == "condition").map_or(0, |i| i + 1);
        attrs.insert(at, (Key { name: "required".into(), span: span.clone() }, Node::plain("true", span.clone())));
    }
    if !attrs.iter().any(|(k, _)| k.name == "condition") {
        attrs.insert(0, (Key { name: "condition".into(), span: span.clone() }, Node::string("service_started", span)));
    }
}

/// Whether a service would start with these profiles (no `profiles` means always; `*` enables all).
pub fn is_active(service: &Node, active: &[String]) -> bool {
    let profiles: Vec<&str> =
        service.get("profiles").and_then(Node::as_seq).unwrap_or(&[]).iter().filter_map(Node::as_str).collect();
    profiles.is_empty() || active.iter().any(|p| p == "*" || profiles.contains(&p.as_str()))
}

/// The document as `docker compose config` prints it for these profiles: inactive services left out, then
/// every network, volume, secret and config that no remaining service uses.
pub fn for_profiles(root: &Node, active: &[String]) -> Node {
    let mut root = root.clone();
    if let Some(services) = get_mut(&mut root, "services").and_then(entries_mut) {
        services.retain(|(_, s)| is_active(s, active));
    }
    drop_unused_resources(&mut root);
    root
}

/// Removes top-level resources that no service refers to, as Compose does.
pub fn drop_unused_resources(root: &mut Node) {
    let services: Vec<Node> =
        root.get("services").and_then(Node::as_map).unwrap_or(&[]).iter().map(|(_, s)| s.clone()).collect();
    let names_in = |service: &Node, key: &str| -> Vec<String> {
        match service.get(key).map(|n| &n.kind) {
            Some(NodeKind::Map(entries)) => entries.iter().map(|(k, _)| k.name.clone()).collect(),
            Some(NodeKind::Seq(items)) => items
                .iter()
                .filter_map(|i| {
                    i.as_str()
                        .map(str::to_string)
                        .or_else(|| i.get("source").and_then(Node::as_str).map(str::to_string))
                })
                .collect(),
            _ => Vec::new(),
        }
    };
    let mut used: Vec<(&str, String)> = Vec::new();
    for s in &services {
        used.extend(names_in(s, "networks").into_iter().map(|n| ("networks", n)));
        used.extend(names_in(s, "secrets").into_iter().map(|n| ("secrets", n)));
        used.extend(names_in(s, "configs").into_iter().map(|n| ("configs", n)));
        if let Some(build) = s.get("build") {
            used.extend(names_in(build, "secrets").into_iter().map(|n| ("secrets", n)));
        }
        for v in s.get("volumes").and_then(Node::as_seq).unwrap_or(&[]) {
            if v.get("type").and_then(Node::as_str) == Some("volume") {
                if let Some(source) = v.get("source").and_then(Node::as_str) {
                    used.push(("volumes", source.to_string()));
                }
            }
        }
    }
    let Some(entries) = entries_mut(root) else { return };
    for (kind, value) in entries.iter_mut() {
        if !RESOURCES.contains(&kind.name.as_str()) {
            continue;
        }
        if let Some(resources) = entries_mut(value) {
            resources.retain(|(k, _)| used.iter().any(|(u, n)| *u == kind.name && *n == k.name));
        }
    }
    entries.retain(|(k, v)| !RESOURCES.contains(&k.name.as_str()) || v.as_map().is_some_and(|m| !m.is_empty()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::Arc;

    fn y(s: &str) -> Node {
        super::super::yaml::parse(s, &Arc::new(PathBuf::from("t.yml"))).unwrap()
    }

    #[test]
    fn project_names_are_normalised() {
        let dir = Path::new("/");
        assert_eq!(project_name(Some("My.App_1"), Some("other"), dir), "myapp_1");
        assert_eq!(project_name(None, Some("Declared"), dir), "declared");
        assert_eq!(project_name(Some(""), None, Path::new("/nonexistent")), "default");
    }

    #[test]
    fn default_network_and_resource_names() {
        let mut root = y("services: {a: {image: x}, b: {image: x, network_mode: host}, c: {image: x, networks: [n]}}\nnetworks: {n: {}, ext: {external: true}}\nvolumes: {v: {name: fixed}}\n");
        apply_defaults(&mut root, "p", &|_| None);
        let json = root.to_json();
        assert_eq!(json["services"]["a"]["networks"], serde_json::json!({"default": null}));
        assert!(json["services"]["b"].get("networks").is_none());
        assert_eq!(json["networks"]["default"]["name"], "p_default");
        assert_eq!(json["networks"]["n"]["name"], "p_n");
        assert_eq!(json["networks"]["ext"]["name"], "ext");
        assert_eq!(json["volumes"]["v"]["name"], "fixed");
    }

    #[test]
    fn unused_resources_and_inactive_services_are_dropped() {
        let root = y("services:\n  a: {image: x, networks: {n: null}, volumes: [{type: volume, source: v, target: /v}]}\n  b: {image: x, profiles: [dbg], secrets: [{source: s}]}\nnetworks: {n: {}, unused: {}}\nvolumes: {v: {}, w: {}}\nsecrets: {s: {file: /s}}\n");
        let json = for_profiles(&root, &[]).to_json();
        assert_eq!(json["networks"], serde_json::json!({"n": {}}));
        assert_eq!(json["volumes"], serde_json::json!({"v": {}}));
        assert!(json.get("secrets").is_none());
        assert!(json["services"].get("b").is_none());
        let all = for_profiles(&root, &["*".to_string()]).to_json();
        assert!(all["secrets"].get("s").is_some());
    }
}
