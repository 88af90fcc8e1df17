//! The outbox's SQL: claim due deliveries under a lease, record outcomes.

use chrono::{DateTime, Utc};
use freight_core::ids::{TenantId, WebhookId};
use sqlx::PgPool;
use uuid::Uuid;

use super::SenderConfig;
use super::send::Outcome;

/// A delivery this process holds the lease of.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: Uuid,
    pub tenant: TenantId,
    pub webhook: WebhookId,
    pub url: String,
    pub secret_sealed: Vec<u8>,
    pub payload: serde_json::Value,
    /// This attempt's number (1 for the first).
    pub attempt: i32,
    pub created_at: DateTime<Utc>,
}

type Row = (
    Uuid,
    String,
    Uuid,
    String,
    Vec<u8>,
    serde_json::Value,
    i32,
    DateTime<Utc>,
);

pub(super) async fn claim(pool: &PgPool, config: &SenderConfig) -> anyhow::Result<Vec<Claimed>> {
    let rows: Vec<Row> = sqlx::query_as(
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
    .bind(&config.owner)
    .bind(config.lease.as_secs_f64())
    .bind(config.batch)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(
            |(id, tenant, webhook, url, secret_sealed, payload, attempt, created_at)| {
                Some(Claimed {
                    id,
                    tenant: TenantId::parse(&tenant).ok()?,
                    webhook: WebhookId(webhook),
                    url,
                    secret_sealed,
                    payload,
                    attempt,
                    created_at,
                })
            },
        )
        .collect())
}

/// Records an attempt under the lease: delivered, retried later, or failed.
pub(super) async fn record(
    pool: &PgPool,
    config: &SenderConfig,
    delivery: &Claimed,
    outcome: &Outcome,
) -> anyhow::Result<()> {
    let (status, retry_in) = match outcome {
        Outcome::Delivered { .. } => ("delivered", None),
        Outcome::Refused(_) => ("failed", None),
        Outcome::Failed { .. } if delivery.attempt >= config.max_attempts => ("failed", None),
        Outcome::Failed { .. } => ("pending", Some(config.backoff(delivery.attempt))),
    };
    metrics::counter!("freight_webhook_deliveries_total", "outcome" => match (status, retry_in) {
        ("delivered", _) => "delivered",
        ("pending", _) => "retried",
        _ => "failed",
    })
    .increment(1);
    sqlx::query(
        "UPDATE webhook_deliveries
            SET status = $3, last_status = $4, last_error = $5, lease_owner = NULL, lease_until = NULL,
                next_attempt_at = now() + make_interval(secs => $6),
                delivered_at = CASE WHEN $3 = 'delivered' THEN now() END
          WHERE id = $1 AND lease_owner = $2",
    )
    .bind(delivery.id)
    .bind(&config.owner)
    .bind(status)
    .bind(outcome.http_status())
    .bind(outcome.error())
    .bind(retry_in.unwrap_or_default().as_secs_f64())
    .execute(pool)
    .await?;
    Ok(())
}
