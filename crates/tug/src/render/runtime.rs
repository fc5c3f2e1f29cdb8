//! `tug up` / `tug down`: one line per container and what was done; `tug status`: a table of the
//! containers, then each drift.

use std::io::Write;

use tugboat_runtime::down::{DownPlan, DownReport};
use tugboat_runtime::status::StatusReport;
use tugboat_runtime::up::{Action, UpPlan, UpReport};

use super::style::{paint, BOLD, DIM, HIGH, MEDIUM, OK};

fn action_word(a: Action) -> &'static str {
    match a {
        Action::Create => "created",
        Action::Recreate => "recreated",
        Action::Start => "started",
        Action::Keep => "unchanged",
        Action::Remove => "removed",
    }
}

pub fn print_up(out: &mut dyn Write, plan: &UpPlan, r: &UpReport) -> std::io::Result<()> {
    let width = r.containers.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for c in &r.containers {
        let word = action_word(c.action);
        let word = if c.action == Action::Keep { paint(DIM, word) } else { paint(OK, word) };
        let reason = c.reason.as_ref().map(|r| paint(DIM, &format!(" ({r})"))).unwrap_or_default();
        writeln!(out, "{}  {word:<10} {}{reason}", paint(BOLD, &format!("{:<width$}", c.name)), c.state)?;
    }
    for o in &r.removed_orphans {
        writeln!(out, "{o}  {}", paint(MEDIUM, "removed (orphan)"))?;
    }
    for p in &r.repointed_routes {
        writeln!(
            out,
            "{}",
            paint(
                MEDIUM,
                &format!(
                    "route of {} re-pointed from {} to {} ({}: the engine gave it a new address)",
                    p.service,
                    p.from.join(", "),
                    p.to,
                    p.container
                )
            )
        )?;
    }
    if !plan.remove_orphans {
        for o in &plan.orphans {
            writeln!(
                out,
                "{}",
                paint(
                    MEDIUM,
                    &format!(
                        "warning: orphan container {o} (its service is no longer defined; --remove-orphans removes it)"
                    )
                )
            )?;
        }
    }
    writeln!(out, "{} project {}: {} containers", paint(OK, "up:"), r.project, r.containers.len())
}

pub fn print_down(out: &mut dyn Write, plan: &DownPlan, r: &DownReport) -> std::io::Result<()> {
    for c in &r.removed_containers {
        writeln!(out, "removed container {c}")?;
    }
    for n in &r.removed_networks {
        writeln!(out, "removed network {n}")?;
    }
    for v in &r.removed_volumes {
        writeln!(out, "removed volume {v}")?;
    }
    for o in &plan.orphans_kept {
        writeln!(
            out,
            "{}",
            paint(MEDIUM, &format!("warning: orphan container {o} left running (--remove-orphans removes it)"))
        )?;
    }
    writeln!(out, "{} project {}", paint(OK, "down:"), r.project)
}

pub fn print_status(out: &mut dyn Write, r: &StatusReport) -> std::io::Result<()> {
    let rows: Vec<(&str, &tugboat_runtime::status::Container)> = r
        .services
        .iter()
        .flat_map(|s| s.containers.iter().map(move |c| (s.service.as_str(), c)))
        .chain(r.orphans.iter().map(|c| ("(orphan)", c)))
        .collect();
    let name_w = rows.iter().map(|(_, c)| c.name.len()).max().unwrap_or(9).max(9);
    let svc_w = rows.iter().map(|(s, _)| s.len()).max().unwrap_or(7).max(7);
    let state_w = rows.iter().map(|(_, c)| c.state.len()).max().unwrap_or(5).max(9);
    let header =
        format!("{:<svc_w$}  {:<name_w$}  {:<state_w$}  {:<9} IMAGE", "SERVICE", "CONTAINER", "STATE", "HEALTH");
    writeln!(out, "{}", paint(BOLD, &header))?;
    for (service, c) in &rows {
        let health = c.health.as_deref().unwrap_or("-");
        writeln!(out, "{service:<svc_w$}  {:<name_w$}  {:<state_w$}  {health:<9} {}", c.name, c.state, c.image)?;
    }
    for d in &r.drift {
        writeln!(out, "{} {d}", paint(HIGH, "drift:"))?;
    }
    if r.in_sync() {
        writeln!(out, "{} project {} matches its files", paint(OK, "in sync:"), r.project)
    } else {
        writeln!(out, "{} project {}: {} differences", paint(HIGH, "drift:"), r.project, r.drift.len())
    }
}
