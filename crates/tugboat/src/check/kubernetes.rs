//! `tug check` on Kubernetes manifests: the hardening rules over the pod specs of workloads, with the
//! rule ids of the compose rules where the meaning is the same (docs/check-kubernetes.md).
//!
//! The input is one YAML file, a directory of them, or a kustomization, which `kubectl kustomize` builds;
//! each built object is then mapped back to the file that defines it (and to the patch or transformer
//! that set an offending value), so every finding points at a line a person can edit rather than at the
//! build output, which exists nowhere on disk.

mod kustomize;
mod rules;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use super::{Finding, FindingLocation, Report};
use crate::stack::{yaml, ConfigError, Location, Node, Span};

/// The names kustomize looks for in a directory, in its order.
pub const KUSTOMIZATION_FILE_NAMES: &[&str] = &["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// `tugboat.io/exempt.TB001: "reason"` on a workload (or its pod template) exempts it from TB001.
pub const EXEMPT_ANNOTATION_PREFIX: &str = "tugboat.io/exempt.";

/// A rule as it applies to Kubernetes manifests: what is checked, and what to change in a manifest (the
/// rule table's `fix` speaks compose).
pub struct KubernetesRule {
    pub id: &'static str,
    pub checks: &'static str,
    pub fix: &'static str,
}

/// The rules applied to manifests; the others have no meaning there (docs/check-kubernetes.md says why).
pub const KUBERNETES_RULES: &[KubernetesRule] = &[
    KubernetesRule {
        id: "TB001",
        checks: "a container without `runAsNonRoot: true` whose `runAsUser` is unset or 0 (container `securityContext` over the pod's)",
        fix: "set `securityContext.runAsNonRoot: true` and a non-zero `runAsUser` the image supports (pod or container)",
    },
    KubernetesRule {
        id: "TB002",
        checks: "a container whose `securityContext.readOnlyRootFilesystem` is not `true`",
        fix: "set `securityContext.readOnlyRootFilesystem: true` and mount `emptyDir` volumes where the app writes",
    },
    KubernetesRule {
        id: "TB003",
        checks: "a container whose `securityContext.capabilities.drop` lacks `ALL`",
        fix: "set `securityContext.capabilities.drop: [ALL]` and add back only what it needs under `add`",
    },
    KubernetesRule {
        id: "TB004",
        checks: "a dangerous capability (the list of TB004 for compose) in `securityContext.capabilities.add`",
        fix: "remove the capability from `securityContext.capabilities.add`",
    },
    KubernetesRule {
        id: "TB005",
        checks: "a container whose `securityContext.allowPrivilegeEscalation` is not `false`",
        fix: "set `securityContext.allowPrivilegeEscalation: false`",
    },
    KubernetesRule {
        id: "TB006",
        checks: "`securityContext.privileged: true`",
        fix: "remove `privileged: true`; add the one capability, or use a device plugin, that is needed",
    },
    KubernetesRule {
        id: "TB007",
        checks: "`hostNetwork`, `hostPID` or `hostIPC: true` on the pod",
        fix: "remove them; reach the pod through a Service",
    },
    KubernetesRule {
        id: "TB008",
        checks: "a `hostPath` volume of a sensitive host path (the list of TB008; read-only when every `volumeMount` of it is)",
        fix: "remove the `hostPath` volume; use a PersistentVolumeClaim, a ConfigMap or Secret, or a socket proxy",
    },
    KubernetesRule {
        id: "TB009",
        checks: "a container without `resources.limits.memory`",
        fix: "set `resources.limits.memory`",
    },
    KubernetesRule {
        id: "TB010",
        checks: "a container without `resources.limits.cpu`",
        fix: "set `resources.limits.cpu`",
    },
    KubernetesRule {
        id: "TB011",
        checks: "a container with neither a `readinessProbe` nor a `livenessProbe` (not init containers, Jobs, CronJobs or Pods that are not restarted)",
        fix: "add a `readinessProbe` (and a `livenessProbe` for a process that can hang)",
    },
    KubernetesRule {
        id: "TB012",
        checks: "an `image` tagged `latest` or not tagged (a digest pins it)",
        fix: "pin a version tag or a digest in `image:`, or in the kustomization's `images:` (`newTag`, `digest`)",
    },
    KubernetesRule {
        id: "TB016",
        checks: "a Service of `type: NodePort` or `LoadBalancer`, and a container `hostPort` on every address of the node",
        fix: "use `type: ClusterIP` behind an Ingress (a LoadBalancer only for what must be reachable); remove `hostPort`",
    },
    KubernetesRule {
        id: "TB018",
        checks: "an env `value` that is a literal secret (a secret-named variable, a URL with a password, a random-looking value); `$(VAR)` references and `valueFrom` are not literals",
        fix: "keep the value in a Secret and reference it with `valueFrom.secretKeyRef`",
    },
    KubernetesRule {
        id: "TB022",
        checks: "`seccompProfile` or `appArmorProfile` of `type: Unconfined` (container over pod), the `container.apparmor.security.beta.kubernetes.io/NAME: unconfined` annotation, `procMount: Unmasked`, `seLinuxOptions.type: spc_t`",
        fix: "remove the setting (`RuntimeDefault` is the profile to use); write a custom profile if the default blocks something",
    },
];

/// What to change in a manifest for a finding of rule `id`.
pub fn kubernetes_fix(id: &str) -> Option<&'static str> {
    KUBERNETES_RULES.iter().find(|r| r.id == id).map(|r| r.fix)
}

/// [`KUBERNETES_RULES`] as a Markdown table (docs/check-kubernetes.md holds it; a test keeps it current).
pub fn kubernetes_rules_markdown() -> String {
    let mut s =
        String::from("| id | name | severity | what is checked | fix in the manifest |\n|---|---|---|---|---|\n");
    for r in KUBERNETES_RULES {
        let rule = super::rule(r.id);
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            r.id,
            rule.map_or("", |r| r.name),
            rule.map_or("", |r| r.severity.as_str()),
            r.checks.replace('|', "\\|"),
            r.fix.replace('|', "\\|")
        ));
    }
    s
}

/// The kustomization file of `dir`, when it has one.
pub fn kustomization_file(dir: &Path) -> Option<PathBuf> {
    KUSTOMIZATION_FILE_NAMES.iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

/// Whether `tug check PATH` means Kubernetes manifests rather than a compose stack: a file that is not a
/// `tugboat.yml`, a directory with a kustomization, or a directory with neither `tugboat.yml` nor a compose
/// file but with YAML that declares `apiVersion` and `kind`.
pub fn is_manifest_input(path: &Path) -> bool {
    if path.is_file() {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        return !crate::stack::CONFIG_FILE_NAMES.contains(&name.as_str());
    }
    if !path.is_dir() {
        return false;
    }
    if kustomization_file(path).is_some() {
        return true;
    }
    if crate::stack::find_config(path).is_some() || !crate::stack::default_compose_files(path).is_empty() {
        return false;
    }
    // A look at the text, not a parse: a file that does not parse is reported by the checker, at its line.
    yaml_files(path).unwrap_or_default().iter().any(|f| {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        let top_level = |key: &str| text.lines().any(|l| l.starts_with(key));
        top_level("apiVersion:") && top_level("kind:")
    })
}

/// Checks the manifests at `path` (a file, a directory of `*.yaml`/`*.yml`, or a kustomization).
///
/// `Report.services` counts workloads; a finding's `service` is `Kind/name` (pod-level) or
/// `Kind/name/container`. A manifest that does not parse, a kustomization kubectl cannot build (or no
/// kubectl to build it) and an exemption annotation without a reason are configuration errors.
pub fn check_manifests(path: &Path) -> Result<Report, ConfigError> {
    if !path.exists() {
        return Err(ConfigError::Other(format!("{}: no such file or directory", path.display())));
    }
    // `tug check overlay/kustomization.yaml` means the kustomization, not the file's own document.
    let named_kustomization = path.is_file()
        && path.file_name().is_some_and(|n| KUSTOMIZATION_FILE_NAMES.iter().any(|k| n == *k))
        && path.parent().is_some_and(|d| kustomization_file(d).as_deref() == Some(path));
    let path = match path.parent() {
        Some(dir) if named_kustomization => {
            if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            }
        }
        _ => path,
    };
    let (objects, files, origins) = if path.is_file() {
        let (objects, _) = read_objects(path)?;
        (objects, vec![path.to_path_buf()], Origins::Direct)
    } else if kustomization_file(path).is_some() {
        let mut build = kustomize::Build::new(path)?;
        let objects = std::mem::take(&mut build.objects);
        let files = std::mem::take(&mut build.files);
        (objects, files, Origins::Kustomize(Box::new(build)))
    } else {
        let mut objects = Vec::new();
        let files = yaml_files(path)?;
        for f in &files {
            objects.extend(read_objects(f)?.0);
        }
        (objects, files, Origins::Direct)
    };
    if objects.is_empty() {
        return Err(ConfigError::Other(format!(
            "{}: no Kubernetes objects found (YAML documents with `apiVersion` and `kind`)",
            path.display()
        )));
    }

    let mut findings = Vec::new();
    let mut errors = Vec::new();
    for (index, object) in objects.iter().enumerate() {
        let exempt = exemptions(object, |p| origins.locate(index, object, p), &mut errors);
        for hit in rules::hits(object) {
            let Some(rule) = super::rule(hit.rule) else { continue };
            let span = origins.locate(index, object, &hit.path);
            findings.push(Finding {
                rule: rule.id,
                severity: rule.severity,
                service: Some(hit.subject),
                message: hit.message,
                location: Some(&span).filter(|s| s.line > 0).map(FindingLocation::from),
                exempted: exempt.get(rule.id).cloned(),
                fix: kubernetes_fix(rule.id),
            });
        }
    }
    // kustomize's `commonAnnotations` writes one annotation on the object and on its pod template: one error.
    let mut seen = std::collections::HashSet::new();
    errors.retain(|e| seen.insert(e.to_string()));
    ConfigError::collect(errors)?;
    findings.sort_by(|a, b| {
        (&a.service, a.rule, a.location.as_ref().map(|l| (&l.file, l.line))).cmp(&(
            &b.service,
            b.rule,
            b.location.as_ref().map(|l| (&l.file, l.line)),
        ))
    });
    Ok(Report {
        stack: input_name(path),
        environment: None,
        files,
        services: objects.iter().filter(|o| rules::is_workload(&o.kind)).count(),
        findings,
        placeholder_variables: Vec::new(),
    })
}

/// The report's name: the directory's (of `.` too), or a file's without its extension.
fn input_name(path: &Path) -> String {
    let full = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let name = if full.is_file() { full.file_stem() } else { full.file_name() };
    name.map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string())
}

/// The exemption annotations of `object` (its own and its pod template's): rule id -> reason. An unknown
/// rule or an empty reason is an error at the annotation.
fn exemptions(
    object: &Object,
    locate: impl Fn(&[Seg]) -> Span,
    errors: &mut Vec<ConfigError>,
) -> BTreeMap<&'static str, String> {
    let mut out = BTreeMap::new();
    for (path, key, value) in rules::exemption_annotations(object) {
        let id = &key[EXEMPT_ANNOTATION_PREFIX.len()..];
        let at = |message: String| ConfigError::at(Location::new(locate(&path), key.clone()), message);
        let Some(rule) = super::rule(id) else {
            errors.push(at(format!(
                "`{key}` on {}/{} names unknown rule `{id}`; `tug check --list-rules` shows them",
                object.kind, object.name
            )));
            continue;
        };
        match value.as_str().map(str::trim).filter(|r| !r.is_empty() && !value.is_null()) {
            Some(reason) => {
                out.insert(rule.id, reason.to_string());
            }
            None => errors.push(at(format!(
                "`{key}` on {}/{} gives no reason: an exemption must say why the rule does not apply",
                object.kind, object.name
            ))),
        }
    }
    out
}

/// Where the findings of each object point.
enum Origins {
    /// The objects as read: their own spans.
    Direct,
    /// Built by kustomize: mapped back to the files the build came from.
    Kustomize(Box<kustomize::Build>),
}

impl Origins {
    fn locate(&self, index: usize, object: &Object, path: &[Seg]) -> Span {
        match self {
            Origins::Direct => find_entry(&object.node, path).map_or_else(|| object.node.span.clone(), |e| e.span()),
            Origins::Kustomize(build) => build.locate(index, &object.node, path),
        }
    }
}

/// One step of a path into an object.
#[derive(Clone, Debug, PartialEq)]
enum Seg {
    Key(String),
    /// The list element whose `field` is `value`: Kubernetes' merge keys (containers, volumes and env by
    /// `name`, ports by `containerPort`), by which patches name elements instead of counting them.
    Elem {
        field: &'static str,
        value: String,
    },
    /// A list element without its merge key, by position.
    Index(usize),
    /// The element of a list of scalars with this value (`capabilities.add`).
    Item(String),
}

fn key(name: &str) -> Seg {
    Seg::Key(name.to_string())
}

/// `["spec", "template"]` as a path.
fn keys(names: &[&str]) -> Vec<Seg> {
    names.iter().map(|n| key(n)).collect()
}

/// What a path leads to: the node, and its key when the last step was one (a finding points at the key,
/// the start of the line a person reads).
struct Entry<'a> {
    key: Option<&'a crate::stack::yaml::Key>,
    node: &'a Node,
}

impl Entry<'_> {
    fn span(&self) -> Span {
        self.key.map_or_else(|| self.node.span.clone(), |k| k.span.clone())
    }
}

fn find_entry<'a>(node: &'a Node, path: &[Seg]) -> Option<Entry<'a>> {
    let mut entry = Entry { key: None, node };
    for seg in path {
        let current = entry.node;
        entry = match seg {
            Seg::Key(k) => current.entry(k).map(|(k, v)| Entry { key: Some(k), node: v })?,
            Seg::Elem { field, value } => {
                let item = current.as_seq()?.iter().find(|e| e.get(field).and_then(Node::as_str) == Some(value))?;
                Entry { key: None, node: item }
            }
            Seg::Index(i) => Entry { key: None, node: current.as_seq()?.get(*i)? },
            Seg::Item(v) => Entry { key: None, node: current.as_seq()?.iter().find(|e| e.as_str() == Some(v))? },
        };
    }
    Some(entry)
}

fn find<'a>(node: &'a Node, path: &[Seg]) -> Option<&'a Node> {
    find_entry(node, path).map(|e| e.node)
}

/// A Kubernetes object: a YAML document (or an item of a `List`) with `apiVersion` and `kind`.
#[derive(Clone, Debug)]
struct Object {
    node: Node,
    kind: String,
    /// `metadata.name` (else `generateName`).
    name: String,
}

impl Object {
    fn from_node(node: Node) -> Option<Object> {
        node.get("apiVersion")?;
        let kind = node.get("kind").and_then(Node::as_str)?.to_string();
        let meta = node.get("metadata");
        let name = meta
            .and_then(|m| m.get("name").or_else(|| m.get("generateName")))
            .and_then(Node::as_str)
            .unwrap_or("(unnamed)")
            .to_string();
        Some(Object { node, kind, name })
    }
}

/// The objects of a file (every document; the items of a `List`) and its documents as parsed.
fn read_objects(path: &Path) -> Result<(Vec<Object>, Vec<Node>), ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    let docs = parse_documents(&text, &Arc::new(path.to_path_buf()))?;
    Ok((objects_of(&docs), docs))
}

fn objects_of(docs: &[Node]) -> Vec<Object> {
    let mut out = Vec::new();
    for doc in docs {
        let items = doc.get("items").and_then(Node::as_seq);
        match (doc.get("kind").and_then(Node::as_str), items) {
            // `kubectl get -o yaml` writes `kind: List` (and typed lists such as `PodList`).
            (Some(kind), Some(items)) if kind.ends_with("List") => {
                out.extend(items.iter().cloned().filter_map(Object::from_node))
            }
            _ => out.extend(Object::from_node(doc.clone())),
        }
    }
    out
}

/// Parses every document of a multi-document YAML text. `yaml::parse` reads one document, so each is
/// handed over alone, with the lines before it blanked rather than dropped: line numbers stay those of
/// the file, and a `---` line becomes spaces so a document that starts on it keeps its columns.
fn parse_documents(text: &str, file: &Arc<PathBuf>) -> Result<Vec<Node>, ConfigError> {
    parse_documents_from(text, file, 0)
}

/// [`parse_documents`] of a text that starts at line `first_line + 1` of `file` (an inline patch).
fn parse_documents_from(text: &str, file: &Arc<PathBuf>, first_line: usize) -> Result<Vec<Node>, ConfigError> {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut docs = Vec::new();
    let mut start = 0;
    let flush = |from: usize, to: usize, docs: &mut Vec<Node>| -> Result<(), ConfigError> {
        if lines[from..to].iter().all(|l| blank_or_comment(l)) {
            return Ok(());
        }
        let mut doc = "\n".repeat(first_line + from);
        for (i, line) in lines[from..to].iter().enumerate() {
            if i > 0 {
                doc.push('\n');
            }
            match line.strip_prefix("---") {
                Some(rest) if i == 0 => {
                    doc.push_str("   ");
                    doc.push_str(rest);
                }
                _ => doc.push_str(line),
            }
        }
        docs.push(yaml::parse(&doc, file)?);
        Ok(())
    };
    for (i, line) in lines.iter().enumerate() {
        let bare = line.trim_end();
        let marker = bare == "---" || bare.starts_with("--- ") || bare.starts_with("---\t");
        if marker || bare == "..." || bare.starts_with("%YAML") || bare.starts_with("%TAG") {
            flush(start, i, &mut docs)?;
            // A `---` line may carry the start of its document; `...` and directives carry nothing.
            start = if marker { i } else { i + 1 };
        }
    }
    flush(start, lines.len(), &mut docs)?;
    Ok(docs)
}

fn blank_or_comment(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#') || t == "---"
}

/// The `*.yaml` / `*.yml` files directly in `dir`, sorted (subdirectories are left alone: an overlay
/// tree's patches are not objects of their own).
fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ConfigError::Read { path: dir.to_path_buf(), source })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    Ok(files)
}

/// `dir/rel` with `.` and `name/..` taken out, so `overlay/../base/app.yaml` reads `base/app.yaml` in
/// findings.
fn lexical_join(dir: &Path, rel: &str) -> PathBuf {
    let mut out = PathBuf::new();
    for c in dir.join(rel).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(".."),
            },
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}
