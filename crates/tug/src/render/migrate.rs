//! `tug migrate`: the plan, what was copied, then the parity report.

use std::io::Write;

use tugboat::migrate::{MigratePlan, MigrateReport};

use super::style::{paint, DIM};
use crate::cli::Global;

pub fn print(g: &Global, plan: &MigratePlan, report: &MigrateReport) -> anyhow::Result<()> {
    if g.json {
        let doc = serde_json::json!({"plan": plan, "copied": report.copied, "parity": report.parity});
        return super::print_json(&doc);
    }
    let mut out = anstream::stdout();
    write!(out, "{plan}")?;
    let secs = report.copied.duration_ms as f64 / 1000.0;
    let rate = report.copied.bytes as f64 / 1_048_576.0 / secs.max(0.001);
    writeln!(out, "copied {} in {secs:.1}s ({rate:.1} MiB/s)\n", super::human_bytes(report.copied.bytes))?;
    super::parity::print(&report.parity);
    if report.rehearsal {
        writeln!(out, "{}", paint(DIM, "rehearsal: the scratch server is removed now"))?;
    }
    Ok(())
}
