//! The ports the stack publishes: free, or held by the stack's own containers (the runtime says which),
//! else a fail naming the port and the process holding it, found by matching the socket's inode from
//! /proc/net/{tcp,tcp6,udp,udp6} with the `socket:[INODE]` links under /proc/*/fd. Both are per network
//! namespace: what this process sees is what the engine's port publishing will meet.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Check, Group};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn parse(s: &str) -> Option<Protocol> {
        match s {
            "tcp" => Some(Protocol::Tcp),
            "udp" => Some(Protocol::Udp),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// A listening TCP socket or a bound UDP one.
#[derive(Debug, Clone, PartialEq)]
pub struct Socket {
    pub address: IpAddr,
    pub port: u16,
    pub protocol: Protocol,
    pub inode: u64,
}

/// TCP state 0A is LISTEN; UDP sockets bound to a port show state 07 (CLOSE).
fn wanted_state(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "0A",
        Protocol::Udp => "07",
    }
}

/// Parses one /proc/net table. Addresses are hex words in host byte order: `0100007F:1F90` is 127.0.0.1:8080.
pub fn parse_proc_net(text: &str, protocol: Protocol) -> Vec<Socket> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.get(3) != Some(&wanted_state(protocol)) {
                return None;
            }
            let (addr, port) = f.get(1)?.split_once(':')?;
            Some(Socket {
                address: parse_address(addr)?,
                port: u16::from_str_radix(port, 16).ok()?,
                protocol,
                inode: f.get(9)?.parse().ok()?,
            })
        })
        .collect()
}

fn parse_address(hex: &str) -> Option<IpAddr> {
    let words: Option<Vec<[u8; 4]>> = (0..hex.len() / 8)
        .map(|i| hex.get(i * 8..i * 8 + 8).and_then(|w| u32::from_str_radix(w, 16).ok()).map(u32::to_ne_bytes))
        .collect();
    let bytes: Vec<u8> = words?.concat();
    match bytes.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))),
        16 => <[u8; 16]>::try_from(bytes).ok().map(|b| IpAddr::V6(Ipv6Addr::from(b))),
        _ => None,
    }
}

/// The sockets of this network namespace.
pub fn read_sockets() -> Vec<Socket> {
    let tables = [("tcp", Protocol::Tcp), ("tcp6", Protocol::Tcp), ("udp", Protocol::Udp), ("udp6", Protocol::Udp)];
    tables
        .iter()
        .filter_map(|(file, p)| {
            std::fs::read_to_string(format!("/proc/net/{file}")).ok().map(|t| parse_proc_net(&t, *p))
        })
        .flatten()
        .collect()
}

/// The process holding a socket: `pid 4242 (nginx)`, when /proc lets us read its descriptors.
pub fn holder(inode: u64) -> Option<String> {
    let link = format!("socket:[{inode}]");
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().filter(|n| n.bytes().all(|b| b.is_ascii_digit())) else { continue };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else { continue };
        if fds.flatten().any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t.as_os_str() == link.as_str())) {
            let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            return Some(format!("pid {pid} ({})", comm.trim()));
        }
    }
    None
}

/// Whether a listener on `socket` takes the address a publication wants: either is a wildcard, or both are
/// the same address (`::` holds IPv4 as well, unless the socket is v6-only, which we cannot see).
fn overlaps(wanted: Option<IpAddr>, socket: IpAddr) -> bool {
    match wanted {
        None => true,
        Some(w) => w.is_unspecified() || socket.is_unspecified() || w == socket,
    }
}

/// A host port the stack publishes.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    pub host_ip: Option<IpAddr>,
    pub port: u16,
    pub protocol: Protocol,
    pub services: Vec<String>,
    /// This stack's own running container already holds it (`tug up` has run): not a conflict.
    pub held_by_stack: Option<String>,
}

/// One `port:PORT/PROTO` check per published port.
pub fn check_ports(published: &[Published], sockets: &[Socket]) -> Vec<Check> {
    if published.is_empty() {
        return vec![Check::skip(Group::Ports, "ports", "the stack publishes no host ports")];
    }
    published
        .iter()
        .map(|p| {
            let id = format!("port:{}/{}", p.port, p.protocol.as_str());
            let address = p.host_ip.map_or("0.0.0.0".to_string(), |a| a.to_string());
            let what = format!("{address}:{} for {}", p.port, p.services.join(", "));
            if let Some(container) = &p.held_by_stack {
                return Check::pass(Group::Ports, id, format!("{what}: held by this stack's container {container}"));
            }
            let taken = sockets.iter().find(|s| s.protocol == p.protocol && s.port == p.port && overlaps(p.host_ip, s.address));
            match taken {
                None => Check::pass(Group::Ports, id, format!("{what}: free")),
                Some(s) => {
                    let by = holder(s.inode).unwrap_or_else(|| "a process this user cannot see (run as root to name it)".into());
                    let docker = by.contains("docker-proxy");
                    Check::fail(
                        Group::Ports,
                        id,
                        format!("{what}: {}:{} is in use by {by}", s.address, s.port),
                        if docker {
                            format!("another container publishes it (`docker ps --filter publish={}`): stop it, or publish another host port", p.port)
                        } else {
                            format!("stop that process, or publish another host port in {}'s `ports:`", p.services.join(", "))
                        },
                    )
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// /proc/net/tcp and tcp6 of a host with sshd on :22, a local postgres and a v6 listener.
    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 18211 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 20514 1 0000000000000000 100 0 0 10 0
   2: 0100007F:1538 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000   106        0 91234 1 0000000000000000 20 4 30 10 -1
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 30001 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:0277 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 30002 1 0000000000000000 100 0 0 10 0
";

    #[test]
    fn listeners_are_read_with_addresses_in_host_order_and_established_ones_left_out() {
        let v4 = parse_proc_net(TCP, Protocol::Tcp);
        assert_eq!(v4.len(), 2, "{v4:?}");
        assert_eq!((v4[0].address, v4[0].port, v4[0].inode), ("0.0.0.0".parse().unwrap(), 22, 18211));
        assert_eq!((v4[1].address, v4[1].port), ("127.0.0.1".parse().unwrap(), 5432));
        let v6 = parse_proc_net(TCP6, Protocol::Tcp);
        assert_eq!((v6[0].address, v6[0].port), ("::".parse().unwrap(), 8080));
        assert_eq!((v6[1].address, v6[1].port), ("::1".parse().unwrap(), 631));
    }

    #[test]
    fn a_publication_conflicts_with_an_overlapping_listener_only() {
        let sockets = parse_proc_net(TCP, Protocol::Tcp);
        let publish = |ip: Option<&str>, port| Published {
            host_ip: ip.map(|i| i.parse().unwrap()),
            port,
            protocol: Protocol::Tcp,
            services: vec!["web".into()],
            held_by_stack: None,
        };
        let status = |p: Published| check_ports(&[p], &sockets)[0].status;
        use super::super::Status::*;
        assert_eq!(status(publish(None, 22)), Fail, "0.0.0.0:22 is sshd's");
        assert_eq!(status(publish(Some("127.0.0.1"), 5432)), Fail);
        assert_eq!(status(publish(Some("10.0.0.5"), 5432)), Pass, "postgres listens on loopback only");
        assert_eq!(status(publish(None, 5432)), Fail, "a wildcard takes loopback too");
        assert_eq!(status(publish(None, 8081)), Pass);
        let mine = Published { held_by_stack: Some("shop-web-1".into()), ..publish(None, 22) };
        assert_eq!(status(mine), Pass);
        assert_eq!(check_ports(&[], &sockets)[0].status, Skip);
    }
}
