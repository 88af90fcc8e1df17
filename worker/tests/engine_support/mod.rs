//! Shared helpers of the engine tests: a fresh PostgreSQL database, MariaDB
//! database and SQLite files per test, and a driver that plans and runs a
//! job the way dispatch does.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use freight_core::connection::{ConnectionConfig, DatabaseKind, Secret};
use freight_core::ids::{BatchId, JobId, TenantId};
use freight_worker::engine::{BatchOutcome, BatchToRun, Engine, EngineError, JobContext, JobPlan};
use sqlx::{Executor, MySqlPool, PgPool, SqlitePool};

pub const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const MY_ADMIN: &str = "mysql://root@127.0.0.1:3306/mysql";

/// One test's databases; `cleanup` drops them (best effort).
pub struct Dbs {
    pub name: String,
    pub dir: PathBuf,
}

impl Dbs {
    pub async fn new() -> Self {
        let name = format!("eng_{}", uuid::Uuid::new_v4().simple());
        let pg = PgPool::connect(PG_ADMIN).await.expect("postgres up");
        // CREATE DATABASE can collide with a concurrent one on template1.
        let mut attempts = 0;
        while let Err(e) = pg
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
        {
            attempts += 1;
            assert!(attempts < 20, "create pg database: {e}");
            tokio::task::yield_now().await;
        }
        pg.close().await;
        let my = MySqlPool::connect(MY_ADMIN).await.expect("mariadb up");
        my.execute(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE {name} CHARACTER SET utf8mb4"
        )))
        .await
        .expect("create mysql database");
        my.close().await;
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self { name, dir }
    }

    pub fn pg_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.name)
    }

    pub fn my_url(&self) -> String {
        format!("mysql://root@127.0.0.1:3306/{}", self.name)
    }

    pub fn sqlite_path(&self, label: &str) -> PathBuf {
        self.dir.join(format!("{label}.db"))
    }

    pub fn pg(&self, schema: &str) -> ConnectionConfig {
        config(DatabaseKind::Postgresql, &self.pg_url(), Some(schema))
    }

    pub fn mysql(&self) -> ConnectionConfig {
        config(DatabaseKind::Mysql, &self.my_url(), None)
    }

    pub fn sqlite(&self, label: &str) -> ConnectionConfig {
        config(
            DatabaseKind::Sqlite,
            &format!("sqlite://{}", self.sqlite_path(label).display()),
            None,
        )
    }

    pub async fn pg_pool(&self) -> PgPool {
        PgPool::connect(&self.pg_url()).await.expect("pg pool")
    }

    pub async fn my_pool(&self) -> MySqlPool {
        MySqlPool::connect(&self.my_url())
            .await
            .expect("mysql pool")
    }

    pub async fn sqlite_pool(&self, label: &str) -> SqlitePool {
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(self.sqlite_path(label))
            .create_if_missing(true);
        SqlitePool::connect_with(opts).await.expect("sqlite pool")
    }

    /// A second MariaDB database, `<name>_t` (a MySQL target of a MySQL
    /// source): its URL and a pool. `drop_second` drops it.
    pub async fn second_mysql(&self) -> (String, MySqlPool) {
        let name = format!("{}_t", self.name);
        let admin = MySqlPool::connect(MY_ADMIN).await.expect("mariadb up");
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                "CREATE DATABASE {name} CHARACTER SET utf8mb4"
            )))
            .await
            .expect("create target database");
        admin.close().await;
        let url = format!("mysql://root@127.0.0.1:3306/{name}");
        let pool = MySqlPool::connect(&url).await.expect("target pool");
        (url, pool)
    }

    /// A second PostgreSQL database, `<name>_t` (one without the source's
    /// extensions): its URL and a pool. `drop_second` drops it.
    pub async fn second_pg(&self) -> (String, PgPool) {
        let name = format!("{}_t", self.name);
        let admin = PgPool::connect(PG_ADMIN).await.expect("postgres up");
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create target database");
        admin.close().await;
        let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
        let pool = PgPool::connect(&url).await.expect("target pool");
        (url, pool)
    }

    /// Drops the second databases (best effort).
    pub async fn drop_second(&self) {
        let name = format!("{}_t", self.name);
        if let Ok(my) = MySqlPool::connect(MY_ADMIN).await {
            let _ = my
                .execute(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name}"
                )))
                .await;
            my.close().await;
        }
        if let Ok(pg) = PgPool::connect(PG_ADMIN).await {
            let _ = pg
                .execute(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .await;
            pg.close().await;
        }
    }

    pub async fn cleanup(self) {
        if let Ok(pg) = PgPool::connect(PG_ADMIN).await {
            let _ = pg
                .execute(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                )))
                .await;
            pg.close().await;
        }
        if let Ok(my) = MySqlPool::connect(MY_ADMIN).await {
            let _ = my
                .execute(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {}",
                    self.name
                )))
                .await;
            my.close().await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn config(kind: DatabaseKind, url: &str, schema: Option<&str>) -> ConnectionConfig {
    ConnectionConfig {
        kind,
        url: Some(Secret::new(url)),
        host: None,
        port: None,
        database: None,
        user: None,
        password: None,
        schema: schema.map(str::to_owned),
    }
}

pub fn job(
    source: ConnectionConfig,
    target: ConnectionConfig,
    tables: &[&str],
    batch_size: u32,
) -> JobContext {
    JobContext {
        job_id: JobId::new(),
        tenant: TenantId::parse("engine-tests").expect("tenant"),
        source,
        target,
        tables: tables.iter().map(|t| (*t).to_owned()).collect(),
        exclude_tables: Vec::new(),
        batch_size,
        verify: true,
        key_columns: Default::default(),
        nul_characters: Default::default(),
        zero_dates: Default::default(),
        identifiers: Default::default(),
    }
}

pub fn to_run(b: &freight_worker::engine::PlannedBatch, budget: u64) -> BatchToRun {
    BatchToRun {
        batch_id: BatchId::new(),
        table_name: b.table_name.clone(),
        key_start: b.key_start.clone(),
        key_end: b.key_end.clone(),
        record_error_budget: budget,
    }
}

/// Plans (creating target tables), runs every batch, finishes: what
/// dispatch does, minus the queue.
pub async fn migrate(engine: &Engine, job: &JobContext) -> (JobPlan, Vec<BatchOutcome>) {
    let plan = engine.plan(job, true).await.expect("plan");
    let mut outcomes = Vec::new();
    for b in &plan.batches {
        let outcome = engine.run_batch(job, &to_run(b, 0)).await.expect("batch");
        assert_eq!(
            outcome.verified,
            Some(true),
            "verification: {:?}",
            outcome.verify_detail
        );
        outcomes.push(outcome);
    }
    let warnings = engine.finish_job(job).await.expect("finish");
    assert!(
        warnings.iter().all(|w| !w.contains("not created")),
        "finish warnings: {warnings:?}"
    );
    (plan, outcomes)
}

pub fn total_read(outcomes: &[BatchOutcome]) -> i64 {
    outcomes.iter().map(|o| o.rows_read).sum()
}

pub fn expect_rejected(err: EngineError) -> Vec<freight_worker::engine::RejectedRecord> {
    match err {
        EngineError::Rejected(r) => r,
        other => panic!("expected Rejected, got {other:?}"),
    }
}
