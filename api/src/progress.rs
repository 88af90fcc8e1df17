//! Progress, throughput and ETA of a job, derived from its counters.

use chrono::{DateTime, Utc};
use freight_core::store::JobDetail;
use serde::Serialize;
use utoipa::ToSchema;

/// How far a job is and how fast it goes.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobProgress {
    /// 0-100: share of the estimated rows (or of the batches, when no
    /// estimate exists) that are done.
    pub percent: f64,
    /// Average rows written per second over the whole run: rows written
    /// divided by the seconds since the job started (until it finished).
    /// Not a recent rate: a job that slows down shows it only gradually.
    /// For the current throughput, difference `rows_written` between two
    /// `progress` events (as the dashboard's chart does).
    pub rows_per_second: f64,
    /// Seconds until done at the average rate (`rows_per_second`); null
    /// when unknown or finished.
    pub eta_seconds: Option<f64>,
    /// Seconds between start and finish (or now).
    pub elapsed_seconds: Option<f64>,
}

impl JobProgress {
    pub fn of(detail: &JobDetail, now: DateTime<Utc>) -> Self {
        let job = &detail.job;
        let done_rows = job.rows_written + job.rows_rejected;
        let percent = if job.status == freight_core::job::JobStatus::Completed {
            100.0
        } else if job.rows_estimated > 0 {
            (done_rows as f64 / job.rows_estimated as f64 * 100.0).min(100.0)
        } else if detail.batches.total > 0 {
            detail.batches.finished() as f64 / detail.batches.total as f64 * 100.0
        } else {
            0.0
        };
        let elapsed_seconds = job.started_at.map(|start| {
            (job.finished_at.unwrap_or(now) - start).num_milliseconds() as f64 / 1000.0
        });
        let rows_per_second = match elapsed_seconds {
            Some(secs) if secs > 0.0 => job.rows_written as f64 / secs,
            _ => 0.0,
        };
        let remaining = (job.rows_estimated - done_rows).max(0) as f64;
        let eta_seconds =
            (!job.status.is_finished() && rows_per_second > 0.0 && job.rows_estimated > 0)
                .then(|| remaining / rows_per_second);
        Self {
            percent: (percent * 10.0).round() / 10.0,
            rows_per_second: (rows_per_second * 10.0).round() / 10.0,
            eta_seconds,
            elapsed_seconds,
        }
    }
}
