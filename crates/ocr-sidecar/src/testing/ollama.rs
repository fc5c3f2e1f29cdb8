//! An Ollama-compatible test server on a real socket: `/api/generate`, `/api/chat`, `/api/embed`,
//! `/api/ps`, `/api/tags`. It records every request body, answers after a configurable latency,
//! fails on demand, and tracks which models are loaded the way Ollama does (`keep_alive: 0` unloads).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub body: Value,
    pub at: Instant,
}

#[derive(Default)]
struct Shared {
    latency: Mutex<Duration>,
    fail_next: AtomicUsize,
    fail_status: Mutex<u16>,
    requests: Mutex<Vec<Recorded>>,
    available: Mutex<Vec<String>>,
    loaded: Mutex<Vec<String>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// The running server; stops when dropped.
pub struct FakeOllama {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeOllama {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl FakeOllama {
    /// Starts on 127.0.0.1 with a free port; models `np-dms-ocr`, `np-dms-ai` and `bge-m3` available.
    pub async fn start() -> std::io::Result<FakeOllama> {
        let shared = Arc::new(Shared::default());
        *lock(&shared.available) = vec!["np-dms-ocr:latest".into(), "np-dms-ai:latest".into(), "bge-m3:latest".into()];
        *lock(&shared.fail_status) = 500;
        let router = Router::new()
            .route("/api/generate", post(generate))
            .route("/api/chat", post(chat))
            .route("/api/embed", post(embed))
            .route("/api/ps", get(ps))
            .route("/api/tags", get(tags))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(FakeOllama { addr, shared, task })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every generate, chat and embed call waits this long before answering.
    pub fn set_latency(&self, latency: Duration) {
        *lock(&self.shared.latency) = latency;
    }

    /// The next `n` generate/chat/embed calls answer HTTP `status`.
    pub fn fail_next(&self, n: usize, status: u16) {
        *lock(&self.shared.fail_status) = status;
        self.shared.fail_next.store(n, Ordering::SeqCst);
    }

    /// What `/api/ps` lists (names as Ollama writes them, e.g. `np-dms-ai:latest`).
    pub fn set_loaded(&self, names: &[&str]) {
        *lock(&self.shared.loaded) = names.iter().map(|s| s.to_string()).collect();
    }

    pub fn loaded(&self) -> Vec<String> {
        lock(&self.shared.loaded).clone()
    }

    /// What `/api/tags` lists.
    pub fn set_available(&self, names: &[&str]) {
        *lock(&self.shared.available) = names.iter().map(|s| s.to_string()).collect();
    }

    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.requests).clone()
    }

    /// The bodies sent to `path` (e.g. `/api/generate`), in order of arrival.
    pub fn bodies(&self, path: &str) -> Vec<Value> {
        self.requests().into_iter().filter(|r| r.path == path).map(|r| r.body).collect()
    }

    /// The most generate/chat/embed calls that were being answered at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    pub fn clear(&self) {
        lock(&self.shared.requests).clear();
        self.shared.max_in_flight.store(0, Ordering::SeqCst);
    }
}

/// The text the fake "recognises" in an image: its size and hash, so tests can tell pages apart.
pub fn page_text(image_b64: &str) -> String {
    let bytes = base64::engine::general_purpose::STANDARD.decode(image_b64).unwrap_or_default();
    let hash = Sha256::digest(&bytes);
    let hex: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("image {} bytes sha256:{hex}", bytes.len())
}

fn same(listed: &str, wanted: &str) -> bool {
    crate::ollama::same_model(listed, wanted)
}

fn error(status: u16, message: String) -> Response {
    (StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), Json(json!({ "error": message })))
        .into_response()
}

struct Busy<'a>(&'a Shared);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Records, waits, maybe fails, checks the model; `Ok(model)` when the call should succeed.
async fn admit(shared: &Shared, path: &str, body: &Value) -> Result<String, Response> {
    lock(&shared.requests).push(Recorded { path: path.to_string(), body: body.clone(), at: Instant::now() });
    let model = body.get("model").and_then(Value::as_str).unwrap_or_default().to_string();
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let _busy = Busy(shared);
    let latency = *lock(&shared.latency);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let failing = shared.fail_next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
    if failing {
        return Err(error(*lock(&shared.fail_status), "injected failure".into()));
    }
    if !lock(&shared.available).iter().any(|m| same(m, &model)) {
        return Err(error(404, format!("model '{model}' not found, try pulling it first")));
    }
    Ok(model)
}

/// Applies `keep_alive` the way Ollama does: 0 unloads, anything else leaves the model loaded.
fn keep_alive(shared: &Shared, model: &str, body: &Value) {
    let unload = matches!(body.get("keep_alive"), Some(v) if v == &json!(0) || v == &json!("0") || v == &json!("0s"));
    let mut loaded = lock(&shared.loaded);
    loaded.retain(|m| !same(m, model));
    if !unload {
        let name = if model.contains(':') { model.to_string() } else { format!("{model}:latest") };
        loaded.push(name);
    }
}

async fn generate(State(shared): State<Arc<Shared>>, Json(body): Json<Value>) -> Response {
    // No prompt: a load or unload request, answered at once.
    if body.get("prompt").is_none() {
        lock(&shared.requests).push(Recorded { path: "/api/generate".into(), body: body.clone(), at: Instant::now() });
        let model = body.get("model").and_then(Value::as_str).unwrap_or_default().to_string();
        keep_alive(&shared, &model, &body);
        let reason = if body.get("keep_alive") == Some(&json!(0)) { "unload" } else { "load" };
        return Json(json!({"model": model, "response": "", "done": true, "done_reason": reason})).into_response();
    }
    let model = match admit(&shared, "/api/generate", &body).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    keep_alive(&shared, &model, &body);
    let image = body.pointer("/images/0").and_then(Value::as_str).unwrap_or_default();
    Json(json!({"model": model, "response": page_text(image), "done": true, "done_reason": "stop"})).into_response()
}

async fn chat(State(shared): State<Arc<Shared>>, Json(body): Json<Value>) -> Response {
    let model = match admit(&shared, "/api/chat", &body).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    keep_alive(&shared, &model, &body);
    let messages = body.get("messages").and_then(Value::as_array).cloned().unwrap_or_default();
    let image = messages
        .iter()
        .rev()
        .find_map(|m| m.pointer("/images/0").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default();
    Json(json!({"model": model, "message": {"role": "assistant", "content": page_text(&image)}, "done": true}))
        .into_response()
}

async fn embed(State(shared): State<Arc<Shared>>, Json(body): Json<Value>) -> Response {
    let model = match admit(&shared, "/api/embed", &body).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    keep_alive(&shared, &model, &body);
    let inputs: Vec<String> = match body.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => Vec::new(),
    };
    let embeddings: Vec<Vec<f32>> = inputs
        .iter()
        .map(|s| Sha256::digest(s.as_bytes()).iter().take(8).map(|b| f32::from(*b) / 255.0).collect())
        .collect();
    Json(json!({"model": model, "embeddings": embeddings})).into_response()
}

async fn ps(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let models: Vec<Value> = lock(&shared.loaded)
        .iter()
        .map(|m| json!({"name": m, "model": m, "size": 1_000_000_000u64, "size_vram": 1_000_000_000u64}))
        .collect();
    Json(json!({ "models": models }))
}

async fn tags(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let models: Vec<Value> = lock(&shared.available).iter().map(|m| json!({"name": m, "model": m})).collect();
    Json(json!({ "models": models }))
}
