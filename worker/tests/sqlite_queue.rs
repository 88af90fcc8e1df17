//! The embedded queue (apalis on a SQLite file) through the queue seam:
//! real files in a directory of each test's own, no mocks.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use freight_core::ids::{BatchId, JobId, TenantId};
use freight_core::store::dispatch::BatchRef;
use freight_worker::dispatch::queue::{BatchHandler, ConsumerSettings, Queue, sqlite};
use sqlx::Row;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(30);

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "freight-queue-test-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("create test directory");
        Self(dir)
    }

    fn file(&self) -> PathBuf {
        self.0.join("queue.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const QUEUE: &str = "freight:batches";

fn batches(n: usize) -> Vec<BatchRef> {
    let tenant = TenantId::parse("acme").expect("valid tenant");
    let job_id = JobId::new();
    (0..n)
        .map(|_| BatchRef {
            batch_id: BatchId::new(),
            job_id,
            tenant: tenant.clone(),
        })
        .collect()
}

fn settings(name: &str, concurrency: usize) -> ConsumerSettings {
    ConsumerSettings {
        name: name.to_owned(),
        concurrency,
        fetch_interval: Duration::from_millis(20),
    }
}

/// Records every batch handed to it.
#[derive(Default)]
struct Seen(Mutex<Vec<BatchRef>>);

impl Seen {
    fn handler(self: &Arc<Self>) -> BatchHandler {
        let seen = self.clone();
        Arc::new(move |batch| {
            let seen = seen.clone();
            Box::pin(async move {
                seen.0.lock().expect("lock").push(batch);
            })
        })
    }

    fn all(&self) -> Vec<BatchRef> {
        self.0.lock().expect("lock").clone()
    }

    async fn wait_for(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.all().len() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out: {} of {n} batches delivered",
                self.all().len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn consume(
    queue: &Queue,
    settings: ConsumerSettings,
    handler: BatchHandler,
) -> (CancellationToken, JoinHandle<()>) {
    let stop = CancellationToken::new();
    let consumer = queue.consumer.clone();
    let until = stop.clone();
    let task = tokio::spawn(async move { consumer.consume(settings, handler, until).await });
    (stop, task)
}

async fn stop(stop: CancellationToken, task: JoinHandle<()>) {
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("consumer stops once told to")
        .expect("consumer task joins");
}

/// Task counts by apalis status, read from the file itself.
async fn statuses(path: &Path) -> Vec<(String, i64)> {
    let pool = sqlx::SqlitePool::connect_with(
        sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .busy_timeout(Duration::from_secs(10)),
    )
    .await
    .expect("open queue file");
    let rows =
        sqlx::query("SELECT status, count(*) AS n FROM Jobs GROUP BY status ORDER BY status")
            .fetch_all(&pool)
            .await
            .expect("count tasks");
    pool.close().await;
    rows.iter()
        .map(|r| (r.get::<String, _>("status"), r.get::<i64, _>("n")))
        .collect()
}

fn set(batches: &[BatchRef]) -> HashSet<(BatchId, JobId, String)> {
    batches
        .iter()
        .map(|b| (b.batch_id, b.job_id, b.tenant.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_pushed_batch_reaches_the_handler_once_with_its_ids_and_is_acked() {
    let dir = TempDir::new();
    let queue = sqlite::open(&dir.file(), QUEUE).await.expect("open queue");
    let pushed = batches(40);
    assert!(queue.producer.push(pushed[..25].to_vec()).await.is_empty());
    let seen = Arc::new(Seen::default());
    let (token, task) = consume(&queue, settings("w1", 4), seen.handler());
    assert!(queue.producer.push(pushed[25..].to_vec()).await.is_empty());

    seen.wait_for(pushed.len()).await;
    // A duplicate would arrive right after; give it the chance.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop(token, task).await;
    let delivered = seen.all();
    assert_eq!(delivered.len(), pushed.len(), "each batch exactly once");
    assert_eq!(set(&delivered), set(&pushed), "ids intact");
    assert_eq!(
        statuses(&dir.file()).await,
        vec![("Done".to_owned(), 40)],
        "every message acked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_more_batches_run_at_once_than_the_concurrency() {
    let dir = TempDir::new();
    let queue = sqlite::open(&dir.file(), QUEUE).await.expect("open queue");
    assert!(queue.producer.push(batches(12)).await.is_empty());

    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let handler: BatchHandler = {
        let (running, most, done) = (running.clone(), most.clone(), done.clone());
        Arc::new(move |_batch| {
            let (running, most, done) = (running.clone(), most.clone(), done.clone());
            Box::pin(async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(150)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                done.fetch_add(1, Ordering::SeqCst);
            })
        })
    };
    let (token, task) = consume(&queue, settings("w1", 3), handler);
    let deadline = tokio::time::Instant::now() + WAIT;
    while done.load(Ordering::SeqCst) < 12 {
        assert!(tokio::time::Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop(token, task).await;
    assert_eq!(most.load(Ordering::SeqCst), 3, "three at once, never more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_stop_token_stops_the_consumer() {
    let dir = TempDir::new();
    let queue = sqlite::open(&dir.file(), QUEUE).await.expect("open queue");
    let seen = Arc::new(Seen::default());
    let (token, task) = consume(&queue, settings("w1", 2), seen.handler());
    assert!(queue.producer.push(batches(1)).await.is_empty());
    seen.wait_for(1).await;

    stop(token, task).await;
    assert!(queue.producer.push(batches(3)).await.is_empty());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(seen.all().len(), 1, "nothing taken after the stop");
    assert_eq!(
        statuses(&dir.file()).await,
        vec![("Done".to_owned(), 1), ("Pending".to_owned(), 3)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn messages_survive_reopening_the_file_and_only_a_new_file_was_reset() {
    let dir = TempDir::new();
    let pushed = batches(5);
    {
        let queue = sqlite::open(&dir.file(), QUEUE).await.expect("open queue");
        assert!(
            queue.producer.was_reset().await.expect("marker"),
            "new file"
        );
        assert!(!queue.producer.was_reset().await.expect("marker"));
        assert!(queue.producer.push(pushed.clone()).await.is_empty());
    }

    let queue = sqlite::open(&dir.file(), QUEUE)
        .await
        .expect("reopen queue");
    assert!(
        !queue.producer.was_reset().await.expect("marker"),
        "a reopened file kept its messages"
    );
    let seen = Arc::new(Seen::default());
    let (token, task) = consume(&queue, settings("w2", 2), seen.handler());
    seen.wait_for(5).await;
    stop(token, task).await;
    assert_eq!(set(&seen.all()), set(&pushed));
    drop(queue);

    // The file deleted: its messages are gone, and the queue says so.
    std::fs::remove_file(dir.file()).expect("delete queue file");
    let queue = sqlite::open(&dir.file(), QUEUE).await.expect("new queue");
    assert!(queue.producer.was_reset().await.expect("marker"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_taken_by_a_crashed_consumer_runs_after_a_restart() {
    let dir = TempDir::new();
    let lost = batches(1);
    {
        let queue = sqlite::open(&dir.file(), QUEUE).await.expect("open queue");
        assert!(queue.producer.push(lost.clone()).await.is_empty());
        let started = Arc::new(tokio::sync::Notify::new());
        let handler: BatchHandler = {
            let started = started.clone();
            Arc::new(move |_batch| {
                let started = started.clone();
                Box::pin(async move {
                    started.notify_one();
                    std::future::pending::<()>().await;
                })
            })
        };
        let (_token, task) = consume(&queue, settings("crashing", 1), handler);
        tokio::time::timeout(WAIT, started.notified())
            .await
            .expect("the batch was taken");
        // The process dies mid-batch: no ack, no shutdown.
        task.abort();
        let _ = task.await;
    }
    let left = statuses(&dir.file()).await;
    assert!(
        left == vec![("Running".to_owned(), 1)] || left == vec![("Queued".to_owned(), 1)],
        "the task stays taken by the dead consumer: {left:?}"
    );

    // A new process (another worker id) on the same file.
    let queue = sqlite::open(&dir.file(), QUEUE)
        .await
        .expect("reopen queue");
    let seen = Arc::new(Seen::default());
    let (token, task) = consume(&queue, settings("restarted", 2), seen.handler());
    // The reconciler pushes the unclaimed batch again: it runs at once,
    // not stuck behind the dead consumer's task.
    assert!(queue.producer.push(lost.clone()).await.is_empty());
    seen.wait_for(1).await;
    assert_eq!(set(&seen.all()), set(&lost));
    // apalis hands out the dead consumer's task too, once its heartbeat is
    // overdue (a duplicate the batch claim makes harmless).
    let started = tokio::time::Instant::now();
    seen.wait_for(2).await;
    assert!(started.elapsed() <= sqlite::ORPHANED_AFTER + Duration::from_secs(5));
    stop(token, task).await;
    assert_eq!(set(&seen.all()), set(&lost));
    assert_eq!(statuses(&dir.file()).await, vec![("Done".to_owned(), 2)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn vacuum_deletes_tasks_finished_minutes_ago_only() {
    let dir = TempDir::new();
    let queue = sqlite::open(&dir.file(), QUEUE).await.expect("open queue");
    assert!(queue.producer.push(batches(4)).await.is_empty());
    let seen = Arc::new(Seen::default());
    let (token, task) = consume(&queue, settings("w1", 2), seen.handler());
    seen.wait_for(4).await;
    stop(token, task).await;
    assert!(queue.producer.push(batches(1)).await.is_empty());

    queue.producer.vacuum().await;
    assert_eq!(
        statuses(&dir.file()).await,
        vec![("Done".to_owned(), 4), ("Pending".to_owned(), 1)],
        "just finished: kept"
    );

    // Two of them finished ten minutes ago.
    let pool = sqlx::SqlitePool::connect_with(
        sqlx::sqlite::SqliteConnectOptions::new()
            .filename(dir.file())
            .busy_timeout(Duration::from_secs(10)),
    )
    .await
    .expect("open queue file");
    sqlx::query(
        "UPDATE Jobs SET done_at = done_at - 600
         WHERE id IN (SELECT id FROM Jobs WHERE status = 'Done' LIMIT 2)",
    )
    .execute(&pool)
    .await
    .expect("age tasks");
    pool.close().await;

    queue.producer.vacuum().await;
    assert_eq!(
        statuses(&dir.file()).await,
        vec![("Done".to_owned(), 2), ("Pending".to_owned(), 1)]
    );
}
