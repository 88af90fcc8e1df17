//! End to end with the real engine copying MariaDB to PostgreSQL: jobs
//! created through the API (or the store it uses) are copied by workers —
//! in-process, or the real `freight worker` binary when a test kills one.
//! The in-process tests run on both control planes (`on_both_backends!`):
//! PostgreSQL + Redis, and `freight dev`'s SQLite + apalis-sqlite.

mod engine_support;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use engine_support::*;
use freight_core::TenantId;
use freight_core::connection::{ConnectionConfig, DatabaseKind, Secret};
use freight_core::ids::JobId;
use freight_core::job::{BatchStatus, JobSpec, JobStatus, NulCharacters};
use freight_core::store::RetryRequest;
use freight_worker::engine::{Engine, EnginePlanner};
use serde_json::{Value, json};
use sqlx::mysql::MySqlPool;
use sqlx::postgres::PgPool;
use sqlx::{AssertSqlSafe, Row};

const WAIT: Duration = Duration::from_secs(120);

/// A fingerprint of every row: count, and an md5 over every column in id
/// order, each printed alike by both databases.
async fn mariadb_fingerprint(pool: &MySqlPool) -> (i64, String) {
    let mut conn = pool.acquire().await.expect("conn");
    sqlx::query("SET SESSION group_concat_max_len = 1073741824")
        .execute(&mut *conn)
        .await
        .expect("group_concat_max_len");
    let row = sqlx::query(
        "SELECT count(*) AS n,
                md5(group_concat(concat_ws('|', id, uuid, email, amount, CAST(active AS SIGNED),
                    coalesce(CAST(round(score, 6) AS decimal(30,6)), '~'),
                    DATE_FORMAT(created, '%Y-%m-%d %H:%i:%s'), coalesce(note, '~'))
                    ORDER BY id SEPARATOR ',')) AS h
         FROM items",
    )
    .fetch_one(&mut *conn)
    .await
    .expect("source fingerprint");
    (
        row.get::<i64, _>("n"),
        row.get::<Option<String>, _>("h").unwrap_or_default(),
    )
}

async fn postgres_fingerprint(pool: &PgPool) -> (i64, String) {
    let row = sqlx::query(
        "SELECT count(*) AS n,
                md5(string_agg(concat_ws('|', id, uuid, email, amount, active::int,
                    coalesce(round(score::numeric, 6)::text, '~'),
                    to_char(created, 'YYYY-MM-DD HH24:MI:SS'), coalesce(note, '~')),
                    ',' ORDER BY id)) AS h
         FROM items",
    )
    .fetch_one(pool)
    .await
    .expect("target fingerprint");
    (
        row.get::<i64, _>("n"),
        row.get::<Option<String>, _>("h").unwrap_or_default(),
    )
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

struct Migration {
    /// Freight's store and queue: the backend under test.
    control: TestBackend,
    store: TestStore,
    tenant: TenantId,
    source: MySqlPool,
    source_url: String,
    target: PgPool,
    target_url: String,
}

impl Migration {
    async fn new(backend: Backend, rows: i64) -> Self {
        Self::with_control(TestBackend::new(backend).await, rows).await
    }

    async fn with_control(control: TestBackend, rows: i64) -> Self {
        let (source, source_url) = engine_support::mariadb_items("freight_src", rows).await;
        let target_url = fresh_database("freight_tgt").await;
        let target = PgPool::connect(&target_url).await.expect("target db");
        Self {
            store: control.store.clone(),
            control,
            tenant: tenant(&format!(
                "e2e{}",
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            )),
            source,
            source_url,
            target,
            target_url,
        }
    }

    fn spec(&self, batch_size: u32, max_retries: u32) -> JobSpec {
        JobSpec {
            name: Some("e2e".into()),
            source_config: url_config(DatabaseKind::Mysql, &self.source_url),
            target_config: url_config(DatabaseKind::Postgresql, &self.target_url),
            tables: vec!["items".into()],
            exclude_tables: vec![],
            batch_size,
            max_retries,
            max_record_errors: 0,
            verify: true,
            key_columns: Default::default(),
            nul_characters: Default::default(),
            zero_dates: Default::default(),
            identifiers: Default::default(),
            started_by: "engine-e2e".into(),
        }
    }

    async fn create_job(&self, batch_size: u32, max_retries: u32) -> JobId {
        self.store
            .create_job(&self.tenant, &self.spec(batch_size, max_retries), &audit())
            .await
            .expect("create job")
            .id
    }

    async fn assert_target_equals_source(&self) {
        let source = mariadb_fingerprint(&self.source).await;
        let target = postgres_fingerprint(&self.target).await;
        assert_eq!(target, source, "target (count, md5) differs from source");
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
        self.control.cleanup().await;
    }

    async fn target_rows(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM items")
            .fetch_one(&self.target)
            .await
            .unwrap_or(0)
    }

    fn worker(&self, concurrency: usize) -> InProcessWorker {
        InProcessWorker::start(
            &self.control,
            Arc::new(Engine::new(
                freight_core::policy::ConnectionPolicy::for_local_user(),
            )),
            self.control.config(concurrency),
        )
    }

    fn deployed_worker(&self, concurrency: usize, log_name: &str) -> DeployedWorker {
        match self.control.backend() {
            Backend::Postgres => DeployedWorker::Binary(self.binary_worker(concurrency, log_name)),
            Backend::Sqlite => DeployedWorker::InProcess(self.worker(concurrency)),
        }
    }

    /// `freight worker`, which serves the production control plane only
    /// (PostgreSQL + Redis).
    fn binary_worker(&self, concurrency: usize, log_name: &str) -> BinaryWorker {
        assert_eq!(self.control.backend(), Backend::Postgres);
        BinaryWorker::spawn(
            &self.control.url,
            &self.control.queue_name,
            concurrency,
            log_name,
        )
    }
}

/// A worker as each control plane deploys it: the `freight worker` binary
/// beside PostgreSQL + Redis; in process, as `freight dev` runs it, on
/// SQLite.
enum DeployedWorker {
    Binary(BinaryWorker),
    InProcess(InProcessWorker),
}

impl DeployedWorker {
    /// SIGTERM (or its in-process equivalent); the worker exits cleanly.
    async fn stop(self) {
        match self {
            Self::Binary(worker) => {
                let status = worker.terminate().await;
                assert!(status.success(), "clean exit after SIGTERM: {status:?}");
            }
            Self::InProcess(worker) => worker.stop().await.expect("clean stop"),
        }
    }
}

/// `freight worker` as a child process.
struct BinaryWorker {
    child: tokio::process::Child,
    log: PathBuf,
}

impl BinaryWorker {
    fn spawn(database_url: &str, queue: &str, concurrency: usize, log_name: &str) -> Self {
        let log = std::env::temp_dir().join(format!("{queue}-{log_name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_freight"))
            .arg("worker")
            .env("DATABASE_URL", database_url)
            .env("REDIS_URL", redis_url())
            .env("JWT_SECRET_KEY", TEST_JWT_SECRET)
            .env("FREIGHT_ENCRYPTION_KEY", TEST_JWT_SECRET)
            .env("FREIGHT_QUEUE", queue)
            .env("WORKER_CONCURRENCY", concurrency.to_string())
            .env("FREIGHT_LEASE_MS", "2000")
            .env("FREIGHT_RECONCILE_INTERVAL_MS", "200")
            .env("FREIGHT_REDISPATCH_AFTER_MS", "2000")
            .env("FREIGHT_RETRY_BACKOFF_MS", "100")
            .env("FREIGHT_HEARTBEAT_MS", "500")
            .env("SHUTDOWN_GRACE_SECONDS", "20")
            .env("ENABLE_METRICS", "false")
            .env("RUST_LOG", "info,sqlx=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn freight worker");
        Self { child, log }
    }

    fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// SIGKILL: no chance to release anything.
    async fn kill(mut self) {
        self.child.kill().await.expect("SIGKILL");
        let _ = std::fs::remove_file(&self.log);
    }

    /// SIGTERM and wait for the exit status.
    async fn terminate(mut self) -> std::process::ExitStatus {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        match tokio::time::timeout(Duration::from_secs(40), self.child.wait()).await {
            Ok(status) => {
                let status = status.expect("wait");
                if status.success() {
                    let _ = std::fs::remove_file(&self.log);
                }
                status
            }
            Err(_) => panic!(
                "worker did not exit after SIGTERM; log: {}",
                self.log.display()
            ),
        }
    }
}

async fn batch_statuses(store: &TestStore, tenant: &TenantId, job: JobId) -> Vec<BatchStatus> {
    batches(store, tenant, job)
        .await
        .into_iter()
        .map(|b| b.status)
        .collect()
}

async fn a_job_created_through_the_api_completes_with_the_target_equal_to_the_source(
    backend: Backend,
) {
    let app = freight_api::testing::spawn_app_on(
        backend,
        Arc::new(EnginePlanner::new(freight_worker::engine::Engine::new(
            freight_core::policy::ConnectionPolicy::for_local_user(),
        ))),
    )
    .await;
    let m = Migration::with_control(TestBackend::of_app(&app), 2_500).await;
    let worker = m.worker(2);
    let http = reqwest::Client::new();
    let token = app.token(&[m.tenant.as_str()], "engineer");
    let mut body = serde_json::to_value(m.spec(200, 3)).expect("spec json");
    body["name"] = json!("api e2e");
    let created: Value = http
        .post(format!("{}/api/v1/jobs", app.base_url))
        .bearer_auth(&token)
        .header("X-Tenant-ID", m.tenant.as_str())
        .json(&body)
        .send()
        .await
        .expect("create request")
        .error_for_status()
        .expect("201")
        .json()
        .await
        .expect("job json");
    assert_eq!(created["status"], "queued");
    let job_id = created["id"].as_str().expect("id").to_owned();

    let deadline = tokio::time::Instant::now() + WAIT;
    let job = loop {
        let job: Value = http
            .get(format!("{}/api/v1/jobs/{job_id}", app.base_url))
            .bearer_auth(&token)
            .header("X-Tenant-ID", m.tenant.as_str())
            .send()
            .await
            .expect("get request")
            .json()
            .await
            .expect("job json");
        if job["status"] != "queued" && job["status"] != "running" {
            break job;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job never finished: {job}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(job["status"], "completed", "{job:#}");
    assert_eq!(job["rows_written"], 2_500);
    assert_eq!(job["batches"]["completed"], 13);
    m.assert_target_equals_source().await;

    let workers: Value = http
        .get(format!("{}/api/v1/workers", app.base_url))
        .bearer_auth(&token)
        .header("X-Tenant-ID", m.tenant.as_str())
        .send()
        .await
        .expect("workers request")
        .json()
        .await
        .expect("workers json");
    assert_eq!(workers["live_workers"], 1, "{workers:#}");
    worker.stop().await.expect("clean stop");
    if let Some(queue_file) = m.control.queue_file() {
        // The batches went through the embedded queue's file, each acked.
        let queue = sqlx::SqlitePool::connect_with(
            sqlx::sqlite::SqliteConnectOptions::new().filename(queue_file),
        )
        .await
        .expect("open the queue file");
        let (done, other): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status = 'Done'), count(*) FILTER (WHERE status <> 'Done')
             FROM Jobs WHERE job_type = ?1",
        )
        .bind(&m.control.queue_name)
        .fetch_one(&queue)
        .await
        .expect("count queue tasks");
        queue.close().await;
        assert!(done >= 13, "{done} batch messages acked");
        assert_eq!(other, 0, "no message left behind");
    }
    m.cleanup().await;
}

async fn cancelling_mid_job_cancels_the_rest_and_leaves_no_half_written_batch(backend: Backend) {
    let m = Migration::new(backend, 20_000).await;
    let worker = m.worker(1);
    let job_id = m.create_job(50, 3).await;
    wait_for_job(&m.store, &m.tenant, job_id, WAIT, "a few batches", |d| {
        d.batches.completed >= 3
    })
    .await;
    m.store
        .cancel_job(&m.tenant, job_id, &audit())
        .await
        .expect("cancel");
    let detail = wait_for_status(&m.store, &m.tenant, job_id, WAIT, JobStatus::Cancelled).await;

    let all = batches(&m.store, &m.tenant, job_id).await;
    let completed: Vec<_> = all
        .iter()
        .filter(|b| b.status == BatchStatus::Completed)
        .collect();
    let cancelled = count_status(&all, BatchStatus::Cancelled);
    assert_eq!(
        completed.len() + cancelled,
        all.len(),
        "only completed and cancelled batches"
    );
    assert!(cancelled > 0, "the job was cancelled mid-way");
    let written: i64 = completed.iter().map(|b| b.rows_written).sum();
    assert_eq!(
        m.target_rows().await,
        written,
        "the target holds whole batches only"
    );
    assert_eq!(detail.job.rows_written, written);
    worker.stop().await.expect("clean stop");
    m.cleanup().await;
}

async fn rejected_records_fail_their_batches_and_a_retry_after_fixing_the_data_completes(
    backend: Backend,
) {
    let m = Migration::new(backend, 1_000).await;
    // The target refuses large amounts; three source rows have one.
    sqlx::query(
        "CREATE TABLE items (id bigint PRIMARY KEY, uuid char(36) NOT NULL, email varchar(255) NOT NULL,
                             amount numeric(12,2) NOT NULL CHECK (amount < 5000), active boolean NOT NULL,
                             score double precision, created timestamp NOT NULL, note text)",
    )
    .execute(&m.target)
    .await
    .expect("target table");
    sqlx::query("UPDATE items SET amount = 9999 WHERE id IN (30, 1500, 2997)")
        .execute(&m.source)
        .await
        .expect("bad rows");
    let worker = m.worker(2);
    let job_id = m.create_job(100, 1).await;

    let detail = wait_for_status(&m.store, &m.tenant, job_id, WAIT, JobStatus::Failed).await;
    assert_eq!(detail.batches.failed, 3, "{:?}", detail.batches);
    let entries = logs(&m.store, &m.tenant, job_id).await;
    let rejected: Vec<Value> = entries
        .iter()
        .filter_map(|l| l.record_key.clone())
        .collect();
    assert_eq!(
        rejected.len(),
        3,
        "each bad record logged with its key: {entries:#?}"
    );

    sqlx::query("UPDATE items SET amount = 1 WHERE amount = 9999")
        .execute(&m.source)
        .await
        .expect("fix rows");
    m.store
        .retry_job(
            &m.tenant,
            job_id,
            &RetryRequest {
                max_retries: 1,
                batch_ids: vec![],
            },
            &audit(),
        )
        .await
        .expect("retry");
    wait_for_status(&m.store, &m.tenant, job_id, WAIT, JobStatus::Completed).await;
    m.assert_target_equals_source().await;
    worker.stop().await.expect("clean stop");
    m.cleanup().await;
}

async fn killed_target_connections_are_retried_and_the_job_completes(backend: Backend) {
    let m = Migration::new(backend, 20_000).await;
    let worker = m.worker(2);
    let job_id = m.create_job(100, 5).await;
    let target_db: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&m.target)
        .await
        .expect("db name");
    wait_for_job(&m.store, &m.tenant, job_id, WAIT, "copying", |d| {
        d.batches.completed >= 2
    })
    .await;

    // Kill every target connection a few times while batches are copying.
    let admin = PgPool::connect(&format!(
        "{}/postgres",
        freight_api::testing::postgres_server_url()
    ))
    .await
    .expect("admin");
    let mut killed = 0i64;
    for _ in 0..40 {
        let detail = job(&m.store, &m.tenant, job_id).await;
        if detail.job.status != JobStatus::Running || killed >= 6 {
            break;
        }
        killed += sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                                   WHERE datname = $1 AND pid <> pg_backend_pid() AND state = 'active') k",
        )
        .bind(&target_db)
        .fetch_one(&admin)
        .await
        .expect("terminate");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let detail = wait_for_status(&m.store, &m.tenant, job_id, WAIT, JobStatus::Completed).await;
    m.assert_target_equals_source().await;
    assert!(killed > 0, "some copying connections were killed");
    let retried = batches(&m.store, &m.tenant, job_id)
        .await
        .iter()
        .filter(|b| b.attempts > 1)
        .count();
    assert!(
        retried > 0,
        "killed batches were retried ({killed} connections killed)"
    );
    assert_eq!(detail.batches.completed, 200);
    worker.stop().await.expect("clean stop");
    m.cleanup().await;
}

// The real `freight worker` binary (SIGKILL, SIGTERM) serves PostgreSQL +
// Redis only. `freight dev`'s counterparts are in tests/ops/dev.rs (kill -9
// or SIGTERM of the dev process, restarted on the same data directory).

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sigkilled_worker_process_loses_and_duplicates_nothing() {
    let m = Migration::new(Backend::Postgres, 30_000).await;
    let first = m.binary_worker(2, "first");
    // Batches of 1,000 rows take long enough (tens of ms) that a kill
    // almost never lands in the few ms between two batches of both slots;
    // at 100 rows it did about once in seven runs.
    let job_id = m.create_job(1_000, 3).await;
    wait_for_job(&m.store, &m.tenant, job_id, WAIT, "mid-job", |d| {
        d.batches.completed >= 5 && d.batches.running > 0
    })
    .await;
    first.kill().await;
    let at_kill = job(&m.store, &m.tenant, job_id).await;
    assert_eq!(at_kill.job.status, JobStatus::Running, "killed mid-job");
    assert!(
        at_kill.batches.running > 0,
        "killed while batches were running"
    );

    let second = m.binary_worker(2, "second");
    let detail = wait_for_status(&m.store, &m.tenant, job_id, WAIT, JobStatus::Completed).await;
    m.assert_target_equals_source().await;
    assert_eq!(detail.batches.completed, 30);
    assert_eq!(detail.job.rows_written, 30_000);
    let statuses = batch_statuses(&m.store, &m.tenant, job_id).await;
    assert!(statuses.iter().all(|s| *s == BatchStatus::Completed));
    let taken_over = logs(&m.store, &m.tenant, job_id)
        .await
        .iter()
        .filter(|l| l.message.contains("lease expired"))
        .count();
    assert!(
        taken_over >= 1,
        "the killed worker's running batches were taken over"
    );
    let status = second.terminate().await;
    assert!(status.success(), "clean exit after SIGTERM: {status:?}");
    m.cleanup().await;
}

async fn a_lost_queue_mid_job_is_refilled_from_the_store(backend: Backend) {
    let m = Migration::new(backend, 30_000).await;
    let worker = m.deployed_worker(2, "flush");
    let job_id = m.create_job(100, 3).await;
    wait_for_job(&m.store, &m.tenant, job_id, WAIT, "mid-job", |d| {
        d.batches.completed >= 5
    })
    .await;
    let deleted = m.control.flush_queue().await;
    assert!(deleted > 0, "the queue had messages");
    let after = job(&m.store, &m.tenant, job_id).await;
    assert_eq!(after.job.status, JobStatus::Running, "flushed mid-job");

    let detail = wait_for_status(&m.store, &m.tenant, job_id, WAIT, JobStatus::Completed).await;
    m.assert_target_equals_source().await;
    assert_eq!(detail.batches.completed, 300);
    worker.stop().await;
    m.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_lets_in_flight_batches_finish_and_exits_cleanly() {
    let m = Migration::new(Backend::Postgres, 20_000).await;
    let worker = m.binary_worker(2, "term");
    let job_id = m.create_job(100, 3).await;
    wait_for_job(&m.store, &m.tenant, job_id, WAIT, "copying", |d| {
        d.batches.completed >= 2 && d.batches.running > 0
    })
    .await;
    let status = worker.terminate().await;
    assert!(status.success(), "exit 0 after SIGTERM: {status:?}");

    let all = batches(&m.store, &m.tenant, job_id).await;
    assert_eq!(
        count_status(&all, BatchStatus::Running),
        0,
        "no batch left running"
    );
    let written: i64 = all.iter().map(|b| b.rows_written).sum();
    assert_eq!(
        m.target_rows().await,
        written,
        "only whole batches in the target"
    );
    let stopped: i64 =
        sqlx::query_scalar("SELECT count(*) FROM workers WHERE stopped_at IS NOT NULL")
            .fetch_one(m.store.postgres().pool())
            .await
            .expect("workers");
    assert_eq!(stopped, 1, "the worker recorded its clean exit");

    let next = m.worker(2);
    wait_for_status(&m.store, &m.tenant, job_id, WAIT, JobStatus::Completed).await;
    m.assert_target_equals_source().await;
    next.stop().await.expect("clean stop");
    m.cleanup().await;
}

async fn keyless_tables_complete_whole_or_in_the_ranges_key_columns_name(backend: Backend) {
    let m = Migration::new(backend, 10).await;
    for sql in [
        "CREATE TABLE events (kind varchar(20), n int NOT NULL)",
        "CREATE TABLE notes (body varchar(20))",
        "INSERT INTO events SELECT IF(seq % 3 = 0, 'dup', concat('e', seq)), seq % 40 FROM seq_1_to_200",
        "INSERT INTO notes VALUES ('same'), ('same'), ('other'), (NULL), (CONCAT('n', CHAR(0), 'ul'))",
    ] {
        sqlx::query(sql).execute(&m.source).await.expect(sql);
    }
    let worker = m.worker(2);
    let mut spec = m.spec(25, 3);
    spec.tables = vec!["items".into(), "events".into(), "notes".into()];
    spec.key_columns = [("events".to_owned(), vec!["n".to_owned()])].into();
    spec.nul_characters = NulCharacters::Strip;
    let created = m
        .store
        .create_job(&m.tenant, &spec, &audit())
        .await
        .expect("create job");
    assert_eq!(created.key_columns, spec.key_columns);
    assert_eq!(created.nul_characters, NulCharacters::Strip);
    let detail = wait_for_status(&m.store, &m.tenant, created.id, WAIT, JobStatus::Completed).await;
    assert_eq!(detail.job.rows_written, 10 + 200 + 5);
    let all = batches(&m.store, &m.tenant, created.id).await;
    let of = |t: &str| all.iter().filter(|b| b.table_name == t).count();
    assert_eq!(of("notes"), 1, "a keyless table is one batch");
    assert!(
        of("events") >= 8,
        "events cut on the named key: {}",
        of("events")
    );
    // Row for row, duplicates included; NUL characters were stripped
    // (nul_characters: strip).
    for (table, source_expr, column) in [
        ("events", "kind", "kind"),
        ("notes", "REPLACE(body, CHAR(0), '')", "body"),
    ] {
        let mut source: Vec<Option<String>> =
            sqlx::query_scalar(AssertSqlSafe(format!("SELECT {source_expr} FROM {table}")))
                .fetch_all(&m.source)
                .await
                .expect("source rows");
        let mut target: Vec<Option<String>> =
            sqlx::query_scalar(AssertSqlSafe(format!("SELECT {column} FROM {table}")))
                .fetch_all(&m.target)
                .await
                .expect("target rows");
        source.sort();
        target.sort();
        assert_eq!(target, source, "{table}");
    }
    worker.stop().await.expect("clean stop");
    m.cleanup().await;
}

async fn a_created_job_reports_per_column_counts_of_zero_dates_and_non_boolean_tinyints(
    backend: Backend,
) {
    let m = Migration::new(backend, 10).await;
    // One session: sql_mode '' lets MariaDB store zero and partial dates.
    sqlx::raw_sql(
        "SET SESSION sql_mode = '';
         CREATE TABLE stamps (id int PRIMARY KEY, born date, seen datetime, ok datetime, flag tinyint(1));
         INSERT INTO stamps SELECT seq,
             IF(seq % 10 = 0, '0000-00-00', '2024-01-02'),
             IF(seq % 25 = 0, '2024-00-10 10:00:00', IF(seq % 50 = 1, '0000-00-00 00:00:00', '2024-03-04 05:06:07')),
             '2024-05-06 07:08:09',
             IF(seq % 20 = 0, 2, IF(seq % 33 = 0, -1, seq % 2))
           FROM seq_1_to_100;",
    )
    .execute(&m.source)
    .await
    .expect("zero dates");
    let worker = m.worker(2);
    let mut spec = m.spec(30, 3);
    spec.tables = vec!["stamps".into()];
    let created = m
        .store
        .create_job(&m.tenant, &spec, &audit())
        .await
        .expect("create job");
    let detail = wait_for_status(&m.store, &m.tenant, created.id, WAIT, JobStatus::Completed).await;
    let noted: Vec<&String> = detail
        .plan_warnings
        .iter()
        .filter(|w| w.starts_with("stamps: column"))
        .collect();
    // Counted over the four batches of the copy, one warning per column
    // that held any; `ok` held none.
    assert_eq!(
        noted,
        [
            "stamps: column born: zero dates (0000-00-00 or a zero month/day) in 10 row(s) were copied as NULL (zero_dates: null)",
            "stamps: column seen: zero dates (0000-00-00 or a zero month/day) in 6 row(s) were copied as NULL (zero_dates: null)",
            "stamps: column flag: tinyint(1) values other than 0 and 1 in 8 row(s) were copied as true (the column became a boolean)",
        ],
        "{:?}",
        detail.plan_warnings
    );
    let nulls: (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE born IS NULL), count(*) FILTER (WHERE seen IS NULL) FROM stamps",
    )
    .fetch_one(&m.target)
    .await
    .expect("target");
    assert_eq!(nulls, (10, 6));
    let trues: i64 = sqlx::query_scalar("SELECT count(*) FROM stamps WHERE flag")
        .fetch_one(&m.target)
        .await
        .expect("flags");
    // The 50 odd ids (33 and 99 hold -1), the five 2s and 66 (-1).
    assert_eq!(trues, 56);
    worker.stop().await.expect("clean stop");
    m.cleanup().await;
}

freight_api::on_both_backends!(
    multi_thread;
    a_job_created_through_the_api_completes_with_the_target_equal_to_the_source,
    cancelling_mid_job_cancels_the_rest_and_leaves_no_half_written_batch,
    rejected_records_fail_their_batches_and_a_retry_after_fixing_the_data_completes,
    killed_target_connections_are_retried_and_the_job_completes,
    keyless_tables_complete_whole_or_in_the_ranges_key_columns_name,
    a_lost_queue_mid_job_is_refilled_from_the_store,
    a_created_job_reports_per_column_counts_of_zero_dates_and_non_boolean_tinyints,
);
