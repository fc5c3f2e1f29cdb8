//! `tug drill` as an engine operation: plan (each source's snapshot, its manifest, the live database it is
//! compared with, the scratch server it is restored into), then drill every source — one failing never
//! stops the others — and record each drill in the state database.

use std::fmt;

use serde::Serialize;
use serde_json::{json, Value};
use tugboat::db::dump::restore_command;
use tugboat::db::{self, Endpoint, Engine, Target};
use tugboat::ops::{self, Ctx, Operation, Subject, Verdict};
use tugboat::parity::TableFingerprint;
use tugboat::stack::Stack;

use super::{drill_database, drill_files, no_snapshot, DrillReport};
use crate::backup::{shorten, to_json};
use crate::config::{is_tool_missing, pick_snapshot, scratch_tools, select_sources, SnapshotRef};
use crate::repo::{Repo, RepoConfig, SnapshotInfo};

/// `tug drill [SOURCE…] [--deep] [--snapshot ID]`.
#[derive(Debug, Clone)]
pub struct Drill<'a> {
    pub stack: &'a Stack,
    /// Names from `backup.sources`; every source when empty.
    pub sources: Vec<String>,
    /// Also compare live and restored row by row.
    pub deep: bool,
    /// A snapshot id (prefix) instead of each source's latest.
    pub snapshot: Option<String>,
}

impl<'a> Drill<'a> {
    /// The sources named (every source when `sources` is empty), each from its latest snapshot.
    pub fn new(stack: &'a Stack, sources: &[String]) -> Drill<'a> {
        Drill { stack, sources: sources.to_vec(), deep: false, snapshot: None }
    }

    /// Every source, each from its latest snapshot.
    pub fn all(stack: &'a Stack) -> Drill<'a> {
        Drill::new(stack, &[])
    }
}

/// What a drill will do.
#[derive(Debug, Serialize)]
pub struct DrillPlan {
    pub stack: String,
    pub repository: String,
    pub deep: bool,
    pub sources: Vec<DrillSourcePlan>,
    #[serde(skip)]
    repo: Repo,
    #[serde(skip)]
    items: Vec<Item>,
}

/// One source as planned.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct DrillSourcePlan {
    pub source: String,
    pub kind: String,
    /// The snapshot drilled; `None`: there is none yet, and the drill of this source fails.
    pub snapshot: Option<SnapshotRef>,
    /// Database sources: the live database the restored copy is compared with (no password).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<String>,
    /// The scratch server the snapshot is restored into (database sources), removed afterwards.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scratch: Option<Engine>,
    /// Whether table fingerprints were recorded with the snapshot (without, a bad backup cannot be told
    /// from newer writes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<bool>,
    /// Why this source's drill will fail (no snapshot yet, the live database cannot be resolved).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug)]
enum Item {
    /// The report is already known: a failure.
    Failed(Box<DrillReport>),
    Database {
        live: Endpoint,
        snapshot: SnapshotInfo,
        manifest: Option<Vec<TableFingerprint>>,
    },
    Files {
        snapshot: SnapshotInfo,
    },
}

/// The report of `tug drill`: one drill per source.
#[derive(Debug, Clone, Serialize)]
pub struct DrillResults {
    pub ok: bool,
    pub drills: Vec<DrillReport>,
}

impl DrillResults {
    /// The sources whose drill failed, with why.
    pub fn failures(&self) -> Vec<(&str, String)> {
        self.drills.iter().filter_map(|d| d.why().map(|why| (d.source.as_str(), why))).collect()
    }
}

impl fmt::Display for DrillPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let deep = if self.deep { ", then compare live and restored row by row" } else { "" };
        writeln!(f, "drill stack {} from {}{deep}", self.stack, self.repository)?;
        for s in &self.sources {
            let snap = match &s.snapshot {
                Some(x) => format!("snapshot {} of {}", x.id, x.time),
                None => "no snapshot".to_string(),
            };
            writeln!(f, "  {} ({}): {snap}", s.source, s.kind)?;
            if let Some(e) = &s.error {
                writeln!(f, "    fails: {e}")?;
                continue;
            }
            match (&s.scratch, &s.live) {
                (Some(engine), Some(live)) => {
                    let manifest = if s.manifest == Some(true) { "its manifest" } else { "no manifest recorded" };
                    writeln!(
                        f,
                        "    restore into a scratch {} server, compare with {manifest} and {live}",
                        engine.name()
                    )?;
                }
                _ => writeln!(f, "    restore into a temporary directory, check every file's content hash")?,
            }
        }
        Ok(())
    }
}

impl Verdict for DrillResults {
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
            "results": self.drills.iter().map(|d| json!({
                "source": d.source,
                "ok": d.ok,
                "snapshot": d.snapshot.as_ref().map(|s| &s.short_id),
                "restore_ms": d.restore_ms,
            })).collect::<Vec<_>>(),
        })
    }
}

/// Where a scratch server will be, for finding the restore tool now.
fn scratch_like(live: &Endpoint) -> Endpoint {
    Endpoint { target: Target::Tcp { host: "127.0.0.1".into(), port: 0, socket: None }, password: None, ..live.clone() }
}

impl Operation for Drill<'_> {
    type Plan = DrillPlan;
    type Report = DrillResults;

    fn command(&self) -> &'static str {
        "drill"
    }

    fn subject(&self) -> Subject {
        Subject::of(self.stack)
    }

    fn request(&self) -> Value {
        json!({"sources": self.sources, "deep": self.deep, "snapshot": self.snapshot})
    }

    fn plan(&self, ctx: &mut Ctx) -> ops::Result<DrillPlan> {
        let selected = select_sources(self.stack, &self.sources)?;
        let config = RepoConfig::for_stack(self.stack)?;
        let repo = Repo::open(&config)?;
        let mut sources = Vec::new();
        let mut items = Vec::new();
        for source in selected {
            let name = source.display_name();
            let kind = source.kind();
            let snapshot = pick_snapshot(&repo, &self.stack.name, &name, self.snapshot.as_deref())?;
            let mut shown = DrillSourcePlan {
                source: name.clone(),
                kind: kind.to_string(),
                snapshot: snapshot.as_ref().map(SnapshotRef::of),
                ..DrillSourcePlan::default()
            };
            let item = match (snapshot, &source.database) {
                (None, _) => Item::Failed(Box::new(no_snapshot(&name, kind))),
                (Some(snapshot), Some(spec)) => match db::resolve::resolve(spec, Some(self.stack)) {
                    Ok(live) => {
                        restore_command(&scratch_like(&live))?;
                        scratch_tools(live.engine)?;
                        let manifest = ctx
                            .store
                            .manifest(&snapshot.id)?
                            .and_then(|m| serde_json::from_value::<Vec<TableFingerprint>>(m["tables"].clone()).ok());
                        shown.live = Some(live.to_string());
                        shown.scratch = Some(live.engine);
                        shown.manifest = Some(manifest.is_some());
                        Item::Database { live, snapshot, manifest }
                    }
                    Err(e) if is_tool_missing(&e) => return Err(e.into()),
                    Err(e) => Item::Failed(Box::new(DrillReport::failed(&name, kind, Some(snapshot), e.to_string()))),
                },
                (Some(snapshot), None) => Item::Files { snapshot },
            };
            if let Item::Failed(report) = &item {
                shown.error = report.error.clone();
            }
            sources.push(shown);
            items.push(item);
        }
        Ok(DrillPlan {
            stack: self.stack.name.clone(),
            repository: config.display_location(),
            deep: self.deep,
            sources,
            repo,
            items,
        })
    }

    fn run(&self, plan: &DrillPlan, ctx: &mut Ctx) -> ops::Result<DrillResults> {
        let total = plan.items.len();
        let mut drills = Vec::new();
        for (i, (shown, item)) in plan.sources.iter().zip(&plan.items).enumerate() {
            ctx.cancel.check()?;
            ctx.progress.started(&shown.source, i, total);
            let report = match item {
                Item::Failed(report) => (**report).clone(),
                Item::Database { live, snapshot, manifest } => {
                    drill_database(&plan.repo, &shown.source, live, snapshot.clone(), manifest.clone(), plan.deep)
                }
                Item::Files { snapshot } => drill_files(&plan.repo, &shown.source, &shown.kind, snapshot.clone()),
            };
            ctx.progress.finished(&shown.source, report.ok);
            // A drill cut short by the interruption (its scratch server stopped) proves nothing: not recorded.
            ctx.cancel.check()?;
            ctx.store.record_drill(
                &self.stack.name,
                &report.source,
                report.snapshot.as_ref().map(|s| s.id.as_str()),
                report.ok,
                report.restore_ms.map(|m| m as i64),
                &to_json(&report)?,
            )?;
            drills.push(report);
        }
        Ok(DrillResults { ok: drills.iter().all(|d| d.ok), drills })
    }
}
