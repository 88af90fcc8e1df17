//! Aggregates: one tenant's jobs, and every tenant's for admins.

use axum::extract::State;
use chrono::{DateTime, Duration, Utc};
use freight_core::store::{JobStatistics, StatsWindow, TenantStatistics};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{AdminContext, TenantContext};
use crate::error::{ApiError, Problem};
use crate::extract::ApiQuery;
use crate::state::AppState;

/// The window statistics cover when `since` is omitted.
const DEFAULT_WINDOW_DAYS: i64 = 30;

/// Time window of a statistics request.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WindowQuery {
    /// Jobs created at or after this time (RFC 3339); default 30 days ago.
    pub since: Option<DateTime<Utc>>,
    /// Jobs created before this time (RFC 3339), after `since`; default now.
    pub until: Option<DateTime<Utc>>,
}

impl WindowQuery {
    /// The window with its defaults filled in (the response states both
    /// ends); `until` must be after `since` either way, so a `since` in the
    /// future without an `until` is refused like an explicit empty window.
    fn window(&self) -> Result<StatsWindow, ApiError> {
        let now = Utc::now();
        let since = self
            .since
            .unwrap_or_else(|| now - Duration::days(DEFAULT_WINDOW_DAYS));
        let until = self.until.unwrap_or(now);
        if until <= since {
            let message = match self.until {
                Some(_) => "must be after since",
                None => "must be after since; its default is now, so since must be in the past",
            };
            return Err(freight_core::ValidationError::single("until", message).into());
        }
        Ok(StatsWindow { since, until })
    }
}

/// Every tenant's figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantStatisticsList {
    /// One entry per tenant with jobs in the window.
    pub tenants: Vec<TenantStatistics>,
}

/// Get job statistics
///
/// The tenant's jobs created in a time window (default: the last 30 days):
/// counts by state, success rate (completed / finished), rows read, written
/// and rejected, and mean job duration.
#[utoipa::path(
    get, path = "/api/v1/statistics", operation_id = "get_job_statistics", tag = "statistics",
    params(("X-Tenant-ID" = String, Header, description = "Tenant to act for"), WindowQuery),
    responses(
        (status = 200, description = "Statistics", body = JobStatistics),
        (status = 422, description = "`until` is not after `since` (their defaults are now and 30 days ago: a `since` in the future, or an `until` more than 30 days ago without a `since`) (`VALIDATION_ERROR`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_job_statistics(
    State(state): State<AppState>,
    ctx: TenantContext,
    ApiQuery(query): ApiQuery<WindowQuery>,
) -> Result<axum::Json<JobStatistics>, ApiError> {
    let window = query.window()?;
    Ok(axum::Json(
        state.store.job_statistics(&ctx.tenant, &window).await?,
    ))
}

/// Get statistics of every tenant
///
/// Admin only: per-tenant job counts by state, rows written and rejected,
/// and the last job time, for jobs created in the window (default: the
/// last 30 days). Needs a token with the `admin` role.
#[utoipa::path(
    get, path = "/api/v1/admin/tenants/statistics", operation_id = "get_tenant_statistics", tag = "admin",
    params(WindowQuery),
    responses(
        (status = 200, description = "Per-tenant statistics", body = TenantStatisticsList),
        (status = 422, description = "`until` is not after `since` (their defaults are now and 30 days ago: a `since` in the future, or an `until` more than 30 days ago without a `since`) (`VALIDATION_ERROR`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_tenant_statistics(
    State(state): State<AppState>,
    _admin: AdminContext,
    ApiQuery(query): ApiQuery<WindowQuery>,
) -> Result<axum::Json<TenantStatisticsList>, ApiError> {
    let window = query.window()?;
    Ok(axum::Json(TenantStatisticsList {
        tenants: state.store.tenant_statistics(&window).await?,
    }))
}
