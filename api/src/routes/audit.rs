//! The tenant's audit trail.

use axum::extract::State;
use chrono::{DateTime, Utc};
use freight_core::store::{AuditAction, AuditEvent, AuditFilter, parse_audit_cursor};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::TenantContext;
use crate::error::{ApiError, Problem};
use crate::extract::ApiQuery;
use crate::state::AppState;

/// Filters and paging of `list_audit_events`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only events by this actor (token subject).
    pub actor: Option<String>,
    /// Only this action.
    pub action: Option<AuditAction>,
    /// Only events at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
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
    /// A page of audit events, newest first.
    AuditList of AuditEvent, items: "Events on this page."
);

/// List audit events
///
/// The tenant's audit trail, newest first: who did what to which job,
/// from which address and client, and when. Every change made through the
/// API is recorded in the same transaction as the change.
#[utoipa::path(
    get, path = "/api/v1/audit", operation_id = "list_audit_events", tag = "audit",
    params(("X-Tenant-ID" = String, Header, description = "Tenant to act for"), AuditQuery),
    responses(
        (status = 200, description = "A page of audit events", body = AuditList),
        (status = 422, description = "`limit` out of range (1-1000) (`VALIDATION_ERROR`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list_audit_events(
    State(state): State<AppState>,
    ctx: TenantContext,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<axum::Json<AuditList>, ApiError> {
    let before_id = super::decode_cursor(query.cursor.as_deref(), parse_audit_cursor)?;
    let filter = AuditFilter {
        actor: query.actor,
        action: query.action,
        since: query.since,
        limit: super::page_limit(query.limit)?,
        before_id,
    };
    let page = state.store.list_audit_events(&ctx.tenant, &filter).await?;
    Ok(axum::Json(AuditList::from(page)))
}
