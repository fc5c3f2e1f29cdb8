//! `tug drill`: per source, the snapshot, the measured recovery time and what each table or file proved.

use std::io::Write;

use tugboat_backup::drill::TableVerdict;
use tugboat_backup::{DrillReport, DrillResults};

use super::print_json;
use super::style::{paint, BOLD, DIM, HIGH, MEDIUM, OK};
use crate::cli::Global;

pub fn print(g: &Global, results: &DrillResults) -> anyhow::Result<()> {
    if g.json {
        return print_json(results);
    }
    let mut out = anstream::stdout();
    for r in &results.drills {
        source(&mut out, r)?;
    }
    let failed = results.drills.iter().filter(|r| !r.ok).count();
    let total = results.drills.len();
    let verdict = if failed == 0 { paint(OK, "drill passed:") } else { paint(HIGH, "drill failed:") };
    writeln!(out, "{verdict} {} of {total} sources", total - failed)?;
    Ok(())
}

fn source(out: &mut impl Write, r: &DrillReport) -> std::io::Result<()> {
    let status = if r.ok { paint(OK, "pass") } else { paint(HIGH, "FAIL") };
    let snap = r
        .snapshot
        .as_ref()
        .map(|s| format!("snapshot {} ({} old)", s.short_id, age(r.snapshot_age_s.unwrap_or(0))))
        .unwrap_or_default();
    let rto = r.restore_ms.map(|m| format!("restored in {:.1}s", m as f64 / 1000.0)).unwrap_or_default();
    writeln!(out, "{status} {} {}  {snap}  {rto}", paint(BOLD, &r.source), paint(DIM, &r.kind))?;
    for t in &r.tables {
        let (label, style) = match t.verdict {
            TableVerdict::Equal => ("equal", OK),
            TableVerdict::NewerThanSnapshot => ("newer than snapshot", MEDIUM),
            TableVerdict::BadBackup => ("BAD BACKUP", HIGH),
            TableVerdict::Unverified => ("unverified", HIGH),
        };
        let rows = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_else(|| "-".into());
        writeln!(
            out,
            "  {:<28} {} restored {} / snapshot {} / live {}{}",
            t.table,
            paint(style, &format!("{label:<20}")),
            rows(t.restored_rows),
            rows(t.snapshot_rows),
            rows(t.live_rows),
            t.note.as_ref().map(|n| format!("  ({n})")).unwrap_or_default()
        )?;
    }
    if let Some(n) = r.files_checked {
        writeln!(out, "  {n} files checked, {} differ", r.files_differing.len())?;
    }
    for f in &r.files_differing {
        writeln!(out, "  {}", paint(HIGH, f))?;
    }
    if let Some(p) = &r.parity {
        writeln!(out, "  deep parity live -> restored: {}", p.summary())?;
    }
    if let Some(e) = &r.error {
        writeln!(out, "  {}", paint(HIGH, e))?;
    }
    Ok(())
}

/// `42 s`, `5 min`, `3.5 h`, `2.0 d`.
fn age(s: i64) -> String {
    match s {
        s if s >= 86_400 => format!("{:.1} d", s as f64 / 86_400.0),
        s if s >= 3_600 => format!("{:.1} h", s as f64 / 3_600.0),
        s if s >= 60 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}
