//! Exit codes, as DESIGN.md fixes them: 0 ok · 1 a problem was found · 2 bad usage or config · 3 could not act.

use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    /// The check, parity, smoke or drill found a problem.
    Problem = 1,
    /// Bad usage or configuration.
    Usage = 2,
    /// Could not act: an unreachable server, a failing tool, an unwritable state file.
    CannotAct = 3,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// A usage error raised by a command after argument parsing (an unknown environment, a file in the way).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

pub fn classify(err: &anyhow::Error) -> Exit {
    if err.downcast_ref::<tugboat::stack::ConfigError>().is_some() || err.downcast_ref::<UsageError>().is_some() {
        Exit::Usage
    } else {
        Exit::CannotAct
    }
}
