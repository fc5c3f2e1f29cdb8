//! Alert providers: SMTP e-mail (lettre; STARTTLS, TLS or plain, with auth) and webhooks (generic JSON,
//! n8n, and the `{"text": …}` shape Slack, Rocket.Chat and Mattermost accept).
//!
//! An [`AlertMessage`] is stored as JSON in the outbox when it is raised and delivered from there, so a
//! provider that is down gets it later, unchanged.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use tugboat::secret::Secret;
use tugboat::stack::probes::{provider_names, SmtpConfig, WebhookConfig};
use tugboat::stack::{ConfigError, Stack};

use crate::probe::condition::format_ms;
use crate::probe::ConditionResult;
use crate::watch::jobs::SourceFailure;

const SEND_TIMEOUT: Duration = Duration::from_secs(15);

/// Everything an alert says. Stored as the outbox payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertMessage {
    /// `triggered`, `renotify` or `resolved`.
    pub kind: String,
    pub stack: String,
    pub host: String,
    pub check: String,
    pub check_kind: String,
    pub target: String,
    /// The failed conditions with what was observed, or the error.
    pub summary: String,
    #[serde(default)]
    pub failed_conditions: Vec<ConditionResult>,
    #[serde(default)]
    pub diagnostics: Vec<String>,
    /// A scheduled job's failed sources, each with why it failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_sources: Vec<SourceFailure>,
    pub time_ms: i64,
    /// When the current failures began.
    pub failing_since_ms: Option<i64>,
    pub last_success_ms: Option<i64>,
    /// The status page, when it is reachable from elsewhere.
    pub status_url: Option<String>,
}

impl AlertMessage {
    pub fn subject(&self) -> String {
        if self.kind == "matched" {
            return format!("[tugboat] {}: {}: {}", self.stack, self.check, self.summary);
        }
        let state = match self.kind.as_str() {
            "resolved" => "RESOLVED",
            "renotify" => "still DOWN",
            _ => "DOWN",
        };
        format!("[tugboat] {}: {} is {state}", self.stack, self.check)
    }

    /// The plain-text body: what failed, the observed value, since when, the last success, diagnostics.
    pub fn text(&self) -> String {
        let mut t = String::new();
        let when = |ms: i64| format!("{} ({} ago)", format_time(ms), format_ms((self.time_ms - ms) as f64));
        if self.kind == "matched" {
            t.push_str(&format!("Log alert {} ({}) on {}: {}.\n", self.check, self.target, self.host, self.summary));
            t.push_str("\nLast matching lines:\n");
            for d in &self.diagnostics {
                t.push_str(&format!("  {d}\n"));
            }
        } else if self.kind == "resolved" {
            t.push_str(&format!("{} ({} {}) passes again.\n", self.check, self.check_kind, self.target));
            if let Some(since) = self.failing_since_ms {
                t.push_str(&format!("It had been failing since {}.\n", format_time(since)));
            }
        } else {
            t.push_str(&format!(
                "{} ({} {}) is failing on {}.\n\n",
                self.check, self.check_kind, self.target, self.host
            ));
            t.push_str(&format!("What failed:   {}\n", self.summary));
            if let Some(since) = self.failing_since_ms {
                t.push_str(&format!("Failing since: {}\n", when(since)));
            }
            t.push_str(&format!(
                "Last success:  {}\n",
                self.last_success_ms.map(when).unwrap_or_else(|| "never seen passing by this watcher".into())
            ));
            if !self.failed_sources.is_empty() {
                t.push_str("\nFailed sources:\n");
                for f in &self.failed_sources {
                    t.push_str(&format!("  - {}: {}\n", f.source, f.reason.trim()));
                }
            }
            if !self.diagnostics.is_empty() {
                t.push_str("\nDiagnostics:\n");
                for d in &self.diagnostics {
                    t.push_str(&format!("  - {d}\n"));
                }
            }
        }
        if let Some(url) = &self.status_url {
            t.push_str(&format!("\nStatus page: {url}\n"));
        }
        t
    }
}

/// `2026-11-26 17:50:02 UTC`.
pub fn format_time(ms: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| ms.to_string())
}

enum Channel {
    Smtp {
        config: Box<SmtpConfig>,
        password: Option<Secret>,
        user: Option<String>,
        from: String,
        ca_pem: Option<Vec<u8>>,
    },
    Webhook {
        config: WebhookConfig,
        client: reqwest::Client,
    },
}

pub struct Provider {
    pub name: String,
    pub fallback: Option<String>,
    channel: Channel,
}

/// The configured providers, in `alerts:` order.
pub struct Notifier {
    providers: Vec<Provider>,
}

impl Notifier {
    /// Resolves every provider's settings; `${VAR}` and `*_env`/`*_file` secrets are read now, so a
    /// missing password is a config error at start-up rather than a failed alert at 3 a.m.
    pub fn new(stack: &Stack) -> Result<Notifier, ConfigError> {
        let alerts = &stack.config.alerts;
        let names = provider_names(alerts);
        let mut errors = Vec::new();
        let mut providers = Vec::new();
        let resolve = |text: &str, errors: &mut Vec<ConfigError>| -> String {
            let mut used = Vec::new();
            let out =
                tugboat::stack::interpolate::interpolate(text, &|v| stack.variable(v), &mut used).unwrap_or_default();
            for v in used.iter().filter(|v| stack.variable(v).is_none()) {
                errors.push(ConfigError::Other(format!("alerts: ${{{v}}} is not set (environment or .env)")));
            }
            out
        };
        for (i, (entry, name)) in alerts.iter().zip(&names).enumerate() {
            let fallback = entry.fallback.clone().or_else(|| names.get(i + 1).cloned().filter(|_| alerts.len() > 1));
            let channel = if let Some(smtp) = &entry.smtp {
                let mut config = smtp.clone();
                config.host = resolve(&smtp.host, &mut errors);
                let user = match (&smtp.user, &smtp.user_env) {
                    (Some(u), _) => Some(resolve(u, &mut errors)),
                    (None, Some(var)) => stack.variable(var).or_else(|| {
                        errors.push(ConfigError::Other(format!("alerts[{i}].smtp.user_env: {var} is not set")));
                        None
                    }),
                    (None, None) => None,
                };
                let password = stack
                    .password(&format!("alerts[{i}].smtp"), smtp.password_env.as_deref(), smtp.password_file.as_deref())
                    .unwrap_or_else(|e| {
                        errors.push(ConfigError::Other(e.to_string()));
                        None
                    });
                let from = smtp.from.clone().unwrap_or_else(|| format!("tugboat@{}", hostname()));
                let ca_pem = match &smtp.ca_file {
                    Some(file) => match std::fs::read(stack.dir.join(file)) {
                        Ok(pem) => Some(pem),
                        Err(e) => {
                            errors.push(ConfigError::Other(format!("alerts[{i}].smtp.ca_file: {file}: {e}")));
                            None
                        }
                    },
                    None => None,
                };
                Channel::Smtp { config: Box::new(config), password, user, from, ca_pem }
            } else if let Some(hook) = &entry.webhook {
                let mut config = hook.clone();
                config.url = resolve(&hook.url, &mut errors);
                for v in config.headers.values_mut() {
                    *v = resolve(v, &mut errors);
                }
                let client = reqwest::Client::builder()
                    .timeout(SEND_TIMEOUT)
                    .build()
                    .map_err(|e| ConfigError::Other(format!("alerts[{i}]: cannot set up the HTTP client: {e}")))?;
                Channel::Webhook { config, client }
            } else {
                continue; // refused by config validation already
            };
            providers.push(Provider { name: name.clone(), fallback, channel });
        }
        ConfigError::collect(errors)?;
        Ok(Notifier { providers })
    }

    pub fn names(&self) -> Vec<String> {
        self.providers.iter().map(|p| p.name.clone()).collect()
    }

    pub fn provider(&self, name: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// Sends one alert through one provider; the error says what failed (never a secret).
    pub async fn deliver(&self, provider: &str, alert: &AlertMessage) -> Result<(), String> {
        let p = self.provider(provider).ok_or_else(|| format!("no alert provider `{provider}` any more"))?;
        match &p.channel {
            Channel::Smtp { config, password, user, from, ca_pem } => {
                let login = user.as_deref().zip(password.as_ref());
                send_mail(config, login, ca_pem.as_deref(), from, alert).await
            }
            Channel::Webhook { config, client } => post_webhook(config, client, alert).await,
        }
    }
}

async fn send_mail(
    config: &SmtpConfig,
    login: Option<(&str, &Secret)>,
    ca_pem: Option<&[u8]>,
    from: &str,
    alert: &AlertMessage,
) -> Result<(), String> {
    let security = config.security.as_deref().unwrap_or("starttls");
    let port = config.port.unwrap_or(match security {
        "tls" => 465,
        "none" => 25,
        _ => 587,
    });
    let mut builder =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host).port(port).timeout(Some(SEND_TIMEOUT));
    if security != "none" {
        let mut tls = TlsParameters::builder(config.host.clone());
        if let Some(pem) = ca_pem {
            tls = tls.add_root_certificate(Certificate::from_pem(pem).map_err(|e| format!("smtp.ca_file: {e}"))?);
        }
        let params = tls.build_rustls().map_err(|e| format!("SMTP TLS setup: {e}"))?;
        builder = builder.tls(if security == "tls" { Tls::Wrapper(params) } else { Tls::Required(params) });
    }
    if let Some((u, p)) = login {
        builder = builder.credentials(Credentials::new(u.to_string(), p.expose().to_string()));
    }
    let mut message = Message::builder()
        .from(from.parse().map_err(|e| format!("smtp.from `{from}`: {e}"))?)
        .subject(alert.subject())
        .header(ContentType::TEXT_PLAIN);
    for to in &config.to {
        message = message.to(to.parse().map_err(|e| format!("smtp.to `{to}`: {e}"))?);
    }
    let message = message.body(alert.text()).map_err(|e| format!("cannot build the e-mail: {e}"))?;
    builder
        .build()
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| format!("SMTP {}:{port}: {}", config.host, innermost(&e)))
}

async fn post_webhook(config: &WebhookConfig, client: &reqwest::Client, alert: &AlertMessage) -> Result<(), String> {
    let body = match config.format.as_deref().unwrap_or("json") {
        "slack" => serde_json::json!({
            "text": format!("*{}*\n{}", alert.subject(), alert.text()),
            "username": "tugboat",
        }),
        _ => serde_json::to_value(alert).map_err(|e| e.to_string())?,
    };
    let mut request = client.post(&config.url).json(&body);
    for (k, v) in &config.headers {
        request = request.header(k, v);
    }
    let shown = redact_url(&config.url);
    let response = request.send().await.map_err(|e| format!("webhook {shown}: {}", innermost(&e.without_url())))?;
    if !response.status().is_success() {
        return Err(format!("webhook {shown} answered {}", response.status()));
    }
    Ok(())
}

/// Webhook URLs carry their secret in the path (`/hooks/<token>`): show only scheme and host.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?']).next().unwrap_or_default();
            let host = host.rsplit('@').next().unwrap_or(host);
            format!("{scheme}://{host}/…")
        }
        None => "(webhook)".into(),
    }
}

fn innermost(e: &dyn std::error::Error) -> String {
    let mut cause = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    let (outer, inner) = (e.to_string(), cause.to_string());
    if outer == inner || outer.contains(&inner) {
        outer
    } else {
        format!("{outer}: {inner}")
    }
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(kind: &str) -> AlertMessage {
        AlertMessage {
            kind: kind.into(),
            stack: "dms".into(),
            host: "np-dms-lcbp3".into(),
            check: "smoke/backend".into(),
            check_kind: "http".into(),
            target: "GET http://127.0.0.1:3001/health".into(),
            summary: "[STATUS] == 200 (observed 503)".into(),
            failed_conditions: vec![],
            diagnostics: vec!["top containers by memory: ollama 5120.0 MiB".into()],
            failed_sources: vec![],
            time_ms: 1_790_000_000_000,
            failing_since_ms: Some(1_790_000_000_000 - 20_000),
            last_success_ms: Some(1_790_000_000_000 - 30_000),
            status_url: None,
        }
    }

    #[test]
    fn alert_text_says_what_since_when_and_where_to_look() {
        let a = alert("triggered");
        assert_eq!(a.subject(), "[tugboat] dms: smoke/backend is DOWN");
        let t = a.text();
        assert!(t.contains("What failed:   [STATUS] == 200 (observed 503)"), "{t}");
        assert!(t.contains("Failing since: 2026-09-21 14:13:00 UTC") && t.contains("(20s ago)"), "{t}");
        assert!(t.contains("Last success:") && t.contains("(30s ago)"), "{t}");
        assert!(t.contains("  - top containers by memory: ollama"), "{t}");
        assert!(alert("resolved").text().contains("passes again"));
        assert_eq!(alert("resolved").subject(), "[tugboat] dms: smoke/backend is RESOLVED");
    }

    #[test]
    fn webhook_urls_lose_their_token() {
        assert_eq!(redact_url("https://chat.np-dms.work/hooks/abc/SECRET"), "https://chat.np-dms.work/…");
        assert_eq!(redact_url("http://user:pw@n8n:5678/webhook/x?token=1"), "http://n8n:5678/…");
    }
}
