//! Reading a stack: `tugboat.yml` (optional) plus the compose files and `.env` it names, into a [`Stack`].
//!
//! The order of work follows Docker Compose: variables (process environment, then `.env`), then each
//! compose file is parsed, interpolated and normalized, `extends` resolved, files merged in order, and
//! per-service `env_file`s folded in. Errors point at `file:line:column` and the key path.

pub mod compose;
pub mod config;
pub mod deployment;
pub mod diff;
pub mod envfile;
pub mod error;
pub mod include;
pub mod init;
pub mod interpolate;
pub mod kubernetes;
pub mod logs;
pub mod merge;
pub mod normalize;
pub mod probes;
pub mod project;
pub mod schema;
pub mod yaml;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::secret::Secret;

pub use compose::{Dependency, EnvVar, Mount, Network, Port, Project, Service, VariableUse};
pub use config::TugboatConfig;
pub use envfile::EnvEntry;
pub use error::{ConfigError, Location};

pub use yaml::{Node, Span};

/// The file names Docker Compose looks for, in its order of preference.
pub const COMPOSE_FILE_NAMES: &[&str] = &["compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"];
const OVERRIDE_FILE_NAMES: &[&str] =
    &["compose.override.yaml", "compose.override.yml", "docker-compose.override.yaml", "docker-compose.override.yml"];
pub const CONFIG_FILE_NAMES: &[&str] = &["tugboat.yml", "tugboat.yaml"];

#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--env NAME`: add that environment's override files.
    pub environment: Option<String>,
    /// The process environment; `None` reads the real one. Tests pass their own.
    pub process_env: Option<HashMap<String, String>>,
    /// With no `.env`, take values from the env template (placeholders for empty ones), so a stack can be
    /// checked in CI where no secrets exist. Commands that act on a stack leave this off.
    pub template_fallback: bool,
    /// Read the directory as a bare compose project even when it has a `tugboat.yml` (`tug init --force`).
    pub ignore_config: bool,
}

/// A loaded stack: its configuration, its merged compose project and where every value came from.
#[derive(Debug, Clone)]
pub struct Stack {
    pub dir: PathBuf,
    pub name: String,
    pub config: TugboatConfig,
    /// `tugboat.yml`'s path and tree, when there is one.
    pub config_file: Option<(PathBuf, Node)>,
    pub environment: Option<String>,
    pub project: Project,
    /// The `.env` file read, when it exists, and its entries.
    pub dotenv: Option<(PathBuf, Vec<EnvEntry>)>,
    pub env_template: Option<(PathBuf, Vec<EnvEntry>)>,
    /// Variables that were resolved from template placeholders because no `.env` exists.
    pub placeholder_variables: Vec<String>,
    /// Profiles enabled by `COMPOSE_PROFILES`; services with other profiles are defined but not started.
    pub active_profiles: Vec<String>,
}

impl Stack {
    /// The values the stack treats as secret: variables (of the process environment and the stack's
    /// `.env`) named so by the secret policy or used as secrets by tugboat.yml. What `tug logs`, the log
    /// collector and `tug plan` mask.
    pub fn secret_values(&self) -> Vec<String> {
        let declared = crate::secret::declared_secret_variables(&self.config);
        let dotenv = self.dotenv.iter().flat_map(|(_, entries)| entries).map(|e| (e.name.clone(), e.value.clone()));
        std::env::vars()
            .chain(dotenv)
            .filter(|(name, _)| crate::secret::is_secret_name(name) || declared.contains(name))
            .map(|(_, value)| value)
            .collect()
    }

    /// Compose files in merge order.
    pub fn compose_files(&self) -> &[PathBuf] {
        &self.project.files
    }

    /// Whether Compose would start `service` with the active profiles (no `profiles` means always).
    pub fn is_active(&self, service: &Service) -> bool {
        project::is_active(&service.node, &self.active_profiles)
    }

    /// A secret given by reference, as `tugboat.yml` writes them: `password_env` names a variable (see
    /// [`Stack::variable`]), `password_file` a file beside `tugboat.yml` (trailing newline dropped). `key`
    /// is the setting's path for errors (`backup`, `alerts[0].smtp`). `None` when neither is given.
    pub fn password(&self, key: &str, env: Option<&str>, file: Option<&str>) -> Result<Option<Secret>, SecretError> {
        match (env, file) {
            (Some(var), _) => match self.variable(var) {
                Some(v) => Ok(Some(Secret::new(v))),
                None => Err(SecretError::Unset { key: format!("{key}.password_env"), var: var.to_string() }),
            },
            (None, Some(file)) => {
                let path = self.dir.join(file);
                match std::fs::read_to_string(&path) {
                    Ok(text) => Ok(Some(Secret::new(text.trim_end_matches(['\n', '\r'])))),
                    Err(cause) => Err(SecretError::Unreadable { key: format!("{key}.password_file"), path, cause }),
                }
            }
            (None, None) => Ok(None),
        }
    }

    /// A variable as Compose would resolve it: the process environment, then `.env`.
    pub fn variable(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().or_else(|| {
            self.dotenv
                .as_ref()
                .and_then(|(_, entries)| entries.iter().rev().find(|e| e.name == name).map(|e| e.value.clone()))
        })
    }

    pub fn service(&self, name: &str) -> Option<&Service> {
        self.project.services.iter().find(|s| s.name == name)
    }

    /// A digest of every config file's bytes, recorded with audit events so a change shows.
    pub fn config_digest(&self) -> String {
        let mut hasher = Sha256::new();
        let files = self.config_file.iter().map(|(p, _)| p).chain(self.project.files.iter());
        for path in files {
            hasher.update(path.display().to_string().as_bytes());
            hasher.update(std::fs::read(path).unwrap_or_default());
        }
        let digest = hasher.finalize();
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Why a secret reference gave no value: a usage problem (the variable is unset) or an I/O one.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{key}: {var} is not set (in the environment or .env)")]
    Unset { key: String, var: String },
    #[error("{key}: cannot read {}: {cause}", path.display())]
    Unreadable { key: String, path: PathBuf, cause: std::io::Error },
}

impl crate::ops::Classify for SecretError {
    fn kind(&self) -> crate::ops::ErrorKind {
        match self {
            SecretError::Unset { .. } => crate::ops::ErrorKind::Config,
            SecretError::Unreadable { .. } => crate::ops::ErrorKind::CannotAct,
        }
    }
}

/// Finds `tugboat.yml` in `dir` (or `dir` is the file itself).
pub fn find_config(dir: &Path) -> Option<PathBuf> {
    if dir.is_file() {
        return Some(dir.to_path_buf());
    }
    CONFIG_FILE_NAMES.iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

/// The compose files Docker Compose would use in `dir` with no `-f`: the first base name found, plus its override.
pub fn default_compose_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        COMPOSE_FILE_NAMES.iter().map(|n| dir.join(n)).filter(|p| p.is_file()).take(1).collect();
    files.extend(OVERRIDE_FILE_NAMES.iter().map(|n| dir.join(n)).filter(|p| p.is_file()).take(1));
    files
}

/// Loads the stack in `dir`.
pub fn load(dir: &Path, options: &LoadOptions) -> Result<Stack, ConfigError> {
    if !dir.exists() {
        return Err(ConfigError::Other(format!("{}: no such directory", dir.display())));
    }
    let config_path = if options.ignore_config { None } else { find_config(dir) };
    let dir = match &config_path {
        Some(p) if dir.is_file() => p.parent().map(Path::to_path_buf).unwrap_or_default(),
        _ => dir.to_path_buf(),
    };
    let (config, config_file) = match &config_path {
        Some(path) => {
            let (config, node) = config::load(path)?;
            (config, Some((path.clone(), node)))
        }
        None => (TugboatConfig::default(), None),
    };

    let environment = match &options.environment {
        None => None,
        Some(name) if config.environments.contains_key(name) => Some(name.clone()),
        Some(name) => {
            let known: Vec<&str> = config.environments.keys().map(String::as_str).collect();
            return Err(ConfigError::Other(if known.is_empty() {
                format!("unknown environment `{name}`: tugboat.yml defines no `environments`")
            } else {
                format!("unknown environment `{name}`; defined: {}", known.join(", "))
            }));
        }
    };
    let env_config = environment.as_ref().and_then(|e| config.environments.get(e));

    let mut files: Vec<PathBuf> = if config.compose.is_empty() {
        default_compose_files(&dir)
    } else {
        config.compose.iter().map(|f| dir.join(f)).collect()
    };
    if let Some(env) = env_config {
        files.extend(env.compose.iter().map(|f| dir.join(f)));
    }
    // `./docker-compose.yml` reads better as `docker-compose.yml` in messages.
    let files: Vec<PathBuf> =
        files.iter().map(|f| f.components().filter(|c| !matches!(c, std::path::Component::CurDir)).collect()).collect();
    if files.is_empty() {
        return Err(ConfigError::Other(format!(
            "{}: no compose file found (looked for {}); name them under `compose:` in tugboat.yml",
            dir.display(),
            COMPOSE_FILE_NAMES.join(", ")
        )));
    }
    for f in &files {
        if !f.is_file() {
            let at = config_file.as_ref().and_then(|(_, node)| {
                node.get("compose")
                    .and_then(Node::as_seq)
                    .and_then(|items| items.iter().find(|i| i.as_str().is_some_and(|s| f.ends_with(s))))
                    .map(|n| n.span.clone())
            });
            let msg = format!("compose file {} does not exist", f.display());
            return Err(match at {
                Some(span) => ConfigError::at(Location::new(span, "compose"), msg),
                None => ConfigError::Other(msg),
            });
        }
    }

    let process_env: HashMap<String, String> =
        options.process_env.clone().unwrap_or_else(|| std::env::vars().collect());
    let env_lookup = |k: &str| process_env.get(k).cloned();

    let dotenv_name = env_config.and_then(|e| e.env_file.clone()).or(config.env_file.clone()).unwrap_or(".env".into());
    let dotenv_path = dir.join(&dotenv_name);
    let dotenv = if dotenv_path.is_file() {
        Some((dotenv_path.clone(), envfile::read(&dotenv_path, &env_lookup)?))
    } else {
        None
    };
    let template_path =
        config.env_template.as_ref().map(|t| dir.join(t)).or_else(|| {
            [".env.template", ".env.example", ".env.sample"].iter().map(|n| dir.join(n)).find(|p| p.is_file())
        });
    let env_template = match template_path {
        Some(p) if p.is_file() => Some((p.clone(), envfile::read(&p, &|_| None)?)),
        Some(p) if config.env_template.is_some() => {
            return Err(ConfigError::Other(format!("env_template {} does not exist", p.display())));
        }
        _ => None,
    };

    let fallback: Vec<(String, String)> = match (&dotenv, &env_template, options.template_fallback) {
        (None, Some((_, entries)), true) => entries
            .iter()
            .map(|e| (e.name.clone(), if e.value.is_empty() { format!("<{}>", e.name) } else { e.value.clone() }))
            .collect(),
        _ => Vec::new(),
    };
    let placeholders_used = std::cell::RefCell::new(Vec::new());
    let lookup = |k: &str| -> Option<String> {
        if let Some(v) = process_env.get(k) {
            return Some(v.clone());
        }
        if let Some((_, entries)) = &dotenv {
            if let Some(e) = entries.iter().rev().find(|e| e.name == k) {
                return Some(e.value.clone());
            }
        }
        let found = fallback.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        if found.is_some() {
            placeholders_used.borrow_mut().push(k.to_string());
        }
        found
    };
    // Relative bind sources resolve against the absolute project directory, as Compose does.
    let project_dir = std::path::absolute(&dir).unwrap_or_else(|_| dir.clone());
    let project = compose::load_project(&files, &project_dir, &compose::Variables { lookup: &lookup })?;
    let mut placeholder_variables = placeholders_used.into_inner();
    placeholder_variables.sort();
    placeholder_variables.dedup();

    // tugboat.yml's `stack:` names the stack in reports; Compose's project name is the default.
    let name = config.stack.clone().unwrap_or_else(|| project.name.clone());

    let active_profiles = process_env
        .get("COMPOSE_PROFILES")
        .cloned()
        .or_else(|| {
            dotenv
                .as_ref()
                .and_then(|(_, e)| e.iter().rev().find(|e| e.name == "COMPOSE_PROFILES").map(|e| e.value.clone()))
        })
        .map(|p| p.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    Ok(Stack {
        dir,
        name,
        config,
        config_file,
        environment,
        project,
        dotenv,
        env_template,
        placeholder_variables,
        active_profiles,
    })
}

#[cfg(test)]
mod tests;
