//! `tug diff-env A B`: how two environments of one stack differ, per service, in the things that matter
//! operationally — images, replicas, resource limits, published ports and variables.

use serde::Serialize;

use super::{Node, Service, Stack};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    pub service: String,
    /// `service`, `image`, `replicas`, `memory`, `cpus`, `ports`, or `env.NAME`.
    pub aspect: String,
    pub a: Option<String>,
    pub b: Option<String>,
}

/// Compares the merged stacks of two environments. Secret variables show as `***` (changed or not).
pub fn diff(a: &Stack, b: &Stack) -> Vec<Difference> {
    let mut out = Vec::new();
    let mut names: Vec<&str> = a.project.services.iter().chain(&b.project.services).map(|s| s.name.as_str()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let (sa, sb) = (a.service(name), b.service(name));
        let (Some(sa), Some(sb)) = (sa, sb) else {
            out.push(Difference {
                service: name.into(),
                aspect: "service".into(),
                a: sa.map(|_| "defined".into()),
                b: sb.map(|_| "defined".into()),
            });
            continue;
        };
        let mut push = |aspect: String, x: Option<String>, y: Option<String>| {
            if x != y {
                out.push(Difference { service: name.into(), aspect, a: x, b: y });
            }
        };
        push("image".into(), sa.image.clone(), sb.image.clone());
        push("replicas".into(), replicas(sa), replicas(sb));
        push("memory".into(), memory_limit(sa), memory_limit(sb));
        push("cpus".into(), cpu_limit(sa), cpu_limit(sb));
        push("ports".into(), ports(sa), ports(sb));
        let mut vars: Vec<&str> = sa.environment.iter().chain(&sb.environment).map(|e| e.name.as_str()).collect();
        vars.sort();
        vars.dedup();
        for var in vars {
            let value =
                |s: &Service| s.environment.iter().find(|e| e.name == var).map(|e| e.value.clone().unwrap_or_default());
            let (va, vb) = (value(sa), value(sb));
            if va == vb {
                continue;
            }
            // Compared in clear above, shown masked: a changed secret is reported without its values.
            let mask = |v: Option<String>| v.map(|v| if crate::secret::is_secret_name(var) { "***".into() } else { v });
            let (ma, mb) = (mask(va), mask(vb));
            let mb = if ma == mb { Some("*** (changed)".to_string()) } else { mb };
            push(format!("env.{var}"), ma, mb);
        }
    }
    out
}

pub fn replicas(s: &Service) -> Option<String> {
    s.node.get_path(&["deploy", "replicas"]).or(s.node.get("scale")).and_then(Node::as_str).map(str::to_string)
}

/// `deploy.resources.limits.memory`, else `mem_limit`.
pub fn memory_limit(s: &Service) -> Option<String> {
    s.node
        .get_path(&["deploy", "resources", "limits", "memory"])
        .or(s.node.get("mem_limit"))
        .and_then(Node::as_str)
        .map(str::to_string)
}

/// `deploy.resources.limits.cpus`, else `cpus`.
pub fn cpu_limit(s: &Service) -> Option<String> {
    s.node
        .get_path(&["deploy", "resources", "limits", "cpus"])
        .or(s.node.get("cpus"))
        .and_then(Node::as_str)
        .map(str::to_string)
}

fn ports(s: &Service) -> Option<String> {
    if s.ports.is_empty() {
        return None;
    }
    let list: Vec<String> = s
        .ports
        .iter()
        .map(|p| {
            let host = match (&p.host_ip, &p.published) {
                (Some(ip), Some(pb)) => format!("{ip}:{pb}:"),
                (None, Some(pb)) => format!("{pb}:"),
                _ => String::new(),
            };
            format!("{host}{}/{}", p.target, p.protocol)
        })
        .collect();
    Some(list.join(", "))
}
