//! Dispatch: leases, the apalis/Redis queue, the reconciler, heartbeats.
//!
//! **Postgres is the system of record; Redis only dispatches.** A batch is
//! stored before it is ever pushed, runs only under a lease taken
//! atomically in Postgres, and records its outcome in one transaction
//! guarded by that lease. Redis may lose or duplicate messages: the
//! reconciler pushes again what was not claimed in time, and a duplicate
//! finds the batch no longer pending.
//!
//! - [`store`]: every query dispatch makes (the only SQL here).
//! - [`queue`]: the versioned message and the Redis producer/storage.
//! - `consumer`: the apalis worker, restarted when Redis hiccups.
//! - `executor`: claim, lease renewal, `run_batch`, outcome.
//! - `reconciler`: plan, (re-)dispatch, expire leases, finish jobs.
//! - `heartbeat`: the `workers` row.
//! - `validator` / `validation_store`: the validation phase (range tasks
//!   leased from Postgres, compared by the engine).
//!
//! Architecture invariant: dispatch never touches a source or target
//! database; the engine never touches Freight's database.

mod config;
mod consumer;
mod data_plane;
mod executor;
mod heartbeat;
mod metrics;
pub mod queue;
mod reconciler;
mod runtime;
pub mod store;
mod validation_store;
mod validator;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub use config::{DispatchConfig, defaults};
pub use data_plane::DataPlane;
pub use store::DispatchStore;

use runtime::Runtime;

/// Runs one worker process's dispatch machinery until `shutdown`
/// completes, then stops taking batches, lets in-flight ones finish within
/// `config.shutdown_grace` (rolling back and releasing the rest) and
/// records the worker as stopped.
pub async fn run_workers<E: DataPlane>(
    store: DispatchStore,
    engine: Arc<E>,
    config: DispatchConfig,
    redis_url: &str,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let conn = queue::connect(redis_url).await?;
    let producer = queue::Producer::new(conn.clone(), &config.queue_name);
    let runtime = Arc::new(Runtime::new(store, engine, config));
    tracing::info!(
        worker_id = %runtime.config.worker_id,
        queue = %runtime.config.queue_name,
        concurrency = runtime.config.concurrency,
        "worker starting"
    );
    // Registered before dispatching, so the reconcilers count our slots.
    runtime.store.heartbeat(&heartbeat::beat(&runtime)).await?;

    let heartbeat = tokio::spawn(heartbeat::run(runtime.clone()));
    let listener = tokio::spawn(reconciler::listen(runtime.clone()));
    let dispatcher = tokio::spawn(reconciler::dispatch(runtime.clone(), producer.clone()));
    let reconciler = tokio::spawn(reconciler::run(runtime.clone(), producer));
    let consumer = tokio::spawn(consumer::run(runtime.clone(), conn));
    let validator = tokio::spawn(validator::run(runtime.clone()));

    shutdown.await;
    tracing::info!(
        in_flight = runtime.in_flight.load(Ordering::SeqCst),
        "shutdown requested: no new batches; waiting for in-flight ones"
    );
    runtime.accepting.store(false, Ordering::SeqCst);
    runtime.stop.cancel();

    if !wait_idle(&runtime, runtime.config.shutdown_grace).await {
        tracing::warn!(
            in_flight = runtime.in_flight.load(Ordering::SeqCst),
            "grace period over: rolling back in-flight batches"
        );
        runtime.abort.cancel();
        wait_idle(&runtime, Duration::from_secs(10)).await;
    }
    // Planning/finishing tasks hold job leases that simply expire.
    runtime.abort.cancel();
    for (name, task) in [
        ("heartbeat", heartbeat),
        ("listener", listener),
        ("reconciler", reconciler),
        ("dispatcher", dispatcher),
        ("consumer", consumer),
        ("validator", validator),
    ] {
        if tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .is_err()
        {
            tracing::warn!(task = name, "did not stop in time");
        }
    }
    runtime
        .store
        .mark_stopped(&heartbeat::beat(&runtime))
        .await?;
    tracing::info!("worker stopped");
    Ok(())
}

/// Waits until no batch is in flight; `false` on timeout.
async fn wait_idle<E>(runtime: &Runtime<E>, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let done = runtime.batch_done.notified();
        if runtime.in_flight.load(Ordering::SeqCst) <= 0 {
            return true;
        }
        tokio::select! {
            () = done => {}
            () = tokio::time::sleep_until(deadline) => return runtime.in_flight.load(Ordering::SeqCst) <= 0,
            // Belt and braces against a missed notification.
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
}
