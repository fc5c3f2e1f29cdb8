//! What `tugboat.yml`'s `backup:` section resolves to: the repository (location and password) and the sources
//! an operation works on.

use tugboat::ops::{self, Error, ErrorKind};
use tugboat::stack::config::{BackupConfig, BackupSource};
use tugboat::stack::Stack;

use crate::repo::{Repo, RepoConfig, SnapshotInfo};

/// The stack's `backup:` section.
pub fn backup_config(stack: &Stack) -> ops::Result<&BackupConfig> {
    stack.config.backup.as_ref().ok_or_else(|| {
        Error::new(ErrorKind::Config, "tugboat.yml has no `backup:` section (repository, password_env, sources)")
    })
}

impl RepoConfig {
    /// The repository named in `backup:`: a path (relative to the stack's directory) or a URL
    /// (`rest:http://…`), with its password from `password_env` / `password_file`.
    pub fn for_stack(stack: &Stack) -> ops::Result<RepoConfig> {
        let backup = backup_config(stack)?;
        let location = if backup.repository.contains(':') && !backup.repository.starts_with('/') {
            backup.repository.clone()
        } else {
            let dir = std::path::absolute(&stack.dir).unwrap_or_else(|_| stack.dir.clone());
            tugboat::stack::normalize::resolve_path(&backup.repository, &dir)
        };
        let password = stack
            .password("backup", backup.password_env.as_deref(), backup.password_file.as_deref())?
            .ok_or_else(|| {
                Error::new(ErrorKind::Config, "backup: set `password_env` (or `password_file`) for the repository key")
            })?;
        Ok(RepoConfig { location, password })
    }

    /// The location as it may be shown: a URL's password masked.
    pub fn display_location(&self) -> String {
        tugboat::secret::mask_url_password(&self.location)
    }
}

/// Opens the stack's repository.
pub fn open_repo(stack: &Stack) -> ops::Result<Repo> {
    Ok(Repo::open(&RepoConfig::for_stack(stack)?)?)
}

/// The sources named in `only` (all of them when it is empty), in `tugboat.yml`'s order; an unknown name
/// is a usage error.
pub fn select_sources<'s>(stack: &'s Stack, only: &[String]) -> ops::Result<Vec<&'s BackupSource>> {
    let backup = backup_config(stack)?;
    let names: Vec<String> = backup.sources.iter().map(BackupSource::display_name).collect();
    if let Some(unknown) = only.iter().find(|o| !names.contains(o)) {
        let defined = if names.is_empty() { "none".to_string() } else { names.join(", ") };
        return Err(Error::usage(format!("no backup source `{unknown}`; defined: {defined}")));
    }
    Ok(backup.sources.iter().filter(|s| only.is_empty() || only.contains(&s.display_name())).collect())
}

/// The snapshot of `source` to use: the one whose id starts with `id`, or the latest.
pub fn pick_snapshot(repo: &Repo, stack: &str, source: &str, id: Option<&str>) -> ops::Result<Option<SnapshotInfo>> {
    let list = repo.snapshots(&[format!("stack={stack}"), format!("source={source}")])?;
    match id {
        Some(id) => match list.into_iter().find(|s| s.id.starts_with(id)) {
            Some(s) => Ok(Some(s)),
            None => Err(Error::usage(format!("no snapshot {id} of source `{source}`"))),
        },
        None => Ok(list.into_iter().last()),
    }
}

/// A snapshot as plans and audit events name it.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct SnapshotRef {
    /// The short id, as restic shows it.
    pub id: String,
    pub time: String,
    /// The `source=` tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl SnapshotRef {
    pub fn of(s: &SnapshotInfo) -> SnapshotRef {
        SnapshotRef {
            id: s.short_id.clone(),
            time: s.time.clone(),
            source: s.tags.iter().find_map(|t| t.strip_prefix("source=")).map(str::to_string),
        }
    }
}

/// Whether a tool is missing: such an error stops planning (nothing could run), where other failures to
/// resolve a source only fail that source.
pub(crate) fn is_tool_missing(e: &tugboat::db::DbError) -> bool {
    matches!(e, tugboat::db::DbError::ToolMissing { .. })
}

/// The scratch server's programs for `engine`, found now so that a plan that needs one fails early.
pub(crate) fn scratch_tools(engine: tugboat::db::Engine) -> ops::Result<()> {
    use tugboat::db::{find_tool, Engine};
    let either = |a: &str, b: &str| find_tool(a).or_else(|e| find_tool(b).map_err(|_| e));
    match engine {
        Engine::Mariadb => {
            either("mariadb-install-db", "mysql_install_db")?;
            either("mariadbd", "mysqld")?;
        }
        Engine::Postgres => {
            find_tool("postgres")?;
            find_tool("initdb")?;
        }
    }
    Ok(())
}
