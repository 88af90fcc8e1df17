//! Shared by the `engine_*` tests: fresh databases, a Freight store, running
//! workers in-process, waiting on job state with a deadline.
#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use freight_core::TenantId;
use freight_core::ids::JobId;
use freight_core::job::{BatchStatus, JobStatus};
use freight_core::secrets::SecretBox;
use freight_core::store::postgres::PgStore;
use freight_core::store::{
    AuditInfo, BatchFilter, BatchRecord, JobDetail, LogEntry, LogFilter, Store,
};
use freight_core::tokens::Role;
use freight_worker::dispatch::{DataPlane, DispatchConfig, Stepper};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use freight_api::testing::{TEST_JWT_SECRET, fresh_database, redis_url};

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

/// A migrated Freight database of its own.
pub async fn freight_store() -> (Arc<PgStore>, String) {
    let url = fresh_database("freight_engine").await;
    let store = PgStore::connect(&url, 10, secrets())
        .await
        .expect("connect freight db");
    store.migrate().await.expect("migrate");
    (Arc::new(store), url)
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
    pub fn start<E: DataPlane>(store: &PgStore, engine: Arc<E>, config: DispatchConfig) -> Self {
        let (tx, rx) = oneshot::channel::<()>();
        let worker_id = config.worker_id.clone();
        let dispatch_store = Arc::new(PgStore::from_pool(
            store.pool().clone(),
            store.secrets().clone(),
        ));
        let task = tokio::spawn(async move {
            let queue =
                freight_worker::dispatch::queue::redis::connect(&redis_url(), &config.queue_name)
                    .await?;
            freight_worker::dispatch::run_workers(
                dispatch_store,
                engine,
                config,
                queue,
                async move {
                    let _ = rx.await;
                },
            )
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

pub async fn job(store: &PgStore, tenant: &TenantId, job: JobId) -> JobDetail {
    store.get_job(tenant, job).await.expect("get job")
}

/// Polls until `done` holds for the job, or panics after `limit`.
pub async fn wait_for_job(
    store: &PgStore,
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
    store: &PgStore,
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

pub async fn batches(store: &PgStore, tenant: &TenantId, job: JobId) -> Vec<BatchRecord> {
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

pub async fn logs(store: &PgStore, tenant: &TenantId, job: JobId) -> Vec<LogEntry> {
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
    store: &PgStore,
    engine: Arc<E>,
    config: DispatchConfig,
) -> Stepper<E> {
    Stepper::new(
        Arc::new(PgStore::from_pool(
            store.pool().clone(),
            store.secrets().clone(),
        )),
        engine,
        config,
    )
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
