//! How `tug backup` backs up a source (the operation around it is [`crate::backup`]): every configured source
//! into its own snapshot, each source independent of the others.
//!
//! A database is dumped with its native tool straight into the repository (no temporary file); while the
//! dump runs, a second session inside a consistent read transaction records each table's row count and
//! row-hash sum — the snapshot's *manifest* — which the drill later compares the restored copy against.
//! (PostgreSQL shares one exported snapshot between both, so the manifest is exact; MariaDB cannot share
//! a snapshot, so its manifest is taken at the same moment in a transaction of its own.)

use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;
use tugboat::db::dump::{dump_command, dump_file_name};
use tugboat::db::{self, Endpoint, Engine, Session};
use tugboat::parity::{fingerprints, TableFingerprint};
use tugboat::stack::config::BackupSource;
use tugboat::stack::Stack;

use crate::repo::{Repo, SnapshotInfo, SnapshotMeta};

/// A source, resolved from `tugboat.yml`, ready to run.
#[derive(Debug)]
pub struct PlannedSource {
    pub name: String,
    pub kind: &'static str,
    pub what: Planned,
}

#[derive(Debug)]
pub enum Planned {
    Database(Endpoint),
    Paths {
        paths: Vec<PathBuf>,
        excludes: Vec<String>,
    },
    /// Resolving failed (an unset password variable, a stopped container); the run reports it as failed.
    Unresolved(String),
}

/// What one source did.
#[derive(Debug, Clone, Serialize)]
pub struct SourceOutcome {
    pub name: String,
    pub kind: String,
    pub ok: bool,
    pub snapshot: Option<SnapshotInfo>,
    pub error: Option<String>,
    /// The dump tool's version, for database sources.
    pub tool: Option<String>,
    /// Table fingerprints recorded with the snapshot (database sources).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub manifest: Vec<TableFingerprint>,
    pub duration_ms: u64,
    /// The repository's filesystem was full: nothing more can be backed up until space is freed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub storage_full: bool,
    /// The repository stopped answering (its retries used up): tug could not act, the source is not at fault.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub repository_unreachable: bool,
}

/// The report of `tug backup`: every source's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct BackupRun {
    pub run_id: String,
    pub stack: String,
    pub ok: bool,
    pub sources: Vec<SourceOutcome>,
    pub duration_ms: u64,
}

impl BackupRun {
    /// The sources that failed, with why (the first line of the error).
    pub fn failures(&self) -> Vec<(&str, &str)> {
        self.sources
            .iter()
            .filter(|s| !s.ok)
            .map(|s| (s.name.as_str(), s.error.as_deref().and_then(|e| e.lines().next()).unwrap_or("failed")))
            .collect()
    }
}

/// Resolves one source of `backup.sources`. Only a missing tool is an error: nothing could run without it.
pub fn resolve(stack: &Stack, s: &BackupSource) -> Result<PlannedSource, db::DbError> {
    let what = resolve_what(stack, s)?;
    Ok(PlannedSource { name: s.display_name(), kind: s.kind(), what })
}

fn resolve_what(stack: &Stack, s: &BackupSource) -> Result<Planned, db::DbError> {
    if let Some(db) = &s.database {
        return match db::resolve::resolve(db, Some(stack)) {
            Ok(ep) => Ok(Planned::Database(ep)),
            Err(e) if crate::config::is_tool_missing(&e) => Err(e),
            Err(e) => Ok(Planned::Unresolved(e.to_string())),
        };
    }
    if let Some(files) = &s.files {
        // Absolute and clean, so the snapshot records the path the files really live at.
        let dir = std::path::absolute(&stack.dir).unwrap_or_else(|_| stack.dir.clone());
        let path = PathBuf::from(tugboat::stack::normalize::resolve_path(files, &dir));
        return Ok(Planned::Paths { paths: vec![path], excludes: s.exclude.clone() });
    }
    if let Some(volume) = &s.volume {
        return Ok(match volume_path(stack, volume) {
            Ok(p) => Planned::Paths { paths: vec![p], excludes: s.exclude.clone() },
            Err(e) => Planned::Unresolved(e),
        });
    }
    // The stack's configuration: tugboat.yml, the compose files and the env template; `.env` only on request.
    let mut paths: Vec<PathBuf> = stack.config_file.iter().map(|(p, _)| p.clone()).collect();
    paths.extend(stack.compose_files().iter().cloned());
    paths.extend(stack.env_template.iter().map(|(p, _)| p.clone()));
    if s.include_env {
        paths.extend(stack.dotenv.iter().map(|(p, _)| p.clone()));
    }
    let dir = std::path::absolute(&stack.dir).unwrap_or_else(|_| stack.dir.clone());
    let paths = paths
        .into_iter()
        .map(|p| PathBuf::from(tugboat::stack::normalize::resolve_path(&p.display().to_string(), &dir)))
        .collect();
    Ok(Planned::Paths { paths, excludes: s.exclude.clone() })
}

/// A Docker volume's directory on this host: the name as given, or as Compose names it (`project_name`).
fn volume_path(stack: &Stack, volume: &str) -> Result<PathBuf, String> {
    let project = stack.dir.canonicalize().ok().and_then(|d| d.file_name().map(|n| n.to_string_lossy().to_lowercase()));
    let candidates =
        [Some(volume.to_string()), project.map(|p| format!("{p}_{volume}")), Some(format!("{}_{volume}", stack.name))];
    for name in candidates.into_iter().flatten() {
        let out =
            std::process::Command::new("docker").args(["volume", "inspect", "-f", "{{.Mountpoint}}", &name]).output();
        if let Ok(out) = out {
            if out.status.success() {
                return Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
            }
        }
    }
    Err(format!("no Docker volume `{volume}` on this host (docker volume ls lists them)"))
}

/// A run id: the start time in milliseconds, hex — short, sortable, unique per stack in practice.
pub fn run_id(now_ms: i64) -> String {
    format!("{:x}", now_ms.max(0))
}

/// This machine's name, as the snapshots record it.
pub fn host() -> String {
    tugboat::store::current_actor().split('@').nth(1).unwrap_or("unknown").to_string()
}

/// Backs up one source into its own snapshot; a failure is the outcome's error, never a panic or an early
/// return. `bytes` gets the bytes read so far; `stop` interrupts a running dump (no snapshot is kept then).
pub fn back_up(
    repo: &Repo,
    stack: &Stack,
    source: &PlannedSource,
    run_id: &str,
    host: &str,
    bytes: &(dyn Fn(u64) + Sync),
    stop: &(dyn Fn() -> bool + Sync),
) -> SourceOutcome {
    let began = Instant::now();
    let mut outcome = SourceOutcome {
        name: source.name.clone(),
        kind: source.kind.to_string(),
        ok: false,
        snapshot: None,
        error: None,
        tool: None,
        manifest: Vec::new(),
        duration_ms: 0,
        storage_full: false,
        repository_unreachable: false,
    };
    let mut meta = SnapshotMeta {
        tags: vec![
            "tugboat".into(),
            format!("stack={}", stack.name),
            format!("source={}", source.name),
            format!("kind={}", source.kind),
            format!("run={run_id}"),
        ],
        host: host.to_string(),
        label: format!("{}/{}", stack.name, source.name),
        description: None,
    };
    let result = match &source.what {
        Planned::Unresolved(e) => Err(e.clone()),
        Planned::Paths { paths, excludes } => {
            repo.backup_paths(paths, excludes, &meta, bytes).map_err(|e| e.to_string())
        }
        Planned::Database(ep) => {
            meta.tags.push(format!("engine={}", ep.engine.name()));
            meta.tags.push(format!("database={}", ep.database));
            backup_database(repo, ep, &mut meta, bytes, stop).map(|(snap, tool, manifest)| {
                outcome.tool = Some(tool);
                outcome.manifest = manifest;
                snap
            })
        }
    };
    match result {
        Ok(snap) => {
            outcome.ok = true;
            outcome.snapshot = Some(snap);
        }
        Err(e) if is_disk_full(&e) => {
            outcome.storage_full = true;
            outcome.error = Some(disk_full_message(repo.location(), &source.what));
        }
        Err(e) => {
            outcome.repository_unreachable = e.contains(crate::rest::GAVE_UP);
            outcome.error = Some(e);
        }
    }
    outcome.duration_ms = began.elapsed().as_millis() as u64;
    outcome
}

/// ENOSPC, however deep in the backend's error it is.
pub fn is_disk_full(error: &str) -> bool {
    error.contains("No space left on device") || error.contains("os error 28")
}

/// What to tell an operator whose repository filesystem is full: where, how much is free, what the source
/// needs, and that nothing earlier was harmed (packs are written whole or not at all).
fn disk_full_message(location: &str, what: &Planned) -> String {
    let free = nix::sys::statvfs::statvfs(location)
        .map(|v| {
            format!(
                "{} free of {}",
                human(v.blocks_available() * v.fragment_size()),
                human(v.blocks() * v.fragment_size())
            )
        })
        .unwrap_or_else(|_| "free space unknown".into());
    let needed = match what {
        Planned::Paths { paths, .. } => format!(
            "about {} (the source's size, before deduplication and compression)",
            human(paths.iter().map(|p| tree_size(p)).sum())
        ),
        _ => "the dump's size (unknown until it ends)".into(),
    };
    format!(
        "no space left on {location} ({free}); this source needs {needed}. Free space there, or `tug backup forget --prune`, then back up again; earlier snapshots are intact"
    )
}

fn tree_size(path: &std::path::Path) -> u64 {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => {
            std::fs::read_dir(path).into_iter().flatten().flatten().map(|e| tree_size(&e.path())).sum()
        }
        Ok(m) => m.len(),
        Err(_) => 0,
    }
}

pub(crate) fn human(bytes: u64) -> String {
    let b = bytes as f64;
    match bytes {
        0..=1023 => format!("{bytes} B"),
        1024..=1_048_575 => format!("{:.1} KiB", b / 1024.0),
        1_048_576..=1_073_741_823 => format!("{:.1} MiB", b / 1_048_576.0),
        _ => format!("{:.1} GiB", b / 1_073_741_824.0),
    }
}

/// Dump + manifest. Returns the snapshot, the dump tool's version and the manifest.
fn backup_database(
    repo: &Repo,
    ep: &Endpoint,
    meta: &mut SnapshotMeta,
    bytes: &(dyn Fn(u64) + Sync),
    stop: &(dyn Fn() -> bool + Sync),
) -> Result<(SnapshotInfo, String, Vec<TableFingerprint>), String> {
    let tool = dump_tool_version(ep).map_err(|e| e.to_string())?;
    meta.tags.push(format!("tool={}", tool_tag(&tool)));
    // The manifest session: a consistent read view held while the dump runs.
    let mut session = Session::connect(ep).map_err(|e| e.to_string())?;
    let mut extra: Vec<String> = Vec::new();
    match ep.engine {
        Engine::Postgres => {
            session.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").map_err(|e| e.to_string())?;
            let id = session.query_value("SELECT pg_export_snapshot()").map_err(|e| e.to_string())?.unwrap_or_default();
            extra.push(format!("--snapshot={id}"));
        }
        Engine::Mariadb => {
            session.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY").map_err(|e| e.to_string())?
        }
    }
    if stop() {
        return Err("stopped before the dump: the operation was interrupted".into());
    }
    let extra_refs: Vec<&str> = extra.iter().map(String::as_str).collect();
    let cmd = dump_command(ep, &extra_refs).map_err(|e| e.to_string())?;
    let file = dump_file_name(ep);
    let meta_for_backup =
        SnapshotMeta { tags: meta.tags.clone(), host: meta.host.clone(), label: meta.label.clone(), description: None };
    let (snapshot, manifest) = std::thread::scope(|s| {
        let backup =
            s.spawn(|| repo.backup_command_until(cmd, &file, &meta_for_backup, bytes, stop).map_err(|e| e.to_string()));
        let manifest = fingerprints(&mut session, true).map_err(|e| format!("recording table fingerprints: {e}"));
        (backup.join().unwrap_or_else(|_| Err("the backup thread panicked".into())), manifest)
    });
    let snapshot = snapshot?;
    Ok((snapshot, tool, manifest?))
}

/// `mariadb-dump --version` / `pg_dump --version`, first line (through `docker exec` for containers).
pub fn dump_tool_version(ep: &Endpoint) -> Result<String, db::DbError> {
    let tool = if ep.engine == Engine::Mariadb { "mariadb-dump" } else { "pg_dump" };
    let mut cmd = db::session::client_command(ep, tool, &["--version"])?;
    let out = cmd.output().map_err(db::DbError::io(format!("running {tool} --version")))?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.lines().next().unwrap_or(tool).trim().to_string())
}

/// `mariadb-dump  Ver 10.19 Distrib 10.11.19-MariaDB, for debian-linux-gnu` -> `mariadb-dump-10.11.19-MariaDB`;
/// `pg_dump (PostgreSQL) 15.18` -> `pg_dump-15.18` (restic tags hold no spaces or commas).
pub fn tool_tag(version_line: &str) -> String {
    let name = version_line.split_whitespace().next().unwrap_or("dump");
    let version = version_line
        .split("Distrib ")
        .nth(1)
        .and_then(|v| v.split([',', ' ']).next())
        .or_else(|| version_line.split_whitespace().last())
        .unwrap_or("unknown");
    format!("{name}-{version}").replace([',', ' '], "_")
}

#[cfg(test)]
mod tests {
    #[test]
    fn tool_tags() {
        assert_eq!(
            super::tool_tag("mariadb-dump  Ver 10.19 Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)"),
            "mariadb-dump-10.11.19-MariaDB"
        );
        assert_eq!(super::tool_tag("pg_dump (PostgreSQL) 15.18"), "pg_dump-15.18");
    }
}
