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

/// `tug smoke` as an engine operation: the plan is the suite's checks, compiled; running probes them once.
pub struct Smoke<'a> {
    pub stack: &'a tugboat::stack::Stack,
    /// The suite under `checks:`; `None` picks `smoke`, or the only suite.
    pub suite: Option<String>,
    pub concurrency: usize,
}

/// The checks a smoke run will probe.
#[derive(Debug, Clone, Serialize)]
pub struct SmokePlan {
    pub suite: String,
    pub checks: Vec<PlannedCheck>,
    pub concurrency: usize,
    #[serde(skip)]
    compiled: Vec<Check>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedCheck {
    pub name: String,
    pub kind: &'static str,
    pub target: String,
}

impl std::fmt::Display for SmokePlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "suite {}: {} checks, {} at a time", self.suite, self.checks.len(), self.concurrency)?;
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        for c in &self.checks {
            writeln!(f, "  {:<width$}  {:<9} {}", c.name, c.kind, c.target)?;
        }
        Ok(())
    }
}

impl tugboat::ops::Verdict for SuiteReport {
    fn problem(&self) -> Option<String> {
        let failed: Vec<&str> = self.checks.iter().filter(|c| !c.passed()).map(|c| c.name.as_str()).collect();
        (!self.ok).then(|| format!("failed: {}", failed.join(", ")))
    }
    fn audit_summary(&self) -> serde_json::Value {
        serde_json::json!({"passed": self.passed, "failed": self.failed, "not_applicable": self.not_applicable})
    }
}

impl tugboat::ops::Operation for Smoke<'_> {
    type Plan = SmokePlan;
    type Report = SuiteReport;

    fn command(&self) -> &'static str {
        "smoke"
    }

    fn subject(&self) -> tugboat::ops::Subject {
        tugboat::ops::Subject::of(self.stack)
    }

    fn request(&self) -> serde_json::Value {
        serde_json::json!({"suite": self.suite, "concurrency": self.concurrency})
    }

    fn plan(&self, _ctx: &mut tugboat::ops::Ctx) -> tugboat::ops::Result<SmokePlan> {
        use tugboat::ops::Error;
        let suites: Vec<&String> = self.stack.config.checks.keys().collect();
        let suite = match &self.suite {
            Some(s) => s.clone(),
            None if self.stack.config.checks.contains_key("smoke") => "smoke".into(),
            None if suites.len() == 1 => suites[0].clone(),
            None if suites.is_empty() => return Err(Error::usage("tugboat.yml has no `checks:`; define a suite")),
            None => {
                let list = suites.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
                return Err(Error::usage(format!("name a suite: {list}")));
            }
        };
        let compiled = probe::compile(self.stack, Some(std::slice::from_ref(&suite)))?;
        let checks = compiled
            .iter()
            .map(|c| PlannedCheck { name: c.name.clone(), kind: c.kind, target: c.target.clone() })
            .collect();
        Ok(SmokePlan { suite, checks, concurrency: self.concurrency, compiled })
    }

    fn run(&self, plan: &SmokePlan, ctx: &mut tugboat::ops::Ctx) -> tugboat::ops::Result<SuiteReport> {
        let runtime =
            crate::runtime().map_err(|e| tugboat::ops::Error::cannot_act(format!("cannot start the probes: {e}")))?;
        let report = runtime.block_on(run(&plan.suite, &plan.compiled, plan.concurrency));
        // Kept for gates (`smoke_passed_within` of a cutover plan).
        let summary =
            format!("{} passed, {} failed, {} not applicable", report.passed, report.failed, report.not_applicable);
        ctx.store.record_smoke(&self.stack.name, &plan.suite, report.ok, &summary)?;
        Ok(report)
    }
}
