//! One file per resource; each handler is thin: extract, call the store or
//! planner, shape the response.

pub mod audit;
pub mod events;
pub mod health;
pub mod jobs;
pub mod logs;
pub mod statistics;
pub mod validation;
pub mod webhooks;
pub mod workers;

use freight_core::store::MAX_PAGE_SIZE;

use crate::error::ApiError;

/// The `limit` of a list request, checked: 1-1000, or the store's default
/// page size (0) when omitted. A value out of range is a 422 naming `limit`,
/// never silently clamped, so the spec's `minimum`/`maximum` are the truth.
pub(crate) fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(0),
        Some(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
        Some(_) => Err(freight_core::ValidationError::single(
            "limit",
            format!("must be between 1 and {MAX_PAGE_SIZE}"),
        )
        .into()),
    }
}
