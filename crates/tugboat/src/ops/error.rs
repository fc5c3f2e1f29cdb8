//! Error classes: every engine error says which kind of failure it is, and may say what would fix it.
//!
//! The CLI derives the exit code from the kind in one place and turns guidance into a flag hint; the
//! engine's messages never name a CLI flag, because the same operations run from `tug watch` and from
//! cutover plans, where there is no flag to pass.

use serde::Serialize;

/// What kind of failure an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request does not make sense (an unknown source, a target that would be overwritten).
    Usage,
    /// The configuration is wrong (tugboat.yml, compose files, an unset variable they need).
    Config,
    /// The operation ran and found a problem (a failed drill, parity differences).
    Problem,
    /// It could not act: a server down, a tool missing or failing, a file not writable.
    CannotAct,
    /// Like `CannotAct`, but trying again later may well succeed (a lock held, a timeout).
    Retryable,
    /// Stopped by Ctrl-C or SIGTERM.
    Interrupted,
}

/// What the caller can do about an error, beyond its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guidance {
    /// The target holds data: replacing it must be allowed explicitly (the CLI names its flag).
    AllowReplace,
    /// Free text: a command to run first, a package to install.
    Note(String),
}

/// Implemented by every engine error type.
pub trait Classify: std::error::Error {
    fn kind(&self) -> ErrorKind;
    fn guidance(&self) -> Option<Guidance> {
        None
    }
}

/// The one error type of operations: any classified engine error, or one made on the spot.
pub struct Error {
    kind: ErrorKind,
    guidance: Option<Guidance>,
    inner: Box<dyn std::error::Error + Send + Sync>,
}

/// A message-only error (for [`Error::new`]).
#[derive(Debug)]
struct Message(String);

impl std::fmt::Display for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Message {}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error { kind, guidance: None, inner: Box::new(Message(message.into())) }
    }

    pub fn usage(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Usage, message)
    }

    pub fn cannot_act(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::CannotAct, message)
    }

    pub fn interrupted() -> Error {
        Error::new(ErrorKind::Interrupted, "interrupted")
    }

    pub fn with_guidance(mut self, guidance: Guidance) -> Error {
        self.guidance = Some(guidance);
        self
    }

    /// Any error, classified as `kind` (an I/O error while writing a file: `CannotAct`).
    pub fn other(kind: ErrorKind, err: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error { kind, guidance: None, inner: Box::new(err) }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn guidance(&self) -> Option<&Guidance> {
        self.guidance.as_ref()
    }

    /// The wrapped error, to downcast (`ConfigError` renders its source snippet).
    pub fn inner(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self.inner.as_ref()
    }

    /// The first line of the message, for an audit event's outcome.
    pub fn summary(&self) -> String {
        self.to_string().lines().next().unwrap_or("").chars().take(300).collect()
    }
}

impl<E: Classify + Send + Sync + 'static> From<E> for Error {
    fn from(err: E) -> Error {
        Error { kind: err.kind(), guidance: err.guidance(), inner: Box::new(err) }
    }
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Error").field("kind", &self.kind).field("message", &self.inner.to_string()).finish()
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl std::error::Error for Error {
    // The wrapped error *is* this error; its causes are ours.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.source()
    }
}

/// `Result` of operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
