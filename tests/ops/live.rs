//! Watching a real migration run by real worker processes: the job's
//! event stream (`stream_job_events`) from its first status to `finished`,
//! resumed with `Last-Event-ID` after a disconnect in the middle of the
//! job (on PostgreSQL through `freight all`, and through a `freight api`
//! process while a separate `freight worker` process runs the job; on
//! SQLite through `freight dev`); the keep-alive setting on a real
//! `freight api`; and webhook deliveries, sent by the workers' own sender loop,
//! that survive a `kill -9` of the worker in the middle of the job and in
//! the middle of a delivery.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures::StreamExt;
use serde_json::{Value, json};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};

use crate::support::{Freight, FreightSpec, eventually, signal, token, unique};

/// Rows of the migrated table: the job runs for a few seconds.
const ROWS: i64 = 200_000;
const WAIT: Duration = Duration::from_secs(120);

/// A directory of SQLite files, removed at the end.
struct Files(PathBuf);

impl Files {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(unique("freight-live-"));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A SQLite database with one table of [`ROWS`] rows.
async fn create_source(path: &Path) {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true);
    let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
    sqlx::query(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, amount REAL, note TEXT)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
         INSERT INTO items SELECT i, 'item ' || i, i * 0.25, 'note ' || (i % 13) FROM n",
    )
    .bind(ROWS)
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
}

/// The body of a job copying `source` into `target` (SQLite files).
fn sqlite_job(source: &Path, target: &Path) -> Value {
    json!({
        "source_config": {"type": "sqlite", "database": source.display().to_string()},
        "target_config": {"type": "sqlite", "database": target.display().to_string()},
        "batch_size": 2000,
        "started_by": "ops-test",
    })
}

/// A tenant's view of one Freight API.
struct Client {
    http: reqwest::Client,
    base: String,
    tenant: String,
    token: String,
}

impl Client {
    fn new(base: String) -> Self {
        let tenant = unique("live");
        Self {
            http: reqwest::Client::new(),
            base,
            token: token(&tenant),
            tenant,
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("X-Tenant-ID", &self.tenant)
    }

    async fn get(&self, path: &str) -> Value {
        let response = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    async fn post(&self, path: &str, body: &Value) -> Value {
        let response = self
            .request(reqwest::Method::POST, path)
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "POST {path}");
        response.json().await.unwrap()
    }

    async fn create_job(&self, body: &Value) -> String {
        self.post("/api/v1/jobs", body).await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn until_final(&self, id: &str) -> Value {
        eventually(WAIT, "the job to finish", || async {
            let job = self.get(&format!("/api/v1/jobs/{id}")).await;
            match job["status"].as_str() {
                Some("completed" | "completed_with_errors" | "failed" | "cancelled") => Ok(job),
                _ => Err(job.to_string()),
            }
        })
        .await
    }
}

// ------------------------------------------------------------------- SSE

/// One Server-Sent Event.
#[derive(Debug, Clone)]
struct SseEvent {
    /// `(change, count)`: a stored event's id is its change number (`12`:
    /// count 0), a derived one's the last change before it and a count
    /// (`12.3`).
    id: (i64, u32),
    event: String,
    data: Value,
}

impl SseEvent {
    /// Status and batch failures are stored; progress and `finished` are
    /// derived from the job when sent.
    fn durable(&self) -> bool {
        self.event == "status" || self.event == "batch_failed"
    }
}

struct SseReader {
    body: futures::stream::BoxStream<'static, reqwest::Result<Vec<u8>>>,
    buffer: String,
}

impl SseReader {
    async fn open(client: &Client, job: &str, last_event_id: Option<(i64, u32)>) -> Self {
        let mut request = client
            .request(reqwest::Method::GET, &format!("/api/v1/jobs/{job}/events"))
            .header("Accept", "text/event-stream");
        if let Some((seq, count)) = last_event_id {
            let id = if count == 0 {
                seq.to_string()
            } else {
                format!("{seq}.{count}")
            };
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        Self {
            body: response
                .bytes_stream()
                .map(|chunk| chunk.map(|b| b.to_vec()))
                .boxed(),
            buffer: String::new(),
        }
    }

    /// The next event (keep-alive comments skipped); `None` once the
    /// server closed the stream.
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        let v = v.trim();
                        let (seq, count) = v.split_once('.').unwrap_or((v, "0"));
                        id = Some((
                            seq.parse::<i64>().expect("a numeric change"),
                            count.parse::<u32>().expect("a numeric count"),
                        ));
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
                    id: id.expect("every event has an id"),
                    event,
                    data: serde_json::from_str(&data).unwrap(),
                });
            }
            let chunk = tokio::time::timeout(Duration::from_secs(30), self.body.next())
                .await
                .expect("an event (or a keep-alive) within 30 s")?;
            self.buffer
                .push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
    }

    /// Every event until the server closes the stream.
    async fn rest(mut self) -> Vec<SseEvent> {
        let mut events = Vec::new();
        while let Some(event) = self.next().await {
            events.push(event);
        }
        events
    }
}

/// `(id, event, status)` of the durable events with an id in `range`.
fn durable_in(
    events: &[SseEvent],
    range: impl std::ops::RangeBounds<i64>,
) -> Vec<(i64, String, Value)> {
    events
        .iter()
        .filter(|e| e.durable() && range.contains(&e.id.0))
        .map(|e| (e.id.0, e.event.clone(), e.data["status"].clone()))
        .collect()
}

fn freight_all(database: &str) -> FreightSpec {
    // Dev mode lets the jobs read and write SQLite files in a temp dir.
    FreightSpec::new("all", database).env("FREIGHT_DEV_MODE", "true")
}

fn freight_dev(files: &Files) -> FreightSpec {
    FreightSpec::new("dev", "postgres://nobody@127.0.0.1:1/unreachable")
        .env("REDIS_URL", "redis://127.0.0.1:1")
        .env("FREIGHT_DATA_DIR", files.path("data").display().to_string())
}

async fn a_real_job_streams_to_finished_and_resumes_without_loss(spec: FreightSpec, files: &Files) {
    let mut freight = spec.env("WORKER_CONCURRENCY", "1").spawn();
    freight.wait_ready(&reqwest::Client::new()).await;
    follow_a_real_job_to_finished_with_a_resume(&freight.base_url(), files).await;
    freight.terminate();
    freight.wait_exit(Duration::from_secs(30)).await;
}

/// Runs a job through the API at `base` and follows it twice: one stream
/// from start to `finished`, one cut off mid-job and resumed with
/// `Last-Event-ID`; both must show every stored event exactly once.
async fn follow_a_real_job_to_finished_with_a_resume(base: &str, files: &Files) {
    let source = files.path("source.db");
    let target = files.path("target.db");
    create_source(&source).await;
    let client = Client::new(base.to_owned());
    let id = client.create_job(&sqlite_job(&source, &target)).await;

    // One stream follows the whole job; another is cut off mid-job and
    // resumed from the last id it got.
    let whole = SseReader::open(&client, &id, None).await;
    let mut cut = SseReader::open(&client, &id, None).await;
    // Cut once rows are being written.
    let mut before = Vec::new();
    loop {
        let event = cut.next().await.expect("the job is still running");
        assert_ne!(
            event.event, "finished",
            "cut off before the end: {before:?}"
        );
        let copying = event.event == "progress" && event.data["rows_written"].as_i64() > Some(0);
        before.push(event);
        if copying {
            break;
        }
    }
    drop(cut);
    let last_seen = before.last().unwrap().id;
    let job = client.get(&format!("/api/v1/jobs/{id}")).await;
    assert_eq!(job["status"], "running", "disconnected mid-job: {job}");
    let after = SseReader::open(&client, &id, Some(last_seen))
        .await
        .rest()
        .await;
    let whole = whole.rest().await;

    // The uninterrupted stream: the current status, then every change,
    // progress while running, and `finished` with the final job, last.
    assert_eq!(whole[0].event, "status", "{whole:?}");
    let statuses: Vec<&str> = whole
        .iter()
        .filter(|e| e.event == "status")
        .filter_map(|e| e.data["status"].as_str())
        .collect();
    assert!(statuses.contains(&"running"), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&"completed"), "{statuses:?}");
    let progress: Vec<&SseEvent> = whole.iter().filter(|e| e.event == "progress").collect();
    assert!(progress.len() >= 2, "progress while running: {whole:?}");
    let written: Vec<i64> = progress
        .iter()
        .map(|e| e.data["rows_written"].as_i64().unwrap())
        .collect();
    assert!(written.windows(2).all(|w| w[0] <= w[1]), "{written:?}");
    assert!(written.iter().any(|w| *w > 0 && *w < ROWS), "{written:?}");
    for event in &progress {
        let percent = event.data["percent"].as_f64().unwrap();
        assert!((0.0..=100.0).contains(&percent), "{event:?}");
        assert!(
            event.data["rows_per_second"].as_f64().is_some(),
            "{event:?}"
        );
        assert!(event.data["batches"]["total"].is_i64(), "{event:?}");
    }
    // Once planned, the batches are counted.
    assert!(
        progress.last().unwrap().data["batches"]["total"].as_i64() > Some(0),
        "{progress:?}"
    );
    for stream in [&whole, &after] {
        let finished = stream.last().unwrap();
        assert_eq!(finished.event, "finished", "{stream:?}");
        assert_eq!(finished.data["status"], "completed", "{finished:?}");
        assert_eq!(finished.data["rows_written"], ROWS, "{finished:?}");
        assert_eq!(
            stream.iter().filter(|e| e.event == "finished").count(),
            1,
            "one finished event, then the stream closed"
        );
        // Ids increase: none is sent twice (progress events included).
        assert!(stream.windows(2).all(|w| w[0].id < w[1].id), "{stream:?}");
    }
    let durable_after = durable_in(&after, ..);
    let mut ids: Vec<i64> = durable_after.iter().map(|e| e.0).collect();
    ids.dedup();
    assert_eq!(ids.len(), durable_after.len(), "no repeats: {after:?}");

    // Resumption: exactly the stored events after the last id seen (no
    // snapshot repeated, none lost), as the uninterrupted stream got them.
    assert!(
        after.iter().all(|e| !e.durable() || e.id > last_seen),
        "{after:?}"
    );
    assert_eq!(
        durable_after,
        durable_in(&whole, last_seen.0 + 1..),
        "after the cut"
    );
    // Before the cut, both streams saw the same stored events (after the
    // snapshots they started with).
    let from = whole[0].id.0.max(before[0].id.0) + 1;
    assert_eq!(
        durable_in(&before, from..),
        durable_in(&whole, from..=last_seen.0),
        "before the cut"
    );
    assert!(
        durable_in(&after, ..)
            .iter()
            .any(|(_, _, status)| status == "completed"),
        "the resumed stream got the completion: {after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_run_by_real_workers_streams_live_on_postgres() {
    let database = freight_api::testing::fresh_database("freight_ops").await;
    let files = Files::new();
    a_real_job_streams_to_finished_and_resumes_without_loss(freight_all(&database), &files).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_run_by_real_workers_streams_live_on_sqlite() {
    let files = Files::new();
    let spec = freight_dev(&files);
    a_real_job_streams_to_finished_and_resumes_without_loss(spec, &files).await;
}

/// Any API replica serves any job: `freight api` and `freight worker` run
/// as separate processes on one PostgreSQL database. The API process runs
/// no worker, so every change it streams was made by the other process and
/// reached it through the store (`LISTEN/NOTIFY`, then a read).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_run_by_a_worker_process_streams_from_a_separate_api_process() {
    let database = freight_api::testing::fresh_database("freight_ops").await;
    let queue = unique("freight-ops:");
    let files = Files::new();
    let mut api = FreightSpec::new("api", &database)
        .env("FREIGHT_DEV_MODE", "true")
        .env("FREIGHT_QUEUE", &queue)
        .spawn();
    api.wait_ready(&reqwest::Client::new()).await;
    let mut worker = worker(&database, &queue);

    follow_a_real_job_to_finished_with_a_resume(&api.base_url(), &files).await;

    api.assert_running();
    worker.assert_running();
    assert!(
        worker.logs().contains("batch started"),
        "the worker process copied the batches; log:\n{}",
        worker.logs()
    );
    assert!(
        !api.logs().contains("batch started"),
        "the API process copied nothing; log:\n{}",
        api.logs()
    );
    worker.terminate();
    worker.wait_exit(Duration::from_secs(30)).await;
    api.terminate();
    api.wait_exit(Duration::from_secs(30)).await;
}

/// `FREIGHT_SSE_KEEP_ALIVE_MS` reaches the streams of a real `freight api`:
/// a quiet stream gets its comment after half a second, not 15 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keep_alive_interval_of_event_streams_is_a_setting() {
    let database = freight_api::testing::fresh_database("freight_ops").await;
    let files = Files::new();
    let mut api = FreightSpec::new("api", &database)
        .env("FREIGHT_DEV_MODE", "true")
        .env("FREIGHT_SSE_KEEP_ALIVE_MS", "500")
        .spawn();
    api.wait_ready(&reqwest::Client::new()).await;
    let client = Client::new(api.base_url());
    // No worker runs: the job stays queued and its stream quiet.
    let id = client
        .create_job(&sqlite_job(
            &files.path("source.db"),
            &files.path("target.db"),
        ))
        .await;
    let response = client
        .request(reqwest::Method::GET, &format!("/api/v1/jobs/{id}/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(5), async {
        while !text.lines().any(|line| line.starts_with(':')) {
            let chunk = body.next().await.expect("the stream stays open").unwrap();
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("a keep-alive comment within 5 s: {text:?}"));
    assert!(
        text.starts_with("event: status") || text.contains("\nevent: status"),
        "{text:?}"
    );
    api.terminate();
    api.wait_exit(Duration::from_secs(30)).await;
}

// -------------------------------------------------------------- webhooks

/// One request the receiver got.
type Received = (HeaderMap, Vec<u8>);

/// A local webhook endpoint: it keeps every request, holds the first
/// `job.completed` delivery unanswered (the sender is killed meanwhile)
/// and answers 204 to everything else.
#[derive(Clone, Default)]
struct Receiver {
    received: Arc<Mutex<Vec<Received>>>,
    held: Arc<tokio::sync::Notify>,
}

impl Receiver {
    async fn start(&self) -> String {
        let this = self.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let this = this.clone();
                async move {
                    let first_completed = {
                        let mut all = this.received.lock().unwrap();
                        let completed = |b: &[u8]| {
                            serde_json::from_slice::<Value>(b)
                                .is_ok_and(|v| v["type"] == "job.completed")
                        };
                        let first = completed(&body) && !all.iter().any(|(_, b)| completed(b));
                        all.push((headers, body.to_vec()));
                        first
                    };
                    if first_completed {
                        this.held.notify_one();
                        // Never answered: the worker sending it dies first.
                        std::future::pending::<()>().await;
                    }
                    StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/hook")
    }

    fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// Checks the Standard Webhooks signature of one request, computed here
/// independently: HMAC-SHA256 of "id.timestamp.body" keyed with the
/// base64 part of the secret.
fn assert_signed(secret: &str, (headers, body): &Received) {
    let key = STANDARD.decode(&secret["whsec_".len()..]).unwrap();
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key);
    let mut message = format!(
        "{}.{}.",
        header(headers, "webhook-id"),
        header(headers, "webhook-timestamp")
    )
    .into_bytes();
    message.extend_from_slice(body);
    let expected = format!(
        "v1,{}",
        STANDARD.encode(aws_lc_rs::hmac::sign(&key, &message).as_ref())
    );
    assert_eq!(header(headers, "webhook-signature"), expected);
}

/// `freight worker` on `database` and `queue`, sending webhooks quickly
/// and claiming a dead sender's delivery again after 2 s.
fn worker(database: &str, queue: &str) -> Freight {
    FreightSpec::new("worker", database)
        .env("FREIGHT_DEV_MODE", "true")
        .env("FREIGHT_QUEUE", queue)
        .env("WORKER_CONCURRENCY", "1")
        .env("FREIGHT_WEBHOOK_POLL_MS", "100")
        .env("FREIGHT_WEBHOOK_LEASE_MS", "2000")
        .env("FREIGHT_WEBHOOK_BACKOFF_MS", "100")
        .spawn()
}

async fn kill_9(process: &mut Freight) {
    signal(process.pid(), "KILL");
    process.wait_exit(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_survive_a_kill_9_of_the_worker_mid_job_and_mid_delivery() {
    let database = freight_api::testing::fresh_database("freight_ops").await;
    let queue = unique("freight-ops:");
    let files = Files::new();
    let source = files.path("source.db");
    create_source(&source).await;
    let receiver = Receiver::default();
    let url = receiver.start().await;

    let mut api = FreightSpec::new("api", &database)
        .env("FREIGHT_DEV_MODE", "true")
        .env("FREIGHT_QUEUE", &queue)
        .spawn();
    api.wait_ready(&reqwest::Client::new()).await;
    let client = Client::new(api.base_url());
    let webhook = client
        .post(
            "/api/v1/webhooks",
            &json!({"url": url, "events": ["job.completed", "job.failed"]}),
        )
        .await;
    let secret = webhook["secret"].as_str().unwrap().to_owned();
    let webhook_id = webhook["id"].as_str().unwrap().to_owned();

    // A worker dies in the middle of a job; another finishes it.
    let mut first = worker(&database, &queue);
    let job = client
        .create_job(&sqlite_job(&source, &files.path("target.db")))
        .await;
    eventually(WAIT, "rows written", || async {
        let detail = client.get(&format!("/api/v1/jobs/{job}")).await;
        if detail["rows_written"].as_i64() > Some(0) {
            Ok(())
        } else {
            Err(detail.to_string())
        }
    })
    .await;
    kill_9(&mut first).await;
    let job_status = client.get(&format!("/api/v1/jobs/{job}")).await;
    assert_eq!(job_status["status"], "running", "{job_status}");

    // The next worker finishes the job and starts delivering
    // `job.completed`; it dies while the endpoint has not answered yet.
    let mut second = worker(&database, &queue);
    tokio::time::timeout(WAIT, receiver.held.notified())
        .await
        .unwrap_or_else(|_| panic!("no job.completed delivery; log:\n{}", second.logs()));
    kill_9(&mut second).await;
    let finished = client.get(&format!("/api/v1/jobs/{job}")).await;
    assert_eq!(finished["status"], "completed", "{finished}");
    assert_eq!(finished["rows_written"], ROWS, "nothing lost: {finished}");

    // A third worker sends it again (same webhook-id), and a failing job's
    // `job.failed` too.
    let mut third = worker(&database, &queue);
    let failing = client
        .create_job(&sqlite_job(
            &files.path("missing/nowhere.db"),
            &files.path("target-failed.db"),
        ))
        .await;
    let failed = client.until_final(&failing).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let deliveries_path = format!("/api/v1/webhooks/{webhook_id}/deliveries");
    let deliveries = eventually(WAIT, "both deliveries delivered", || async {
        let deliveries = client.get(&deliveries_path).await;
        let items = deliveries["items"].as_array().cloned().unwrap_or_default();
        if items.len() == 2 && items.iter().all(|d| d["status"] == "delivered") {
            Ok(items)
        } else {
            Err(deliveries.to_string())
        }
    })
    .await;

    let received = receiver.all();
    for request in &received {
        assert_signed(&secret, request);
    }
    let payload = |(_, body): &Received| serde_json::from_slice::<Value>(body).unwrap();
    let by_type = |kind: &str| -> Vec<Received> {
        received
            .iter()
            .filter(|r| payload(r)["type"] == kind)
            .cloned()
            .collect()
    };
    let completed = by_type("job.completed");
    assert!(
        completed.len() >= 2,
        "sent again after the kill: {completed:?}"
    );
    let completed_id = header(&completed[0].0, "webhook-id").to_owned();
    for request in &completed {
        assert_eq!(
            header(&request.0, "webhook-id"),
            completed_id,
            "a stable id"
        );
        assert_eq!(request.1, completed[0].1, "the same message");
        assert_eq!(payload(request)["data"]["job_id"], job.as_str());
        assert_eq!(payload(request)["data"]["status"], "completed");
    }
    let failed = by_type("job.failed");
    assert!(!failed.is_empty());
    assert_eq!(payload(&failed[0])["data"]["job_id"], failing.as_str());
    assert_eq!(payload(&failed[0])["data"]["status"], "failed");
    let mut ids: Vec<String> = received
        .iter()
        .map(|(h, _)| header(h, "webhook-id").to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 2, "one message per event: {ids:?}");
    let mut listed: Vec<String> = deliveries
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect();
    listed.sort();
    assert_eq!(listed, ids, "the deliveries' ids are the messages' ids");
    for delivery in &deliveries {
        assert_eq!(delivery["last_status"], 204, "{delivery}");
    }

    third.terminate();
    third.wait_exit(Duration::from_secs(30)).await;
    api.terminate();
    api.wait_exit(Duration::from_secs(30)).await;
}
