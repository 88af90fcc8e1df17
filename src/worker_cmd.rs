//! `freight worker`: runs the migration workers until `shutdown`: the
//! engine behind dispatch (apalis on Redis, leases in Postgres, the
//! reconciler, heartbeats). See `freight_worker::dispatch`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use freight_core::store::postgres::PgStore;
use freight_worker::dispatch;
use freight_worker::webhooks::WebhookSender;
use tokio_util::sync::CancellationToken;

use crate::settings::Settings;

/// Whether the worker applies Freight's migrations itself (`freight
/// worker`) or the process already did (`freight all`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migrations {
    Apply,
    AlreadyApplied,
}

pub async fn run(
    settings: &Settings,
    migrations: Migrations,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let config = settings.dispatch_config();
    // Batches in flight, the reconciler, lease renewals and heartbeats each
    // hold a connection at times.
    let connections = u32::try_from(config.concurrency)
        .unwrap_or(u32::MAX)
        .saturating_mul(2)
        .saturating_add(4);
    let secrets = settings.secret_box()?;
    let store = PgStore::connect(settings.database_url.expose(), connections, secrets.clone())
        .await
        .with_context(|| {
            format!(
                "connect to PostgreSQL at {}",
                freight_core::connection::redact_url(settings.database_url.expose())
            )
        })?;
    if migrations == Migrations::Apply {
        store.migrate().await.context("apply migrations")?;
    }
    let identity = store
        .identity()
        .await
        .context("read the identity of Freight's database")?;
    let policy = crate::connection_policy::connection_policy(
        settings,
        identity,
        Some(settings.redis_url.expose()),
    )
    .await?;
    let engine = crate::connection_policy::engine(settings, policy.clone());
    // The webhook sender stops with the workers.
    let stop = CancellationToken::new();
    // One store serves the webhook sender and dispatch alike.
    let store = Arc::new(store);
    let webhooks = WebhookSender::new(
        store.clone(),
        secrets.clone(),
        Arc::new(policy),
        settings.webhook_config(),
    );
    let sender = tokio::spawn(webhooks.run(stop.clone()));
    let queue =
        dispatch::queue::redis::connect(settings.redis_url.expose(), &config.queue_name).await?;
    let result = dispatch::run_workers(store, Arc::new(engine), config, queue, shutdown).await;
    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(15), sender).await;
    result
}
