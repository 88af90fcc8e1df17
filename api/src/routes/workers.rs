//! Live workers and queue depth.

use axum::extract::State;
use freight_core::store::WorkerStatus;

use crate::auth::TenantContext;
use crate::error::{ApiError, Problem};
use crate::state::AppState;

/// Get worker status
///
/// Workers that sent a heartbeat in the last 30 seconds (host, start time,
/// last heartbeat, batches in flight, rows copied), this tenant's batches
/// waiting and running, and the total queue depth across tenants.
#[utoipa::path(
    get, path = "/api/v1/workers", operation_id = "get_worker_status", tag = "workers",
    params(("X-Tenant-ID" = String, Header, description = "Tenant to act for")),
    responses(
        (status = 200, description = "Worker status", body = WorkerStatus),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_worker_status(
    State(state): State<AppState>,
    ctx: TenantContext,
) -> Result<axum::Json<WorkerStatus>, ApiError> {
    Ok(axum::Json(state.store.worker_status(&ctx.tenant).await?))
}
