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
    let line = mask_secret_line(text.lines().nth(span.line as usize - 1)?);
    let number = span.line.to_string();
    let pad = " ".repeat(number.len());
    let caret_pad: String =
        line.chars().take(span.col.saturating_sub(1) as usize).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
    Some(format!("{pad}--> {span}\n{pad} |\n{number} | {line}\n{pad} | {caret_pad}^"))
}

/// The source line as a snippet may show it: errors go to terminals and CI logs, so a URL's password and the
/// value of a secret-named entry (`DB_PASSWORD=…` in `.env`, `password: …` in YAML) are masked. A `${VAR}`
/// reference is kept: it is the name, not the value, and the error may be about it.
fn mask_secret_line(line: &str) -> String {
    let line = crate::secret::mask_urls(line).into_owned();
    let Some(sep) = line.find(['=', ':']) else { return line };
    let key = line[..sep].trim().trim_start_matches("- ").trim_start_matches("export ").trim_matches(['"', '\'', ' ']);
    let value = line[sep + 1..].trim().trim_matches(['"', '\'']);
    if value.is_empty() || value.starts_with('$') || value == crate::secret::MASK || !crate::secret::is_secret_name(key)
    {
        return line;
    }
    let indent = line[sep + 1..].len() - line[sep + 1..].trim_start().len();
    format!("{}{}{}", &line[..=sep], &line[sep + 1..sep + 1 + indent], crate::secret::MASK)
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;

    use super::*;

    fn snippet_of(file_text: &str, line: u32, col: u32) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, file_text).unwrap();
        snippet(&Span::new(&Arc::new(PathBuf::from(&path)), line, col)).unwrap()
    }

    #[test]
    fn a_snippet_masks_secret_values_and_url_passwords_but_keeps_the_rest() {
        // A `.env` line that does not parse: the value of a secret-named entry is not shown.
        let s = snippet_of("A=1\nDB_PASSWORD=\"hunter2-canary\n", 2, 13);
        assert!(!s.contains("hunter2-canary") && s.contains("DB_PASSWORD=***"), "{s}");
        // A literal password in a URL (the error says so; it must not repeat it).
        let s = snippet_of("  main: { url: \"mysql://app:hunter2-canary@db:3306/shop\" }\n", 1, 17);
        assert!(!s.contains("hunter2-canary") && s.contains("mysql://app:***@db:3306/shop"), "{s}");
        let s = snippet_of("      password: hunter2-canary\n", 1, 17);
        assert!(!s.contains("hunter2-canary") && s.contains("password: ***"), "{s}");
        // What is not a secret, and a reference to one, stay as written.
        assert!(snippet_of("    ports: 12\n", 1, 12).contains("    ports: 12"));
        assert!(snippet_of("      DB_PASSWORD: ${DB_PASSWORD}\n", 1, 20).contains("${DB_PASSWORD}"));
        assert!(snippet_of("KEEP_DAYS=7\n", 1, 11).contains("KEEP_DAYS=7"));
    }
}
