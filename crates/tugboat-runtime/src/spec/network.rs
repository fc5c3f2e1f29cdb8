//! Top-level `networks` and `volumes` as create requests, and a service's network endpoints.

use bollard::models::{Ipam, IpamConfig, NetworkCreateRequest, VolumeCreateRequest};
use tugboat::stack::Node;

use super::values::{join, Cx};
use super::{EndpointSpec, NetworkSpec, VolumeSpec};

/// Keys of a top-level network that are honoured.
const NETWORK_KEYS: &[&str] = &[
    "name",
    "driver",
    "driver_opts",
    "external",
    "internal",
    "attachable",
    "enable_ipv4",
    "enable_ipv6",
    "ipam",
    "labels",
];

pub(super) fn network(cx: &mut Cx, key: &str, node: &Node) -> NetworkSpec {
    let path = format!("networks.{key}");
    cx.keys(node, &path, NETWORK_KEYS, &[]);
    let at = |k: &str| join(&path, k);
    let name = node.get("name").and_then(|n| cx.string(n, &at("name"))).unwrap_or_else(|| key.to_string());
    let external = node.get("external").and_then(|n| cx.bool(n, &at("external"))).unwrap_or(false);
    // `enable_ipv4: false` needs API 1.47; `true` is what every engine does anyway.
    if let Some(v4) = node.get("enable_ipv4") {
        if cx.bool(v4, &at("enable_ipv4")) == Some(false) {
            cx.unsupported(
                &v4.span,
                &at("enable_ipv4"),
                "enable_ipv4",
                "IPv6-only networks need Docker Engine API 1.47",
            );
        }
    }
    let options = node.get("driver_opts").map(|n| cx.map(n, &at("driver_opts")));
    let labels = node.get("labels").map(|n| cx.map(n, &at("labels")));
    let ipam = node.get("ipam").and_then(|n| ipam(cx, n, &at("ipam")));
    let create = NetworkCreateRequest {
        name: name.clone(),
        // Compose leaves the driver out when the file does (the engine's default is bridge).
        driver: node.get("driver").and_then(|n| cx.string(n, &at("driver"))),
        internal: node.get("internal").and_then(|n| cx.bool(n, &at("internal"))),
        attachable: node.get("attachable").and_then(|n| cx.bool(n, &at("attachable"))),
        enable_ipv6: node.get("enable_ipv6").and_then(|n| cx.bool(n, &at("enable_ipv6"))),
        options,
        labels,
        ipam,
        ..Default::default()
    };
    NetworkSpec { key: key.to_string(), name, external, create }
}

fn ipam(cx: &mut Cx, node: &Node, path: &str) -> Option<Ipam> {
    if node.is_null() {
        return None;
    }
    cx.keys(node, path, &["driver", "config", "options"], &[]);
    let driver = node.get("driver").and_then(|n| cx.string(n, &join(path, "driver")));
    let mut configs = Vec::new();
    if let Some(items) = node.get("config").and_then(Node::as_seq) {
        for (i, item) in items.iter().enumerate() {
            let p = format!("{path}.config[{i}]");
            cx.keys(item, &p, &["subnet", "ip_range", "gateway", "aux_addresses"], &[]);
            let s = |cx: &mut Cx, k: &str| item.get(k).and_then(|n| cx.string(n, &join(&p, k)));
            configs.push(IpamConfig {
                subnet: s(cx, "subnet"),
                ip_range: s(cx, "ip_range"),
                gateway: s(cx, "gateway"),
                auxiliary_addresses: item.get("aux_addresses").map(|n| cx.map(n, &join(&p, "aux_addresses"))),
            });
        }
    }
    let options = node.get("options").map(|n| cx.map(n, &join(path, "options")));
    // As Compose: no IPAM section unless a driver or a config is given.
    if driver.is_none() && configs.is_empty() {
        if let Some(o) = node.get("options").filter(|_| options.as_ref().is_some_and(|o| !o.is_empty())) {
            cx.at(
                &o.span,
                &join(path, "options"),
                "IPAM options need an IPAM `driver` or `config` (Compose drops them otherwise)",
            );
        }
        return None;
    }
    Some(Ipam { driver, config: (!configs.is_empty()).then_some(configs), options })
}

const VOLUME_KEYS: &[&str] = &["name", "driver", "driver_opts", "external", "labels"];

pub(super) fn volume(cx: &mut Cx, key: &str, node: &Node) -> VolumeSpec {
    let path = format!("volumes.{key}");
    cx.keys(node, &path, VOLUME_KEYS, &[]);
    let at = |k: &str| join(&path, k);
    let name = node.get("name").and_then(|n| cx.string(n, &at("name"))).unwrap_or_else(|| key.to_string());
    let external = node.get("external").and_then(|n| cx.bool(n, &at("external"))).unwrap_or(false);
    let create = VolumeCreateRequest {
        name: Some(name.clone()),
        driver: node.get("driver").and_then(|n| cx.string(n, &at("driver"))),
        driver_opts: node.get("driver_opts").map(|n| cx.map(n, &at("driver_opts"))),
        labels: node.get("labels").map(|n| cx.map(n, &at("labels"))),
        ..Default::default()
    };
    VolumeSpec { key: key.to_string(), name, external, create }
}

/// What a service's `networks` entry may say; the rest needs a newer engine than API 1.41.
const ENDPOINT_KEYS: &[&str] = &["aliases", "ipv4_address", "ipv6_address", "priority"];
const ENDPOINT_REFUSED: &[(&str, &str)] = &[
    ("mac_address", "a per-network MAC address needs Docker Engine API 1.44"),
    ("gw_priority", "gateway priority needs Docker Engine API 1.48"),
    ("interface_name", "naming the interface needs Docker Engine API 1.48"),
    ("driver_opts", "endpoint driver options are not passed by tug's runtime"),
    ("link_local_ips", "link-local addresses are not passed by tug's runtime"),
];

/// The service's endpoints, highest `priority` first and then by key, as compose-go's
/// `NetworksByPriority` orders them (the first is the one given at create time).
pub(super) fn endpoints(
    cx: &mut Cx,
    service: &str,
    node: &Node,
    path: &str,
    networks: &[NetworkSpec],
) -> Vec<EndpointSpec> {
    let mut out: Vec<(i64, EndpointSpec)> = Vec::new();
    for (k, v) in node.as_map().unwrap_or(&[]) {
        let p = join(path, &k.name);
        cx.keys(v, &p, ENDPOINT_KEYS, ENDPOINT_REFUSED);
        let Some(network) = networks.iter().find(|n| n.key == k.name) else {
            cx.at(&k.span, &p, format!("uses undefined network `{}`", k.name));
            continue;
        };
        // The service name is an alias on every network, as Compose sets it (before the container name,
        // which the runtime adds per replica).
        let mut aliases = vec![service.to_string()];
        aliases.extend(v.get("aliases").and_then(|a| cx.strings(a, &join(&p, "aliases"))).unwrap_or_default());
        let priority = v.get("priority").and_then(|n| cx.int(n, &join(&p, "priority"))).unwrap_or(0);
        out.push((
            priority,
            EndpointSpec {
                key: k.name.clone(),
                network: network.name.clone(),
                aliases,
                ipv4_address: v.get("ipv4_address").and_then(|n| cx.string(n, &join(&p, "ipv4_address"))),
                ipv6_address: v.get("ipv6_address").and_then(|n| cx.string(n, &join(&p, "ipv6_address"))),
            },
        ));
    }
    out.sort_by(|(pa, a), (pb, b)| pb.cmp(pa).then_with(|| a.key.cmp(&b.key)));
    out.into_iter().map(|(_, e)| e).collect()
}
