//! Cutover plans: a runbook whose steps are engine operations, each gated on recorded evidence, resumable
//! after a crash, with human approvals and a tested way back. See docs/plans.md.
//!
//! ```text
//!  plans/NAME.yml ─file::load─▶ Plan ─▶ run::PlanRun (an Operation): lock; for each step from the current
//!      position: gate::evaluate (state DB evidence) ─▶ steps::execute (the capability's own Operation,
//!      tagged with the plan run) ─▶ plan_events ─▶ report::render (HTML / Markdown with a timeline)
//! ```

pub mod approve;
pub mod file;
pub mod gate;
pub mod report;
pub mod rollback;
pub mod run;
pub mod state;
pub mod steps;
pub mod view;

pub use file::{load, Plan};

/// `2026-12-01 17:04:05Z`: how plans print a time.
pub fn time_text(ms: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| ms.to_string())
}
