//! Webhooks of a tenant and their deliveries (the outbox itself is filled
//! by a trigger when a job finishes, see migration 0008).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{PgStore, audit, page_size};
use crate::ids::{TenantId, WebhookId};
use crate::store::rows::{DeliveryColumns, delivery_cursor, page, webhook_record};
use crate::store::*;
use crate::webhooks::{new_secret, secret_aad};

type WebhookRow = (Uuid, String, Vec<String>, String, DateTime<Utc>);

fn to_record((id, url, events, created_by, created_at): WebhookRow) -> StoreResult<WebhookRecord> {
    webhook_record(id, url, &events, created_by, created_at)
}

pub(super) async fn create(
    store: &PgStore,
    tenant: &TenantId,
    new: &NewWebhook,
    info: &AuditInfo,
) -> StoreResult<WebhookCreated> {
    let id = WebhookId::new();
    let secret = new_secret();
    let events: Vec<&str> = new.events.iter().map(|e| e.as_str()).collect();
    let mut tx = store.scoped(tenant).await?;
    let row: WebhookRow = sqlx::query_as(
        "INSERT INTO webhooks (id, tenant_id, url, events, secret_sealed, created_by)
         VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING id, url, events, created_by, created_at",
    )
    .bind(id.0)
    .bind(tenant.as_str())
    .bind(&new.url)
    .bind(&events)
    .bind(
        store
            .secrets
            .seal(secret.as_bytes(), &secret_aad(tenant, id)),
    )
    .bind(&info.actor)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        tenant,
        info,
        AuditAction::WebhookCreate,
        Some(&id.to_string()),
        serde_json::json!({"url": new.url, "events": events}),
    )
    .await?;
    tx.commit().await?;
    Ok(WebhookCreated {
        webhook: to_record(row)?,
        secret,
    })
}

pub(super) async fn list(store: &PgStore, tenant: &TenantId) -> StoreResult<Vec<WebhookRecord>> {
    let mut tx = store.scoped(tenant).await?;
    let rows: Vec<WebhookRow> = sqlx::query_as(
        "SELECT id, url, events, created_by, created_at FROM webhooks
         WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC",
    )
    .bind(tenant.as_str())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    rows.into_iter().map(to_record).collect()
}

pub(super) async fn delete(
    store: &PgStore,
    tenant: &TenantId,
    webhook: WebhookId,
    info: &AuditInfo,
) -> StoreResult<()> {
    let mut tx = store.scoped(tenant).await?;
    let deleted = sqlx::query("DELETE FROM webhooks WHERE tenant_id = $1 AND id = $2")
        .bind(tenant.as_str())
        .bind(webhook.0)
        .execute(&mut *tx)
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    audit::record(
        &mut tx,
        tenant,
        info,
        AuditAction::WebhookDelete,
        Some(&webhook.to_string()),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: Uuid,
    webhook_id: Uuid,
    payload: serde_json::Value,
    #[sqlx(flatten)]
    columns: DeliveryColumns,
}

pub(super) async fn deliveries(
    store: &PgStore,
    tenant: &TenantId,
    webhook: WebhookId,
    filter: &DeliveryFilter,
) -> StoreResult<Page<WebhookDelivery>> {
    let limit = page_size(filter.limit);
    let mut tx = store.scoped(tenant).await?;
    let exists: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM webhooks WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(webhook.0)
            .fetch_optional(&mut *tx)
            .await?;
    if exists.is_none() {
        return Err(StoreError::NotFound);
    }
    let (before_at, before_id) = filter.before.unzip();
    let rows: Vec<DeliveryRow> = sqlx::query_as(
        "SELECT id, webhook_id, event_type, payload, status, attempts, last_status, last_error,
                next_attempt_at, created_at, delivered_at
         FROM webhook_deliveries
         WHERE tenant_id = $1 AND webhook_id = $2
           AND ($3::text IS NULL OR status = $3)
           AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5))
         ORDER BY created_at DESC, id DESC LIMIT $6",
    )
    .bind(tenant.as_str())
    .bind(webhook.0)
    .bind(filter.status.map(DeliveryStatus::as_str))
    .bind(before_at)
    .bind(before_id)
    .bind(limit + 1)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let items = rows
        .into_iter()
        .map(|row| {
            row.columns
                .into_delivery(row.id, row.webhook_id, row.payload)
        })
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(page(
        items,
        limit,
        None,
        CursorKind::Deliveries,
        delivery_cursor,
    ))
}
