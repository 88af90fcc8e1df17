//! Dispatch: leases, the queue, the reconciler, heartbeats.
//!
//! **Freight's database is the system of record; the queue only
//! dispatches.** A batch is stored before it is ever pushed, runs only
//! under a lease taken atomically in the database, and records its outcome
//! in one transaction guarded by that lease. The queue may lose or
//! duplicate messages: the reconciler pushes again what was not claimed in
//! time, and a duplicate finds the batch no longer pending.
//!
//! Every read and write of Freight's database goes through the store
//! traits of `freight_core::store::dispatch` (`Arc<dyn DispatchStore>`);
//! there is no SQL here.
//!
//! - [`queue`]: the versioned message and the queue seam ([`BatchQueue`],
//!   [`QueueConsumer`]); apalis on Redis in `queue::redis`.
//! - `executor`: claim, lease renewal, `run_batch`, outcome.
//! - `reconciler`: plan, (re-)dispatch, expire leases, finish jobs.
//! - `heartbeat`: the `workers` row.
//! - `validator`: the validation phase (range tasks leased from the
//!   database, compared by the engine).
//! - [`Stepper`]: the same machinery driven one step at a time, for tests.
//!
//! Architecture invariant: dispatch never touches a source or target
//! database; the engine never touches Freight's database.

mod config;
mod data_plane;
mod executor;
mod heartbeat;
mod metrics;
pub mod queue;
mod reconciler;
mod runtime;
mod stepper;
mod validator;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub use config::{DispatchConfig, defaults};
pub use data_plane::DataPlane;
pub use freight_core::store::dispatch::DispatchStore;
pub use queue::{BatchQueue, ConsumerSettings, MemoryQueue, Queue, QueueConsumer};
pub use stepper::Stepper;

use runtime::Runtime;

/// Runs one worker process's dispatch machinery until `shutdown`
/// completes, then stops taking batches, lets in-flight ones finish within
/// `config.shutdown_grace` (rolling back and releasing the rest) and
/// records the worker as stopped.
pub async fn run_workers<E: DataPlane>(
    store: Arc<dyn DispatchStore>,
    engine: Arc<E>,
    config: DispatchConfig,
    queue: Queue,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
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
    let dispatcher = tokio::spawn(reconciler::dispatch(
        runtime.clone(),
        queue.producer.clone(),
    ));
    let reconciler = tokio::spawn(reconciler::run(runtime.clone(), queue.producer.clone()));
    let consumer = {
        let settings = ConsumerSettings {
            name: runtime.config.worker_id.clone(),
            concurrency: runtime.config.concurrency,
            fetch_interval: runtime.config.fetch_interval,
        };
        let handler_runtime = runtime.clone();
        let handle: queue::BatchHandler =
            Arc::new(move |batch| Box::pin(executor::handle(handler_runtime.clone(), batch)));
        let consumer = queue.consumer.clone();
        let stop = runtime.stop.clone();
        tokio::spawn(async move { consumer.consume(settings, handle, stop).await })
    };
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
