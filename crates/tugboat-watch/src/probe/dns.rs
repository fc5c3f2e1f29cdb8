//! DNS probes: one query over UDP to a chosen server (RFC 1035), without a resolver library.
//! `[DNS_RCODE]` (`NOERROR`, `NXDOMAIN`, …), `[BODY]` (the first answer), `[ANSWERS]` (all of them).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Observed;

#[derive(Debug, Clone)]
pub struct DnsProbe {
    pub name: String,
    pub record: u16,
    pub server: SocketAddr,
}

const TYPES: &[(&str, u16)] = &[("A", 1), ("NS", 2), ("CNAME", 5), ("MX", 15), ("TXT", 16), ("AAAA", 28)];
const RCODES: &[&str] = &["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"];

impl DnsProbe {
    pub fn new(name: String, record: Option<&str>, server: Option<&str>) -> Result<DnsProbe, String> {
        let record_name = record.unwrap_or("A").to_uppercase();
        let record = TYPES
            .iter()
            .find(|(n, _)| *n == record_name)
            .map(|(_, t)| *t)
            .ok_or_else(|| format!("record type `{record_name}`: use A, AAAA, CNAME, MX, NS or TXT"))?;
        let server = match server {
            Some(s) => parse_server(s)?,
            None => system_nameserver().ok_or("no `server` given and no nameserver in /etc/resolv.conf")?,
        };
        if name.is_empty() || name.split('.').any(|l| l.len() > 63) {
            return Err(format!("`{name}` is not a domain name"));
        }
        Ok(DnsProbe { name, record, server })
    }

    pub fn describe(&self) -> String {
        let t = TYPES.iter().find(|(_, t)| *t == self.record).map(|(n, _)| *n).unwrap_or("?");
        format!("{} {t} @{}", self.name, self.server)
    }

    pub(super) async fn observe(&self, timeout: Duration) -> Observed {
        let mut observed = Observed::default();
        let start = Instant::now();
        match self.query(timeout).await {
            Ok((rcode, answers)) => {
                observed.values.insert("CONNECTED".into(), Value::Bool(true));
                let rcode =
                    RCODES.get(rcode as usize).map(|s| s.to_string()).unwrap_or_else(|| format!("RCODE{rcode}"));
                observed.values.insert("DNS_RCODE".into(), Value::String(rcode));
                observed.values.insert("BODY".into(), Value::String(answers.first().cloned().unwrap_or_default()));
                observed.values.insert("ANSWERS".into(), Value::from(answers));
            }
            Err(e) => {
                observed.values.insert("CONNECTED".into(), Value::Bool(false));
                observed.error = Some(format!("DNS query to {}: {e}", self.server));
            }
        }
        observed.values.insert("RESPONSE_TIME".into(), Value::from(start.elapsed().as_millis() as u64));
        observed
    }

    async fn query(&self, timeout: Duration) -> Result<(u8, Vec<String>), String> {
        let bind: SocketAddr =
            if self.server.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { (Ipv6Addr::UNSPECIFIED, 0).into() };
        let socket = tokio::net::UdpSocket::bind(bind).await.map_err(|e| e.to_string())?;
        socket.connect(self.server).await.map_err(|e| e.to_string())?;
        let id = (super::now_ms() as u16) ^ 0x5a5a;
        socket.send(&encode_query(id, &self.name, self.record)).await.map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 4096];
        loop {
            let n = tokio::time::timeout(timeout, socket.recv(&mut buf))
                .await
                .map_err(|_| "no answer".to_string())?
                .map_err(|e| e.to_string())?;
            match decode_answer(&buf[..n], id, self.record) {
                Some(answer) => return Ok(answer),
                None => continue, // a stray or malformed datagram: keep waiting for ours
            }
        }
    }
}

fn parse_server(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    s.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| format!("`{s}`: write the server as ip or ip:port"))
}

fn system_nameserver() -> Option<SocketAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").ok()?;
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .find_map(|ip| ip.trim().parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
}

fn encode_query(id: u16, name: &str, record: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(32 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]); // recursion desired, one question
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&record.to_be_bytes());
    q.extend_from_slice(&[0, 1]); // class IN
    q
}

/// Reads a (possibly compressed) name at `pos`; returns it and the position after it.
fn read_name(msg: &[u8], mut pos: usize) -> Option<(String, usize)> {
    let mut labels = Vec::new();
    let mut end = None;
    for _ in 0..64 {
        let len = *msg.get(pos)? as usize;
        if len == 0 {
            return Some((labels.join("."), end.unwrap_or(pos + 1)));
        }
        if len & 0xc0 == 0xc0 {
            let ptr = ((len & 0x3f) << 8) | *msg.get(pos + 1)? as usize;
            end.get_or_insert(pos + 2);
            pos = ptr;
            continue;
        }
        labels.push(String::from_utf8_lossy(msg.get(pos + 1..pos + 1 + len)?).into_owned());
        pos += 1 + len;
    }
    None
}

fn u16_at(msg: &[u8], pos: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*msg.get(pos)?, *msg.get(pos + 1)?]))
}

/// The rcode and the answers of the asked type, rendered as text.
fn decode_answer(msg: &[u8], id: u16, record: u16) -> Option<(u8, Vec<String>)> {
    if u16_at(msg, 0)? != id || msg.get(2)? & 0x80 == 0 {
        return None;
    }
    let rcode = msg.get(3)? & 0x0f;
    let (questions, answers) = (u16_at(msg, 4)?, u16_at(msg, 6)?);
    let mut pos = 12;
    for _ in 0..questions {
        pos = read_name(msg, pos)?.1 + 4;
    }
    let mut out = Vec::new();
    for _ in 0..answers {
        let (_, after) = read_name(msg, pos)?;
        let (rtype, len) = (u16_at(msg, after)?, u16_at(msg, after + 8)? as usize);
        let data_at = after + 10;
        let data = msg.get(data_at..data_at + len)?;
        if rtype == record {
            out.push(match rtype {
                1 if len == 4 => Ipv4Addr::new(data[0], data[1], data[2], data[3]).to_string(),
                28 if len == 16 => Ipv6Addr::from(<[u8; 16]>::try_from(data).ok()?).to_string(),
                2 | 5 => read_name(msg, data_at)?.0,
                15 => format!("{} {}", u16_at(data, 0)?, read_name(msg, data_at + 2)?.0),
                16 => String::from_utf8_lossy(data.get(1..)?).into_owned(),
                _ => continue,
            });
        }
        pos = data_at + len;
    }
    Some((rcode, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_decode_with_compressed_names() {
        // A response to "db.example.test A" with one answer whose name points back at the question.
        let mut msg = encode_query(7, "db.example.test", 1);
        msg[2] = 0x81;
        msg[3] = 0x80;
        msg[7] = 1;
        msg.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 1, 2, 3]);
        assert_eq!(decode_answer(&msg, 7, 1), Some((0, vec!["10.1.2.3".to_string()])));
        assert_eq!(decode_answer(&msg, 8, 1), None, "another query's id");
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(DnsProbe::new("x.test".into(), Some("SRV"), Some("127.0.0.1")).unwrap_err().contains("record type"));
        assert!(DnsProbe::new("x.test".into(), None, Some("nameserver")).unwrap_err().contains("ip or ip:port"));
        assert_eq!(
            DnsProbe::new("x.test".into(), Some("aaaa"), Some("127.0.0.1:5353")).unwrap().describe(),
            "x.test AAAA @127.0.0.1:5353"
        );
    }
}
