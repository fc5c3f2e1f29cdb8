//! The sidecar's integration tests: the app driven in-process (and once on a real socket) against
//! the Ollama-compatible test server, real PDFs rendered by real poppler, the committed reranker
//! fixtures, and the binary's start-up.

// Test helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod embed;
mod ocr;
mod rerank;
mod residency;
mod startup;
mod traversal;
mod util;
