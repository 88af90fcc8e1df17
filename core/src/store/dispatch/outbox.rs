//! The webhook outbox (`webhook_deliveries`, rows written by triggers in
//! the transaction that finished a job or validation): due deliveries are
//! claimed under a lease, every attempt recorded under it.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::ids::{TenantId, WebhookId};
use crate::store::{DeliveryStatus, StoreResult};

/// A delivery this process holds the lease of.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: Uuid,
    pub tenant: TenantId,
    pub webhook: WebhookId,
    pub url: String,
    /// The webhook's signing secret, sealed (the sender opens it).
    pub secret_sealed: Vec<u8>,
    pub payload: serde_json::Value,
    /// This attempt's number (1 for the first).
    pub attempt: i32,
    pub created_at: DateTime<Utc>,
}

/// One attempt's result, as it is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    /// `Delivered`, `Failed` (no more attempts) or `Pending` (retried).
    pub status: DeliveryStatus,
    /// The endpoint's HTTP status, if it answered.
    pub http_status: Option<i32>,
    pub error: Option<String>,
    /// `next_attempt_at` = now + this (zero when not retried).
    pub retry_in: Duration,
}

#[async_trait]
pub trait WebhookOutbox: Send + Sync + 'static {
    /// Claims up to `limit` pending deliveries that are due
    /// (`next_attempt_at` past) and not leased (or their lease expired),
    /// earliest due first: `lease_owner` = `owner` until now + `lease`,
    /// `attempts` + 1. Returns each with its webhook's URL and sealed
    /// secret; a row whose tenant id does not parse is left out.
    async fn claim_deliveries(
        &self,
        owner: &str,
        lease: Duration,
        limit: i64,
    ) -> StoreResult<Vec<ClaimedDelivery>>;

    /// Records an attempt under the lease: status, `last_status`,
    /// `last_error`, `next_attempt_at` = now + `retry_in`, `delivered_at`
    /// now when delivered, lease cleared. Nothing when the lease is not
    /// `owner`'s any more.
    async fn record_delivery(
        &self,
        delivery: Uuid,
        owner: &str,
        attempt: &DeliveryAttempt,
    ) -> StoreResult<()>;
}
