//! Scheduled jobs (`watch.schedule`): what the daemon asks of a [`JobRunner`] and what it gets back.
//!
//! The daemon knows when to back up and drill, not how: the `tug` binary injects a runner that calls
//! the engine's operations in process (each run leaves one audit event), so this crate needs neither
//! rustic nor the backup crate, and tests inject runners of their own. A run's [`JobOutcome`] is typed:
//! a failed run's alert says which source failed and why.

use std::path::Path;

use serde::{Deserialize, Serialize};
use tugboat::ops::CancelToken;

/// One run of a scheduled job.
#[derive(Debug)]
pub struct Job<'a> {
    /// `backup` or `drill` (the keys `watch.schedule` accepts).
    pub name: &'a str,
    /// The stack directory and `--env`, as `tug watch` was started with; the runner loads the stack
    /// itself, so a run sees `.env` as it is now.
    pub dir: &'a Path,
    pub environment: Option<&'a str>,
    /// The state database (`--state`).
    pub state: &'a Path,
    /// Set when the daemon stops: the job should stop at its next safe point.
    pub cancel: &'a CancelToken,
}

/// Runs scheduled jobs. Blocking: the daemon calls it on a blocking thread, one run of a job at a time.
pub trait JobRunner: Send + Sync {
    fn run(&self, job: &Job<'_>) -> JobOutcome;
}

/// Any `Fn(&Job) -> JobOutcome` is a runner (tests).
impl<F> JobRunner for F
where
    F: Fn(&Job<'_>) -> JobOutcome + Send + Sync,
{
    fn run(&self, job: &Job<'_>) -> JobOutcome {
        self(job)
    }
}

/// A runner for a daemon that has none: every job fails, saying so.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoJobs;

impl JobRunner for NoJobs {
    fn run(&self, job: &Job<'_>) -> JobOutcome {
        JobOutcome::failed(format!("{}: no job runner in this build of tug watch", job.name), vec![])
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobOutcome {
    pub ok: bool,
    /// One line: `backup: 2 sources backed up`, `backup: 1 of 2 sources failed`, or why the job could not
    /// start at all (no repository password, an invalid `tugboat.yml`).
    pub summary: String,
    /// The sources that failed and why, in the order the job ran them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<SourceFailure>,
}

/// A source of a backup or drill that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFailure {
    pub source: String,
    pub reason: String,
}

impl JobOutcome {
    pub fn passed(summary: impl Into<String>) -> JobOutcome {
        JobOutcome { ok: true, summary: summary.into(), failures: vec![] }
    }

    pub fn failed(summary: impl Into<String>, failures: Vec<SourceFailure>) -> JobOutcome {
        JobOutcome { ok: false, summary: summary.into(), failures }
    }

    /// The outcome in one line, for the status page and the alert's summary: the summary, then each
    /// failed source with its reason (`backup: 1 of 2 sources failed — db: cannot connect …`).
    pub fn line(&self) -> String {
        if self.failures.is_empty() {
            return self.summary.clone();
        }
        let failures: Vec<String> =
            self.failures.iter().map(|f| format!("{}: {}", f.source, one_line(&f.reason))).collect();
        format!("{} — {}", self.summary, failures.join("; "))
    }
}

/// Multi-line tool output (a dump tool's stderr) folded onto one line.
fn one_line(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_each_failed_source_and_why() {
        let outcome = JobOutcome::failed(
            "backup: 1 of 2 sources failed",
            vec![SourceFailure { source: "db".into(), reason: "cannot connect\n  to 127.0.0.1:1\n".into() }],
        );
        assert_eq!(outcome.line(), "backup: 1 of 2 sources failed — db: cannot connect | to 127.0.0.1:1");
        assert_eq!(JobOutcome::passed("backup: 2 sources backed up").line(), "backup: 2 sources backed up");
    }
}
