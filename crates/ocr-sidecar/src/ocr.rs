//! `POST /ocr`: a file inside the upload base → per-page text from the OCR model on Ollama.
//!
//! Pages are rendered by poppler and sent to Ollama as soon as each is ready, with at most
//! `OCR_PAGE_CONCURRENCY` pages of one request and `OCR_OLLAMA_CONCURRENCY` calls over all requests
//! in flight. Every call carries the request's parameters, system prompt and DMS tags, and the
//! `keep_alive` of the residency decision made for the request.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::task::JoinSet;

use crate::config::OllamaApi;
use crate::error::AppError;
use crate::media::MediaKind;
use crate::params;
use crate::render::{self, RenderError};
use crate::residency::{ocr_residency, Residency, ResidencyDecision};
use crate::state::AppState;

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OcrRequest {
    /// A file inside `OCR_SIDECAR_UPLOAD_BASE`, relative to it or absolute.
    pub path: String,
    /// Ollama model options (temperature, top_p, repeat_penalty, num_predict or max_tokens, num_ctx …).
    #[serde(default)]
    pub runtime_params: Map<String, Value>,
    /// The active prompt's system prompt (seed 001 T030).
    #[serde(default)]
    pub system_prompt: Option<String>,
    /// DMS tags, appended to the system prompt of every call (seed 001 T031, T034).
    #[serde(default)]
    pub dms_tags: Vec<String>,
    /// The user prompt with each page; default `OCR_PROMPT`.
    #[serde(default)]
    pub prompt: Option<String>,
    /// Render resolution; default `OCR_DPI`, at most `OCR_MAX_DPI`.
    #[serde(default)]
    pub dpi: Option<u32>,
    /// First and last page (1-based, inclusive) of a PDF; default all.
    #[serde(default)]
    pub first_page: Option<u32>,
    #[serde(default)]
    pub last_page: Option<u32>,
}

/// One page's result.
#[derive(Debug, Serialize)]
pub struct PageResult {
    pub page: u32,
    pub text: String,
    /// Rendering (0 for an image).
    pub render_ms: f64,
    /// Waiting for a free slot to Ollama.
    pub queue_ms: f64,
    /// The Ollama call.
    pub ollama_ms: f64,
}

/// The response body.
#[derive(Debug, Serialize)]
pub struct OcrResponse {
    pub model: String,
    pub media: MediaKind,
    /// Pages in the document (for a PDF), even when a range was asked for.
    pub document_pages: u32,
    pub pages: Vec<PageResult>,
    pub timings: Timings,
    pub residency: ResidencyReport,
    pub parameters: ParametersReport,
}

#[derive(Debug, Serialize)]
pub struct Timings {
    pub total_ms: f64,
    pub render_ms: f64,
    /// Summed over pages (pages run concurrently, so the sums can exceed `total_ms`).
    pub ollama_ms: f64,
    pub queue_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct ResidencyReport {
    #[serde(flatten)]
    pub decision: ResidencyDecision,
    /// Whether the model was unloaded after this request.
    pub unloaded: bool,
}

#[derive(Debug, Serialize)]
pub struct ParametersReport {
    pub options: Map<String, Value>,
    pub system_prompt: bool,
    pub dms_tags: Vec<String>,
    pub api: &'static str,
}

/// The system prompt with the DMS tags appended.
pub fn compose_system(system_prompt: Option<&str>, tags: &[String]) -> Option<String> {
    let tags: Vec<&str> = tags.iter().map(|t| t.trim()).filter(|t| !t.is_empty()).collect();
    let base = system_prompt.map(str::trim).filter(|s| !s.is_empty());
    match (base, tags.is_empty()) {
        (None, true) => None,
        (Some(s), true) => Some(s.to_string()),
        (None, false) => Some(format!("DMS tags: {}", tags.join(", "))),
        (Some(s), false) => Some(format!("{s}\n\nDMS tags: {}", tags.join(", "))),
    }
}

fn ms(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

enum Source {
    Image(Vec<u8>),
    Pdf { path: PathBuf, pages: Vec<(u32, Option<(f64, f64)>)> },
}

/// The handler body, after the JSON has been read.
pub async fn run(state: AppState, body: Value) -> Result<OcrResponse, AppError> {
    let started = Instant::now();
    params::reject_keep_alive(&body)?;
    let req: OcrRequest =
        serde_json::from_value(body).map_err(|e| AppError::bad_request("invalid_request", e.to_string()))?;
    let options = params::ollama_options(&req.runtime_params)?;
    let cfg = &state.config;
    let dpi = req.dpi.unwrap_or(cfg.dpi);
    if !(36..=cfg.max_dpi).contains(&dpi) {
        return Err(AppError::bad_request("invalid_request", format!("dpi must be between 36 and {}", cfg.max_dpi)));
    }
    if req.dms_tags.len() > 64 || req.dms_tags.iter().any(|t| t.len() > 256) {
        return Err(AppError::bad_request("invalid_request", "at most 64 dms_tags of at most 256 bytes each"));
    }

    // The path: resolved and opened on a blocking thread; every refusal is the same 403.
    let (media, source, document_pages) = open_source(&state, &req).await?;

    let (situation, _) = state.situation(None).await;
    let decision = ocr_residency(&cfg.residency, &situation);
    tracing::info!(
        decision = ?decision.decision,
        keep_alive = %decision.keep_alive,
        reason = %decision.reason,
        free_mib = ?decision.inputs.free_mib,
        llm_loaded = ?decision.inputs.llm_loaded,
        ocr_loaded = ?decision.inputs.model_loaded,
        "OCR residency"
    );

    let in_flight = state.begin_ocr();
    let system = compose_system(req.system_prompt.as_deref(), &req.dms_tags);
    let prompt = req.prompt.clone().unwrap_or_else(|| cfg.ocr_prompt.clone());
    let job = Arc::new(PageJob {
        state: state.clone(),
        options: options.clone(),
        system,
        prompt,
        decision: decision.clone(),
        dpi,
    });
    let result = run_pages(job, source).await;

    // Unload under pressure once no other OCR request is using the model, success or not.
    let last = in_flight.finish();
    let mut unloaded = false;
    if decision.decision == Residency::UnloadAfterRequest && last {
        match state.ollama.unload(&cfg.ocr_model).await {
            Ok(()) => unloaded = true,
            Err(e) => tracing::warn!(error = ?e, "unloading the OCR model failed"),
        }
    }
    let pages = result?;
    let render: f64 = pages.iter().map(|p| p.render_ms).sum();
    let ollama: f64 = pages.iter().map(|p| p.ollama_ms).sum();
    let queue: f64 = pages.iter().map(|p| p.queue_ms).sum();
    Ok(OcrResponse {
        model: cfg.ocr_model.clone(),
        media,
        document_pages,
        timings: Timings { total_ms: ms(started.elapsed()), render_ms: render, ollama_ms: ollama, queue_ms: queue },
        pages,
        residency: ResidencyReport { decision, unloaded },
        parameters: ParametersReport {
            options,
            system_prompt: req.system_prompt.is_some(),
            dms_tags: req.dms_tags,
            api: match cfg.ocr_api {
                OllamaApi::Generate => "generate",
                OllamaApi::Chat => "chat",
            },
        },
    })
}

async fn open_source(state: &AppState, req: &OcrRequest) -> Result<(MediaKind, Source, u32), AppError> {
    let cfg = &state.config;
    let requested = req.path.clone();
    let st = state.clone();
    let max = cfg.max_file_bytes;
    let (media, path, image) = tokio::task::spawn_blocking(move || -> Result<_, AppError> {
        let (file, path) =
            st.base.open(&requested).map_err(|e| AppError::Forbidden { reason: format!("{requested:?}: {e}") })?;
        let len = file.metadata().map_err(AppError::internal)?.len();
        if len > max {
            return Err(AppError::PayloadTooLarge(format!("the file is larger than {} MiB", max / 1024 / 1024)));
        }
        let mut head = Vec::with_capacity(16);
        let mut file = file;
        (&mut file).take(16).read_to_end(&mut head).map_err(AppError::internal)?;
        let media = MediaKind::sniff(&head).ok_or(AppError::UnsupportedMediaType)?;
        let image = if media.is_pdf() {
            None
        } else {
            let mut bytes = head;
            file.take(max).read_to_end(&mut bytes).map_err(AppError::internal)?;
            Some(bytes)
        };
        Ok((media, path, image))
    })
    .await
    .map_err(AppError::internal)??;

    if let Some(bytes) = image {
        if req.first_page.is_some_and(|p| p != 1) || req.last_page.is_some_and(|p| p != 1) {
            return Err(AppError::bad_request("invalid_request", "an image has one page"));
        }
        return Ok((media, Source::Image(bytes), 1));
    }
    let first = req.first_page.unwrap_or(1);
    if first == 0 || req.last_page.is_some_and(|l| l < first) {
        return Err(AppError::bad_request("invalid_request", "pages are numbered from 1 and last_page ≥ first_page"));
    }
    // All page sizes at once (pdfinfo refuses a range past the last page, which we report ourselves).
    let info = render::pdf_info(&path, 1, None, cfg.render_timeout).await.map_err(render_error)?;
    let last = req.last_page.unwrap_or(info.pages).min(info.pages);
    if first > info.pages {
        return Err(AppError::Unprocessable {
            code: "page_out_of_range",
            message: format!("the document has {} pages", info.pages),
        });
    }
    let count = last - first + 1;
    if count > cfg.max_pages {
        return Err(AppError::Unprocessable {
            code: "too_many_pages",
            message: format!(
                "{count} pages requested; at most {} per request (use first_page/last_page)",
                cfg.max_pages
            ),
        });
    }
    let pages = (first..=last).map(|p| (p, info.sizes.get((p - 1) as usize).copied())).collect();
    Ok((media, Source::Pdf { path, pages }, info.pages))
}

fn render_error(e: RenderError) -> AppError {
    match e {
        RenderError::ToolMissing(_) => AppError::internal(e),
        RenderError::Timeout(_) => AppError::UpstreamTimeout { detail: e.to_string() },
        RenderError::TooLarge(_) => AppError::Unprocessable {
            code: "page_too_large",
            message: "a rendered page is too large; lower the dpi".into(),
        },
        RenderError::Failed { .. } => {
            tracing::warn!(error = %e, "rendering failed");
            AppError::Unprocessable {
                code: "unreadable_document",
                message: "the document could not be rendered".into(),
            }
        }
    }
}

struct PageJob {
    state: AppState,
    options: Map<String, Value>,
    system: Option<String>,
    prompt: String,
    decision: ResidencyDecision,
    dpi: u32,
}

impl PageJob {
    async fn page(&self, number: u32, image: PageImage) -> Result<PageResult, AppError> {
        let cfg = &self.state.config;
        let (image, render_ms) = match image {
            PageImage::Bytes(bytes) => (bytes, 0.0),
            PageImage::Pdf { path, size } => {
                let _permit = self.state.render_permits.acquire().await.map_err(AppError::internal)?;
                let render_started = Instant::now();
                let opts = render::RenderOptions {
                    dpi: self.dpi,
                    format: cfg.page_format,
                    max_pixels: cfg.max_page_pixels,
                    timeout: cfg.render_timeout,
                    max_bytes: usize::try_from(cfg.max_file_bytes).unwrap_or(usize::MAX),
                };
                let rendered = render::render_page(&path, number, size, opts).await.map_err(render_error)?;
                (rendered, ms(render_started.elapsed()))
            }
        };
        let b64 = base64::engine::general_purpose::STANDARD.encode(&image);
        drop(image);
        let queued = Instant::now();
        let _permit = self.state.ollama_permits.acquire().await.map_err(AppError::internal)?;
        let queue_ms = ms(queued.elapsed());
        let model = &cfg.ocr_model;
        let keep_alive = &self.decision.keep_alive;
        let answer = match cfg.ocr_api {
            OllamaApi::Generate => {
                self.state
                    .ollama
                    .generate(model, &self.prompt, self.system.as_deref(), b64, &self.options, keep_alive)
                    .await
            }
            OllamaApi::Chat => {
                self.state
                    .ollama
                    .chat(model, &self.prompt, self.system.as_deref(), b64, &self.options, keep_alive)
                    .await
            }
        }?;
        Ok(PageResult { page: number, text: answer.text, render_ms, queue_ms, ollama_ms: ms(answer.elapsed) })
    }
}

enum PageImage {
    Bytes(Vec<u8>),
    Pdf { path: PathBuf, size: Option<(f64, f64)> },
}

async fn run_pages(job: Arc<PageJob>, source: Source) -> Result<Vec<PageResult>, AppError> {
    let work: Vec<(u32, PageImage)> = match source {
        Source::Image(bytes) => vec![(1, PageImage::Bytes(bytes))],
        Source::Pdf { path, pages } => {
            pages.into_iter().map(|(n, size)| (n, PageImage::Pdf { path: path.clone(), size })).collect()
        }
    };
    let per_request = Arc::new(tokio::sync::Semaphore::new(job.state.config.page_concurrency));
    // Dropping the set (an error, or the client going away) aborts the pages still running.
    let mut set = JoinSet::new();
    for (number, image) in work {
        let job = job.clone();
        let per_request = per_request.clone();
        set.spawn(async move {
            let _slot = per_request.acquire_owned().await.map_err(AppError::internal)?;
            job.page(number, image).await
        });
    }
    let mut pages = Vec::new();
    while let Some(joined) = set.join_next().await {
        pages.push(joined.map_err(AppError::internal)??);
    }
    pages.sort_by_key(|p| p.page);
    Ok(pages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_prompt_and_tags_compose() {
        let tags = vec!["contract".to_string(), " ".to_string(), "LCBP3".to_string()];
        assert_eq!(compose_system(None, &[]), None);
        assert_eq!(compose_system(Some("Be exact."), &[]).as_deref(), Some("Be exact."));
        assert_eq!(compose_system(None, &tags).as_deref(), Some("DMS tags: contract, LCBP3"));
        assert_eq!(compose_system(Some("Be exact."), &tags).as_deref(), Some("Be exact.\n\nDMS tags: contract, LCBP3"));
    }
}
