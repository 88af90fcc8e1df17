//! Validation after the load (`validate_migration_job`), end to end with the
//! real engine copying MariaDB to PostgreSQL: identical data passes with
//! equal per-range checksums; a changed value, a missing row and an extra
//! row each fail exactly their batch; a retry of those batches repairs
//! them; tenants and job states are enforced (on both control planes:
//! PostgreSQL, and `freight dev`'s SQLite); the phase survives a flushed
//! Redis queue and a SIGKILLed `freight worker`.

mod engine_support;

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use engine_support::*;
use freight_core::connection::{ConnectionConfig, DatabaseKind, Secret};
use freight_core::ids::{BatchId, JobId};
use freight_core::job::{JobSpec, JobStatus};
use freight_core::store::{BatchRecord, ValidationStatus};
use freight_worker::dispatch::Stepper;
use freight_worker::engine::{Engine, EnginePlanner};
use serde_json::{Value, json};
use sqlx::AssertSqlSafe;
use sqlx::mysql::MySqlPool;
use sqlx::postgres::PgPool;

const WAIT: Duration = Duration::from_secs(120);

/// A MariaDB database with an `items` table of `rows` rows (ids 3, 6, 9, …)
/// covering every type class the checksum canonicalizes, NULLs and
/// non-ASCII text.
async fn mariadb_source(rows: i64) -> (MySqlPool, String) {
    let (pool, url) = engine_support::fresh_mariadb_database("freight_val").await;
    sqlx::query(
        "CREATE TABLE items (
             id bigint PRIMARY KEY,
             uuid char(36) NOT NULL,
             email varchar(255) NOT NULL,
             amount decimal(12,2) NOT NULL,
             ratio decimal(20,6),
             active tinyint(1) NOT NULL,
             score double,
             created datetime(3) NOT NULL,
             seen timestamp(6) NULL,
             born date,
             at_time time(3),
             payload varbinary(16),
             big bigint unsigned,
             note text
         )",
    )
    .execute(&pool)
    .await
    .expect("create items");
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO items
         SELECT seq * 3, uuid(), concat('user', seq, '@example.com'), seq * 1.25 % 900,
                IF(seq % 3 = 0, NULL, seq / 7), seq % 2, IF(seq % 7 = 0, NULL, seq / 3),
                '2024-01-01 00:00:00.123' + INTERVAL seq SECOND,
                IF(seq % 4 = 0, NULL, '2024-02-01 00:00:00.5' + INTERVAL seq MINUTE),
                '2000-01-01' + INTERVAL seq DAY, SEC_TO_TIME(seq % 86000 + 0.25),
                IF(seq % 6 = 0, NULL, UNHEX(MD5(seq))), seq * 1000000000000,
                IF(seq % 5 = 0, NULL, concat(repeat('n', seq % 40), 'é ✓'))
         FROM seq_1_to_{rows}"
    )))
    .execute(&pool)
    .await
    .expect("fill items");
    (pool, url)
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

struct Setup {
    tenant: freight_core::TenantId,
    source: MySqlPool,
    source_url: String,
    target: PgPool,
    target_url: String,
}

impl Setup {
    async fn new(rows: i64) -> Self {
        let (source, source_url) = mariadb_source(rows).await;
        let target_url = fresh_database("freight_tgt").await;
        let target = PgPool::connect(&target_url).await.expect("target db");
        Self {
            tenant: tenant(&format!(
                "val{}",
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            )),
            source,
            source_url,
            target,
            target_url,
        }
    }

    fn spec(&self, batch_size: u32) -> JobSpec {
        JobSpec {
            name: Some("validation".into()),
            source_config: url_config(DatabaseKind::Mysql, &self.source_url),
            target_config: url_config(DatabaseKind::Postgresql, &self.target_url),
            tables: vec!["items".into()],
            exclude_tables: vec![],
            batch_size,
            max_retries: 3,
            max_record_errors: 0,
            verify: false,
            started_by: "validation-e2e".into(),
            key_columns: Default::default(),
            nul_characters: Default::default(),
            zero_dates: Default::default(),
            identifiers: Default::default(),
        }
    }

    /// A worker the test drives step by step.
    fn stepper(&self, control: &TestBackend) -> Stepper<Engine> {
        stepper(
            control,
            Arc::new(Engine::new(
                freight_core::policy::ConnectionPolicy::for_local_user(),
            )),
            control.config(2),
        )
    }

    fn worker(&self, control: &TestBackend, concurrency: usize) -> InProcessWorker {
        InProcessWorker::start(
            control,
            Arc::new(Engine::new(
                freight_core::policy::ConnectionPolicy::for_local_user(),
            )),
            control.config(concurrency),
        )
    }

    async fn cleanup(self) {
        if let Some((_, name)) = self.source_url.rsplit_once('/') {
            let _ = sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{name}`")))
                .execute(&self.source)
                .await;
        }
        self.source.close().await;
        self.target.close().await;
        drop_postgres_database(&self.target_url).await;
    }
}

/// The batch whose key range `[key_start, key_end)` holds the integer `id`.
fn batch_holding(batches: &[BatchRecord], id: i64) -> BatchId {
    let bound = |v: &Option<Value>| v.as_ref().and_then(|b| b[0].as_i64());
    batches
        .iter()
        .find(|b| {
            bound(&b.key_start).is_none_or(|s| s <= id) && bound(&b.key_end).is_none_or(|e| id < e)
        })
        .map(|b| b.id)
        .expect("a batch holds every id")
}

/// Runs one validation pass; the job's last validation is then settled.
async fn validate_now(
    worker: &Stepper<Engine>,
    store: &TestStore,
    tenant: &freight_core::TenantId,
    job_id: JobId,
) -> freight_core::store::ValidationSummary {
    let compared = worker.validate_once().await.expect("validation pass");
    assert!(compared > 0, "the pass compared ranges");
    let validation = job(store, tenant, job_id)
        .await
        .validation
        .expect("validated");
    assert_ne!(
        validation.status,
        ValidationStatus::Running,
        "{validation:?}"
    );
    validation
}

/// Waits until the job's last validation is no longer running.
async fn wait_for_validation(
    store: &TestStore,
    tenant: &freight_core::TenantId,
    job_id: JobId,
) -> freight_core::store::ValidationSummary {
    let detail = wait_for_job(store, tenant, job_id, WAIT, "validation", |d| {
        d.validation
            .as_ref()
            .is_some_and(|v| v.status != ValidationStatus::Running)
    })
    .await;
    detail.validation.expect("validated")
}

/// Per-range results of a job's last validation: source and target counts
/// and checksums, whether they matched, and the comparison's detail.
async fn validation_results(
    store: &TestStore,
    job_id: JobId,
) -> Vec<(i64, i64, String, String, bool, String)> {
    let sql = "SELECT source_count, target_count, source_checksum, target_checksum, matched, detail
               FROM validation_results WHERE job_id = $1";
    match store {
        TestStore::Postgres(store) => sqlx::query_as(sql)
            .bind(job_id.0)
            .fetch_all(store.pool())
            .await
            .expect("results"),
        TestStore::Sqlite(store) => sqlx::query_as(sql)
            .bind(job_id.0.hyphenated().to_string())
            .fetch_all(store.reader())
            .await
            .expect("results"),
    }
}

async fn validation_passes_finds_each_tampered_range_and_passes_again_after_a_retry(
    backend: Backend,
) {
    let app = freight_api::testing::spawn_app_on(
        backend,
        Arc::new(EnginePlanner::new(Engine::new(
            freight_core::policy::ConnectionPolicy::for_local_user(),
        ))),
    )
    .await;
    let control = TestBackend::of_app(&app);
    let s = Setup::new(2_500).await;
    let http = reqwest::Client::new();
    let token = app.token(&[s.tenant.as_str()], "engineer");
    let api = |path: String| format!("{}/api/v1/jobs/{path}", app.base_url);
    let validate = |job_id: JobId, tenant: String, token: String| {
        let http = http.clone();
        let url = api(format!("{job_id}/validate"));
        async move {
            let response = http
                .post(url)
                .bearer_auth(token)
                .header("X-Tenant-ID", tenant)
                .send()
                .await
                .expect("validate request");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("json body"))
        }
    };

    // A queued job cannot be validated.
    let job_id = app
        .store
        .create_job(&s.tenant, &s.spec(200), &audit())
        .await
        .expect("create job")
        .id;
    let (status, body) = validate(job_id, s.tenant.to_string(), token.clone()).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "CONFLICT");

    let worker = s.stepper(&control);
    worker
        .drain(&[job_id], DRAIN_PASSES)
        .await
        .expect("job drained");
    assert_eq!(
        job(&app.store, &s.tenant, job_id).await.job.status,
        JobStatus::Completed
    );
    let before: Value = http
        .get(api(job_id.to_string()))
        .bearer_auth(&token)
        .header("X-Tenant-ID", s.tenant.as_str())
        .send()
        .await
        .expect("get job")
        .json()
        .await
        .expect("job json");
    assert_eq!(before["validation"], Value::Null, "never validated");

    // Another tenant's job is a 404, not a 403.
    let other = tenant("valother");
    let other_token = app.token(&[other.as_str()], "engineer");
    let (status, body) = validate(job_id, other.to_string(), other_token).await;
    assert_eq!(status, 404, "{body}");

    // Identical data: every range matches, checksums computed on both sides.
    let (status, body) = validate(job_id, s.tenant.to_string(), token.clone()).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "running");
    assert_eq!(body["mismatched_batches"], json!([]));
    assert_eq!(body["checked_at"], Value::Null);
    let passed = validate_now(&worker, &app.store, &s.tenant, job_id).await;
    assert_eq!(passed.status, ValidationStatus::Passed, "{passed:?}");
    assert!(passed.mismatched_batches.is_empty());
    assert!(passed.checked_at.is_some());
    let ranges = validation_results(&app.store, job_id).await;
    assert_eq!(ranges.len(), 13, "one result per batch");
    // Every type is compared, the double by its bits.
    for (sc, tc, sx, tx, matched, detail) in &ranges {
        assert!(detail.ends_with("checksum match"), "{detail}");
        assert!(matched);
        assert_eq!((sc, sx), (tc, tx), "equal count and checksum per range");
        assert!(*sc > 0 && sx != "0", "a real checksum: {sx}");
    }

    // One changed value, one missing row, one extra row: three batches.
    let batches = batches(&app.store, &s.tenant, job_id).await;
    let changed = batch_holding(&batches, 300);
    let missing = batch_holding(&batches, 3_000);
    let extra = batch_holding(&batches, 6_001);
    sqlx::query("UPDATE items SET amount = amount + 0.01 WHERE id = 300")
        .execute(&s.target)
        .await
        .expect("tamper");
    sqlx::query("DELETE FROM items WHERE id = 3000")
        .execute(&s.target)
        .await
        .expect("delete");
    sqlx::query(
        "INSERT INTO items (id, uuid, email, amount, active, created)
         VALUES (6001, 'x', 'extra@example.com', 1, true, '2024-01-01')",
    )
    .execute(&s.target)
    .await
    .expect("insert");
    let mut expected: Vec<(i32, BatchId)> = batches
        .iter()
        .filter(|b| [changed, missing, extra].contains(&b.id))
        .map(|b| (b.seq, b.id))
        .collect();
    expected.sort();
    let expected: Vec<BatchId> = expected.into_iter().map(|(_, id)| id).collect();
    assert_eq!(expected.len(), 3, "three different batches");

    let (status, _) = validate(job_id, s.tenant.to_string(), token.clone()).await;
    assert_eq!(status, 202);
    let failed = validate_now(&worker, &app.store, &s.tenant, job_id).await;
    assert_eq!(failed.status, ValidationStatus::Failed);
    assert_eq!(
        failed.mismatched_batches, expected,
        "exactly the tampered batches"
    );
    let view: Value = http
        .get(api(job_id.to_string()))
        .bearer_auth(&token)
        .header("X-Tenant-ID", s.tenant.as_str())
        .send()
        .await
        .expect("get job")
        .json()
        .await
        .expect("job json");
    assert_eq!(view["validation"]["status"], "failed");
    assert_eq!(
        view["validation"]["mismatched_batches"],
        serde_json::to_value(&expected).expect("ids")
    );
    assert!(view["validation"]["checked_at"].is_string());

    // Repair: retry exactly those (completed) batches, then validate again.
    let retried: Value = http
        .post(api(format!("{job_id}/retry")))
        .bearer_auth(&token)
        .header("X-Tenant-ID", s.tenant.as_str())
        .json(&json!({ "batch_ids": view["validation"]["mismatched_batches"] }))
        .send()
        .await
        .expect("retry")
        .error_for_status()
        .expect("200")
        .json()
        .await
        .expect("retry json");
    assert_eq!(retried["batches_retried"], 3, "{retried}");
    worker
        .drain(&[job_id], DRAIN_PASSES)
        .await
        .expect("retry drained");
    assert_eq!(
        job(&app.store, &s.tenant, job_id).await.job.status,
        JobStatus::Completed
    );
    let (status, _) = validate(job_id, s.tenant.to_string(), token.clone()).await;
    assert_eq!(status, 202);
    let repaired = validate_now(&worker, &app.store, &s.tenant, job_id).await;
    assert_eq!(repaired.status, ValidationStatus::Passed, "{repaired:?}");

    s.cleanup().await;
}

/// The documented repair path on a table that other tables' foreign keys
/// reference (ON DELETE CASCADE, SET NULL, NO ACTION): validation finds the
/// tampered customers range, a retry of that batch repairs it and leaves
/// the referencing rows as they were, and validation passes.
async fn the_repair_of_a_referenced_table_keeps_the_rows_referencing_it(backend: Backend) {
    let app = freight_api::testing::spawn_app_on(
        backend,
        Arc::new(EnginePlanner::new(Engine::new(
            freight_core::policy::ConnectionPolicy::for_local_user(),
        ))),
    )
    .await;
    let control = TestBackend::of_app(&app);
    let (source, source_url) = fresh_mariadb_database("freight_valfk").await;
    sqlx::raw_sql(
        "CREATE TABLE customers (id int AUTO_INCREMENT PRIMARY KEY, name varchar(50) NOT NULL);
         CREATE TABLE customer_tags (customer_id int, tag varchar(10),
             FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE ON UPDATE CASCADE);
         CREATE TABLE orders (id int PRIMARY KEY, customer_id int,
             FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE SET NULL ON UPDATE CASCADE);
         CREATE TABLE invoices (id int PRIMARY KEY, customer_id int NOT NULL,
             FOREIGN KEY (customer_id) REFERENCES customers (id));
         INSERT INTO customers SELECT seq, concat('c', seq) FROM seq_1_to_30;
         INSERT INTO customer_tags SELECT seq, 'vip' FROM seq_1_to_30;
         INSERT INTO orders SELECT seq, seq FROM seq_1_to_30;
         INSERT INTO invoices SELECT seq, seq FROM seq_1_to_30;",
    )
    .execute(&source)
    .await
    .expect("source tables");
    let target_url = fresh_database("freight_tgt").await;
    let target = PgPool::connect(&target_url).await.expect("target db");
    let tenant = tenant(&format!(
        "valfk{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ));
    let spec = JobSpec {
        name: Some("repair with foreign keys".into()),
        source_config: url_config(DatabaseKind::Mysql, &source_url),
        target_config: url_config(DatabaseKind::Postgresql, &target_url),
        tables: vec![
            "customers".into(),
            "customer_tags".into(),
            "orders".into(),
            "invoices".into(),
        ],
        exclude_tables: vec![],
        batch_size: 10,
        max_retries: 3,
        max_record_errors: 0,
        verify: true,
        started_by: "validation-e2e".into(),
        key_columns: Default::default(),
        nul_characters: Default::default(),
        zero_dates: Default::default(),
        identifiers: Default::default(),
    };
    let job_id = app
        .store
        .create_job(&tenant, &spec, &audit())
        .await
        .expect("create job")
        .id;
    let worker = stepper(
        &control,
        Arc::new(Engine::new(
            freight_core::policy::ConnectionPolicy::for_local_user(),
        )),
        control.config(2),
    );
    worker
        .drain(&[job_id], DRAIN_PASSES)
        .await
        .expect("drained");
    assert_eq!(
        job(&app.store, &tenant, job_id).await.job.status,
        JobStatus::Completed
    );
    let referencing = || async {
        let tags: i64 = sqlx::query_scalar("SELECT count(*) FROM customer_tags")
            .fetch_one(&target)
            .await
            .expect("tags");
        let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE customer_id = id")
            .fetch_one(&target)
            .await
            .expect("orders");
        let invoices: i64 = sqlx::query_scalar("SELECT count(*) FROM invoices")
            .fetch_one(&target)
            .await
            .expect("invoices");
        (tags, orders, invoices)
    };
    assert_eq!(referencing().await, (30, 30, 30));

    sqlx::query("UPDATE customers SET name = 'tampered' WHERE id = 15")
        .execute(&target)
        .await
        .expect("tamper");
    let http = reqwest::Client::new();
    let token = app.token(&[tenant.as_str()], "engineer");
    let api = |path: String| format!("{}/api/v1/jobs/{path}", app.base_url);
    let post = |path: String, body: Value| {
        let request = http
            .post(api(path))
            .bearer_auth(&token)
            .header("X-Tenant-ID", tenant.as_str())
            .json(&body);
        async move {
            request
                .send()
                .await
                .expect("request")
                .error_for_status()
                .expect("2xx")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    post(format!("{job_id}/validate"), json!({})).await;
    let failed = validate_now(&worker, &app.store, &tenant, job_id).await;
    assert_eq!(failed.status, ValidationStatus::Failed, "{failed:?}");
    let customers: Vec<BatchRecord> = batches(&app.store, &tenant, job_id)
        .await
        .into_iter()
        .filter(|b| b.table_name == "customers")
        .collect();
    assert_eq!(
        failed.mismatched_batches,
        [batch_holding(&customers, 15)],
        "only the tampered customers range"
    );

    let retried = post(
        format!("{job_id}/retry"),
        json!({ "batch_ids": failed.mismatched_batches }),
    )
    .await;
    assert_eq!(retried["batches_retried"], 1, "{retried}");
    worker
        .drain(&[job_id], DRAIN_PASSES)
        .await
        .expect("retry drained");
    assert_eq!(
        job(&app.store, &tenant, job_id).await.job.status,
        JobStatus::Completed
    );
    assert_eq!(referencing().await, (30, 30, 30), "children kept");
    let name: String = sqlx::query_scalar("SELECT name FROM customers WHERE id = 15")
        .fetch_one(&target)
        .await
        .expect("repaired");
    assert_eq!(name, "c15");
    post(format!("{job_id}/validate"), json!({})).await;
    let passed = validate_now(&worker, &app.store, &tenant, job_id).await;
    assert_eq!(passed.status, ValidationStatus::Passed, "{passed:?}");

    if let Some((_, name)) = source_url.rsplit_once('/') {
        let _ = sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{name}`")))
            .execute(&source)
            .await;
    }
    source.close().await;
    target.close().await;
    drop_postgres_database(&target_url).await;
}

/// `freight worker` as a child process, killed with SIGKILL (it serves
/// PostgreSQL + Redis only; `freight dev`'s crash test is tests/ops/dev.rs).
fn binary_worker(database_url: &str, queue: &str) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_freight"))
        .arg("worker")
        .env("DATABASE_URL", database_url)
        .env("REDIS_URL", redis_url())
        .env("JWT_SECRET_KEY", TEST_JWT_SECRET)
        .env("FREIGHT_ENCRYPTION_KEY", TEST_JWT_SECRET)
        .env("FREIGHT_QUEUE", queue)
        .env("WORKER_CONCURRENCY", "2")
        .env("FREIGHT_LEASE_MS", "2000")
        .env("FREIGHT_RECONCILE_INTERVAL_MS", "200")
        .env("FREIGHT_REDISPATCH_AFTER_MS", "2000")
        .env("FREIGHT_RETRY_BACKOFF_MS", "100")
        .env("FREIGHT_HEARTBEAT_MS", "500")
        .env("ENABLE_METRICS", "false")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn freight worker")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn validation_survives_a_flushed_queue_and_a_killed_worker() {
    let control = TestBackend::new(Backend::Postgres).await;
    let store = control.store.clone();
    let pool = control.store.postgres().pool().clone();
    let s = Setup::new(30_000).await;
    let job_id = store
        .create_job(&s.tenant, &s.spec(100), &audit())
        .await
        .expect("create job")
        .id;
    let mut first = binary_worker(&control.url, &control.queue_name);

    // A running job cannot be validated.
    wait_for_job(&store, &s.tenant, job_id, WAIT, "running", |d| {
        d.job.status == JobStatus::Running && d.batches.completed >= 2
    })
    .await;
    let refused = store.start_validation(&s.tenant, job_id, &audit()).await;
    assert!(
        matches!(refused, Err(freight_core::StoreError::Conflict(_))),
        "{refused:?}"
    );
    wait_for_status(&store, &s.tenant, job_id, WAIT, JobStatus::Completed).await;

    let started = store
        .start_validation(&s.tenant, job_id, &audit())
        .await
        .expect("validate");
    assert_eq!(started.status, ValidationStatus::Running);
    // Asking again while it runs returns the same running validation.
    let again = store
        .start_validation(&s.tenant, job_id, &audit())
        .await
        .expect("validate again");
    assert_eq!(again.status, ValidationStatus::Running);
    let count = |pool: PgPool, sql: &'static str| async move {
        sqlx::query_scalar::<_, i64>(sql)
            .bind(job_id.0)
            .fetch_one(&pool)
            .await
            .expect("count")
    };
    assert_eq!(
        count(
            pool.clone(),
            "SELECT count(*) FROM validations WHERE job_id = $1"
        )
        .await,
        1
    );

    // Mid-validation: the queue's Redis data is flushed and the worker
    // SIGKILLed; a new worker finishes from what Postgres holds.
    let checked =
        "SELECT count(*) FROM validation_results WHERE job_id = $1 AND status = 'checked'";
    eventually(WAIT, "some ranges checked", || async {
        count(pool.clone(), checked).await >= 5
    })
    .await;
    control.flush_queue().await;
    first.kill().await.expect("SIGKILL");
    assert!(
        count(pool.clone(), checked).await < 300,
        "killed mid-validation"
    );
    let second = s.worker(&control, 2);
    let done = wait_for_validation(&store, &s.tenant, job_id).await;
    assert_eq!(done.status, ValidationStatus::Passed, "{done:?}");
    assert_eq!(count(pool.clone(), checked).await, 300);
    second.stop().await.expect("clean stop");
    s.cleanup().await;
    control.cleanup().await;
}

freight_api::on_both_backends!(
    multi_thread;
    validation_passes_finds_each_tampered_range_and_passes_again_after_a_retry,
    the_repair_of_a_referenced_table_keeps_the_rows_referencing_it,
);
