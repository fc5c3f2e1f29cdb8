//! `tug drill [SOURCE…] [--deep] [--snapshot ID]`: restore, prove, time; results to the state DB.

use std::io::Write;

use serde_json::json;
use tugboat::store::Outcome;
use tugboat_backup::drill::{self, DrillReport, TableVerdict};

use super::backup::{load, open_repo};
use super::restore::pick_snapshot;
use crate::cli::{DrillArgs, Global};
use crate::exit::{Exit, UsageError};
use crate::render::style::{paint, BOLD, DIM, HIGH, MEDIUM, OK};

pub fn run(g: &Global, args: &DrillArgs) -> anyhow::Result<Exit> {
    let stack = load(&args.dir, g)?;
    let backup =
        stack.config.backup.as_ref().ok_or_else(|| UsageError("tugboat.yml has no `backup:` section".into()))?;
    let names: Vec<String> = backup.sources.iter().map(|s| s.display_name()).collect();
    if let Some(unknown) = args.sources.iter().find(|s| !names.contains(s)) {
        return Err(UsageError(format!("no backup source `{unknown}`; defined: {}", names.join(", "))).into());
    }
    let repo = open_repo(&stack)?;
    let mut store = super::open_store(&args.dir, g)?;
    let mut reports = Vec::new();
    for source in backup.sources.iter().filter(|s| args.sources.is_empty() || args.sources.contains(&s.display_name()))
    {
        let name = source.display_name();
        let snapshot = pick_snapshot(&repo, &stack.name, &name, args.snapshot.as_deref())?;
        let report = match (snapshot, &source.database) {
            (None, _) => drill::no_snapshot(&name, source.kind()),
            (Some(snap), Some(db)) => {
                let live = super::parity::endpoint(db, Some(&stack))?;
                let manifest = store.manifest(&snap.id)?.and_then(|m| serde_json::from_value(m["tables"].clone()).ok());
                drill::drill_database(&repo, &name, &live, snap, manifest, args.deep)
            }
            (Some(snap), None) => drill::drill_files(&repo, &name, source.kind(), snap),
        };
        let value = serde_json::to_value(&report)?;
        store.record_drill(
            &stack.name,
            &name,
            report.snapshot.as_ref().map(|s| s.id.as_str()),
            report.ok,
            report.restore_ms.map(|m| m as i64),
            &value,
        )?;
        if !g.json {
            print(&report);
        }
        reports.push(report);
    }
    let ok = reports.iter().all(|r| r.ok);
    let params = json!({"deep": args.deep, "sources": reports.iter().map(|r| json!({"source": r.source, "ok": r.ok, "restore_ms": r.restore_ms})).collect::<Vec<_>>()});
    let failed: Vec<&str> = reports.iter().filter(|r| !r.ok).map(|r| r.source.as_str()).collect();
    let outcome = if ok { Outcome::Ok } else { Outcome::Failed(format!("failed: {}", failed.join(", "))) };
    super::record(&mut store, &stack.name, stack.config_digest(), "drill", params, outcome)?;
    if g.json {
        super::print_json(&json!({"ok": ok, "drills": reports}))?;
    } else {
        let verdict = if ok { paint(OK, "drill passed:") } else { paint(HIGH, "drill failed:") };
        let _ = writeln!(anstream::stdout(), "{verdict} {} of {} sources", reports.len() - failed.len(), reports.len());
    }
    Ok(if ok { Exit::Ok } else { Exit::Problem })
}

fn print(r: &DrillReport) {
    let mut out = anstream::stdout();
    let status = if r.ok { paint(OK, "pass") } else { paint(HIGH, "FAIL") };
    let snap = r
        .snapshot
        .as_ref()
        .map(|s| format!("snapshot {} ({} old)", s.short_id, age(r.snapshot_age_s.unwrap_or(0))))
        .unwrap_or_default();
    let rto = r.restore_ms.map(|m| format!("restored in {:.1}s", m as f64 / 1000.0)).unwrap_or_default();
    let _ = writeln!(out, "{status} {} {}  {snap}  {rto}", paint(BOLD, &r.source), paint(DIM, &r.kind));
    for t in &r.tables {
        let (label, style) = match t.verdict {
            TableVerdict::Equal => ("equal", OK),
            TableVerdict::NewerThanSnapshot => ("newer than snapshot", MEDIUM),
            TableVerdict::BadBackup => ("BAD BACKUP", HIGH),
            TableVerdict::Unverified => ("unverified", HIGH),
        };
        let rows = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "  {:<28} {} restored {} / snapshot {} / live {}{}",
            t.table,
            paint(style, &format!("{label:<20}")),
            rows(t.restored_rows),
            rows(t.snapshot_rows),
            rows(t.live_rows),
            t.note.as_ref().map(|n| format!("  ({n})")).unwrap_or_default()
        );
    }
    if let Some(n) = r.files_checked {
        let _ = writeln!(out, "  {n} files checked, {} differ", r.files_differing.len());
    }
    for f in &r.files_differing {
        let _ = writeln!(out, "  {}", paint(HIGH, f));
    }
    if let Some(p) = &r.parity {
        let _ = writeln!(out, "  deep parity live -> restored: {}", p.summary());
    }
    if let Some(e) = &r.error {
        let _ = writeln!(out, "  {}", paint(HIGH, e));
    }
}

fn age(s: i64) -> String {
    match s {
        s if s >= 86_400 => format!("{:.1} d", s as f64 / 86_400.0),
        s if s >= 3_600 => format!("{:.1} h", s as f64 / 3_600.0),
        s if s >= 60 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}
