//! The API's one error type, and its single mapping to RFC 9457
//! `application/problem+json`. 5xx bodies are opaque (a generic sentence
//! and the request id); their cause is logged here, once, on a line that
//! carries the same request id (the request's span, see `app.rs`).

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use freight_core::plan::PlanError;
use freight_core::{FieldError, StoreError, ValidationError};
use serde::Serialize;
use utoipa::ToSchema;

/// Stable machine-readable error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    ValidationError,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    RateLimited,
    Unavailable,
    Internal,
    /// The connection policy refuses a source or target.
    ConnectionNotAllowed,
    /// The plan would need more batches than a job may have.
    PlanTooLarge,
    /// Planning took longer than the plan timeout.
    PlanTimeout,
}

impl ErrorCode {
    fn slug(self) -> &'static str {
        match self {
            Self::ValidationError => "validation-error",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not-found",
            Self::Conflict => "conflict",
            Self::RateLimited => "rate-limited",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
            Self::ConnectionNotAllowed => "connection-not-allowed",
            Self::PlanTooLarge => "plan-too-large",
            Self::PlanTimeout => "plan-timeout",
        }
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// URI identifying the problem type.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short summary of the problem type.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// What went wrong in this occurrence.
    pub detail: String,
    /// Stable error code to branch on.
    pub code: ErrorCode,
    /// Field-level details of a validation error.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Id of the request (its `x-request-id` response header): quote it
    /// when reporting a problem, operators find the cause in the logs by it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// What a 503 says: which dependency failed, and how, is for the log only.
pub const UNAVAILABLE_DETAIL: &str = "a dependency is unavailable; retry later";

tokio::task_local! {
    /// The id of the request being served, for problem bodies.
    static REQUEST_ID: String;
}

/// Middleware: makes the request's `x-request-id` (set by the request-id
/// layer in front of it) known to the problems rendered while serving it.
pub async fn scope_request_id(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match id {
        Some(id) => REQUEST_ID.scope(id, next.run(request)).await,
        None => next.run(request).await,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Well-formed input that is not valid (422).
    #[error("validation failed")]
    Validation(ValidationError),
    /// Input that could not be read at all: malformed JSON, bad query (400).
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("rate limited")]
    RateLimited { retry_after_seconds: u64 },
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("internal: {0}")]
    Internal(String),
    /// The connection policy refuses a source or target (422).
    #[error("connection not allowed")]
    ConnectionNotAllowed(ValidationError),
    #[error("plan too large: {0}")]
    PlanTooLarge(String),
    #[error("plan timed out after {0} s")]
    PlanTimeout(u64),
    /// The tenant already runs its maximum of concurrent plans (429).
    #[error("too many concurrent plans")]
    TooManyPlans(usize),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, ErrorCode, String) {
        match self {
            Self::Validation(e) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::ValidationError,
                format!("{} invalid field(s)", e.0.len()),
            ),
            Self::BadRequest(detail) => (
                StatusCode::BAD_REQUEST,
                ErrorCode::ValidationError,
                detail.clone(),
            ),
            Self::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::ValidationError,
                "request body is larger than the limit".into(),
            ),
            Self::UnsupportedMediaType(detail) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::ValidationError,
                detail.clone(),
            ),
            Self::Unauthorized(detail) => (
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthorized,
                (*detail).into(),
            ),
            Self::Forbidden(detail) => {
                (StatusCode::FORBIDDEN, ErrorCode::Forbidden, detail.clone())
            }
            Self::NotFound(detail) => (StatusCode::NOT_FOUND, ErrorCode::NotFound, detail.clone()),
            Self::Conflict(detail) => (StatusCode::CONFLICT, ErrorCode::Conflict, detail.clone()),
            Self::RateLimited {
                retry_after_seconds,
            } => (
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::RateLimited,
                format!("rate limit exceeded; retry in {retry_after_seconds} s"),
            ),
            Self::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                UNAVAILABLE_DETAIL.into(),
            ),
            Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
                "internal error".into(),
            ),
            Self::ConnectionNotAllowed(e) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::ConnectionNotAllowed,
                format!(
                    "connection not allowed: {}",
                    e.0.iter()
                        .map(|f| f.field.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            Self::PlanTooLarge(detail) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::PlanTooLarge,
                detail.clone(),
            ),
            Self::PlanTimeout(seconds) => (
                StatusCode::GATEWAY_TIMEOUT,
                ErrorCode::PlanTimeout,
                format!(
                    "planning took longer than {seconds} s (FREIGHT_PLAN_TIMEOUT_SECONDS); plan fewer tables at a time"
                ),
            ),
            Self::TooManyPlans(max) => (
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::RateLimited,
                format!(
                    "at most {max} plans run at a time per tenant; retry when one has finished"
                ),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, detail) = self.parts();
        match &self {
            Self::Internal(cause) => tracing::error!(%cause, "request failed"),
            Self::Unavailable(cause) => tracing::warn!(%cause, "dependency unavailable"),
            _ => {}
        }
        let retry_after = matches!(self, Self::TooManyPlans(_));
        let errors = match self {
            Self::Validation(e) | Self::ConnectionNotAllowed(e) => e.0,
            _ => Vec::new(),
        };
        let problem = Problem {
            problem_type: format!("https://freight.dev/problems/{}", code.slug()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            code,
            errors,
            request_id: REQUEST_ID.try_with(Clone::clone).ok(),
        };
        let mut response = (status, axum::Json(problem)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        Self::Validation(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound("no such job for this tenant".into()),
            StoreError::Conflict(detail) => Self::Conflict(detail),
            StoreError::Validation(v) => Self::Validation(v),
            StoreError::Database(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_)) => {
                Self::Unavailable(format!("database: {e}"))
            }
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<PlanError> for ApiError {
    fn from(e: PlanError) -> Self {
        match e {
            PlanError::Invalid(v) => Self::Validation(v),
            PlanError::NotAllowed(violation) => Self::ConnectionNotAllowed(
                ValidationError::single(violation.field, violation.message),
            ),
            PlanError::TooLarge(detail) => Self::PlanTooLarge(detail),
            PlanError::Unreachable(detail) => {
                Self::Validation(ValidationError::single("source_config", detail))
            }
            PlanError::Internal(detail) => Self::Internal(detail),
        }
    }
}
