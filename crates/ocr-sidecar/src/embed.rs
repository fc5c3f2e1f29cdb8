//! `POST /embed`: embeddings through Ollama's `/api/embed` (e.g. bge-m3), forced onto the CPU
//! (`num_gpu: 0`) whenever the GPU is under pressure (seed 001 T017, T024; ADR-040 D4).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::AppError;
use crate::params;
use crate::residency::{retrieval_placement, Placement};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Input {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbedRequest {
    pub input: Input,
    /// Truncate inputs longer than the model's context (Ollama's default: true).
    #[serde(default)]
    pub truncate: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct EmbedResponse {
    pub model: String,
    pub embeddings: Vec<Vec<f32>>,
    pub placement: Placement,
}

pub async fn run(state: AppState, body: Value) -> Result<EmbedResponse, AppError> {
    params::reject_keep_alive(&body)?;
    let req: EmbedRequest =
        serde_json::from_value(body).map_err(|e| AppError::bad_request("invalid_request", e.to_string()))?;
    let cfg = &state.config;
    let model = cfg
        .embed_model
        .clone()
        .ok_or_else(|| AppError::NotConfigured("no embedding model is configured (EMBED_MODEL)".into()))?;
    let input = match req.input {
        Input::One(s) => vec![s],
        Input::Many(v) => v,
    };
    if input.is_empty() || input.len() > cfg.embed_max_inputs {
        return Err(AppError::bad_request(
            "invalid_request",
            format!("input must hold 1 to {} texts", cfg.embed_max_inputs),
        ));
    }
    let (situation, embed_loaded) = state.situation(Some(&model)).await;
    let placement = retrieval_placement(&cfg.residency, &situation, embed_loaded, cfg.residency.embed_need_mib);
    tracing::info!(device = ?placement.device, num_gpu = ?placement.num_gpu, reason = %placement.reason, inputs = input.len(), "embed placement");
    let embeddings = state.ollama.embed(&model, &input, req.truncate.unwrap_or(true), placement.num_gpu).await?;
    Ok(EmbedResponse { model, embeddings, placement })
}
