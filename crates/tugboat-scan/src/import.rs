//! The ImportDb operation (`tug scan db import`): OSV archives or record directories into the offline
//! database, each checked against its SHA-256 when one is given. Audited: the event keeps what was
//! imported, from where, with which digest — the database's provenance.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::{json, Value};
use tugboat::ops::{Ctx, Error, ErrorKind, Operation, Subject, Verdict};

use crate::osv::db::{ImportSummary, OsvDb};

pub struct ImportDb {
    pub sources: Vec<PathBuf>,
    pub sha256: Option<String>,
    pub db: PathBuf,
    pub subject: Subject,
}

#[derive(Clone, Debug, Serialize)]
pub struct ImportPlan {
    pub db: PathBuf,
    /// (source, `zip` or `directory`)
    pub sources: Vec<(PathBuf, &'static str)>,
    pub sha256: Option<String>,
}

impl fmt::Display for ImportPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Would import into {}:", self.db.display())?;
        for (source, kind) in &self.sources {
            writeln!(f, "  {} ({kind})", source.display())?;
        }
        if let Some(sha) = &self.sha256 {
            writeln!(f, "checked against sha256 {sha}")?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ImportReport {
    pub db: PathBuf,
    pub imports: Vec<ImportSummary>,
}

impl Verdict for ImportReport {
    fn problem(&self) -> Option<String> {
        None
    }

    fn audit_summary(&self) -> Value {
        json!({"imports": self.imports})
    }
}

impl Operation for ImportDb {
    type Plan = ImportPlan;
    type Report = ImportReport;

    fn command(&self) -> &'static str {
        "scan db import"
    }

    fn subject(&self) -> Subject {
        self.subject.clone()
    }

    fn request(&self) -> Value {
        json!({"sources": self.sources, "sha256": self.sha256})
    }

    fn plan(&self, _ctx: &mut Ctx) -> tugboat::ops::Result<ImportPlan> {
        if self.sha256.is_some() && self.sources.len() > 1 {
            return Err(Error::usage("--sha256 checks one source: import the others in their own runs"));
        }
        let mut sources = Vec::new();
        for source in &self.sources {
            let kind = if source.is_dir() {
                "directory"
            } else if source.is_file() {
                "zip"
            } else {
                return Err(Error::usage(format!("{}: no such file or directory", source.display())));
            };
            sources.push((source.clone(), kind));
        }
        Ok(ImportPlan { db: self.db.clone(), sources, sha256: self.sha256.clone() })
    }

    fn run(&self, plan: &ImportPlan, ctx: &mut Ctx) -> tugboat::ops::Result<ImportReport> {
        let mut db = OsvDb::open(&self.db).map_err(|e| Error::new(ErrorKind::CannotAct, e.to_string()))?;
        let mut imports = Vec::new();
        for (n, (source, _)) in plan.sources.iter().enumerate() {
            ctx.cancel.check()?;
            ctx.progress.started(&source.display().to_string(), n, plan.sources.len());
            let summary = db
                .import(source, plan.sha256.as_deref(), ctx.clock.now_ms())
                .map_err(|e| Error::new(ErrorKind::CannotAct, e.to_string()))?;
            ctx.progress.finished(&source.display().to_string(), true);
            imports.push(summary);
        }
        Ok(ImportReport { db: self.db.clone(), imports })
    }
}
