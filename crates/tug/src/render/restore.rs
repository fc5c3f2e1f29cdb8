//! `tug restore`: what was restored where.

use std::io::Write;

use tugboat_backup::RestoreReport;

use super::human_bytes;
use super::print_json;
use super::style::{paint, DIM};
use crate::cli::Global;

pub fn print(g: &Global, r: &RestoreReport) -> anyhow::Result<()> {
    if g.json {
        return print_json(r);
    }
    let mut out = anstream::stdout();
    let secs = r.duration_ms as f64 / 1000.0;
    match &r.file {
        Some(file) => writeln!(
            out,
            "restored snapshot {} ({} of {file}) into {} in {secs:.1}s",
            r.snapshot,
            human_bytes(r.bytes),
            r.target
        )?,
        None => {
            writeln!(out, "restored snapshot {} ({}) to {} in {secs:.1}s", r.snapshot, human_bytes(r.bytes), r.target)?
        }
    }
    if r.replaced_tables > 0 {
        writeln!(out, "{}", paint(DIM, &format!("{} tables were dropped first", r.replaced_tables)))?;
    }
    if r.scratch {
        writeln!(out, "{}", paint(DIM, "the scratch server is removed now"))?;
    }
    Ok(())
}
