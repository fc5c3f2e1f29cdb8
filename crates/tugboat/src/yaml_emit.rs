//! A small YAML emitter for JSON values, in the block style `docker compose config` prints.

use serde_json::Value;

pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    emit(value, 0, &mut out);
    out
}

fn emit(value: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                out.push_str(&format!("{pad}{}:", scalar_key(k)));
                emit_child(v, indent, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&format!("{pad}-"));
                match item {
                    Value::Object(map) if !map.is_empty() => {
                        // First key on the dash line, the rest aligned under it.
                        let mut first = true;
                        for (k, v) in map {
                            if first {
                                out.push_str(&format!(" {}:", scalar_key(k)));
                                first = false;
                            } else {
                                out.push_str(&format!("{pad}  {}:", scalar_key(k)));
                            }
                            emit_child(v, indent + 2, out);
                        }
                    }
                    _ => emit_child(item, indent, out),
                }
            }
        }
        other => {
            out.push_str(&pad);
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

/// After `key:` or `-`: scalars and empty collections inline, others on the following lines.
fn emit_child(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            emit(v, indent + 2, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            emit(v, indent + 2, out);
        }
        _ => {
            out.push(' ');
            out.push_str(&scalar(v));
            out.push('\n');
        }
    }
}

fn scalar_key(k: &str) -> String {
    scalar(&Value::String(k.to_string()))
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            if needs_quotes(s) {
                serde_json::to_string(s).unwrap_or_default()
            } else {
                s.clone()
            }
        }
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

fn needs_quotes(s: &str) -> bool {
    if s.is_empty() || s.trim() != s {
        return true;
    }
    // Anything a YAML reader would take as another type, or that holds syntax.
    let reads_as_other = crate::stack::yaml::plain_scalar_to_json(s) != Value::String(s.to_string())
        || matches!(s.to_ascii_lowercase().as_str(), "yes" | "no" | "on" | "off" | "y" | "n");
    let first = s.chars().next().unwrap_or(' ');
    reads_as_other
        || "-?:,[]{}#&*!|>'\"%@`".contains(first)
        || s.contains(": ")
        || s.contains(" #")
        || s.contains('\n')
        || s.contains('\t')
        || s.ends_with(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_loader() {
        let v = serde_json::json!({"services": {"a": {"ports": [{"target": 80, "published": "8080"}], "command": ["sh", "-c", "echo: hi"], "environment": {"A": "1", "B": "yes", "C": null, "D": ""}, "empty": {}, "list": []}}});
        let text = to_yaml(&v);
        let parsed = crate::stack::yaml::parse(&text, &std::sync::Arc::new("t.yml".into())).unwrap();
        assert_eq!(parsed.to_json(), v, "{text}");
    }
}
