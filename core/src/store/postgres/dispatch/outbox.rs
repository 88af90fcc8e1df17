//! [`WebhookOutbox`] on Postgres.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::ids::{TenantId, WebhookId};
use crate::store::StoreResult;
use crate::store::dispatch::{ClaimedDelivery, DeliveryAttempt, WebhookOutbox};
use crate::store::postgres::PgStore;

/// What `claim_deliveries` returns per delivery.
#[derive(sqlx::FromRow)]
struct ClaimRow {
    id: Uuid,
    tenant_id: String,
    webhook_id: Uuid,
    url: String,
    secret_sealed: Vec<u8>,
    payload: serde_json::Value,
    attempts: i32,
    created_at: DateTime<Utc>,
}

#[async_trait]
impl WebhookOutbox for PgStore {
    async fn claim_deliveries(
        &self,
        owner: &str,
        lease: Duration,
        limit: i64,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        let rows: Vec<ClaimRow> = sqlx::query_as(
            "UPDATE webhook_deliveries d
                SET lease_owner = $1, lease_until = now() + make_interval(secs => $2), attempts = d.attempts + 1
               FROM webhooks w
              WHERE w.id = d.webhook_id
                AND d.id IN (SELECT id FROM webhook_deliveries
                              WHERE status = 'pending' AND next_attempt_at <= now()
                                AND (lease_until IS NULL OR lease_until < now())
                              ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
             RETURNING d.id, d.tenant_id, d.webhook_id, w.url, w.secret_sealed, d.payload, d.attempts, d.created_at",
        )
        .bind(owner)
        .bind(lease.as_secs_f64())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                Some(ClaimedDelivery {
                    id: row.id,
                    tenant: TenantId::parse(&row.tenant_id).ok()?,
                    webhook: WebhookId(row.webhook_id),
                    url: row.url,
                    secret_sealed: row.secret_sealed,
                    payload: row.payload,
                    attempt: row.attempts,
                    created_at: row.created_at,
                })
            })
            .collect())
    }

    async fn record_delivery(
        &self,
        delivery: Uuid,
        owner: &str,
        attempt: &DeliveryAttempt,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE webhook_deliveries
                SET status = $3, last_status = $4, last_error = $5, lease_owner = NULL, lease_until = NULL,
                    next_attempt_at = now() + make_interval(secs => $6),
                    delivered_at = CASE WHEN $3 = 'delivered' THEN now() END
              WHERE id = $1 AND lease_owner = $2",
        )
        .bind(delivery)
        .bind(owner)
        .bind(attempt.status.as_str())
        .bind(attempt.http_status)
        .bind(attempt.error.as_deref())
        .bind(attempt.retry_in.as_secs_f64())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
