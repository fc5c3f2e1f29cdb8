//! Reading typed values out of the located tree: every scalar in it is text, so numbers, booleans, byte
//! sizes and durations are parsed here, and each failure becomes an error at the value's file:line:col.
//! Problems are collected (not returned) so one run reports every bad key of every service.

use std::collections::HashMap;

use tugboat::stack::{ConfigError, Location, Node, Span};

/// The errors found so far, and typed readers that add to them.
#[derive(Default)]
pub(super) struct Cx {
    pub errors: Vec<ConfigError>,
}

impl Cx {
    pub fn at(&mut self, span: &Span, path: &str, msg: impl Into<String>) {
        self.errors.push(ConfigError::at(Location::new(span.clone(), path), msg));
    }

    /// "`KEY` is not supported by tug's runtime (WHY)", at the key.
    pub fn unsupported(&mut self, span: &Span, path: &str, key: &str, why: &str) {
        self.at(span, path, format!("`{key}` is not supported by tug's runtime ({why})"));
    }

    /// Checks the keys of a mapping: `x-*` extensions are ignored, `handled` keys are read by the caller,
    /// `refused` ones get their reason, anything else is reported as unknown to the runtime.
    pub fn keys(&mut self, node: &Node, path: &str, handled: &[&str], refused: &[(&str, &str)]) {
        for (k, _) in node.as_map().unwrap_or(&[]) {
            let name = k.name.as_str();
            if name.starts_with("x-") || handled.contains(&name) {
                continue;
            }
            let why =
                refused.iter().find(|(r, _)| *r == name).map_or("tug's runtime does not know this key", |(_, w)| w);
            self.unsupported(&k.span, &join(path, name), name, why);
        }
    }

    /// A scalar's text (numbers and booleans as written); `None` for null. Collections are errors.
    pub fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        if node.is_null() {
            return None;
        }
        match node.as_str() {
            Some(s) => Some(s.to_string()),
            None => {
                self.at(&node.span, path, format!("expected a string, found {}", node.kind_name()));
                None
            }
        }
    }

    pub fn bool(&mut self, node: &Node, path: &str) -> Option<bool> {
        if node.is_null() {
            return None;
        }
        let b = node.as_bool();
        if b.is_none() {
            self.at(&node.span, path, format!("expected true or false, found {}", describe(node)));
        }
        b
    }

    /// An integer as go-yaml reads a plain one (`0o17`, `0x1f`, a leading `0` is octal); quoted text is decimal.
    pub fn int(&mut self, node: &Node, path: &str) -> Option<i64> {
        if node.is_null() {
            return None;
        }
        let parsed = match node.to_json() {
            serde_json::Value::Number(n) => n.as_i64(),
            serde_json::Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        if parsed.is_none() {
            self.at(&node.span, path, format!("expected an integer, found {}", describe(node)));
        }
        parsed
    }

    pub fn float(&mut self, node: &Node, path: &str) -> Option<f64> {
        if node.is_null() {
            return None;
        }
        let parsed = match node.to_json() {
            serde_json::Value::Number(n) => n.as_f64(),
            serde_json::Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
            _ => None,
        };
        if parsed.is_none() {
            self.at(&node.span, path, format!("expected a number, found {}", describe(node)));
        }
        parsed
    }

    /// A byte size: a plain number of bytes, or `512m`, `1gb`, `1.5GiB` (binary multiples, as Compose's
    /// `units.RAMInBytes`).
    pub fn bytes(&mut self, node: &Node, path: &str) -> Option<i64> {
        if node.is_null() {
            return None;
        }
        let parsed = match node.to_json() {
            serde_json::Value::Number(n) => n.as_i64(),
            serde_json::Value::String(s) => parse_size(&s),
            _ => None,
        };
        if parsed.is_none() {
            self.at(&node.span, path, format!("expected a byte size like 512m or 1gb, found {}", describe(node)));
        }
        parsed
    }

    /// A Go duration (`1m30s`, `500ms`, `10s`) in nanoseconds.
    pub fn duration(&mut self, node: &Node, path: &str) -> Option<i64> {
        if node.is_null() {
            return None;
        }
        let parsed = node.as_str().and_then(parse_duration);
        if parsed.is_none() {
            self.at(&node.span, path, format!("expected a duration like 30s or 1m30s, found {}", describe(node)));
        }
        parsed
    }

    /// A list of strings (a single scalar counts as a one-item list); `None` for null.
    pub fn strings(&mut self, node: &Node, path: &str) -> Option<Vec<String>> {
        if node.is_null() {
            return None;
        }
        match node.as_seq() {
            Some(items) => Some(
                items.iter().enumerate().filter_map(|(i, item)| self.string(item, &format!("{path}[{i}]"))).collect(),
            ),
            None => self.string(node, path).map(|s| vec![s]),
        }
    }

    /// A mapping of scalars, in file order (null values read as empty strings).
    pub fn pairs(&mut self, node: &Node, path: &str) -> Vec<(String, String)> {
        if node.is_null() {
            return Vec::new();
        }
        let Some(entries) = node.as_map() else {
            self.at(&node.span, path, format!("expected a mapping, found {}", node.kind_name()));
            return Vec::new();
        };
        entries
            .iter()
            .map(|(k, v)| (k.name.clone(), self.string(v, &join(path, &k.name)).unwrap_or_default()))
            .collect()
    }

    pub fn map(&mut self, node: &Node, path: &str) -> HashMap<String, String> {
        self.pairs(node, path).into_iter().collect()
    }
}

pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn describe(node: &Node) -> String {
    match node.as_str() {
        Some(s) => format!("{s:?}"),
        None => node.kind_name().to_string(),
    }
}

/// `units.RAMInBytes`: `^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$`, multiples of 1024.
pub(super) fn parse_size(text: &str) -> Option<i64> {
    let s = text.trim();
    let digits_end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, rest) = s.split_at(digits_end);
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') || number.contains("..") {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    let mut unit = rest.strip_prefix(' ').unwrap_or(rest).chars().peekable();
    let power = match unit.peek().map(char::to_ascii_lowercase) {
        Some(c @ ('k' | 'm' | 'g' | 't' | 'p')) => {
            unit.next();
            match c {
                'k' => 1,
                'm' => 2,
                'g' => 3,
                't' => 4,
                _ => 5,
            }
        }
        _ => 0,
    };
    let tail: String = unit.collect::<String>().to_ascii_lowercase();
    if !matches!(tail.as_str(), "" | "b" | "i" | "ib") {
        return None;
    }
    let bytes = value * 1024f64.powi(power);
    (bytes.is_finite() && bytes < i64::MAX as f64).then_some(bytes as i64)
}

/// Go's `time.ParseDuration`: `[-+]` then one or more `<decimal><unit>`; `0` alone is allowed.
pub(super) fn parse_duration(text: &str) -> Option<i64> {
    let s = text.trim();
    let (negative, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (number, after) = rest.split_at(end);
        if number.is_empty() || number == "." {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        let unit_end = after.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_end);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += value * scale;
        rest = next;
    }
    if total > i64::MAX as f64 {
        return None;
    }
    let ns = total.round() as i64;
    Some(if negative { -ns } else { ns })
}

/// `json.Compact`: the JSON text with insignificant whitespace removed, everything else (key order, number
/// spelling) kept — what Compose inlines for a `seccomp=FILE` security option.
pub(super) fn compact_json(text: &str) -> Result<String, String> {
    serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|e| e.to_string())?;
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    Ok(out)
}
