//! `tug init`: what was written, and what to do next.

use std::io::Write;
use std::path::Path;

use tugboat::stack::init::{InitPlan, InitReport};

use crate::cli::Global;

pub fn print(g: &Global, dir: &Path, plan: &InitPlan, report: &InitReport) -> anyhow::Result<()> {
    if g.json {
        let mut doc = serde_json::to_value(plan)?;
        doc["written"] = serde_json::to_value(&report.written)?;
        return super::print_json(&doc);
    }
    let mut out = anstream::stdout();
    for w in &report.written {
        writeln!(out, "wrote {}", w.display())?;
    }
    writeln!(out, "next: review the allowlist and databases, then run `tug check {}`", dir.display())?;
    Ok(())
}
