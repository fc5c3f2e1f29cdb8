//! API-key authentication (seed 001 US1) or network-only mode (seed 001 US5).
//!
//! Only the SHA-256 of the configured key is kept; a presented key is hashed the same way and the two
//! digests are compared in constant time, so neither the key's length nor a matching prefix leaks
//! through timing.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::AuthMode;
use crate::error::AppError;
use crate::state::AppState;

/// The header that carries the key, as the document system's backend sends it.
pub const API_KEY_HEADER: &str = "x-api-key";

pub fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Whether `presented` is the key whose digest is `expected`.
pub fn key_matches(expected: &[u8; 32], presented: &[u8]) -> bool {
    bool::from(digest(presented).ct_eq(expected))
}

/// Middleware: 401 unless the request carries the right key (API-key mode).
pub async fn require_key(State(state): State<AppState>, request: Request, next: Next) -> Result<Response, AppError> {
    if let AuthMode::ApiKey { digest } = &state.config.auth {
        let presented = request.headers().get(API_KEY_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
        if presented.is_empty() || !key_matches(digest, presented) {
            return Err(AppError::Unauthorized);
        }
    }
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_compare_by_digest() {
        let expected = digest(b"correct horse battery staple");
        assert!(key_matches(&expected, b"correct horse battery staple"));
        assert!(!key_matches(&expected, b"correct horse battery stapl"));
        assert!(!key_matches(&expected, b"correct horse battery staple "));
        assert!(!key_matches(&expected, b""));
    }
}
