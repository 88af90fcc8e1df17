//! The worker's Prometheus metric families, emitted through the `metrics`
//! facade (the `freight` binary exports them on `METRICS_PORT`).
//!
//! Labels are bounded: batch and job statuses only. Never a job, batch or
//! worker id, a tenant or a table name: every worker would multiply them
//! into unbounded series. Per-job numbers belong to the API
//! (`GET /api/v1/jobs/{id}`), per-fleet numbers here.

use std::time::Duration;

/// A batch attempt ended with a stored outcome: `status` is the batch's
/// final status (`completed`, `completed_with_errors`, `failed`).
pub(crate) fn batch_finished(
    status: &'static str,
    elapsed: Duration,
    rows_read: i64,
    rows_written: i64,
    rows_rejected: usize,
) {
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    metrics::counter!("freight_batches_total", "status" => status).increment(1);
    metrics::histogram!("freight_batch_duration_seconds", "status" => status)
        .record(elapsed.as_secs_f64());
    metrics::counter!("freight_rows_read_total").increment(count(rows_read));
    metrics::counter!("freight_rows_written_total").increment(count(rows_written));
    metrics::counter!("freight_rows_rejected_total")
        .increment(u64::try_from(rows_rejected).unwrap_or(u64::MAX));
    if rows_written > 0 && !elapsed.is_zero() {
        metrics::gauge!("freight_batch_rows_per_second")
            .set(rows_written as f64 / elapsed.as_secs_f64());
    }
}

/// A batch attempt failed and was scheduled to run again after a backoff.
pub(crate) fn retry_scheduled() {
    metrics::counter!("freight_batch_retries_total").increment(1);
}

/// A job reached a final status (`completed`, `completed_with_errors`,
/// `failed`, `cancelled`). Counted by the worker that settled it, so the
/// sum over workers is the fleet's.
pub(crate) fn job_finished(status: &'static str) {
    metrics::counter!("freight_jobs_finished_total", "status" => status).increment(1);
}

/// What the reconciler saw on its last pass: batches pushed to the Redis
/// queue and not yet claimed, and the batch slots of the live workers.
/// Every worker reports the same fleet-wide values: aggregate with `max`.
pub(crate) fn dispatch_state(queue_depth: i64, live_worker_slots: i64) {
    metrics::gauge!("freight_queue_depth").set(queue_depth as f64);
    metrics::gauge!("freight_live_worker_slots").set(live_worker_slots as f64);
}

/// This process's load, refreshed with every heartbeat.
pub(crate) fn worker_load(in_flight: i32, concurrency: i32) {
    metrics::gauge!("freight_worker_batches_in_flight").set(f64::from(in_flight));
    metrics::gauge!("freight_worker_concurrency").set(f64::from(concurrency));
}

/// A batch failed for good after its last attempt (or permanently).
pub(crate) fn batch_failed(rows_rejected: usize) {
    metrics::counter!("freight_batches_total", "status" => "failed").increment(1);
    metrics::counter!("freight_rows_rejected_total")
        .increment(u64::try_from(rows_rejected).unwrap_or(u64::MAX));
}
