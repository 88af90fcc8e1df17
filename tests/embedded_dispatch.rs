//! `freight dev`'s dispatch end to end: the SQLite store and the embedded
//! SQLite queue (two files in one data directory), real workers and the
//! real engine copying a MariaDB table to PostgreSQL. No Redis.

mod engine_support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use engine_support::*;
use freight_core::connection::{ConnectionConfig, DatabaseKind, Secret};
use freight_core::job::{JobSpec, JobStatus};
use freight_core::store::sqlite::SqliteStore;
use freight_core::store::{JobDetail, Store};
use freight_worker::dispatch::queue::sqlite;
use freight_worker::engine::Engine;
use sqlx::mysql::MySqlPool;
use sqlx::postgres::PgPool;
use sqlx::{AssertSqlSafe, Row};

const WAIT: Duration = Duration::from_secs(120);

/// A data directory removed when dropped.
struct DataDir(PathBuf);

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One row of `items`, every column in a form both databases print alike.
#[derive(Debug, PartialEq)]
struct Item {
    id: i64,
    uuid: String,
    email: String,
    amount: String,
    active: i64,
    score: Option<f64>,
    created: String,
    note: Option<String>,
}

async fn source_rows(pool: &MySqlPool) -> Vec<Item> {
    sqlx::query(
        "SELECT id, uuid, email, CAST(amount AS CHAR) AS amount, CAST(active AS SIGNED) AS active,
                score, DATE_FORMAT(created, '%Y-%m-%d %H:%i:%s') AS created, note
         FROM items ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .expect("source rows")
    .iter()
    .map(|r| Item {
        id: r.get("id"),
        uuid: r.get("uuid"),
        email: r.get("email"),
        amount: r.get("amount"),
        active: r.get("active"),
        score: r.get("score"),
        created: r.get("created"),
        note: r.get("note"),
    })
    .collect()
}

async fn target_rows(pool: &PgPool) -> Vec<Item> {
    sqlx::query(
        "SELECT id::int8 AS id, uuid::text AS uuid, email::text AS email, amount::text AS amount,
                active::int::int8 AS active, score::float8 AS score,
                to_char(created, 'YYYY-MM-DD HH24:MI:SS') AS created, note::text AS note
         FROM items ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .expect("target rows")
    .iter()
    .map(|r| Item {
        id: r.get("id"),
        uuid: r.get("uuid"),
        email: r.get("email"),
        amount: r.get("amount"),
        active: r.get("active"),
        score: r.get("score"),
        created: r.get("created"),
        note: r.get("note"),
    })
    .collect()
}

fn url_config(kind: DatabaseKind, url: &str) -> ConnectionConfig {
    ConnectionConfig {
        kind,
        url: Some(Secret::new(url.to_owned())),
        host: None,
        port: None,
        database: None,
        user: None,
        password: None,
        schema: None,
    }
}

async fn wait_until_done(
    store: &SqliteStore,
    tenant: &freight_core::TenantId,
    job: freight_core::ids::JobId,
) -> JobDetail {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let detail = store.get_job(tenant, job).await.expect("get job");
        if !matches!(
            detail.job.status,
            JobStatus::Queued | JobStatus::Running | JobStatus::Cancelling
        ) {
            return detail;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job never finished: {:?}, batches {:?}",
            detail.job.status,
            detail.batches
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_runs_on_the_sqlite_store_through_the_embedded_queue() {
    let dir = DataDir(std::env::temp_dir().join(format!(
        "freight-dev-test-{}",
        uuid::Uuid::new_v4().simple()
    )));
    std::fs::create_dir_all(&dir.0).expect("data directory");
    let store = Arc::new(
        SqliteStore::open(&dir.0.join("freight.db"), 4, secrets())
            .await
            .expect("open SQLite store"),
    );
    store.migrate().await.expect("migrate");
    let queue_file = dir.0.join("queue.db");

    let (source, source_url) = engine_support::mariadb_items("freight_dev_src", 1_000).await;
    let target_url = fresh_database("freight_dev_tgt").await;
    let target = PgPool::connect(&target_url).await.expect("target db");
    let tenant = tenant(&format!(
        "dev{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ));

    let config = fast_config(&queue_name(), 2);
    let queue = sqlite::open(&queue_file, &config.queue_name)
        .await
        .expect("open the embedded queue");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(freight_worker::dispatch::run_workers(
        store.clone(),
        Arc::new(Engine::new(
            freight_core::policy::ConnectionPolicy::for_local_user(),
        )),
        config,
        queue,
        async move {
            let _ = stopped.await;
        },
    ));

    let spec = JobSpec {
        name: Some("freight dev".into()),
        source_config: url_config(DatabaseKind::Mysql, &source_url),
        target_config: url_config(DatabaseKind::Postgresql, &target_url),
        tables: vec!["items".into()],
        exclude_tables: vec![],
        batch_size: 100,
        max_retries: 3,
        max_record_errors: 0,
        verify: true,
        key_columns: Default::default(),
        nul_characters: Default::default(),
        zero_dates: Default::default(),
        identifiers: Default::default(),
        started_by: "embedded-queue-test".into(),
    };
    let job_id = store
        .create_job(&tenant, &spec, &audit())
        .await
        .expect("create job")
        .id;

    let detail = wait_until_done(&store, &tenant, job_id).await;
    assert_eq!(
        detail.job.status,
        JobStatus::Completed,
        "{:?}",
        detail.job.error_summary
    );
    assert_eq!(detail.batches.total, 10);
    assert_eq!(detail.batches.completed, 10);
    assert_eq!(detail.job.rows_written, 1_000);
    let expected = source_rows(&source).await;
    assert_eq!(expected.len(), 1_000);
    assert_eq!(
        target_rows(&target).await,
        expected,
        "target == source, row by row"
    );

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), worker)
        .await
        .expect("worker stops")
        .expect("worker task joins")
        .expect("clean stop");

    // The batches went through the queue file, each acked.
    let queue_db = sqlx::SqlitePool::connect_with(
        sqlx::sqlite::SqliteConnectOptions::new().filename(&queue_file),
    )
    .await
    .expect("open the queue file");
    let (done, other): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'Done'), count(*) FILTER (WHERE status <> 'Done')
         FROM Jobs",
    )
    .fetch_one(&queue_db)
    .await
    .expect("count queue tasks");
    queue_db.close().await;
    assert!(done >= 10, "{done} batch messages acked");
    assert_eq!(other, 0, "no message left behind");

    if let Some((_, name)) = source_url.rsplit_once('/') {
        let _ = sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{name}`")))
            .execute(&source)
            .await;
    }
    source.close().await;
    target.close().await;
    drop_postgres_database(&target_url).await;
}
