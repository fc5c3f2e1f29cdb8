//! `ocr-sidecar`: serve (default), `healthcheck` (for the container's HEALTHCHECK), `vram-report`
//! (prints the VRAM reading and the residency decisions; the GPU check of T034b).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use ocr_sidecar::config::{self, AuthMode, Config};
use ocr_sidecar::vram::{CachedMonitor, SystemMonitor, VramMonitor};
use ocr_sidecar::{app, AppState};

const USAGE: &str = "\
usage: ocr-sidecar [serve | healthcheck | vram-report | --version | --help]

  serve         run the service (the default); configured by environment variables, see the README
  healthcheck   GET /health on the local service with the configured key; exit 0 when it answers 200
  vram-report   print the VRAM reading and the residency/placement decisions as JSON, then exit
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("serve") => serve(),
        Some("healthcheck") => healthcheck(),
        Some("vram-report") => vram_report(),
        Some("-V" | "--version") => {
            println!("ocr-sidecar {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some("-h" | "--help") => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("ocr-sidecar: unknown command {other:?}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn init_logging() {
    let level = std::env::var("OCR_SIDECAR_LOG").ok().and_then(|l| l.parse().ok()).unwrap_or(tracing::Level::INFO);
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| {
        eprintln!("ocr-sidecar: error: cannot start the async runtime: {e}");
        ExitCode::from(3)
    })
}

fn serve() -> ExitCode {
    init_logging();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ocr-sidecar: error: {e}");
            return ExitCode::from(2);
        }
    };
    if let AuthMode::Network = config.auth {
        for line in [
            "AUTHENTICATION IS OFF (OCR_SIDECAR_AUTH=network): every request is accepted without an API key.",
            "This is safe only when the sidecar is reachable solely on an internal network (no published port).",
        ] {
            tracing::warn!("{line}");
        }
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async move {
        let monitor: Arc<dyn VramMonitor> =
            Arc::new(CachedMonitor::new(SystemMonitor::new(config.vram_source), Duration::from_secs(1)));
        let listen = config.listen;
        // Loading the reranker reads weights from disk: off the async threads (seed 001 T046).
        let state = match tokio::task::spawn_blocking(move || AppState::new(config, monitor)).await {
            Ok(Ok(state)) => state,
            Ok(Err(e)) => {
                eprintln!("ocr-sidecar: error: {}", error_detail(&e));
                return ExitCode::from(2);
            }
            Err(e) => {
                eprintln!("ocr-sidecar: error: {e}");
                return ExitCode::from(3);
            }
        };
        if !ocr_sidecar::render::poppler_available().await {
            tracing::warn!("pdftoppm not found: PDFs cannot be rendered (Debian: apt-get install poppler-utils)");
        }
        let vram = state.read_vram().await;
        tracing::info!(
            listen = %listen,
            auth = state.config.auth.name(),
            ollama = %state.config.ollama_url,
            model = %state.config.ocr_model,
            upload_base = %state.config.upload_base.display(),
            vram = ?vram,
            reranker = state.reranker.as_ref().map(|r| r.name().to_string()),
            "ocr-sidecar starting"
        );
        let listener = match tokio::net::TcpListener::bind(listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("ocr-sidecar: error: cannot listen on {listen}: {e}");
                return ExitCode::from(3);
            }
        };
        let served = axum::serve(listener, app(state)).with_graceful_shutdown(shutdown_signal()).await;
        match served {
            Ok(()) => {
                tracing::info!("stopped");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("ocr-sidecar: error: {e}");
                ExitCode::from(3)
            }
        }
    })
}

fn error_detail(e: &ocr_sidecar::AppError) -> String {
    match e {
        ocr_sidecar::AppError::Internal { detail } => detail.clone(),
        other => other.to_string(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

fn healthcheck() -> ExitCode {
    let listen = std::env::var("OCR_SIDECAR_LISTEN").unwrap_or_else(|_| "127.0.0.1:8765".into());
    let port = listen.rsplit(':').next().unwrap_or("8765").to_string();
    let url = format!("http://127.0.0.1:{port}/health");
    let key = std::env::var("OCR_SIDECAR_API_KEY").unwrap_or_default();
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async move {
        let client = match reqwest::Client::builder().timeout(Duration::from_secs(4)).build() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("healthcheck: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mut request = client.get(&url);
        if !key.is_empty() {
            request = request.header("x-api-key", key.trim());
        }
        match request.send().await {
            Ok(r) if r.status().is_success() => ExitCode::SUCCESS,
            Ok(r) => {
                eprintln!("healthcheck: {url}: HTTP {}", r.status());
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("healthcheck: {url}: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

fn vram_report() -> ExitCode {
    let (profile, source) = match config::residency_from_lookup(&|k| std::env::var(k).ok()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ocr-sidecar: error: {e}");
            return ExitCode::from(2);
        }
    };
    let started = std::time::Instant::now();
    let monitor = SystemMonitor::new(source);
    let reading = monitor.read();
    let read_ms = started.elapsed().as_secs_f64() * 1e3;
    let ollama = std::env::var("OLLAMA_API_URL").ok();
    let ocr_model = std::env::var("OCR_MODEL").ok();
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let (loaded, ps_error) = rt.block_on(async {
        let Some(url) = ollama else { return (None, Some("OLLAMA_API_URL not set".to_string())) };
        let client = match ocr_sidecar::ollama::OllamaClient::new(&url, Duration::from_secs(3)) {
            Ok(c) => c,
            Err(e) => return (None, Some(e.to_string())),
        };
        match client.loaded(Duration::from_secs(3)).await {
            Ok(models) => (Some(models), None),
            Err(e) => (None, Some(format!("{e:?}"))),
        }
    });
    let is_loaded = |name: &str| -> Option<bool> {
        let models = loaded.as_ref()?;
        Some(models.iter().any(|m| ocr_sidecar::ollama::same_model(&m.name, name)))
    };
    let situation = ocr_sidecar::residency::Situation {
        vram: reading.clone(),
        loaded: ocr_sidecar::residency::LoadedModels {
            llm: profile.llm_model.as_deref().and_then(is_loaded),
            ocr: ocr_model.as_deref().and_then(is_loaded),
        },
    };
    let report = serde_json::json!({
        "source_setting": format!("{source:?}"),
        "read_ms": (read_ms * 1000.0).round() / 1000.0,
        "reading": reading,
        "ollama_ps": loaded,
        "ollama_ps_error": ps_error,
        "ocr_residency": ocr_sidecar::residency::ocr_residency(&profile, &situation),
        "embed_placement": ocr_sidecar::residency::retrieval_placement(&profile, &situation, None, profile.embed_need_mib),
        "rerank_placement": ocr_sidecar::residency::retrieval_placement(&profile, &situation, None, profile.rerank_need_mib),
        "cuda_build": candle_core::utils::cuda_is_available(),
    });
    match serde_json::to_string_pretty(&report) {
        Ok(s) => {
            println!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ocr-sidecar: error: {e}");
            ExitCode::from(3)
        }
    }
}
