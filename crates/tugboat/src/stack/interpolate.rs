//! Variable interpolation as Docker Compose does it: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
//! `${VAR:?message}`, `${VAR?message}`, `${VAR:+alt}`, `${VAR+alt}` and `$$` for a literal dollar.
//! Defaults may themselves contain variables (`${A:-${B}}`), as in Compose v2.

/// Why a string could not be interpolated; `offset` is the byte offset of the `$` that started it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterpolationError {
    pub offset: usize,
    pub message: String,
}

/// Interpolates `text`. `lookup` returns a variable's value (`None` when unset); every variable name the
/// text refers to is appended to `used`, set or not, so unused and undeclared variables can be reported.
pub fn interpolate(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    used: &mut Vec<String>,
) -> Result<String, InterpolationError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut offset = 0;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let at = offset + pos;
        let after = &rest[pos + 1..];
        let consumed = if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            let _ = tail;
            2
        } else if let Some(body) = after.strip_prefix('{') {
            let end = matching_brace(body)
                .ok_or_else(|| InterpolationError { offset: at, message: format!("unterminated `${{` in {text:?}") })?;
            let value =
                braced(&body[..end], lookup, used).map_err(|message| InterpolationError { offset: at, message })?;
            out.push_str(&value);
            end + 3
        } else {
            let name_len = name_length(after);
            if name_len == 0 {
                return Err(InterpolationError {
                    offset: at,
                    message:
                        "invalid interpolation: a `$` must start `${VAR}` or `$VAR`; write `$$` for a literal dollar"
                            .into(),
                });
            }
            let name = &after[..name_len];
            used.push(name.to_string());
            out.push_str(&lookup(name).unwrap_or_default());
            name_len + 1
        };
        rest = &rest[pos + consumed..];
        offset += pos + consumed;
    }
    out.push_str(rest);
    Ok(out)
}

fn name_length(s: &str) -> usize {
    let mut len = 0;
    for (i, c) in s.char_indices() {
        let ok = c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit());
        if !ok {
            break;
        }
        len = i + c.len_utf8();
    }
    len
}

/// Index of the `}` closing a `${`, counting nested `${ … }`.
fn matching_brace(body: &str) -> Option<usize> {
    let bytes = body.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

fn braced(body: &str, lookup: &dyn Fn(&str) -> Option<String>, used: &mut Vec<String>) -> Result<String, String> {
    let name_len = name_length(body);
    if name_len == 0 {
        return Err(format!("invalid interpolation `${{{body}}}`: expected a variable name"));
    }
    let name = &body[..name_len];
    used.push(name.to_string());
    let value = lookup(name);
    let op = &body[name_len..];
    if op.is_empty() {
        return Ok(value.unwrap_or_default());
    }
    let (colon, op) = match op.strip_prefix(':') {
        Some(rest) => (true, rest),
        None => (false, op),
    };
    let mut chars = op.chars();
    let kind = chars.next().unwrap_or(' ');
    let arg = chars.as_str();
    // With a colon, an empty value counts as unset.
    let set = match &value {
        Some(v) => !(colon && v.is_empty()),
        None => false,
    };
    let mut nested = |s: &str| interpolate(s, lookup, used).map_err(|e| e.message);
    match kind {
        '-' if set => Ok(value.unwrap_or_default()),
        '-' => nested(arg),
        '+' if set => nested(arg),
        '+' => Ok(String::new()),
        '?' if set => Ok(value.unwrap_or_default()),
        '?' => {
            let msg = nested(arg)?;
            Err(if msg.is_empty() {
                format!("required variable {name} is missing a value")
            } else {
                format!("required variable {name} is missing a value: {msg}")
            })
        }
        _ => Err(format!("invalid interpolation `${{{body}}}`: unknown operator after {name}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Result<String, String> {
        let lookup = |k: &str| match k {
            "SET" => Some("value".to_string()),
            "EMPTY" => Some(String::new()),
            "OTHER" => Some("other".to_string()),
            _ => None,
        };
        interpolate(text, &lookup, &mut Vec::new()).map_err(|e| e.message)
    }

    // The cases below mirror the table in the compose specification's interpolation chapter.
    #[test]
    fn compose_spec_table() {
        assert_eq!(run("${SET}").unwrap(), "value");
        assert_eq!(run("$SET").unwrap(), "value");
        assert_eq!(run("${UNSET}").unwrap(), "");
        assert_eq!(run("${UNSET:-default}").unwrap(), "default");
        assert_eq!(run("${EMPTY:-default}").unwrap(), "default");
        assert_eq!(run("${EMPTY-default}").unwrap(), "");
        assert_eq!(run("${UNSET-default}").unwrap(), "default");
        assert_eq!(run("${SET:+alt}").unwrap(), "alt");
        assert_eq!(run("${EMPTY:+alt}").unwrap(), "");
        assert_eq!(run("${EMPTY+alt}").unwrap(), "alt");
        assert_eq!(run("${UNSET+alt}").unwrap(), "");
        assert_eq!(run("$$SET").unwrap(), "$SET");
        assert_eq!(run("a${SET}b$SET-c").unwrap(), "avalueb".to_string() + "value-c");
    }

    #[test]
    fn nested_defaults() {
        assert_eq!(run("${UNSET:-${OTHER}}").unwrap(), "other");
        assert_eq!(run("${UNSET:-${ALSO_UNSET:-deep}}").unwrap(), "deep");
    }

    #[test]
    fn required_variables() {
        assert_eq!(run("${SET:?boom}").unwrap(), "value");
        assert!(run("${UNSET:?set it in .env}").unwrap_err().contains("UNSET is missing a value: set it in .env"));
        assert!(run("${EMPTY:?x}").is_err());
        assert_eq!(run("${EMPTY?x}").unwrap(), "");
        assert!(run("${UNSET?}").is_err());
    }

    #[test]
    fn malformed() {
        assert!(run("${").is_err());
        assert!(run("${}").is_err());
        assert!(run("$").is_err());
        assert!(run("100$ ").is_err());
        assert!(run("${SET:*x}").is_err());
    }

    #[test]
    fn records_used_names() {
        let mut used = Vec::new();
        interpolate("${A} $B ${C:-${D}}", &|_| None, &mut used).unwrap();
        assert_eq!(used, ["A", "B", "C", "D"]);
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
