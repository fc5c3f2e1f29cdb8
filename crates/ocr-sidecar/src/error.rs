//! The one error type handlers return. Clients get a stable JSON shape,
//! `{"error": {"code": "...", "message": "..."}}`; the detail that explains a failure to an operator
//! (file names, upstream bodies, OS errors) goes to the log, never into the response.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// A failed request: what the client is told, and what only the log sees.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The `X-API-Key` header is missing or wrong.
    #[error("missing or invalid API key")]
    Unauthorized,
    /// A path that does not resolve inside the upload base. The reason is logged, not returned.
    #[error("path not allowed")]
    Forbidden { reason: String },
    /// The request is malformed; the message describes the client's own input.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// A file or body over the configured limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Not a PDF or a supported image (by content, not by name).
    #[error("unsupported file type: only PDF, PNG, JPEG, TIFF, WebP and GIF are accepted")]
    UnsupportedMediaType,
    /// The document could not be processed as given (e.g. too many pages, unreadable PDF).
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    /// A feature that this deployment has not configured (no embedding model, no reranker).
    #[error("{0}")]
    NotConfigured(String),
    /// Ollama failed or answered with an error; `detail` is logged.
    #[error("the model server failed to answer")]
    Upstream { detail: String },
    /// Ollama or a renderer did not answer in time.
    #[error("the model server did not answer in time")]
    UpstreamTimeout { detail: String },
    /// Anything else. `detail` is logged, the client sees a generic message.
    #[error("internal error")]
    Internal { detail: String },
    /// No such endpoint (`/normalize` included: it was removed, seed 001 T054).
    #[error("no such endpoint")]
    NotFound,
    /// The endpoint exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
}

impl AppError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        AppError::BadRequest { code, message: message.into() }
    }

    pub fn internal(detail: impl std::fmt::Display) -> Self {
        AppError::Internal { detail: detail.to_string() }
    }

    pub fn upstream(detail: impl std::fmt::Display) -> Self {
        AppError::Upstream { detail: detail.to_string() }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::Forbidden { .. } => StatusCode::FORBIDDEN,
            AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            AppError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::NotConfigured(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Upstream { .. } => StatusCode::BAD_GATEWAY,
            AppError::UpstreamTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            AppError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    /// The stable, machine-readable code of the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthorized => "unauthorized",
            AppError::Forbidden { .. } => "forbidden",
            AppError::BadRequest { code, .. } => code,
            AppError::PayloadTooLarge(_) => "payload_too_large",
            AppError::UnsupportedMediaType => "unsupported_media_type",
            AppError::Unprocessable { code, .. } => code,
            AppError::NotConfigured(_) => "not_configured",
            AppError::Upstream { .. } => "upstream_error",
            AppError::UpstreamTimeout { .. } => "upstream_timeout",
            AppError::Internal { .. } => "internal",
            AppError::NotFound => "not_found",
            AppError::MethodNotAllowed => "method_not_allowed",
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            AppError::Forbidden { reason } => tracing::warn!(code = self.code(), reason = %reason, "request refused"),
            AppError::Upstream { detail } | AppError::UpstreamTimeout { detail } => {
                tracing::warn!(code = self.code(), detail = %detail, "upstream failure")
            }
            AppError::Internal { detail } => tracing::error!(code = self.code(), detail = %detail, "internal error"),
            _ => tracing::debug!(code = self.code(), message = %self, "request failed"),
        }
        let body = serde_json::json!({ "error": { "code": self.code(), "message": self.to_string() } });
        (status, Json(body)).into_response()
    }
}
