//! The rules over one Kubernetes object: its pod spec (workloads) or its exposure (Services). Each finding
//! names the path of what it is about; where that path points in a file is the caller's business, since
//! a built kustomization's nodes point at nothing a person can edit.

use super::super::rules::{harmless_read_only, is_reference_value, sensitive_reason, unpinned, DANGEROUS_CAPS};
use super::{find, key, keys, Object, Seg, EXEMPT_ANNOTATION_PREFIX};
use crate::secret;
use crate::stack::Node;

/// A rule that fired: what it is about (`Kind/name` or `Kind/name/container`) and the path of the
/// offending field, or of the container or object lacking a setting.
pub(super) struct Hit {
    pub rule: &'static str,
    pub subject: String,
    pub path: Vec<Seg>,
    pub message: String,
}

/// Where the pod template of a workload of this kind sits (its `metadata` and `spec`); a Pod is its
/// own template.
fn template_path(kind: &str) -> Option<&'static [&'static str]> {
    match kind {
        "Pod" => Some(&[]),
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "ReplicationController" | "Job" => {
            Some(&["spec", "template"])
        }
        "CronJob" => Some(&["spec", "jobTemplate", "spec", "template"]),
        _ => None,
    }
}

pub(super) fn is_workload(kind: &str) -> bool {
    template_path(kind).is_some()
}

pub(super) fn hits(object: &Object) -> Vec<Hit> {
    match (template_path(&object.kind), object.kind.as_str()) {
        (Some(template), _) => Workload::new(object, template).map(|w| w.hits()).unwrap_or_default(),
        (None, "Service") => service_hits(object),
        _ => Vec::new(),
    }
}

/// The `tugboat.io/exempt.*` annotations of an object and of its pod template: path, key and value.
pub(super) fn exemption_annotations(object: &Object) -> Vec<(Vec<Seg>, String, &Node)> {
    let mut metas = vec![keys(&["metadata"])];
    if let Some(template) = template_path(&object.kind).filter(|t| !t.is_empty()) {
        metas.push([keys(template), keys(&["metadata"])].concat());
    }
    let mut out = Vec::new();
    for meta in metas {
        let path = [meta, keys(&["annotations"])].concat();
        let entries = find(&object.node, &path).and_then(Node::as_map).unwrap_or(&[]);
        for (k, v) in entries.iter().filter(|(k, _)| k.name.starts_with(EXEMPT_ANNOTATION_PREFIX)) {
            out.push(([path.clone(), vec![key(&k.name)]].concat(), k.name.clone(), v));
        }
    }
    out
}

fn join(base: &[Seg], rest: &[&str]) -> Vec<Seg> {
    [base.to_vec(), keys(rest)].concat()
}

fn is_true(node: Option<&Node>) -> bool {
    node.and_then(Node::as_bool) == Some(true)
}

fn set(node: Option<&Node>) -> Option<&Node> {
    node.filter(|n| !n.is_null())
}

struct Workload<'a> {
    /// `Kind/name`.
    subject: String,
    pod: &'a Node,
    pod_path: Vec<Seg>,
    /// The pod template's `metadata` (annotations), when it has one.
    template_meta: Option<&'a Node>,
    template_meta_path: Vec<Seg>,
    /// Runs to completion (a Job, a CronJob, a Pod that is not restarted): no probes expected.
    one_shot: bool,
    out: Vec<Hit>,
}

/// One container of a workload.
struct Container<'a> {
    node: &'a Node,
    path: Vec<Seg>,
    /// `Kind/name/container`.
    subject: String,
    name: String,
    /// An init container (one that runs before the others and exits), unless it is a sidecar
    /// (`restartPolicy: Always`).
    init: bool,
}

impl<'a> Workload<'a> {
    fn new(object: &'a Object, template: &[&str]) -> Option<Workload<'a>> {
        let pod_path = join(&keys(template), &["spec"]);
        let pod = find(&object.node, &pod_path)?;
        let template_meta_path = join(&keys(template), &["metadata"]);
        let restart = pod.get("restartPolicy").and_then(Node::as_str);
        Some(Workload {
            subject: format!("{}/{}", object.kind, object.name),
            pod,
            pod_path,
            template_meta: find(&object.node, &template_meta_path),
            template_meta_path,
            one_shot: matches!(object.kind.as_str(), "Job" | "CronJob")
                || object.kind == "Pod" && matches!(restart, Some("Never" | "OnFailure")),
            out: Vec::new(),
        })
    }

    fn push(&mut self, rule: &'static str, subject: &str, path: Vec<Seg>, message: String) {
        self.out.push(Hit { rule, subject: subject.to_string(), path, message });
    }

    fn containers(&self) -> Vec<Container<'a>> {
        let mut out = Vec::new();
        for list in ["initContainers", "containers"] {
            let items = self.pod.get(list).and_then(Node::as_seq).unwrap_or(&[]);
            for (i, node) in items.iter().enumerate() {
                let name = node.get("name").and_then(Node::as_str);
                let seg = name.map_or(Seg::Index(i), |n| Seg::Elem { field: "name", value: n.to_string() });
                let name = name.map_or_else(|| format!("{list}[{i}]"), str::to_string);
                let sidecar = node.get("restartPolicy").and_then(Node::as_str) == Some("Always");
                out.push(Container {
                    node,
                    path: [self.pod_path.clone(), vec![key(list), seg]].concat(),
                    subject: format!("{}/{name}", self.subject),
                    name,
                    init: list == "initContainers" && !sidecar,
                });
            }
        }
        out
    }

    /// A `securityContext` setting as it applies to `c`: the container's, else the pod's (Kubernetes'
    /// precedence), with its path.
    fn effective(&self, c: &Container<'a>, key: &str) -> Option<(&'a Node, Vec<Seg>)> {
        if let Some(n) = set(c.node.get_path(&["securityContext", key])) {
            return Some((n, join(&c.path, &["securityContext", key])));
        }
        let n = set(self.pod.get_path(&["securityContext", key]))?;
        Some((n, join(&self.pod_path, &["securityContext", key])))
    }

    fn hits(mut self) -> Vec<Hit> {
        self.host_namespaces();
        self.host_paths();
        for c in self.containers() {
            self.identity(&c);
            self.container_security(&c);
            self.profiles(&c);
            self.resources(&c);
            self.probes(&c);
            self.image(&c);
            self.host_ports(&c);
            self.literal_secrets(&c);
        }
        self.out
    }

    /// TB007: the host's network, PID or IPC namespace. (`hostUsers: false` is the hardened setting; its
    /// default, `true`, is every pod's without user namespaces and is not reported.)
    fn host_namespaces(&mut self) {
        for (field, what) in [("hostNetwork", "network"), ("hostPID", "PID"), ("hostIPC", "IPC")] {
            if is_true(self.pod.get(field)) {
                let subject = self.subject.clone();
                let message = format!("`{subject}` shares the host's {what} namespace (`{field}: true`)");
                self.push("TB007", &subject, join(&self.pod_path, &[field]), message);
            }
        }
    }

    /// TB008: `hostPath` volumes of sensitive host paths; read-only only when every mount of the volume is.
    fn host_paths(&mut self) {
        let volumes = self.pod.get("volumes").and_then(Node::as_seq).unwrap_or(&[]);
        let containers = self.containers();
        for (i, v) in volumes.iter().enumerate() {
            let Some(source) = v.get_path(&["hostPath", "path"]).and_then(Node::as_str) else { continue };
            let name = v.get("name").and_then(Node::as_str);
            let mounts: Vec<&Node> = containers
                .iter()
                .flat_map(|c| c.node.get("volumeMounts").and_then(Node::as_seq).unwrap_or(&[]))
                .filter(|m| name.is_some() && m.get("name").and_then(Node::as_str) == name)
                .collect();
            let read_only = !mounts.is_empty() && mounts.iter().all(|m| is_true(m.get("readOnly")));
            let source = clean_absolute(source);
            let harmless = harmless_read_only(&source);
            if harmless && read_only {
                continue;
            }
            let Some((why, socket)) = sensitive_reason(&source) else { continue };
            let mode = match (read_only, socket, harmless) {
                (false, _, true) => " read-write (only a read-only mount of it is harmless)",
                (true, true, _) => " read-only (which does not stop a client using a socket)",
                (true, false, _) => " read-only (still sensitive)",
                (false, _, false) => "",
            };
            let volume = name.map(|n| format!(" through volume `{n}`")).unwrap_or_default();
            let subject = self.subject.clone();
            let message = format!("`{subject}` mounts host path {source}{volume}{mode}: {why}");
            let seg = name.map_or(Seg::Index(i), |n| Seg::Elem { field: "name", value: n.to_string() });
            let path = [self.pod_path.clone(), vec![key("volumes"), seg], keys(&["hostPath", "path"])].concat();
            self.push("TB008", &subject, path, message);
        }
    }

    /// TB001: neither `runAsNonRoot: true` nor a non-zero `runAsUser`, container over pod.
    fn identity(&mut self, c: &Container) {
        if self.effective(c, "runAsNonRoot").is_some_and(|(n, _)| n.as_bool() == Some(true)) {
            return;
        }
        match self.effective(c, "runAsUser") {
            None => self.push(
                "TB001",
                &c.subject,
                c.path.clone(),
                format!(
                    "`{}` sets neither `runAsNonRoot: true` nor a non-zero `runAsUser` (container or pod \
                     `securityContext`), so it runs as the image's user (root unless the image says otherwise)",
                    c.subject
                ),
            ),
            Some((user, path)) if user.as_str().map(str::trim) == Some("0") => {
                self.push("TB001", &c.subject, path, format!("`{}` runs as root (`runAsUser: 0`)", c.subject))
            }
            Some(_) => {}
        }
    }

    /// TB002–TB006: the container's own `securityContext` (these fields have no pod-level form).
    fn container_security(&mut self, c: &Container) {
        let sc = c.node.get("securityContext");
        let field = |name: &str| set(sc.and_then(|s| s.get_path(&name.split('.').collect::<Vec<_>>())));
        // Where a missing setting is reported: the field when it is written (with a wrong value), else the
        // container.
        let at = |name: &str| {
            if field(name).is_some() {
                [c.path.clone(), vec![key("securityContext")], keys(&name.split('.').collect::<Vec<_>>())].concat()
            } else {
                c.path.clone()
            }
        };
        if field("readOnlyRootFilesystem").and_then(Node::as_bool) != Some(true) {
            let message = format!(
                "`{}` has a writable root filesystem (`securityContext.readOnlyRootFilesystem` is not true)",
                c.subject
            );
            self.push("TB002", &c.subject, at("readOnlyRootFilesystem"), message);
        }
        let drop = field("capabilities.drop").and_then(Node::as_seq).unwrap_or(&[]);
        if !drop.iter().filter_map(Node::as_str).any(|cap| cap.eq_ignore_ascii_case("ALL")) {
            let message =
                format!("`{}` does not drop all capabilities (`securityContext.capabilities.drop: [ALL]`)", c.subject);
            self.push("TB003", &c.subject, at("capabilities.drop"), message);
        }
        for cap in field("capabilities.add").and_then(Node::as_seq).unwrap_or(&[]).iter().filter_map(Node::as_str) {
            let bare = cap.trim_start_matches("CAP_").to_ascii_uppercase();
            if DANGEROUS_CAPS.contains(&bare.as_str()) {
                let path = [join(&c.path, &["securityContext", "capabilities", "add"]), vec![Seg::Item(cap.into())]];
                let message = format!("`{}` adds capability {bare} (`securityContext.capabilities.add`)", c.subject);
                self.push("TB004", &c.subject, path.concat(), message);
            }
        }
        if field("allowPrivilegeEscalation").and_then(Node::as_bool) != Some(false) {
            let message = format!(
                "`{}` does not set `securityContext.allowPrivilegeEscalation: false`, so setuid binaries can raise \
                 privileges",
                c.subject
            );
            self.push("TB005", &c.subject, at("allowPrivilegeEscalation"), message);
        }
        if is_true(field("privileged")) {
            let message = format!("`{}` runs privileged (`securityContext.privileged: true`)", c.subject);
            self.push("TB006", &c.subject, at("privileged"), message);
        }
    }

    /// TB022: seccomp or AppArmor unconfined (container over pod; and the AppArmor annotation of older
    /// clusters), `procMount: Unmasked` and the unconfined SELinux type `spc_t`.
    fn profiles(&mut self, c: &Container) {
        for (field, off) in [("seccompProfile", "Unconfined"), ("appArmorProfile", "Unconfined")] {
            let Some((profile, path)) = self.effective(c, field) else { continue };
            if profile.get("type").and_then(Node::as_str) == Some(off) {
                let message = format!("`{}` disables a kernel security profile (`{field}.type: {off}`)", c.subject);
                self.push("TB022", &c.subject, [path, vec![key("type")]].concat(), message);
            }
        }
        let annotation = format!("container.apparmor.security.beta.kubernetes.io/{}", c.name);
        let annotations = self.template_meta.and_then(|m| m.get("annotations"));
        if annotations.and_then(|a| a.get(&annotation)).and_then(Node::as_str) == Some("unconfined") {
            let path = [self.template_meta_path.clone(), vec![key("annotations"), key(&annotation)]].concat();
            let message = format!("`{}` disables a kernel security profile (`{annotation}: unconfined`)", c.subject);
            self.push("TB022", &c.subject, path, message);
        }
        if let Some(node) = set(c.node.get_path(&["securityContext", "procMount"])) {
            if node.as_str() == Some("Unmasked") {
                let message =
                    format!("`{}` unmasks the kernel's /proc and /sys paths (`procMount: Unmasked`)", c.subject);
                self.push("TB022", &c.subject, join(&c.path, &["securityContext", "procMount"]), message);
            }
        }
        if let Some((options, path)) = self.effective(c, "seLinuxOptions") {
            if options.get("type").and_then(Node::as_str) == Some("spc_t") {
                let message =
                    format!("`{}` runs in the unconfined SELinux domain (`seLinuxOptions.type: spc_t`)", c.subject);
                self.push("TB022", &c.subject, [path, vec![key("type")]].concat(), message);
            }
        }
    }

    /// TB009 / TB010: `resources.limits.memory` / `.cpu`.
    fn resources(&mut self, c: &Container) {
        let limits = c.node.get_path(&["resources", "limits"]);
        let at = if limits.is_some() {
            join(&c.path, &["resources", "limits"])
        } else if c.node.get("resources").is_some() {
            join(&c.path, &["resources"])
        } else {
            c.path.clone()
        };
        for (rule, field, what) in [("TB009", "memory", "memory"), ("TB010", "cpu", "CPU")] {
            if set(limits.and_then(|l| l.get(field))).is_none() {
                let message = format!("`{}` has no {what} limit (`resources.limits.{field}`)", c.subject);
                self.push(rule, &c.subject, at.clone(), message);
            }
        }
    }

    /// TB011: neither a readiness nor a liveness probe, on containers meant to keep running.
    fn probes(&mut self, c: &Container) {
        if self.one_shot || c.init {
            return;
        }
        if c.node.get("readinessProbe").is_none() && c.node.get("livenessProbe").is_none() {
            let message = format!("`{}` has neither a `readinessProbe` nor a `livenessProbe`", c.subject);
            self.push("TB011", &c.subject, c.path.clone(), message);
        }
    }

    /// TB012: `latest` or no tag.
    fn image(&mut self, c: &Container) {
        let Some(image) = c.node.get("image").and_then(Node::as_str) else { return };
        if let Some(problem) = unpinned(image) {
            let message = format!("`{}` uses {image:?}: {problem}", c.subject);
            self.push("TB012", &c.subject, join(&c.path, &["image"]), message);
        }
    }

    /// TB016: a `hostPort` on every interface of the node.
    fn host_ports(&mut self, c: &Container) {
        let ports = c.node.get("ports").and_then(Node::as_seq).unwrap_or(&[]);
        for (i, p) in ports.iter().enumerate() {
            let Some(host_port) = p.get("hostPort").and_then(Node::as_str).filter(|h| !matches!(*h, "0" | "")) else {
                continue;
            };
            let host_ip = p.get("hostIP").and_then(Node::as_str).unwrap_or("");
            if !matches!(host_ip, "" | "0.0.0.0" | "::") {
                continue; // bound to one address (loopback or a chosen interface)
            }
            let target = p.get("containerPort").and_then(Node::as_str);
            let seg = target.map_or(Seg::Index(i), |t| Seg::Elem { field: "containerPort", value: t.to_string() });
            let message = format!(
                "`{}` publishes container port {} on host port {host_port} on all interfaces of its node (`hostPort`)",
                c.subject,
                target.unwrap_or("?")
            );
            let path = [c.path.clone(), vec![key("ports"), seg, key("hostPort")]].concat();
            self.push("TB016", &c.subject, path, message);
        }
    }

    /// TB018: a literal secret in an env `value` (`$(VAR)` references are not literal).
    fn literal_secrets(&mut self, c: &Container) {
        let env = c.node.get("env").and_then(Node::as_seq).unwrap_or(&[]);
        for (i, e) in env.iter().enumerate() {
            let (Some(name), Some(value)) =
                (e.get("name").and_then(Node::as_str), set(e.get("value")).and_then(Node::as_str))
            else {
                continue;
            };
            let literal = without_references(value);
            let by_name = secret::is_secret_name(name) && !literal.trim().is_empty() && !is_reference_value(&literal);
            let by_url = secret::url_has_literal_password(&literal);
            let by_shape = secret::looks_random(&literal);
            if !(by_name || by_url || by_shape) {
                continue;
            }
            let why = if by_url {
                "a URL with a literal password"
            } else if by_name {
                "a literal value in a secret-named variable"
            } else {
                "a high-entropy literal"
            };
            let message =
                format!("`{}` sets {name} to {why} (reference a Secret with `valueFrom.secretKeyRef`)", c.subject);
            let seg = Seg::Elem { field: "name", value: name.to_string() };
            let seg = if env.iter().filter(|o| o.get("name").and_then(Node::as_str) == Some(name)).count() > 1 {
                Seg::Index(i)
            } else {
                seg
            };
            let path = [c.path.clone(), vec![key("env"), seg, key("value")]].concat();
            self.push("TB018", &c.subject, path, message);
        }
    }
}

/// TB016: a Service whose ports listen on every node (NodePort, and the node ports of a LoadBalancer).
fn service_hits(object: &Object) -> Vec<Hit> {
    let subject = format!("Service/{}", object.name);
    let kind = object.node.get_path(&["spec", "type"]).and_then(Node::as_str);
    let how = match kind {
        Some("NodePort") => "its ports listen on every interface of every node",
        Some("LoadBalancer") => {
            "its ports are reachable through the load balancer and listen on every interface of every node \
             (node ports)"
        }
        _ => return Vec::new(),
    };
    let message = format!("`{subject}` is `type: {}`: {how}", kind.unwrap_or_default());
    vec![Hit { rule: "TB016", subject, path: keys(&["spec", "type"]), message }]
}

/// An env value with its `$(VAR)` references taken out (`$$` is a literal `$`), as the kubelet expands them.
fn without_references(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(close) = after.strip_prefix('(').and_then(|a| a.find(')')) {
            let name = &after[1..=close];
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) {
                rest = &after[close + 2..];
            } else {
                out.push('$');
                rest = after;
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// A `hostPath` as the node reads it: `.` and `name/..` resolved, so `/srv/../etc` is `/etc`.
fn clean_absolute(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}
