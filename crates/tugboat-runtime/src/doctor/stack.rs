//! What the stack asks of the host, read from the create bodies `tug up` would send: bind sources, host
//! ports, memory, GPU reservations. Reading the resolved spec (not the compose text) means the doctor
//! checks exactly what the runtime will do: short-syntax binds that create their source, port ranges
//! expanded, replicas counted.

use std::net::IpAddr;
use std::path::PathBuf;

use tugboat::doctor::memory::MemoryAsk;
use tugboat::doctor::mounts::Bind;
use tugboat::doctor::ports::{Protocol, Published};

use crate::spec::ProjectSpec;

/// Each bind source once, with every service that binds it (writable if any binds it read-write).
pub fn binds(spec: &ProjectSpec) -> Vec<Bind> {
    let mut out: Vec<Bind> = Vec::new();
    for s in &spec.services {
        let Some(hc) = &s.create.host_config else { continue };
        // The bind API: `SOURCE:TARGET:OPTIONS`; the source is absolute (the spec resolved it).
        let short = hc.binds.iter().flatten().filter_map(|b| {
            let mut parts = b.rsplitn(3, ':');
            let options = parts.next()?;
            let _target = parts.next()?;
            let source = parts.next()?;
            Some((source.to_string(), options.split(',').any(|o| o == "ro"), true))
        });
        let long =
            hc.mounts.iter().flatten().filter(|m| m.typ == Some(bollard::models::MountType::BIND)).filter_map(|m| {
                let create = m.bind_options.as_ref().and_then(|o| o.create_mountpoint).unwrap_or(false);
                Some((m.source.clone()?, m.read_only.unwrap_or(false), create))
            });
        for (source, read_only, created_if_missing) in short.chain(long) {
            let source = PathBuf::from(source);
            match out.iter_mut().find(|b| b.source == source) {
                Some(b) => {
                    b.read_only &= read_only;
                    b.created_if_missing &= created_if_missing;
                    if !b.services.contains(&s.name) {
                        b.services.push(s.name.clone());
                    }
                }
                None => out.push(Bind { source, read_only, created_if_missing, services: vec![s.name.clone()] }),
            }
        }
    }
    out
}

/// Each published host port (ephemeral ones, which the engine picks, left out).
pub fn published(spec: &ProjectSpec) -> Vec<Published> {
    let mut out: Vec<Published> = Vec::new();
    for s in &spec.services {
        let Some(bindings) = s.create.host_config.as_ref().and_then(|hc| hc.port_bindings.as_ref()) else { continue };
        for (key, list) in bindings {
            let protocol = key.split_once('/').and_then(|(_, p)| Protocol::parse(p)).unwrap_or(Protocol::Tcp);
            for b in list.iter().flatten() {
                let Some(port) = b.host_port.as_deref().and_then(|p| p.parse::<u16>().ok()).filter(|p| *p != 0) else {
                    continue;
                };
                let host_ip = b.host_ip.as_deref().filter(|i| !i.is_empty()).and_then(|i| i.parse::<IpAddr>().ok());
                match out.iter_mut().find(|p| p.port == port && p.protocol == protocol && p.host_ip == host_ip) {
                    Some(p) if !p.services.contains(&s.name) => p.services.push(s.name.clone()),
                    Some(_) => {}
                    None => out.push(Published {
                        host_ip,
                        port,
                        protocol,
                        services: vec![s.name.clone()],
                        held_by_stack: None,
                    }),
                }
            }
        }
    }
    out.sort_by_key(|p| (p.port, p.protocol));
    out
}

pub fn memory(spec: &ProjectSpec) -> Vec<MemoryAsk> {
    let bytes = |v: Option<i64>| v.and_then(|b| u64::try_from(b).ok()).filter(|b| *b > 0);
    spec.services
        .iter()
        .map(|s| {
            let hc = s.create.host_config.as_ref();
            MemoryAsk {
                service: s.name.clone(),
                containers: s.replicas,
                limit: bytes(hc.and_then(|h| h.memory)),
                reservation: bytes(hc.and_then(|h| h.memory_reservation)),
            }
        })
        .collect()
}

/// Services with a device request for a GPU (`gpus:`, or a reservation with the `gpu` capability or the
/// nvidia driver).
pub fn gpu_services(spec: &ProjectSpec) -> Vec<String> {
    spec.services
        .iter()
        .filter(|s| {
            let requests = s.create.host_config.as_ref().and_then(|h| h.device_requests.as_ref());
            requests.into_iter().flatten().any(|r| {
                r.driver.as_deref() == Some("nvidia") || r.capabilities.iter().flatten().flatten().any(|c| c == "gpu")
            })
        })
        .map(|s| s.name.clone())
        .collect()
}
