//! `tug backup` and its subcommands: the run's table, the snapshot list, what forget kept and removed, the
//! repository check.

use std::io::Write;

use tugboat_backup::repo::{CheckReport, SnapshotInfo};
use tugboat_backup::{BackupRun, ForgetReport, InitReport};

use super::human_bytes;
use super::print_json;
use super::style::{paint, BOLD, DIM, HIGH, OK};
use crate::cli::Global;

pub fn print_init(g: &Global, report: &InitReport) -> anyhow::Result<()> {
    if g.json {
        return print_json(report);
    }
    writeln!(anstream::stdout(), "created repository {}", report.repository)?;
    Ok(())
}

pub fn print_run(g: &Global, report: &BackupRun) -> anyhow::Result<()> {
    if g.json {
        return print_json(report);
    }
    let mut out = anstream::stdout();
    let header = format!(
        "{:<16} {:<9} {:<8} {:>10} {:>10} {:>8}  {}",
        "source", "kind", "result", "size", "added", "time", "snapshot"
    );
    writeln!(out, "{}", paint(BOLD, &header))?;
    for s in &report.sources {
        let (size, added) = s
            .snapshot
            .as_ref()
            .and_then(|x| x.summary.as_ref())
            .map(|m| (human_bytes(m.bytes_total), human_bytes(m.bytes_added)))
            .unwrap_or_default();
        let result = if s.ok { paint(OK, "ok      ") } else { paint(HIGH, "failed  ") };
        let snap = s.snapshot.as_ref().map(|x| x.short_id.clone()).unwrap_or_default();
        let secs = s.duration_ms as f64 / 1000.0;
        writeln!(out, "{:<16} {:<9} {result} {size:>10} {added:>10} {secs:>7.1}s  {snap}", s.name, s.kind)?;
        if let Some(e) = &s.error {
            writeln!(out, "  {}", paint(HIGH, e))?;
        }
    }
    let total = report.sources.len();
    let failed = report.sources.iter().filter(|s| !s.ok).count();
    let verdict = if failed == 0 { paint(OK, "ok:") } else { paint(HIGH, "failed:") };
    let secs = report.duration_ms as f64 / 1000.0;
    writeln!(out, "\n{verdict} {} of {total} sources backed up ({secs:.1}s)", total - failed)?;
    Ok(())
}

pub fn print_snapshots(g: &Global, list: &[SnapshotInfo]) -> anyhow::Result<()> {
    if g.json {
        return print_json(&list);
    }
    let mut out = anstream::stdout();
    for s in list {
        let source = s.tags.iter().find_map(|t| t.strip_prefix("source=")).unwrap_or("-");
        let size = s.summary.as_ref().map(|m| human_bytes(m.bytes_total)).unwrap_or_default();
        writeln!(out, "{}  {}  {source:<16} {size:>10}  {}", s.short_id, s.time, paint(DIM, &s.tags.join(",")))?;
    }
    if list.is_empty() {
        writeln!(out, "{}", paint(DIM, "no snapshots"))?;
    }
    Ok(())
}

pub fn print_forget(g: &Global, report: &ForgetReport) -> anyhow::Result<()> {
    if g.json {
        return print_json(report);
    }
    let mut out = anstream::stdout();
    let source = |s: &SnapshotInfo| s.tags.iter().find_map(|t| t.strip_prefix("source=")).unwrap_or("-").to_string();
    for (s, reasons) in &report.result.keep {
        let (id, time, src) = (&s.short_id, &s.time, source(s));
        writeln!(out, "{} {id}  {time}  {src:<16} {}", paint(OK, "keep   "), paint(DIM, &reasons.join(", ")))?;
    }
    for s in &report.result.remove {
        writeln!(out, "{} {}  {}  {}", paint(HIGH, "removed"), s.short_id, s.time, source(s))?;
    }
    let pruned = if report.prune { "; unused data pruned" } else { "" };
    writeln!(out, "{} kept, {} removed{pruned}", report.result.keep.len(), report.result.remove.len())?;
    Ok(())
}

pub fn print_check(g: &Global, report: &CheckReport) -> anyhow::Result<()> {
    if g.json {
        return print_json(report);
    }
    let mut out = anstream::stdout();
    for e in &report.errors {
        writeln!(out, "{} {e}", paint(HIGH, "error:"))?;
    }
    let verdict = if report.ok { paint(OK, "ok:") } else { paint(HIGH, "damaged:") };
    writeln!(out, "{verdict} {} snapshots, {} packs read", report.snapshots, report.packs_read)?;
    Ok(())
}
