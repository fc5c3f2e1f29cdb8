//! Parameter governance (seed 001 US3, T021): generation parameters arrive with each request and are
//! passed to Ollama unchanged; `keep_alive` is never accepted from a client, because residency is
//! the sidecar's decision (ADR-036 Gap-2).

use serde_json::{Map, Value};

use crate::error::AppError;

/// Refuses a request that mentions `keep_alive` anywhere, at any depth, under any common spelling.
pub fn reject_keep_alive(body: &Value) -> Result<(), AppError> {
    fn find(value: &Value, path: &mut Vec<String>) -> Option<String> {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    let normalised: String =
                        key.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect();
                    path.push(key.clone());
                    if normalised == "keepalive" {
                        return Some(path.join("."));
                    }
                    if let Some(found) = find(v, path) {
                        return Some(found);
                    }
                    path.pop();
                }
                None
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    path.push(i.to_string());
                    if let Some(found) = find(v, path) {
                        return Some(found);
                    }
                    path.pop();
                }
                None
            }
            _ => None,
        }
    }
    match find(body, &mut Vec::new()) {
        Some(at) => Err(AppError::bad_request(
            "keep_alive_not_allowed",
            format!("`{at}` is not accepted: the sidecar decides model residency from VRAM (seed 001 T021)"),
        )),
        None => Ok(()),
    }
}

/// Ollama's model options that a request may set. Unknown names are refused so that a typo does not
/// silently fall back to the model's defaults.
const OLLAMA_OPTIONS: &[&str] = &[
    "num_keep",
    "seed",
    "num_predict",
    "top_k",
    "top_p",
    "min_p",
    "typical_p",
    "repeat_last_n",
    "temperature",
    "repeat_penalty",
    "presence_penalty",
    "frequency_penalty",
    "penalize_newline",
    "stop",
    "num_ctx",
    "num_batch",
    "num_thread",
    "mirostat",
    "mirostat_tau",
    "mirostat_eta",
    "tfs_z",
];

/// Turns a request's `runtime_params` into Ollama `options`. `max_tokens` (the document system's
/// name) becomes `num_predict`; `num_gpu`, `main_gpu` and memory placement stay with the sidecar.
pub fn ollama_options(runtime_params: &Map<String, Value>) -> Result<Map<String, Value>, AppError> {
    let mut options = Map::new();
    for (key, value) in runtime_params {
        let name = match key.as_str() {
            "max_tokens" => "num_predict",
            other => other,
        };
        if !OLLAMA_OPTIONS.contains(&name) {
            return Err(AppError::bad_request(
                "unknown_parameter",
                format!("runtime_params.{key} is not an Ollama model option this sidecar passes on"),
            ));
        }
        let ok = match name {
            "stop" => value.is_string() || value.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
            "penalize_newline" => value.is_boolean(),
            _ => value.is_number(),
        };
        if !ok {
            return Err(AppError::bad_request("invalid_parameter", format!("runtime_params.{key} has the wrong type")));
        }
        if options.insert(name.to_string(), value.clone()).is_some() {
            return Err(AppError::bad_request(
                "invalid_parameter",
                "runtime_params has both max_tokens and num_predict".to_string(),
            ));
        }
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keep_alive_is_refused_anywhere() {
        for body in [
            json!({"keep_alive": 0}),
            json!({"runtime_params": {"keep_alive": "5m"}}),
            json!({"runtime_params": {"nested": [{"keepAlive": -1}]}}),
            json!({"options": {"KEEP-ALIVE": 1}}),
            json!({"a": [1, {"b": {"keep_alive": null}}]}),
        ] {
            let err = reject_keep_alive(&body).unwrap_err();
            assert_eq!(err.code(), "keep_alive_not_allowed", "{body}");
        }
        assert!(reject_keep_alive(&json!({"path": "keep_alive.pdf", "x": ["keep_alive"]})).is_ok());
    }

    #[test]
    fn runtime_params_map_to_options() {
        let params = json!({"temperature": 0.1, "top_p": 0.9, "max_tokens": 4096, "num_ctx": 8192, "stop": ["</s>"]});
        let options = ollama_options(params.as_object().unwrap()).unwrap();
        assert_eq!(
            Value::Object(options),
            json!({"temperature": 0.1, "top_p": 0.9, "num_predict": 4096, "num_ctx": 8192, "stop": ["</s>"]})
        );
        for (bad, code) in [
            (json!({"temprature": 0.1}), "unknown_parameter"),
            (json!({"num_gpu": 0}), "unknown_parameter"),
            (json!({"temperature": "hot"}), "invalid_parameter"),
            (json!({"max_tokens": 1, "num_predict": 2}), "invalid_parameter"),
        ] {
            assert_eq!(ollama_options(bad.as_object().unwrap()).unwrap_err().code(), code, "{bad}");
        }
    }
}
