//! `tug backup` as an engine operation: plan (the repository, each source resolved to its endpoint and dump
//! command or its paths), then back every source up into its own snapshot — one failing never stops the
//! others — recording each database snapshot's manifest and the run in the state database.

use std::fmt;
use std::time::Instant;

use serde::Serialize;
use serde_json::{json, Value};
use tugboat::db::dump::dump_command;
use tugboat::db::session::describe;
use tugboat::ops::{self, Ctx, Error, ErrorKind, Operation, Subject, Verdict};
use tugboat::stack::Stack;

use crate::config::select_sources;
use crate::repo::Repo;
use crate::repo::RepoConfig;
use crate::run::{self, BackupRun, Planned, PlannedSource};

/// `tug backup [SOURCE…]`.
#[derive(Debug, Clone)]
pub struct Backup<'a> {
    pub stack: &'a Stack,
    /// Names from `backup.sources`; every source when empty.
    pub sources: Vec<String>,
}

impl<'a> Backup<'a> {
    /// The sources named (every source when `sources` is empty).
    pub fn new(stack: &'a Stack, sources: &[String]) -> Backup<'a> {
        Backup { stack, sources: sources.to_vec() }
    }

    /// Every source of `backup.sources`.
    pub fn all(stack: &'a Stack) -> Backup<'a> {
        Backup { stack, sources: Vec::new() }
    }
}

/// What a backup will do.
#[derive(Debug, Serialize)]
pub struct BackupPlan {
    pub stack: String,
    /// The repository's location (a URL's password masked).
    pub repository: String,
    pub sources: Vec<SourcePlan>,
    #[serde(skip)]
    repo: Repo,
    #[serde(skip)]
    planned: Vec<PlannedSource>,
}

/// One source as planned.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SourcePlan {
    pub source: String,
    pub kind: String,
    /// Database sources: where the dump is read from (no password), and the dump command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dump: Option<String>,
    /// File, volume and config sources: what is read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub excludes: Vec<String>,
    /// Why this source cannot be backed up (an unset variable, a stopped container): the run reports it
    /// as failed, and the other sources still run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl fmt::Display for BackupPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "back up stack {} into {}", self.stack, self.repository)?;
        for s in &self.sources {
            let what = match (&s.database, &s.error) {
                (_, Some(e)) => format!("cannot be backed up: {e}"),
                (Some(db), None) => db.clone(),
                (None, None) => s.paths.join(", "),
            };
            writeln!(f, "  {} ({}): {what}", s.source, s.kind)?;
            if let Some(dump) = &s.dump {
                writeln!(f, "    dump    {dump}")?;
            }
            if !s.excludes.is_empty() {
                writeln!(f, "    exclude {}", s.excludes.join(", "))?;
            }
        }
        let n = self.sources.len();
        writeln!(f, "{n} source{}, each into its own snapshot", if n == 1 { "" } else { "s" })
    }
}

impl Verdict for BackupRun {
    fn problem(&self) -> Option<String> {
        let failures = self.failures();
        (!failures.is_empty()).then(|| {
            let list: Vec<String> =
                failures.iter().map(|(name, why)| format!("{name} ({})", shorten(why, 400))).collect();
            format!("failed: {}", list.join(", "))
        })
    }

    fn audit_summary(&self) -> Value {
        json!({
            "run": self.run_id,
            "results": self.sources.iter().map(|s| json!({
                "source": s.name,
                "ok": s.ok,
                "snapshot": s.snapshot.as_ref().map(|x| &x.short_id),
                "error": s.error.as_deref().and_then(|e| e.lines().next()),
            })).collect::<Vec<_>>(),
        })
    }
}

pub(crate) fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max).collect();
    s.push('…');
    s
}

/// A JSON value of a report, for the state database.
pub(crate) fn to_json(value: &impl Serialize) -> ops::Result<Value> {
    serde_json::to_value(value).map_err(|e| Error::other(ErrorKind::CannotAct, e))
}

impl Operation for Backup<'_> {
    type Plan = BackupPlan;
    type Report = BackupRun;

    fn command(&self) -> &'static str {
        "backup"
    }

    fn subject(&self) -> Subject {
        Subject::of(self.stack)
    }

    fn request(&self) -> Value {
        json!({"sources": self.sources})
    }

    fn plan(&self, _ctx: &mut Ctx) -> ops::Result<BackupPlan> {
        let selected = select_sources(self.stack, &self.sources)?;
        let config = RepoConfig::for_stack(self.stack)?;
        let mut planned = Vec::new();
        let mut sources = Vec::new();
        for s in selected {
            let p = run::resolve(self.stack, s)?;
            let mut shown = SourcePlan { source: p.name.clone(), kind: p.kind.to_string(), ..SourcePlan::default() };
            match &p.what {
                Planned::Database(ep) => {
                    shown.database = Some(ep.to_string());
                    shown.dump = Some(describe(&dump_command(ep, &[])?));
                }
                Planned::Paths { paths, excludes } => {
                    shown.paths = paths.iter().map(|p| p.display().to_string()).collect();
                    shown.excludes = excludes.clone();
                }
                Planned::Unresolved(e) => shown.error = Some(e.clone()),
            }
            sources.push(shown);
            planned.push(p);
        }
        let repo = Repo::open(&config)?;
        Ok(BackupPlan { stack: self.stack.name.clone(), repository: config.display_location(), sources, repo, planned })
    }

    fn run(&self, plan: &BackupPlan, ctx: &mut Ctx) -> ops::Result<BackupRun> {
        let started = Instant::now();
        let run_id = run::run_id(ctx.clock.now_ms());
        let host = run::host();
        let cancel = ctx.cancel.clone();
        let stop = move || cancel.is_cancelled();
        let progress = ctx.progress;
        let total = plan.planned.len();
        let mut outcomes = Vec::new();
        for (i, source) in plan.planned.iter().enumerate() {
            ctx.cancel.check()?;
            progress.started(&source.name, i, total);
            let bytes = |n: u64| progress.bytes(&source.name, n);
            let outcome = run::back_up(&plan.repo, self.stack, source, &run_id, &host, &bytes, &stop);
            progress.finished(&source.name, outcome.ok);
            // At once, so a snapshot taken before an interruption can still be drilled.
            if let (Some(snap), false) = (&outcome.snapshot, outcome.manifest.is_empty()) {
                let manifest = json!({"tables": outcome.manifest, "tool": outcome.tool});
                ctx.store.record_manifest(&snap.id, &outcome.name, &manifest)?;
            }
            outcomes.push(outcome);
            // A dump stopped by the interruption failed because of it: the run is interrupted, not failed.
            ctx.cancel.check()?;
        }
        let report = BackupRun {
            run_id: run_id.clone(),
            stack: self.stack.name.clone(),
            ok: outcomes.iter().all(|o| o.ok),
            sources: outcomes,
            duration_ms: started.elapsed().as_millis() as u64,
        };
        ctx.store.record_backup_run(&run_id, &self.stack.name, report.ok, &to_json(&report)?)?;
        Ok(report)
    }
}
