//! A loaded stack -> [`ProjectSpec`]: each active service's keys mapped the way Docker Compose v2.40 maps
//! them onto the Engine API's create body (`pkg/compose/create.go`), and each key it cannot honour on this
//! engine (API 1.41) refused at its file:line:col. All problems of all services are reported together.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use bollard::models::{
    ContainerCreateBody, HostConfig, HostConfigCgroupnsModeEnum, HostConfigIsolationEnum, HostConfigLogConfig,
};
use tugboat::stack::{ConfigError, Node, Service, Stack};

use super::network::{endpoints, network, volume};
use super::options::{healthcheck, platform, ports, restart_policy, security_opts};
use super::values::{join, Cx};
use super::{mounts, resources};
use super::{BuildSpec, Condition, DependsOn, NetworkSpec, ProjectSpec, PullPolicy, ServiceSpec, VolumeSpec};

/// Every service key the runtime honours (or, where Compose itself does nothing with it when creating
/// containers, deliberately ignores). Each one is read below; `REFUSED` says why the others are not.
pub(super) const HANDLED: &[&str] = &[
    "attach", // only decides whose logs `up` follows
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
    "depends_on",
    "deploy",
    "develop", // `docker compose watch` only; nothing of it reaches the container
    "device_cgroup_rules",
    "devices",
    "dns",
    "dns_opt",
    "dns_search",
    "domainname",
    "entrypoint",
    "env_file", // folded into `environment` by the loader
    "environment",
    "expose",
    "extends", // resolved by the loader
    "extra_hosts",
    "gpus",
    "group_add",
    "healthcheck",
    "hostname",
    "image",
    "init",
    "ipc",
    "isolation",
    "label_file",
    "labels",
    "logging",
    "mem_limit",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "network_mode",
    "networks",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "ports",
    "privileged",
    "profiles", // applied by `Stack::is_active`
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
    "user",
    "userns_mode",
    "uts",
    "volumes",
    "volumes_from",
    "working_dir",
];

pub(super) const REFUSED: &[(&str, &str)] = &[
    ("annotations", "container annotations need Docker Engine API 1.43; this engine speaks 1.41"),
    ("credential_spec", "it applies to Windows containers only"),
    ("external_links", "legacy links are not created; reach containers by name on a shared network"),
    ("links", "legacy links are not created; services reach each other by name on their networks (add `depends_on` for the order)"),
    ("mac_address", "setting the MAC address on create needs Docker Engine API 1.44"),
    ("models", "AI models need Docker Model Runner"),
    ("post_start", "lifecycle hooks need Docker Engine API 1.44"),
    ("pre_stop", "lifecycle hooks need Docker Engine API 1.44"),
    ("provider", "provider services need Compose's plugin mechanism"),
    ("pull_refresh_after", "time-based pull policies are not implemented"),
    ("use_api_socket", "it needs Docker Desktop's API socket proxy"),
];

/// Resolves what `tug up` creates for the stack's active services.
pub fn resolve(stack: &Stack) -> Result<ProjectSpec, ConfigError> {
    let project = &stack.project.name;
    let root = &stack.project.root;
    let mut cx = Cx::default();
    let active: Vec<&Service> = stack.project.services.iter().filter(|s| stack.is_active(s)).collect();

    let empty = Node::map(Vec::new(), root.span.clone());
    let all_networks: Vec<NetworkSpec> = root
        .get("networks")
        .and_then(Node::as_map)
        .unwrap_or(&[])
        .iter()
        .map(|(k, v)| network(&mut cx, &k.name, if v.is_null() { &empty } else { v }))
        .collect();
    let all_volumes: Vec<VolumeSpec> = root
        .get("volumes")
        .and_then(Node::as_map)
        .unwrap_or(&[])
        .iter()
        .map(|(k, v)| volume(&mut cx, &k.name, if v.is_null() { &empty } else { v }))
        .collect();
    // Errors in resources no active service uses would stop nothing Compose starts.
    let mut errors_before = std::mem::take(&mut cx.errors);

    let mut services = Vec::new();
    for svc in &active {
        services.push(service(&mut cx, stack, svc, &all_networks, &all_volumes));
    }
    let used_net = |n: &NetworkSpec| services.iter().any(|s| s.networks.iter().any(|e| e.key == n.key));
    let used_vol = |v: &VolumeSpec| {
        active.iter().any(|s| {
            s.node.get("volumes").and_then(Node::as_seq).unwrap_or(&[]).iter().any(|m| {
                m.get("type").and_then(Node::as_str) == Some("volume")
                    && m.get("source").and_then(Node::as_str) == Some(v.key.as_str())
            })
        })
    };
    // Keep the resource errors of used resources only (they are located under `networks.KEY` / `volumes.KEY`).
    errors_before.retain(|e| {
        let path = e.location().map(|l| l.key_path.as_str()).unwrap_or("");
        let under = |section: &str, key: &str| {
            let prefix = format!("{section}.{key}");
            path == prefix || path.starts_with(&format!("{prefix}.")) || path.starts_with(&format!("{prefix}["))
        };
        all_networks.iter().any(|n| used_net(n) && under("networks", &n.key))
            || all_volumes.iter().any(|v| used_vol(v) && under("volumes", &v.key))
    });
    let networks: Vec<NetworkSpec> = all_networks.iter().filter(|n| used_net(n)).cloned().collect();
    let volumes: Vec<VolumeSpec> = all_volumes.iter().filter(|v| used_vol(v)).cloned().collect();
    errors_before.append(&mut cx.errors);
    ConfigError::collect(errors_before)?;
    Ok(ProjectSpec {
        project: project.clone(),
        working_dir: std::path::absolute(&stack.dir).unwrap_or_else(|_| stack.dir.clone()),
        config_files: stack
            .project
            .files
            .iter()
            .map(|f| std::path::absolute(f).unwrap_or_else(|_| f.clone()))
            .collect(),
        networks,
        volumes,
        services,
    })
}

/// The container a `service:NAME` reference points at: its `container_name`, else replica 1.
pub(super) fn container_of(stack: &Stack, name: &str) -> Option<String> {
    let target = stack.service(name)?;
    Some(
        target
            .node
            .get("container_name")
            .and_then(Node::as_str)
            .map_or_else(|| format!("{}-{name}-1", stack.project.name), str::to_string),
    )
}

fn service(cx: &mut Cx, stack: &Stack, svc: &Service, networks: &[NetworkSpec], volumes: &[VolumeSpec]) -> ServiceSpec {
    let n = &svc.node;
    let name = svc.name.as_str();
    let path = format!("services.{name}");
    cx.keys(n, &path, HANDLED, REFUSED);
    let at = |k: &str| join(&path, k);
    let s = |cx: &mut Cx, k: &str| n.get(k).and_then(|v| cx.string(v, &at(k)));
    let b = |cx: &mut Cx, k: &str| n.get(k).and_then(|v| cx.bool(v, &at(k)));
    let list = |cx: &mut Cx, k: &str| n.get(k).and_then(|v| cx.strings(v, &at(k)));

    let build = n.get("build").and_then(|v| build_spec(cx, v, &at("build")));
    let image = svc.image.clone().unwrap_or_else(|| format!("{}-{name}", stack.project.name));
    let pull_policy = pull_policy(cx, n, &at("pull_policy"));
    let container_name = s(cx, "container_name");
    let mut depends_on = depends_on(cx, n, &at("depends_on"));
    implicit_depends_on(n, &mut depends_on);

    // `scale` and `deploy.replicas` are one setting; compose-go refuses two different values.
    let scale = n.get("scale").and_then(|v| cx.int(v, &at("scale")));
    let replicas_node = n.get_path(&["deploy", "replicas"]);
    let replicas = replicas_node.and_then(|v| cx.int(v, &at("deploy.replicas")));
    if let (Some(a), Some(b), Some(node)) = (scale, replicas, replicas_node) {
        if a != b {
            cx.at(&node.span, &at("deploy.replicas"), format!("`scale: {a}` and `deploy.replicas: {b}` disagree"));
        }
    }
    let replicas = replicas.or(scale).unwrap_or(1);
    let replicas = match u32::try_from(replicas) {
        Ok(r) => r,
        Err(_) => {
            cx.at(&svc.span, &at("scale"), format!("{replicas} is not a number of replicas"));
            1
        }
    };
    if let (Some(_), true) = (&container_name, replicas > 1) {
        if let Some(v) = n.get("container_name") {
            cx.at(
                &v.span,
                &at("container_name"),
                format!("a fixed container name cannot be given to {replicas} replicas"),
            );
        }
    }

    let stop_grace = n.get("stop_grace_period").and_then(|v| cx.duration(v, &at("stop_grace_period")));
    // Compose's `ToSeconds`: whole seconds, truncated.
    let stop_grace_seconds = stop_grace.map(|ns| ns / 1_000_000_000);

    let (healthcheck, healthy) = match n.get("healthcheck") {
        Some(h) if !h.is_null() => healthcheck(cx, h, &at("healthcheck")),
        _ => (None, None),
    };

    // Networking: `network_mode`, or the endpoints (the loader adds `default` when neither is written).
    let network_mode_node = n.get("network_mode").filter(|v| !v.is_null());
    let mut network_mode = network_mode_node.and_then(|v| cx.string(v, &at("network_mode")));
    let mut endpoint_specs = Vec::new();
    if let (Some(mode), Some(node)) = (&network_mode, network_mode_node) {
        if n.get("networks").is_some_and(|v| v.as_map().is_some_and(|m| !m.is_empty())) {
            cx.at(&node.span, &at("network_mode"), "`network_mode` and `networks` cannot both be set");
        }
        network_mode = Some(service_reference(cx, stack, mode, node, &at("network_mode")));
    } else if let Some(nets) = n.get("networks") {
        endpoint_specs = endpoints(cx, name, nets, &at("networks"), networks);
        // Created on the first network; the runtime connects the rest before starting.
        network_mode = endpoint_specs.first().map(|e| e.network.clone());
    }
    let ipc =
        n.get("ipc").and_then(|v| cx.string(v, &at("ipc")).map(|m| service_reference(cx, stack, &m, v, &at("ipc"))));
    let pid =
        n.get("pid").and_then(|v| cx.string(v, &at("pid")).map(|m| service_reference(cx, stack, &m, v, &at("pid"))));

    let (exposed_ports, port_bindings) = ports(cx, n, &path);
    let (binds, mount_list) = mounts::volumes(cx, stack, n, &path, volumes);
    let volumes_from = n.get("volumes_from").and_then(|v| cx.strings(v, &at("volumes_from"))).map(|items| {
        items
            .iter()
            .map(|item| volumes_from(cx, stack, item, n.get("volumes_from").unwrap_or(n), &at("volumes_from")))
            .collect()
    });

    let env: Vec<String> =
        svc.environment.iter().filter_map(|e| e.value.as_ref().map(|v| format!("{}={v}", e.name))).collect();
    let labels = labels(cx, stack, n, &path);

    let restart_policy = restart_policy(cx, n, &path);
    let log_config = n.get("logging").filter(|v| !v.is_null()).map(|v| {
        cx.keys(v, &at("logging"), &["driver", "options"], &[]);
        HostConfigLogConfig {
            typ: v.get("driver").and_then(|d| cx.string(d, &at("logging.driver"))),
            config: v.get("options").map(|o| cx.map(o, &at("logging.options"))),
        }
    });
    let (security_opt, unconfined) = security_opts(cx, stack, n, &at("security_opt"));
    let tmpfs = n.get("tmpfs").and_then(|v| cx.strings(v, &at("tmpfs"))).map(|items| {
        items
            .into_iter()
            .map(|t| match t.split_once(':') {
                Some((dst, opts)) => (dst.to_string(), opts.to_string()),
                None => (t, String::new()),
            })
            .collect::<HashMap<_, _>>()
    });
    // The engine takes `host:ip` (API 1.41 does not know `host=ip`, the loader's spelling).
    let extra_hosts = list(cx, "extra_hosts").map(|h| {
        h.into_iter().map(|e| e.split_once('=').map_or(e.clone(), |(host, ip)| format!("{host}:{ip}"))).collect()
    });
    let cgroupns_mode = n.get("cgroup").and_then(|v| {
        let mode = cx.string(v, &at("cgroup"))?;
        match mode.as_str() {
            "host" => Some(HostConfigCgroupnsModeEnum::HOST),
            "private" => Some(HostConfigCgroupnsModeEnum::PRIVATE),
            other => {
                cx.at(&v.span, &at("cgroup"), format!("unknown cgroup namespace mode {other:?}: use host or private"));
                None
            }
        }
    });
    let isolation = n.get("isolation").and_then(|v| {
        let mode = cx.string(v, &at("isolation"))?;
        match mode.parse::<HostConfigIsolationEnum>() {
            Ok(i) => Some(i),
            Err(_) => {
                cx.at(&v.span, &at("isolation"), format!("unknown isolation {mode:?}: use default, process or hyperv"));
                None
            }
        }
    });
    if let Some(v) = n.get("platform") {
        platform(cx, v, &at("platform"));
    }

    let (cap_add, cap_drop) = match (list(cx, "cap_add"), list(cx, "cap_drop")) {
        (None, None) => (None, None),
        (add, drop) => {
            let (add, drop) = effective_caps(add.unwrap_or_default(), drop.unwrap_or_default());
            ((!add.is_empty()).then_some(add), (!drop.is_empty()).then_some(drop))
        }
    };
    let mut host_config = HostConfig {
        binds,
        mounts: mount_list,
        volumes_from,
        port_bindings,
        network_mode,
        ipc_mode: ipc,
        pid_mode: pid,
        uts_mode: s(cx, "uts"),
        userns_mode: s(cx, "userns_mode"),
        cgroupns_mode,
        cgroup_parent: s(cx, "cgroup_parent"),
        cap_add,
        cap_drop,
        security_opt,
        privileged: b(cx, "privileged"),
        init: b(cx, "init"),
        readonly_rootfs: b(cx, "read_only"),
        restart_policy,
        tmpfs,
        sysctls: n.get("sysctls").map(|v| cx.map(v, &at("sysctls"))),
        storage_opt: n.get("storage_opt").map(|v| cx.map(v, &at("storage_opt"))),
        extra_hosts,
        dns: list(cx, "dns"),
        dns_search: list(cx, "dns_search"),
        dns_options: list(cx, "dns_opt"),
        group_add: list(cx, "group_add"),
        log_config,
        runtime: s(cx, "runtime"),
        isolation,
        oom_score_adj: n.get("oom_score_adj").and_then(|v| cx.int(v, &at("oom_score_adj"))),
        shm_size: n.get("shm_size").and_then(|v| cx.bytes(v, &at("shm_size"))),
        ..Default::default()
    };
    if unconfined {
        // `systempaths=unconfined`: Compose clears the masked and read-only paths, as `docker run` does.
        host_config.masked_paths = Some(Vec::new());
        host_config.readonly_paths = Some(Vec::new());
    }
    resources::apply(cx, n, &path, &mut host_config);

    let create = ContainerCreateBody {
        image: Some(image.clone()),
        hostname: s(cx, "hostname"),
        domainname: s(cx, "domainname"),
        user: s(cx, "user"),
        working_dir: s(cx, "working_dir"),
        // The long syntax is a list: `[]` (or `""`) is sent as an empty list, which the engine takes as
        // "reset the image's value" (moby's merge keeps the image's only for null), exactly what Compose
        // sends; `[""]` would instead make the engine exec an empty path.
        entrypoint: list(cx, "entrypoint"),
        cmd: list(cx, "command"),
        env: Some(env),
        exposed_ports,
        tty: b(cx, "tty"),
        open_stdin: b(cx, "stdin_open"),
        // Compose creates every container with stdout/stderr attached (and stdin only for `run`).
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        labels,
        stop_signal: s(cx, "stop_signal"),
        stop_timeout: stop_grace_seconds,
        healthcheck,
        host_config: Some(host_config),
        ..Default::default()
    };

    ServiceSpec {
        name: name.to_string(),
        span: svc.span.clone(),
        image,
        build,
        pull_policy,
        replicas,
        container_name,
        depends_on,
        stop_grace_seconds,
        healthcheck: healthy,
        networks: endpoint_specs,
        create,
    }
}

/// `service:NAME` (network_mode, ipc, pid) names the service's first container, as `container:NAME`.
fn service_reference(cx: &mut Cx, stack: &Stack, mode: &str, node: &Node, path: &str) -> String {
    let Some(target) = mode.strip_prefix("service:") else { return mode.to_string() };
    match container_of(stack, target) {
        Some(container) => format!("container:{container}"),
        None => {
            cx.at(&node.span, path, format!("refers to undefined service `{target}`"));
            mode.to_string()
        }
    }
}

/// `volumes_from`: `SERVICE[:ro|rw]` or `container:NAME[:ro|rw]` -> the engine's `NAME[:ro|rw]`.
fn volumes_from(cx: &mut Cx, stack: &Stack, item: &str, node: &Node, path: &str) -> String {
    if let Some(rest) = item.strip_prefix("container:") {
        return rest.to_string();
    }
    let (service, mode) = match item.split_once(':') {
        Some((s, m)) => (s, Some(m)),
        None => (item, None),
    };
    if mode.is_some_and(|m| m != "ro" && m != "rw") {
        cx.at(&node.span, path, format!("{item:?}: the access mode must be ro or rw"));
    }
    match container_of(stack, service) {
        Some(c) => mode.map_or(c.clone(), |m| format!("{c}:{m}")),
        None => {
            cx.at(&node.span, path, format!("refers to undefined service `{service}`"));
            item.to_string()
        }
    }
}

const BUILD_KEYS: &[&str] = &[
    "context",
    "dockerfile",
    "dockerfile_inline",
    "args",
    "target",
    "labels",
    "tags",
    "network",
    "shm_size",
    "extra_hosts",
    "no_cache",
    "pull",
];
const BUILD_REFUSED: &[(&str, &str)] = &[
    ("additional_contexts", "the Engine API's classic builder takes one context"),
    ("cache_from", "build caches are not passed by tug's runtime"),
    ("cache_to", "exporting a build cache needs BuildKit"),
    ("entitlements", "entitlements need BuildKit"),
    ("isolation", "build isolation applies to Windows only"),
    ("platforms", "multi-platform builds need BuildKit"),
    ("privileged", "privileged builds need BuildKit"),
    ("provenance", "attestations need BuildKit"),
    ("sbom", "attestations need BuildKit"),
    ("secrets", "build secrets need BuildKit"),
    ("ssh", "SSH forwarding needs BuildKit"),
    ("ulimits", "build ulimits are not passed by tug's runtime"),
];

fn build_spec(cx: &mut Cx, node: &Node, path: &str) -> Option<BuildSpec> {
    if node.is_null() {
        return None;
    }
    cx.keys(node, path, BUILD_KEYS, BUILD_REFUSED);
    let at = |k: &str| join(path, k);
    let s = |cx: &mut Cx, k: &str| node.get(k).and_then(|v| cx.string(v, &at(k)));
    let context = s(cx, "context").unwrap_or_default();
    if context.contains("://") || context.starts_with("git@") {
        if let Some(v) = node.get("context") {
            cx.unsupported(
                &v.span,
                &at("context"),
                "context",
                "remote build contexts are not fetched; use a local directory",
            );
        }
    }
    let pairs = |cx: &mut Cx, k: &str| -> BTreeMap<String, String> {
        let Some(m) = node.get(k).and_then(Node::as_map) else { return BTreeMap::new() };
        // An arg declared without a value and not set in the environment is left out, as Compose does.
        m.iter()
            .filter(|(_, v)| !v.is_null())
            .filter_map(|(k, v)| Some((k.name.clone(), cx.string(v, &at(&k.name))?)))
            .collect()
    };
    let extra_hosts = node
        .get("extra_hosts")
        .map(|v| match v.as_map() {
            Some(m) => m
                .iter()
                .filter_map(|(k, v)| cx.string(v, &at("extra_hosts")).map(|ip| format!("{}:{ip}", k.name)))
                .collect(),
            None => cx
                .strings(v, &at("extra_hosts"))
                .unwrap_or_default()
                .into_iter()
                .map(|e| e.split_once('=').map_or(e.clone(), |(h, ip)| format!("{h}:{ip}")))
                .collect(),
        })
        .unwrap_or_default();
    Some(BuildSpec {
        context: context.into(),
        dockerfile: s(cx, "dockerfile").unwrap_or_else(|| "Dockerfile".into()),
        dockerfile_inline: s(cx, "dockerfile_inline"),
        args: pairs(cx, "args"),
        target: s(cx, "target"),
        labels: pairs(cx, "labels"),
        tags: node.get("tags").and_then(|v| cx.strings(v, &at("tags"))).unwrap_or_default(),
        network: s(cx, "network"),
        shm_size: node.get("shm_size").and_then(|v| cx.bytes(v, &at("shm_size"))),
        extra_hosts,
        no_cache: node.get("no_cache").and_then(|v| cx.bool(v, &at("no_cache"))).unwrap_or(false),
        pull: node.get("pull").and_then(|v| cx.bool(v, &at("pull"))).unwrap_or(false),
    })
}

fn pull_policy(cx: &mut Cx, n: &Node, path: &str) -> PullPolicy {
    let Some(v) = n.get("pull_policy") else { return PullPolicy::Missing };
    match cx.string(v, path).as_deref() {
        None | Some("missing" | "if_not_present") => PullPolicy::Missing,
        Some("always") => PullPolicy::Always,
        Some("never") => PullPolicy::Never,
        Some("build") => PullPolicy::Build,
        Some(p @ ("daily" | "weekly" | "refresh")) => {
            cx.at(
                &v.span,
                path,
                format!("pull_policy `{p}` is not supported by tug's runtime (use always or missing)"),
            );
            PullPolicy::Missing
        }
        Some(p) if p.starts_with("every_") => {
            cx.at(
                &v.span,
                path,
                format!("pull_policy `{p}` is not supported by tug's runtime (use always or missing)"),
            );
            PullPolicy::Missing
        }
        Some(p) => {
            cx.at(&v.span, path, format!("unknown pull_policy {p:?}: use always, missing, never or build"));
            PullPolicy::Missing
        }
    }
}

fn depends_on(cx: &mut Cx, n: &Node, path: &str) -> Vec<DependsOn> {
    let mut out = Vec::new();
    for (k, v) in n.get("depends_on").and_then(Node::as_map).unwrap_or(&[]) {
        let p = join(path, &k.name);
        cx.keys(v, &p, &["condition", "required", "restart"], &[]);
        let condition = match v.get("condition").and_then(|c| cx.string(c, &join(&p, "condition"))).as_deref() {
            Some("service_healthy") => Condition::ServiceHealthy,
            Some("service_completed_successfully") => Condition::ServiceCompletedSuccessfully,
            _ => Condition::ServiceStarted,
        };
        out.push(DependsOn {
            service: k.name.clone(),
            condition,
            required: v.get("required").and_then(|r| cx.bool(r, &join(&p, "required"))).unwrap_or(true),
            restart: v.get("restart").and_then(|r| cx.bool(r, &join(&p, "restart"))).unwrap_or(false),
        });
    }
    out
}

/// The dependencies compose-go adds (`setImplicitDependencies`) where the file did not write them: on the
/// service named by `network_mode`, `ipc` or `pid` (`service:NAME`, restarted with it) and by each
/// `volumes_from` entry that is not `container:…`.
fn implicit_depends_on(n: &Node, out: &mut Vec<DependsOn>) {
    let mut add = |service: &str, restart: bool| {
        if !service.is_empty() && !out.iter().any(|d| d.service == service) {
            out.push(DependsOn {
                service: service.to_string(),
                condition: Condition::ServiceStarted,
                required: true,
                restart,
            });
        }
    };
    // Errors in these values are reported where they are read; here only valid references count.
    for key in ["network_mode", "ipc", "pid"] {
        if let Some(target) = n.get(key).and_then(Node::as_str).and_then(|m| m.strip_prefix("service:")) {
            add(target, true);
        }
    }
    let items = n.get("volumes_from").and_then(Node::as_seq).unwrap_or(&[]);
    for item in items.iter().filter_map(Node::as_str).filter(|i| !i.starts_with("container:")) {
        add(item.split(':').next().unwrap_or(""), false);
    }
}

/// docker/cli's `EffectiveCapAddCapDrop`, which Compose applies: names upper-cased with a `CAP_` prefix
/// (`ALL` kept), `ALL` alone when listed, a capability both added and dropped is not dropped, `RESET`
/// ignored, each list de-duplicated and sorted.
fn effective_caps(add: Vec<String>, drop: Vec<String>) -> (Vec<String>, Vec<String>) {
    fn normalize(caps: Vec<String>) -> std::collections::BTreeSet<String> {
        let set: std::collections::BTreeSet<String> = caps
            .into_iter()
            .map(|c| {
                let c = c.trim().to_ascii_uppercase();
                if c == "ALL" || c == "RESET" || c.starts_with("CAP_") {
                    c
                } else {
                    format!("CAP_{c}")
                }
            })
            .collect();
        if set.contains("ALL") {
            ["ALL".to_string()].into_iter().collect()
        } else {
            set
        }
    }
    let (add, drop) = (normalize(add), normalize(drop));
    let drop = drop.iter().filter(|c| !add.contains(*c) && *c != "RESET").cloned().collect();
    (add.into_iter().filter(|c| c != "RESET").collect(), drop)
}

/// `labels`, after those of `label_file`s (a file's labels lose to the ones written in the service).
fn labels(cx: &mut Cx, stack: &Stack, n: &Node, path: &str) -> Option<HashMap<String, String>> {
    let mut out: HashMap<String, String> = HashMap::new();
    if let Some(files) = n.get("label_file") {
        for (i, file) in cx.strings(files, &join(path, "label_file")).unwrap_or_default().iter().enumerate() {
            let p = Path::new(file);
            let p = if p.is_absolute() { p.to_path_buf() } else { stack.dir.join(p) };
            match tugboat::stack::envfile::read_raw(&p) {
                Ok(entries) => out.extend(entries.into_iter().map(|e| (e.name, e.value))),
                Err(e) => {
                    cx.at(&files.span, &format!("{path}.label_file[{i}]"), format!("cannot read label file: {e}"))
                }
            }
        }
    }
    if let Some(l) = n.get("labels") {
        out.extend(cx.map(l, &join(path, "labels")));
    }
    (n.get("labels").is_some() || n.get("label_file").is_some()).then_some(out)
}
