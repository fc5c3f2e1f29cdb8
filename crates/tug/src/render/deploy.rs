//! `tug deploy` / `tug rollback`: what is live now, and how it got there.

use std::io::Write;

use tugboat_runtime::deploy::{DeployReport, RollbackReport};

use super::style::{paint, BOLD, DIM, HIGH, OK};

pub fn print_deploy(out: &mut dyn Write, r: &DeployReport) -> std::io::Result<()> {
    drain_note(out, r)?;
    let from = r.from.as_ref().map(|s| format!("{} ({})", s.container, s.image)).unwrap_or_else(|| "nothing".into());
    let digest = r.digest.as_ref().map(|d| paint(DIM, &format!(" [{d}]"))).unwrap_or_default();
    match &r.reason {
        None => writeln!(
            out,
            "{} {}: {} ({}){digest} serves; healthy after {:.1} s, {} requests watched, {} errors; {from} stopped, kept for `tug rollback {}`",
            paint(OK, "deployed"),
            paint(BOLD, &r.service),
            r.to.container,
            r.to.image,
            r.healthy_after_ms as f64 / 1000.0,
            r.watched_requests,
            r.watched_errors,
            r.service
        ),
        Some(reason) => writeln!(
            out,
            "{} {}: green {} ({}) failed after the switch — {reason}; traffic is back on {from}",
            paint(HIGH, "rolled back"),
            paint(BOLD, &r.service),
            r.to.container,
            r.to.image
        ),
    }
}

/// A drain that ran out: what was still in flight on blue was cut when it stopped.
fn drain_note(out: &mut dyn Write, r: &DeployReport) -> std::io::Result<()> {
    if r.drain_timed_out {
        writeln!(out, "{}", paint(HIGH, "note: blue still had requests or streams in flight when the drain timeout ended; raise deploy.SERVICE.drain to let them finish"))?;
    }
    Ok(())
}

pub fn print_rollback(out: &mut dyn Write, r: &RollbackReport) -> std::io::Result<()> {
    let from = r.from.as_ref().map(|s| format!("{} ({})", s.container, s.image)).unwrap_or_else(|| "nothing".into());
    writeln!(
        out,
        "{} {}: {} ({}) serves again, in {:.1} s; {from} stopped",
        paint(OK, "rolled back"),
        paint(BOLD, &r.service),
        r.to.container,
        r.to.image,
        r.took_ms as f64 / 1000.0
    )
}
