//! One compose service -> its workload (Deployment, StatefulSet or Job), ConfigMap, Secret template,
//! Service, Ingress and HPA — hardened, with probes that mean what the compose healthcheck meant.

use serde_json::{json, Map, Value};

use super::{labels, object, Context, Object};
use crate::stack::kubernetes::{HttpProbe, ServiceConfig};
use crate::stack::probes::HumanDuration;
use crate::stack::{Node, Service};

/// What a service becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Deployment,
    /// It keeps state in named volumes: one claim per replica.
    StatefulSet,
    /// Another service waits for it to complete (`service_completed_successfully`): a one-shot.
    Job,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Deployment => "Deployment",
            Kind::StatefulSet => "StatefulSet",
            Kind::Job => "Job",
        }
    }
}

/// The image that waits for a dependency's port in an init container.
const WAIT_IMAGE: &str = "busybox:1.36.1";

pub fn export(cx: &mut Context, s: &Service) -> Vec<Object> {
    let cfg = cx.k8s.services.get(&s.name).cloned().unwrap_or_default();
    let node = &s.node;
    let get = |k: &str| node.get(k);
    let span = |k: &str| node.entry(k).map(|(key, _)| key.span.clone());
    let name = s.name.as_str();
    let kind = if cx.project_waits_for_completion(name) {
        Kind::Job
    } else if s.volumes.iter().any(|m| m.kind == "volume" && m.source.is_some()) || !cfg.binds.is_empty() {
        Kind::StatefulSet
    } else {
        Kind::Deployment
    };
    cx.report.mapped(name, "service", Some(&s.span), format!("{} {name}", kind.name()));

    // Keys that have no Kubernetes equivalent, or whose meaning Kubernetes gives differently.
    for (key, _) in node.as_map().unwrap_or(&[]) {
        let k = key.name.as_str();
        let sp = Some(&key.span);
        match k {
            "privileged" if get(k).and_then(Node::as_bool) == Some(true) => cx.report.refuse(
                name,
                k,
                sp,
                "privileged containers are refused: grant the capability the service needs",
            ),
            "network_mode" => {
                let mode = get(k).and_then(Node::as_str).unwrap_or_default();
                cx.report.refuse(
                    name,
                    k,
                    sp,
                    format!("`network_mode: {mode}` has no Kubernetes equivalent (pods have their own network)"),
                );
            }
            "pid" | "ipc" | "userns_mode" | "uts" if get(k).and_then(Node::as_str) == Some("host") => {
                cx.report.refuse(name, k, sp, format!("`{k}: host` shares the node's namespace: refused"))
            }
            "devices" => cx.report.refuse(
                name,
                k,
                sp,
                "host devices are refused (GPUs: `deploy.resources.reservations.devices`)",
            ),
            "restart" => cx.report.mapped(
                name,
                k,
                sp,
                match kind {
                    Kind::Job => "restartPolicy: OnFailure (a Job)",
                    _ => "restartPolicy: Always (every Deployment/StatefulSet restarts)",
                },
            ),
            "container_name" | "hostname" | "domainname" => {
                cx.report.warn(name, k, sp, "ignored: pods are named by their workload, reached through the Service")
            }
            "extra_hosts" => cx.report.warn(name, k, sp, "ignored: use DNS (hostAliases are per pod and rarely right)"),
            "logging" => cx.report.mapped(
                name,
                k,
                sp,
                "the kubelet keeps and rotates container logs (containerLogMaxSize / containerLogMaxFiles)",
            ),
            "labels" | "stop_signal" | "profiles" | "build" | "pull_policy" | "init" => {
                cx.report.warn(name, k, sp, format!("`{k}` is not exported"))
            }
            "stop_grace_period" => {}
            "ports" | "expose" | "image" | "command" | "entrypoint" | "environment" | "env_file" | "user"
            | "read_only" | "tmpfs" | "cap_add" | "cap_drop" | "security_opt" | "volumes" | "networks"
            | "depends_on" | "healthcheck" | "deploy" | "working_dir" | "mem_limit" | "cpus" | "pids_limit"
            | "privileged" => {}
            other => cx.report.warn(name, other, sp, format!("`{other}` is not exported")),
        }
    }

    let image = cx.image(s.image.as_deref().unwrap_or_default());
    if s.build && s.image.is_none() {
        cx.report.refuse(
            name,
            "build",
            span("build").as_ref(),
            "a service that is only built has no image to run: set `image:`",
        );
    } else {
        cx.report.mapped(name, "image", span("image").as_ref(), format!("image {image}"));
    }

    let mut container = Map::new();
    container.insert("name".into(), json!(name));
    container.insert("image".into(), json!(image));
    for (key, k8s) in [("entrypoint", "command"), ("command", "args")] {
        if let Some(v) = get(key) {
            let argv = argv(v);
            cx.report.mapped(name, key, span(key).as_ref(), k8s);
            container.insert(k8s.into(), json!(argv));
        }
    }
    if let Some(dir) = get("working_dir").and_then(Node::as_str) {
        container.insert("workingDir".into(), json!(dir));
        cx.report.mapped(name, "working_dir", span("working_dir").as_ref(), "workingDir");
    }

    let mut objects = Vec::new();
    let (env, config_map, secret) = environment(cx, s);
    if !env.is_empty() {
        container.insert("env".into(), json!(env));
    }
    objects.extend(config_map);
    objects.extend(secret);

    // Ports: every target the service declares (ports and expose).
    let ports = declared_ports(s);
    if !ports.is_empty() {
        container.insert(
            "ports".into(),
            json!(ports.iter().map(|p| json!({"name": format!("p{p}"), "containerPort": p})).collect::<Vec<_>>()),
        );
    }

    let (resources, pids) = resources(node);
    if resources.as_object().is_some_and(|m| !m.is_empty()) {
        container.insert("resources".into(), resources.clone());
        cx.report.mapped(
            name,
            "deploy.resources",
            span("deploy").as_ref(),
            "resources.limits and requests (requests = reservations, else the limits)",
        );
    } else {
        cx.report.warn(
            name,
            "deploy.resources",
            None,
            "no limits in the compose file: the pods have none (TB009/TB010)",
        );
    }
    if pids {
        cx.report.warn(
            name,
            "deploy.resources.limits.pids",
            span("deploy").as_ref(),
            "Kubernetes has no per-pod PID limit: set the kubelet's podPidsLimit on the nodes",
        );
    }

    // Probes.
    let probes = probes(cx, s, &cfg, &ports);
    for (k, v) in probes {
        container.insert(k, v);
    }

    // Security: hardened unless tugboat.yml exempts the service from the rule (with its reason).
    let exempt = cx.exemptions(name);
    let (uid, gid) = user(node);
    let mut security = Map::new();
    if !exempt.contains_key("TB005") {
        security.insert("allowPrivilegeEscalation".into(), json!(false));
    }
    if !exempt.contains_key("TB002") {
        security.insert("readOnlyRootFilesystem".into(), json!(true));
    }
    let cap_add: Vec<String> =
        seq_strings(get("cap_add")).into_iter().map(|c| c.trim_start_matches("CAP_").to_string()).collect();
    let mut caps = Map::new();
    if !exempt.contains_key("TB003") {
        caps.insert("drop".into(), json!(["ALL"]));
    }
    if !cap_add.is_empty() {
        caps.insert("add".into(), json!(cap_add));
        cx.report.mapped(name, "cap_add", span("cap_add").as_ref(), format!("capabilities.add {}", cap_add.join(", ")));
    }
    security.insert("capabilities".into(), Value::Object(caps));
    match uid {
        Some(0) => {
            if !exempt.contains_key("TB001") {
                cx.report.warn(
                    name,
                    "user",
                    span("user").as_ref(),
                    "runs as root: exported as runAsNonRoot (exempt TB001 to keep root)",
                );
            }
        }
        Some(u) => {
            security.insert("runAsUser".into(), json!(u));
            if let Some(g) = gid {
                security.insert("runAsGroup".into(), json!(g));
            }
            cx.report.mapped(
                name,
                "user",
                span("user").as_ref(),
                format!("runAsUser {u}{}", gid.map(|g| format!(", runAsGroup {g}")).unwrap_or_default()),
            );
        }
        None if get("user").is_some() => cx.report.warn(
            name,
            "user",
            span("user").as_ref(),
            "a user name: runAsNonRoot needs a numeric uid, set `user: \"UID:GID\"`",
        ),
        None => {
            cx.report.warn(name, "user", None, "no user: runAsNonRoot requires the image's default user to be non-root")
        }
    }
    if !exempt.contains_key("TB001") {
        security.insert("runAsNonRoot".into(), json!(true));
    }
    for o in seq_strings(get("security_opt")) {
        let verdict = if o.starts_with("no-new-privileges") {
            "allowPrivilegeEscalation: false"
        } else {
            "seccompProfile RuntimeDefault (custom profiles are node files: not exported)"
        };
        cx.report.mapped(name, "security_opt", span("security_opt").as_ref(), format!("{o}: {verdict}"));
    }
    if get("read_only").is_some() {
        cx.report.mapped(name, "read_only", span("read_only").as_ref(), "readOnlyRootFilesystem");
    }
    container.insert("securityContext".into(), Value::Object(security));

    // Volumes: tmpfs -> emptyDir (memory), named volumes -> claims, binds -> refused unless replaced.
    let mut mounts = Vec::new();
    let mut volumes = Vec::new();
    let mut claims = Vec::new();
    for (i, t) in seq_strings(get("tmpfs")).iter().enumerate() {
        let (path, options) = t.split_once(':').unwrap_or((t, ""));
        let size = options.split(',').find_map(|o| o.strip_prefix("size=")).map(quantity);
        let vol = format!("tmp-{i}");
        let mut empty = json!({"medium": "Memory"});
        if let Some(size) = &size {
            empty["sizeLimit"] = json!(size);
        }
        volumes.push(json!({"name": vol, "emptyDir": empty}));
        mounts.push(json!({"name": vol, "mountPath": path}));
        cx.report.mapped(name, &format!("tmpfs[{i}]"), span("tmpfs").as_ref(), format!("emptyDir (Memory) at {path}"));
    }
    for (i, m) in s.volumes.iter().enumerate() {
        let key = format!("volumes[{i}]");
        match (m.kind.as_str(), &m.source) {
            ("volume", Some(source)) => {
                let Some(size) = cx.k8s.volumes.get(source) else {
                    cx.report.refuse(
                        name,
                        &key,
                        Some(&m.span),
                        format!("volume `{source}` has no size: set `kubernetes.volumes.{source}.size` (e.g. 10Gi)"),
                    );
                    continue;
                };
                let mut spec = json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size.size}}});
                if let Some(class) = &size.storage_class {
                    spec["storageClassName"] = json!(class);
                }
                claims.push(json!({"metadata": {"name": source}, "spec": spec}));
                mounts.push(mount(source, &m.target, m.read_only));
                cx.report.mapped(name, &key, Some(&m.span), format!("claim {source} ({}) at {}", size.size, m.target));
            }
            ("tmpfs", _) => {
                let vol = format!("tmpfs-{i}");
                volumes.push(json!({"name": vol, "emptyDir": {"medium": "Memory"}}));
                mounts.push(json!({"name": vol, "mountPath": m.target}));
                cx.report.mapped(name, &key, Some(&m.span), format!("emptyDir (Memory) at {}", m.target));
            }
            ("volume", None) => {
                let vol = format!("anon-{i}");
                volumes.push(json!({"name": vol, "emptyDir": {}}));
                mounts.push(mount(&vol, &m.target, m.read_only));
                cx.report.warn(name, &key, Some(&m.span), format!("an anonymous volume: an emptyDir at {} (lost with the pod)", m.target));
            }
            ("bind", _) if cfg.binds.contains_key(&m.target) => {
                let claim = format!("{name}{}", super::dns_name(&m.target).split('-').fold(String::new(), |a, p| if p.is_empty() { a } else { format!("{a}-{p}") }));
                let size = &cfg.binds[&m.target];
                let mut spec = json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size.size}}});
                if let Some(class) = &size.storage_class {
                    spec["storageClassName"] = json!(class);
                }
                claims.push(json!({"metadata": {"name": claim}, "spec": spec}));
                mounts.push(mount(&claim, &m.target, m.read_only));
                cx.report.warn(
                    name,
                    &key,
                    Some(&m.span),
                    format!("host path {} replaced by claim {claim} ({}): copy its content into the claim", cx.stack_relative(m.source.as_deref().unwrap_or("?")), size.size),
                );
            }
            (kind, source) => cx.report.refuse(
                name,
                &key,
                Some(&m.span),
                format!(
                    "a {kind} mount of {} at {}: host paths do not exist on cluster nodes; use a named volume, or replace it with a claim (kubernetes.services.{name}.binds)",
                    cx.stack_relative(source.as_deref().unwrap_or("?")),
                    m.target
                ),
            ),
        }
    }
    if !mounts.is_empty() {
        container.insert("volumeMounts".into(), json!(mounts));
    }

    // depends_on: no Kubernetes equivalent — readiness probes, and init containers where configured.
    let mut init = Vec::new();
    for d in &s.depends_on {
        let waits = cfg.wait_for.contains(&d.service);
        let key = format!("depends_on.{}", d.service);
        match (d.condition.as_str(), waits) {
            (_, true) => cx.report.mapped(name, &key, Some(&d.span), "an init container waits for its port"),
            ("service_completed_successfully", _) => cx.report.warn(name, &key, Some(&d.span), format!("{} is a Job; this pod may start before it completed (it retries until the Job's work is there)", d.service)),
            _ => cx.report.warn(name, &key, Some(&d.span), format!("not enforced: {} must be ready (its readiness probe); add it to kubernetes.services.{name}.wait_for to wait", d.service)),
        }
    }
    for dep in &cfg.wait_for {
        let host = cx.service_host(dep);
        let port = cx.first_port(dep).unwrap_or(80);
        init.push(json!({
            "name": format!("wait-for-{dep}"),
            "image": cx.image(WAIT_IMAGE),
            "command": ["sh", "-c", format!("until nc -z {host} {port}; do echo waiting for {dep}; sleep 2; done")],
            "resources": {"limits": {"cpu": "50m", "memory": "16Mi"}, "requests": {"cpu": "10m", "memory": "16Mi"}},
            "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "runAsNonRoot": true, "runAsUser": 65534, "capabilities": {"drop": ["ALL"]}},
        }));
    }

    let networks = &s.networks;
    let mut pod_labels = labels(name);
    for n in networks {
        pod_labels.insert(format!("tugboat.io/net-{n}"), json!("true"));
    }
    let mut pod_spec = json!({
        "automountServiceAccountToken": false,
        "containers": [Value::Object(container)],
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
    });
    if let Some(g) = gid.filter(|g| *g != 0) {
        pod_spec["securityContext"]["fsGroup"] = json!(g);
    }
    if !init.is_empty() {
        pod_spec["initContainers"] = json!(init);
    }
    if !volumes.is_empty() {
        pod_spec["volumes"] = json!(volumes);
    }
    if let Some(grace) = get("stop_grace_period").and_then(Node::as_str).and_then(|t| HumanDuration::parse(t).ok()) {
        pod_spec["terminationGracePeriodSeconds"] = json!(grace.0.as_secs());
        cx.report.mapped(
            name,
            "stop_grace_period",
            span("stop_grace_period").as_ref(),
            "terminationGracePeriodSeconds",
        );
    }
    let annotations: Map<String, Value> =
        exempt.iter().map(|(rule, why)| (format!("tugboat.io/exempt.{rule}"), json!(why))).collect();
    let mut template = json!({"metadata": {"labels": pod_labels}, "spec": pod_spec});
    if !annotations.is_empty() {
        template["metadata"]["annotations"] = Value::Object(annotations.clone());
    }
    let ns = cx.namespace.clone();
    let mut meta = json!({"name": name, "namespace": ns, "labels": labels(name)});
    if !annotations.is_empty() {
        meta["annotations"] = Value::Object(annotations.clone());
    }
    let workload = match kind {
        Kind::Job => {
            let mut t = template;
            t["spec"]["restartPolicy"] = json!("OnFailure");
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": {"backoffLimit": 3, "template": t}})
        }
        Kind::Deployment => json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": {
            "replicas": 1, "selector": {"matchLabels": selector(name)}, "template": template}}),
        Kind::StatefulSet => json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta, "spec": {
            "replicas": 1, "serviceName": name, "selector": {"matchLabels": selector(name)}, "template": template,
            "volumeClaimTemplates": claims}}),
    };
    let file = format!("{name}.{}.yaml", kind.name().to_lowercase());
    objects.push(object(&file, workload));
    if kind != Kind::Job {
        cx.scaled.push((kind.name(), name.to_string()));
    }

    // A Service for every port the service declares (Jobs take no traffic).
    if !ports.is_empty() && kind != Kind::Job {
        let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns, "labels": labels(name)},
            "spec": {"type": "ClusterIP", "selector": selector(name),
                "ports": ports.iter().map(|p| json!({"name": format!("p{p}"), "port": p, "targetPort": p})).collect::<Vec<_>>()}});
        objects.push(object(&format!("{name}.service.yaml"), service));
        for p in &s.ports {
            let what = if p.is_loopback() {
                format!("ClusterIP {name}:{} (published on loopback only: not exposed)", p.target)
            } else {
                format!("ClusterIP {name}:{}", p.target)
            };
            cx.report.mapped(name, "ports", Some(&p.span), what);
        }
    }
    objects.extend(ingress(cx, s, &cfg));
    if let Some(a) = &cfg.autoscale {
        if kind == Kind::Job {
            cx.report.refuse(name, "kubernetes.autoscale", None, "a Job cannot be autoscaled");
        } else {
            let mut metrics = Vec::new();
            for (resource, target) in [("cpu", a.cpu), ("memory", a.memory)] {
                if let Some(t) = target {
                    metrics.push(json!({"type": "Resource", "resource": {"name": resource, "target": {"type": "Utilization", "averageUtilization": t}}}));
                }
            }
            let hpa = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": name, "namespace": ns, "labels": labels(name)},
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind.name(), "name": name},
                    "minReplicas": 1, "maxReplicas": a.max, "metrics": metrics}});
            objects.push(object(&format!("{name}.hpa.yaml"), hpa));
            cx.autoscaled.push(name.to_string());
            cx.report.mapped(
                name,
                "kubernetes.autoscale",
                None,
                format!("HorizontalPodAutoscaler up to {} replicas", a.max),
            );
        }
    }
    objects
}

fn mount(volume: &str, path: &str, read_only: bool) -> Value {
    let mut m = json!({"name": volume, "mountPath": path});
    if read_only {
        m["readOnly"] = json!(true);
    }
    m
}

pub fn selector(name: &str) -> Value {
    json!({"app.kubernetes.io/name": name})
}

/// Every container port the service declares: `ports` targets and `expose`, sorted, once each.
pub fn declared_ports(s: &Service) -> Vec<u32> {
    let mut ports: Vec<u32> = s.ports.iter().map(|p| p.target).collect();
    for e in seq_strings(s.node.get("expose")) {
        if let Ok(p) = e.split('/').next().unwrap_or_default().parse() {
            ports.push(p);
        }
    }
    ports.sort_unstable();
    ports.dedup();
    ports
}

pub fn seq_strings(n: Option<&Node>) -> Vec<String> {
    n.and_then(Node::as_seq).unwrap_or(&[]).iter().filter_map(|i| i.as_str().map(str::to_string)).collect()
}

/// A command as Kubernetes takes it: a list stays a list; a string is split as a shell would, roughly —
/// Compose splits it with shlex too.
fn argv(v: &Node) -> Vec<String> {
    match v.as_seq() {
        Some(items) => items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect(),
        None => shell_words(v.as_str().unwrap_or_default()),
    }
}

fn shell_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// `user: "uid:gid"` as numbers (a name gives none).
fn user(node: &Node) -> (Option<i64>, Option<i64>) {
    let Some(u) = node.get("user").and_then(Node::as_str) else { return (None, None) };
    let (uid, gid) = u.split_once(':').map_or((u, None), |(a, b)| (a, Some(b)));
    (uid.parse().ok(), gid.and_then(|g| g.parse().ok()))
}

/// Compose sizes (`512m`, `1g`, `1.5g`, bytes) as Kubernetes quantities (`512Mi`, `1Gi`).
pub fn quantity(size: &str) -> String {
    let s = size.trim().to_ascii_lowercase();
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = s[digits.len()..].trim_end_matches('b');
    let n: f64 = digits.parse().unwrap_or(0.0);
    let mult = match unit {
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        _ => 1.0,
    };
    let bytes = n * mult;
    let mi = bytes / (1024.0 * 1024.0);
    if mi >= 1024.0 && (mi / 1024.0).fract() == 0.0 {
        format!("{}Gi", mi / 1024.0)
    } else if mi.fract() == 0.0 && mi >= 1.0 {
        format!("{mi}Mi")
    } else {
        format!("{}", bytes.round() as u64)
    }
}

/// CPUs (`"1.0"`, `0.5`) as millicores.
fn cpu(v: &Node) -> Option<String> {
    let n: f64 = v.as_str()?.parse().ok()?;
    Some(format!("{}m", (n * 1000.0).round() as u64))
}

/// `deploy.resources` (and `mem_limit`/`cpus`) -> limits and requests; whether a PID limit was set.
fn resources(node: &Node) -> (Value, bool) {
    let limits = node.get_path(&["deploy", "resources", "limits"]);
    let reservations = node.get_path(&["deploy", "resources", "reservations"]);
    let mut lim = Map::new();
    let mut req = Map::new();
    let memory = limits.and_then(|l| l.get("memory")).or(node.get("mem_limit")).and_then(Node::as_str).map(quantity);
    let cpus = limits.and_then(|l| l.get("cpus")).or(node.get("cpus")).and_then(cpu);
    if let Some(m) = memory {
        lim.insert("memory".into(), json!(m));
    }
    if let Some(c) = cpus {
        lim.insert("cpu".into(), json!(c));
    }
    let gpus: u32 = reservations
        .and_then(|r| r.get("devices"))
        .and_then(Node::as_seq)
        .unwrap_or(&[])
        .iter()
        .filter(|d| seq_strings(d.get("capabilities")).iter().any(|c| c == "gpu"))
        .map(|d| d.get("count").and_then(Node::as_str).and_then(|c| c.parse().ok()).unwrap_or(1))
        .sum();
    if gpus > 0 {
        lim.insert("nvidia.com/gpu".into(), json!(gpus));
    }
    // Requests: the reservations, else the limits (what the scheduler and an HPA's percentages need).
    for (k, v) in &lim {
        req.insert(k.clone(), v.clone());
    }
    if let Some(m) = reservations.and_then(|r| r.get("memory")).and_then(Node::as_str) {
        req.insert("memory".into(), json!(quantity(m)));
    }
    if let Some(c) = reservations.and_then(|r| r.get("cpus")).and_then(cpu) {
        req.insert("cpu".into(), json!(c));
    }
    req.remove("nvidia.com/gpu");
    let pids = limits.and_then(|l| l.get("pids")).or(node.get("pids_limit")).is_some();
    let mut out = Map::new();
    if !lim.is_empty() {
        out.insert("limits".into(), Value::Object(lim));
    }
    if !req.is_empty() {
        out.insert("requests".into(), Value::Object(req));
    }
    (Value::Object(out), pids)
}

fn seconds(d: Option<&Node>) -> Option<u64> {
    d.and_then(Node::as_str).and_then(|t| HumanDuration::parse(t).ok()).map(|d| d.0.as_secs().max(1))
}

/// Liveness from the compose healthcheck (or tugboat.yml), its `start_period` as a startupProbe (a grace
/// window, not a delay), readiness from tugboat.yml or the service's HTTP smoke check.
fn probes(cx: &mut Context, s: &Service, cfg: &ServiceConfig, ports: &[u32]) -> Vec<(String, Value)> {
    let name = s.name.as_str();
    let hc = s.node.get("healthcheck");
    let hc_span = s.node.entry("healthcheck").map(|(k, _)| k.span.clone());
    let mut out = Vec::new();
    let test = hc.and_then(|h| h.get("test"));
    let disabled = hc.and_then(|h| h.get("disable")).and_then(Node::as_bool) == Some(true)
        || test.and_then(Node::as_seq).and_then(|t| t.first()).and_then(Node::as_str) == Some("NONE");
    let exec = match (test, disabled) {
        (Some(t), false) => {
            let items = argv(t);
            match items.first().map(String::as_str) {
                Some("CMD") => Some(items[1..].to_vec()),
                Some("CMD-SHELL") => Some(vec!["sh".into(), "-c".into(), items[1..].join(" ")]),
                // The string form is CMD-SHELL.
                _ if t.as_str().is_some() => {
                    Some(vec!["sh".into(), "-c".into(), t.as_str().unwrap_or_default().into()])
                }
                _ => None,
            }
        }
        _ => None,
    };
    let timing = |h: Option<&Node>| {
        let mut t = Map::new();
        if let Some(p) = seconds(h.and_then(|h| h.get("interval"))) {
            t.insert("periodSeconds".into(), json!(p));
        }
        if let Some(p) = seconds(h.and_then(|h| h.get("timeout"))) {
            t.insert("timeoutSeconds".into(), json!(p));
        }
        let retries = h.and_then(|h| h.get("retries")).and_then(Node::as_str).and_then(|r| r.parse::<u64>().ok());
        t.insert("failureThreshold".into(), json!(retries.unwrap_or(3)));
        t
    };
    let liveness = match (&cfg.liveness, &exec) {
        (Some(http), _) => {
            cx.report.mapped(name, "kubernetes.liveness", None, format!("livenessProbe GET {}", http.path));
            Some(http_probe(http, ports))
        }
        (None, Some(cmd)) => {
            let mut p = timing(hc);
            p.insert("exec".into(), json!({"command": cmd}));
            cx.report.mapped(name, "healthcheck", hc_span.as_ref(), "livenessProbe (exec; CMD-SHELL runs under sh -c)");
            Some(Value::Object(p))
        }
        (None, None) if hc.is_some() && !disabled => {
            cx.report.warn(
                name,
                "healthcheck",
                hc_span.as_ref(),
                "a healthcheck without `test` (the image's own): no probe",
            );
            None
        }
        _ => None,
    };
    if let (Some(cmd), Some(start)) = (&exec, seconds(hc.and_then(|h| h.get("start_period")))) {
        let period = seconds(hc.and_then(|h| h.get("interval"))).unwrap_or(30);
        let retries =
            hc.and_then(|h| h.get("retries")).and_then(Node::as_str).and_then(|r| r.parse::<u64>().ok()).unwrap_or(3);
        // Compose ignores failures during start_period, then allows `retries`: the same budget.
        let threshold = start.div_ceil(period) + retries;
        let probe = match &cfg.liveness {
            Some(http) => {
                let mut p = http_probe(http, ports);
                p["failureThreshold"] = json!(threshold);
                p["periodSeconds"] = json!(period);
                p.as_object_mut().map(|m| m.remove("initialDelaySeconds"));
                p
            }
            None => json!({"exec": {"command": cmd}, "periodSeconds": period, "failureThreshold": threshold}),
        };
        out.push(("startupProbe".to_string(), probe));
        let span = hc.and_then(|h| h.entry("start_period")).map(|(k, _)| k.span.clone());
        cx.report.mapped(
            name,
            "healthcheck.start_period",
            span.as_ref(),
            format!("startupProbe: up to {threshold} × {period}s before liveness counts"),
        );
    }
    if let Some(l) = liveness {
        out.push(("livenessProbe".to_string(), l));
    }
    let readiness = match &cfg.readiness {
        Some(http) => Some((http_probe(http, ports), format!("readinessProbe GET {} (tugboat.yml)", http.path))),
        None => match cx.http_check_for(s) {
            Some((path, port)) => {
                let probe = HttpProbe { path: path.clone(), port: Some(port as u16), ..HttpProbe::default() };
                Some((
                    http_probe(&probe, ports),
                    format!("readinessProbe GET {path} (the `checks:` HTTP check on port {port})"),
                ))
            }
            None => exec.as_ref().map(|cmd| {
                let mut p = timing(hc);
                p.insert("exec".into(), json!({"command": cmd}));
                (Value::Object(p), "readinessProbe: the compose healthcheck".to_string())
            }),
        },
    };
    match readiness {
        Some((probe, what)) => {
            cx.report.mapped(name, "readiness", hc_span.as_ref(), what);
            out.push(("readinessProbe".to_string(), probe));
        }
        None if cx.others_wait_healthy(name) => cx.report.warn(
            name,
            "healthcheck",
            Some(&s.span),
            "other services wait for it to be healthy, but it has no healthcheck or HTTP check: no readiness probe",
        ),
        None => {}
    }
    out
}

fn http_probe(p: &HttpProbe, ports: &[u32]) -> Value {
    let port = p.port.map(u32::from).or(ports.first().copied()).unwrap_or(80);
    let secs = |d: &Option<HumanDuration>| d.map(|d| d.0.as_secs());
    let mut probe =
        json!({"httpGet": {"path": p.path, "port": port}, "failureThreshold": p.failure_threshold.unwrap_or(3)});
    for (k, v) in [
        ("initialDelaySeconds", secs(&p.initial_delay)),
        ("periodSeconds", secs(&p.period)),
        ("timeoutSeconds", secs(&p.timeout)),
    ] {
        if let Some(v) = v {
            probe[k] = json!(v);
        }
    }
    probe
}

/// Environment: plain values in a ConfigMap, secret ones (by the one secret policy: a secret name, or a
/// value built from a secret variable) as `secretKeyRef`s to a Secret whose manifest is a template.
fn environment(cx: &mut Context, s: &Service) -> (Vec<Value>, Option<Object>, Option<Object>) {
    let name = s.name.as_str();
    let mut env = Vec::new();
    let mut plain = Map::new();
    let mut secret_keys: Vec<(String, Option<String>)> = Vec::new();
    for v in &s.environment {
        let from_secret = v.raw.as_deref().is_some_and(references_secret);
        if crate::secret::is_secret_name(&v.name) || from_secret {
            secret_keys.push((v.name.clone(), v.raw.clone()));
            let secret = format!("{name}-secrets");
            env.push(json!({"name": v.name, "valueFrom": {"secretKeyRef": {"name": secret, "key": v.name}}}));
            cx.report.mapped(
                name,
                &format!("environment.{}", v.name),
                Some(&v.span),
                format!("Secret {name}-secrets (template: no value)"),
            );
        } else {
            let value = v.value.clone().unwrap_or_default();
            plain.insert(v.name.clone(), json!(value));
            env.push(json!({"name": v.name, "valueFrom": {"configMapKeyRef": {"name": format!("{name}-env"), "key": v.name}}}));
            let source = if v.from_file.is_some() { " (from its env_file)" } else { "" };
            cx.report.mapped(
                name,
                &format!("environment.{}", v.name),
                Some(&v.span),
                format!("ConfigMap {name}-env{source}"),
            );
        }
    }
    let ns = cx.namespace.clone();
    let config_map = (!plain.is_empty()).then(|| {
        object(
            &format!("{name}.configmap.yaml"),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("{name}-env"), "namespace": ns, "labels": labels(name)}, "data": plain}),
        )
    });
    let secret = (!secret_keys.is_empty()).then(|| cx.secret(name, &format!("{name}-secrets"), &secret_keys));
    (env, config_map, secret)
}

/// Whether `${…}` text uses a secret-named variable.
fn references_secret(raw: &str) -> bool {
    let mut rest = raw;
    while let Some(i) = rest.find("${") {
        let var: String = rest[i + 2..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if crate::secret::is_secret_name(&var) {
            return true;
        }
        rest = &rest[i + 2..];
    }
    false
}

/// An Ingress with TLS for a service the stack publishes on a reachable address or routes through
/// `deploy:` — unless tugboat.yml keeps it cluster-only.
fn ingress(cx: &mut Context, s: &Service, cfg: &ServiceConfig) -> Option<Object> {
    let name = s.name.as_str();
    let published = s.ports.iter().find(|p| p.published.is_some() && !p.is_loopback());
    let deploy = cx.deploy_hosts(name);
    let hosts: Vec<String> = if cfg.hosts.is_empty() { deploy } else { cfg.hosts.clone() };
    if cfg.cluster_only || published.is_none() && hosts.is_empty() {
        return None;
    }
    let port = published.map(|p| p.target).or(cx.first_port(name)).unwrap_or(80);
    let Some(host) = hosts.first().cloned() else {
        cx.report.warn(
            name,
            "ports",
            published.map(|p| &p.span),
            "published, but no host name: no Ingress (set kubernetes.services.SERVICE.hosts or deploy.SERVICE.host)",
        );
        return None;
    };
    let ingress_cfg = cx.k8s.ingress.clone().unwrap_or_default();
    let mut annotations = Map::new();
    if let Some(issuer) = &ingress_cfg.cluster_issuer {
        annotations.insert("cert-manager.io/cluster-issuer".into(), json!(issuer));
    }
    let rules: Vec<Value> = hosts
        .iter()
        .map(|h| json!({"host": h, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": name, "port": {"number": port}}}}]}}))
        .collect();
    let mut spec = json!({"rules": rules, "tls": [{"hosts": hosts, "secretName": format!("{name}-tls")}]});
    if let Some(class) = &ingress_cfg.class {
        spec["ingressClassName"] = json!(class);
    }
    cx.ingressed.push((name.to_string(), port));
    cx.report.mapped(
        name,
        "ports",
        published.map(|p| &p.span),
        format!("Ingress {host} with TLS (secret {name}-tls) -> {name}:{port}"),
    );
    Some(object(
        &format!("{name}.ingress.yaml"),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": cx.namespace, "labels": labels(name), "annotations": annotations}, "spec": spec}),
    ))
}
