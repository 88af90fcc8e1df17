//! apalis on SQLite: the embedded queue of `freight dev`, one file on disk
//! instead of Redis.
//!
//! The queue gets a file of its own (the caller passes `<data-dir>/queue.db`)
//! rather than living in the store's `freight.db`: an idle consumer writes
//! every `fetch_interval` (apalis claims tasks with an `UPDATE`), and those
//! writes would otherwise queue behind, and hold up, the store's single
//! `BEGIN IMMEDIATE` writer. Two files also keep apalis' `_sqlx_migrations`
//! and Freight's `_freight_migrations` apart.
//!
//! Like the Redis queue, every message is acked (apalis records the task
//! `Done`: the handler never fails) and apalis never retries: tasks are
//! pushed with `max_attempts = 1`. A process that dies mid-batch leaves its
//! tasks locked by a worker that stops sending heartbeats; the next
//! consumer's heartbeat hands them out again after [`ORPHANED_AFTER`], and
//! the reconciler pushes every unclaimed batch again after
//! `redispatch_after` anyway.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use apalis::prelude::{BackendExt as _, BoxDynError, WorkerBuilder, WorkerBuilderExt as _};
use apalis_core::task::builder::TaskBuilder;
use apalis_sqlite::{Config, SqliteStorage};
use async_trait::async_trait;
use freight_core::store::dispatch::BatchRef;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tokio_util::sync::CancellationToken;

use super::{BatchHandler, BatchQueue, ConsumerSettings, DispatchMessage, Queue, QueueConsumer};

pub type Storage = SqliteStorage<DispatchMessage>;

/// How often a consumer records that it is alive.
const HEARTBEAT: Duration = Duration::from_secs(2);
/// Heartbeats a consumer may miss before its locked tasks go back to the
/// queue.
const MISSED_HEARTBEATS: usize = 5;
/// A consumer silent this long is dead: what it had taken is handed out
/// again.
pub const ORPHANED_AFTER: Duration = Duration::from_secs(10);
/// Finished tasks are kept this long (to look at), then deleted.
const KEEP_FINISHED: Duration = Duration::from_secs(300);
/// Consumers not seen for this long, holding nothing, are forgotten.
const FORGET_WORKERS_AFTER: Duration = Duration::from_secs(3600);

/// The apalis-sqlite configuration shared by producer and consumer: the
/// queue name is explicit on both sides (the default is the Rust type path).
pub fn storage_config(queue_name: &str) -> Config {
    Config::default()
        .queue(queue_name)
        // One task per fetch: a worker does not hoard messages that an idle
        // worker could run.
        .batch_size(1)
        .heartbeat_interval(HEARTBEAT)
        .missed_heartbeats(MISSED_HEARTBEATS)
        // apalis-sqlite marks a task done only through its result: without
        // this every task would stay `Running` and come back as an orphan.
        .persist_results(true)
        .lock_tasks(true)
}

pub fn storage(pool: &SqlitePool, queue_name: &str) -> Storage {
    SqliteStorage::new(pool).with_config(storage_config(queue_name))
}

/// Opens (creating if missing) the embedded queue in the SQLite file
/// `path`, on queue `queue_name`.
pub async fn open(path: &Path, queue_name: &str) -> anyhow::Result<Queue> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // Losing the last messages to a power cut is harmless (the
        // reconciler pushes again); an fsync per poll is not.
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10));
    // Every apalis transaction starts with a write, so a second connection
    // waits on the busy timeout rather than failing; two let a push proceed
    // while the consumer polls.
    let pool = SqlitePoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .with_context(|| format!("opening the queue file {}", path.display()))?;
    migrate(&pool)
        .await
        .with_context(|| format!("setting up the queue in {}", path.display()))?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS freight_queue_markers (
             queue TEXT PRIMARY KEY NOT NULL,
             created_at INTEGER NOT NULL DEFAULT (strftime('%s', 'now'))
         )",
    )
    .execute(&pool)
    .await
    .context("creating the queue marker table")?;
    Ok(Queue {
        producer: Arc::new(Producer {
            pool: pool.clone(),
            queue_name: queue_name.to_owned(),
        }),
        consumer: Arc::new(Consumer {
            pool,
            queue_name: queue_name.to_owned(),
        }),
    })
}

/// Runs of apalis' migrations a queue opener makes before giving up.
const MIGRATION_ATTEMPTS: u32 = 5;

/// Applies apalis' migrations, without `SqliteStorage::setup` (which would
/// also turn `synchronous` off on one connection: a power cut could then
/// corrupt the file, not just lose its last messages).
///
/// Two openers of a new file at once (two workers of one process, or two
/// processes) both find it unmigrated and both apply the migrations; the
/// loser's `ALTER TABLE` then fails (duplicate column) and its transaction
/// rolls back. A later run finds what the winner applied and has nothing
/// left to do, so a failed run is retried a few times before it counts.
async fn migrate(pool: &SqlitePool) -> Result<(), sqlx::migrate::MigrateError> {
    let mut attempt = 1;
    loop {
        match SqliteStorage::migrations().run(pool).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt < MIGRATION_ATTEMPTS => {
                tracing::debug!(error = %e, attempt, "queue migrations raced another opener; retrying");
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Pushes batch messages.
#[derive(Clone)]
pub struct Producer {
    pool: SqlitePool,
    queue_name: String,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("queue_name", &self.queue_name)
            .finish_non_exhaustive()
    }
}

impl Producer {
    async fn push_all(&self, batches: &[BatchRef]) -> anyhow::Result<()> {
        let mut tasks = Vec::with_capacity(batches.len());
        for batch in batches {
            // The consumer decodes with apalis-sqlite's JSON codec.
            let args = serde_json::to_vec(&DispatchMessage::run_batch(batch))?;
            tasks.push(TaskBuilder::new(args).max_attempts(1).build());
        }
        // One transaction for the whole push: one commit (and WAL sync)
        // instead of one per batch.
        let mut tx = self.pool.begin().await?;
        apalis_sqlite::queries::push_tasks(&mut *tx, &self.queue_name, &tasks).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl BatchQueue for Producer {
    async fn push(&self, batches: Vec<BatchRef>) -> Vec<BatchRef> {
        if batches.is_empty() {
            return batches;
        }
        match self.push_all(&batches).await {
            Ok(()) => Vec::new(),
            Err(e) => {
                tracing::warn!(batches = batches.len(), error = %e, "could not push batches to the embedded queue");
                batches
            }
        }
    }

    /// The file keeps its messages across restarts; only a new file (the
    /// old one deleted) lost them. A marker row created with the queue
    /// tells which: the one caller that creates it learns it. Also true on
    /// a brand-new file, which is harmless.
    async fn was_reset(&self) -> anyhow::Result<bool> {
        let created =
            sqlx::query("INSERT OR IGNORE INTO freight_queue_markers (queue) VALUES (?1)")
                .bind(&self.queue_name)
                .execute(&self.pool)
                .await
                .context("checking the queue marker")?;
        Ok(created.rows_affected() > 0)
    }

    /// Deletes this queue's tasks finished more than a few minutes ago and
    /// consumers long gone. Freed pages are reused by SQLite, so the file
    /// stops growing without a `VACUUM` (which would rewrite it).
    async fn vacuum(&self) {
        let tasks = sqlx::query(
            "DELETE FROM Jobs
             WHERE job_type = ?1
               AND status IN ('Done', 'Failed', 'Killed')
               AND done_at IS NOT NULL
               AND done_at < CAST(strftime('%s', 'now') AS INTEGER) - ?2",
        )
        .bind(&self.queue_name)
        .bind(secs(KEEP_FINISHED))
        .execute(&self.pool)
        .await;
        let workers = sqlx::query(
            "DELETE FROM Workers
             WHERE worker_type = ?1
               AND last_seen < CAST(strftime('%s', 'now') AS INTEGER) - ?2
               AND NOT EXISTS (SELECT 1 FROM Jobs WHERE Jobs.lock_by = Workers.id)",
        )
        .bind(&self.queue_name)
        .bind(secs(FORGET_WORKERS_AFTER))
        .execute(&self.pool)
        .await;
        match (tasks, workers) {
            (Ok(t), Ok(w)) if t.rows_affected() + w.rows_affected() > 0 => tracing::debug!(
                tasks = t.rows_affected(),
                workers = w.rows_affected(),
                "vacuumed the embedded queue"
            ),
            (Ok(_), Ok(_)) => {}
            (Err(e), _) | (_, Err(e)) => {
                tracing::debug!(error = %e, "vacuuming the embedded queue failed")
            }
        }
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// A consumer with no batch of its own running for this long, while a
/// message has been ready for as long, has stopped polling (a healthy one
/// takes a ready message within its `fetch_interval`): its generation is
/// restarted.
const STALLED_AFTER: Duration = Duration::from_secs(15);
/// How often the stall watchdog looks.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// What one consumer's handler has been doing, for the stall watchdog.
#[derive(Debug)]
struct Activity {
    /// Messages being handled right now.
    running: AtomicUsize,
    /// When a message was last taken or finished (or the generation started).
    last: Mutex<Instant>,
}

impl Activity {
    fn new() -> Self {
        Self {
            running: AtomicUsize::new(0),
            last: Mutex::new(Instant::now()),
        }
    }

    fn touch(&self) {
        if let Ok(mut last) = self.last.lock() {
            *last = Instant::now();
        }
    }

    /// Idle (nothing running) for at least `period`.
    fn idle_for(&self, period: Duration) -> bool {
        self.running.load(Ordering::SeqCst) == 0
            && self
                .last
                .lock()
                .map(|last| last.elapsed() >= period)
                .unwrap_or(false)
    }
}

/// Whether a message of `queue_name` has been ready to take for `period`
/// (pending, unlocked, due that long ago).
async fn ready_for(pool: &SqlitePool, queue_name: &str, period: Duration) -> anyhow::Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM Jobs
                        WHERE job_type = ?1 AND status = 'Pending' AND lock_by IS NULL
                          AND run_at <= CAST(strftime('%s', 'now') AS INTEGER) - ?2)",
    )
    .bind(queue_name)
    .bind(secs(period))
    .fetch_one(pool)
    .await?)
}

/// Whether the consumer whose `activity` this is has stopped polling: idle
/// for `period` while a message was ready all along.
async fn stalled(
    pool: &SqlitePool,
    queue_name: &str,
    activity: &Activity,
    period: Duration,
) -> bool {
    if !activity.idle_for(period) {
        return false;
    }
    match ready_for(pool, queue_name, period).await {
        Ok(ready) => ready && activity.idle_for(period),
        Err(e) => {
            tracing::debug!(error = %format!("{e:#}"), "the queue stall check failed");
            false
        }
    }
}

/// Returns once the consumer has stalled (see [`stalled`]), checking every
/// `every`.
async fn watch_for_stall(
    pool: SqlitePool,
    queue_name: String,
    activity: Arc<Activity>,
    period: Duration,
    every: Duration,
) {
    loop {
        tokio::time::sleep(every).await;
        if stalled(&pool, &queue_name, &activity, period).await {
            tracing::warn!(
                idle_seconds = period.as_secs(),
                "the queue consumer took no message for a while although one was ready; restarting it"
            );
            return;
        }
    }
}

/// The apalis worker that takes batch messages off the queue file. It is
/// restarted whenever it stops on its own (apalis ends a worker whose
/// backend fails, e.g. a write that timed out on a locked file), and when
/// a watchdog finds it idle while messages wait (it stopped polling
/// without ending: [`STALLED_AFTER`]).
pub struct Consumer {
    pool: SqlitePool,
    queue_name: String,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("queue_name", &self.queue_name)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl QueueConsumer for Consumer {
    async fn consume(
        &self,
        settings: ConsumerSettings,
        handle: BatchHandler,
        stop: CancellationToken,
    ) {
        super::run_generations(&settings.name, &stop, |name| {
            let storage =
                storage(&self.pool, &self.queue_name).poll_with_interval(settings.fetch_interval);
            let handler = handle.clone();
            let activity = Arc::new(Activity::new());
            let counted = activity.clone();
            let worker = WorkerBuilder::new(name.as_str())
                .backend(storage)
                .concurrency(settings.concurrency)
                .build(move |message: DispatchMessage| {
                    let activity = counted.clone();
                    activity.running.fetch_add(1, Ordering::SeqCst);
                    activity.touch();
                    let run = handler(message.batch());
                    async move {
                        run.await;
                        activity.touch();
                        activity.running.fetch_sub(1, Ordering::SeqCst);
                        Ok::<(), BoxDynError>(())
                    }
                });
            let until = stop.clone();
            let run: futures::future::BoxFuture<'static, _> =
                Box::pin(worker.run_until(async move {
                    until.cancelled().await;
                    Ok::<(), std::io::Error>(())
                }));
            let watchdog = watch_for_stall(
                self.pool.clone(),
                self.queue_name.clone(),
                activity,
                STALLED_AFTER,
                WATCH_EVERY,
            );
            Box::pin(async move {
                tokio::select! {
                    result = run => result,
                    // Dropping the worker ends this generation; nothing of
                    // ours was running (the watchdog saw it idle).
                    () = watchdog => Ok(()),
                }
            })
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn openers_of_a_new_queue_file_at_once_all_succeed() {
        let dir = std::env::temp_dir().join(format!(
            "freight-queue-test-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("directory");
        let path = dir.join("queue.db");
        let openers: Vec<_> = (0..4)
            .map(|_| {
                let path = path.clone();
                tokio::spawn(async move { open(&path, "q").await.map(|_| ()) })
            })
            .collect();
        for opener in openers {
            opener.await.expect("joins").expect("opens");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The watchdog restarts a consumer only when it is idle and a message
    /// has been ready all that time: never a busy one, never for a message
    /// just pushed.
    #[tokio::test]
    async fn a_consumer_idle_while_a_message_waits_counts_as_stalled() {
        let dir = std::env::temp_dir().join(format!(
            "freight-queue-test-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("directory");
        let queue = open(&dir.join("queue.db"), "q").await.expect("opens");
        let pool =
            SqlitePool::connect_with(SqliteConnectOptions::new().filename(dir.join("queue.db")))
                .await
                .expect("connects");
        let period = Duration::from_secs(30);
        let activity = Activity::new();
        *activity.last.lock().expect("lock") = Instant::now() - Duration::from_secs(60);

        assert!(
            !stalled(&pool, "q", &activity, period).await,
            "nothing queued"
        );
        let batch = BatchRef {
            batch_id: freight_core::ids::BatchId::new(),
            job_id: freight_core::ids::JobId::new(),
            tenant: freight_core::ids::TenantId::parse("acme").expect("tenant"),
        };
        assert!(queue.producer.push(vec![batch]).await.is_empty());
        assert!(
            !stalled(&pool, "q", &activity, period).await,
            "a message just pushed"
        );
        sqlx::query("UPDATE Jobs SET run_at = run_at - 60")
            .execute(&pool)
            .await
            .expect("ages the message");
        assert!(
            stalled(&pool, "q", &activity, period).await,
            "idle, a message waiting"
        );

        activity.running.store(1, Ordering::SeqCst);
        assert!(!stalled(&pool, "q", &activity, period).await, "busy");
        activity.running.store(0, Ordering::SeqCst);
        activity.touch();
        assert!(
            !stalled(&pool, "q", &activity, period).await,
            "took a message a moment ago"
        );
        *activity.last.lock().expect("lock") = Instant::now() - Duration::from_secs(60);
        tokio::time::timeout(
            Duration::from_secs(5),
            watch_for_stall(
                pool.clone(),
                "q".into(),
                Arc::new(activity),
                period,
                Duration::from_millis(10),
            ),
        )
        .await
        .expect("the watchdog ends the generation");
        pool.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
