//! The document system's OCR sidecar (seed 001), rebuilt in Rust.
//!
//! `POST /ocr` renders a PDF (poppler) or takes an image from the upload directory and sends each
//! page to an OCR model on Ollama; `POST /embed` and `POST /rerank` serve retrieval; `GET /health`
//! reports models, VRAM and the residency decision. See the crate README for configuration.

pub mod app;
pub mod auth;
pub mod config;
pub mod embed;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod media;
pub mod ocr;
pub mod ollama;
pub mod params;
pub mod paths;
pub mod render;
pub mod rerank;
pub mod residency;
pub mod state;
#[cfg(any(test, feature = "test-server"))]
pub mod testing;
pub mod vram;

pub use app::app;
pub use config::Config;
pub use error::AppError;
pub use state::AppState;
