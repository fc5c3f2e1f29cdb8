//! The operations layer: every command that changes something is **plan → run → report**.
//!
//! ```text
//!  request ──plan()──▶ Plan ──(dry run: print it)──▶ report
//!     │                 │
//!     │                 └──run()──▶ Report ──▶ rendered by the caller (CLI, watch, a cutover plan)
//!     └── audit: Store::begin before planning; exactly one event on every path (see store::operation)
//! ```
//!
//! `plan` resolves everything (endpoints, repository, targets, snapshots) and touches nothing; its
//! result is `Serialize` (the `--dry-run --json` document, and the audit event's parameters) and
//! `Display` (the human dry run). `run` acts, looking at the cancellation token at its safe points.
//! [`execute`] is the one place that ties the two to the audit log, so no caller can forget it.

pub mod cancel;
pub mod clock;
pub mod error;

use std::fmt::Display;

use serde::Serialize;
use serde_json::Value;

pub use cancel::CancelToken;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Classify, Error, ErrorKind, Guidance, Result};

use crate::store::{self, Outcome, Store};

/// Progress of a long operation, for a terminal; every method defaults to nothing (`--json`, tests).
pub trait Progress: Sync {
    /// A step began: a source, a table, a stage. `index` of `total` when steps are counted.
    fn started(&self, _step: &str, _index: usize, _total: usize) {}
    /// Bytes moved so far by the step.
    fn bytes(&self, _step: &str, _bytes: u64) {}
    /// The step ended.
    fn finished(&self, _step: &str, _ok: bool) {}
}

impl Progress for () {}

/// What an operation runs with.
pub struct Ctx<'a> {
    pub store: &'a mut Store,
    pub progress: &'a dyn Progress,
    pub cancel: CancelToken,
    pub clock: &'a dyn Clock,
}

/// Whose operation it is, for the audit event.
#[derive(Debug, Clone, Default)]
pub struct Subject {
    pub stack: String,
    pub config_digest: String,
}

impl Subject {
    pub fn of(stack: &crate::stack::Stack) -> Subject {
        Subject { stack: stack.name.clone(), config_digest: stack.config_digest() }
    }

    /// An operation outside any stack (a migration between two URLs).
    pub fn none() -> Subject {
        Subject { stack: "-".into(), config_digest: String::new() }
    }
}

/// How a report ends the operation.
pub trait Verdict {
    /// `Some(reason)` when the operation ran and found a problem (a failed source, parity differences).
    fn problem(&self) -> Option<String>;
    /// What the audit event keeps of the report, merged into the plan's parameters.
    fn audit_summary(&self) -> Value {
        Value::Null
    }
}

/// An acting capability: a request that can be planned and run.
pub trait Operation {
    type Plan: Serialize + Display;
    type Report: Serialize + Verdict;
    /// The audit log's command name (`backup`, `backup forget`, `restore`).
    fn command(&self) -> &'static str;
    fn subject(&self) -> Subject;
    /// The request as the audit event records it when planning fails.
    fn request(&self) -> Value;
    /// Resolves everything and changes nothing.
    fn plan(&self, ctx: &mut Ctx) -> Result<Self::Plan>;
    /// Acts.
    fn run(&self, plan: &Self::Plan, ctx: &mut Ctx) -> Result<Self::Report>;
}

/// Run the plan, or only show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Run,
    DryRun,
}

impl Mode {
    pub fn dry_run(dry_run: bool) -> Mode {
        if dry_run {
            Mode::DryRun
        } else {
            Mode::Run
        }
    }
}

/// What [`execute`] did.
#[derive(Debug)]
pub enum Executed<P, R> {
    /// `--dry-run`: the plan, nothing changed.
    Planned(P),
    /// It ran; the report may still hold a problem ([`Verdict::problem`]).
    Ran(P, R),
}

/// Plans and (unless a dry run) runs `op`, with exactly one audit event whatever happens.
pub fn execute<O: Operation>(op: &O, ctx: &mut Ctx, mode: Mode) -> Result<Executed<O::Plan, O::Report>> {
    let subject = op.subject();
    let guard = ctx.store.begin(store::Operation {
        command: op.command().into(),
        stack: subject.stack,
        config_digest: subject.config_digest,
        params: op.request(),
    })?;
    let finish = |guard: store::OpGuard, outcome: Outcome| -> Result<()> {
        guard.finish(outcome)?;
        Ok(())
    };
    let plan = match op.plan(ctx) {
        Ok(plan) => plan,
        Err(e) => {
            finish(guard, outcome_of(&e))?;
            return Err(e);
        }
    };
    guard.set_params(serde_json::to_value(&plan).unwrap_or(Value::Null));
    if mode == Mode::DryRun {
        finish(guard, Outcome::DryRun)?;
        return Ok(Executed::Planned(plan));
    }
    let ran = ctx.cancel.check().and_then(|()| op.run(&plan, ctx));
    match ran {
        Ok(report) => {
            if let Value::Object(summary) = report.audit_summary() {
                for (k, v) in summary {
                    guard.add_param(&k, v);
                }
            }
            let outcome = match report.problem() {
                Some(reason) => Outcome::Failed(reason),
                None => Outcome::Ok,
            };
            finish(guard, outcome)?;
            Ok(Executed::Ran(plan, report))
        }
        // Stopped by a signal: whatever error the stop caused (a scratch server killed under a restore)
        // is an interruption.
        Err(_) if ctx.cancel.is_cancelled() => {
            finish(guard, Outcome::Interrupted)?;
            Err(Error::interrupted())
        }
        Err(e) => {
            finish(guard, outcome_of(&e))?;
            Err(e)
        }
    }
}

fn outcome_of(e: &Error) -> Outcome {
    match e.kind() {
        ErrorKind::Interrupted => Outcome::Interrupted,
        _ => Outcome::Failed(e.summary()),
    }
}

impl Classify for store::StoreError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::CannotAct
    }
}

impl Classify for crate::stack::ConfigError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Config
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
