//! A tenant's SQLite file is text Freight reads back as DDL: with `PRAGMA
//! writable_schema` it can hold a view or a CHECK whose SQL goes on after
//! a `;` (here: `ATTACH DATABASE '/any/path'`), and the file still opens.
//! Copied to a SQLite target, none of it may run: no file outside
//! `FREIGHT_SQLITE_ROOT` is created, and the view is reported skipped.

use serde_json::json;
use sqlx::Connection;

use crate::ops_support::{FreightSpec, token};

/// A source whose `sqlite_master` holds the attack: view `v` attaches
/// `view_file`, table `items`' CHECK attaches `check_file`.
async fn hostile_source(path: &std::path::Path, view_file: &str, check_file: &str) {
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .unwrap();
    sqlx::raw_sql(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, qty INT CHECK (qty >= 0));
         INSERT INTO items VALUES (1, 2), (2, 3), (3, 5);
         CREATE VIEW v AS SELECT id FROM items;",
    )
    .execute(&mut c)
    .await
    .unwrap();
    sqlx::query("PRAGMA writable_schema = ON")
        .execute(&mut c)
        .await
        .unwrap();
    let view = format!(
        "CREATE VIEW v AS SELECT id FROM items; ATTACH DATABASE '{view_file}' AS x; CREATE TABLE x.t(a)"
    );
    // Freight's CHECK reader counts the parentheses inside the comment:
    // what it takes for the expression runs on past the `;`.
    let table = format!(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, qty INT CHECK (qty >= 0 /* (( */)); \
         ATTACH DATABASE '{check_file}' AS y; CREATE TABLE y.z(q) --)"
    );
    for (name, sql) in [("v", view), ("items", table)] {
        sqlx::query("UPDATE sqlite_master SET sql = ? WHERE name = ?")
            .bind(sql)
            .bind(name)
            .execute(&mut c)
            .await
            .unwrap();
    }
    c.close().await.unwrap();
}

#[tokio::test]
async fn ddl_smuggled_into_a_sqlite_schema_never_runs_on_the_target() {
    let root = std::env::temp_dir().join(format!(
        "freight-sqlite-schema-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let tenant_dir = root.join("acme");
    std::fs::create_dir_all(&tenant_dir).unwrap();
    // Outside the root: where the attack would create its files.
    let outside =
        std::env::temp_dir().join(format!("freight-attack-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&outside).unwrap();
    let view_file = outside.join("from-view.db");
    let check_file = outside.join("from-check.db");
    hostile_source(
        &tenant_dir.join("src.db"),
        &view_file.display().to_string(),
        &check_file.display().to_string(),
    )
    .await;

    let control = freight_api::testing::fresh_database("freight_sec_sqlite_ddl").await;
    let mut freight = FreightSpec::new("all", &control)
        .env("FREIGHT_SQLITE_ROOT", root.display().to_string())
        .spawn();
    let http = reqwest::Client::new();
    freight.wait_ready(&http).await;
    let job = json!({
        "source_config": {"type": "sqlite", "database": "src.db"},
        "target_config": {"type": "sqlite", "database": "out.db"},
        "batch_size": 1000,
        "started_by": "mallory"
    });

    let created = http
        .post(format!("{}/api/v1/jobs", freight.base_url()))
        .bearer_auth(token("acme"))
        .header("X-Tenant-ID", "acme")
        .json(&job)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
    let id = created.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let finished = crate::support::final_job(&http, &freight.base_url(), &id).await;

    assert!(!view_file.exists(), "the view's ATTACH ran on the worker");
    assert!(!check_file.exists(), "the CHECK's ATTACH ran on the worker");
    assert_eq!(finished["status"], "completed", "{finished}");
    let warnings = finished["plan_warnings"].to_string();
    assert!(
        warnings.contains("view v is not recreated: skipped")
            && warnings.contains("not a single CREATE VIEW v statement"),
        "{warnings}"
    );
    assert!(
        warnings.contains("is not recreated: the target refused it"),
        "{warnings}"
    );
    // The data arrived; the view did not.
    let mut out = sqlx::SqliteConnection::connect(&format!(
        "sqlite://{}?mode=ro",
        tenant_dir.join("out.db").display()
    ))
    .await
    .unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM items")
        .fetch_one(&mut out)
        .await
        .unwrap();
    assert_eq!(rows, 3);
    let views: i64 = sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE type = 'view'")
        .fetch_one(&mut out)
        .await
        .unwrap();
    assert_eq!(views, 0);
    out.close().await.unwrap();

    // The preview says so too.
    let plan: serde_json::Value = http
        .post(format!("{}/api/v1/jobs/plan", freight.base_url()))
        .bearer_auth(token("acme"))
        .header("X-Tenant-ID", "acme")
        .json(&job)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = plan.to_string();
    assert!(
        text.contains("view v is not recreated: skipped"),
        "the plan does not report the view skipped: {plan}"
    );
    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_dir_all(&outside);
}
