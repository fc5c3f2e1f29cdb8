//! Test support, compiled for tests and with the `test-server` feature (the benchmark): an
//! Ollama-compatible server that records what it is sent, a PDF writer, and configuration helpers.

pub mod ollama;
pub mod pdf;

use std::collections::HashMap;
use std::path::Path;

use crate::config::Config;

/// The API key test configurations use.
pub const TEST_KEY: &str = "test-key-0123456789abcdef";

/// A configuration for tests: API-key auth with [`TEST_KEY`], uploads under `base`, Ollama at
/// `ollama_url`, model `np-dms-ocr`, LLM `np-dms-ai`; `extra` variables override.
pub fn config(base: &Path, ollama_url: &str, extra: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<String, String> = [
        ("OCR_SIDECAR_API_KEY", TEST_KEY),
        ("OCR_SIDECAR_UPLOAD_BASE", base.to_str().unwrap_or_default()),
        ("OLLAMA_API_URL", ollama_url),
        ("OCR_MODEL", "np-dms-ocr"),
        ("LLM_MODEL", "np-dms-ai"),
        ("OCR_SIDECAR_VRAM_SOURCE", "none"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        vars.insert(k.to_string(), v.to_string());
    }
    match Config::from_lookup(&move |k| vars.get(k).cloned()) {
        Ok(c) => c,
        Err(e) => panic!("test configuration: {e}"),
    }
}
