//! `tug restore SOURCE` as an engine operation: plan (the snapshot, the target resolved, whether it holds
//! data — refused unless replacing it is allowed), then restore: a database dump streamed from the
//! repository into the native restore tool, or a file snapshot into a directory.

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;
use serde_json::{json, Value};
use tugboat::db::dump::{clear_target, dump_file_name, restore_command, restore_from};
use tugboat::db::scratch::ScratchServer;
use tugboat::db::session::describe;
use tugboat::db::{self, schema, Endpoint, Engine, Session, Target};
use tugboat::ops::{self, CancelToken, Ctx, Error, ErrorKind, Guidance, Operation, Progress, Subject, Verdict};
use tugboat::stack::Stack;

use crate::config::{backup_config, pick_snapshot, scratch_tools, SnapshotRef};
use crate::repo::{Repo, RepoConfig, SnapshotInfo};

/// `tug restore SOURCE [--snapshot ID] [--to TARGET] [--force]`.
#[derive(Debug, Clone)]
pub struct Restore<'a> {
    pub stack: &'a Stack,
    /// A name from `backup.sources`.
    pub source: String,
    /// A snapshot id (or its prefix); the source's latest when `None`.
    pub snapshot: Option<String>,
    /// Where to: a database URL or name from `databases:`, `scratch` (a throwaway server), or for file
    /// sources a directory. `None`: where the data came from (the live database, `/` for files).
    pub to: Option<String>,
    /// Replace what the target holds (its tables are dropped first; files in the snapshot overwrite).
    pub force: bool,
}

/// What a restore will do.
#[derive(Debug, Serialize)]
pub struct RestorePlan {
    pub source: String,
    pub kind: String,
    pub repository: String,
    pub snapshot: SnapshotRef,
    /// The target as requested.
    pub to: Option<String>,
    pub force: bool,
    /// The target, resolved: a database (no password), a scratch server, a directory.
    pub target: String,
    /// Database targets: the tables there now, dropped before the restore.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_tables: Option<usize>,
    /// Directory targets: whether it holds files already (those in the snapshot are overwritten).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_occupied: Option<bool>,
    /// The scratch server the run starts, and removes when it ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scratch: Option<Engine>,
    /// Database sources: the dump file read from the snapshot, and the restore command it is fed into.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore: Option<String>,
    #[serde(skip)]
    repo: Repo,
    #[serde(skip)]
    info: SnapshotInfo,
    #[serde(skip)]
    into: Destination,
}

/// Where the data goes. (One per plan: its size does not matter.)
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
enum Destination {
    /// `target` is `None` for a scratch server (it exists only once the run starts it).
    Database {
        live: Endpoint,
        target: Option<Endpoint>,
    },
    Directory(PathBuf),
}

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    pub source: String,
    /// The snapshot's short id.
    pub snapshot: String,
    pub to: Option<String>,
    pub force: bool,
    pub target: String,
    /// The dump file restored (database sources).
    pub file: Option<String>,
    /// Tables dropped before the restore.
    pub replaced_tables: usize,
    pub bytes: u64,
    pub duration_ms: u64,
    /// Restored into a scratch server, removed now.
    pub scratch: bool,
}

impl fmt::Display for RestorePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "restore {} ({}) from snapshot {} of {}",
            self.source, self.kind, self.snapshot.id, self.snapshot.time
        )?;
        writeln!(f, "  from    {}", self.repository)?;
        let state = match (self.scratch, self.target_tables, self.target_occupied) {
            (Some(_), _, _) => "started for the restore, removed afterwards".to_string(),
            (None, Some(0), _) | (None, _, Some(false)) => "empty".to_string(),
            (None, Some(n), _) => format!("{n} tables, dropped first"),
            (None, _, Some(true)) => "not empty: files in the snapshot overwrite what is there".to_string(),
            (None, None, None) => String::new(),
        };
        writeln!(f, "  into    {} ({state})", self.target)?;
        if let (Some(file), Some(restore)) = (&self.file, &self.restore) {
            writeln!(f, "  restore {file} | {restore}")?;
        }
        Ok(())
    }
}

impl Verdict for RestoreReport {
    fn problem(&self) -> Option<String> {
        None
    }

    fn audit_summary(&self) -> Value {
        json!({"bytes": self.bytes, "duration_ms": self.duration_ms, "replaced_tables": self.replaced_tables})
    }
}

/// Where a scratch server will be: loopback, on a port chosen when it starts, as its superuser.
fn scratch_endpoint(live: &Endpoint) -> Endpoint {
    let user = if live.engine == Engine::Mariadb { "root" } else { "postgres" };
    Endpoint {
        target: Target::Tcp { host: "127.0.0.1".into(), port: 0, socket: None },
        user: user.into(),
        password: None,
        ..live.clone()
    }
}

impl Operation for Restore<'_> {
    type Plan = RestorePlan;
    type Report = RestoreReport;

    fn command(&self) -> &'static str {
        "restore"
    }

    fn subject(&self) -> Subject {
        Subject::of(self.stack)
    }

    fn request(&self) -> Value {
        json!({"source": self.source, "snapshot": self.snapshot, "to": self.to, "force": self.force})
    }

    fn plan(&self, _ctx: &mut Ctx) -> ops::Result<RestorePlan> {
        let source = backup_config(self.stack)?
            .sources
            .iter()
            .find(|s| s.display_name() == self.source)
            .ok_or_else(|| Error::usage(format!("no backup source `{}` in tugboat.yml", self.source)))?;
        let config = RepoConfig::for_stack(self.stack)?;
        let repo = Repo::open(&config)?;
        let info =
            pick_snapshot(&repo, &self.stack.name, &self.source, self.snapshot.as_deref())?.ok_or_else(|| {
                Error::usage(format!("no snapshot of `{}` yet: run `tug backup {}` first", self.source, self.source))
            })?;
        let mut plan = RestorePlan {
            source: self.source.clone(),
            kind: source.kind().to_string(),
            repository: config.display_location(),
            snapshot: SnapshotRef::of(&info),
            to: self.to.clone(),
            force: self.force,
            target: String::new(),
            target_tables: None,
            target_occupied: None,
            scratch: None,
            file: None,
            restore: None,
            repo,
            into: Destination::Directory(PathBuf::new()),
            info,
        };
        if let Some(spec) = &source.database {
            let live = db::resolve::resolve(spec, Some(self.stack))?;
            plan.file = Some(dump_file_name(&live));
            if self.to.as_deref() == Some("scratch") {
                scratch_tools(live.engine)?;
                // Its port is chosen when it starts.
                let command = describe(&restore_command(&scratch_endpoint(&live))?);
                plan.restore = Some(command.replace("--port=0", "--port=PORT").replace("-p 0", "-p PORT"));
                plan.target = format!("a scratch {} server", live.engine.name());
                plan.scratch = Some(live.engine);
                plan.into = Destination::Database { live, target: None };
                return Ok(plan);
            }
            let target = match &self.to {
                Some(to) => db::resolve::resolve(to, Some(self.stack))?,
                None => live.clone(),
            };
            if target.engine != live.engine {
                return Err(Error::usage(format!(
                    "snapshot {} holds a {} dump; {target} is {}",
                    plan.snapshot.id,
                    live.engine.name(),
                    target.engine.name()
                )));
            }
            let tables = schema::tables(&mut Session::connect(&target)?)?.len();
            if tables > 0 && !self.force {
                return Err(Error::usage(format!(
                    "{target} holds {tables} tables: restoring snapshot {} would replace them",
                    plan.snapshot.id
                ))
                .with_guidance(Guidance::AllowReplace));
            }
            plan.restore = Some(describe(&restore_command(&target)?));
            plan.target = target.to_string();
            plan.target_tables = Some(tables);
            plan.into = Destination::Database { live, target: Some(target) };
        } else {
            let dest = PathBuf::from(self.to.clone().unwrap_or_else(|| "/".into()));
            let dest = std::path::absolute(&dest).unwrap_or(dest);
            let occupied = std::fs::read_dir(&dest).map(|mut d| d.next().is_some()).unwrap_or(false);
            if occupied && !self.force {
                return Err(Error::usage(format!(
                    "{} is not empty: the files of snapshot {} would overwrite what is there",
                    dest.display(),
                    plan.snapshot.id
                ))
                .with_guidance(Guidance::AllowReplace));
            }
            plan.target = dest.display().to_string();
            plan.target_occupied = Some(occupied);
            plan.into = Destination::Directory(dest);
        }
        Ok(plan)
    }

    fn run(&self, plan: &RestorePlan, ctx: &mut Ctx) -> ops::Result<RestoreReport> {
        let started = Instant::now();
        let mut report = RestoreReport {
            source: plan.source.clone(),
            snapshot: plan.snapshot.id.clone(),
            to: plan.to.clone(),
            force: plan.force,
            target: plan.target.clone(),
            file: plan.file.clone(),
            replaced_tables: 0,
            bytes: 0,
            duration_ms: 0,
            scratch: plan.scratch.is_some(),
        };
        let progress = ctx.progress;
        match &plan.into {
            Destination::Database { live, target } => {
                // A scratch server lives as long as this run; dropping it removes it.
                let scratch = match target {
                    Some(_) => None,
                    None => {
                        let server = ScratchServer::start(live.engine)?;
                        server.create_database(&live.database)?;
                        Some(server)
                    }
                };
                let target = match (&scratch, target) {
                    (Some(server), _) => server.endpoint(&live.database),
                    (None, Some(t)) => t.clone(),
                    (None, None) => return Err(Error::cannot_act("the restore plan has no target")),
                };
                report.target = target.to_string();
                ctx.cancel.check()?;
                let tables = plan.target_tables.unwrap_or(0);
                if plan.force && tables > 0 {
                    clear_target(&target)?;
                    report.replaced_tables = tables;
                }
                ctx.cancel.check()?;
                let file = dump_file_name(live);
                progress.started(&plan.source, 0, 1);
                let restored = restore_from(&target, &mut |w| {
                    let mut w = Feed { inner: w, cancel: &ctx.cancel, progress, step: &plan.source, bytes: 0 };
                    plan.repo.restore_file(&plan.info.id, &file, &mut w).map_err(std::io::Error::other)
                });
                progress.finished(&plan.source, restored.is_ok());
                report.bytes = restored?;
            }
            Destination::Directory(dest) => {
                std::fs::create_dir_all(dest)
                    .map_err(|e| Error::new(ErrorKind::CannotAct, format!("cannot create {}: {e}", dest.display())))?;
                progress.started(&plan.source, 0, 1);
                let restored = plan.repo.restore_to_path(&plan.info.id, dest);
                progress.finished(&plan.source, restored.is_ok());
                report.bytes = restored?;
            }
        }
        report.duration_ms = started.elapsed().as_millis() as u64;
        Ok(report)
    }
}

/// The dump on its way into the restore tool: counts bytes for the progress, and stops at an interruption.
struct Feed<'a> {
    inner: &'a mut dyn Write,
    cancel: &'a CancelToken,
    progress: &'a dyn Progress,
    step: &'a str,
    bytes: u64,
}

impl Write for Feed<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.cancel.is_cancelled() {
            // Not `ErrorKind::Interrupted`: `write_all` would retry that.
            return Err(std::io::Error::other("the restore was interrupted"));
        }
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        self.progress.bytes(self.step, self.bytes);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
