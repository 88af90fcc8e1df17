//! Live workers and queue depth.

use axum::extract::State;
use freight_core::store::WorkerStatus;
use freight_core::tokens::Role;

use crate::auth::TenantContext;
use crate::error::ApiError;
use crate::state::AppState;

/// Get worker status
///
/// How many workers are live (heartbeat in the last 30 seconds), this
/// tenant's batches waiting and running, the total queue depth across
/// tenants, and this tenant's batches being copied now (batch, job, table,
/// attempt, start time). The fleet itself (worker ids, host names, start
/// time, last heartbeat, batches in flight, rows copied) is listed in
/// `workers` only for callers with the admin role; for everyone else
/// `workers` is an empty list.
#[utoipa::path(
    get, path = "/api/v1/workers", operation_id = "get_worker_status", tag = "workers",
    params(("X-Tenant-ID" = String, Header, description = "Tenant to act for")),
    responses(
        (status = 200, description = "Worker status", body = WorkerStatus),
    ),
    security(("bearer" = []))
)]
pub async fn get_worker_status(
    State(state): State<AppState>,
    ctx: TenantContext,
) -> Result<axum::Json<WorkerStatus>, ApiError> {
    let mut status = state.store.worker_status(&ctx.tenant).await?;
    if ctx.claims.role == Role::Admin {
        status.workers = state.store.live_workers().await?;
    }
    Ok(axum::Json(status))
}
