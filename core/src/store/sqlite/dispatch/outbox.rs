//! [`WebhookOutbox`] on SQLite.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;
use uuid::fmt::Hyphenated;

use super::after;
use crate::ids::{TenantId, WebhookId};
use crate::store::StoreResult;
use crate::store::dispatch::{ClaimedDelivery, DeliveryAttempt, WebhookOutbox};
use crate::store::sqlite::{SqliteStore, timestamp, uuid_text};

type ClaimRow = (
    Hyphenated,
    String,
    Hyphenated,
    String,
    Vec<u8>,
    Json<serde_json::Value>,
    i32,
    DateTime<Utc>,
);

#[async_trait]
impl WebhookOutbox for SqliteStore {
    async fn claim_deliveries(
        &self,
        owner: &str,
        lease: Duration,
        limit: i64,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        let at = Utc::now();
        let now = timestamp(at);
        let mut tx = self.begin_write().await?;
        // The write lock is held from here: what this selects, no other
        // claimer can select before the update below commits.
        let rows: Vec<ClaimRow> = sqlx::query_as(
            "SELECT d.id, d.tenant_id, d.webhook_id, w.url, w.secret_sealed, d.payload,
                    d.attempts + 1, d.created_at
             FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id AND w.tenant_id = d.tenant_id
             WHERE d.status = 'pending' AND d.next_attempt_at <= $1
               AND (d.lease_until IS NULL OR d.lease_until < $1)
             ORDER BY d.next_attempt_at LIMIT $2",
        )
        .bind(&now)
        .bind(limit.max(0))
        .fetch_all(&mut *tx)
        .await?;
        let until = after(at, lease);
        for row in &rows {
            sqlx::query(
                "UPDATE webhook_deliveries SET lease_owner = $3, lease_until = $4, attempts = attempts + 1
                 WHERE id = $1 AND tenant_id = $2",
            )
            .bind(row.0)
            .bind(&row.1)
            .bind(owner)
            .bind(&until)
            .execute(&mut *tx)
            .await?;
        }
        self.commit(tx).await?;
        Ok(rows
            .into_iter()
            .filter_map(
                |(id, tenant, webhook, url, secret_sealed, payload, attempt, created_at)| {
                    Some(ClaimedDelivery {
                        id: id.into_uuid(),
                        tenant: TenantId::parse(&tenant).ok()?,
                        webhook: WebhookId(webhook.into_uuid()),
                        url,
                        secret_sealed,
                        payload: payload.0,
                        attempt,
                        created_at,
                    })
                },
            )
            .collect())
    }

    async fn record_delivery(
        &self,
        delivery: Uuid,
        owner: &str,
        attempt: &DeliveryAttempt,
    ) -> StoreResult<()> {
        let at = Utc::now();
        let now = timestamp(at);
        let delivered = attempt.status == crate::store::DeliveryStatus::Delivered;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE webhook_deliveries
                SET status = $3, last_status = $4, last_error = $5, lease_owner = NULL, lease_until = NULL,
                    next_attempt_at = $6, delivered_at = $7
              WHERE id = $1 AND lease_owner = $2",
        )
        .bind(uuid_text(delivery))
        .bind(owner)
        .bind(attempt.status.as_str())
        .bind(attempt.http_status)
        .bind(attempt.error.as_deref())
        .bind(after(at, attempt.retry_in))
        .bind(delivered.then_some(now))
        .execute(&mut *tx)
        .await?;
        self.commit(tx).await
    }
}
