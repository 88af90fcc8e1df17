//! `freight dev` keeps its records in `freight.db` and its queue in
//! `queue.db`, each with `-wal` and `-shm` files beside it: none of them is
//! a job's source or target, though dev mode allows SQLite paths anywhere.

use serde_json::json;
use sqlx::Connection;

use crate::common::assert_problem;
use crate::ops_support::{FreightSpec, token, unique};

#[tokio::test]
async fn freight_devs_own_files_are_neither_source_nor_target() {
    let data_dir = std::env::temp_dir().join(unique("freight-sec-dev-"));
    std::fs::create_dir_all(&data_dir).unwrap();
    let data_dir = data_dir.canonicalize().unwrap();
    let mut dev = FreightSpec::new("dev", "postgres://nobody@127.0.0.1:1/unreachable")
        .env("REDIS_URL", "redis://127.0.0.1:1")
        .env("FREIGHT_DATA_DIR", data_dir.display().to_string())
        .env("WORKER_CONCURRENCY", "1")
        .spawn();
    let http = reqwest::Client::new();
    dev.wait_ready(&http).await;
    // A database of the user's own, beside Freight's files.
    let mine = data_dir.join("mine.db");
    let mut conn =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", mine.display()))
            .await
            .unwrap();
    sqlx::raw_sql("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let elsewhere =
        json!({"type": "sqlite", "database": data_dir.join("mine.db").display().to_string()});
    for name in [
        "freight.db",
        "freight.db-wal",
        "freight.db-shm",
        "queue.db",
        "queue.db-wal",
        "queue.db-shm",
    ] {
        // By its path, and by a path that only leads there.
        for path in [
            data_dir.join(name),
            data_dir
                .join(".")
                .join("..")
                .join(data_dir.file_name().unwrap())
                .join(name),
        ] {
            let own = json!({"type": "sqlite", "database": path.display().to_string()});
            for side in ["source", "target"] {
                let (source, target) = if side == "source" {
                    (own.clone(), elsewhere.clone())
                } else {
                    (elsewhere.clone(), own.clone())
                };
                for endpoint in ["/api/v1/jobs/plan", "/api/v1/jobs"] {
                    let response = http
                        .post(format!("{}{endpoint}", dev.base_url()))
                        .bearer_auth(token("demo"))
                        .header("X-Tenant-ID", "demo")
                        .json(&crate::support::body(source.clone(), target.clone()))
                        .send()
                        .await
                        .unwrap();
                    let problem = assert_problem(response, 422, "CONNECTION_NOT_ALLOWED").await;
                    assert!(
                        problem.to_string().contains("Freight's own database"),
                        "{name} as {side} ({endpoint}): {problem}"
                    );
                }
            }
        }
    }
    drop(dev);
    let _ = std::fs::remove_dir_all(&data_dir);
}
