//! `migrate` as an engine operation: plan (resolve both sides, refuse what would destroy data), then
//! copy, prove parity, and record the run.

use std::fmt;

use serde::Serialize;
use serde_json::{json, Value};

use super::{clear_target, copy, Copied, Plan as CopyPlan};
use crate::db::scratch::ScratchServer;
use crate::db::{self, Endpoint};
use crate::ops::{self, Ctx, Error, Guidance, Operation, Subject, Verdict};
use crate::parity::{self, ParityOptions, ParityReport, TableStatus};
use crate::stack::Stack;

/// `tug migrate SOURCE TARGET`.
pub struct Migrate<'a> {
    /// Names resolve through the stack's `databases:`; URLs need none.
    pub stack: Option<&'a Stack>,
    pub source: String,
    /// A name, a URL, or `scratch`: a rehearsal into a throwaway server of the same engine.
    pub target: String,
    /// Drop what the target holds (and an earlier unfinished migration's leftovers) first.
    pub replace: bool,
    pub parity: ParityOptions,
}

/// What a migration will do.
#[derive(Debug, Clone, Serialize)]
pub struct MigratePlan {
    #[serde(flatten)]
    pub copy: CopyPlan,
    /// Into a scratch server, removed when the run ends.
    pub rehearsal: bool,
    #[serde(skip)]
    source_endpoint: Endpoint,
    #[serde(skip)]
    target_endpoint: Option<Endpoint>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MigrateReport {
    pub copied: Copied,
    pub parity: ParityReport,
    pub rehearsal: bool,
}

impl MigrateReport {
    /// A parity table that could not be compared means the proof is missing, not a difference.
    pub fn parity_errored(&self) -> bool {
        self.parity.tables.iter().any(|t| t.status == TableStatus::Error)
    }
}

impl Verdict for MigrateReport {
    fn problem(&self) -> Option<String> {
        (!self.parity.equal).then(|| format!("parity: {}", self.parity.summary()))
    }
    fn audit_summary(&self) -> Value {
        json!({"bytes": self.copied.bytes, "duration_ms": self.copied.duration_ms, "parity": self.parity.summary()})
    }
}

impl fmt::Display for MigratePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.copy;
        writeln!(f, "from {}  ({})", p.source, p.source_version)?;
        writeln!(f, "to   {}  ({})", p.target, p.target_version)?;
        let state = match (self.rehearsal, p.target_tables) {
            (true, _) => "a scratch server, removed afterwards".to_string(),
            (false, 0) => "empty".to_string(),
            (false, n) => format!("{n} tables, dropped first"),
        };
        writeln!(f, "target {state}")?;
        writeln!(f, "dump   {}", p.dump_command)?;
        writeln!(f, "restore {}", p.restore_command)?;
        writeln!(f, "then   parity (tables, columns, counts, row hashes)")?;
        for w in &p.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}

fn endpoint(spec: &str, stack: Option<&Stack>) -> Result<Endpoint, Error> {
    Ok(db::resolve::resolve(spec, stack)?)
}

impl Operation for Migrate<'_> {
    type Plan = MigratePlan;
    type Report = MigrateReport;

    fn command(&self) -> &'static str {
        "migrate"
    }

    fn subject(&self) -> Subject {
        self.stack.map(Subject::of).unwrap_or_else(Subject::none)
    }

    fn request(&self) -> Value {
        json!({"source": self.source, "target": self.target, "replace": self.replace})
    }

    fn plan(&self, ctx: &mut Ctx) -> ops::Result<MigratePlan> {
        let source = endpoint(&self.source, self.stack)?;
        if self.target == "scratch" {
            let copy = super::plan_rehearsal(&source)?;
            return Ok(MigratePlan { copy, rehearsal: true, source_endpoint: source, target_endpoint: None });
        }
        let target = endpoint(&self.target, self.stack)?;
        if let Some(previous) = ctx.store.incomplete_migration(&target.to_string())? {
            if !self.replace {
                return Err(Error::usage(format!(
                    "an earlier migration into {target} (run {}, status {}) did not finish: the target is incomplete",
                    previous.id, previous.status
                ))
                .with_guidance(Guidance::AllowReplace));
            }
        }
        let copy = super::plan(&source, &target, self.replace)?;
        Ok(MigratePlan { copy, rehearsal: false, source_endpoint: source, target_endpoint: Some(target) })
    }

    fn run(&self, plan: &MigratePlan, ctx: &mut Ctx) -> ops::Result<MigrateReport> {
        let source = &plan.source_endpoint;
        // A rehearsal's server lives as long as this run; dropping it removes it.
        let scratch = match plan.target_endpoint {
            Some(_) => None,
            None => {
                let server = ScratchServer::start(source.engine)?;
                server.create_database(&source.database)?;
                Some(server)
            }
        };
        let target = match (&scratch, &plan.target_endpoint) {
            (Some(server), _) => server.endpoint(&source.database),
            (None, Some(t)) => t.clone(),
            (None, None) => return Err(Error::cannot_act("the migration plan has no target")),
        };
        ctx.cancel.check()?;
        let run_id = ctx.store.begin_migration(&source.to_string(), &target.to_string())?;
        let copied = (|| -> ops::Result<Copied> {
            if plan.copy.replace && plan.copy.target_tables > 0 {
                clear_target(&target)?;
            }
            ctx.cancel.check()?;
            let (progress, cancel) = (ctx.progress, &ctx.cancel);
            progress.started("dump -> restore", 0, 1);
            let copied = copy(source, &target, &|n| {
                progress.bytes("dump -> restore", n);
                cancel.check().map_err(std::io::Error::other)
            });
            progress.finished("dump -> restore", copied.is_ok());
            Ok(copied?)
        })();
        let copied = match copied {
            Ok(c) => c,
            Err(e) => {
                ctx.store.finish_migration(run_id, false, &e.summary())?;
                return Err(Error::new(
                    e.kind(),
                    format!("{e}\nthe source was only read and is unchanged; the target is incomplete"),
                ));
            }
        };
        ctx.cancel.check()?;
        let report = parity::compare(source, &target, &self.parity, ctx.progress)?;
        let summary = report.summary();
        ctx.store.finish_migration(run_id, report.equal, &format!("{} bytes; parity: {summary}", copied.bytes))?;
        let json = serde_json::to_value(&report).unwrap_or_default();
        ctx.store.record_parity(&report.source, &report.target, report.equal, &summary, &json)?;
        Ok(MigrateReport { copied, parity: report, rehearsal: scratch.is_some() })
    }
}
