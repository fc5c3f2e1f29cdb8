//! The monitoring parts of `tugboat.yml`: `checks:` (smoke suites and monitors), `alerts:` (where alerts go)
//! and `watch:` (the daemon's own settings). Only their shape lives here, so that a typo is reported at its
//! line and column like any other key; probes and the watch daemon (crate `tugboat-watch`) give them meaning.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How often `tug watch` runs a check without `interval` or `watch.interval`.
pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(10);
/// How soon a check that starts failing is probed again (`alert.confirm_interval`).
pub const DEFAULT_CONFIRM_INTERVAL: Duration = Duration::from_secs(1);

/// One check of a suite: exactly one probe (`http`, `tcp`, `tls`, `dns`, `sql`, `container`, `host`, `gpu`,
/// `drift`)
/// or `steps`, HTTP requests run in order that pass values on with `store`. Strings may use `${VAR}`
/// (environment, then `.env`) and, in steps, `[CONTEXT].name` for a value an earlier step stored.
///
/// A step has the same shape (one struct, because serde's `flatten` cannot be combined with
/// `deny_unknown_fields`); `steps`, `interval` and `alert` are refused inside a step.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CheckConfig {
    /// Required for a check, optional for a step.
    pub name: Option<String>,
    /// Steps run in order; a failed step stops the check.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<CheckConfig>,
    /// How often `tug watch` runs it (default `watch.interval`, 10 s).
    pub interval: Option<HumanDuration>,
    /// Time limit for each probe (default 10 s).
    pub timeout: Option<HumanDuration>,
    pub alert: Option<AlertRule>,

    /// A URL: `http://…` or `https://…`.
    pub http: Option<String>,
    /// `host:port` to connect to.
    pub tcp: Option<String>,
    /// `host:port` whose certificate is read.
    pub tls: Option<String>,
    pub dns: Option<DnsProbeConfig>,
    pub sql: Option<SqlProbeConfig>,
    /// A compose service of this stack, or a container name.
    pub container: Option<String>,
    /// Host resources: `true`, or the mounts whose disk use to report.
    pub host: Option<HostProbeConfig>,
    /// NVIDIA GPU memory and utilisation (`nvidia-smi`); no GPU is "not applicable".
    pub gpu: Option<bool>,
    /// The running stack against its compose files, as `tug status` compares them (`[DRIFT]` differences).
    pub drift: Option<bool>,

    // HTTP options.
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    pub body: Option<String>,
    /// Follow redirects (default true, at most 10).
    pub follow_redirects: Option<bool>,
    /// Skip TLS certificate verification (self-signed internal services).
    #[serde(default)]
    pub insecure: bool,
    /// Extra CA certificate (PEM) to trust.
    pub ca_file: Option<String>,

    /// Conditions (`[STATUS] == 200`), or `open` / `closed` for a TCP check.
    pub expect: Option<Expect>,
    /// Values to keep for later steps: name -> placeholder (`token: "[BODY].access_token"`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub store: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Expect {
    /// `open` or `closed` (TCP).
    Word(String),
    Conditions(Vec<String>),
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DnsProbeConfig {
    /// The name to resolve.
    pub name: String,
    /// Record type: A (default), AAAA, CNAME, MX, NS, TXT.
    #[serde(rename = "type")]
    pub record: Option<String>,
    /// `ip[:port]` of the server to ask (default: the first `nameserver` of /etc/resolv.conf).
    pub server: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SqlProbeConfig {
    /// A database under `databases:`.
    pub database: String,
    pub query: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum HostProbeConfig {
    Enabled(bool),
    Mounts {
        #[serde(default)]
        mounts: Vec<String>,
    },
}

/// When a failing check raises an alert. Unset fields come from `watch.alert`, then the defaults.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    /// `false` turns alerting off for the check (it is still shown and measured).
    pub enabled: Option<bool>,
    /// Consecutive failures before an alert (default 2).
    pub failure_threshold: Option<u32>,
    /// When a passing check fails, it is probed again this soon (instead of at its next interval) until
    /// the failures reach `failure_threshold` or a probe passes; each re-probe counts like any run.
    /// Default 1 s; `0` turns re-probes off. At least 100 ms, and shorter than the check's interval to
    /// have any effect.
    pub confirm_interval: Option<HumanDuration>,
    /// Consecutive successes before the incident is resolved (default 1).
    pub success_threshold: Option<u32>,
    /// Repeat an open incident's alert this often (default: never).
    pub renotify: Option<HumanDuration>,
    /// Tell when it recovers (default true).
    pub send_on_resolved: Option<bool>,
    /// Provider names to use instead of all of `alerts:`.
    pub providers: Option<Vec<String>>,
}

/// An entry of `alerts:`: exactly one of `smtp` or `webhook`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertProviderConfig {
    /// How checks and `fallback` refer to it (default `smtp` / `webhook`, numbered when repeated).
    pub name: Option<String>,
    /// Where an alert also goes when this provider fails (default: the next provider in the list that did
    /// not get it already). The failed delivery stays queued and is retried.
    pub fallback: Option<String>,
    pub smtp: Option<SmtpConfig>,
    pub webhook: Option<WebhookConfig>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    /// Default 587 for `starttls`, 465 for `tls`, 25 for `none`.
    pub port: Option<u16>,
    /// `starttls` (default), `tls` or `none`.
    pub security: Option<String>,
    pub user: Option<String>,
    pub user_env: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<String>,
    /// Sender address (default `tugboat@<hostname>`).
    pub from: Option<String>,
    /// Extra CA certificate (PEM) to trust for the server's TLS certificate (an internal relay).
    pub ca_file: Option<String>,
    pub to: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    /// `json` (default; also for n8n's Webhook node), `slack` (Slack, Rocket.Chat, Mattermost) or `n8n`.
    pub format: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// `tug watch`'s own settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WatchConfig {
    /// Suites to run (default: all of `checks:`).
    pub suites: Option<Vec<String>>,
    /// Default check interval (10 s).
    pub interval: Option<HumanDuration>,
    /// Address of the status page and `/metrics` (default 127.0.0.1:9925).
    pub listen: Option<String>,
    /// Variable holding the token that guards the status page when it listens beyond loopback.
    pub token_env: Option<String>,
    /// Where people reach the status page (behind a proxy, say); alerts link to it.
    pub public_url: Option<String>,
    /// How long check history is kept (default 30 days).
    pub retention: Option<HumanDuration>,
    /// How many checks run at once (default 64).
    pub concurrency: Option<usize>,
    pub heartbeat: Option<HeartbeatConfig>,
    /// Cron schedules (5 fields, local time) for `tug backup` and `tug drill`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub schedule: BTreeMap<String, String>,
    /// Windows in which failures raise no alerts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maintenance: Vec<MaintenanceWindow>,
    /// Defaults for every check's `alert`.
    #[serde(default)]
    pub alert: AlertRule,
    /// Collection, retention, alerts and forwarding of the stack's container logs.
    pub logs: Option<super::logs::LogsConfig>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatConfig {
    /// Pinged (GET) every `interval` while `tug watch` runs, so an outside service notices when it stops.
    pub url: String,
    pub interval: Option<HumanDuration>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceWindow {
    /// When the window opens (cron, 5 fields, local time).
    pub cron: String,
    pub duration: HumanDuration,
}

/// A duration written as `500ms`, `10s`, `5m`, `2h`, `7d`, `2w` (or a bare number of seconds): the one
/// duration syntax of tugboat.yml and of the command line (`tug audit log --since 7d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub fn parse(text: &str) -> Result<HumanDuration, String> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(t.len());
        let (number, unit) = t.split_at(split);
        let n: f64 = number.parse().map_err(|_| format!("`{text}` is not a duration: write e.g. 10s, 5m, 2h, 7d"))?;
        let seconds = match unit.trim() {
            "ms" => n / 1000.0,
            "" | "s" => n,
            "m" => n * 60.0,
            "h" => n * 3600.0,
            "d" => n * 86400.0,
            "w" => n * 7.0 * 86400.0,
            other => return Err(format!("unknown duration unit `{other}` in `{text}`: use ms, s, m, h, d or w")),
        };
        Duration::try_from_secs_f64(seconds).map(HumanDuration).map_err(|_| format!("`{text}` is not a duration"))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        match ms {
            _ if ms.is_multiple_of(86_400_000) && ms > 0 => write!(f, "{}d", ms / 86_400_000),
            _ if ms.is_multiple_of(3_600_000) && ms > 0 => write!(f, "{}h", ms / 3_600_000),
            _ if ms.is_multiple_of(60_000) && ms > 0 => write!(f, "{}m", ms / 60_000),
            _ if ms.is_multiple_of(1000) => write!(f, "{}s", ms / 1000),
            _ => write!(f, "{ms}ms"),
        }
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => HumanDuration::parse(&s).map_err(serde::de::Error::custom),
            serde_json::Value::Number(n) => n
                .as_f64()
                .filter(|s| *s >= 0.0)
                .ok_or_else(|| serde::de::Error::custom("a duration must not be negative"))
                .and_then(|s| {
                    // A huge number (`1e300`) is no duration either; `from_secs_f64` would panic on it.
                    Duration::try_from_secs_f64(s)
                        .map(HumanDuration)
                        .map_err(|_| serde::de::Error::custom(format!("{s} seconds is too long for a duration")))
                }),
            _ => Err(serde::de::Error::custom("expected a duration such as 10s, 5m or 2h")),
        }
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl CheckConfig {
    /// The probe kinds set on this entry (a valid one has exactly one).
    pub fn kinds(&self) -> Vec<&'static str> {
        let set = [
            ("http", self.http.is_some()),
            ("tcp", self.tcp.is_some()),
            ("tls", self.tls.is_some()),
            ("dns", self.dns.is_some()),
            ("sql", self.sql.is_some()),
            ("container", self.container.is_some()),
            ("host", self.host.is_some()),
            ("gpu", self.gpu.is_some()),
            ("drift", self.drift.is_some()),
        ];
        let mut kinds: Vec<&'static str> = set.iter().filter(|(_, on)| *on).map(|(k, _)| *k).collect();
        if !self.steps.is_empty() {
            kinds.push("steps");
        }
        kinds
    }
}

impl AlertProviderConfig {
    pub fn kind(&self) -> &'static str {
        if self.smtp.is_some() {
            "smtp"
        } else {
            "webhook"
        }
    }
}

/// Provider names as checks refer to them: `name`, else the kind, numbered from the second of a kind on.
pub fn provider_names(alerts: &[AlertProviderConfig]) -> Vec<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    alerts
        .iter()
        .map(|a| match &a.name {
            Some(n) => n.clone(),
            None => {
                let c = counts.entry(a.kind()).or_default();
                *c += 1;
                if *c == 1 {
                    a.kind().to_string()
                } else {
                    format!("{}-{c}", a.kind())
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print() {
        for (text, ms) in
            [("500ms", 500), ("10s", 10_000), ("5m", 300_000), ("720h", 2_592_000_000), ("7d", 604_800_000)]
        {
            let d = HumanDuration::parse(text).unwrap();
            assert_eq!(d.0.as_millis(), ms, "{text}");
        }
        assert_eq!(HumanDuration::parse("90").unwrap().to_string(), "90s");
        assert_eq!(HumanDuration::parse("120m").unwrap().to_string(), "2h");
        assert!(HumanDuration::parse("5 weeks").unwrap_err().contains("unknown duration unit"));
        assert!(HumanDuration::parse("soon").is_err());
    }

    #[test]
    fn providers_are_named_by_kind_then_numbered() {
        let smtp = AlertProviderConfig {
            smtp: Some(SmtpConfig {
                host: "h".into(),
                port: None,
                security: None,
                user: None,
                user_env: None,
                password_env: None,
                password_file: None,
                from: None,
                ca_file: None,
                to: vec![],
            }),
            ..Default::default()
        };
        let hook = |name: Option<&str>| AlertProviderConfig {
            name: name.map(str::to_string),
            webhook: Some(WebhookConfig { url: "u".into(), format: None, headers: BTreeMap::new() }),
            ..Default::default()
        };
        let names = provider_names(&[smtp, hook(None), hook(Some("chat")), hook(None)]);
        assert_eq!(names, ["smtp", "webhook", "chat", "webhook-2"]);
    }
}
