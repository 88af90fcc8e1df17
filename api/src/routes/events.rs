//! Live job events over Server-Sent Events.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use chrono::{DateTime, Utc};
use freight_core::JobId;
use freight_core::ids::{BatchId, TenantId};
use freight_core::job::JobStatus;
use freight_core::store::{BatchCounts, JobEvent, JobEventKind, JobRecord};
use futures::Stream;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};
use utoipa::ToSchema;

use crate::auth::TenantContext;
use crate::error::{ApiError, Problem};
use crate::extract::ApiPath;
use crate::progress::JobProgress;
use crate::state::AppState;

/// Durable events read per round trip.
const PAGE: i64 = 500;
/// Progress is sent at most this often, and the store is re-read at least
/// this often (events held back for an older transaction, missed wakes).
const TICK: Duration = Duration::from_secs(1);
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// `status`: the job changed state.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StatusEvent {
    /// The new state.
    pub status: JobStatus,
    /// The state before, when known.
    pub previous_status: Option<JobStatus>,
    /// Why the job failed, when it did.
    pub error_summary: Option<String>,
    /// When the change happened.
    pub at: Option<DateTime<Utc>>,
}

/// `progress`: counters of a running job, at most one a second.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProgressEvent {
    pub rows_read: i64,
    pub rows_written: i64,
    pub rows_rejected: i64,
    /// Progress, throughput and ETA.
    #[serde(flatten)]
    pub progress: JobProgress,
    /// Batches by state.
    pub batches: BatchCounts,
}

/// `batch_failed`: one attempt of a batch failed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BatchFailedEvent {
    pub batch_id: BatchId,
    pub table_name: String,
    /// Attempts made so far.
    pub attempt: i64,
    /// The error (never holding credentials).
    pub error: Option<String>,
    /// True when no retry follows: the batch failed for good.
    #[serde(rename = "final")]
    pub is_final: bool,
    pub at: Option<DateTime<Utc>>,
}

/// What an event stream carries: the SSE `event` field names the variant,
/// `data` holds its JSON, `id` the event id to resume from.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum JobStreamEvent {
    Status(StatusEvent),
    Progress(ProgressEvent),
    BatchFailed(BatchFailedEvent),
    /// The last event: the job in its final state; the stream closes after it.
    Finished(Box<JobRecord>),
}

/// Stream job events
///
/// Follows one job live as Server-Sent Events: `status` on every change of
/// state, `progress` at most once a second while running (rows, rows/s,
/// percent, ETA, batch counts), `batch_failed` for every failed batch
/// attempt, and a last `finished` event with the final job, after which the
/// stream closes. Every event has an `id`: reconnect with `Last-Event-ID`
/// to resume without losing any `status` or `batch_failed` event. Without
/// it the stream starts with the current `status`. Comments keep idle
/// connections alive every 15 s.
#[utoipa::path(
    get, path = "/api/v1/jobs/{job_id}/events", operation_id = "stream_job_events", tag = "jobs",
    params(
        ("X-Tenant-ID" = String, Header, description = "Tenant to act for"),
        ("Last-Event-ID" = Option<String>, Header, description = "Id of the last event received, to resume after it"),
        ("job_id" = uuid::Uuid, Path, description = "Job id: the `id` returned by `create_migration_job`", example = "0192f4a1-7c3e-7b1a-9d2e-5f6a7b8c9d0e")
    ),
    responses(
        (status = 200, description = "An event stream; each SSE `data` is the JSON of its event", body = JobStreamEvent, content_type = "text/event-stream"),
        (status = 400, description = "Malformed request or Last-Event-ID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Tenant not granted", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job for this tenant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn stream_job_events(
    State(state): State<AppState>,
    ctx: TenantContext,
    ApiPath(job_id): ApiPath<JobId>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let resume = match headers.get("last-event-id") {
        Some(raw) => Some(
            raw.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .filter(|n| *n >= 0)
                .ok_or_else(|| ApiError::BadRequest("Last-Event-ID must be an event id".into()))?,
        ),
        None => None,
    };
    // 404 before the stream starts; subscribe before reading, so no wake is missed.
    state.store.get_job(&ctx.tenant, job_id).await?;
    let wakes = state.job_events.subscribe(&state.store);
    let (sender, receiver) = mpsc::channel::<Event>(64);
    tokio::spawn(async move {
        if let Err(e) = follow(&state, &ctx.tenant, job_id, resume, wakes, &sender).await {
            tracing::warn!(error = %e, %job_id, "job event stream ended early");
        }
    });
    let stream = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|event| (Ok(event), receiver))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// Why following stopped early (the client left, or the store failed).
#[derive(Debug, thiserror::Error)]
enum Stop {
    #[error("client disconnected")]
    Gone,
    #[error(transparent)]
    Store(#[from] freight_core::StoreError),
}

async fn follow(
    state: &AppState,
    tenant: &TenantId,
    job: JobId,
    resume: Option<i64>,
    mut wakes: broadcast::Receiver<JobId>,
    sender: &mpsc::Sender<Event>,
) -> Result<(), Stop> {
    let store = &state.store;
    // The state the client was last told: progress follows a `running`
    // status event, never precedes it (events can be held back a moment,
    // see `Store::job_events`, while the counters are read live).
    let mut shown: Option<JobStatus> = None;
    let mut last = match resume {
        Some(id) => id,
        None => {
            let last = store.last_job_event(tenant, job).await?;
            let detail = store.get_job(tenant, job).await?;
            let snapshot = StatusEvent {
                status: detail.job.status,
                previous_status: None,
                error_summary: detail.job.error_summary.clone(),
                at: Some(detail.job.updated_at),
            };
            send(sender, "status", last, &snapshot).await?;
            shown = Some(detail.job.status);
            last
        }
    };
    let mut last_progress: Option<tokio::time::Instant> = None;
    loop {
        let events = store.job_events(tenant, job, last, PAGE).await?;
        let full_page = i64::try_from(events.len()).unwrap_or(PAGE) >= PAGE;
        for event in events {
            last = event.id;
            if event.kind == JobEventKind::Status
                && let Ok(status) =
                    serde_json::from_value::<JobStatus>(event.data["status"].clone())
            {
                shown = Some(status);
            }
            send_durable(sender, &event).await?;
        }
        if full_page {
            continue;
        }
        let detail = store.get_job(tenant, job).await?;
        if detail.job.status.is_finished() && !has_pending_events(state, tenant, job, last).await? {
            send(sender, "finished", last, &detail.job).await?;
            return Ok(());
        }
        // Resumed streams start from the state the store shows now.
        let shown = *shown.get_or_insert(detail.job.status);
        let due = last_progress.is_none_or(|at| at.elapsed() >= TICK);
        if detail.job.status == JobStatus::Running && shown == JobStatus::Running && due {
            let progress = ProgressEvent {
                rows_read: detail.job.rows_read,
                rows_written: detail.job.rows_written,
                rows_rejected: detail.job.rows_rejected,
                progress: JobProgress::of(&detail, Utc::now()),
                batches: detail.batches.clone(),
            };
            send(sender, "progress", last, &progress).await?;
            last_progress = Some(tokio::time::Instant::now());
        }
        wait_for(&mut wakes, job, sender).await?;
    }
}

/// Whether events of `job` after `last` exist that are still held back
/// (their transaction may not be visible in order yet): then `finished`
/// waits for them.
async fn has_pending_events(
    state: &AppState,
    tenant: &TenantId,
    job: JobId,
    last: i64,
) -> Result<bool, Stop> {
    Ok(state.store.last_job_event(tenant, job).await? > last)
}

/// Until the job changed, a tick passed, or the client left.
async fn wait_for(
    wakes: &mut broadcast::Receiver<JobId>,
    job: JobId,
    sender: &mpsc::Sender<Event>,
) -> Result<(), Stop> {
    let tick = tokio::time::sleep(TICK);
    tokio::pin!(tick);
    loop {
        tokio::select! {
            () = &mut tick => return Ok(()),
            () = sender.closed() => return Err(Stop::Gone),
            woke = wakes.recv() => match woke {
                Ok(changed) if changed == job => return Ok(()),
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => return Ok(()),
                // The hub never closes while the process runs; fall back to ticks.
                Err(broadcast::error::RecvError::Closed) => {
                    (&mut tick).await;
                    return Ok(());
                }
            },
        }
    }
}

async fn send_durable(sender: &mpsc::Sender<Event>, event: &JobEvent) -> Result<(), Stop> {
    let mut data = event.data.clone();
    if let Some(object) = data.as_object_mut() {
        object.insert("at".into(), serde_json::json!(event.at));
    }
    let name = match event.kind {
        JobEventKind::Status => "status",
        JobEventKind::BatchFailed => "batch_failed",
    };
    send(sender, name, event.id, &data).await
}

async fn send(
    sender: &mpsc::Sender<Event>,
    name: &str,
    id: i64,
    data: &impl Serialize,
) -> Result<(), Stop> {
    let event = Event::default()
        .event(name)
        .id(id.to_string())
        .json_data(data)
        .unwrap_or_else(|_| Event::default().event(name).id(id.to_string()).data("{}"));
    sender.send(event).await.map_err(|_| Stop::Gone)
}
