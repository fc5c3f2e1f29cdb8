use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use ocr_sidecar::testing::{self, ollama::FakeOllama, TEST_KEY};
use ocr_sidecar::vram::{FixedMonitor, VramState};
use ocr_sidecar::{app, AppState};
use serde_json::Value;
use tower::ServiceExt;

/// Fails (never skips) when poppler is missing: the OCR tests need the real renderer.
pub fn require_poppler() {
    for tool in ["pdftoppm", "pdfinfo"] {
        if std::process::Command::new(tool).arg("-v").output().is_err() {
            panic!(
                "{tool} not found: install poppler-utils (Debian: apt-get install poppler-utils) to run these tests"
            );
        }
    }
}

/// A temp upload base, the fake Ollama, and the app over them.
pub struct Harness {
    pub root: PathBuf,
    pub base: PathBuf,
    pub ollama: FakeOllama,
    pub vram: Arc<FixedMonitor>,
    pub router: Router,
    _dir: tempfile::TempDir,
}

impl Harness {
    pub async fn new() -> Harness {
        Harness::with(&[]).await
    }

    /// With configuration variables `extra`; VRAM starts as "no GPU".
    pub async fn with(extra: &[(&str, &str)]) -> Harness {
        Harness::build(extra, None).await
    }

    /// With a fake Ollama URL of the caller's choosing (e.g. a closed port).
    pub async fn build(extra: &[(&str, &str)], ollama_url: Option<String>) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let base = root.join("base");
        std::fs::create_dir_all(&base).unwrap();
        let ollama = FakeOllama::start().await.unwrap();
        let url = ollama_url.unwrap_or_else(|| ollama.url());
        let config = testing::config(&base, &url, extra);
        let vram = Arc::new(FixedMonitor::new(VramState::NoGpu { reason: "test".into() }));
        let state = AppState::new(config, vram.clone()).unwrap();
        let router = app(state);
        Harness { root, base, ollama, vram, router, _dir: dir }
    }

    /// Writes `bytes` to `rel` under the upload base.
    pub fn write(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let path = self.base.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        path
    }

    pub async fn send(&self, request: Request<Body>) -> (StatusCode, Value) {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("not JSON ({status}): {}", String::from_utf8_lossy(&bytes)))
        };
        (status, value)
    }

    /// POST `body` as JSON with the test key.
    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.send(
            Request::post(path)
                .header("content-type", "application/json")
                .header("x-api-key", TEST_KEY)
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(Request::get(path).header("x-api-key", TEST_KEY).body(Body::empty()).unwrap()).await
    }
}

/// Asserts the stable error shape and returns the code.
pub fn error_code(body: &Value) -> String {
    let code = body.pointer("/error/code").and_then(Value::as_str).unwrap_or_else(|| panic!("no error code in {body}"));
    assert!(body.pointer("/error/message").and_then(Value::as_str).is_some(), "no error message in {body}");
    code.to_string()
}
