//! `watch.logs` in `tugboat.yml`: how `tug watch` keeps the stack's container logs (retention per service),
//! which lines raise alerts, and where lines are forwarded. Only the shape lives here; the collector
//! (`tugboat_runtime::logs::collect`), the alerts and the forwarders (crate `tugboat-watch`) give it meaning.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::probes::HumanDuration;

/// How long collected lines are kept without `retention`.
pub const DEFAULT_LOG_RETENTION: Duration = Duration::from_secs(7 * 86_400);
/// How many bytes of lines a service keeps without `max_bytes`.
pub const DEFAULT_LOG_MAX_BYTES: u64 = 256 << 20;

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogsConfig {
    /// Collect the stack's container logs into `.tugboat/logs.db` (default true).
    pub collect: Option<bool>,
    /// How long lines are kept (default 7d).
    pub retention: Option<HumanDuration>,
    /// How many bytes of lines each service keeps, oldest dropped first (default 256MiB).
    pub max_bytes: Option<ByteSize>,
    /// Per service: `retention` and `max_bytes` instead of the defaults above.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub services: BTreeMap<String, LogRetention>,
    /// Lines that raise alerts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<LogAlertConfig>,
    /// Receivers every collected line is also sent to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forward: Vec<LogForwardConfig>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogRetention {
    pub retention: Option<HumanDuration>,
    pub max_bytes: Option<ByteSize>,
}

/// An alert on log lines: `threshold` matching lines within `window` raise it; after that, it is sent
/// again at most once per `debounce` while lines keep matching.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogAlertConfig {
    /// Names the alert in messages and on the status page.
    pub name: String,
    /// Services whose lines are matched (default: all).
    pub services: Option<Vec<String>>,
    /// A regular expression a line must match (on the redacted line).
    #[serde(rename = "match")]
    pub pattern: Option<String>,
    /// Conditions on a JSON line, in the check condition language with `[LINE]` as the parsed line:
    /// `[LINE].level == error`. All must hold. A line that is not JSON matches no condition.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<String>,
    /// Matching lines within `window` that raise the alert (default 1).
    pub threshold: Option<u32>,
    /// Default 1m.
    pub window: Option<HumanDuration>,
    /// The least time between two alerts of this rule (default 10m).
    pub debounce: Option<HumanDuration>,
    /// Provider names to use instead of all of `alerts:`.
    pub providers: Option<Vec<String>>,
}

/// A receiver of forwarded lines: exactly one of `syslog` or `loki`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogForwardConfig {
    /// For metrics and messages (default `syslog` / `loki`, numbered when repeated).
    pub name: Option<String>,
    /// RFC 5424 syslog over TCP, octet-counted (RFC 6587): `tcp://host:port`, or `tls://host:port` (RFC 5425).
    pub syslog: Option<String>,
    /// Loki's base URL (`http://loki:3100`); lines go to its push API (`/loki/api/v1/push`, JSON).
    pub loki: Option<String>,
    /// Extra CA certificate (PEM) to trust for the receiver's TLS certificate.
    pub ca_file: Option<String>,
    /// Lines held while the receiver cannot take them (default 10000); beyond that the oldest are dropped
    /// and counted.
    pub buffer: Option<usize>,
    /// Extra Loki stream labels (the stack, service, container and stream are always set).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A size written as `512KiB`, `256MiB`, `1GiB`, `100MB` or a bare number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub fn parse(text: &str) -> Result<ByteSize, String> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (number, unit) = t.split_at(split);
        let n: u64 = number.parse().map_err(|_| format!("`{text}` is not a size: write e.g. 64MiB, 1GiB"))?;
        let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" => 1000,
            "kib" => 1 << 10,
            "m" | "mb" => 1_000_000,
            "mib" => 1 << 20,
            "g" | "gb" => 1_000_000_000,
            "gib" => 1 << 30,
            "t" | "tb" => 1_000_000_000_000,
            "tib" => 1 << 40,
            other => return Err(format!("unknown size unit `{other}` in `{text}`: use B, KiB, MiB, GiB, KB, MB, GB")),
        };
        n.checked_mul(factor).map(ByteSize).ok_or_else(|| format!("`{text}` is too large"))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (shift, unit) in [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")] {
            if n > 0 && n.is_multiple_of(1 << shift) {
                return write!(f, "{}{unit}", n >> shift);
            }
        }
        write!(f, "{n}B")
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => ByteSize::parse(&s).map_err(serde::de::Error::custom),
            serde_json::Value::Number(n) => {
                n.as_u64().map(ByteSize).ok_or_else(|| serde::de::Error::custom("a size is a whole number of bytes"))
            }
            _ => Err(serde::de::Error::custom("expected a size such as 64MiB or 1GiB")),
        }
    }
}

impl Serialize for ByteSize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl LogsConfig {
    /// Retention of `service`: (age, bytes).
    pub fn retention_of(&self, service: &str) -> (Duration, u64) {
        let own = self.services.get(service);
        let age = own.and_then(|s| s.retention).or(self.retention).map_or(DEFAULT_LOG_RETENTION, |d| d.0);
        let bytes = own.and_then(|s| s.max_bytes).or(self.max_bytes).map_or(DEFAULT_LOG_MAX_BYTES, |b| b.0);
        (age, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(ByteSize::parse("256MiB"), Ok(ByteSize(256 << 20)));
        assert_eq!(ByteSize::parse("100MB"), Ok(ByteSize(100_000_000)));
        assert_eq!(ByteSize::parse("4096"), Ok(ByteSize(4096)));
        assert_eq!(ByteSize(256 << 20).to_string(), "256MiB");
        assert_eq!(ByteSize(1000).to_string(), "1000B");
        assert!(ByteSize::parse("1 parsec").is_err());
        assert!(ByteSize::parse("99999999999TiB").is_err());
    }

    #[test]
    fn retention_falls_back_per_service() {
        let mut c = LogsConfig { retention: Some(HumanDuration(Duration::from_secs(60))), ..Default::default() };
        c.services.insert("db".into(), LogRetention { retention: None, max_bytes: Some(ByteSize(10)) });
        assert_eq!(c.retention_of("db"), (Duration::from_secs(60), 10));
        assert_eq!(c.retention_of("app"), (Duration::from_secs(60), DEFAULT_LOG_MAX_BYTES));
    }
}
