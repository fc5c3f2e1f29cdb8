//! Resource settings -> `HostConfig`'s resources, as Compose's `getDeployResources`: the service-level keys
//! first, then `deploy.resources` limits and reservations over them, devices, GPUs and ulimits.

use bollard::models::{
    DeviceMapping, DeviceRequest, HostConfig, ResourcesBlkioWeightDevice, ResourcesUlimits, ThrottleDevice,
};
use tugboat::stack::Node;

use super::values::{join, Cx};

/// `deploy` keys. Swarm's scheduling settings (`placement`, `update_config`, `rollback_config`,
/// `endpoint_mode`, `labels` of the swarm service) mean nothing on one engine; Compose ignores them too.
const DEPLOY_KEYS: &[&str] = &[
    "mode",
    "replicas",
    "resources",
    "restart_policy",
    "labels",
    "placement",
    "update_config",
    "rollback_config",
    "endpoint_mode",
];

pub(super) fn apply(cx: &mut Cx, n: &Node, path: &str, hc: &mut HostConfig) {
    let at = |k: &str| join(path, k);
    let int = |cx: &mut Cx, k: &str| n.get(k).and_then(|v| cx.int(v, &at(k)));
    let bytes = |cx: &mut Cx, k: &str| n.get(k).and_then(|v| cx.bytes(v, &at(k)));

    hc.memory = bytes(cx, "mem_limit");
    hc.memory_reservation = bytes(cx, "mem_reservation");
    // `-1` (unlimited swap) is a number, not a size.
    hc.memory_swap = n.get("memswap_limit").and_then(|v| match v.as_str().map(str::trim) {
        Some("-1") => Some(-1),
        _ => cx.bytes(v, &at("memswap_limit")),
    });
    // Compose sends swappiness only when it is not 0.
    hc.memory_swappiness = int(cx, "mem_swappiness").filter(|s| *s != 0);
    hc.nano_cpus = n.get("cpus").and_then(|v| cx.float(v, &at("cpus"))).map(nano_cpus).filter(|c| *c != 0);
    hc.cpu_shares = int(cx, "cpu_shares");
    hc.cpu_period = int(cx, "cpu_period");
    hc.cpu_quota = int(cx, "cpu_quota");
    // Microseconds (the schema takes integers only).
    hc.cpu_realtime_period = int(cx, "cpu_rt_period");
    hc.cpu_realtime_runtime = int(cx, "cpu_rt_runtime");
    hc.cpu_count = int(cx, "cpu_count");
    hc.cpu_percent = int(cx, "cpu_percent");
    hc.cpuset_cpus = n.get("cpuset").and_then(|v| cx.string(v, &at("cpuset")));
    hc.pids_limit = int(cx, "pids_limit").filter(|p| *p != 0);
    hc.oom_kill_disable = n.get("oom_kill_disable").and_then(|v| cx.bool(v, &at("oom_kill_disable")));
    hc.device_cgroup_rules = n.get("device_cgroup_rules").and_then(|v| cx.strings(v, &at("device_cgroup_rules")));
    if let Some(b) = n.get("blkio_config").filter(|b| !b.is_null()) {
        blkio(cx, b, &at("blkio_config"), hc);
    }

    let mut requests: Vec<DeviceRequest> = Vec::new();
    if let Some(d) = n.get("deploy").filter(|d| !d.is_null()) {
        let dp = at("deploy");
        cx.keys(d, &dp, DEPLOY_KEYS, &[]);
        if let Some(mode) = d.get("mode") {
            match cx.string(mode, &join(&dp, "mode")).as_deref() {
                None | Some("replicated") => {}
                Some(other) => cx.unsupported(
                    &mode.span,
                    &join(&dp, "mode"),
                    &format!("mode: {other}"),
                    "one engine runs replicated services only",
                ),
            }
        }
        if let Some(r) = d.get("resources").filter(|r| !r.is_null()) {
            let rp = join(&dp, "resources");
            cx.keys(r, &rp, &["limits", "reservations"], &[]);
            if let Some(l) = r.get("limits").filter(|l| !l.is_null()) {
                let lp = join(&rp, "limits");
                cx.keys(
                    l,
                    &lp,
                    &["cpus", "memory", "pids"],
                    &[
                        ("devices", "devices are reserved, not limited: use `reservations.devices`"),
                        ("generic_resources", "generic resources are swarm's"),
                    ],
                );
                if let Some(m) = l.get("memory").and_then(|v| cx.bytes(v, &join(&lp, "memory"))).filter(|m| *m != 0) {
                    hc.memory = Some(m);
                }
                if let Some(c) =
                    l.get("cpus").and_then(|v| cx.float(v, &join(&lp, "cpus"))).map(nano_cpus).filter(|c| *c != 0)
                {
                    hc.nano_cpus = Some(c);
                }
                if let Some(p) = l.get("pids").and_then(|v| cx.int(v, &join(&lp, "pids"))).filter(|p| *p > 0) {
                    hc.pids_limit = Some(p);
                }
            }
            if let Some(res) = r.get("reservations").filter(|l| !l.is_null()) {
                let sp = join(&rp, "reservations");
                // A CPU reservation is a swarm scheduling hint; Compose does not send it either.
                cx.keys(
                    res,
                    &sp,
                    &["cpus", "memory", "devices"],
                    &[
                        ("generic_resources", "generic resources are swarm's"),
                        ("pids", "pids is a limit, not a reservation"),
                    ],
                );
                if let Some(c) = res.get("cpus") {
                    cx.float(c, &join(&sp, "cpus"));
                }
                if let Some(m) = res.get("memory").and_then(|v| cx.bytes(v, &join(&sp, "memory"))).filter(|m| *m > 0) {
                    hc.memory_reservation = Some(m);
                }
                for (i, dev) in res.get("devices").and_then(Node::as_seq).unwrap_or(&[]).iter().enumerate() {
                    if let Some(req) = device_request(cx, dev, &format!("{sp}.devices[{i}]"), false) {
                        requests.push(req);
                    }
                }
            }
        }
    }

    let mut devices = Vec::new();
    for (i, dev) in n.get("devices").and_then(Node::as_seq).unwrap_or(&[]).iter().enumerate() {
        let p = format!("{}[{i}]", at("devices"));
        cx.keys(dev, &p, &["source", "target", "permissions"], &[]);
        let source = dev.get("source").and_then(|s| cx.string(s, &join(&p, "source")));
        let target = dev.get("target").and_then(|s| cx.string(s, &join(&p, "target"))).or_else(|| source.clone());
        let Some(source) = source else {
            cx.at(&dev.span, &p, "a device needs `source`");
            continue;
        };
        // A CDI name (`vendor.com/class=name`) becomes a `cdi` device request in Compose.
        if !source.starts_with('/') && source.contains('=') && source.contains('/') {
            cx.unsupported(&dev.span, &p, "devices", "CDI devices need Docker Engine API 1.45");
            continue;
        }
        devices.push(DeviceMapping {
            path_on_host: Some(source),
            path_in_container: target,
            cgroup_permissions: Some(
                dev.get("permissions")
                    .and_then(|s| cx.string(s, &join(&p, "permissions")))
                    .unwrap_or_else(|| "rwm".into()),
            ),
        });
    }
    if !devices.is_empty() {
        hc.devices = Some(devices);
    }

    // `gpus` comes after the reservations in Compose's list, each with the `gpu` capability added.
    if let Some(g) = n.get("gpus").filter(|g| !g.is_null()) {
        match g.as_seq() {
            Some(items) => {
                for (i, dev) in items.iter().enumerate() {
                    if let Some(req) = device_request(cx, dev, &format!("{}[{i}]", at("gpus")), true) {
                        requests.push(req);
                    }
                }
            }
            None => cx.at(&g.span, &at("gpus"), "expected `all` or a list of devices"),
        }
    }
    if !requests.is_empty() {
        hc.device_requests = Some(requests);
    }

    if let Some(u) = n.get("ulimits").filter(|u| !u.is_null()) {
        let mut ulimits = Vec::new();
        for (k, v) in u.as_map().unwrap_or(&[]) {
            let p = join(&at("ulimits"), &k.name);
            let (soft, hard) = if v.as_map().is_some() {
                cx.keys(v, &p, &["soft", "hard"], &[]);
                (
                    v.get("soft").and_then(|s| cx.int(s, &join(&p, "soft"))),
                    v.get("hard").and_then(|s| cx.int(s, &join(&p, "hard"))),
                )
            } else {
                let single = cx.int(v, &p);
                (single, single)
            };
            ulimits.push(ResourcesUlimits {
                name: Some(k.name.clone()),
                soft: Some(soft.unwrap_or(0)),
                hard: Some(hard.unwrap_or(0)),
            });
        }
        hc.ulimits = Some(ulimits);
    }
}

/// compose-go keeps `cpus` as a float32 and Compose multiplies in float32: `0.1` gives 100000000.
fn nano_cpus(cpus: f64) -> i64 {
    (cpus as f32 * 1e9_f32) as i64
}

fn device_request(cx: &mut Cx, dev: &Node, path: &str, gpu: bool) -> Option<DeviceRequest> {
    if dev.as_map().is_none() {
        cx.at(&dev.span, path, format!("expected a device mapping, found {}", dev.kind_name()));
        return None;
    }
    cx.keys(dev, path, &["capabilities", "driver", "count", "device_ids", "options"], &[]);
    let count = dev.get("count").and_then(|c| match c.as_str() {
        Some("all") => Some(-1),
        _ => cx.int(c, &join(path, "count")),
    });
    let ids = dev.get("device_ids").and_then(|d| cx.strings(d, &join(path, "device_ids")));
    let mut caps = dev.get("capabilities").and_then(|c| cx.strings(c, &join(path, "capabilities"))).unwrap_or_default();
    if gpu {
        caps.push("gpu".to_string());
    } else if caps.is_empty() {
        cx.at(&dev.span, path, "a device reservation needs `capabilities` (for example [gpu])");
    }
    // compose-go: no count and no ids means every matching device.
    let count = count.or(if ids.is_none() { Some(-1) } else { None });
    Some(DeviceRequest {
        driver: dev.get("driver").and_then(|d| cx.string(d, &join(path, "driver"))),
        count,
        device_ids: ids,
        capabilities: Some(vec![caps]),
        options: dev.get("options").map(|o| cx.map(o, &join(path, "options"))),
    })
}

fn blkio(cx: &mut Cx, b: &Node, path: &str, hc: &mut HostConfig) {
    const DEVICE_LISTS: &[&str] = &["device_read_bps", "device_write_bps", "device_read_iops", "device_write_iops"];
    let mut keys = vec!["weight", "weight_device"];
    keys.extend(DEVICE_LISTS);
    cx.keys(b, path, &keys, &[]);
    if let Some(w) = b.get("weight").and_then(|w| cx.int(w, &join(path, "weight"))) {
        hc.blkio_weight = weight(cx, w, b.get("weight"), &join(path, "weight"));
    }
    if let Some(items) = b.get("weight_device").and_then(Node::as_seq) {
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let p = format!("{path}.weight_device[{i}]");
            cx.keys(item, &p, &["path", "weight"], &[]);
            let w = item.get("weight").and_then(|w| cx.int(w, &join(&p, "weight")));
            out.push(ResourcesBlkioWeightDevice {
                path: item.get("path").and_then(|v| cx.string(v, &join(&p, "path"))),
                weight: w.and_then(|w| weight(cx, w, item.get("weight"), &join(&p, "weight"))).map(usize::from),
            });
        }
        hc.blkio_weight_device = Some(out);
    }
    for key in DEVICE_LISTS {
        let Some(items) = b.get(key).and_then(Node::as_seq) else { continue };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let p = format!("{path}.{key}[{i}]");
            cx.keys(item, &p, &["path", "rate"], &[]);
            // Rates in bytes take sizes (`12mb`); IO rates are plain counts.
            let rate = if key.ends_with("bps") {
                item.get("rate").and_then(|r| cx.bytes(r, &join(&p, "rate")))
            } else {
                item.get("rate").and_then(|r| cx.int(r, &join(&p, "rate")))
            };
            out.push(ThrottleDevice { path: item.get("path").and_then(|v| cx.string(v, &join(&p, "path"))), rate });
        }
        let slot = match *key {
            "device_read_bps" => &mut hc.blkio_device_read_bps,
            "device_write_bps" => &mut hc.blkio_device_write_bps,
            "device_read_iops" => &mut hc.blkio_device_read_iops,
            _ => &mut hc.blkio_device_write_iops,
        };
        *slot = Some(out);
    }
}

fn weight(cx: &mut Cx, w: i64, node: Option<&Node>, path: &str) -> Option<u16> {
    match u16::try_from(w).ok().filter(|w| (10..=1000).contains(w) || *w == 0) {
        Some(w) => Some(w),
        None => {
            if let Some(node) = node {
                cx.at(&node.span, path, format!("a blkio weight is between 10 and 1000, not {w}"));
            }
            None
        }
    }
}
