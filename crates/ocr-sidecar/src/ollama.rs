//! The one shared async client for Ollama's HTTP API (seed 001 US4: no blocking client).

use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::error::AppError;

/// Ollama at `base` (e.g. `http://ollama:11434`).
#[derive(Clone)]
pub struct OllamaClient {
    http: reqwest::Client,
    base: String,
}

/// One page's answer.
#[derive(Debug, Clone)]
pub struct Generated {
    pub text: String,
    pub elapsed: Duration,
}

/// A model as `/api/ps` or `/api/tags` lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelEntry {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_vram: Option<u64>,
}

/// Whether `listed` (as Ollama names it, e.g. `np-dms-ocr:latest`) is `wanted` (maybe without a tag).
pub fn same_model(listed: &str, wanted: &str) -> bool {
    listed == wanted || (!wanted.contains(':') && listed.strip_suffix(":latest") == Some(wanted))
}

impl OllamaClient {
    pub fn new(base: &str, timeout: Duration) -> Result<Self, AppError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(64)
            .build()
            .map_err(AppError::internal)?;
        Ok(OllamaClient { http, base: base.trim_end_matches('/').to_string() })
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Value, AppError> {
        let url = format!("{}{path}", self.base);
        let response = self.http.post(&url).json(body).send().await.map_err(|e| map_send_error(&url, e))?;
        read_json(&url, response).await
    }

    async fn get(&self, path: &str, timeout: Duration) -> Result<Value, AppError> {
        let url = format!("{}{path}", self.base);
        let response = self.http.get(&url).timeout(timeout).send().await.map_err(|e| map_send_error(&url, e))?;
        read_json(&url, response).await
    }

    /// `/api/generate` with one page image.
    pub async fn generate(
        &self,
        model: &str,
        prompt: &str,
        system: Option<&str>,
        image_b64: String,
        options: &Map<String, Value>,
        keep_alive: &str,
    ) -> Result<Generated, AppError> {
        let mut body = json!({
            "model": model,
            "prompt": prompt,
            "images": [image_b64],
            "stream": false,
            "options": options,
            "keep_alive": keep_alive_value(keep_alive),
        });
        if let Some(system) = system {
            body["system"] = Value::String(system.to_string());
        }
        let started = Instant::now();
        let answer = self.post("/api/generate", &body).await?;
        let text = answer
            .get("response")
            .and_then(Value::as_str)
            .ok_or_else(|| AppError::upstream("/api/generate answer has no `response`"))?;
        Ok(Generated { text: text.to_string(), elapsed: started.elapsed() })
    }

    /// `/api/chat` with a system message and one user message carrying the page image.
    pub async fn chat(
        &self,
        model: &str,
        prompt: &str,
        system: Option<&str>,
        image_b64: String,
        options: &Map<String, Value>,
        keep_alive: &str,
    ) -> Result<Generated, AppError> {
        let mut messages = Vec::new();
        if let Some(system) = system {
            messages.push(json!({"role": "system", "content": system}));
        }
        messages.push(json!({"role": "user", "content": prompt, "images": [image_b64]}));
        let body = json!({
            "model": model,
            "messages": messages,
            "stream": false,
            "options": options,
            "keep_alive": keep_alive_value(keep_alive),
        });
        let started = Instant::now();
        let answer = self.post("/api/chat", &body).await?;
        let text = answer
            .pointer("/message/content")
            .and_then(Value::as_str)
            .ok_or_else(|| AppError::upstream("/api/chat answer has no `message.content`"))?;
        Ok(Generated { text: text.to_string(), elapsed: started.elapsed() })
    }

    /// Unloads `model` now (`/api/generate` with no prompt and `keep_alive: 0`).
    pub async fn unload(&self, model: &str) -> Result<(), AppError> {
        self.post("/api/generate", &json!({"model": model, "keep_alive": 0})).await.map(|_| ())
    }

    /// `/api/embed`; `num_gpu: Some(0)` forces the CPU.
    pub async fn embed(
        &self,
        model: &str,
        input: &[String],
        truncate: bool,
        num_gpu: Option<u32>,
    ) -> Result<Vec<Vec<f32>>, AppError> {
        let mut body = json!({"model": model, "input": input, "truncate": truncate});
        if let Some(n) = num_gpu {
            body["options"] = json!({"num_gpu": n});
        }
        let answer = self.post("/api/embed", &body).await?;
        let embeddings: Vec<Vec<f32>> = answer
            .get("embeddings")
            .cloned()
            .and_then(|v| serde_json::from_value(v).ok())
            .ok_or_else(|| AppError::upstream("/api/embed answer has no `embeddings`"))?;
        if embeddings.len() != input.len() {
            return Err(AppError::upstream(format!(
                "/api/embed returned {} embeddings for {} inputs",
                embeddings.len(),
                input.len()
            )));
        }
        Ok(embeddings)
    }

    /// `/api/ps`: the models loaded now.
    pub async fn loaded(&self, timeout: Duration) -> Result<Vec<ModelEntry>, AppError> {
        self.models("/api/ps", timeout).await
    }

    /// `/api/tags`: the models available locally.
    pub async fn available(&self, timeout: Duration) -> Result<Vec<ModelEntry>, AppError> {
        self.models("/api/tags", timeout).await
    }

    async fn models(&self, path: &str, timeout: Duration) -> Result<Vec<ModelEntry>, AppError> {
        let answer = self.get(path, timeout).await?;
        let models = answer.get("models").and_then(Value::as_array).cloned().unwrap_or_default();
        Ok(models
            .iter()
            .filter_map(|m| {
                let name = m.get("name").or_else(|| m.get("model")).and_then(Value::as_str)?;
                Some(ModelEntry { name: name.to_string(), size_vram: m.get("size_vram").and_then(Value::as_u64) })
            })
            .collect())
    }
}

/// Ollama takes `0`/`-1` as numbers and durations as strings.
fn keep_alive_value(keep_alive: &str) -> Value {
    match keep_alive.parse::<i64>() {
        Ok(n) => Value::from(n),
        Err(_) => Value::String(keep_alive.to_string()),
    }
}

fn map_send_error(url: &str, e: reqwest::Error) -> AppError {
    // reqwest's message omits the cause ("connection refused", "dns error"): append the chain for the log.
    let mut detail = format!("{url}: {e}");
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        detail.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    if e.is_timeout() {
        AppError::UpstreamTimeout { detail }
    } else {
        AppError::upstream(detail)
    }
}

async fn read_json(url: &str, response: reqwest::Response) -> Result<Value, AppError> {
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        let body: String = body.chars().take(500).collect();
        return Err(AppError::upstream(format!("{url}: HTTP {status}: {body}")));
    }
    response.json::<Value>().await.map_err(|e| map_send_error(url, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_match_with_or_without_latest() {
        assert!(same_model("np-dms-ocr:latest", "np-dms-ocr"));
        assert!(same_model("np-dms-ocr:latest", "np-dms-ocr:latest"));
        assert!(!same_model("np-dms-ocr:v2", "np-dms-ocr"));
        assert!(!same_model("np-dms-ocr-old:latest", "np-dms-ocr"));
    }

    #[test]
    fn keep_alive_numbers_stay_numbers() {
        assert_eq!(keep_alive_value("0"), Value::from(0));
        assert_eq!(keep_alive_value("-1"), Value::from(-1));
        assert_eq!(keep_alive_value("10m"), Value::from("10m"));
    }
}
