//! `tugboat.yml`: the stack's own configuration beside its compose files. Unknown keys are errors, and
//! every error is reported at the file, line and column of the offending key.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::deployment::{DeployTarget, ProxyConfig};
use super::error::{ConfigError, Location};
use super::probes::{provider_names, AlertProviderConfig, AlertRule, CheckConfig, HumanDuration, WatchConfig};
use super::yaml::{self, Node, Span};

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TugboatConfig {
    /// The stack's name; defaults to the directory name.
    pub stack: Option<String>,
    /// Compose files merged in order, like `docker compose -f a -f b`. Defaults to Compose's own lookup.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compose: Vec<String>,
    /// Interpolation source after the process environment (default `.env`).
    pub env_file: Option<String>,
    /// Every `${VAR}` used must be declared here.
    pub env_template: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environments: BTreeMap<String, EnvironmentConfig>,
    #[serde(default)]
    pub policy: Policy,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub databases: BTreeMap<String, DatabaseConfig>,
    pub backup: Option<BackupConfig>,
    /// Suites of checks: suite name -> checks (`tug smoke SUITE`, `tug watch`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<String, Vec<CheckConfig>>,
    /// Where alerts go, in failover order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<AlertProviderConfig>,
    /// `tug watch`'s settings.
    pub watch: Option<WatchConfig>,
    /// The blue-green reverse proxy (`tug proxy`).
    pub proxy: Option<ProxyConfig>,
    /// Blue-green targets per service (`tug deploy SERVICE`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub deploy: BTreeMap<String, DeployTarget>,
    /// `tug export k8s`: namespace, overlays, volume sizes, probes, ingress, CloudNativePG.
    pub kubernetes: Option<super::kubernetes::KubernetesConfig>,
    /// What `tug doctor` expects of the host: mount points and their types (docs/doctor.md).
    pub host: Option<crate::doctor::expect::HostExpectations>,
    /// `tug scan`: vulnerabilities accepted for a reason, until a date (docs/scan.md).
    pub scan: Option<ScanConfig>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScanConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<ScanIgnore>,
}

/// A vulnerability `tug scan` reports as ignored (not failing the gate) until `until`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScanIgnore {
    /// The advisory id or one of its aliases (`CVE-2024-1234`, `GHSA-…`, `DSA-…`).
    pub id: String,
    /// Why it is accepted: required.
    pub reason: String,
    /// The last day it is ignored (`YYYY-MM-DD`); from the day after, it counts again.
    pub until: Option<String>,
    /// Only for this package (the binary or the source package name).
    pub package: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentConfig {
    /// Override files added after the base `compose` list.
    #[serde(default)]
    pub compose: Vec<String>,
    /// An env file for this environment, read instead of the stack's.
    pub env_file: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Host ports that may be published on a non-loopback address. `None`: no allowlist declared.
    pub published_ports: Option<Vec<u16>>,
    /// service -> rule id -> reason.
    #[serde(default)]
    pub exempt: BTreeMap<String, BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseKind {
    #[serde(alias = "mysql")]
    Mariadb,
    #[serde(alias = "postgresql", alias = "postgres")]
    Postgres,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    pub kind: DatabaseKind,
    /// `mysql://user:${PASSWORD}@host:port/db` or `postgres://…`; `${VAR}` is resolved when used, never stored.
    pub url: Option<String>,
    /// A compose service to run the native client tools in (`docker exec`), for unpublished databases.
    pub container: Option<String>,
    pub database: Option<String>,
    pub user: Option<String>,
    pub user_env: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    pub repository: String,
    pub password_env: Option<String>,
    pub password_file: Option<String>,
    #[serde(default)]
    pub keep: Keep,
    #[serde(default)]
    pub sources: Vec<BackupSource>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Keep {
    pub last: Option<u32>,
    pub hourly: Option<u32>,
    pub daily: Option<u32>,
    pub weekly: Option<u32>,
    pub monthly: Option<u32>,
    pub yearly: Option<u32>,
}

/// One backup source: exactly one of `database`, `files`, `volume` or `config`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BackupSource {
    /// How commands refer to it (`tug backup uploads`); defaults to the database or volume name, the
    /// last component of the files path, or `config`.
    pub name: Option<String>,
    pub database: Option<String>,
    pub files: Option<String>,
    pub volume: Option<String>,
    pub config: Option<bool>,
    /// For `config: true`: include `.env` (secrets!) only when asked.
    #[serde(default)]
    pub include_env: bool,
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// Parses `tugboat.yml`, mapping serde's errors back to positions in the file.
pub fn load(path: &Path) -> Result<(TugboatConfig, Node), ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    let file = Arc::new(path.to_path_buf());
    let root = yaml::parse(&text, &file)?;
    let root = if root.is_null() { Node::map(Vec::new(), Span::new(&file, 1, 1)) } else { root };
    let config: TugboatConfig = from_node(&root)?;
    validate(&config, &root)?;
    Ok((config, root))
}

/// Deserializes a located YAML tree; a serde error is reported at the node (or unknown key) it is about.
pub fn from_node<T: serde::de::DeserializeOwned>(root: &Node) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(root.to_json()).map_err(|e| {
        let segments: Vec<String> = e.path().iter().map(|s| s.to_string()).collect();
        locate_error(root, &segments, &e.inner().to_string())
    })
}

/// Finds the node a serde path points at; for an unknown field, the key itself.
fn locate_error(root: &Node, segments: &[String], message: &str) -> ConfigError {
    let unknown = message.strip_prefix("unknown field `").and_then(|m| m.split('`').next());
    let mut node = root;
    let mut path: Vec<String> = Vec::new();
    for seg in segments.iter().filter(|s| s.as_str() != "?" && Some(s.as_str()) != unknown) {
        let next = match seg.strip_prefix('[').and_then(|s| s.strip_suffix(']')).and_then(|i| i.parse::<usize>().ok()) {
            Some(i) => node.as_seq().and_then(|items| items.get(i)),
            None => node.get(seg),
        };
        match next {
            Some(n) => {
                node = n;
                path.push(seg.clone());
            }
            None => break,
        }
    }
    let mut span = node.span.clone();
    let mut key_path = path.join(".").replace(".[", "[");
    if let Some(field) = unknown {
        if let Some((k, _)) = node.entry(field) {
            span = k.span.clone();
            key_path = if key_path.is_empty() { field.to_string() } else { format!("{key_path}.{field}") };
        }
    }
    ConfigError::at(Location::new(span, key_path), message.to_string())
}

fn validate(config: &TugboatConfig, root: &Node) -> Result<(), ConfigError> {
    let mut errors = Vec::new();
    let at = |path: &[&str]| root.get_path(path).map(|n| n.span.clone()).unwrap_or(root.span.clone());
    for (service, rules) in &config.policy.exempt {
        for (rule, reason) in rules {
            if reason.trim().is_empty() {
                errors.push(ConfigError::at(
                    Location::new(at(&["policy", "exempt", service, rule]), format!("policy.exempt.{service}.{rule}")),
                    "an exemption needs a reason: write why this service may break the rule",
                ));
            }
        }
    }
    for (name, db) in &config.databases {
        if db.url.is_none() && db.container.is_none() {
            errors.push(ConfigError::at(
                Location::new(at(&["databases", name]), format!("databases.{name}")),
                "a database needs `url` or `container`",
            ));
        }
        if let Some(url) = &db.url {
            if crate::secret::url_has_literal_password(url) {
                errors.push(ConfigError::at(
                    Location::new(at(&["databases", name, "url"]), format!("databases.{name}.url")),
                    "the URL holds a literal password: write it as ${VAR} and keep the value in .env",
                ));
            }
        }
    }
    if let Some(backup) = &config.backup {
        let items = root.get_path(&["backup", "sources"]).and_then(|n| n.as_seq()).unwrap_or(&[]);
        let mut seen = std::collections::BTreeSet::new();
        for (i, s) in backup.sources.iter().enumerate() {
            let span = items.get(i).map(|n| n.span.clone()).unwrap_or(root.span.clone());
            let mut fail = |key: &str, message: String| {
                errors.push(ConfigError::at(Location::new(span.clone(), format!("backup.sources[{i}]{key}")), message));
            };
            if !seen.insert(s.display_name()) {
                fail("", format!("two backup sources are called `{}`: give one a `name:`", s.display_name()));
            }
            let kinds = [s.database.is_some(), s.files.is_some(), s.volume.is_some(), s.config.is_some()];
            if kinds.iter().filter(|k| **k).count() != 1 {
                fail("", "a backup source needs exactly one of `database`, `files`, `volume` or `config`".into());
            }
            if let Some(db) = s.database.as_ref().filter(|db| !config.databases.contains_key(*db)) {
                fail(".database", format!("unknown database `{db}`; define it under `databases:`"));
            }
        }
    }
    validate_monitoring(config, root, &mut errors);
    validate_kubernetes(config, root, &mut errors);
    crate::doctor::expect::validate(config, root, &mut errors);
    ConfigError::collect(errors)
}

/// `kubernetes:` rules serde cannot express; names of services and volumes are checked against the compose
/// project when exporting (the project is read after this file).
fn validate_kubernetes(config: &TugboatConfig, root: &Node, errors: &mut Vec<ConfigError>) {
    let Some(k) = &config.kubernetes else { return };
    let at = |path: &[&str]| root.get_path(path).map(|n| n.span.clone()).unwrap_or(root.span.clone());
    let mut fail = |path: &[&str], message: String| {
        errors.push(ConfigError::at(Location::new(at(path), path.join(".")), message));
    };
    let dns_label = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    };
    let mut names: Vec<(Vec<&str>, &str)> = Vec::new();
    if let Some(ns) = &k.namespace {
        names.push((vec!["kubernetes", "namespace"], ns));
    }
    for (overlay, o) in &k.overlays {
        if !dns_label(overlay) {
            fail(
                &["kubernetes", "overlays", overlay],
                format!("`{overlay}` is not a valid overlay name: lowercase letters, digits and -"),
            );
        }
        if let Some(ns) = &o.namespace {
            names.push((vec!["kubernetes", "overlays", overlay, "namespace"], ns));
        }
        if o.replicas == Some(0) || o.instances == Some(0) {
            fail(&["kubernetes", "overlays", overlay], "replicas and instances must be at least 1".into());
        }
    }
    for (service, p) in &k.postgres {
        if let Some(ns) = &p.namespace {
            names.push((vec!["kubernetes", "postgres", service, "namespace"], ns));
        }
        if let Some(c) = &p.cluster {
            names.push((vec!["kubernetes", "postgres", service, "cluster"], c));
        }
        if !super::kubernetes::is_quantity(&p.storage) {
            fail(
                &["kubernetes", "postgres", service, "storage"],
                format!("`{}` is not a size: write e.g. 10Gi", p.storage),
            );
        }
    }
    for (path, name) in names {
        if !dns_label(name) {
            fail(
                &path,
                format!("`{name}` is not a valid Kubernetes name: lowercase letters, digits and -, at most 63"),
            );
        }
    }
    for (volume, v) in &k.volumes {
        if !super::kubernetes::is_quantity(&v.size) {
            fail(&["kubernetes", "volumes", volume, "size"], format!("`{}` is not a size: write e.g. 10Gi", v.size));
        }
    }
    for (service, s) in &k.services {
        if let Some(a) = &s.autoscale {
            let bad = |p: Option<u32>| p.is_some_and(|p| p == 0 || p > 100);
            if a.cpu.is_none() && a.memory.is_none() {
                fail(
                    &["kubernetes", "services", service, "autoscale"],
                    "an autoscaler needs a `cpu` or `memory` target (percent)".into(),
                );
            } else if bad(a.cpu) || bad(a.memory) {
                fail(&["kubernetes", "services", service, "autoscale"], "targets are percentages from 1 to 100".into());
            }
        }
        for (probe, p) in [("liveness", &s.liveness), ("readiness", &s.readiness)] {
            if p.as_ref().is_some_and(|p| !p.path.starts_with('/')) {
                fail(&["kubernetes", "services", service, probe, "path"], "a probe path starts with `/`".into());
            }
        }
    }
}

/// The shape rules serde cannot express for `checks:`, `alerts:` and `watch:`. Conditions are parsed
/// by the probe layer when a suite is loaded.
fn validate_monitoring(config: &TugboatConfig, root: &Node, errors: &mut Vec<ConfigError>) {
    let span_of = |path: &[&str]| root.get_path(path).map(|n| n.span.clone()).unwrap_or(root.span.clone());
    let item_span = |path: &[&str], i: usize| {
        root.get_path(path).and_then(|n| n.as_seq()).and_then(|s| s.get(i)).map(|n| n.span.clone())
    };
    let names = provider_names(&config.alerts);
    for (suite, checks) in &config.checks {
        let mut seen = std::collections::BTreeSet::new();
        for (i, check) in checks.iter().enumerate() {
            let span = item_span(&["checks", suite], i).unwrap_or_else(|| span_of(&["checks", suite]));
            let key = format!("checks.{suite}[{i}]");
            let mut fail =
                |message: String| errors.push(ConfigError::at(Location::new(span.clone(), key.clone()), message));
            match &check.name {
                None => fail("a check needs a `name`".into()),
                Some(n) if !seen.insert(n.clone()) => fail(format!("two checks of suite `{suite}` are called `{n}`")),
                Some(_) => {}
            }
            let kinds = check.kinds();
            if kinds.len() != 1 {
                fail(format!(
                    "a check needs exactly one of http, tcp, tls, dns, sql, container, host, gpu or steps{}",
                    if kinds.is_empty() { String::new() } else { format!(" (it has {})", kinds.join(", ")) }
                ));
            }
            for (j, step) in check.steps.iter().enumerate() {
                if step.http.is_none() || step.kinds().len() != 1 {
                    fail(format!("step {}: each step is one `http` request", j + 1));
                }
                if step.interval.is_some() || step.alert.is_some() {
                    fail(format!("step {}: `interval` and `alert` belong to the check, not a step", j + 1));
                }
            }
            if let Some(sql) = &check.sql {
                if !config.databases.contains_key(&sql.database) {
                    fail(format!("unknown database `{}`; define it under `databases:`", sql.database));
                }
            }
            for provider in check.alert.iter().flat_map(|a| a.providers.iter().flatten()) {
                if !names.contains(provider) {
                    fail(format!("unknown alert provider `{provider}`; providers: {}", names.join(", ")));
                }
            }
            if let Some(alert) = &check.alert {
                let interval = check.interval.or(config.watch.as_ref().and_then(|w| w.interval));
                let item = root.get_path(&["checks", suite]).and_then(|n| n.as_seq()).and_then(|s| s.get(i));
                let at = item.and_then(|n| n.get_path(&["alert", "confirm_interval"])).map(|n| n.span.clone());
                let key = format!("{key}.alert.confirm_interval");
                validate_confirm_interval(alert, interval, at.unwrap_or(span), key, errors);
            }
        }
    }
    for (i, provider) in config.alerts.iter().enumerate() {
        let span = item_span(&["alerts"], i).unwrap_or_else(|| span_of(&["alerts"]));
        let mut fail = |message: String| {
            errors.push(ConfigError::at(Location::new(span.clone(), format!("alerts[{i}]")), message))
        };
        if provider.smtp.is_some() == provider.webhook.is_some() {
            fail("an alert provider needs exactly one of `smtp` or `webhook`".into());
        }
        if names.iter().filter(|n| **n == names[i]).count() > 1 {
            fail(format!("two alert providers are called `{}`: give one a `name:`", names[i]));
        }
        if let Some(f) = provider.fallback.as_ref().filter(|f| !names.contains(f) || **f == names[i]) {
            fail(format!("fallback `{f}` must name another provider ({})", names.join(", ")));
        }
        if let Some(smtp) = &provider.smtp {
            if smtp.to.is_empty() {
                fail("`smtp.to` needs at least one address".into());
            }
            if let Some(s) = smtp.security.as_deref().filter(|s| !matches!(*s, "starttls" | "tls" | "none")) {
                fail(format!("`smtp.security: {s}`: use starttls, tls or none"));
            }
        }
        if let Some(f) = provider.webhook.as_ref().and_then(|w| w.format.as_deref()) {
            if !matches!(f, "json" | "slack" | "n8n") {
                fail(format!("`webhook.format: {f}`: use json, slack or n8n"));
            }
        }
    }
    if let Some(watch) = &config.watch {
        let span = span_of(&["watch", "alert", "confirm_interval"]);
        validate_confirm_interval(&watch.alert, watch.interval, span, "watch.alert.confirm_interval".into(), errors);
        for suite in watch.suites.iter().flatten().filter(|s| !config.checks.contains_key(*s)) {
            errors.push(ConfigError::at(
                Location::new(span_of(&["watch", "suites"]), "watch.suites"),
                format!("unknown suite `{suite}`; define it under `checks:`"),
            ));
        }
        for what in watch.schedule.keys().filter(|k| !matches!(k.as_str(), "backup" | "drill" | "scan")) {
            errors.push(ConfigError::at(
                Location::new(span_of(&["watch", "schedule", what]), format!("watch.schedule.{what}")),
                "only `backup`, `drill` and `scan` can be scheduled",
            ));
        }
    }
}

/// `confirm_interval`: 0 (off), or at least 100 ms and shorter than the interval it is meant to cut short
/// (`interval`: the check's or `watch.interval`, else the default).
fn validate_confirm_interval(
    alert: &AlertRule,
    interval: Option<HumanDuration>,
    span: Span,
    key: String,
    errors: &mut Vec<ConfigError>,
) {
    let Some(confirm) = alert.confirm_interval.filter(|c| !c.0.is_zero()) else { return };
    let interval = interval.unwrap_or(HumanDuration(super::probes::DEFAULT_CHECK_INTERVAL));
    let message = if confirm.0 < std::time::Duration::from_millis(100) {
        format!("{confirm} is below 100ms: re-probe at least 100ms apart, or write 0 to turn re-probes off")
    } else if confirm >= interval {
        format!(
            "{confirm} is not shorter than the check interval ({interval}): re-probes would come no sooner than \
             the next run; shorten it, or write 0 to turn re-probes off"
        )
    } else {
        return;
    };
    errors.push(ConfigError::at(Location::new(span, key), message));
}

impl Keep {
    /// No rule at all: forgetting with it would remove everything, so it is refused.
    pub fn is_empty(&self) -> bool {
        [self.last, self.hourly, self.daily, self.weekly, self.monthly, self.yearly].iter().all(Option::is_none)
    }
}

impl BackupSource {
    /// The source's name (see `name`).
    pub fn display_name(&self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        if let Some(d) = &self.database {
            return d.clone();
        }
        if let Some(v) = &self.volume {
            return v.clone();
        }
        if let Some(f) = &self.files {
            let base = std::path::Path::new(f).file_name().map(|n| n.to_string_lossy().into_owned());
            return base.unwrap_or_else(|| "files".into());
        }
        "config".into()
    }

    pub fn kind(&self) -> &'static str {
        match (&self.database, &self.files, &self.volume) {
            (Some(_), _, _) => "database",
            (_, Some(_), _) => "files",
            (_, _, Some(_)) => "volume",
            _ => "config",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(text: &str) -> Result<TugboatConfig, String> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tugboat.yml");
        std::fs::write(&p, text).unwrap();
        load(&p).map(|(c, _)| c).map_err(|e| e.to_string().replace(&dir.path().display().to_string(), "DIR"))
    }

    #[test]
    fn design_example_parses() {
        let c = load_str(
            "stack: dms\ncompose: [docker-compose.yml]\npolicy:\n  published_ports: [3000, 3001]\n  exempt: { ollama: { TB001: \"gpu\" } }\n\
             databases:\n  main: { kind: mariadb, url: \"mysql://backup:${P}@127.0.0.1:3306/x\" }\n\
             backup:\n  repository: /mnt/b\n  keep: { daily: 7 }\n  sources: [ { database: main }, { files: /mnt/u }, { config: true } ]\n",
        )
        .unwrap();
        assert_eq!(c.policy.published_ports, Some(vec![3000, 3001]));
        assert_eq!(c.backup.unwrap().keep.daily, Some(7));
    }

    #[test]
    fn wrong_type_points_at_the_value() {
        let e = load_str("stack: x\nbackup:\n  repository: /r\n  keep:\n    daily: seven\n").unwrap_err();
        assert!(e.starts_with("DIR/tugboat.yml:5:12: backup.keep.daily: invalid type"), "{e}");
    }

    #[test]
    fn unknown_key_points_at_the_key() {
        let e = load_str("stack: x\npolicy:\n  published_port: [1]\n").unwrap_err();
        assert!(e.starts_with("DIR/tugboat.yml:3:3: policy.published_port: unknown field `published_port`"), "{e}");
    }

    #[test]
    fn confirm_interval_is_off_or_between_100ms_and_the_interval() {
        let check = |alert: &str| {
            format!("checks:\n  live:\n    - name: api\n      http: http://127.0.0.1/\n      interval: 5s\n      alert: {alert}\n")
        };
        assert!(load_str(&check("{ confirm_interval: 0 }")).is_ok());
        assert!(load_str(&check("{ confirm_interval: 500ms }")).is_ok());
        let e = load_str(&check("{ confirm_interval: 50ms }")).unwrap_err();
        assert!(
            e.starts_with("DIR/tugboat.yml:6:34: checks.live[0].alert.confirm_interval: 50ms is below 100ms"),
            "{e}"
        );
        let e = load_str(&check("{ confirm_interval: 5s }")).unwrap_err();
        assert!(e.contains("5s is not shorter than the check interval (5s)"), "{e}");
        // watch.alert's is measured against watch.interval, else the default 10 s.
        let e = load_str("watch:\n  alert:\n    confirm_interval: 10s\n").unwrap_err();
        assert!(
            e.starts_with(
                "DIR/tugboat.yml:3:23: watch.alert.confirm_interval: 10s is not shorter than the check interval (10s)"
            ),
            "{e}"
        );
        assert!(load_str("watch:\n  interval: 1m\n  alert: { confirm_interval: 10s }\n").is_ok());
    }

    #[test]
    fn exemptions_need_reasons_and_urls_no_passwords() {
        let e = load_str("policy:\n  exempt: { a: { TB001: '' } }\ndatabases:\n  m: { kind: postgres, url: 'postgres://u:hunter2@h/db' }\n").unwrap_err();
        assert!(e.contains("needs a reason") && e.contains("literal password"), "{e}");
    }
}
