//! `.env` files, read the way Docker Compose reads them: `KEY=VALUE`, optional `export `, `#` comments,
//! single quotes literal, double quotes with `\n`-style escapes, unquoted values trimmed and cut at ` #`.
//! Later values may refer to earlier ones (`B=${A}/x`), as in Compose v2.

use std::path::Path;
use std::sync::Arc;

use super::error::{ConfigError, Location};
use super::interpolate::interpolate;
use super::yaml::Span;

/// One `KEY=VALUE` line with the line it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct EnvEntry {
    pub name: String,
    pub value: String,
    pub line: u32,
}

/// Reads and parses an env file. `lookup` resolves `${VAR}` references that are not defined earlier in the file.
pub fn read(path: &Path, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Vec<EnvEntry>, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    parse(&text, &Arc::new(path.to_path_buf()), lookup)
}

/// Reads an env file in `format: raw`: `NAME=VALUE` lines taken as written (quotes and `$` included);
/// blank lines and `#` comments are skipped.
pub fn read_raw(path: &Path) -> Result<Vec<EnvEntry>, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    Ok(text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .filter_map(|(i, l)| {
            let (name, value) = l.split_once('=')?;
            Some(EnvEntry { name: name.trim().to_string(), value: value.to_string(), line: i as u32 + 1 })
        })
        .collect())
}

pub fn parse(
    text: &str,
    file: &Arc<std::path::PathBuf>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<EnvEntry>, ConfigError> {
    let mut entries: Vec<EnvEntry> = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, raw)) = lines.next() {
        let line_no = index as u32 + 1;
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map(str::trim_start).unwrap_or(line);
        let err =
            |col: usize, msg: String| ConfigError::at(Location::new(Span::new(file, line_no, col as u32 + 1), ""), msg);
        let Some(eq) = line.find('=') else {
            // A bare name means "take it from the environment", as in compose.
            let name = line.trim();
            if is_name(name) {
                if let Some(value) = lookup(name) {
                    // Like `NAME=value`, a later line replaces an earlier one (found by fuzzing).
                    entries.retain(|e| e.name != name);
                    entries.push(EnvEntry { name: name.to_string(), value, line: line_no });
                }
                continue;
            }
            return Err(err(0, format!("expected KEY=VALUE, found {line:?}")));
        };
        let name = line[..eq].trim();
        if !is_name(name) {
            return Err(err(0, format!("invalid variable name {name:?}")));
        }
        let rest = line[eq + 1..].trim_start();
        let value = if let Some(body) = rest.strip_prefix('\'') {
            let mut body = body.to_string();
            // Single-quoted values may span lines.
            while !body.contains('\'') {
                let Some((_, next)) = lines.next() else {
                    return Err(err(eq + 1, format!("unterminated single quote in the value of {name}")));
                };
                body.push('\n');
                body.push_str(next);
            }
            let end = body.find('\'').unwrap_or(body.len());
            body[..end].to_string()
        } else if let Some(body) = rest.strip_prefix('"') {
            let mut body = body.to_string();
            while closing_quote(&body).is_none() {
                let Some((_, next)) = lines.next() else {
                    return Err(err(eq + 1, format!("unterminated double quote in the value of {name}")));
                };
                body.push('\n');
                body.push_str(next);
            }
            let end = closing_quote(&body).unwrap_or(body.len());
            let unescaped = unescape(&body[..end]);
            expand(&unescaped, &entries, lookup).map_err(|m| err(eq + 1, m))?
        } else {
            let value = match rest.find(" #").or_else(|| rest.find("\t#")) {
                Some(cut) => &rest[..cut],
                None => rest,
            };
            expand(value.trim_end(), &entries, lookup).map_err(|m| err(eq + 1, m))?
        };
        entries.retain(|e| e.name != name);
        entries.push(EnvEntry { name: name.to_string(), value, line: line_no });
    }
    Ok(entries)
}

fn expand(value: &str, earlier: &[EnvEntry], lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let find = |k: &str| lookup(k).or_else(|| earlier.iter().rev().find(|e| e.name == k).map(|e| e.value.clone()));
    interpolate(value, &find, &mut Vec::new()).map_err(|e| e.message)
}

fn closing_quote(body: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some(i),
            _ => escaped = false,
        }
    }
    None
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

pub fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c == '.' || c == '-' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Vec<(String, String)> {
        parse(text, &Arc::new("x.env".into()), &|_| None).unwrap().into_iter().map(|e| (e.name, e.value)).collect()
    }

    #[test]
    fn forms() {
        let got = p("# comment\nA=1\nexport B = two words # note\nC='lit $A'\nD=\"x\\ny ${A}\"\nE=\nF=${A}/f\n");
        let want = [("A", "1"), ("B", "two words"), ("C", "lit $A"), ("D", "x\ny 1"), ("E", ""), ("F", "1/f")];
        let want: Vec<(String, String)> = want.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn multiline_quotes() {
        assert_eq!(p("K='a\nb'\n"), vec![("K".to_string(), "a\nb".to_string())]);
        assert_eq!(p("K=\"a\nb\"\n"), vec![("K".to_string(), "a\nb".to_string())]);
    }

    #[test]
    fn errors_name_the_line() {
        let err = parse("A=1\nnot valid\n", &Arc::new("x.env".into()), &|_| None).unwrap_err();
        assert!(err.to_string().starts_with("x.env:2:1"), "{err}");
        assert!(parse("A='open\n", &Arc::new("x.env".into()), &|_| None).is_err());
    }
}
