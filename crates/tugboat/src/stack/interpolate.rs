//! Variable interpolation with Compose v2's grammar (compose-go's `template` package): `$VAR`, `${VAR}`,
//! `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}`, `${VAR?message}`, `${VAR:+alt}`, `${VAR+alt}` and
//! `$$` for a literal dollar. Defaults may hold variables (`${A:-${B}}`) and braces (`${X:-{"a":1}}`).
//!
//! A `$` that starts none of these (`a $ sign`, `^REGEX$`, `$}`, `$(echo)`, `$1`) stays a literal `$`, as in
//! v2; only a `${` that does not form a valid expression (`${}`, `${ foo}`, `${foo!}`, an unclosed `${`) is
//! an error.

/// Why a string could not be interpolated; `offset` is the byte offset of the `$` that started it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterpolationError {
    pub offset: usize,
    pub message: String,
}

/// What interpolating a text referred to: every variable name (set or not), and the names that were
/// unset where no default applied, which Compose warns about ("defaulting to a blank string").
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct References {
    pub names: Vec<String>,
    pub unset: Vec<String>,
}

/// Interpolates `text`. `lookup` returns a variable's value (`None` when unset); every variable name the
/// text refers to is appended to `used`, set or not, so unused and undeclared variables can be reported.
pub fn interpolate(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    used: &mut Vec<String>,
) -> Result<String, InterpolationError> {
    let mut refs = References::default();
    let result = interpolate_with(text, lookup, &mut refs);
    used.append(&mut refs.names);
    result
}

/// [`interpolate`], also telling which variables were unset without a default.
pub fn interpolate_with(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    refs: &mut References,
) -> Result<String, InterpolationError> {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        let after = &text[i + 1..];
        let (replacement, consumed) = if after.starts_with('$') {
            ("$".to_string(), 2)
        } else if let Some(body) = after.strip_prefix('{') {
            let invalid =
                || InterpolationError { offset: i, message: format!("invalid interpolation format {text:?}") };
            let (expr_len, value) = braced(body, lookup, refs).map_err(|e| match e {
                BracedError::Invalid => invalid(),
                BracedError::Message(message) => InterpolationError { offset: i, message },
            })?;
            (value, expr_len + 2)
        } else {
            match name_length(after) {
                0 => {
                    // Not an expression: the dollar is literal text.
                    i += 1;
                    continue;
                }
                n => (variable(&after[..n], lookup, refs), n + 1),
            }
        };
        out.push_str(&text[copied..i]);
        out.push_str(&replacement);
        i += consumed;
        copied = i;
    }
    out.push_str(&text[copied..]);
    Ok(out)
}

/// `$NAME` or `${NAME}`: the value, or empty (and noted) when unset.
fn variable(name: &str, lookup: &dyn Fn(&str) -> Option<String>, refs: &mut References) -> String {
    refs.names.push(name.to_string());
    match lookup(name) {
        Some(value) => value,
        None => {
            if !refs.unset.iter().any(|n| n == name) {
                refs.unset.push(name.to_string());
            }
            String::new()
        }
    }
}

/// `[_A-Za-z][_A-Za-z0-9]*` at the start of `s`.
fn name_length(s: &str) -> usize {
    let bytes = s.as_bytes();
    match bytes.first() {
        Some(b) if *b == b'_' || b.is_ascii_alphabetic() => {}
        _ => return 0,
    }
    bytes.iter().take_while(|b| **b == b'_' || b.is_ascii_alphanumeric()).count()
}

enum BracedError {
    /// Not a valid `${…}` expression.
    Invalid,
    /// A required variable is missing, or a nested expression failed.
    Message(String),
}

/// The body after `${`: returns how many bytes the expression takes up to and including its `}`, and its value.
///
/// Where an operator follows the name, compose-go's pattern runs to the *last* `}` of the text and is then
/// cut at the first brace that balances the opening one (counting `{` and `}` alike, so JSON defaults stay
/// whole); this mirrors that.
fn braced(
    body: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    refs: &mut References,
) -> Result<(usize, String), BracedError> {
    let name_len = name_length(body);
    if name_len == 0 {
        return Err(BracedError::Invalid);
    }
    let name = &body[..name_len];
    let rest = &body[name_len..];
    if rest.starts_with('}') {
        return Ok((name_len + 1, variable(name, lookup, refs)));
    }
    let (op, op_len) = if let Some(r) = rest.strip_prefix(':') {
        match r.chars().next() {
            Some(c @ ('-' | '+' | '?')) => ((true, c), 2),
            _ => return Err(BracedError::Invalid),
        }
    } else {
        match rest.chars().next() {
            Some(c @ ('-' | '+' | '?')) => ((false, c), 1),
            _ => return Err(BracedError::Invalid),
        }
    };
    // Go's `.` stops at a newline, so the pattern's last `}` is the last one on this line.
    let arg_start = name_len + op_len;
    let line = body[arg_start..].find('\n').map_or(body.len(), |n| arg_start + n);
    let Some(last_brace) = body[arg_start..line].rfind('}').map(|b| arg_start + b) else {
        return Err(BracedError::Invalid);
    };
    let end = first_balancing_brace(&body[..=last_brace]).unwrap_or(last_brace);
    let arg = &body[arg_start..end];
    let value = lookup(name);
    refs.names.push(name.to_string());
    let (empty_is_unset, kind) = op;
    let set = value.as_ref().is_some_and(|v| !(empty_is_unset && v.is_empty()));
    let mut nested = |s: &str| interpolate_with(s, lookup, refs).map_err(|e| BracedError::Message(e.message));
    let result = match kind {
        '-' if set => value.unwrap_or_default(),
        '-' => nested(arg)?,
        '+' if set => nested(arg)?,
        '+' => value.unwrap_or_default(),
        '?' if set => value.unwrap_or_default(),
        _ => {
            let message = nested(arg)?;
            return Err(BracedError::Message(if message.is_empty() {
                format!("required variable {name} is missing a value")
            } else {
                format!("required variable {name} is missing a value: {message}")
            }));
        }
    };
    Ok((end + 1, result))
}

/// compose-go's `getFirstBraceClosingIndex`, on the text after `${` (which opened one brace): the index of
/// the `}` that brings the count back to zero. Like the original, a `{` also skips the byte after it.
fn first_balancing_brace(body: &str) -> Option<usize> {
    let bytes = body.as_bytes();
    let mut open = 1usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'}' => {
                open -= 1;
                if open == 0 {
                    return Some(i);
                }
            }
            b'{' => {
                open += 1;
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    // compose-go's template tests use this mapping.
    fn lookup(k: &str) -> Option<String> {
        match k {
            "FOO" => Some("first".to_string()),
            "BAR" => Some(String::new()),
            "JSON" => Some(r#"{"json":2}"#.to_string()),
            _ => None,
        }
    }

    fn run(text: &str) -> Result<String, String> {
        interpolate(text, &lookup, &mut Vec::new()).map_err(|e| e.message)
    }

    fn warned(text: &str) -> Vec<String> {
        let mut refs = References::default();
        let _ = interpolate_with(text, &lookup, &mut refs);
        refs.unset
    }

    #[test]
    fn literal_dollars_stay() {
        for text in ["a $ string", "^REGEX$", "$}", "$", "100$ ", "$(echo hi)", "$1", "cost: $5.00", "a$-b"] {
            assert_eq!(run(text).unwrap(), text, "{text}");
        }
        assert_eq!(run("$${foo}").unwrap(), "${foo}");
        assert_eq!(run("$$FOO").unwrap(), "$FOO");
        assert_eq!(run("$$$FOO").unwrap(), "$first");
    }

    #[test]
    fn invalid_braced_expressions() {
        for text in ["${", "${}", "${ }", "${ foo}", "${foo }", "${foo!}", "${1}", "${FOO:-x", "${FOO:x}"] {
            let e = run(text).unwrap_err();
            assert!(e.contains("invalid interpolation format"), "{text}: {e}");
        }
    }

    #[test]
    fn plain_and_braced() {
        assert_eq!(run("$FOO-bar").unwrap(), "first-bar");
        assert_eq!(run("This ${missing} var").unwrap(), "This  var");
        assert_eq!(run("This ${BAR} var").unwrap(), "This  var");
        assert_eq!(run("This $FOO var").unwrap(), "This first var");
        assert_eq!(run("This ${FOO} var").unwrap(), "This first var");
        assert_eq!(run("a${FOO}b$FOO-c").unwrap(), "afirstbfirst-c");
    }

    #[test]
    fn defaults_and_alternatives() {
        assert_eq!(run("ok ${missing:-def}").unwrap(), "ok def");
        assert_eq!(run("ok ${missing-def}").unwrap(), "ok def");
        assert_eq!(run("ok ${BAR:-def}").unwrap(), "ok def");
        assert_eq!(run("ok ${FOO:-def}").unwrap(), "ok first");
        assert_eq!(run("ok ${BAR-def}").unwrap(), "ok ");
        assert_eq!(run("ok ${UNSET_VAR:+presence_value}").unwrap(), "ok ");
        assert_eq!(run("ok ${UNSET_VAR+presence_value}").unwrap(), "ok ");
        assert_eq!(run("ok ${FOO:+presence_value}").unwrap(), "ok presence_value");
        assert_eq!(run("ok ${FOO+presence_value}").unwrap(), "ok presence_value");
        assert_eq!(run("ok ${BAR+presence_value}").unwrap(), "ok presence_value");
        assert_eq!(run("ok ${BAR:+presence_value}").unwrap(), "ok ");
        assert_eq!(run("ok ${BAR:-/non:-alphanumeric}").unwrap(), "ok /non:-alphanumeric");
        assert_eq!(run("${UNSET_VAR-myerror?msg}").unwrap(), "myerror?msg");
        assert_eq!(run("${FOO?bar-baz}").unwrap(), "first");
    }

    // compose-go's TestInterpolationExternalInterference: operators outside the expression are text.
    #[test]
    fn operators_outside_expressions() {
        assert_eq!(run("-ok ${BAR:-defaultValue}").unwrap(), "-ok defaultValue");
        assert_eq!(run("+ok ${UNSET:-${BAR-defaultValue}}").unwrap(), "+ok ");
        assert_eq!(run(":-ok ${UNSET-defaultValue}").unwrap(), ":-ok defaultValue");
        assert_eq!(run(":?ok ${BAR-defaultValue}").unwrap(), ":?ok ");
        assert_eq!(run("?ok ${BAR:-defaultValue}").unwrap(), "?ok defaultValue");
    }

    #[test]
    fn nested_defaults() {
        assert_eq!(run("ok ${UNSET_VAR-$FOO}").unwrap(), "ok first");
        assert_eq!(run("ok ${UNSET_VAR-${FOO} ${FOO}}").unwrap(), "ok first first");
        assert_eq!(run("ok ${BAR:-${FOO} ${FOO}}").unwrap(), "ok first first");
        assert_eq!(run("ok ${BAR+$FOO ${FOO:+second}}").unwrap(), "ok first second");
        assert_eq!(run("${UNSET:-${ALSO_UNSET:-deep}}").unwrap(), "deep");
        assert_eq!(run("${A:-x} and ${FOO}").unwrap(), "x and first");
    }

    #[test]
    fn json_defaults_come_out_whole() {
        assert_eq!(run(r#"ok ${missing:-{"json":1}}"#).unwrap(), r#"ok {"json":1}"#);
        assert_eq!(run(r#"ok ${missing-{"json":1}}"#).unwrap(), r#"ok {"json":1}"#);
        assert_eq!(run(r#"ok ${JSON:-{"json":1}}"#).unwrap(), r#"ok {"json":2}"#);
        assert_eq!(run(r#"${missing:-{"a":{"b":1}}} tail"#).unwrap(), r#"{"a":{"b":1}} tail"#);
    }

    #[test]
    fn required_variables() {
        assert_eq!(run("ok ${FOO:?err}").unwrap(), "ok first");
        assert_eq!(run("ok ${BAR?err}").unwrap(), "ok ");
        let cases = [
            ("not ok ${UNSET_VAR:?Mandatory Variable Unset}", ": Mandatory Variable Unset"),
            ("not ok ${BAR:?Mandatory Variable Empty}", ": Mandatory Variable Empty"),
            ("not ok ${UNSET_VAR:?}", ""),
            ("not ok ${UNSET_VAR?}", ""),
            ("not ok ${UNSET_VAR:?Mandatory Variable ${FOO}}", ": Mandatory Variable first"),
        ];
        for (text, reason) in cases {
            let name = if text.contains("BAR") { "BAR" } else { "UNSET_VAR" };
            assert_eq!(run(text).unwrap_err(), format!("required variable {name} is missing a value{reason}"));
        }
    }

    #[test]
    fn warns_once_for_unset_variables_without_default() {
        assert_eq!(warned("${A:+${A},}B"), Vec::<String>::new());
        assert_eq!(warned("${A:-${B}}"), ["B"]);
        assert_eq!(warned("$X ${X} ${Y-d}"), ["X"]);
        assert_eq!(warned("${FOO?${B}}"), Vec::<String>::new());
    }

    #[test]
    fn records_used_names() {
        let mut used = Vec::new();
        interpolate("${A} $B ${C:-${D}}", &|_| None, &mut used).unwrap();
        assert_eq!(used, ["A", "B", "C", "D"]);
    }

    #[test]
    fn a_default_ends_at_its_line() {
        assert_eq!(run("${missing:-a}\necho }").unwrap(), "a\necho }");
        assert!(run("${missing:-a\n}").is_err());
    }

    proptest::proptest! {
        // Interpolation never panics, and text without `$` is returned unchanged.
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = interpolate(&s, &|k| (k.len() % 2 == 0).then(|| k.to_string()), &mut Vec::new());
        }

        #[test]
        fn dollar_free_text_is_identity(s in "[^$]*") {
            proptest::prop_assert_eq!(interpolate(&s, &|_| None, &mut Vec::new()).unwrap(), s);
        }

        #[test]
        fn escaped_dollars_round_trip(s in "[a-zA-Z_{}:-]*") {
            let escaped = s.replace('$', "$$");
            proptest::prop_assert_eq!(interpolate(&format!("$${escaped}"), &|_| None, &mut Vec::new()).unwrap(), format!("${s}"));
        }
    }
}
