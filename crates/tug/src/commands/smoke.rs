//! `tug smoke [SUITE]`: run a suite of checks once; exit 1 when any fails.

use std::io::Write;

use serde_json::json;
use tugboat::store::Outcome as AuditOutcome;
use tugboat_watch::probe::{self, Status};
use tugboat_watch::smoke::{self, SuiteReport};

use crate::cli::{Global, SmokeArgs};
use crate::exit::{Exit, UsageError};
use crate::render::style::{paint, BOLD, DIM, HIGH, MEDIUM, OK};

pub fn run(g: &Global, args: &SmokeArgs) -> anyhow::Result<Exit> {
    // Checks need only their own variables; the compose file's are read from the template when no .env
    // exists (smoke runs from a machine that has no secrets, e.g. the LAN-side exposure checks).
    let stack = super::load_stack(&args.dir, g, true)?;
    let suites: Vec<&String> = stack.config.checks.keys().collect();
    let suite = match &args.suite {
        Some(s) => s.clone(),
        None if stack.config.checks.contains_key("smoke") => "smoke".into(),
        None if suites.len() == 1 => suites[0].clone(),
        None if suites.is_empty() => {
            return Err(UsageError("tugboat.yml has no `checks:`; define a suite".into()).into())
        }
        None => {
            let list = suites.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
            return Err(UsageError(format!("name a suite: {list}")).into());
        }
    };
    let checks = probe::compile(&stack, Some(std::slice::from_ref(&suite)))?;
    let report = tugboat_watch::runtime()?.block_on(smoke::run(&suite, &checks, args.concurrency));

    let mut store = super::open_store(&args.dir, g)?;
    let failed: Vec<&str> = report.checks.iter().filter(|c| !c.passed()).map(|c| c.name.as_str()).collect();
    let outcome =
        if report.ok { AuditOutcome::Ok } else { AuditOutcome::Failed(format!("failed: {}", failed.join(", "))) };
    let params = json!({"suite": suite, "passed": report.passed, "failed": report.failed, "not_applicable": report.not_applicable});
    super::record(&mut store, &stack.name, stack.config_digest(), "smoke", params, outcome)?;

    if g.json {
        super::print_json(&report)?;
    } else {
        print(&report);
    }
    Ok(if report.ok { Exit::Ok } else { Exit::Problem })
}

fn print(r: &SuiteReport) {
    let mut out = anstream::stdout();
    let width = r.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for c in &r.checks {
        let status = match c.status {
            Status::Pass => paint(OK, "pass"),
            Status::Fail => paint(HIGH, "FAIL"),
            Status::NotApplicable => paint(DIM, "n/a "),
        };
        let timing = format!("{:.0} ms", c.duration_ms);
        let _ = writeln!(
            out,
            "{status}  {}  {:<5} {}  {}",
            paint(BOLD, &format!("{:<width$}", c.name)),
            c.kind,
            c.target,
            paint(DIM, &timing)
        );
        if c.status == Status::Fail {
            for cond in c.conditions.iter().filter(|cond| !cond.ok) {
                let _ = writeln!(out, "      {} {}  observed {}", paint(HIGH, "✗"), cond.condition, cond.observed);
            }
        }
        if let Some(e) = &c.error {
            let _ = writeln!(out, "      {}", paint(MEDIUM, e));
        }
        if c.status != Status::Pass {
            for d in &c.diagnostics {
                let _ = writeln!(out, "      {}", paint(DIM, d));
            }
        }
    }
    let verdict = if r.ok { paint(OK, "smoke passed:") } else { paint(HIGH, "smoke failed:") };
    let na = if r.not_applicable > 0 { format!(", {} not applicable", r.not_applicable) } else { String::new() };
    let _ = writeln!(
        out,
        "{verdict} suite {}: {} passed, {} failed{na} in {:.1} s",
        r.suite,
        r.passed,
        r.failed,
        r.duration_ms / 1000.0
    );
}
