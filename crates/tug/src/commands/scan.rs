//! `tug scan`: the stack's images against the offline OSV database (`.tugboat/osv.db`), and `tug scan db`
//! to bring that database in. Both are operations: planned, `--dry-run`, one audit event each.

use tugboat::ops::Subject;
use tugboat_scan::import::ImportDb;
use tugboat_scan::osv::cvss::Severity;
use tugboat_scan::osv::db::OsvDb;
use tugboat_scan::scan::{Scan, ScanReport};

use crate::cli::{CheckFormat, Global, ScanArgs, ScanCommand, ScanDbCommand, ScanFailOn};
use crate::exit::Exit;

pub fn run(g: &Global, args: &ScanArgs) -> anyhow::Result<Exit> {
    match &args.command {
        Some(ScanCommand::Db(ScanDbCommand::Import(a))) => {
            let stack = super::load_stack(&a.dir, g, true).ok();
            let op = ImportDb {
                sources: a.sources.clone(),
                sha256: a.sha256.clone(),
                db: db_path(&a.dir, g),
                subject: stack.as_ref().map_or_else(Subject::none, Subject::of),
            };
            super::run_operation(&a.dir, g, &op, a.dry_run, |_, report| {
                if g.json {
                    super::print_json(report)?;
                } else {
                    crate::render::scan::print_import(&mut anstream::stdout(), report)?;
                }
                Ok(Exit::Ok)
            })
        }
        Some(ScanCommand::Db(ScanDbCommand::Status(a))) => {
            let path = db_path(&a.dir, g);
            if !path.exists() {
                anyhow::bail!(tugboat::ops::Error::cannot_act(format!(
                    "no vulnerability database at {}: `tug scan db import FILE` brings one in (docs/scan.md)",
                    path.display()
                )));
            }
            let status = OsvDb::open(&path)?.status()?;
            if g.json {
                super::print_json(&status)?;
            } else {
                crate::render::scan::print_status(&mut anstream::stdout(), &path, &status)?;
            }
            Ok(Exit::Ok)
        }
        None => scan(g, args),
    }
}

fn scan(g: &Global, args: &ScanArgs) -> anyhow::Result<Exit> {
    // `--image` scans need no stack; the stack's own scan does (its services, images and ignores).
    let stack = if args.images.is_empty() {
        Some(super::load_stack(&args.dir, g, true)?)
    } else {
        super::load_stack(&args.dir, g, true).ok()
    };
    let op = Scan {
        stack: stack.as_ref(),
        services: args.services.clone(),
        images: args.images.clone(),
        db: db_path(&args.dir, g),
        sbom_only: args.sbom,
        max_db_age_days: args.max_db_age,
    };
    let format = if g.json { CheckFormat::Json } else { args.format };
    super::run_operation(&args.dir, g, &op, args.dry_run, |_, report| {
        let mut report = report.clone();
        if args.fixable_only {
            for image in &mut report.images {
                image.findings.retain(|f| f.fixed.is_some());
            }
        }
        for warning in &report.warnings {
            eprintln!("warning: {warning}");
        }
        if args.sbom {
            let sboms: Vec<_> = report.images.iter().map(|i| tugboat_scan::sbom::cyclonedx(&i.sbom)).collect();
            super::print_json(&if sboms.len() == 1 { sboms[0].clone() } else { serde_json::Value::Array(sboms) })?;
            return Ok(Exit::Ok);
        }
        match format {
            CheckFormat::Json => super::print_json(&report)?,
            CheckFormat::Sarif => super::print_json(&crate::render::scan::sarif(&report))?,
            CheckFormat::Text => crate::render::scan::print(&mut anstream::stdout(), &report)?,
        }
        Ok(if gate(&report, args.fail_on) { Exit::Problem } else { Exit::Ok })
    })
}

/// Whether a finding that is not ignored is at or above `--fail-on`.
fn gate(report: &ScanReport, fail_on: Option<ScanFailOn>) -> bool {
    let Some(fail_on) = fail_on else { return false };
    let threshold = match fail_on {
        ScanFailOn::Low => Severity::Low,
        ScanFailOn::Medium => Severity::Medium,
        ScanFailOn::High => Severity::High,
        ScanFailOn::Critical => Severity::Critical,
    };
    report.counted().any(|f| f.severity >= threshold)
}

/// `.tugboat/osv.db`, beside the state database.
fn db_path(dir: &std::path::Path, g: &Global) -> std::path::PathBuf {
    super::state_path(dir, g).with_file_name("osv.db")
}
