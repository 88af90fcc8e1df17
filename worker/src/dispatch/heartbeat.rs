//! The `workers` row of this process: upserted every few seconds while it
//! runs, `stopped_at` set on a clean exit.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use freight_core::store::dispatch::WorkerBeat;

use super::runtime::Runtime;

pub(crate) fn beat<E>(runtime: &Runtime<E>) -> WorkerBeat {
    let config = &runtime.config;
    WorkerBeat {
        id: config.worker_id.clone(),
        host: config.host.clone(),
        pid: i32::try_from(std::process::id()).unwrap_or(i32::MAX),
        concurrency: i32::try_from(config.concurrency).unwrap_or(i32::MAX),
        in_flight: i32::try_from(runtime.in_flight.load(Ordering::SeqCst).max(0))
            .unwrap_or(i32::MAX),
        rows_processed: runtime.rows_processed.load(Ordering::Relaxed),
    }
}

pub(crate) async fn run<E>(runtime: Arc<Runtime<E>>) {
    let mut ticker = tokio::time::interval(runtime.config.heartbeat_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = runtime.stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let beat = beat(&runtime);
        super::metrics::worker_load(beat.in_flight, beat.concurrency);
        if let Err(e) = runtime.store.heartbeat(&beat).await {
            tracing::warn!(error = %format!("{e:#}"), "worker heartbeat failed");
        }
    }
}
