//! `tug watch --dry-run`: one line per check (interval, kind, target, alert rule), then the schedules.

use std::io::Write;

use tugboat_watch::watch::plan::WatchPlan;

use super::style::{paint, BOLD, DIM};

pub fn print_plan(out: &mut dyn Write, plan: &WatchPlan) -> std::io::Result<()> {
    writeln!(
        out,
        "{} would watch {} checks, status page on http://{}/",
        paint(BOLD, &plan.stack),
        plan.checks.len(),
        plan.listen
    )?;
    for c in &plan.checks {
        let alert = if c.alert.enabled {
            format!("alert after {} failures via {}", c.alert.failure_threshold, c.alert.providers.join(", "))
        } else {
            "no alerts".into()
        };
        writeln!(out, "  {:<28} every {:<5} {:<9} {}  {}", c.check, c.interval, c.kind, c.target, paint(DIM, &alert))?;
    }
    for s in &plan.schedules {
        writeln!(out, "  schedule {:<19} {}  next {}", s.job, s.cron, s.next.as_deref().unwrap_or("never"))?;
    }
    for w in &plan.maintenance {
        writeln!(out, "  maintenance {:<16} for {}, alerts muted", w.cron, w.duration)?;
    }
    let logs = &plan.logs;
    if logs.collect {
        writeln!(out, "  logs collected, kept {} and at most {} per service", logs.retention, logs.max_bytes)?;
        for a in &logs.alerts {
            writeln!(out, "  log alert {a}")?;
        }
        if !logs.forward.is_empty() {
            writeln!(out, "  logs forwarded to {}", logs.forward.join(", "))?;
        }
    } else {
        writeln!(out, "  {}", paint(DIM, "container logs are not collected (watch.logs.collect: false)"))?;
    }
    if plan.providers.is_empty() {
        writeln!(out, "  {}", paint(DIM, "no alert providers: failures are shown and measured, not sent"))?;
    }
    Ok(())
}
