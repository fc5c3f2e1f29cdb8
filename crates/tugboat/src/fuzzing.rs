//! Fuzz targets of the engine's parsers (`fuzz/`), also replayed over the committed corpus by
//! `tests/fuzz_corpus.rs`. Each function takes any bytes, parses them, and panics when a property of the
//! parser does not hold (beside not panicking, hanging or allocating without bound on its own).
//! Not an API: hidden from the docs and used by the fuzz crate and the corpus test only.

use std::path::PathBuf;
use std::sync::Arc;

use crate::stack::config::{self, TugboatConfig};
use crate::stack::envfile;
use crate::stack::error::ConfigError;
use crate::stack::interpolate::{interpolate_with, References};
use crate::stack::yaml::{self, Node, NodeKind, Span};

/// `stack::yaml::parse`, then `Node::to_json`: every node, key and error points at a line of the text.
pub fn compose_yaml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let file = Arc::new(PathBuf::from("compose.yaml"));
    let lines = yaml_line_count(text);
    match yaml::parse(text, &file) {
        Ok(root) => {
            check_node(&root, &file, lines);
            let _ = root.to_json();
        }
        Err(error) => check_error_located(&error, &file, lines),
    }
}

/// `stack::interpolate` with a fixed environment: text without `$` comes back unchanged; an error's offset
/// is a `$`; every name referred to is a name; names reported unset have no value.
pub fn interpolation(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut refs = References::default();
    let result = interpolate_with(text, &fuzz_environment, &mut refs);
    if !text.contains('$') {
        assert_eq!(result.as_deref(), Ok(text), "text without `$` changed");
        assert!(refs.names.is_empty(), "text without `$` refers to {:?}", refs.names);
    }
    if let Err(error) = &result {
        assert_eq!(text.as_bytes().get(error.offset), Some(&b'$'), "error offset {} is no `$`", error.offset);
    }
    for name in &refs.names {
        assert!(is_interpolation_name(name), "referred to {name:?}, which is no variable name");
    }
    for name in &refs.unset {
        assert!(fuzz_environment(name).is_none(), "{name:?} reported unset but has a value");
        assert!(refs.names.contains(name), "{name:?} reported unset but not referred to");
    }
}

/// `stack::envfile::parse`: names valid, lines in range, no name twice; errors located.
pub fn envfile(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let file = Arc::new(PathBuf::from(".env"));
    // `str::lines` is what the parser counts by (`\n`, with `\r\n` as one break).
    let lines = text.lines().count().max(1);
    match envfile::parse(text, &file, &fuzz_environment) {
        Ok(entries) => {
            let mut seen = std::collections::BTreeSet::new();
            for entry in &entries {
                assert!(envfile::is_name(&entry.name), "entry name {:?} is no variable name", entry.name);
                assert!((1..=lines).contains(&(entry.line as usize)), "entry {} at line {}", entry.name, entry.line);
                assert!(seen.insert(entry.name.as_str()), "{} appears twice", entry.name);
            }
        }
        Err(error) => check_error_located(&error, &file, lines),
    }
}

/// `stack::config::load` (YAML, serde, validation): errors located; a loaded config, written back as
/// JSON (which is YAML), loads again to the same config.
pub fn tugboat_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let scratch = ScratchFile::new();
    let lines = yaml_line_count(text);
    let config = match scratch.load(text) {
        Ok(config) => config,
        Err(error) => {
            check_error_located(&error, &scratch.file, lines);
            return;
        }
    };
    let written = match serde_json::to_string(&config) {
        Ok(json) => json,
        Err(e) => panic!("a loaded config does not serialize: {e}"),
    };
    match scratch.load(&written) {
        Ok(again) => assert_eq!(
            serde_json::to_value(&again).ok(),
            serde_json::to_value(&config).ok(),
            "the config read back differs from the one written: {written}"
        ),
        Err(e) => panic!("a loaded config does not read back: {e}\nwritten: {written}"),
    }
}

/// A fixed environment for interpolation: names starting with `S` are set (empty for `SE…`), others unset.
fn fuzz_environment(name: &str) -> Option<String> {
    match name.strip_prefix('S') {
        Some(rest) if rest.starts_with('E') => Some(String::new()),
        Some(rest) => Some(format!("value-of-{rest}")),
        None => None,
    }
}

/// `[_A-Za-z][_A-Za-z0-9]*`, the names `$NAME` and `${NAME…}` take.
fn is_interpolation_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b == b'_' || b.is_ascii_alphabetic())
        && bytes.all(|b| b == b'_' || b.is_ascii_alphanumeric())
}

/// Lines as YAML counts them: `\n`, `\r\n` and a lone `\r` each end one; a position may be just past the end.
fn yaml_line_count(text: &str) -> usize {
    let bytes = text.as_bytes();
    let breaks = bytes
        .iter()
        .enumerate()
        .filter(|(i, b)| **b == b'\n' || (**b == b'\r' && bytes.get(i + 1) != Some(&b'\n')))
        .count();
    breaks + 1
}

fn check_span(span: &Span, file: &Arc<PathBuf>, lines: usize, what: &str) {
    assert_eq!(span.file, *file, "{what} points into another file: {span}");
    assert!((1..=lines).contains(&(span.line as usize)), "{what} at line {} of {lines}: {span}", span.line);
    assert!(span.col >= 1, "{what} at column 0: {span}");
}

fn check_node(node: &Node, file: &Arc<PathBuf>, lines: usize) {
    check_span(&node.span, file, lines, "a node");
    match &node.kind {
        NodeKind::Scalar { .. } => {}
        NodeKind::Seq(items) => items.iter().for_each(|item| check_node(item, file, lines)),
        NodeKind::Map(entries) => {
            for (key, value) in entries {
                check_span(&key.span, file, lines, "a key");
                check_node(value, file, lines);
            }
        }
    }
}

fn check_error_located(error: &ConfigError, file: &Arc<PathBuf>, lines: usize) {
    for single in error.flatten() {
        match single.location() {
            Some(location) => check_span(&location.span, file, lines, "an error"),
            None => panic!("an error without a location: {single}"),
        }
    }
}

/// A `tugboat.yml` in a directory of its own (per thread: the corpus test runs inputs in parallel threads).
struct ScratchFile {
    dir: PathBuf,
    file: Arc<PathBuf>,
}

impl ScratchFile {
    fn new() -> ScratchFile {
        let dir = std::env::temp_dir()
            .join(format!("tugboat-fuzz-{}-{:?}", std::process::id(), std::thread::current().id()))
            .join("stack");
        if let Err(e) = std::fs::create_dir_all(&dir) {
            panic!("cannot create {}: {e}", dir.display());
        }
        let file = Arc::new(dir.join("tugboat.yml"));
        ScratchFile { dir, file }
    }

    fn load(&self, text: &str) -> Result<TugboatConfig, ConfigError> {
        if let Err(e) = std::fs::write(self.file.as_path(), text) {
            panic!("cannot write {}: {e}", self.file.display());
        }
        config::load(&self.file).map(|(config, _)| config)
    }
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        if let Some(parent) = self.dir.parent() {
            let _ = std::fs::remove_dir_all(parent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regression_tugboat_config_huge_duration_number() {
        let text = b"watch:\n  maintenance:\n    - cron: \"0 3 * * 0\"\n      duration: 1e300\n";
        tugboat_config(text);
        let scratch = ScratchFile::new();
        let error = match scratch.load(std::str::from_utf8(text).unwrap_or_default()) {
            Ok(_) => panic!("a duration of 1e300 seconds was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(error.contains(":4:"), "not located at line 4: {error}");
    }

    #[test]
    fn regression_compose_yaml_end_past_last_line() {
        compose_yaml(b"t:\n ");
        compose_yaml(b"chkpodsic:\ny");
        let file = Arc::new(PathBuf::from("compose.yaml"));
        match yaml::parse("a: [1,\n", &file) {
            Err(e) => assert!(e.to_string().starts_with("compose.yaml:2:"), "{e}"),
            Ok(_) => panic!("an unclosed flow sequence parsed"),
        }
    }

    #[test]
    fn regression_envfile_bare_name_twice() {
        envfile(b"S=1\nS\n");
        let entries =
            envfile::parse("S=1\nS\n", &Arc::new(PathBuf::from(".env")), &fuzz_environment).unwrap_or_default();
        let names: Vec<(&str, u32)> = entries.iter().map(|e| (e.name.as_str(), e.line)).collect();
        assert_eq!(names, [("S", 2)]);
    }

    #[test]
    fn yaml_lines_end_as_yaml_ends_them() {
        assert_eq!(yaml_line_count("a"), 1);
        assert_eq!(yaml_line_count("a\n"), 2);
        assert_eq!(yaml_line_count("a\r\nb\rc"), 3);
    }
}
