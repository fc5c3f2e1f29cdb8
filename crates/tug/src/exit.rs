//! Exit codes, as DESIGN.md fixes them: 0 ok · 1 a problem was found · 2 bad usage or config · 3 could not act.

use std::process::ExitCode;

use tugboat::ops::ErrorKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    /// The check, parity, smoke or drill found a problem.
    Problem = 1,
    /// Bad usage or configuration.
    Usage = 2,
    /// Could not act: an unreachable server, a failing tool, an unwritable state file.
    CannotAct = 3,
    /// Stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).
    Interrupted = 130,
}

impl From<ErrorKind> for Exit {
    fn from(kind: ErrorKind) -> Exit {
        match kind {
            ErrorKind::Usage | ErrorKind::Config => Exit::Usage,
            ErrorKind::Problem => Exit::Problem,
            ErrorKind::CannotAct | ErrorKind::Retryable => Exit::CannotAct,
            ErrorKind::Interrupted => Exit::Interrupted,
        }
    }
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

/// The exit code of an error: its engine class, else usage for the CLI's own usage errors, else "could not act".
pub fn classify(err: &anyhow::Error) -> Exit {
    if let Some(e) = err.downcast_ref::<tugboat::ops::Error>() {
        return e.kind().into();
    }
    if let Some(kind) = err.chain().find_map(engine_kind) {
        return kind.into();
    }
    if err.downcast_ref::<UsageError>().is_some() {
        Exit::Usage
    } else {
        Exit::CannotAct
    }
}

/// The class of an engine error that reached the CLI without passing through an operation.
fn engine_kind(e: &(dyn std::error::Error + 'static)) -> Option<ErrorKind> {
    use tugboat::ops::Classify;
    if let Some(e) = e.downcast_ref::<tugboat::stack::ConfigError>() {
        return Some(e.kind());
    }
    if let Some(e) = e.downcast_ref::<tugboat::db::DbError>() {
        return Some(e.kind());
    }
    if let Some(e) = e.downcast_ref::<tugboat::store::StoreError>() {
        return Some(e.kind());
    }
    e.downcast_ref::<tugboat::stack::SecretError>().map(|e| e.kind())
}
