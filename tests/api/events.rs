//! `stream_job_events`: live, resumable job events over SSE.

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;

use crate::common::{Api, Backend, Caller, SQLITE_NOW, assert_problem, job_body};

/// The job event stream's minimum gap between `progress` events (its `TICK`).
const TICK: Duration = Duration::from_secs(1);

/// One parsed Server-Sent Event.
#[derive(Debug, Clone)]
struct SseEvent {
    id: String,
    event: String,
    data: Value,
}

impl SseEvent {
    /// Stored events (status changes, failed attempts); the others are
    /// derived from the job when sent.
    fn durable(&self) -> bool {
        self.event == "status" || self.event == "batch_failed"
    }
}

/// Reads events from an open stream until `done` says so or 20 s pass.
struct SseReader {
    body: futures::stream::BoxStream<'static, reqwest::Result<Vec<u8>>>,
    buffer: String,
}

impl SseReader {
    async fn open(api: &Api, caller: &Caller, path: &str, last_event_id: Option<&str>) -> Self {
        let mut request = api.request(reqwest::Method::GET, path, caller);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        Self {
            body: response
                .bytes_stream()
                .map(|chunk| chunk.map(|b| b.to_vec()))
                .boxed(),
            buffer: String::new(),
        }
    }

    /// The next event, skipping keep-alive comments; `None` when the stream closed.
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (String::new(), String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if event.is_empty() {
                    continue;
                }
                return Some(SseEvent {
                    id,
                    event,
                    data: serde_json::from_str(&data).unwrap(),
                });
            }
            let chunk = tokio::time::timeout(Duration::from_secs(20), self.body.next())
                .await
                .expect("an event within 20 s")?;
            self.buffer
                .push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
    }
}

/// `(change, count)` of an event id: `12` is (12, 0), `12.3` is (12, 3).
fn position(id: &str) -> (i64, u32) {
    match id.split_once('.') {
        Some((seq, n)) => (seq.parse().unwrap(), n.parse().unwrap()),
        None => (id.parse().unwrap(), 0),
    }
}

/// Ids strictly increase along a stream: none is used twice.
fn assert_increasing(events: &[SseEvent]) {
    let ids: Vec<(i64, u32)> = events.iter().map(|e| position(&e.id)).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids increase, none twice: {events:?}"
    );
}

async fn a_job_stream_shows_every_change_and_resumes_without_loss(backend: Backend) {
    let api = Api::spawn_on(backend).await;
    let caller = api.new_tenant();
    let job = api.create_job(&caller, &job_body()).await;
    let id = job["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/jobs/{id}/events");
    let mut stream = SseReader::open(&api, &caller, &path, None).await;
    let first = stream.next().await.unwrap();
    assert_eq!(first.event, "status");
    assert_eq!(first.data["status"], "queued");
    // Derived from the job when sent, after its last stored change.
    assert_eq!(position(&first.id).1, 1, "{first:?}");
    let mut live = vec![first.clone()];

    // A worker starts it (as dispatch does) and a batch attempt fails.
    let job_uuid = uuid::Uuid::parse_str(&id).unwrap();
    api.exec(
        "UPDATE jobs SET status = 'running', started_at = now() WHERE id = $1",
        &format!("UPDATE jobs SET status = 'running', started_at = {SQLITE_NOW} WHERE id = $1"),
        &[job_uuid.into()],
    )
    .await;
    let batch = uuid::Uuid::new_v4();
    api.exec_both(
        "INSERT INTO batches (id, job_id, tenant_id, seq, table_name, status, attempts)
         VALUES ($1, $2, $3, 0, 'orders', 'running', 1)",
        &[batch.into(), job_uuid.into(), (&caller.tenant).into()],
    )
    .await;
    api.exec_both(
        "UPDATE batches SET status = 'pending', last_error = 'connection reset' WHERE id = $1",
        &[batch.into()],
    )
    .await;

    let running = stream.next().await.unwrap();
    assert_eq!(
        (running.event.as_str(), running.data["status"].as_str()),
        ("status", Some("running"))
    );
    assert_eq!(running.data["previous_status"], "queued");
    live.push(running.clone());
    let failed = loop {
        let event = stream.next().await.unwrap();
        live.push(event.clone());
        if event.event == "batch_failed" {
            break event;
        }
    };
    assert_eq!(failed.data["batch_id"], batch.to_string());
    assert_eq!(failed.data["attempt"], 1);
    assert_eq!(failed.data["error"], "connection reset");
    assert_eq!(failed.data["final"], false);
    let progress = loop {
        let event = stream.next().await.unwrap();
        live.push(event.clone());
        if event.event == "progress" {
            break event;
        }
    };
    // A second progress event: its own id too.
    loop {
        let event = stream.next().await.unwrap();
        live.push(event.clone());
        if event.event == "progress" {
            break;
        }
    }
    assert!(
        progress.data["batches"]["total"].as_i64() == Some(1),
        "{}",
        progress.data
    );
    assert!(progress.data["percent"].is_number());

    // Cancel: a status event, then `finished` with the final job, then the end.
    let cancelled = api
        .post(
            &format!("/api/v1/jobs/{id}/cancel"),
            &caller,
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(cancelled.status(), 200);
    let mut tail = Vec::new();
    while let Some(event) = stream.next().await {
        tail.push(event);
    }
    let names: Vec<&str> = tail
        .iter()
        .map(|e| e.event.as_str())
        .filter(|e| *e != "progress")
        .collect();
    assert_eq!(names.last(), Some(&"finished"), "{names:?}");
    let finished = tail.last().unwrap();
    assert_eq!(finished.data["id"], id);
    assert!(
        tail.iter().any(|e| e.event == "status"
            && (e.data["status"] == "cancelling" || e.data["status"] == "cancelled")),
        "{tail:?}"
    );

    // Resuming after the `running` event replays what followed, in order.
    let mut resumed = SseReader::open(&api, &caller, &path, Some(&running.id)).await;
    let mut replay = Vec::new();
    while let Some(event) = resumed.next().await {
        replay.push(event);
    }
    let durable: Vec<(String, String)> = replay
        .iter()
        .filter(|e| e.event != "progress")
        .map(|e| (e.id.clone(), e.event.clone()))
        .collect();
    let original: Vec<(String, String)> = std::iter::once(&failed)
        .chain(tail.iter())
        .filter(|e| e.event != "progress")
        .map(|e| (e.id.clone(), e.event.clone()))
        .collect();
    assert_eq!(
        durable, original,
        "the replay equals what the live stream showed"
    );
    live.extend(tail.iter().cloned());
    assert_increasing(&live);
    assert_increasing(&replay);

    // Resuming after a progress event: every stored change after it.
    let mut resumed = SseReader::open(&api, &caller, &path, Some(&progress.id)).await;
    let mut after_progress = Vec::new();
    while let Some(event) = resumed.next().await {
        after_progress.push(event);
    }
    let stored_after = |events: &[SseEvent]| -> Vec<String> {
        events
            .iter()
            .filter(|e| e.durable() && position(&e.id) > position(&progress.id))
            .map(|e| e.id.clone())
            .collect()
    };
    assert_eq!(
        stored_after(&after_progress),
        stored_after(&live),
        "{after_progress:?}"
    );
    assert_eq!(
        after_progress.last().map(|e| e.event.as_str()),
        Some("finished")
    );
}

/// `Last-Event-ID` names an event of this job: one beyond its last change
/// is a 400 (it would skip the changes to come), `0` replays every stored
/// event from the job's creation, and a derived event's id resumes after
/// the change it follows.
async fn an_id_beyond_the_last_change_is_a_400_and_0_replays_every_event(backend: Backend) {
    let api = Api::spawn_on(backend).await;
    let caller = api.new_tenant();
    let job = api.create_job(&caller, &job_body()).await;
    let id = job["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/jobs/{id}/events");
    let mut fresh = SseReader::open(&api, &caller, &path, None).await;
    let snapshot = fresh.next().await.unwrap();
    let (last, derived) = position(&snapshot.id);
    assert_eq!(derived, 1, "{snapshot:?}");
    for beyond in [
        "99999999".to_owned(),
        format!("{}", last + 1),
        format!("{}.1", last + 1),
    ] {
        let response = api
            .request(reqwest::Method::GET, &path, &caller)
            .header("Last-Event-ID", &beyond)
            .send()
            .await
            .unwrap();
        assert_problem(response, 400, "VALIDATION_ERROR").await;
    }

    // From 0: the stored `queued` status of the job's creation.
    let mut replay = SseReader::open(&api, &caller, &path, Some("0")).await;
    let created = replay.next().await.unwrap();
    assert_eq!(
        (
            created.event.as_str(),
            created.data["status"].as_str(),
            created.id.clone()
        ),
        ("status", Some("queued"), last.to_string())
    );
    // From the snapshot: nothing until the next change, then that change.
    let mut resumed = SseReader::open(&api, &caller, &path, Some(&snapshot.id)).await;
    let cancelled = api
        .post(
            &format!("/api/v1/jobs/{id}/cancel"),
            &caller,
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(cancelled.status(), 200);
    let next = resumed.next().await.unwrap();
    assert_eq!(next.event, "status", "{next:?}");
    assert!(position(&next.id) > (last, 1), "{next:?}");
    for stream in [&mut fresh, &mut replay, &mut resumed] {
        let mut rest = Vec::new();
        while let Some(event) = stream.next().await {
            rest.push(event);
        }
        assert_eq!(
            rest.last().map(|e| e.event.as_str()),
            Some("finished"),
            "{rest:?}"
        );
        assert_increasing(&rest);
    }
}

async fn another_tenants_job_stream_is_a_404_and_a_bad_last_event_id_a_400(backend: Backend) {
    let api = Api::spawn_on(backend).await;
    let owner = api.new_tenant();
    let other = api.new_tenant();
    let job = api.create_job(&owner, &job_body()).await;
    let path = format!("/api/v1/jobs/{}/events", job["id"].as_str().unwrap());
    assert_problem(api.get(&path, &other).await, 404, "NOT_FOUND").await;
    let bad = api
        .request(reqwest::Method::GET, &path, &owner)
        .header("Last-Event-ID", "not-a-number")
        .send()
        .await
        .unwrap();
    assert_problem(bad, 400, "VALIDATION_ERROR").await;
}

/// However often a running job wakes its stream (here a batch attempt
/// fails every 50 ms, each a `batch_failed` event and a wake), `progress`
/// is sent at most once a second.
async fn progress_events_are_at_least_a_second_apart_however_often_the_job_wakes(backend: Backend) {
    let api = Api::spawn_on(backend).await;
    let caller = api.new_tenant();
    let job = api.create_job(&caller, &job_body()).await;
    let id = job["id"].as_str().unwrap().to_owned();
    let job_uuid = uuid::Uuid::parse_str(&id).unwrap();
    let path = format!("/api/v1/jobs/{id}/events");
    let mut stream = SseReader::open(&api, &caller, &path, None).await;
    assert_eq!(stream.next().await.unwrap().data["status"], "queued");
    api.exec(
        "UPDATE jobs SET status = 'running', started_at = now() WHERE id = $1",
        &format!("UPDATE jobs SET status = 'running', started_at = {SQLITE_NOW} WHERE id = $1"),
        &[job_uuid.into()],
    )
    .await;
    let batch = uuid::Uuid::new_v4();
    api.exec_both(
        "INSERT INTO batches (id, job_id, tenant_id, seq, table_name, status, attempts)
         VALUES ($1, $2, $3, 0, 'orders', 'pending', 0)",
        &[batch.into(), job_uuid.into(), (&caller.tenant).into()],
    )
    .await;
    // Read while the job wakes the stream, noting when each event arrived.
    let reader = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(event) = stream.next().await {
            seen.push((tokio::time::Instant::now(), event.event));
        }
        seen
    });
    let until = tokio::time::Instant::now() + Duration::from_millis(3500);
    while tokio::time::Instant::now() < until {
        api.exec_both(
            "UPDATE batches SET attempts = attempts + 1, last_error = 'reset ' || attempts
             WHERE id = $1",
            &[batch.into()],
        )
        .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cancelled = api
        .post(
            &format!("/api/v1/jobs/{id}/cancel"),
            &caller,
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(cancelled.status(), 200);
    let seen = tokio::time::timeout(Duration::from_secs(30), reader)
        .await
        .expect("the stream ends after the cancel")
        .unwrap();

    let wakes = seen.iter().filter(|(_, e)| e == "batch_failed").count();
    assert!(wakes >= 20, "the job woke its stream often: {seen:?}");
    let progress: Vec<tokio::time::Instant> = seen
        .iter()
        .filter(|(_, e)| e == "progress")
        .map(|(at, _)| *at)
        .collect();
    assert!(progress.len() >= 2, "progress while running: {seen:?}");
    let gaps: Vec<Duration> = progress.windows(2).map(|w| w[1] - w[0]).collect();
    // Measured at the client, so a little under the server's tick.
    assert!(
        gaps.iter().all(|gap| *gap >= TICK.mul_f32(0.9)),
        "progress at most once a second: {gaps:?}"
    );
}

/// A stream with nothing to send gets a keep-alive comment each time it
/// has been quiet for the keep-alive interval (15 s by default,
/// `FREIGHT_SSE_KEEP_ALIVE_MS`; shortened here), and nothing else.
async fn a_quiet_stream_gets_keep_alive_comments(backend: Backend) {
    let api = Api::spawn_on(backend).await;
    assert_eq!(
        api.app.state.event_keep_alive,
        Duration::from_secs(15),
        "the documented default"
    );
    let interval = Duration::from_millis(1500);
    let base =
        freight_api::testing::serve_state(api.app.state.clone().with_event_keep_alive(interval))
            .await;
    let caller = api.new_tenant();
    // Queued, and no worker: nothing happens to it.
    let job = api.create_job(&caller, &job_body()).await;
    let response = api
        .http
        .get(format!(
            "{base}/api/v1/jobs/{}/events",
            job["id"].as_str().unwrap()
        ))
        .bearer_auth(&caller.token)
        .header("X-Tenant-ID", &caller.tenant)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    // Blocks (events and comments) with the time each was complete.
    let mut blocks: Vec<(tokio::time::Instant, String)> = Vec::new();
    let comments = |blocks: &[(tokio::time::Instant, String)]| {
        blocks
            .iter()
            .filter(|(_, b)| b.lines().all(|l| l.starts_with(':')))
            .count()
    };
    tokio::time::timeout(Duration::from_secs(20), async {
        while comments(&blocks) < 3 {
            let chunk = body.next().await.expect("the stream stays open").unwrap();
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                blocks.push((tokio::time::Instant::now(), block.trim().to_owned()));
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("three keep-alive comments within 20 s: {blocks:?}"));

    let (first, rest) = blocks.split_first().unwrap();
    assert!(first.1.contains("event: status"), "{blocks:?}");
    assert!(
        rest.iter()
            .all(|(_, b)| b.lines().all(|l| l.starts_with(':'))),
        "only comments while nothing happens: {blocks:?}"
    );
    // One per quiet interval, not more often.
    let times: Vec<tokio::time::Instant> = blocks.iter().map(|(at, _)| *at).collect();
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.iter().all(|gap| *gap >= interval.mul_f32(0.9)),
        "a comment after each quiet interval: {gaps:?}"
    );
}

/// PostgreSQL: a transaction left open (idle, with an xid) in another
/// database of the cluster, or in Freight's own, holds no event back; and
/// an event-writing transaction that commits later than another gets the
/// later id, so a reader that already moved past the other loses nothing.
#[tokio::test]
async fn open_transactions_elsewhere_do_not_stall_events_and_commit_order_is_id_order() {
    let api = Api::spawn_on(Backend::Postgres).await;
    let caller = api.new_tenant();
    let job = api.create_job(&caller, &job_body()).await;
    let id = job["id"].as_str().unwrap().to_owned();
    let job_uuid = uuid::Uuid::parse_str(&id).unwrap();
    let path = format!("/api/v1/jobs/{id}/events");
    let mut stream = SseReader::open(&api, &caller, &path, None).await;
    assert_eq!(stream.next().await.unwrap().data["status"], "queued");

    // Idle transactions holding an xid: one in another database, one here.
    let elsewhere =
        sqlx::PgPool::connect(&freight_api::testing::fresh_database("freight_idle").await)
            .await
            .unwrap();
    let mut idle_elsewhere = elsewhere.begin().await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *idle_elsewhere)
        .await
        .unwrap();
    let pg = api.pg().await;
    let mut idle_here = pg.begin().await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *idle_here)
        .await
        .unwrap();

    let batch = uuid::Uuid::new_v4();
    sqlx::query(
        "INSERT INTO batches (id, job_id, tenant_id, seq, table_name, status, attempts)
         VALUES ($1, $2, $3, 0, 'orders', 'running', 1)",
    )
    .bind(batch)
    .bind(job_uuid)
    .bind(&caller.tenant)
    .execute(&pg)
    .await
    .unwrap();
    // An event writer that starts first but commits last.
    let mut slow = pg.begin().await.unwrap();
    sqlx::query("UPDATE batches SET status = 'failed', last_error = 'boom' WHERE id = $1")
        .bind(batch)
        .execute(&mut *slow)
        .await
        .unwrap();
    sqlx::query("UPDATE jobs SET status = 'running', started_at = now() WHERE id = $1")
        .bind(job_uuid)
        .execute(&pg)
        .await
        .unwrap();
    // Delivered while all three transactions are still open.
    let running = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let event = stream.next().await.unwrap();
            if event.event == "status" {
                break event;
            }
        }
    })
    .await
    .expect("the status event, not stalled by open transactions elsewhere");
    assert_eq!(running.data["status"], "running");

    slow.commit().await.unwrap();
    let failed = loop {
        let event = stream.next().await.unwrap();
        if event.event == "batch_failed" {
            break event;
        }
    };
    assert_eq!(failed.data["batch_id"], batch.to_string());
    let (running_id, failed_id): (i64, i64) =
        (running.id.parse().unwrap(), failed.id.parse().unwrap());
    assert!(
        failed_id > running_id,
        "the later commit has the larger id: {running_id} then {failed_id}"
    );
    // A reader resuming after `running` gets the later commit too.
    let mut resumed = SseReader::open(&api, &caller, &path, Some(&running.id)).await;
    let first = loop {
        let event = resumed.next().await.unwrap();
        if event.event != "progress" {
            break event;
        }
    };
    assert_eq!(
        (first.event.as_str(), first.id.as_str()),
        ("batch_failed", failed.id.as_str())
    );

    idle_here.rollback().await.unwrap();
    idle_elsewhere.rollback().await.unwrap();
}

freight_api::on_both_backends!(
    a_job_stream_shows_every_change_and_resumes_without_loss,
    an_id_beyond_the_last_change_is_a_400_and_0_replays_every_event,
    another_tenants_job_stream_is_a_404_and_a_bad_last_event_id_a_400,
    progress_events_are_at_least_a_second_apart_however_often_the_job_wakes,
    a_quiet_stream_gets_keep_alive_comments,
);
