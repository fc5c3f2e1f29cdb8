//! `POST /rerank`: an in-process cross-encoder (seed 001 T025; ADR-040 D4). On the CPU by default;
//! built with the `cuda` feature it runs on the GPU when the VRAM policy allows, and falls back to
//! the CPU under pressure.

pub mod model;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use candle_core::Device;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::error::AppError;
use crate::params;
use crate::residency::{retrieval_placement, Device as Placed, LoadedModels, Placement, Situation};
use crate::state::AppState;
pub use model::{Arch, CrossEncoder};

/// A model directory with `config.json`, `model.safetensors` and `tokenizer.json`.
pub struct Reranker {
    dir: PathBuf,
    name: String,
    tokenizer: Tokenizer,
    cpu: CrossEncoder,
    gpu: OnceLock<Result<CrossEncoder, String>>,
}

/// Why the reranker could not load or score.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RerankError(String);

impl Reranker {
    /// Loads the model on the CPU, truncating pairs to `max_length` tokens (or the model's limit).
    pub fn load(dir: &Path, max_length: usize) -> Result<Self, RerankError> {
        let cpu = CrossEncoder::load(dir, &Device::Cpu).map_err(RerankError)?;
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| RerankError(format!("tokenizer.json: {e}")))?;
        let max_length = max_length.min(cpu.config.max_tokens(cpu.arch));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| RerankError(format!("tokenizer truncation: {e}")))?;
        tokenizer.with_padding(None);
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "reranker".into());
        Ok(Reranker { dir: dir.to_path_buf(), name, tokenizer, cpu, gpu: OnceLock::new() })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn arch(&self) -> Arch {
        self.cpu.arch
    }

    /// Token ids and type ids of one (query, document) pair, as the model sees them.
    pub fn encode(&self, query: &str, document: &str) -> Result<(Vec<u32>, Vec<u32>), RerankError> {
        let enc = self.tokenizer.encode((query, document), true).map_err(|e| RerankError(format!("tokenizer: {e}")))?;
        Ok((enc.get_ids().to_vec(), enc.get_type_ids().to_vec()))
    }

    /// The model for `wanted`: the GPU copy (loaded on first use) when asked for and available.
    fn model_for(&self, wanted: Placed) -> (&CrossEncoder, &'static str) {
        if wanted == Placed::Gpu && candle_core::utils::cuda_is_available() {
            let gpu = self.gpu.get_or_init(|| {
                Device::cuda_if_available(0)
                    .map_err(|e| e.to_string())
                    .and_then(|device| CrossEncoder::load(&self.dir, &device))
            });
            match gpu {
                Ok(model) => return (model, "cuda"),
                Err(e) => tracing::warn!(error = %e, "reranker on CUDA failed; using the CPU"),
            }
        }
        (&self.cpu, "cpu")
    }

    /// Raw logits for each document against `query`, in `batch_size` batches; and the device used.
    pub fn score(
        &self,
        query: &str,
        documents: &[String],
        batch_size: usize,
        wanted: Placed,
    ) -> Result<(Vec<f32>, &'static str), RerankError> {
        let (model, device) = self.model_for(wanted);
        let pad = model.config.pad_token_id.unwrap_or(1);
        let mut scores = Vec::with_capacity(documents.len());
        for chunk in documents.chunks(batch_size.max(1)) {
            let encoded = chunk.iter().map(|d| self.encode(query, d)).collect::<Result<Vec<_>, _>>()?;
            let width = encoded.iter().map(|(ids, _)| ids.len()).max().unwrap_or(0);
            let mut ids = Vec::with_capacity(width * encoded.len());
            let mut types = Vec::with_capacity(width * encoded.len());
            let mut mask = Vec::with_capacity(width * encoded.len());
            for (row_ids, row_types) in &encoded {
                let fill = width - row_ids.len();
                ids.extend_from_slice(row_ids);
                ids.extend(std::iter::repeat_n(pad, fill));
                types.extend_from_slice(row_types);
                types.extend(std::iter::repeat_n(0, fill));
                mask.extend(std::iter::repeat_n(1, row_ids.len()));
                mask.extend(std::iter::repeat_n(0, fill));
            }
            let logits = model.logits(&ids, &types, &mask, encoded.len()).map_err(|e| RerankError(e.to_string()))?;
            scores.extend(logits);
        }
        Ok((scores, device))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RerankRequest {
    pub query: String,
    pub documents: Vec<String>,
    /// Return only the best `top_n`.
    #[serde(default)]
    pub top_n: Option<usize>,
    /// Map logits through a sigmoid to 0..1 (FlagReranker's `normalize=True`).
    #[serde(default)]
    pub normalize: bool,
}

#[derive(Debug, Serialize)]
pub struct Ranked {
    pub index: usize,
    pub score: f32,
}

#[derive(Debug, Serialize)]
pub struct RerankResponse {
    pub model: String,
    pub results: Vec<Ranked>,
    pub device: &'static str,
    pub placement: Placement,
}

pub async fn run(state: AppState, body: Value) -> Result<RerankResponse, AppError> {
    params::reject_keep_alive(&body)?;
    let req: RerankRequest =
        serde_json::from_value(body).map_err(|e| AppError::bad_request("invalid_request", e.to_string()))?;
    let cfg = &state.config;
    let reranker = state
        .reranker
        .clone()
        .ok_or_else(|| AppError::NotConfigured("no reranker model is configured (RERANK_MODEL_DIR)".into()))?;
    if req.documents.is_empty() || req.documents.len() > cfg.rerank_max_documents {
        return Err(AppError::bad_request(
            "invalid_request",
            format!("documents must hold 1 to {} texts", cfg.rerank_max_documents),
        ));
    }
    // Only a CUDA build can use the GPU; it then also asks Ollama whether the LLM is loaded.
    let cuda = candle_core::utils::cuda_is_available();
    let situation = if cuda {
        state.situation(None).await.0
    } else {
        Situation { vram: state.read_vram().await, loaded: LoadedModels::default() }
    };
    let mut placement = retrieval_placement(&cfg.residency, &situation, None, cfg.residency.rerank_need_mib);
    if placement.device == Placed::Gpu && !cuda {
        placement.device = Placed::Cpu;
        placement.reason = format!("{}; this build has no CUDA: CPU", placement.reason);
    }
    let _permit = state.rerank_permits.acquire().await.map_err(AppError::internal)?;
    let batch = cfg.rerank_batch_size;
    let wanted = placement.device;
    let RerankRequest { query, documents, top_n, normalize } = req;
    let model = reranker.name().to_string();
    let (logits, device) = tokio::task::spawn_blocking(move || reranker.score(&query, &documents, batch, wanted))
        .await
        .map_err(AppError::internal)?
        .map_err(AppError::internal)?;
    let mut results: Vec<Ranked> = logits
        .into_iter()
        .enumerate()
        .map(|(index, logit)| Ranked { index, score: if normalize { 1.0 / (1.0 + (-logit).exp()) } else { logit } })
        .collect();
    results.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.index.cmp(&b.index)));
    if let Some(n) = top_n {
        results.truncate(n);
    }
    Ok(RerankResponse { model, results, device, placement })
}
