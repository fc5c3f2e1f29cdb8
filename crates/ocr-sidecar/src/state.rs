//! Shared state: configuration, the one Ollama client, the VRAM monitor, the reranker and the
//! semaphores that bound concurrent work across all requests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::config::Config;
use crate::error::AppError;
use crate::ollama::{same_model, OllamaClient};
use crate::paths::UploadBase;
use crate::rerank::Reranker;
use crate::residency::{LoadedModels, Situation};
use crate::vram::{VramMonitor, VramState};

/// Cheap to clone; handlers receive it through axum's `State`.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub base: UploadBase,
    pub ollama: OllamaClient,
    pub vram: Arc<dyn VramMonitor>,
    pub reranker: Option<Arc<Reranker>>,
    pub ollama_permits: Semaphore,
    pub render_permits: Semaphore,
    /// Serialises CPU reranking so one large request does not starve the OCR pipeline.
    pub rerank_permits: Semaphore,
    ocr_in_flight: AtomicUsize,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// Counts an OCR request in flight until dropped.
pub struct InFlight<'a> {
    counter: &'a AtomicUsize,
}

impl InFlight<'_> {
    /// Ends the count; `true` when no other OCR request is in flight.
    pub fn finish(self) -> bool {
        let before = self.counter.fetch_sub(1, Ordering::SeqCst);
        std::mem::forget(self);
        before == 1
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.counter.fetch_sub(1, Ordering::SeqCst);
    }
}

impl AppState {
    /// Builds the state. Loads the reranker when configured (blocking: call from a blocking thread
    /// or before serving).
    pub fn new(config: Config, vram: Arc<dyn VramMonitor>) -> Result<Self, AppError> {
        let ollama = OllamaClient::new(&config.ollama_url, config.ollama_timeout)?;
        let reranker = match &config.rerank_model_dir {
            Some(dir) => Some(Arc::new(
                Reranker::load(dir, config.rerank_max_length)
                    .map_err(|e| AppError::internal(format!("loading the reranker from {}: {e}", dir.display())))?,
            )),
            None => None,
        };
        Ok(AppState(Arc::new(Inner {
            base: UploadBase::new(config.upload_base.clone()),
            ollama_permits: Semaphore::new(config.ollama_concurrency),
            render_permits: Semaphore::new(config.render_concurrency),
            rerank_permits: Semaphore::new(1),
            ocr_in_flight: AtomicUsize::new(0),
            ollama,
            vram,
            reranker,
            config,
        })))
    }

    pub fn begin_ocr(&self) -> InFlight<'_> {
        self.ocr_in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight { counter: &self.ocr_in_flight }
    }

    /// Reads VRAM (on a blocking thread).
    pub async fn read_vram(&self) -> VramState {
        let vram = self.vram.clone();
        tokio::task::spawn_blocking(move || vram.read())
            .await
            .unwrap_or_else(|e| VramState::Unknown { error: format!("monitor task failed: {e}") })
    }

    /// VRAM now and which models Ollama has loaded (unknown when `/api/ps` does not answer quickly).
    pub async fn situation(&self, other_model: Option<&str>) -> (Situation, Option<bool>) {
        let (vram, ps) = tokio::join!(self.read_vram(), self.ollama.loaded(Duration::from_secs(2)));
        let (loaded, other) = match ps {
            Ok(models) => {
                let is_loaded = |name: &str| models.iter().any(|m| same_model(&m.name, name));
                (
                    LoadedModels {
                        llm: self.config.residency.llm_model.as_deref().map(is_loaded),
                        ocr: Some(is_loaded(&self.config.ocr_model)),
                    },
                    other_model.map(is_loaded),
                )
            }
            Err(e) => {
                tracing::warn!(error = %e, "Ollama /api/ps did not answer; treating model residency as unknown");
                (LoadedModels::default(), None)
            }
        };
        (Situation { vram, loaded }, other)
    }
}
