//! Migration jobs: create, plan, list, inspect, retry, cancel.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use freight_core::JobId;
use freight_core::ids::BatchId;
use freight_core::job::{BatchStatus, DEFAULT_MAX_RETRIES, JobSpec, JobStatus, MAX_MAX_RETRIES};
use freight_core::plan::PlanReport;
use freight_core::store::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::TenantContext;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::progress::JobProgress;
use crate::state::AppState;

/// Filters and paging of `list_migration_jobs`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListJobsQuery {
    /// Only jobs in this state.
    pub status: Option<JobStatus>,
    /// Only jobs created at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Only jobs created before this time (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// Page size, 1-1000; default 50.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page of this list: an opaque token
    /// made by the server; anything else (a cursor of another list
    /// included) is a 400.
    #[param(min_length = 1, pattern = "^[A-Za-z0-9_-]+$")]
    pub cursor: Option<String>,
}

super::list_page!(
    /// A page of jobs, newest first.
    JobList of JobRecord,
    items: "Jobs on this page.",
    total: "Jobs matching the filters across all pages."
);

/// A job with its progress, per-table statistics and error summary.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobDetailResponse {
    /// The job.
    #[serde(flatten)]
    pub job: JobRecord,
    /// Progress, throughput and ETA.
    pub progress: JobProgress,
    /// Batches by state.
    pub batches: BatchCounts,
    /// Progress per table (`tables` is the job's own list of tables).
    pub table_progress: Vec<TableStats>,
    /// What went wrong, if anything.
    pub errors: ErrorSummary,
    /// Warnings from planning (lossy casts, fallbacks).
    pub plan_warnings: Vec<String>,
    /// The last validation after the load (`validate_migration_job`); null
    /// when the job was never validated.
    #[schema(required = true)]
    pub validation: Option<ValidationSummary>,
}

/// What went wrong in a job.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorSummary {
    /// Short description of the failure, when the job failed.
    pub summary: Option<String>,
    /// Records rejected by the target.
    pub rows_rejected: i64,
    /// Batches that failed after all retries.
    pub failed_batches: i64,
    /// Batches whose verification found a mismatch.
    pub verification_mismatches: i64,
    /// Most frequent error messages in the logs.
    pub top_errors: Vec<ErrorCount>,
}

/// Filters and paging of `list_job_batches`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListBatchesQuery {
    /// Only batches in this state.
    pub status: Option<BatchStatus>,
    /// Page size, 1-1000; default 50.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page of this list: an opaque token
    /// made by the server; anything else (a cursor of another list
    /// included) is a 400.
    #[param(min_length = 1, pattern = "^[A-Za-z0-9_-]+$")]
    pub cursor: Option<String>,
}

super::list_page!(
    /// A page of batches in plan order.
    BatchList of BatchRecord,
    items: "Batches on this page.",
    total: "Batches matching the filter across all pages."
);

/// Body of `retry_migration_job`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"max_retries": 3}), json!({"max_retries": 5, "batch_ids": ["0192f4a1-7c3f-7000-8000-000000000001"]})))]
pub struct RetryBody {
    /// Attempts per batch for this retry; default 3.
    #[schema(maximum = 50, default = 3)]
    #[serde(
        default = "default_retries",
        deserialize_with = "freight_core::whole::number"
    )]
    pub max_retries: u32,
    /// Retry only these batches (any finished batch, completed ones included: how the
    /// `mismatched_batches` of a validation are repaired); omitted or empty = every failed,
    /// rejected or cancelled batch.
    #[serde(default)]
    pub batch_ids: Vec<BatchId>,
}

fn default_retries() -> u32 {
    DEFAULT_MAX_RETRIES
}

/// Result of `retry_migration_job`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RetryResponse {
    /// The job, queued again.
    pub job: JobRecord,
    /// Batches reset to pending.
    pub batches_retried: i64,
}

/// Create a migration job
///
/// Stores a job that copies the selected tables from `source_config` to
/// `target_config` in batches of `batch_size` rows. The job starts `queued`;
/// workers plan it, copy it and move it to `completed`,
/// `completed_with_errors` or `failed`. Passwords are stored encrypted and
/// are never returned.
#[utoipa::path(
    post, path = "/api/v1/jobs", operation_id = "create_migration_job", tag = "jobs",
    // Connects to the tenant's databases (the connection check).
    extensions(("x-mcp" = json!({"annotations": {"openWorldHint": true}}))),
    params(("X-Tenant-ID" = String, Header, description = "Tenant to act for")),
    request_body = JobSpec,
    responses(
        (status = 201, description = "Job created", body = JobRecord),
        (status = 422, description = "Invalid job specification, or a connection the connection policy refuses (`CONNECTION_NOT_ALLOWED`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create_migration_job(
    State(state): State<AppState>,
    ctx: TenantContext,
    ApiJson(spec): ApiJson<JobSpec>,
) -> Result<impl IntoResponse, ApiError> {
    spec.validate()?;
    state
        .planner
        .check_connections(&ctx.tenant, &spec.source_config, &spec.target_config)
        .await?;
    let job = state
        .store
        .create_job(&ctx.tenant, &spec, &ctx.audit)
        .await?;
    metrics::counter!("freight_jobs_created_total").increment(1);
    tracing::info!(tenant = %ctx.tenant, job_id = %job.id, "job created");
    let location = format!("/api/v1/jobs/{}", job.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(job),
    ))
}

/// Plan a migration job without running it
///
/// Takes the same body as `create_migration_job`, connects to the source
/// (and target) and returns the tables, their row estimates and key
/// columns, the batch count, the target DDL and warnings about lossy or
/// risky type conversions. Nothing is written anywhere. At most
/// `FREIGHT_MAX_CONCURRENT_PLANS` plans run at a time per tenant: another
/// is the shared 429 (`RATE_LIMITED`, with `Retry-After`).
#[utoipa::path(
    post, path = "/api/v1/jobs/plan", operation_id = "plan_migration_job", tag = "jobs",
    // A POST that writes nothing: tell MCP clients it is safe to call.
    extensions(("x-mcp" = json!({"annotations": {"readOnlyHint": true, "idempotentHint": true, "destructiveHint": false, "openWorldHint": true}}))),
    params(("X-Tenant-ID" = String, Header, description = "Tenant to act for")),
    request_body = JobSpec,
    responses(
        (status = 200, description = "The plan", body = PlanReport),
        (status = 422, description = "Invalid specification, unreachable database, connection refused by the connection policy (`CONNECTION_NOT_ALLOWED`) or a plan with too many batches (`PLAN_TOO_LARGE`)", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "Planning took longer than the plan timeout (`PLAN_TIMEOUT`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn plan_migration_job(
    State(state): State<AppState>,
    ctx: TenantContext,
    ApiJson(spec): ApiJson<JobSpec>,
) -> Result<axum::Json<PlanReport>, ApiError> {
    spec.validate()?;
    let _slot = state.plans.acquire(&ctx.tenant)?;
    let timeout = state.plans.timeout();
    match tokio::time::timeout(timeout, state.planner.plan(&ctx.tenant, &spec)).await {
        Ok(plan) => Ok(axum::Json(plan?)),
        Err(_) => Err(ApiError::PlanTimeout(timeout.as_secs())),
    }
}

/// List migration jobs
///
/// The tenant's jobs, newest first, filtered by state and creation time.
/// Paginated by cursor: pass `next_cursor` back as `cursor` while
/// `has_more` is true.
#[utoipa::path(
    get, path = "/api/v1/jobs", operation_id = "list_migration_jobs", tag = "jobs",
    params(("X-Tenant-ID" = String, Header, description = "Tenant to act for"), ListJobsQuery),
    responses(
        (status = 200, description = "A page of jobs", body = JobList),
        (status = 422, description = "`limit` out of range (1-1000) (`VALIDATION_ERROR`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list_migration_jobs(
    State(state): State<AppState>,
    ctx: TenantContext,
    ApiQuery(query): ApiQuery<ListJobsQuery>,
) -> Result<axum::Json<JobList>, ApiError> {
    let after = super::decode_cursor(query.cursor.as_deref(), parse_job_cursor)?;
    let filter = JobFilter {
        status: query.status,
        created: TimeWindow {
            since: query.since,
            until: query.until,
        },
        limit: super::page_limit(query.limit)?,
        after,
    };
    let page = state.store.list_jobs(&ctx.tenant, &filter).await?;
    Ok(axum::Json(JobList::from(page)))
}

/// Get a migration job
///
/// Status, progress percentage, row and batch counts, rows per second,
/// ETA, timings, per-table statistics and an error summary of one job.
#[utoipa::path(
    get, path = "/api/v1/jobs/{job_id}", operation_id = "get_migration_job", tag = "jobs",
    params(("X-Tenant-ID" = String, Header, description = "Tenant to act for"), ("job_id" = uuid::Uuid, Path, description = "Job id: the `id` returned by `create_migration_job`", example = "0192f4a1-7c3e-7b1a-9d2e-5f6a7b8c9d0e")),
    responses(
        (status = 200, description = "The job", body = JobDetailResponse),
    ),
    security(("bearer" = []))
)]
pub async fn get_migration_job(
    State(state): State<AppState>,
    ctx: TenantContext,
    ApiPath(job_id): ApiPath<JobId>,
) -> Result<axum::Json<JobDetailResponse>, ApiError> {
    let detail = state.store.get_job(&ctx.tenant, job_id).await?;
    let progress = JobProgress::of(&detail, Utc::now());
    Ok(axum::Json(JobDetailResponse {
        progress,
        errors: ErrorSummary {
            summary: detail.job.error_summary.clone(),
            rows_rejected: detail.job.rows_rejected,
            failed_batches: detail.batches.failed,
            verification_mismatches: detail.verification_mismatches,
            top_errors: detail.top_errors,
        },
        job: detail.job,
        batches: detail.batches,
        table_progress: detail.tables,
        plan_warnings: detail.plan_warnings,
        validation: detail.validation,
    }))
}

/// List the batches of a job
///
/// Each batch is a fixed key range of one table, in plan order, with its
/// state, attempts, row counts, verification result and last error.
#[utoipa::path(
    get, path = "/api/v1/jobs/{job_id}/batches", operation_id = "list_job_batches", tag = "jobs",
    params(("X-Tenant-ID" = String, Header, description = "Tenant to act for"), ("job_id" = uuid::Uuid, Path, description = "Job id: the `id` returned by `create_migration_job`", example = "0192f4a1-7c3e-7b1a-9d2e-5f6a7b8c9d0e"), ListBatchesQuery),
    responses(
        (status = 200, description = "A page of batches", body = BatchList),
        (status = 422, description = "`limit` out of range (1-1000) (`VALIDATION_ERROR`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list_job_batches(
    State(state): State<AppState>,
    ctx: TenantContext,
    ApiPath(job_id): ApiPath<JobId>,
    ApiQuery(query): ApiQuery<ListBatchesQuery>,
) -> Result<axum::Json<BatchList>, ApiError> {
    let after_seq = super::decode_cursor(query.cursor.as_deref(), parse_batch_cursor)?;
    let filter = BatchFilter {
        status: query.status,
        limit: super::page_limit(query.limit)?,
        after_seq,
    };
    let page = state
        .store
        .list_batches(&ctx.tenant, job_id, &filter)
        .await?;
    Ok(axum::Json(BatchList::from(page)))
}

/// Retry the failed batches of a job
///
/// Re-runs exactly the key ranges that failed, rejected records or were
/// cancelled (all of them, or the given `batch_ids`) with a fresh
/// `max_retries`. Only for jobs that are `completed_with_errors`, `failed`
/// or `cancelled`; 409 when there is nothing to retry. Given `batch_ids`,
/// completed batches (and completed jobs) are re-run too: that repairs the
/// `mismatched_batches` a validation reported.
#[utoipa::path(
    post, path = "/api/v1/jobs/{job_id}/retry", operation_id = "retry_migration_job", tag = "jobs",
    // Connects to the tenant's databases (the connection check).
    extensions(("x-mcp" = json!({"annotations": {"openWorldHint": true}}))),
    params(("X-Tenant-ID" = String, Header, description = "Tenant to act for"), ("job_id" = uuid::Uuid, Path, description = "Job id: the `id` returned by `create_migration_job`", example = "0192f4a1-7c3e-7b1a-9d2e-5f6a7b8c9d0e")),
    request_body = RetryBody,
    responses(
        (status = 200, description = "Batches queued again", body = RetryResponse),
        (status = 409, description = "Nothing to retry in this state", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid retry request, or a connection the connection policy now refuses (`CONNECTION_NOT_ALLOWED`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn retry_migration_job(
    State(state): State<AppState>,
    ctx: TenantContext,
    ApiPath(job_id): ApiPath<JobId>,
    ApiJson(body): ApiJson<RetryBody>,
) -> Result<axum::Json<RetryResponse>, ApiError> {
    if body.max_retries > MAX_MAX_RETRIES {
        return Err(freight_core::ValidationError::single(
            "max_retries",
            format!("must be at most {MAX_MAX_RETRIES}"),
        )
        .into());
    }
    // The policy may have changed since the job was created.
    let (source, target) = state.store.job_connections(&ctx.tenant, job_id).await?;
    state
        .planner
        .check_connections(&ctx.tenant, &source, &target)
        .await?;
    let request = RetryRequest {
        max_retries: body.max_retries,
        batch_ids: body.batch_ids,
    };
    let outcome = state
        .store
        .retry_job(&ctx.tenant, job_id, &request, &ctx.audit)
        .await?;
    tracing::info!(tenant = %ctx.tenant, %job_id, batches = outcome.batches_retried, "job retried");
    Ok(axum::Json(RetryResponse {
        job: outcome.job,
        batches_retried: outcome.batches_retried,
    }))
}

/// Cancel a migration job
///
/// Stops dispatching the job's batches: pending batches are cancelled at
/// once, batches in flight commit or roll back whole, then the job is
/// `cancelled`. Finished jobs cannot be cancelled (409).
#[utoipa::path(
    post, path = "/api/v1/jobs/{job_id}/cancel", operation_id = "cancel_migration_job", tag = "jobs",
    params(("X-Tenant-ID" = String, Header, description = "Tenant to act for"), ("job_id" = uuid::Uuid, Path, description = "Job id: the `id` returned by `create_migration_job`", example = "0192f4a1-7c3e-7b1a-9d2e-5f6a7b8c9d0e")),
    responses(
        (status = 200, description = "Job cancelled or cancelling", body = JobRecord),
        (status = 409, description = "Job already finished or cancelling", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn cancel_migration_job(
    State(state): State<AppState>,
    ctx: TenantContext,
    ApiPath(job_id): ApiPath<JobId>,
) -> Result<axum::Json<JobRecord>, ApiError> {
    let job = state
        .store
        .cancel_job(&ctx.tenant, job_id, &ctx.audit)
        .await?;
    tracing::info!(tenant = %ctx.tenant, %job_id, status = job.status.as_str(), "job cancel requested");
    Ok(axum::Json(job))
}
