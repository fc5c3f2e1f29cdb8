//! Merging compose files (`-f a.yml -f b.yml`) by the compose specification's merge rules: mappings merge
//! key by key, most sequences append, "unique resources" (ports, volumes, secrets, configs) replace the
//! entry with the same key, shell commands replace, and `!reset` / `!override` do what they say.
//! Both sides are already normalized to long syntax, which is what makes these rules simple.

use super::yaml::{MergeTag, Node, NodeKind};

/// Merges `over` onto `base`. `path` is the key path from the document root (`["services", "web", "ports"]`).
pub fn merge(base: Node, over: Node, path: &[&str]) -> Node {
    if over.tag == Some(MergeTag::Override) {
        return Node { tag: None, ..over };
    }
    if replaces_whole(&base, &over, path) {
        return strip_tags(over);
    }
    match (base.kind, over.kind) {
        (NodeKind::Map(mut entries), NodeKind::Map(over_entries)) => {
            for (k, v) in over_entries {
                if v.tag == Some(MergeTag::Reset) {
                    entries.retain(|(e, _)| e.name != k.name);
                    continue;
                }
                let mut child_path = path.to_vec();
                child_path.push(&k.name);
                match entries.iter().position(|(e, _)| e.name == k.name) {
                    Some(i) => {
                        let old = entries.remove(i).1;
                        let merged = merge(old, v, &child_path);
                        entries.insert(i, (k, merged));
                    }
                    None => entries.push((k, strip_tags(v))),
                }
            }
            Node { kind: NodeKind::Map(entries), span: base.span, tag: None, raw: None }
        }
        (NodeKind::Seq(mut items), NodeKind::Seq(over_items)) => {
            match sequence_rule(path) {
                SeqRule::Replace => items = over_items,
                SeqRule::UniqueBy(key_of) => {
                    for item in over_items {
                        let key = key_of(&item);
                        match items.iter().position(|e| key_of(e) == key) {
                            Some(i) => items[i] = item,
                            None => items.push(item),
                        }
                    }
                }
                SeqRule::Append => items.extend(over_items),
                SeqRule::AppendUnique => {
                    for item in over_items {
                        let value = item.to_json();
                        if !items.iter().any(|e| e.to_json() == value) {
                            items.push(item);
                        }
                    }
                }
            }
            Node { kind: NodeKind::Seq(items), span: over.span, tag: None, raw: None }
        }
        (_, kind) => strip_tags(Node { kind, span: over.span, tag: over.tag, raw: over.raw }),
    }
}

fn strip_tags(mut node: Node) -> Node {
    node.tag = None;
    node
}

/// Mappings that an override replaces instead of merging into: one `ulimits` entry, and `logging` when
/// the override names a different driver (the base's options belong to the base's driver).
fn replaces_whole(base: &Node, over: &Node, path: &[&str]) -> bool {
    let in_service = path.len() >= 3 && path[0] == "services";
    if !in_service || over.as_map().is_none() {
        return false;
    }
    match &path[2..] {
        ["ulimits", _] => true,
        ["logging"] => {
            let driver = |n: &Node| n.get("driver").and_then(Node::as_str).map(str::to_string);
            matches!((driver(base), driver(over)), (Some(a), Some(b)) if a != b)
        }
        _ => false,
    }
}

enum SeqRule {
    Replace,
    /// Appended as they are, duplicates included (`security_opt`): Compose's default for sequences.
    Append,
    UniqueBy(fn(&Node) -> String),
    AppendUnique,
}

fn sequence_rule(path: &[&str]) -> SeqRule {
    let in_service = path.len() >= 3 && path[0] == "services";
    if !in_service {
        return SeqRule::AppendUnique;
    }
    match &path[2..] {
        ["command"] | ["entrypoint"] | ["healthcheck", "test"] => SeqRule::Replace,
        ["ports"] => SeqRule::UniqueBy(port_key),
        ["devices"] => SeqRule::UniqueBy(|n| field(n, "target")),
        ["security_opt"] | ["group_add"] | ["external_links"] | ["volumes_from"] | ["device_cgroup_rules"] => {
            SeqRule::Append
        }
        ["volumes"] | ["secrets"] | ["configs"] => SeqRule::UniqueBy(target_key),
        _ => SeqRule::AppendUnique,
    }
}

fn field(node: &Node, key: &str) -> String {
    node.get(key).and_then(Node::as_str).unwrap_or("").to_string()
}

fn port_key(node: &Node) -> String {
    ["host_ip", "target", "published", "protocol"].map(|k| field(node, k)).join("|")
}

fn target_key(node: &Node) -> String {
    match &node.kind {
        NodeKind::Scalar { value, .. } => value.clone(),
        _ => {
            let t = field(node, "target");
            if t.is_empty() {
                field(node, "source")
            } else {
                t
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::yaml::parse;
    use std::path::PathBuf;
    use std::sync::Arc;

    fn y(s: &str) -> Node {
        parse(s, &Arc::new(PathBuf::from("t.yml"))).unwrap()
    }

    // Mirrors the examples of the compose specification's merge chapter.
    #[test]
    fn mappings_merge_and_scalars_replace() {
        let m = merge(
            y("services: {a: {image: x, environment: {A: '1', B: '2'}}}"),
            y("services: {a: {image: y, environment: {B: '3'}}}"),
            &[],
        );
        assert_eq!(
            m.to_json(),
            serde_json::json!({"services": {"a": {"image": "y", "environment": {"A": "1", "B": "3"}}}})
        );
    }

    #[test]
    fn sequences_append_unique_and_commands_replace() {
        let m = merge(
            y("services: {a: {cap_drop: [ALL], command: [a, b], healthcheck: {test: [CMD, x]}}}"),
            y("services: {a: {cap_drop: [ALL, NET_RAW], command: [c], healthcheck: {test: [CMD, y]}}}"),
            &[],
        );
        let a = &m.to_json()["services"]["a"];
        assert_eq!(a["cap_drop"], serde_json::json!(["ALL", "NET_RAW"]));
        assert_eq!(a["command"], serde_json::json!(["c"]));
        assert_eq!(a["healthcheck"]["test"], serde_json::json!(["CMD", "y"]));
    }

    #[test]
    fn unique_resources_replace_by_key() {
        let m = merge(
            y("services: {a: {volumes: [{type: bind, source: /a, target: /data}, {type: volume, source: v, target: /v}]}}"),
            y("services: {a: {volumes: [{type: bind, source: /b, target: /data}]}}"),
            &[],
        );
        let v = &m.to_json()["services"]["a"]["volumes"];
        assert_eq!(v.as_array().unwrap().len(), 2);
        assert_eq!(v[0]["source"], "/b");
    }

    // Cases from compose-go's override tests (merge_devices, merge_ulimits, merge_logging).
    #[test]
    fn devices_by_target_ulimits_whole_and_logging_by_driver() {
        let m = merge(
            y("services: {a: {devices: [{source: /dev/sda, target: /dev/xvda}], ulimits: {nofile: {soft: 1, hard: 2}, nproc: 3}, logging: {driver: syslog, options: {tag: a}}}}"),
            y("services: {a: {devices: [{source: /dev/sdb, target: /dev/xvda}], ulimits: {nofile: {soft: 5, hard: 6}}, logging: {driver: local, options: {max-size: 1m}}}}"),
            &[],
        );
        let a = &m.to_json()["services"]["a"];
        assert_eq!(a["devices"], serde_json::json!([{"source": "/dev/sdb", "target": "/dev/xvda"}]));
        assert_eq!(a["ulimits"], serde_json::json!({"nofile": {"soft": 5, "hard": 6}, "nproc": 3}));
        assert_eq!(a["logging"], serde_json::json!({"driver": "local", "options": {"max-size": "1m"}}));
        let same = merge(
            y("services: {a: {logging: {driver: local, options: {a: '1'}}}}"),
            y("services: {a: {logging: {options: {b: '2'}}}}"),
            &[],
        );
        assert_eq!(same.to_json()["services"]["a"]["logging"]["options"], serde_json::json!({"a": "1", "b": "2"}));
    }

    #[test]
    fn reset_and_override_tags() {
        let m = merge(
            y("services: {a: {ports: [{target: 80}], environment: {A: '1'}}}"),
            y("services: {a: {ports: !reset [], environment: !override {B: '2'}}}"),
            &[],
        );
        let a = &m.to_json()["services"]["a"];
        assert!(a.get("ports").is_none());
        assert_eq!(a["environment"], serde_json::json!({"B": "2"}));
    }
}
