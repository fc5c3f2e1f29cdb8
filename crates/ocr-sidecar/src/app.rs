//! The HTTP service: `fn app(state) -> Router`, so tests drive it in-process.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::error::AppError;
use crate::ollama::same_model;
use crate::state::AppState;
use crate::{auth, embed, ocr, rerank};

/// The router with every route, the body limit and authentication.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ocr", post(ocr_handler))
        .route("/embed", post(embed_handler))
        .route("/rerank", post(rerank_handler))
        .fallback(|| async { AppError::NotFound })
        .method_not_allowed_fallback(|| async { AppError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(state.config.body_limit_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), auth::require_key))
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().chars().take(200).collect::<String>();
    let response = next.run(request).await;
    tracing::info!(%method, %path, status = response.status().as_u16(), ms = started.elapsed().as_millis() as u64, "request");
    response
}

/// Reads a JSON object body, mapping every failure to the stable error shape.
fn json_body(body: Result<Bytes, BytesRejection>) -> Result<Value, AppError> {
    let bytes = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::PayloadTooLarge("the request body is too large".into())
        } else {
            AppError::bad_request("invalid_request", "the request body could not be read")
        }
    })?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| AppError::bad_request("invalid_json", format!("the request body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(AppError::bad_request("invalid_json", "the request body must be a JSON object"));
    }
    Ok(value)
}

async fn ocr_handler(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ocr::OcrResponse>, AppError> {
    Ok(Json(ocr::run(state, json_body(body)?).await?))
}

async fn embed_handler(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<embed::EmbedResponse>, AppError> {
    Ok(Json(embed::run(state, json_body(body)?).await?))
}

async fn rerank_handler(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<rerank::RerankResponse>, AppError> {
    Ok(Json(rerank::run(state, json_body(body)?).await?))
}

/// Model availability, VRAM, the residency decision a request would get now, and the auth mode.
async fn health(State(state): State<AppState>) -> Json<Value> {
    let cfg = &state.config;
    let timeout = Duration::from_secs(2);
    let (available, situation) = tokio::join!(state.ollama.available(timeout), state.situation(None));
    let (situation, _) = situation;
    let reachable = available.is_ok();
    let available = available.unwrap_or_default();
    let model = |name: &str| {
        json!({
            "name": name,
            "available": reachable.then(|| available.iter().any(|m| same_model(&m.name, name))),
        })
    };
    let mut models = json!({ "ocr": model(&cfg.ocr_model) });
    models["ocr"]["loaded"] = json!(situation.loaded.ocr);
    if let Some(embed) = &cfg.embed_model {
        models["embed"] = model(embed);
    }
    if let Some(llm) = &cfg.residency.llm_model {
        models["llm"] = model(llm);
        models["llm"]["loaded"] = json!(situation.loaded.llm);
    }
    let decision = crate::residency::ocr_residency(&cfg.residency, &situation);
    let poppler = crate::render::poppler_available().await;
    let ocr_ready = reachable && models["ocr"]["available"] == json!(true) && poppler;
    Json(json!({
        "status": if ocr_ready { "ok" } else { "degraded" },
        "version": env!("CARGO_PKG_VERSION"),
        "auth": cfg.auth.name(),
        "ollama": { "reachable": reachable, "api": match cfg.ocr_api {
            crate::config::OllamaApi::Generate => "generate",
            crate::config::OllamaApi::Chat => "chat",
        } },
        "models": models,
        "poppler": poppler,
        "vram": situation.vram,
        "residency": {
            "adaptive": cfg.residency.adaptive,
            "decision_now": decision.decision,
            "keep_alive_now": decision.keep_alive,
            "reason": decision.reason,
        },
        "rerank": state.reranker.as_ref().map(|r| json!({
            "model": r.name(),
            "arch": format!("{:?}", r.arch()),
            "cuda_build": candle_core::utils::cuda_is_available(),
        })),
    }))
}
