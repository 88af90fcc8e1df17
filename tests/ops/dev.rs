//! `freight dev`: the whole service in one process with no PostgreSQL and
//! no Redis (both URLs point at closed ports, so any attempt to reach them
//! would fail the job), a demo database to migrate, and a `kill -9` or a
//! SIGTERM in the middle of a job that loses nothing once it is started
//! again on the same data directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AssertSqlSafe, Connection, SqliteConnection};

use crate::support::{FreightSpec, eventually, signal, token, unique};

const ROWS: i64 = 120_000;

fn data_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(unique("freight-dev-"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `freight dev` on `data_dir`, with nothing else to talk to.
fn dev(data_dir: &Path) -> FreightSpec {
    FreightSpec::new("dev", "postgres://nobody@127.0.0.1:1/unreachable")
        .env("REDIS_URL", "redis://127.0.0.1:1")
        .env("FREIGHT_DATA_DIR", data_dir.display().to_string())
        .env("WORKER_CONCURRENCY", "1")
}

async fn open(path: &Path) -> SqliteConnection {
    SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(path))
        .await
        .unwrap()
}

/// Every row of `table`, in key order, as text.
async fn rows(path: &Path, table: &str) -> Vec<(i64, String)> {
    let mut conn = open(path).await;
    sqlx::query_as(AssertSqlSafe(format!(
        "SELECT id, name || '|' || coalesce(amount, 'null') || '|' || coalesce(note, 'null') \
         FROM {table} ORDER BY id"
    )))
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

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
    // One statement: a recursive series is far faster than row-by-row inserts.
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
         INSERT INTO items SELECT i, 'item ' || i || ' ✓', i * 0.25,
                CASE WHEN i % 7 = 0 THEN NULL ELSE 'note\t' || (i % 13) END FROM n",
    )
    .bind(ROWS)
    .execute(&mut conn)
    .await
    .unwrap();
}

async fn job(http: &reqwest::Client, base: &str, tenant: &str, id: &str) -> Value {
    http.get(format!("{base}/api/v1/jobs/{id}"))
        .bearer_auth(token(tenant))
        .header("X-Tenant-ID", tenant)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn create_job(http: &reqwest::Client, base: &str, tenant: &str, body: &Value) -> String {
    let response = http
        .post(format!("{base}/api/v1/jobs"))
        .bearer_auth(token(tenant))
        .header("X-Tenant-ID", tenant)
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    created["id"].as_str().unwrap().to_owned()
}

async fn until_final(http: &reqwest::Client, base: &str, tenant: &str, id: &str) -> Value {
    eventually(Duration::from_secs(120), "the job to finish", || async {
        let job = job(http, base, tenant, id).await;
        match job["status"].as_str() {
            Some("completed" | "completed_with_errors" | "failed" | "cancelled") => Ok(job),
            _ => Err(job.to_string()),
        }
    })
    .await
}

#[tokio::test]
async fn a_kill_9_in_the_middle_of_a_job_loses_nothing_after_a_restart() {
    stopped_mid_job_then_restarted("KILL").await;
}

/// `freight dev`'s counterpart of engine_e2e's SIGTERM test of
/// `freight worker`.
#[tokio::test]
async fn a_sigterm_in_the_middle_of_a_job_finishes_in_flight_batches_and_exits_0() {
    stopped_mid_job_then_restarted("TERM").await;
}

/// Stops `freight dev` with `signal` in the middle of a job, starts it
/// again on the same data directory, and checks the job completes with
/// target == source, row for row.
async fn stopped_mid_job_then_restarted(signal_name: &str) {
    let data = data_dir();
    let source = data.join("source.db");
    let target = data.join("target.db");
    create_source(&source).await;
    let http = reqwest::Client::new();
    let tenant = unique("dev");

    let mut first = dev(&data).spawn();
    first.wait_ready(&http).await;
    let base = first.base_url();
    let id = create_job(
        &http,
        &base,
        &tenant,
        &json!({
            "source_config": {"type": "sqlite", "database": source.display().to_string()},
            "target_config": {"type": "sqlite", "database": target.display().to_string()},
            "batch_size": 500,
            "started_by": "ops-test",
        }),
    )
    .await;
    eventually(Duration::from_secs(60), "rows written", || async {
        let job = job(&http, &base, &tenant, &id).await;
        if job["rows_written"].as_i64().unwrap_or(0) > 0 {
            Ok(())
        } else {
            Err(job.to_string())
        }
    })
    .await;
    signal(first.pid(), signal_name);
    let exit = first.wait_exit(Duration::from_secs(30)).await;

    // The store says the job was cut off mid-way.
    let mut store = open(&data.join("freight.db")).await;
    let (status, done, total): (String, i64, i64) = sqlx::query_as(
        "SELECT j.status,
                (SELECT count(*) FROM batches b WHERE b.job_id = j.id AND b.status = 'completed'),
                (SELECT count(*) FROM batches b WHERE b.job_id = j.id)
         FROM jobs j",
    )
    .fetch_one(&mut store)
    .await
    .unwrap();
    assert_eq!(status, "running");
    assert!(
        done < total,
        "{done} of {total} batches were done before the {signal_name}"
    );
    if signal_name == "TERM" {
        assert!(exit.success(), "exit 0 after SIGTERM: {exit:?}");
        // In-flight batches finished: none left running, and the target
        // holds exactly the completed batches' rows.
        let (running, written): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status = 'running'), coalesce(sum(rows_written), 0)
             FROM batches",
        )
        .fetch_one(&mut store)
        .await
        .unwrap();
        assert_eq!(running, 0, "no batch left running");
        let mut target_db = open(&target).await;
        let in_target: i64 = sqlx::query_scalar("SELECT count(*) FROM items")
            .fetch_one(&mut target_db)
            .await
            .unwrap();
        target_db.close().await.unwrap();
        assert_eq!(in_target, written, "only whole batches in the target");
    }
    store.close().await.unwrap();

    let mut second = dev(&data).spawn();
    second.wait_ready(&http).await;
    let base = second.base_url();
    let finished = until_final(&http, &base, &tenant, &id).await;
    assert_eq!(finished["status"], "completed", "{finished}");
    assert_eq!(finished["rows_written"], ROWS, "{finished}");

    let copied = rows(&target, "items").await;
    assert_eq!(copied.len(), usize::try_from(ROWS).unwrap());
    assert!(
        copied == rows(&source, "items").await,
        "target differs from source"
    );
    second.terminate();
    second.wait_exit(Duration::from_secs(30)).await;
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test]
async fn the_demo_database_migrates_with_nothing_installed() {
    let data = data_dir();
    let http = reqwest::Client::new();
    let tenant = unique("dev");
    let mut freight = dev(&data).arg("--demo").spawn();
    freight.wait_ready(&http).await;
    let base = freight.base_url();

    // Readiness names what this mode runs on.
    let ready: Value = http
        .get(format!("{base}/ready"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["sqlite"], true, "{ready}");
    assert_eq!(ready["postgres"], Value::Null, "{ready}");
    assert_eq!(ready["redis"], Value::Null, "{ready}");

    let source = data.join("demo").join("shop.db");
    let target = data.join("demo").join("warehouse.db");
    assert!(source.exists(), "--demo creates {}", source.display());
    let id = create_job(
        &http,
        &base,
        &tenant,
        &json!({
            "source_config": {"type": "sqlite", "database": source.display().to_string()},
            "target_config": {"type": "sqlite", "database": target.display().to_string()},
            "started_by": "ops-test",
        }),
    )
    .await;
    let finished = until_final(&http, &base, &tenant, &id).await;
    assert_eq!(finished["status"], "completed", "{finished}");

    let mut copied = open(&target).await;
    let mut original = open(&source).await;
    for table in ["customers", "orders", "page_views"] {
        let query = format!("SELECT count(*) FROM {table}");
        let want: i64 = sqlx::query_scalar(AssertSqlSafe(query.clone()))
            .fetch_one(&mut original)
            .await
            .unwrap();
        let got: i64 = sqlx::query_scalar(AssertSqlSafe(query))
            .fetch_one(&mut copied)
            .await
            .unwrap();
        assert!(want > 0);
        assert_eq!(got, want, "{table}");
    }
    freight.terminate();
    freight.wait_exit(Duration::from_secs(30)).await;
    let _ = std::fs::remove_dir_all(&data);
}
