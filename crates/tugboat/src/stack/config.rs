//! `tugboat.yml`: the stack's own configuration beside its compose files. Unknown keys are errors, and
//! every error is reported at the file, line and column of the offending key.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::error::{ConfigError, Location};
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
    /// Smoke suites and monitors; typed by the probe layer.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<String, serde_json::Value>,
    /// Alert providers; typed by the watch layer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<serde_json::Value>,
    /// Blue-green targets per service; typed by the deploy layer.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub deploy: BTreeMap<String, serde_json::Value>,
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
    let config: TugboatConfig = match serde_path_to_error::deserialize(root.to_json()) {
        Ok(c) => c,
        Err(e) => {
            let segments: Vec<String> = e.path().iter().map(|s| s.to_string()).collect();
            let message = e.inner().to_string();
            return Err(locate_error(&root, &segments, &message));
        }
    };
    validate(&config, &root)?;
    Ok((config, root))
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
    ConfigError::collect(errors)
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
    fn exemptions_need_reasons_and_urls_no_passwords() {
        let e = load_str("policy:\n  exempt: { a: { TB001: '' } }\ndatabases:\n  m: { kind: postgres, url: 'postgres://u:hunter2@h/db' }\n").unwrap_err();
        assert!(e.contains("needs a reason") && e.contains("literal password"), "{e}");
    }
}
