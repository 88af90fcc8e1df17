//! Sends webhook deliveries from the outbox (rows written by a trigger in
//! the transaction that finished the job): claimed under a lease, signed
//! per Standard Webhooks, retried with backoff until the endpoint answers
//! 2xx or the attempts run out. At least once: a crash between the POST
//! and recording it sends the same message (same `webhook-id`) again.
//!
//! Architecture invariant: every request passes the connection policy on
//! the address it resolved, and goes to that address (no redirects).

mod outbox;
mod send;

use std::sync::Arc;
use std::time::Duration;

use freight_core::policy::ConnectionPolicy;
use freight_core::secrets::SecretBox;
use freight_core::store::dispatch::WebhookOutbox;
use tokio_util::sync::CancellationToken;

pub use freight_core::store::dispatch::ClaimedDelivery as Claimed;

/// Defaults of [`SenderConfig`], written once (the process settings use
/// them too).
pub mod defaults {
    pub const POLL_MS: u64 = 1_000;
    pub const LEASE_MS: u64 = 60_000;
    pub const MAX_ATTEMPTS: i32 = 10;
    pub const BACKOFF_MS: u64 = 5_000;
    pub const BACKOFF_MAX_MS: u64 = 3_600_000;
    pub const BATCH: i64 = 16;
    pub const REQUEST_TIMEOUT_MS: u64 = 10_000;
}

/// How deliveries are sent.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// Identifies this process in leases.
    pub owner: String,
    /// How often the outbox is polled for due deliveries.
    pub poll_interval: Duration,
    /// A claimed delivery not recorded within this is claimed again.
    pub lease: Duration,
    /// Attempts before a delivery is `failed`.
    pub max_attempts: i32,
    /// Delay after the first failure; doubles per attempt, capped.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Deliveries claimed (and sent concurrently) per round.
    pub batch: i64,
    /// Time an endpoint gets to answer.
    pub request_timeout: Duration,
}

impl Default for SenderConfig {
    fn default() -> Self {
        Self {
            owner: format!("webhooks/{}", uuid::Uuid::new_v4().simple()),
            poll_interval: Duration::from_millis(defaults::POLL_MS),
            lease: Duration::from_millis(defaults::LEASE_MS),
            max_attempts: defaults::MAX_ATTEMPTS,
            backoff_base: Duration::from_millis(defaults::BACKOFF_MS),
            backoff_max: Duration::from_millis(defaults::BACKOFF_MAX_MS),
            batch: defaults::BATCH,
            request_timeout: Duration::from_millis(defaults::REQUEST_TIMEOUT_MS),
        }
    }
}

impl SenderConfig {
    /// Delay before attempt `failed_attempts + 1`.
    fn backoff(&self, failed_attempts: i32) -> Duration {
        let exp = u32::try_from(failed_attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(0);
        self.backoff_base
            .saturating_mul(1u32 << exp)
            .min(self.backoff_max)
    }
}

/// Sends what the outbox holds until `stop` is cancelled.
#[derive(Clone)]
pub struct WebhookSender {
    outbox: Arc<dyn WebhookOutbox>,
    secrets: SecretBox,
    policy: Arc<ConnectionPolicy>,
    config: SenderConfig,
}

impl WebhookSender {
    pub fn new(
        outbox: Arc<dyn WebhookOutbox>,
        secrets: SecretBox,
        policy: Arc<ConnectionPolicy>,
        config: SenderConfig,
    ) -> Self {
        Self {
            outbox,
            secrets,
            policy,
            config,
        }
    }

    pub async fn run(self, stop: CancellationToken) {
        loop {
            match self.send_due().await {
                Ok(sent) if sent > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "webhook outbox unavailable"),
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
    }

    /// Claims and sends one round of due deliveries; returns how many.
    pub async fn send_due(&self) -> anyhow::Result<usize> {
        let claimed = self
            .outbox
            .claim_deliveries(&self.config.owner, self.config.lease, self.config.batch)
            .await?;
        let count = claimed.len();
        let sends = claimed.into_iter().map(|delivery| async move {
            let outcome = send::deliver(&self.secrets, &self.policy, &self.config, &delivery).await;
            outbox::record(self.outbox.as_ref(), &self.config, &delivery, &outcome).await
        });
        for result in futures::future::join_all(sends).await {
            result?;
        }
        Ok(count)
    }
}
