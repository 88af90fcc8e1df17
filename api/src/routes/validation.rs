//! Validation after the load: source and target compared per batch key
//! range by workers; the job view shows the outcome as `validation`.

use axum::extract::State;
use axum::http::StatusCode;
use freight_core::JobId;
use freight_core::store::ValidationSummary;

use crate::auth::TenantContext;
use crate::error::{ApiError, Problem};
use crate::extract::ApiPath;
use crate::state::AppState;

/// Validate a finished migration job
///
/// Compares source and target table by table, per batch key range, by row
/// count and a checksum of every row's values computed inside each database
/// (floats by their exact bits; JSON into `jsonb` and other types without
/// an exact common text form are compared by count only, and each range's
/// detail names them). Workers check the ranges; follow `validation`
/// in `get_migration_job` until it is `passed` or `failed`.
/// `mismatched_batches` are the ranges that differ: pass them to
/// `retry_migration_job` as `batch_ids` to copy them again, then validate
/// again. Only for finished jobs (409 while queued, running or cancelling);
/// a validation already running is returned as it is.
#[utoipa::path(
    post, path = "/api/v1/jobs/{job_id}/validate", operation_id = "validate_migration_job", tag = "jobs",
    // Reads the tenant's own source and target databases.
    extensions(("x-mcp" = json!({"annotations": {"openWorldHint": true}}))),
    params(("X-Tenant-ID" = String, Header, description = "Tenant to act for"), ("job_id" = uuid::Uuid, Path, description = "Job id: the `id` returned by `create_migration_job`", example = "0192f4a1-7c3e-7b1a-9d2e-5f6a7b8c9d0e")),
    responses(
        (status = 202, description = "Validation started (or already running)", body = ValidationSummary),
        (status = 404, description = "No such job for this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job is queued, running or cancelling, or has no batches", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn validate_migration_job(
    State(state): State<AppState>,
    ctx: TenantContext,
    ApiPath(job_id): ApiPath<JobId>,
) -> Result<(StatusCode, axum::Json<ValidationSummary>), ApiError> {
    let validation = state
        .store
        .start_validation(&ctx.tenant, job_id, &ctx.audit)
        .await?;
    tracing::info!(tenant = %ctx.tenant, %job_id, status = validation.status.as_str(), "validation requested");
    Ok((StatusCode::ACCEPTED, axum::Json(validation)))
}
