//! NetworkPolicies that reproduce the compose networks: nothing gets in unless a policy lets it; members
//! of a network reach each other on the ports they declare; the ingress controller reaches only what is
//! published; a service only on `internal: true` networks reaches nothing but its networks' members (and
//! DNS, and a CloudNativePG cluster that replaced one of them).

use serde_json::{json, Value};

use super::workload::{declared_ports, selector};
use super::{labels, object, Context, Object};
use crate::stack::Service;

pub fn policies(cx: &Context, services: &[&Service]) -> Vec<Object> {
    let ns = &cx.namespace;
    let mut out = vec![object(
        "default-deny.networkpolicy.yaml",
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny-ingress", "namespace": ns, "labels": {"app.kubernetes.io/managed-by": "tugboat"}},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}),
    )];
    let internal = |n: &str| cx.stack.project.networks.iter().any(|net| net.name == n && net.internal);
    let net_label = |n: &str| json!({"podSelector": {"matchLabels": {format!("tugboat.io/net-{n}"): "true"}}});
    let controller =
        cx.k8s.ingress.as_ref().and_then(|i| i.controller_namespace.clone()).unwrap_or_else(|| "ingress-nginx".into());
    for s in services.iter().filter(|s| !cx.clusters.contains_key(&s.name)) {
        let name = s.name.as_str();
        let ports: Vec<Value> = declared_ports(s).iter().map(|p| json!({"protocol": "TCP", "port": p})).collect();
        let mut ingress = Vec::new();
        if !ports.is_empty() {
            for n in &s.networks {
                ingress.push(json!({"from": [net_label(n)], "ports": ports}));
            }
        }
        if let Some((_, port)) = cx.ingressed.iter().find(|(n, _)| n == name) {
            ingress.push(
                json!({"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": controller}}}],
                "ports": [{"protocol": "TCP", "port": port}]}),
            );
        }
        let mut types = vec!["Ingress"];
        let mut spec = json!({"podSelector": {"matchLabels": selector(name)}, "ingress": ingress});
        if !s.networks.is_empty() && s.networks.iter().all(|n| internal(n)) {
            let mut egress: Vec<Value> = s.networks.iter().map(|n| json!({"to": [net_label(n)]})).collect();
            egress.push(
                json!({"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}),
            );
            // A database that became a CloudNativePG cluster was a member of these networks.
            for (service, (cluster, cluster_ns)) in &cx.clusters {
                let shares =
                    cx.stack.service(service).is_some_and(|db| db.networks.iter().any(|n| s.networks.contains(n)));
                if shares {
                    egress.push(json!({"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": cluster_ns}},
                        "podSelector": {"matchLabels": {"cnpg.io/cluster": cluster}}}],
                        "ports": [{"protocol": "TCP", "port": 5432}]}));
                }
            }
            spec["egress"] = json!(egress);
            types.push("Egress");
        }
        spec["policyTypes"] = json!(types);
        out.push(object(
            &format!("{name}.networkpolicy.yaml"),
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": name, "namespace": ns, "labels": labels(name)}, "spec": spec}),
        ));
    }
    out
}
