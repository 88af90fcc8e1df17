//! Shared by the `engine_*` tests: fresh databases, a Freight control plane
//! on either backend ([`TestBackend`]), running workers in-process, waiting
//! on job state with a deadline.
#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use freight_core::TenantId;
use freight_core::ids::JobId;
use freight_core::job::{BatchStatus, JobStatus};
use freight_core::secrets::SecretBox;
use freight_core::store::{AuditInfo, BatchFilter, BatchRecord, JobDetail, LogEntry, LogFilter};
use freight_core::tokens::Role;
use freight_worker::dispatch::queue::Queue;
use freight_worker::dispatch::{DataPlane, DispatchConfig, Stepper};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use freight_api::testing::{
    Backend, TEST_JWT_SECRET, TestApp, TestDatabase, TestStore, fresh_database, redis_url,
};

pub fn secrets() -> SecretBox {
    SecretBox::from_key_material(TEST_JWT_SECRET)
}

pub fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).expect("valid tenant")
}

pub fn audit() -> AuditInfo {
    AuditInfo {
        actor: "engine-test".into(),
        role: Role::Engineer,
        ip: None,
        user_agent: None,
    }
}

/// A test's control plane on one backend: Freight's store, and the queue
/// its workers take batches from. PostgreSQL + apalis/Redis as in
/// production; SQLite + apalis-sqlite (`queue.db` beside `freight.db`) as
/// in `freight dev`.
pub struct TestBackend {
    pub store: TestStore,
    /// The store's URL: `postgres://…/<db>` or `sqlite://<path>`.
    pub url: String,
    /// A name of its own, so tests sharing one Redis never see each other.
    pub queue_name: String,
    queue: QueueKind,
    /// Dropped (database, directory) with the fixture, unless borrowed
    /// from a test app that owns it.
    database: Option<TestDatabase>,
}

/// Where a backend's queue lives.
#[derive(Debug, Clone)]
pub enum QueueKind {
    Redis(String),
    /// The apalis-sqlite file.
    Sqlite(PathBuf),
}

impl QueueKind {
    pub async fn open(&self, name: &str) -> anyhow::Result<Queue> {
        match self {
            Self::Redis(url) => freight_worker::dispatch::queue::redis::connect(url, name).await,
            Self::Sqlite(path) => freight_worker::dispatch::queue::sqlite::open(path, name).await,
        }
    }
}

fn queue_of(store: &TestStore) -> QueueKind {
    match store {
        TestStore::Postgres(_) => QueueKind::Redis(redis_url()),
        TestStore::Sqlite(store) => QueueKind::Sqlite(
            store
                .path()
                .parent()
                .expect("the store file is in a directory")
                .join("queue.db"),
        ),
    }
}

impl TestBackend {
    /// A migrated Freight database of its own on `backend`.
    pub async fn new(backend: Backend) -> Self {
        let database = TestDatabase::fresh(backend, "freight_engine", 10).await;
        Self {
            store: database.store.clone(),
            url: database.url.clone(),
            queue_name: queue_name(),
            queue: queue_of(&database.store),
            database: Some(database),
        }
    }

    /// The control plane of a test app (which keeps its database).
    pub fn of_app(app: &TestApp) -> Self {
        Self {
            store: app.store.clone(),
            url: app.database_url.clone(),
            queue_name: queue_name(),
            queue: queue_of(&app.store),
            database: None,
        }
    }

    pub fn backend(&self) -> Backend {
        self.store.backend()
    }

    /// Dispatch settings for tests, on this backend's queue.
    pub fn config(&self, concurrency: usize) -> DispatchConfig {
        fast_config(&self.queue_name, concurrency)
    }

    /// The apalis-sqlite file of the SQLite backend; `None` on Redis.
    pub fn queue_file(&self) -> Option<&std::path::Path> {
        match &self.queue {
            QueueKind::Redis(_) => None,
            QueueKind::Sqlite(path) => Some(path),
        }
    }

    pub async fn open_queue(&self) -> Queue {
        self.queue.open(&self.queue_name).await.expect("open queue")
    }

    /// Loses every message of this test's queue, as a Redis restart or
    /// `FLUSHALL` does; on SQLite, as a deleted `queue.db` does (the file
    /// starts again empty, without the marker that tells an old queue from
    /// a new one). Returns the messages (Redis: keys) deleted.
    pub async fn flush_queue(&self) -> usize {
        match &self.queue {
            QueueKind::Redis(_) => flush_queue(&self.queue_name).await,
            QueueKind::Sqlite(path) => {
                let queue = sqlx::SqlitePool::connect_with(
                    sqlx::sqlite::SqliteConnectOptions::new()
                        .filename(path)
                        .busy_timeout(Duration::from_secs(10)),
                )
                .await
                .expect("open the queue file");
                let mut tx = queue.begin().await.expect("begin");
                let tasks = sqlx::query("DELETE FROM Jobs WHERE job_type = ?1")
                    .bind(&self.queue_name)
                    .execute(&mut *tx)
                    .await
                    .expect("delete tasks")
                    .rows_affected();
                sqlx::query("DELETE FROM freight_queue_markers WHERE queue = ?1")
                    .bind(&self.queue_name)
                    .execute(&mut *tx)
                    .await
                    .expect("delete marker");
                tx.commit().await.expect("commit");
                queue.close().await;
                usize::try_from(tasks).unwrap_or(usize::MAX)
            }
        }
    }

    /// Runs one fixture statement about a job, `pg` on PostgreSQL and
    /// `sqlite` on SQLite (through the store's writer), with the job id
    /// bound as `$1`; returns the rows changed.
    pub async fn exec_for_job(&self, pg: &str, sqlite: &str, job: JobId) -> u64 {
        match &self.store {
            TestStore::Postgres(store) => sqlx::query(sqlx::AssertSqlSafe(pg.to_owned()))
                .bind(job.0)
                .execute(store.pool())
                .await
                .expect("fixture")
                .rows_affected(),
            TestStore::Sqlite(store) => {
                let mut tx = store.begin_write().await.expect("begin");
                let changed = sqlx::query(sqlx::AssertSqlSafe(sqlite.to_owned()))
                    .bind(job.0.hyphenated().to_string())
                    .execute(&mut *tx)
                    .await
                    .expect("fixture")
                    .rows_affected();
                store.commit(tx).await.expect("commit");
                changed
            }
        }
    }

    /// Drops the database this fixture made (after a passing test; a
    /// failing one leaves it behind for a look, except SQLite's directory).
    pub async fn cleanup(self) {
        let Some(database) = self.database else {
            return;
        };
        if let TestStore::Postgres(store) = &database.store {
            store.pool().close().await;
            drop_postgres_database(&database.url).await;
        }
    }
}

/// A unique queue name, so tests sharing one Redis never see each other.
pub fn queue_name() -> String {
    format!("freight-test-{}", uuid::Uuid::new_v4().simple())
}

/// Dispatch timings short enough for tests.
pub fn fast_config(queue: &str, concurrency: usize) -> DispatchConfig {
    let mut config = DispatchConfig::new(queue, concurrency);
    config.lease_ttl = Duration::from_secs(2);
    config.reconcile_interval = Duration::from_millis(200);
    config.redispatch_after = Duration::from_secs(2);
    config.retry_backoff_base = Duration::from_millis(100);
    config.retry_backoff_max = Duration::from_secs(1);
    config.heartbeat_interval = Duration::from_millis(500);
    config.fetch_interval = Duration::from_millis(50);
    config.shutdown_grace = Duration::from_secs(10);
    config
}

/// An in-process worker, stopped like SIGTERM with `stop` (crashes are
/// tested with the real binary and SIGKILL).
pub struct InProcessWorker {
    pub worker_id: String,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl InProcessWorker {
    pub fn start<E: DataPlane>(
        backend: &TestBackend,
        engine: Arc<E>,
        config: DispatchConfig,
    ) -> Self {
        let (tx, rx) = oneshot::channel::<()>();
        let worker_id = config.worker_id.clone();
        let store = backend.store.dispatch();
        let queue = backend.queue.clone();
        let task = tokio::spawn(async move {
            let queue = queue.open(&config.queue_name).await?;
            freight_worker::dispatch::run_workers(store, engine, config, queue, async move {
                let _ = rx.await;
            })
            .await
        });
        Self {
            worker_id,
            stop: Some(tx),
            task,
        }
    }

    /// SIGTERM-like: returns what `run_workers` returned.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(Duration::from_secs(30), &mut self.task)
            .await
            .expect("worker stops within 30 s")
            .expect("worker task joins")
    }
}

pub async fn job(store: &TestStore, tenant: &TenantId, job: JobId) -> JobDetail {
    store.get_job(tenant, job).await.expect("get job")
}

/// Polls until `done` holds for the job, or panics after `limit`.
pub async fn wait_for_job(
    store: &TestStore,
    tenant: &TenantId,
    job_id: JobId,
    limit: Duration,
    what: &str,
    done: impl Fn(&JobDetail) -> bool,
) -> JobDetail {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let detail = job(store, tenant, job_id).await;
        if done(&detail) {
            return detail;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!(
                "timed out waiting for {what}: job is {:?}, batches {:?}, error {:?}",
                detail.job.status, detail.batches, detail.job.error_summary
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn wait_for_status(
    store: &TestStore,
    tenant: &TenantId,
    job_id: JobId,
    limit: Duration,
    status: JobStatus,
) -> JobDetail {
    wait_for_job(store, tenant, job_id, limit, status.as_str(), |d| {
        d.job.status == status
    })
    .await
}

/// Polls an arbitrary async condition with a deadline.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn batches(store: &TestStore, tenant: &TenantId, job: JobId) -> Vec<BatchRecord> {
    let page = store
        .list_batches(
            tenant,
            job,
            &BatchFilter {
                status: None,
                limit: 1000,
                after_seq: None,
            },
        )
        .await
        .expect("list batches");
    page.items
}

pub fn count_status(batches: &[BatchRecord], status: BatchStatus) -> usize {
    batches.iter().filter(|b| b.status == status).count()
}

pub async fn logs(store: &TestStore, tenant: &TenantId, job: JobId) -> Vec<LogEntry> {
    store
        .list_logs(
            tenant,
            job,
            &LogFilter {
                limit: 1000,
                ..Default::default()
            },
        )
        .await
        .expect("list logs")
        .items
}

/// Deletes every Redis key of `queue` (only this test's keys).
pub async fn flush_queue(queue: &str) -> usize {
    let client = redis::Client::open(redis_url()).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{queue}:*"))
        .query_async(&mut conn)
        .await
        .expect("KEYS");
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut conn)
            .await
            .expect("DEL");
    }
    keys.len()
}

/// The test MariaDB server.
pub const MARIADB: &str = "mysql://root@127.0.0.1:3306";

/// Creates an empty MariaDB database named `<prefix>_<random>`; returns a
/// pool on it and its URL.
pub async fn fresh_mariadb_database(prefix: &str) -> (sqlx::MySqlPool, String) {
    let name = format!(
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let admin = sqlx::MySqlPool::connect(&format!("{MARIADB}/mysql"))
        .await
        .expect("MariaDB reachable");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE `{name}`")))
        .execute(&admin)
        .await
        .expect("create source db");
    admin.close().await;
    let url = format!("{MARIADB}/{name}");
    let pool = sqlx::MySqlPool::connect(&url).await.expect("source db");
    (pool, url)
}

/// Drops a test database (after a passing test; a failing one leaves its
/// databases behind for a look).
pub async fn drop_postgres_database(url: &str) {
    let Some((server, name)) = url.rsplit_once('/') else {
        return;
    };
    if let Ok(admin) = sqlx::PgPool::connect(&format!("{server}/postgres")).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
        )))
        .execute(&admin)
        .await;
        admin.close().await;
    }
}

/// Passes a test may take to drain its jobs; only a bug needs more.
pub const DRAIN_PASSES: usize = 200;

/// A worker driven step by step by the test: no queue, no background tasks.
pub fn stepper<E: DataPlane>(
    backend: &TestBackend,
    engine: Arc<E>,
    config: DispatchConfig,
) -> Stepper<E> {
    Stepper::new(backend.store.dispatch(), engine, config)
}

/// A fresh MariaDB database (named from `prefix`) with an `items` table of
/// `rows` rows (ids 3, 6, 9, …): the source of the end-to-end copies.
pub async fn mariadb_items(prefix: &str, rows: i64) -> (sqlx::MySqlPool, String) {
    let (pool, url) = fresh_mariadb_database(prefix).await;
    sqlx::query(
        "CREATE TABLE items (
             id bigint PRIMARY KEY,
             uuid char(36) NOT NULL,
             email varchar(255) NOT NULL,
             amount decimal(12,2) NOT NULL,
             active tinyint(1) NOT NULL,
             score double,
             created datetime NOT NULL,
             note text
         )",
    )
    .execute(&pool)
    .await
    .expect("create items");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO items
         SELECT seq * 3, uuid(), concat('user', seq, '@example.com'), seq * 1.25 % 900, seq % 2,
                IF(seq % 7 = 0, NULL, seq / 3), '2024-01-01 00:00:00' + INTERVAL seq SECOND,
                IF(seq % 5 = 0, NULL, repeat('n', seq % 40))
         FROM seq_1_to_{rows}"
    )))
    .execute(&pool)
    .await
    .expect("fill items");
    (pool, url)
}
