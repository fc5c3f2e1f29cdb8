//! `tug export k8s`: the stack as a Kustomize base and overlays — one file per object, deterministic
//! (sorted keys, stable names, no timestamps), hardened, with a conversion report that accounts for every
//! compose key. An engine operation: the plan is the files and the report; running writes them.
//!
//! ```text
//!  Stack ─▶ workload::export (per service) ─┐
//!           postgres::export (CNPG)        ├─▶ objects ─▶ base/ + overlays/{…}/ ─▶ files (+ CONVERSION.md)
//!           network::policies              ┘
//! ```

pub mod convert;
mod network;
mod postgres;
mod workload;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::ops::{Ctx, Error, Operation, Result, Subject, Verdict};
use crate::stack::kubernetes::{default_overlays, KubernetesConfig};
use crate::stack::{ConfigError, Location, Service, Span, Stack};

pub use convert::{Conversion, Report as ConversionReport};

/// One manifest: where it goes under `base/` and whether the base kustomization lists it (a Secret
/// template is written beside the manifests but never applied: it has no values).
#[derive(Debug, Clone)]
pub struct Object {
    pub file: String,
    pub value: Value,
    pub resource: bool,
}

pub(crate) fn object(file: &str, value: Value) -> Object {
    Object { file: file.to_string(), value, resource: true }
}

/// The labels every object of a service carries.
pub(crate) fn labels(name: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("app.kubernetes.io/name".into(), json!(name));
    m.insert("app.kubernetes.io/managed-by".into(), json!("tugboat"));
    m
}

/// What the exporters share while they run.
pub(crate) struct Context<'a> {
    pub stack: &'a Stack,
    pub k8s: KubernetesConfig,
    pub namespace: String,
    pub report: convert::Report,
    /// Workloads the overlays scale: (kind, name).
    pub scaled: Vec<(&'static str, String)>,
    /// Services with an HPA (its minimum follows the overlay's replicas).
    pub autoscaled: Vec<String>,
    /// Services behind the Ingress, with their port (the NetworkPolicy lets the controller in).
    pub ingressed: Vec<(String, u32)>,
    /// CloudNativePG clusters: compose service -> (cluster, namespace).
    pub clusters: BTreeMap<String, (String, String)>,
}

impl Context<'_> {
    fn dependants(&self, name: &str, condition: &str) -> bool {
        self.stack
            .project
            .services
            .iter()
            .any(|s| s.depends_on.iter().any(|d| d.service == name && d.condition == condition))
    }

    pub fn project_waits_for_completion(&self, name: &str) -> bool {
        self.dependants(name, "service_completed_successfully")
    }

    pub fn others_wait_healthy(&self, name: &str) -> bool {
        self.dependants(name, "service_healthy")
    }

    /// The image with the configured registry prefix rewritten.
    pub fn image(&self, image: &str) -> String {
        self.k8s
            .images
            .iter()
            .filter(|(from, _)| image.starts_with(from.as_str()))
            .max_by_key(|(from, _)| from.len())
            .map(|(from, to)| format!("{to}{}", &image[from.len()..]))
            .unwrap_or_else(|| image.to_string())
    }

    /// The service's exemptions from `policy.exempt` (and `*`), rule -> reason.
    pub fn exemptions(&self, name: &str) -> BTreeMap<String, String> {
        let exempt = &self.stack.config.policy.exempt;
        let mut out: BTreeMap<String, String> = exempt.get("*").cloned().unwrap_or_default().into_iter().collect();
        out.extend(exempt.get(name).cloned().unwrap_or_default());
        out
    }

    /// The host name a dependency is reached at: its Service (a CNPG cluster keeps the compose name
    /// through an ExternalName Service).
    pub fn service_host(&self, name: &str) -> String {
        name.to_string()
    }

    /// A host path as the report shows it: relative to the stack when inside it (the report is committed).
    pub fn stack_relative(&self, path: &str) -> String {
        let dir = std::fs::canonicalize(&self.stack.dir).unwrap_or_else(|_| self.stack.dir.clone());
        Path::new(path).strip_prefix(&dir).map_or(path.to_string(), |p| format!("./{}", p.display()))
    }

    pub fn first_port(&self, name: &str) -> Option<u32> {
        if self.clusters.contains_key(name) || self.k8s.postgres.contains_key(name) {
            return Some(5432);
        }
        self.stack.service(name).and_then(|s| workload::declared_ports(s).first().copied())
    }

    pub fn deploy_hosts(&self, name: &str) -> Vec<String> {
        self.stack.config.deploy.get(name).map(|d| d.host.iter().chain(&d.hosts).cloned().collect()).unwrap_or_default()
    }

    /// An HTTP check of `checks:` aimed at one of the service's published ports on this host: its path
    /// and the container port. A check named `*ready*` wins.
    pub fn http_check_for(&self, s: &Service) -> Option<(String, u32)> {
        let mut found: Vec<(bool, String, u32)> = Vec::new();
        for check in self.stack.config.checks.values().flatten() {
            let Some(url) = check.http.as_deref() else { continue };
            let Some(rest) = url.strip_prefix("http://").or(url.strip_prefix("https://")) else { continue };
            let (authority, path) =
                rest.split_once('/').map_or((rest, String::from("/")), |(a, p)| (a, format!("/{p}")));
            let Some((host, port)) = authority.rsplit_once(':') else { continue };
            if !matches!(host, "127.0.0.1" | "localhost" | "0.0.0.0" | "[::1]") {
                continue;
            }
            let Ok(port) = port.parse::<u32>() else { continue };
            if let Some(p) = s.ports.iter().find(|p| p.published_ports().contains(&port)) {
                let ready = check.name.as_deref().is_some_and(|n| n.contains("ready"));
                found.push((ready, path, p.target));
            }
        }
        found.sort_by_key(|(ready, _, _)| !*ready);
        found.into_iter().next().map(|(_, path, port)| (path, port))
    }

    /// A Secret for `keys`: an ExternalSecret when a store is configured (applied), else a template with
    /// empty values (written, never applied; fill it and apply it yourself). `raw` is how compose built
    /// the value — variable names only, never values — as a hint for whoever fills it.
    pub fn secret(&self, service: &str, secret: &str, keys: &[(String, Option<String>)]) -> Object {
        match &self.k8s.external_secrets {
            Some(es) => {
                let prefix = es.prefix.clone().unwrap_or_else(|| format!("{}/", self.stack.name));
                let data: Vec<Value> = keys
                    .iter()
                    .map(|(k, _)| json!({"secretKey": k, "remoteRef": {"key": format!("{prefix}{secret}"), "property": k}}))
                    .collect();
                object(
                    &format!("{secret}.externalsecret.yaml"),
                    json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                        "metadata": {"name": secret, "namespace": self.namespace, "labels": labels(service)},
                        "spec": {"secretStoreRef": {"name": es.store, "kind": es.kind.clone().unwrap_or_else(|| "ClusterSecretStore".into())},
                            "target": {"name": secret}, "data": data}}),
                )
            }
            None => {
                let hints: Map<String, Value> = keys
                    .iter()
                    .filter_map(|(k, raw)| raw.as_ref().map(|r| (format!("tugboat.io/compose.{k}"), json!(r))))
                    .collect();
                let data: Map<String, Value> = keys.iter().map(|(k, _)| (k.clone(), json!(""))).collect();
                Object {
                    file: format!("secrets/{secret}.secret.yaml"),
                    value: json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                        "metadata": {"name": secret, "namespace": self.namespace, "labels": labels(service), "annotations": hints},
                        "stringData": data}),
                    resource: false,
                }
            }
        }
    }
}

/// What `tug export k8s` was asked.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    pub out: PathBuf,
    /// Overrides `kubernetes.namespace`.
    pub namespace: Option<String>,
    /// Write into a non-empty directory tug did not write.
    pub force: bool,
}

/// The rendered export: files relative to `out`, and the report.
#[derive(Debug, Clone, Serialize)]
pub struct Rendered {
    pub namespace: String,
    pub overlays: Vec<String>,
    #[serde(skip)]
    pub files: Vec<(String, String)>,
    pub report: convert::Report,
}

/// Renders the stack; refusals (a compose feature with no Kubernetes equivalent) are an error listing
/// each at its file:line, and nothing is written.
pub fn render(stack: &Stack, namespace: Option<&str>) -> std::result::Result<Rendered, ConfigError> {
    let k8s = stack.config.kubernetes.clone().unwrap_or_default();
    validate_names(stack, &k8s)?;
    let namespace = namespace.map(str::to_string).or(k8s.namespace.clone()).unwrap_or_else(|| dns_name(&stack.name));
    let mut cx = Context {
        stack,
        k8s,
        namespace,
        report: convert::Report::default(),
        scaled: Vec::new(),
        autoscaled: Vec::new(),
        ingressed: Vec::new(),
        clusters: BTreeMap::new(),
    };
    let mut objects = Vec::new();
    let mut namespaces = vec![cx.namespace.clone()];
    let mut services: Vec<&Service> = stack.project.services.iter().filter(|s| stack.is_active(s)).collect();
    services.sort_by(|a, b| a.name.cmp(&b.name));
    for s in &services {
        if let Some(pg) = cx.k8s.postgres.get(&s.name).cloned() {
            let (objs, ns) = postgres::export(&mut cx, s, &pg);
            namespaces.push(ns);
            objects.extend(objs);
        }
    }
    for s in &services {
        if !cx.k8s.postgres.contains_key(&s.name) {
            objects.extend(workload::export(&mut cx, s));
        }
    }
    objects.extend(network::policies(&cx, &services));
    namespaces.sort();
    namespaces.dedup();
    for ns in &namespaces {
        objects.push(object(
            &format!("{ns}.namespace.yaml"),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"app.kubernetes.io/managed-by": "tugboat"}}}),
        ));
    }
    let refused: Vec<&Conversion> = cx.report.refused().collect();
    if !refused.is_empty() {
        let errors = refused
            .iter()
            .map(|c| ConfigError::Other(format!("{}: services.{}.{}: {}", c.at, c.service, c.key, c.detail)))
            .collect();
        return Err(ConfigError::Many(errors));
    }
    let header = format!(
        "# Written by `tug export k8s` from stack {}: change tugboat.yml or the compose files and export again.\n",
        stack.name
    );
    let mut files = Vec::new();
    let mut resources = Vec::new();
    for o in &objects {
        files.push((format!("base/{}", o.file), format!("{header}{}", crate::yaml_emit::to_yaml(&sorted(&o.value)))));
        if o.resource {
            resources.push(o.file.clone());
        }
    }
    resources.sort();
    let base = json!({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "labels": [{"pairs": {"app.kubernetes.io/part-of": dns_name(&stack.name)}, "includeSelectors": false}],
        "resources": resources});
    files.push(("base/kustomization.yaml".into(), format!("{header}{}", crate::yaml_emit::to_yaml(&sorted(&base)))));
    let overlays = if cx.k8s.overlays.is_empty() { default_overlays() } else { cx.k8s.overlays.clone() };
    for (name, o) in &overlays {
        let replicas = o.replicas.unwrap_or(1);
        let counts: Vec<Value> = cx
            .scaled
            .iter()
            .filter(|(_, n)| !cx.autoscaled.contains(n))
            .map(|(_, n)| json!({"name": n, "count": replicas}))
            .collect();
        let mut patches = Vec::new();
        for n in &cx.autoscaled {
            let max =
                cx.k8s.services.get(n).and_then(|s| s.autoscale.as_ref()).map_or(replicas, |a| a.max.max(replicas));
            patches.push(json!({"target": {"kind": "HorizontalPodAutoscaler", "name": n},
                "patch": format!("- op: replace\n  path: /spec/minReplicas\n  value: {replicas}\n- op: replace\n  path: /spec/maxReplicas\n  value: {max}\n")}));
        }
        for (cluster, _) in cx.clusters.values() {
            let instances = o.instances.unwrap_or(replicas);
            patches.push(json!({"target": {"group": "postgresql.cnpg.io", "kind": "Cluster", "name": cluster},
                "patch": format!("- op: replace\n  path: /spec/instances\n  value: {instances}\n")}));
        }
        let mut k = json!({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": ["../../base"]});
        if !counts.is_empty() {
            k["replicas"] = json!(counts);
        }
        if !patches.is_empty() {
            k["patches"] = json!(patches);
        }
        files.push((
            format!("overlays/{name}/kustomization.yaml"),
            format!("{header}{}", crate::yaml_emit::to_yaml(&sorted(&k))),
        ));
    }
    files.push(("CONVERSION.md".into(), cx.report.markdown()));
    files.sort();
    Ok(Rendered {
        namespace: cx.namespace.clone(),
        overlays: overlays.keys().cloned().collect(),
        files,
        report: cx.report,
    })
}

/// Service, volume and dependency names in `kubernetes:` must exist in the compose project.
fn validate_names(stack: &Stack, k8s: &KubernetesConfig) -> std::result::Result<(), ConfigError> {
    let root = stack.config_file.as_ref().map(|(_, n)| n);
    let at = |path: &[&str]| -> Span {
        root.and_then(|r| r.get_path(path)).map(|n| n.span.clone()).unwrap_or_else(|| Span::synthetic("tugboat.yml"))
    };
    let services: Vec<&str> = stack.project.services.iter().map(|s| s.name.as_str()).collect();
    let volumes: Vec<String> = stack
        .project
        .services
        .iter()
        .flat_map(|s| &s.volumes)
        .filter(|m| m.kind == "volume")
        .filter_map(|m| m.source.clone())
        .collect();
    let mut errors = Vec::new();
    let mut fail =
        |path: &[&str], message: String| errors.push(ConfigError::at(Location::new(at(path), path.join(".")), message));
    for (section, names) in
        [("services", k8s.services.keys().collect::<Vec<_>>()), ("postgres", k8s.postgres.keys().collect())]
    {
        for n in names.into_iter().filter(|n| !services.contains(&n.as_str())) {
            fail(&["kubernetes", section, n], format!("no compose service `{n}` (services: {})", services.join(", ")));
        }
    }
    for (service, cfg) in &k8s.services {
        for w in cfg.wait_for.iter().filter(|w| !services.contains(&w.as_str())) {
            fail(&["kubernetes", "services", service, "wait_for"], format!("no compose service `{w}` to wait for"));
        }
        let binds: Vec<&str> = stack
            .service(service)
            .map(|s| s.volumes.iter().filter(|m| m.kind == "bind").map(|m| m.target.as_str()).collect())
            .unwrap_or_default();
        for (path, v) in &cfg.binds {
            if !binds.contains(&path.as_str()) {
                fail(
                    &["kubernetes", "services", service, "binds", path],
                    format!("`{service}` has no bind mount at {path}"),
                );
            }
            if !crate::stack::kubernetes::is_quantity(&v.size) {
                fail(
                    &["kubernetes", "services", service, "binds", path, "size"],
                    format!("`{}` is not a size: write e.g. 10Gi", v.size),
                );
            }
        }
    }
    for v in k8s.volumes.keys().filter(|v| !volumes.contains(v)) {
        fail(&["kubernetes", "volumes", v], format!("no service mounts a volume `{v}`"));
    }
    ConfigError::collect(errors)
}

/// A name Kubernetes takes: lowercase, `-` for anything else.
pub fn dns_name(s: &str) -> String {
    let n: String = s.to_ascii_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    n.trim_matches('-').chars().take(63).collect()
}

/// Keys sorted at every level, so the output diffs cleanly whatever order it was built in.
fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&m[k]))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// The marker that says a directory is tug's export (and lists its files, so a re-export removes what
/// no longer exists).
const MARKER: &str = ".tugboat-export.json";

/// `tug export k8s` as an operation.
pub struct Export<'a> {
    pub stack: &'a Stack,
    pub options: ExportOptions,
}

#[derive(Debug, Serialize)]
pub struct ExportPlan {
    pub out: PathBuf,
    #[serde(flatten)]
    pub rendered: Rendered,
    pub files: Vec<String>,
    /// Files of an earlier export that no longer exist in this one.
    pub remove: Vec<String>,
}

impl std::fmt::Display for ExportPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "export to {} (namespace {}, overlays {}):",
            self.out.display(),
            self.rendered.namespace,
            self.rendered.overlays.join(", ")
        )?;
        for file in &self.files {
            writeln!(f, "  write  {file}")?;
        }
        for file in &self.remove {
            writeln!(f, "  remove {file}")?;
        }
        write_summary(f, &self.rendered.report)
    }
}

/// The report's warnings, and the counts.
pub fn write_summary(f: &mut dyn std::fmt::Write, r: &convert::Report) -> std::fmt::Result {
    for e in r.entries.iter().filter(|e| e.verdict == convert::Verdict::Warning) {
        writeln!(f, "  warning {}: {}.{}: {}", convert::relative_at(&e.at), e.service, e.key, e.detail)?;
    }
    writeln!(
        f,
        "{} keys mapped, {} with a warning, {} refused (every key: CONVERSION.md, or --json)",
        r.count(convert::Verdict::Mapped),
        r.count(convert::Verdict::Warning),
        r.count(convert::Verdict::Refused)
    )
}

#[derive(Debug, Serialize)]
pub struct ExportReport {
    pub out: PathBuf,
    pub written: usize,
    pub unchanged: usize,
    pub removed: Vec<String>,
    pub report: convert::Report,
}

impl Verdict for ExportReport {
    fn problem(&self) -> Option<String> {
        None
    }
    fn audit_summary(&self) -> Value {
        json!({"written": self.written, "unchanged": self.unchanged, "removed": self.removed.len()})
    }
}

impl Operation for Export<'_> {
    type Plan = ExportPlan;
    type Report = ExportReport;

    fn command(&self) -> &'static str {
        "export k8s"
    }
    fn subject(&self) -> Subject {
        Subject::of(self.stack)
    }
    fn request(&self) -> Value {
        json!({"out": self.options.out, "namespace": self.options.namespace, "force": self.options.force})
    }
    fn plan(&self, _ctx: &mut Ctx) -> Result<ExportPlan> {
        let rendered = render(self.stack, self.options.namespace.as_deref())?;
        let out = &self.options.out;
        let previous = previous_export(out, self.options.force)?;
        let files: Vec<String> = rendered.files.iter().map(|(p, _)| p.clone()).collect();
        let remove = previous.into_iter().filter(|p| !files.contains(p)).collect();
        Ok(ExportPlan { out: out.clone(), rendered, files, remove })
    }
    fn run(&self, plan: &ExportPlan, _ctx: &mut Ctx) -> Result<ExportReport> {
        let io = |path: &Path, e: std::io::Error| Error::cannot_act(format!("cannot write {}: {e}", path.display()));
        let (mut written, mut unchanged) = (0, 0);
        for (rel, text) in &plan.rendered.files {
            let path = plan.out.join(rel);
            if std::fs::read_to_string(&path).is_ok_and(|old| old == *text) {
                unchanged += 1;
                continue;
            }
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
            }
            crate::fs::write_atomic(&path, text.as_bytes()).map_err(|e| io(&path, e))?;
            written += 1;
        }
        for rel in &plan.remove {
            let path = plan.out.join(rel);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&path, e)),
            }
        }
        let marker = plan.out.join(MARKER);
        let listing = serde_json::to_string_pretty(&json!({"written_by": "tug export k8s", "files": plan.files}))
            .map_err(|e| Error::cannot_act(e.to_string()))?;
        crate::fs::write_atomic(&marker, format!("{listing}\n").as_bytes()).map_err(|e| io(&marker, e))?;
        Ok(ExportReport {
            out: plan.out.clone(),
            written,
            unchanged,
            removed: plan.remove.clone(),
            report: plan.rendered.report.clone(),
        })
    }
}

/// The files of the export already in `out`; a non-empty directory without the marker is refused
/// unless forced (it is someone else's).
fn previous_export(out: &Path, force: bool) -> Result<Vec<String>> {
    let marker = out.join(MARKER);
    if let Ok(text) = std::fs::read_to_string(&marker) {
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        return Ok(v["files"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str().map(str::to_string))
            .collect());
    }
    let non_empty = std::fs::read_dir(out).is_ok_and(|mut d| d.next().is_some());
    if non_empty && !force {
        return Err(Error::usage(format!(
            "{} is not empty and was not written by tug export: choose another directory, or allow writing into it",
            out.display()
        ))
        .with_guidance(crate::ops::Guidance::AllowReplace));
    }
    Ok(Vec::new())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
