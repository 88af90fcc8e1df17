//! What an attempt's outcome means for its delivery: delivered, retried
//! after a backoff, or failed; recorded through the store's
//! [`WebhookOutbox`] under the delivery's lease.

use freight_core::store::DeliveryStatus;
use freight_core::store::dispatch::{ClaimedDelivery, DeliveryAttempt, WebhookOutbox};

use super::SenderConfig;
use super::send::Outcome;

/// Records an attempt under the lease: delivered, retried later, or failed.
pub(super) async fn record(
    outbox: &dyn WebhookOutbox,
    config: &SenderConfig,
    delivery: &ClaimedDelivery,
    outcome: &Outcome,
) -> anyhow::Result<()> {
    let (status, retry_in) = match outcome {
        Outcome::Delivered { .. } => (DeliveryStatus::Delivered, None),
        Outcome::Refused(_) => (DeliveryStatus::Failed, None),
        Outcome::Failed { .. } if delivery.attempt >= config.max_attempts => {
            (DeliveryStatus::Failed, None)
        }
        Outcome::Failed { .. } => (
            DeliveryStatus::Pending,
            Some(config.backoff(delivery.attempt)),
        ),
    };
    metrics::counter!("freight_webhook_deliveries_total", "outcome" => match status {
        DeliveryStatus::Delivered => "delivered",
        DeliveryStatus::Pending => "retried",
        DeliveryStatus::Failed => "failed",
    })
    .increment(1);
    let attempt = DeliveryAttempt {
        status,
        http_status: outcome.http_status(),
        error: outcome.error().map(str::to_owned),
        retry_in: retry_in.unwrap_or_default(),
    };
    outbox
        .record_delivery(delivery.id, &config.owner, &attempt)
        .await?;
    Ok(())
}
