//! API-key and network-only authentication, the error shape, and the routes that do not exist.

use axum::body::Body;
use axum::http::Request;
use ocr_sidecar::testing::TEST_KEY;
use serde_json::json;

use crate::util::{error_code, Harness};

#[tokio::test]
async fn every_route_needs_the_key() {
    let h = Harness::new().await;
    for (method, path) in [("GET", "/health"), ("POST", "/ocr"), ("POST", "/embed"), ("POST", "/rerank")] {
        for key in [None, Some(""), Some("wrong-key-0123456789abcdef"), Some(&TEST_KEY[..TEST_KEY.len() - 1])] {
            let mut req = Request::builder().method(method).uri(path).header("content-type", "application/json");
            if let Some(k) = key {
                req = req.header("x-api-key", k);
            }
            let (status, body) = h.send(req.body(Body::from("{}")).unwrap()).await;
            assert_eq!(status, 401, "{method} {path} with {key:?}");
            assert_eq!(error_code(&body), "unauthorized");
        }
    }
    // The key in another header is not the key.
    let (status, _) = h
        .send(
            Request::get("/health").header("authorization", format!("Bearer {TEST_KEY}")).body(Body::empty()).unwrap(),
        )
        .await;
    assert_eq!(status, 401);
    let (status, body) = h.get("/health").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["auth"], "api-key");
}

#[tokio::test]
async fn network_mode_accepts_requests_without_a_key() {
    let h = Harness::with(&[("OCR_SIDECAR_AUTH", "network")]).await;
    let (status, body) = h.send(Request::get("/health").body(Body::empty()).unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(body["auth"], "network");
}

#[tokio::test]
async fn normalize_is_gone_and_wrong_methods_are_json_errors() {
    let h = Harness::new().await;
    let (status, body) = h.post("/normalize", &json!({"text": "x"})).await;
    assert_eq!((status.as_u16(), error_code(&body).as_str()), (404, "not_found"));
    let (status, body) = h.get("/ocr").await;
    assert_eq!((status.as_u16(), error_code(&body).as_str()), (405, "method_not_allowed"));
}

#[tokio::test]
async fn bodies_are_limited_and_must_be_json_objects() {
    let h = Harness::with(&[("OCR_SIDECAR_BODY_LIMIT_KB", "1")]).await;
    let (status, body) = h.post("/ocr", &json!({"path": "x".repeat(2048)})).await;
    assert_eq!((status.as_u16(), error_code(&body).as_str()), (413, "payload_too_large"));
    let raw = |b: &'static str| Request::post("/ocr").header("x-api-key", TEST_KEY).body(Body::from(b)).unwrap();
    let (status, body) = h.send(raw("{not json")).await;
    assert_eq!((status.as_u16(), error_code(&body).as_str()), (400, "invalid_json"));
    let (status, body) = h.send(raw("[1, 2]")).await;
    assert_eq!((status.as_u16(), error_code(&body).as_str()), (400, "invalid_json"));
}

#[tokio::test]
async fn health_reports_models_vram_and_residency() {
    let h = Harness::with(&[("EMBED_MODEL", "bge-m3")]).await;
    h.ollama.set_loaded(&["np-dms-ai:latest"]);
    let (status, body) = h.get("/health").await;
    assert_eq!(status, 200);
    assert_eq!(body["ollama"]["reachable"], true);
    assert_eq!(body["models"]["ocr"], json!({"name": "np-dms-ocr", "available": true, "loaded": false}));
    assert_eq!(body["models"]["llm"]["loaded"], true);
    assert_eq!(body["models"]["embed"]["available"], true);
    assert_eq!(body["vram"]["state"], "no_gpu");
    assert_eq!(body["residency"]["decision_now"], "keep_resident");
    assert!(body["poppler"].is_boolean());

    h.ollama.set_available(&[]);
    let (_, body) = h.get("/health").await;
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["models"]["ocr"]["available"], false);
}
