//! The audit trail: written in the transaction of the change it records.

use sqlx::PgConnection;

use super::{PgStore, page_size};
use crate::ids::TenantId;
use crate::store::rows::{AuditRow, page, role_name};
use crate::store::*;

pub(super) async fn record(
    conn: &mut PgConnection,
    tenant: &TenantId,
    info: &AuditInfo,
    action: AuditAction,
    target_id: Option<&str>,
    details: serde_json::Value,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_events (tenant_id, actor, actor_role, action, target_type, target_id, ip, user_agent, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(tenant.as_str())
    .bind(&info.actor)
    .bind(role_name(info.role))
    .bind(action.as_str())
    .bind(action.target_type().as_str())
    .bind(target_id)
    .bind(info.ip.as_deref())
    .bind(info.user_agent.as_deref())
    .bind(details)
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) async fn list(
    store: &PgStore,
    tenant: &TenantId,
    filter: &AuditFilter,
) -> StoreResult<Page<AuditEvent>> {
    let limit = page_size(filter.limit);
    let mut tx = store.scoped(tenant).await?;
    let rows: Vec<AuditRow> = sqlx::query_as(
        "SELECT id, actor, actor_role, action, target_type, target_id, ip, user_agent, details, created_at
         FROM audit_events
         WHERE tenant_id = $1
           AND ($2::text IS NULL OR actor = $2)
           AND ($3::text IS NULL OR action = $3)
           AND ($4::timestamptz IS NULL OR created_at >= $4)
           AND ($5::bigint IS NULL OR id < $5)
         ORDER BY id DESC LIMIT $6",
    )
    .bind(tenant.as_str())
    .bind(filter.actor.as_deref())
    .bind(filter.action.map(AuditAction::as_str))
    .bind(filter.since)
    .bind(filter.before_id)
    .bind(limit + 1)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let items: Vec<AuditEvent> = rows
        .into_iter()
        .map(AuditEvent::try_from)
        .collect::<StoreResult<_>>()?;
    Ok(page(items, limit, None, CursorKind::Audit, |e| {
        e.id.to_string()
    }))
}
