//! The condition language of `expect:`, in the style of Gatus:
//!
//! ```text
//! [STATUS] == 200                 [RESPONSE_TIME] < 500          [BODY].status == "ok"
//! [BODY] == pat(*healthy*)        [STATUS] == any(200, 204)      len([BODY].data) > 0
//! has([BODY].errors) == false     [CONNECTED] == true            [CERTIFICATE_EXPIRATION] > 720h
//! ```
//!
//! A condition is `operand OP operand` with OP one of `== != < <= > >=`. An operand is a placeholder
//! (`[NAME]`, any case, optionally followed by a JSON path `.key`, `[0]`), `len(…)`/`has(…)` of a
//! placeholder, `pat(glob)` or `any(a, b, …)` (either side of `==`/`!=`), or a literal (`true`/`false`, a
//! quoted or bare string). Parse errors carry the 1-based column.
//!
//! Values are read as Gatus reads them (docs/watch.md, "Conditions"): text that is a number compares as
//! one — decimal, or a Go integer literal with a base prefix (`0x1F`, `0o17`, `0b101`); `<`, `<=`, `>`,
//! `>=` also read durations (`720h`, `1h30m`, `500ms`, in milliseconds); `len([BODY])` of a body that is a
//! JSON array counts its elements. Where tug differs from Gatus on purpose is listed in docs/watch.md
//! and checked by `tests/gatus_conditions.rs`.

use std::fmt;

use serde_json::Value;

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub text: String,
    left: Operand,
    op: Op,
    right: Operand,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Placeholder(Placeholder),
    Len(Placeholder),
    Has(Placeholder),
    Pattern(String),
    Any(Vec<String>),
    Literal(String),
}

/// `[NAME]` plus a JSON path into its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Placeholder {
    pub name: String,
    pub path: Vec<PathSegment>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PathSegment {
    Key(String),
    Index(usize),
}

/// A condition that does not parse, with the column of the problem.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct ConditionError {
    pub column: usize,
    pub message: String,
}

/// The outcome of one condition, with the value it saw.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConditionResult {
    pub condition: String,
    pub ok: bool,
    /// The left side's value as observed (`503`, `"degraded"`, `missing`).
    pub observed: String,
}

/// The values a probe observed, by placeholder name (`STATUS`, `BODY`, `CONTEXT` …).
pub trait Observations {
    fn get(&self, name: &str) -> Option<Value>;
}

impl Observations for serde_json::Map<String, Value> {
    fn get(&self, name: &str) -> Option<Value> {
        serde_json::Map::get(self, name).cloned()
    }
}

/// Placeholders measured in milliseconds, shown as durations.
const DURATION_PLACEHOLDERS: &[&str] = &["CERTIFICATE_EXPIRATION", "UPTIME"];

impl Condition {
    pub fn parse(text: &str) -> Result<Condition, ConditionError> {
        let (op_at, op, op_len) = find_operator(text)?;
        let left_text = &text[..op_at];
        let right_text = &text[op_at + op_len..];
        if left_text.trim().is_empty() {
            return Err(ConditionError { column: 1, message: "nothing before the operator".into() });
        }
        if right_text.trim().is_empty() {
            return Err(ConditionError {
                column: column_of(text, op_at + op_len),
                message: "nothing after the operator".into(),
            });
        }
        let left = parse_operand(text, 0, left_text)?;
        let right = parse_operand(text, op_at + op_len, right_text)?;
        let (left, right) = match (left.is_set(), right.is_set()) {
            (true, true) => {
                return Err(ConditionError {
                    column: column_of(text, op_at + op_len + (right_text.len() - right_text.trim_start().len())),
                    message: "pat() and any() compare a value: put a placeholder on the other side".into(),
                })
            }
            // `any(200, 429) == [STATUS]` reads as `[STATUS] == any(200, 429)`, as in Gatus.
            (true, false) => (right, left),
            _ => (left, right),
        };
        if right.is_set() && !matches!(op, Op::Eq | Op::Ne) {
            return Err(ConditionError {
                column: column_of(text, op_at),
                message: "pat() and any() work with == and != only".into(),
            });
        }
        Ok(Condition { text: text.trim().to_string(), left, op, right })
    }

    /// The placeholders the condition reads (to check that a probe provides them).
    pub fn placeholders(&self) -> Vec<&str> {
        [&self.left, &self.right]
            .into_iter()
            .filter_map(|o| match o {
                Operand::Placeholder(p) | Operand::Len(p) | Operand::Has(p) => Some(p.name.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The left side when it is a plain placeholder (for `store:`).
    pub fn single_placeholder(self) -> Option<Placeholder> {
        match self.left {
            Operand::Placeholder(p) => Some(p),
            _ => None,
        }
    }

    pub fn evaluate(&self, obs: &dyn Observations) -> ConditionResult {
        let left = resolve(&self.left, obs);
        let observed = match (&self.left, &left) {
            (_, None) => "missing".to_string(),
            (Operand::Placeholder(p), Some(Value::Number(n))) if DURATION_PLACEHOLDERS.contains(&p.name.as_str()) => {
                n.as_f64().map(format_ms).unwrap_or_default()
            }
            (_, Some(v)) => render(v),
        };
        let ok = match &self.right {
            Operand::Pattern(p) => left.as_ref().is_some_and(|l| glob(p, &as_text(l))) == (self.op == Op::Eq),
            Operand::Any(items) => {
                left.as_ref().is_some_and(|l| items.iter().any(|i| equals(l, &literal(i)))) == (self.op == Op::Eq)
            }
            right => {
                let right = resolve(right, obs);
                match (left.as_ref(), right.as_ref()) {
                    (Some(l), Some(r)) => compare(l, self.op, r),
                    // A missing value equals nothing: `!=` holds, everything else fails.
                    _ => self.op == Op::Ne && left.is_some() != right.is_some(),
                }
            }
        };
        ConditionResult { condition: self.text.clone(), ok, observed }
    }
}

impl Operand {
    /// `pat(…)` and `any(…)`: a set of values, not a value.
    fn is_set(&self) -> bool {
        matches!(self, Operand::Pattern(_) | Operand::Any(_))
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Placeholder {
    /// The placeholder's value with its path applied; `None` when something on the path is missing.
    pub fn resolve(&self, obs: &dyn Observations) -> Option<Value> {
        let mut value = obs.get(&self.name)?;
        if self.path.is_empty() {
            return Some(value);
        }
        // A body is text; a path into it reads it as JSON.
        if let Value::String(s) = &value {
            value = serde_json::from_str(s).ok()?;
        }
        for seg in &self.path {
            value = match (seg, value) {
                (PathSegment::Key(k), Value::Object(mut m)) => m.remove(k)?,
                (PathSegment::Index(i), Value::Array(mut a)) if *i < a.len() => a.swap_remove(*i),
                _ => return None,
            };
        }
        Some(value)
    }
}

fn column_of(text: &str, byte: usize) -> usize {
    text[..byte.min(text.len())].chars().count() + 1
}

/// The first comparison operator outside quotes, brackets and parentheses.
fn find_operator(text: &str) -> Result<(usize, Op, usize), ConditionError> {
    let bytes = text.as_bytes();
    let (mut open, mut quote, mut found) = (Vec::new(), None::<usize>, None);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == bytes[q] => quote = None,
            Some(_) => {}
            None => match b {
                b'"' | b'\'' => quote = Some(i),
                b'(' | b'[' => open.push(i),
                b')' | b']' => {
                    open.pop();
                }
                b'=' | b'!' | b'<' | b'>' if open.is_empty() && found.is_none() => {
                    let next = bytes.get(i + 1).copied();
                    let op = match (b, next) {
                        (b'=', Some(b'=')) => Some((Op::Eq, 2)),
                        (b'!', Some(b'=')) => Some((Op::Ne, 2)),
                        (b'<', Some(b'=')) => Some((Op::Le, 2)),
                        (b'>', Some(b'=')) => Some((Op::Ge, 2)),
                        (b'<', _) => Some((Op::Lt, 1)),
                        (b'>', _) => Some((Op::Gt, 1)),
                        (b'=', _) => {
                            return Err(ConditionError {
                                column: column_of(text, i),
                                message: "`=` is not an operator: use `==`".into(),
                            })
                        }
                        _ => None,
                    };
                    if let Some((op, len)) = op {
                        found = Some((i, op, len));
                        i += len;
                        continue;
                    }
                }
                _ => {}
            },
        }
        i += 1;
    }
    if let Some(q) = quote {
        return Err(ConditionError { column: column_of(text, q), message: "unterminated quote".into() });
    }
    if let Some(&o) = open.last() {
        return Err(ConditionError {
            column: column_of(text, o),
            message: format!("`{}` is not closed", &text[o..=o]),
        });
    }
    found.ok_or_else(|| ConditionError {
        column: column_of(text, text.len()),
        message: "expected a comparison (==, !=, <, <=, >, >=), e.g. `[STATUS] == 200`".into(),
    })
}

/// Parses one side; `offset` is where `part` starts in `full` (for columns).
fn parse_operand(full: &str, offset: usize, part: &str) -> Result<Operand, ConditionError> {
    let lead = part.len() - part.trim_start().len();
    let start = offset + lead;
    let t = part.trim();
    let err = |at: usize, message: String| ConditionError { column: column_of(full, start + at), message };
    for (name, make) in [("len(", Operand::Len as fn(Placeholder) -> Operand), ("has(", Operand::Has)] {
        if let Some(inner) = t.strip_prefix(name) {
            let inner = inner.strip_suffix(')').ok_or_else(|| err(t.len(), format!("`{name}` is not closed")))?;
            if !inner.trim_start().starts_with('[') {
                return Err(err(name.len(), format!("{name}) takes a placeholder such as [BODY].items")));
            }
            return Ok(make(parse_placeholder(full, start + name.len(), inner)?));
        }
    }
    if let Some(inner) = t.strip_prefix("pat(") {
        let inner = inner.strip_suffix(')').ok_or_else(|| err(t.len(), "`pat(` is not closed".into()))?;
        return Ok(Operand::Pattern(unquote(inner.trim()).to_string()));
    }
    if let Some(inner) = t.strip_prefix("any(") {
        let inner = inner.strip_suffix(')').ok_or_else(|| err(t.len(), "`any(` is not closed".into()))?;
        let items: Vec<String> = inner.split(',').map(|s| unquote(s.trim()).to_string()).collect();
        if items.iter().any(String::is_empty) {
            return Err(err(4, "any() needs values separated by commas".into()));
        }
        return Ok(Operand::Any(items));
    }
    if t.starts_with('[') {
        return Ok(Operand::Placeholder(parse_placeholder(full, start, t)?));
    }
    if let Some(open) = t.find('(').filter(|i| t[..*i].chars().all(|c| c.is_ascii_alphabetic()) && *i > 0) {
        return Err(err(0, format!("unknown function `{}`: use len, has, pat or any", &t[..open])));
    }
    Ok(Operand::Literal(unquote(t).to_string()))
}

fn parse_placeholder(full: &str, offset: usize, part: &str) -> Result<Placeholder, ConditionError> {
    let lead = part.len() - part.trim_start().len();
    let start = offset + lead;
    let t = part.trim();
    let err = |at: usize, message: String| ConditionError { column: column_of(full, start + at), message };
    let close = t.find(']').ok_or_else(|| err(0, "`[` is not closed".into()))?;
    let name = &t[1..close];
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphabetic() || c == '_') {
        return Err(err(
            1,
            format!("`[{name}]` is not a placeholder: names are letters and `_`, e.g. [STATUS], [BODY]"),
        ));
    }
    // Gatus reads `[status]` as `[STATUS]`.
    let name = name.to_ascii_uppercase();
    let mut path = Vec::new();
    let rest = &t[close + 1..];
    let mut i = 0;
    let bytes = rest.as_bytes();
    while i < bytes.len() {
        let at = close + 1 + i;
        match bytes[i] {
            b'.' => {
                let key: String =
                    rest[i + 1..].chars().take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '-')).collect();
                if key.is_empty() {
                    return Err(err(at + 1, "expected a key after `.`".into()));
                }
                i += 1 + key.len();
                path.push(PathSegment::Key(key));
            }
            b'[' => {
                let end = rest[i..].find(']').ok_or_else(|| err(at, "`[` is not closed".into()))?;
                let index = rest[i + 1..i + end]
                    .parse()
                    .map_err(|_| err(at + 1, format!("`{}` is not an array index", &rest[i + 1..i + end])))?;
                path.push(PathSegment::Index(index));
                i += end + 1;
            }
            _ => return Err(err(at, format!("unexpected `{}` after the placeholder", &rest[i..]))),
        }
    }
    Ok(Placeholder { name, path })
}

fn unquote(s: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

fn resolve(operand: &Operand, obs: &dyn Observations) -> Option<Value> {
    match operand {
        Operand::Placeholder(p) => p.resolve(obs),
        Operand::Len(p) => Some(Value::from(match p.resolve(obs)? {
            // A whole body that is a JSON array counts its elements (as in Gatus); other text its characters.
            Value::String(s) if p.path.is_empty() => json_array_len(&s).unwrap_or_else(|| s.chars().count()),
            Value::String(s) => s.chars().count(),
            Value::Array(a) => a.len(),
            Value::Object(o) => o.len(),
            Value::Null => 0,
            other => render(&other).chars().count(),
        })),
        Operand::Has(p) => Some(Value::Bool(match p.resolve(obs) {
            None | Some(Value::Null) => false,
            // `has([BODY])`: whether there is a body at all.
            Some(Value::String(s)) if p.path.is_empty() => !s.trim().is_empty(),
            Some(_) => true,
        })),
        Operand::Literal(l) => Some(literal(l)),
        Operand::Pattern(_) | Operand::Any(_) => None,
    }
}

/// The number of elements of `text` when it is a JSON array.
fn json_array_len(text: &str) -> Option<usize> {
    let t = text.trim();
    if !(t.starts_with('[') && t.ends_with(']')) {
        return None;
    }
    serde_json::from_str::<Vec<serde::de::IgnoredAny>>(t).ok().map(|items| items.len())
}

/// A literal's value: `true`/`false`, else its text (which compares as a number or a duration where it
/// reads as one, like any observed text).
fn literal(text: &str) -> Value {
    match text {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::String(text.to_string()),
    }
}

/// A value as a number, for `==` and `!=`.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => parse_number(s.trim()),
        Value::Bool(_) | Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// A value as a number for `<`, `<=`, `>`, `>=`: a number, or a duration in milliseconds (`720h`).
fn magnitude(v: &Value) -> Option<f64> {
    number(v).or_else(|| match v {
        Value::String(s) => duration_ms(s.trim()),
        _ => None,
    })
}

/// Decimal text (`12`, `-1.5`, `1e3`), or a Go integer literal with a base prefix (`0x1F`, `0o17`,
/// `0b101`, signed or not), which Gatus reads through Go's `strconv.ParseInt(s, 0, 64)`. Leading-zero
/// octal (`010`) and `_` separators, which Go also reads, are not numbers here (docs/watch.md).
fn parse_number(t: &str) -> Option<f64> {
    let (negative, unsigned) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let radix = match unsigned.get(..2) {
        Some("0x" | "0X") => Some(16),
        Some("0o" | "0O") => Some(8),
        Some("0b" | "0B") => Some(2),
        _ => None,
    };
    if let Some(radix) = radix {
        let digits = &unsigned[2..];
        if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
            return None;
        }
        let n = i64::from_str_radix(digits, radix).ok()? as f64;
        return Some(if negative { -n } else { n });
    }
    t.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// A duration in milliseconds: one or more number-unit pairs as Go's `time.ParseDuration` reads them
/// (`300ms`, `1.5h`, `1h30m`; units ns, us, µs, ms, s, m, h), plus tug's `d` and `w`.
fn duration_ms(text: &str) -> Option<f64> {
    let mut rest = text;
    let mut total = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let n: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit_ms = match &rest[..unit_len] {
            "ns" => 1e-6,
            "us" | "µs" | "μs" => 1e-3,
            "ms" => 1.0,
            "s" => 1e3,
            "m" => 6e4,
            "h" => 3.6e6,
            "d" => 8.64e7,
            "w" => 6.048e8,
            _ => return None,
        };
        total += n * unit_ms;
        rest = &rest[unit_len..];
    }
    Some(total)
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn equals(l: &Value, r: &Value) -> bool {
    match (number(l), number(r)) {
        (Some(a), Some(b)) => a == b,
        _ => match (l, r) {
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Bool(a), Value::String(s)) | (Value::String(s), Value::Bool(a)) => s == &a.to_string(),
            _ => as_text(l) == as_text(r),
        },
    }
}

fn compare(l: &Value, op: Op, r: &Value) -> bool {
    match op {
        Op::Eq => equals(l, r),
        Op::Ne => !equals(l, r),
        _ => match (magnitude(l), magnitude(r)) {
            (Some(a), Some(b)) => match op {
                Op::Lt => a < b,
                Op::Le => a <= b,
                Op::Gt => a > b,
                _ => a >= b,
            },
            _ => false,
        },
    }
}

/// A glob with `*` (any run) and `?` (one character), over the whole text.
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A value for a report: strings quoted, long ones cut.
fn render(v: &Value) -> String {
    let text = match v {
        Value::String(_) => v.to_string(),
        other => other.to_string(),
    };
    if text.chars().count() > 120 {
        format!("{}…", text.chars().take(120).collect::<String>())
    } else {
        text
    }
}

/// Milliseconds as `3d 4h`, `12m 5s`, `850ms`.
pub fn format_ms(ms: f64) -> String {
    let ms = ms.max(0.0) as u64;
    let (d, h, m, s) = (ms / 86_400_000, ms / 3_600_000 % 24, ms / 60_000 % 60, ms / 1000 % 60);
    match () {
        _ if d > 0 => format!("{d}d {h}h"),
        _ if h > 0 => format!("{h}h {m}m"),
        _ if m > 0 => format!("{m}m {s}s"),
        _ if ms >= 1000 => format!("{s}s"),
        _ => format!("{ms}ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obs(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn check(cond: &str, o: &serde_json::Map<String, Value>) -> (bool, String) {
        let r = Condition::parse(cond).unwrap_or_else(|e| panic!("{cond}: {e}")).evaluate(o);
        (r.ok, r.observed)
    }

    #[test]
    fn gatus_examples_evaluate() {
        let o = obs(json!({
            "STATUS": 200, "RESPONSE_TIME": 120, "CONNECTED": true,
            "BODY": "{\"status\":\"ok\",\"data\":[{\"id\":7},{\"id\":9}],\"msg\":\"all healthy here\"}",
            "CERTIFICATE_EXPIRATION": 40.0 * 86_400_000.0,
            "CONTEXT": {"token": "abc"}
        }));
        for (cond, ok) in [
            ("[STATUS] == 200", true),
            ("[STATUS] != 200", false),
            ("[STATUS] == any(200, 204)", true),
            ("[STATUS] == any(500, 503)", false),
            ("[RESPONSE_TIME] < 500", true),
            ("[RESPONSE_TIME] < 100", false),
            ("[RESPONSE_TIME] <= 120", true),
            ("[RESPONSE_TIME] < 1s", true),
            ("[BODY].status == \"ok\"", true),
            ("[BODY].status == ok", true),
            ("[BODY].msg == pat(*healthy*)", true),
            ("[BODY] == pat(*\"status\":\"ok\"*)", true),
            ("[BODY].msg != pat(*broken*)", true),
            ("[BODY].data[1].id == 9", true),
            ("len([BODY].data) > 1", true),
            ("len([BODY].data) == 3", false),
            ("has([BODY].errors) == false", true),
            ("has([BODY].status) == true", true),
            ("[CONNECTED] == true", true),
            ("[CERTIFICATE_EXPIRATION] > 720h", true),
            ("[CERTIFICATE_EXPIRATION] > 60d", false),
            ("[CONTEXT].token == abc", true),
            ("[BODY].missing == 1", false),
            ("[BODY].missing != 1", true),
        ] {
            assert_eq!(check(cond, &o).0, ok, "{cond}");
        }
    }

    #[test]
    fn observed_values_are_reported() {
        let o = obs(json!({"STATUS": 503, "BODY": "{\"status\":\"degraded\"}", "CERTIFICATE_EXPIRATION": 90_000_000}));
        assert_eq!(check("[STATUS] == 200", &o), (false, "503".into()));
        assert_eq!(check("[BODY].status == ok", &o), (false, "\"degraded\"".into()));
        assert_eq!(check("[CERTIFICATE_EXPIRATION] > 720h", &o), (false, "1d 1h".into()));
        assert_eq!(check("[BODY].nope == 1", &o).1, "missing");
    }

    #[test]
    fn parse_errors_point_at_the_column() {
        for (cond, column, needle) in [
            ("[STATUS] = 200", 10, "use `==`"),
            ("[STATUS]", 9, "expected a comparison"),
            ("[sta-tus] == 200", 2, "is not a placeholder"),
            ("pat(a*) == any(1, 2)", 12, "placeholder on the other side"),
            ("any(1, 2) < [STATUS]", 11, "== and != only"),
            ("[BODY].data[x] == 1", 13, "array index"),
            ("len([BODY] > 1", 4, "not closed"),
            ("[STATUS] < pat(2*)", 10, "== and != only"),
            ("size([BODY]) == 1", 1, "unknown function `size`"),
            ("[BODY] == \"open", 11, "unterminated quote"),
            ("== 200", 1, "nothing before"),
            ("[BODY].x. == 1", 10, "expected a key"),
        ] {
            let e = Condition::parse(cond).unwrap_err();
            assert!(e.message.contains(needle), "{cond}: {e}");
            assert_eq!(e.column, column, "{cond}: {e}");
        }
    }

    #[test]
    fn numbers_read_as_gatus_reads_them() {
        let o = obs(json!({
            "BODY": "{\"hex\":\"0xC0ff33\",\"neg\":\"-0x10\",\"oct\":\"0O17\",\"bin\":\"0b101\",\"zip\":\"010\",\"sep\":\"1_000\",\"uptime\":\"1h30m\",\"inf\":\"inf\"}"
        }));
        for (cond, ok) in [
            ("[BODY].hex == 12648243", true),
            ("[BODY].hex > 0xC0ff32", true),
            ("[BODY].neg == -16", true),
            ("[BODY].oct == 15", true),
            ("[BODY].bin == 0b0101", true),
            // Leading-zero octal and `_` separators are not read (Go reads 010 as 8, 1_000 as 1000).
            ("[BODY].zip == 10", true),
            ("[BODY].zip == 8", false),
            ("[BODY].sep == 1000", false),
            ("[BODY].sep == 1_000", true),
            // Durations in ordering comparisons only, as in Gatus.
            ("[BODY].uptime > 1h", true),
            ("[BODY].uptime < 90m", false),
            ("[BODY].uptime <= 5400000", true),
            ("[BODY].uptime == 1h30m", true),
            ("[BODY].uptime == 5400000", false),
            // Not a finite number: text.
            ("[BODY].inf == inf", true),
            ("[BODY].inf > 1", false),
        ] {
            assert_eq!(check(cond, &o).0, ok, "{cond}");
        }
    }

    #[test]
    fn functions_read_on_either_side_and_len_counts_array_bodies() {
        let o = obs(json!({"STATUS": 429, "BODY": " [1, {\"a\": 2}, [3]]\n", "EMPTY": "", "TEXT": "[not json"}));
        for (cond, ok, observed) in [
            ("any(200, 429) == [STATUS]", true, "429"),
            ("any(200, 204) != [STATUS]", true, "429"),
            ("pat(4*) == [STATUS]", true, "429"),
            ("pat(*{*) == [BODY]", true, "\" [1, {\\\"a\\\": 2}, [3]]\\n\""),
            ("len([BODY]) == 3", true, "3"),
            ("len([BODY][1]) == 1", true, "1"),
            ("len([TEXT]) == 9", true, "9"),
            ("has([EMPTY]) == false", true, "false"),
            ("has([BODY]) == true", true, "true"),
            ("[status] == 429", true, "429"),
        ] {
            assert_eq!(check(cond, &o), (ok, observed.to_string()), "{cond}");
        }
    }

    #[test]
    fn globs_match_whole_text() {
        assert!(glob("*ok*", "it is ok now"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "abbc"));
        assert!(glob("*", ""));
        assert!(!glob("ok", "okay"));
    }
}
