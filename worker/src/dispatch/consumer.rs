//! The apalis worker that takes batch messages off the Redis queue. It is
//! restarted whenever it stops on its own (Redis restarted or flushed, a
//! connection dropped): apalis ends a worker whose backend fails.

use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::{BackendExt as _, BoxDynError, WorkerBuilder, WorkerBuilderExt as _};
use apalis_redis::ConnectionManager;

use super::data_plane::DataPlane;
use super::executor;
use super::queue::{self, DispatchMessage};
use super::runtime::Runtime;

pub(crate) async fn run<E: DataPlane>(runtime: Arc<Runtime<E>>, conn: ConnectionManager) {
    let mut generation = 0u32;
    loop {
        generation += 1;
        let name = format!("{}-{generation}", runtime.config.worker_id);
        let storage = queue::storage(conn.clone(), &runtime.config.queue_name)
            .poll_with_interval(runtime.config.fetch_interval);
        let handler_runtime = runtime.clone();
        let worker = WorkerBuilder::new(name.as_str())
            .backend(storage)
            .concurrency(runtime.config.concurrency)
            .build(move |message: DispatchMessage| {
                let runtime = handler_runtime.clone();
                async move {
                    executor::handle(runtime, message.batch()).await;
                    Ok::<(), BoxDynError>(())
                }
            });
        let stop = runtime.stop.clone();
        // Boxed as `Send` here, where the types are concrete: the compiler
        // cannot prove it through apalis' generic layers otherwise.
        let running: std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<(), apalis::prelude::WorkerError>> + Send>,
        > = Box::pin(worker.run_until(async move {
            stop.cancelled().await;
            Ok::<(), std::io::Error>(())
        }));
        let result = running.await;
        if runtime.stop.is_cancelled() {
            return;
        }
        match result {
            Ok(()) => tracing::warn!(worker = %name, "queue consumer stopped; restarting it"),
            Err(e) => {
                tracing::warn!(worker = %name, error = %e, "queue consumer failed; restarting it")
            }
        }
        tokio::select! {
            () = runtime.stop.cancelled() => return,
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}
