//! `tug smoke`: run a suite once, concurrently with a bound, and say what passed.

use serde::Serialize;

use crate::probe::{self, Check, Outcome, Prober, Status};

/// A suite's results, in the order its checks are written.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteReport {
    pub suite: String,
    pub ok: bool,
    pub passed: usize,
    pub failed: usize,
    pub not_applicable: usize,
    pub duration_ms: f64,
    pub checks: Vec<Outcome>,
}

pub async fn run(suite: &str, checks: &[Check], concurrency: usize) -> SuiteReport {
    let start = std::time::Instant::now();
    let prober = Prober::new();
    let outcomes = probe::run_all(&prober, checks, concurrency).await;
    let count = |s: Status| outcomes.iter().filter(|o| o.status == s).count();
    SuiteReport {
        suite: suite.to_string(),
        ok: outcomes.iter().all(Outcome::passed),
        passed: count(Status::Pass),
        failed: count(Status::Fail),
        not_applicable: count(Status::NotApplicable),
        duration_ms: start.elapsed().as_secs_f64() * 1000.0,
        checks: outcomes,
    }
}
