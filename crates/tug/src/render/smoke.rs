//! `tug smoke`: one line per check, the failed conditions and diagnostics under it, then the verdict.

use std::io::Write;

use tugboat_watch::probe::Status;
use tugboat_watch::smoke::SuiteReport;

use super::style::{paint, BOLD, DIM, HIGH, MEDIUM, OK};

pub fn print(out: &mut dyn Write, r: &SuiteReport) -> std::io::Result<()> {
    let width = r.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for c in &r.checks {
        let status = match c.status {
            Status::Pass => paint(OK, "pass"),
            Status::Fail => paint(HIGH, "FAIL"),
            Status::NotApplicable => paint(DIM, "n/a "),
        };
        let timing = format!("{:.0} ms", c.duration_ms);
        writeln!(
            out,
            "{status}  {}  {:<5} {}  {}",
            paint(BOLD, &format!("{:<width$}", c.name)),
            c.kind,
            c.target,
            paint(DIM, &timing)
        )?;
        if c.status == Status::Fail {
            for cond in c.conditions.iter().filter(|cond| !cond.ok) {
                writeln!(out, "      {} {}  observed {}", paint(HIGH, "✗"), cond.condition, cond.observed)?;
            }
        }
        if let Some(e) = &c.error {
            writeln!(out, "      {}", paint(MEDIUM, e))?;
        }
        if c.status != Status::Pass {
            for d in &c.diagnostics {
                writeln!(out, "      {}", paint(DIM, d))?;
            }
        }
    }
    let verdict = if r.ok { paint(OK, "smoke passed:") } else { paint(HIGH, "smoke failed:") };
    let na = if r.not_applicable > 0 { format!(", {} not applicable", r.not_applicable) } else { String::new() };
    writeln!(
        out,
        "{verdict} suite {}: {} passed, {} failed{na} in {:.1} s",
        r.suite,
        r.passed,
        r.failed,
        r.duration_ms / 1000.0
    )?;
    Ok(())
}
