//! The audit trail: written in the transaction of the change it records.

use sqlx::SqliteConnection;
use sqlx::types::Json;

use super::{SqliteStore, now, page_size, timestamp};
use crate::ids::TenantId;
use crate::store::rows::{AuditRow, page, role_name};
use crate::store::*;

pub(super) async fn record(
    conn: &mut SqliteConnection,
    tenant: &TenantId,
    info: &AuditInfo,
    action: AuditAction,
    target_id: Option<&str>,
    details: serde_json::Value,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_events (tenant_id, actor, actor_role, action, target_type, target_id, ip, user_agent, details, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(tenant.as_str())
    .bind(&info.actor)
    .bind(role_name(info.role))
    .bind(action.as_str())
    .bind(action.target_type().as_str())
    .bind(target_id)
    .bind(info.ip.as_deref())
    .bind(info.user_agent.as_deref())
    .bind(Json(details))
    .bind(now())
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) async fn list(
    store: &SqliteStore,
    tenant: &TenantId,
    filter: &AuditFilter,
) -> StoreResult<Page<AuditEvent>> {
    let limit = page_size(filter.limit);
    let rows: Vec<AuditRow> = sqlx::query_as(
        "SELECT id, actor, actor_role, action, target_type, target_id, ip, user_agent, details, created_at
         FROM audit_events
         WHERE tenant_id = $1
           AND ($2 IS NULL OR actor = $2)
           AND ($3 IS NULL OR action = $3)
           AND ($4 IS NULL OR created_at >= $4)
           AND ($5 IS NULL OR id < $5)
         ORDER BY id DESC LIMIT $6",
    )
    .bind(tenant.as_str())
    .bind(filter.actor.as_deref())
    .bind(filter.action.map(AuditAction::as_str))
    .bind(filter.since.map(timestamp))
    .bind(filter.before_id)
    .bind(limit + 1)
    .fetch_all(store.reader())
    .await?;
    let items: Vec<AuditEvent> = rows
        .into_iter()
        .map(AuditEvent::try_from)
        .collect::<StoreResult<_>>()?;
    Ok(page(items, limit, None, CursorKind::Audit, |e| {
        e.id.to_string()
    }))
}
