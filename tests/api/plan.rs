use std::sync::Arc;

use freight_worker::engine::EnginePlanner;
use serde_json::{Value, json};
use sqlx::Connection;

use crate::common::{Api, Backend, assert_problem};

async fn plan_reports_tables_batches_and_ddl_and_writes_nothing(backend: Backend) {
    let api = Api::spawn_on_with(
        backend,
        Arc::new(EnginePlanner::new(freight_worker::engine::Engine::new(
            freight_core::policy::ConnectionPolicy::for_local_user(),
        ))),
    )
    .await;
    let caller = api.new_tenant();
    let dir = std::env::temp_dir().join(format!("freight-plan-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let source_path = dir.join("source.db");
    let mut source =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", source_path.display()))
            .await
            .unwrap();
    sqlx::query("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL)")
        .execute(&mut source)
        .await
        .unwrap();
    sqlx::query("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 250) INSERT INTO items SELECT i, 'item ' || i, i * 1.5 FROM n")
        .execute(&mut source)
        .await
        .unwrap();
    source.close().await.unwrap();
    let target_url = freight_api::testing::fresh_database("freight_plan_target").await;

    let body = json!({
        "source_config": {"type": "sqlite", "database": source_path.display().to_string()},
        "target_config": {"type": "postgresql", "url": target_url},
        "batch_size": 100,
        "started_by": "planner-test"
    });
    let response = api.post("/api/v1/jobs/plan", &caller, &body).await;
    assert_eq!(response.status(), 200);
    let plan: Value = response.json().await.unwrap();
    assert_eq!(plan["tables"][0]["table_name"], "items");
    assert_eq!(plan["tables"][0]["key_columns"], json!(["id"]));
    assert_eq!(plan["total_batches"], 3);
    let ddl = plan["tables"][0]["target_ddl"].to_string().to_lowercase();
    assert!(ddl.contains("create table"), "{ddl}");

    let mut target = sqlx::PgConnection::connect(&target_url).await.unwrap();
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_one(&mut target)
    .await
    .unwrap();
    assert_eq!(tables, 0, "planning must not create anything on the target");
    let jobs: Value = api.get("/api/v1/jobs", &caller).await.json().await.unwrap();
    assert_eq!(jobs["total"], 0, "planning stores no job");

    let missing = json!({
        "source_config": {"type": "sqlite", "database": source_path.display().to_string()},
        "target_config": {"type": "postgresql", "url": target_url},
        "tables": ["no_such_table"],
        "started_by": "planner-test"
    });
    assert_problem(
        api.post("/api/v1/jobs/plan", &caller, &missing).await,
        422,
        "VALIDATION_ERROR",
    )
    .await;

    // A key column the source table lacks is named back, field and column.
    let mut unknown_key = body.clone();
    unknown_key["key_columns"] = json!({"items": ["name", "no_such_column"]});
    let problem = assert_problem(
        api.post("/api/v1/jobs/plan", &caller, &unknown_key).await,
        422,
        "VALIDATION_ERROR",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "key_columns", "{problem}");
    let message = problem["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("no_such_column"), "{problem}");
    // An empty list is refused before anything is contacted, also on create.
    let mut empty_key = body.clone();
    empty_key["key_columns"] = json!({"items": []});
    for path in ["/api/v1/jobs/plan", "/api/v1/jobs"] {
        let problem = assert_problem(
            api.post(path, &caller, &empty_key).await,
            422,
            "VALIDATION_ERROR",
        )
        .await;
        assert_eq!(
            problem["errors"][0]["field"], "key_columns.items",
            "{problem}"
        );
    }
    // A named key that exists is used.
    let mut named = body.clone();
    named["key_columns"] = json!({"items": ["name"]});
    let response = api.post("/api/v1/jobs/plan", &caller, &named).await;
    assert_eq!(response.status(), 200);
    let plan: Value = response.json().await.unwrap();
    assert_eq!(plan["tables"][0]["key_columns"], json!(["name"]));
    assert_eq!(plan["tables"][0]["copy_mode"], "key_ranges");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `identifiers: lower` that would fold two names into one is refused by
/// the preview, naming the field and the names.
async fn plan_refuses_identifiers_that_collide_when_folded(backend: Backend) {
    let api = Api::spawn_on_with(
        backend,
        Arc::new(EnginePlanner::new(freight_worker::engine::Engine::new(
            freight_core::policy::ConnectionPolicy::for_local_user(),
        ))),
    )
    .await;
    let caller = api.new_tenant();
    let url = freight_api::testing::fresh_database("freight_plan_names").await;
    let mut source = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("CREATE TABLE t (id int PRIMARY KEY, \"Total\" int, total int)")
        .execute(&mut source)
        .await
        .unwrap();
    source.close().await.unwrap();
    let mut body = json!({
        "source_config": {"type": "postgresql", "url": url},
        "target_config": {"type": "postgresql", "url": url, "schema": "copy"},
        "started_by": "planner-test"
    });
    let kept = api.post("/api/v1/jobs/plan", &caller, &body).await;
    assert_eq!(kept.status(), 200, "names kept as they are do not collide");
    body["identifiers"] = json!("lower");
    let problem = assert_problem(
        api.post("/api/v1/jobs/plan", &caller, &body).await,
        422,
        "VALIDATION_ERROR",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "identifiers", "{problem}");
    let message = problem["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("Total, total"), "{problem}");
}

freight_api::on_both_backends!(
    plan_reports_tables_batches_and_ddl_and_writes_nothing,
    plan_refuses_identifiers_that_collide_when_folded,
);
