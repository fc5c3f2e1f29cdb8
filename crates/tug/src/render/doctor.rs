//! `tug doctor`: a line per check under its group, the fix indented below it, then the totals.

use std::io::Write;

use tugboat::doctor::{Report, Status};

use super::style::{paint, BOLD, DIM, HIGH, MEDIUM, OK};

fn mark(s: Status) -> String {
    match s {
        Status::Pass => paint(OK, "pass"),
        Status::Warn => paint(MEDIUM, "warn"),
        Status::Fail => paint(HIGH, "FAIL"),
        Status::Skip => paint(DIM, "skip"),
    }
}

pub fn print(out: &mut dyn Write, r: &Report) -> std::io::Result<()> {
    let width = r.checks.iter().map(|c| c.id.len()).max().unwrap_or(0).min(40);
    let mut group = None;
    for c in &r.checks {
        if group != Some(c.group) {
            writeln!(out, "{}", paint(BOLD, c.group.as_str()))?;
            group = Some(c.group);
        }
        writeln!(out, "  {}  {:<width$}  {}", mark(c.status), c.id, c.observed)?;
        if let Some(fix) = c.fix.as_ref().filter(|_| c.status != Status::Pass) {
            writeln!(out, "        fix: {fix}")?;
        }
    }
    let totals = format!(
        "{} failed, {} warnings, {} passed, {} not applicable",
        r.count(Status::Fail),
        r.count(Status::Warn),
        r.count(Status::Pass),
        r.count(Status::Skip)
    );
    if r.ok {
        writeln!(out, "{} {totals}", paint(OK, "doctor:"))
    } else {
        writeln!(out, "{} {totals}", paint(HIGH, "doctor:"))
    }
}
