//! `tug plan run` / `tug plan rollback`: which steps ran, where it stopped and what moves it on.

use std::io::Write;

use tugboat_plan::rollback::RollbackReport;
use tugboat_plan::run::{RunReport, Stop};

use super::style::{paint, BOLD, DIM, HIGH, MEDIUM, OK};

pub fn print_run(out: &mut dyn Write, r: &RunReport) -> std::io::Result<()> {
    for s in &r.ran {
        match &s.reason {
            None => writeln!(out, "{} {} ({})", paint(OK, "done"), paint(BOLD, &s.step), s.kind)?,
            Some(why) => writeln!(out, "{} {} ({}): {why}", paint(HIGH, "FAILED"), paint(BOLD, &s.step), s.kind)?,
        }
    }
    for g in r.gates.iter() {
        let verdict = if g.ok { paint(OK, "ok     ") } else { paint(HIGH, "BLOCKED") };
        writeln!(out, "  gate {verdict} {}: {}", g.gate, g.requirement)?;
        if let Some(e) = g.evidence.as_ref().and_then(tugboat_plan::view::evidence_line) {
            writeln!(out, "         {}", paint(DIM, &format!("evidence: {e}")))?;
        }
        if let Some(reason) = &g.reason {
            writeln!(out, "         {reason}")?;
        }
    }
    let head = match r.stop {
        Stop::Done => paint(OK, "done"),
        Stop::Blocked => paint(HIGH, "blocked"),
        Stop::Failed => paint(HIGH, "failed"),
        Stop::NeedsResolve => paint(HIGH, "needs resolve"),
        Stop::AwaitingApproval => paint(MEDIUM, "awaiting approval"),
        Stop::Waiting => paint(MEDIUM, "waiting"),
    };
    writeln!(out, "{head} (run #{}): {}", r.run, r.message)?;
    for fix in &r.fix {
        writeln!(out, "  next: {fix}")?;
    }
    Ok(())
}

pub fn print_rollback(out: &mut dyn Write, r: &RollbackReport) -> std::io::Result<()> {
    for step in &r.done {
        writeln!(out, "{} {}", paint(OK, "undone"), paint(BOLD, step))?;
    }
    match &r.failed {
        Some((step, why)) => writeln!(
            out,
            "{} {step}: {why}\n  the run stays rolling back: fix it and run `tug plan rollback {}` again",
            paint(HIGH, "undo failed"),
            r.plan
        ),
        None => writeln!(out, "{} run #{} of plan {}", paint(OK, "rolled back"), r.run, r.plan),
    }
}
