//! Configuration errors that point at the file, line, column and key the user has to fix.

use std::fmt;
use std::path::PathBuf;

use super::yaml::Span;

/// A position in a config file plus the dotted key path that leads to it (`services.web.ports[1]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Location {
    pub span: Span,
    pub key_path: String,
}

impl Location {
    pub fn new(span: Span, key_path: impl Into<String>) -> Location {
        Location { span, key_path: key_path.into() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Something wrong at a known place in a file.
    #[error("{}{}{message}", .location.span, key_prefix(&.location.key_path))]
    At { location: Location, message: String },
    #[error("cannot read {}: {source}", .path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Other(String),
    /// Several independent problems, reported together so a user fixes them in one pass.
    #[error("{}", join_errors(.0))]
    Many(Vec<ConfigError>),
}

fn key_prefix(path: &str) -> String {
    if path.is_empty() {
        ": ".to_string()
    } else {
        format!(": {path}: ")
    }
}

fn join_errors(errors: &[ConfigError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

impl ConfigError {
    pub fn at(location: Location, message: impl Into<String>) -> ConfigError {
        ConfigError::At { location, message: message.into() }
    }

    /// Flattens a list into one error (or none).
    pub fn collect(mut errors: Vec<ConfigError>) -> Result<(), ConfigError> {
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(ConfigError::Many(errors)),
        }
    }

    /// Each single error in this one.
    pub fn flatten(&self) -> Vec<&ConfigError> {
        match self {
            ConfigError::Many(all) => all.iter().flat_map(ConfigError::flatten).collect(),
            other => vec![other],
        }
    }

    pub fn location(&self) -> Option<&Location> {
        match self {
            ConfigError::At { location, .. } => Some(location),
            _ => None,
        }
    }
}

/// The offending source line with a caret under the column, in the style of `just`:
/// ```text
///   --> docker-compose.yml:4:12
///    |
///  4 |     ports: 12
///    |            ^
/// ```
pub fn snippet(span: &Span) -> Option<String> {
    if span.line == 0 {
        return None;
    }
    let text = std::fs::read_to_string(span.path()).ok()?;
    let line = text.lines().nth(span.line as usize - 1)?;
    let number = span.line.to_string();
    let pad = " ".repeat(number.len());
    let caret_pad: String =
        line.chars().take(span.col.saturating_sub(1) as usize).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
    Some(format!("{pad}--> {span}\n{pad} |\n{number} | {line}\n{pad} | {caret_pad}^"))
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.span)?;
        if !self.key_path.is_empty() {
            write!(f, " ({})", self.key_path)?;
        }
        Ok(())
    }
}
