//! Planning cannot exhaust the API: batches per job are capped before
//! boundaries pile up, plans time out, and the process stays small.

use std::time::Duration;

use serde_json::json;
use sqlx::Connection;

use crate::common::assert_problem;
use crate::ops_support::{FreightSpec, token};

/// Peak resident memory of a process, from /proc.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn a_two_million_batch_plan_is_refused_and_the_api_stays_small() {
    let source = freight_api::testing::fresh_database("freight_sec_big").await;
    let mut conn = sqlx::PgConnection::connect(&source).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE big (id bigint PRIMARY KEY, v int);
         INSERT INTO big SELECT g, g % 7 FROM generate_series(1, 2000000) g;
         ANALYZE big;
         CREATE TABLE lying (id bigint PRIMARY KEY, v int) WITH (autovacuum_enabled = false);
         INSERT INTO lying SELECT * FROM big;
         UPDATE pg_class SET reltuples = 10 WHERE oid = 'lying'::regclass;",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    let control = freight_api::testing::fresh_database("freight_sec_big_ctl").await;
    let target = freight_api::testing::fresh_database("freight_sec_big_t").await;
    let mut api = FreightSpec::new("api", &control).spawn();
    let http = reqwest::Client::new();
    api.wait_ready(&http).await;

    let plan = |tables: serde_json::Value| {
        http.post(format!("{}/api/v1/jobs/plan", api.base_url()))
            .bearer_auth(token("acme"))
            .header("X-Tenant-ID", "acme")
            .json(&json!({
                "source_config": {"type": "postgresql", "url": source},
                "target_config": {"type": "postgresql", "url": target},
                "tables": tables,
                "batch_size": 1,
                "started_by": "mallory"
            }))
            .send()
    };

    // Statistics that say 10 rows: nothing to refuse from them, so the
    // walk itself must be bounded (and not run into the plan timeout).
    let problem =
        assert_problem(plan(json!(["lying"])).await.unwrap(), 422, "PLAN_TOO_LARGE").await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("100000 batches") && detail.contains("use batch_size"),
        "{detail}"
    );
    let peak_mib = peak_rss_kib(api.pid()) / 1024;
    assert!(
        peak_mib < 150,
        "API peak RSS {peak_mib} MiB while walking a table whose statistics lie"
    );
    eprintln!("API peak RSS while refusing a 2M-batch walk: {peak_mib} MiB");

    // Analyzed: refused from the estimate, before any walk.
    let problem = assert_problem(plan(json!(["big"])).await.unwrap(), 422, "PLAN_TOO_LARGE").await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("100000 batches") && detail.contains("use batch_size"),
        "{detail}"
    );
    let peak_mib = peak_rss_kib(api.pid()) / 1024;
    assert!(
        peak_mib < 150,
        "API peak RSS {peak_mib} MiB while refusing the plan"
    );
    eprintln!("API peak RSS while refusing a 2M-batch plan: {peak_mib} MiB");
}

#[tokio::test]
async fn the_key_walk_stops_at_the_batch_limit_when_statistics_say_nothing() {
    // SQLite keeps no row estimate: the walk itself must stop.
    let dir = std::env::temp_dir().join(format!("freight-walk-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("walk.db");
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .unwrap();
    sqlx::raw_sql(
        "CREATE TABLE t (k TEXT PRIMARY KEY);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
         INSERT INTO t SELECT printf('key-%05d', i) FROM n;",
    )
    .execute(&mut c)
    .await
    .unwrap();
    c.close().await.unwrap();
    let engine = freight_worker::engine::Engine::new(
        freight_core::policy::ConnectionPolicy::for_local_user(),
    )
    .with_limits(freight_worker::engine::PlanLimits {
        max_batches_per_job: 50,
        ..Default::default()
    });
    let config: freight_core::connection::ConnectionConfig =
        serde_json::from_value(json!({"type": "sqlite", "database": path.display().to_string()}))
            .unwrap();
    let job = crate::support::job_context(
        "acme",
        config,
        serde_json::from_value(
            json!({"type": "sqlite", "database": dir.join("out.db").display().to_string()}),
        )
        .unwrap(),
    );
    let err = engine.plan(&job, false).await.unwrap_err().to_string();
    assert!(err.contains("more than 50 batches"), "{err}");
    let ok = freight_worker::engine::JobContext {
        batch_size: 100,
        ..job
    };
    let plan = engine.plan(&ok, false).await.unwrap();
    assert_eq!(plan.batches.len(), 20);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_plan_that_hangs_times_out() {
    // A "database" that accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let api = crate::support::secure_api_with_limits(
        |p| p,
        freight_worker::engine::PlanLimits::default(),
        Some(freight_api::plan_slots::PlanLimits {
            concurrent_per_tenant: 2,
            timeout: Duration::from_secs(1),
        }),
    )
    .await;
    let tenant = api.new_tenant();
    let hanging =
        json!({"type": "mysql", "host": "127.0.0.1", "port": port, "database": "x", "user": "u"});
    let started = std::time::Instant::now();
    let response = api
        .post(
            "/api/v1/jobs/plan",
            &tenant,
            &crate::support::body(hanging.clone(), hanging),
        )
        .await;
    assert_problem(response, 504, "PLAN_TIMEOUT").await;
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "the 10 s connect timeout did not decide it"
    );
}

/// `POST /api/v1/jobs/plan` of `source` → `target` at `batch_size`.
async fn plan_request(
    http: &reqwest::Client,
    api: &crate::ops_support::Freight,
    body: serde_json::Value,
) -> reqwest::Response {
    http.post(format!("{}/api/v1/jobs/plan", api.base_url()))
        .bearer_auth(token("acme"))
        .header("X-Tenant-ID", "acme")
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn long_text_key_values_are_refused_and_the_api_stays_small() {
    let source = freight_api::testing::fresh_database("freight_sec_longkey").await;
    let mut conn = sqlx::PgConnection::connect(&source).await.unwrap();
    // `huge`: two 100 MB values in a column a tenant names as the key.
    // `wide`: 10,000 distinct 2,000-byte primary keys, one boundary each at
    // batch_size 1: 20 MB of boundaries, well within the batch count.
    sqlx::raw_sql(
        "CREATE TABLE huge (id int PRIMARY KEY, doc text);
         INSERT INTO huge SELECT g, repeat(g::text, 100000000) FROM generate_series(1, 2) g;
         CREATE TABLE wide (k text PRIMARY KEY);
         INSERT INTO wide SELECT lpad(g::text, 2000, 'k') FROM generate_series(1, 10000) g;
         ANALYZE huge; ANALYZE wide;",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    let control = freight_api::testing::fresh_database("freight_sec_longkey_ctl").await;
    let target = freight_api::testing::fresh_database("freight_sec_longkey_t").await;
    let mut api = FreightSpec::new("api", &control).spawn();
    let http = reqwest::Client::new();
    api.wait_ready(&http).await;
    let job = |table: &str, key_columns: serde_json::Value| {
        json!({
            "source_config": {"type": "postgresql", "url": source},
            "target_config": {"type": "postgresql", "url": target},
            "tables": [table],
            "key_columns": key_columns,
            "batch_size": 1,
            "started_by": "mallory"
        })
    };

    let huge = plan_request(&http, &api, job("huge", json!({"huge": ["doc"]}))).await;
    let problem = assert_problem(huge, 422, "PLAN_TOO_LARGE").await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("key values too large to plan") && detail.contains("huge"),
        "{detail}"
    );

    let wide = plan_request(&http, &api, job("wide", json!({}))).await;
    let problem = assert_problem(wide, 422, "PLAN_TOO_LARGE").await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("key values too large to plan")
            && detail.contains("FREIGHT_MAX_PLAN_KEY_BYTES"),
        "{detail}"
    );

    let peak_mib = peak_rss_kib(api.pid()) / 1024;
    assert!(
        peak_mib < 150,
        "API peak RSS {peak_mib} MiB while refusing long keys"
    );
    eprintln!("API peak RSS while refusing long text keys: {peak_mib} MiB");
}

/// A SQLite source of `tables` (name, has a key), three rows each, planned
/// at batch_size 1 under `limits`.
async fn plan_sqlite(
    tables: &[(&str, bool)],
    limits: freight_worker::engine::PlanLimits,
) -> Result<freight_worker::engine::JobPlan, String> {
    let dir = std::env::temp_dir().join(format!("freight-cap-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("src.db");
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .unwrap();
    for (name, keyed) in tables {
        let key = if *keyed { " PRIMARY KEY" } else { "" };
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE {name} (id INTEGER{key}); INSERT INTO {name} VALUES (1), (2), (3);"
        )))
        .execute(&mut c)
        .await
        .unwrap();
    }
    c.close().await.unwrap();
    let engine = freight_worker::engine::Engine::new(
        freight_core::policy::ConnectionPolicy::for_local_user(),
    )
    .with_limits(limits);
    let sqlite = |file: &std::path::Path| -> freight_core::connection::ConnectionConfig {
        serde_json::from_value(json!({"type": "sqlite", "database": file.display().to_string()}))
            .unwrap()
    };
    let job = freight_worker::engine::JobContext {
        batch_size: 1,
        ..crate::support::job_context("acme", sqlite(&path), sqlite(&dir.join("out.db")))
    };
    let result = engine.plan(&job, false).await.map_err(|e| e.to_string());
    let _ = std::fs::remove_dir_all(&dir);
    result
}

#[tokio::test]
async fn tables_without_a_key_count_against_the_batch_limit() {
    let limits = freight_worker::engine::PlanLimits {
        max_batches_per_job: 4,
        ..Default::default()
    };
    // 3 batches of the keyed table and one per keyless table: 5 > 4,
    // whichever order the tables come in.
    for tables in [
        [("a_keyed", true), ("b_loose", false), ("c_loose", false)],
        [("a_loose", false), ("b_loose", false), ("c_keyed", true)],
    ] {
        let err = plan_sqlite(&tables, limits).await.unwrap_err();
        assert!(err.contains("more than 4 batches"), "{err}");
    }
    let keyless = [
        ("a", false),
        ("b", false),
        ("c", false),
        ("d", false),
        ("e", false),
    ];
    let err = plan_sqlite(&keyless, limits).await.unwrap_err();
    assert!(err.contains("more than 4 batches"), "{err}");
    // Within the limit: planned.
    let fits = plan_sqlite(&keyless[..4], limits).await.unwrap();
    assert_eq!(fits.batches.len(), 4);
}

#[tokio::test]
async fn a_job_of_more_tables_than_the_cap_is_refused_before_reading_them() {
    let limits = freight_worker::engine::PlanLimits {
        max_tables_per_job: 2,
        ..Default::default()
    };
    let tables = [("a", true), ("b", false), ("c", true)];
    let err = plan_sqlite(&tables, limits).await.unwrap_err();
    assert!(
        err.contains("3 tables") && err.contains("FREIGHT_MAX_TABLES_PER_JOB"),
        "{err}"
    );
    plan_sqlite(&tables[..2], limits).await.unwrap();
}

#[tokio::test]
async fn a_tenants_plans_beyond_the_concurrent_limit_get_429() {
    // A "database" that accepts connections and never answers; each
    // accepted connection is announced.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (accepted, mut accepts) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
            let _ = accepted.send(());
        }
    });
    let api = crate::support::secure_api_with_limits(
        |p| p,
        freight_worker::engine::PlanLimits::default(),
        Some(freight_api::plan_slots::PlanLimits {
            concurrent_per_tenant: 1,
            timeout: Duration::from_secs(5),
        }),
    )
    .await;
    let tenant = api.new_tenant();
    let neighbour = api.new_tenant();
    let hanging =
        json!({"type": "mysql", "host": "127.0.0.1", "port": port, "database": "x", "user": "u"});
    let job = crate::support::body(hanging.clone(), hanging);
    let api = std::sync::Arc::new(api);
    let first = {
        let (api, tenant, job) = (api.clone(), tenant.clone(), job.clone());
        tokio::spawn(async move { api.post("/api/v1/jobs/plan", &tenant, &job).await })
    };
    // The first plan is running (it reached the "database").
    accepts.recv().await.unwrap();
    let second = api.post("/api/v1/jobs/plan", &tenant, &job).await;
    assert!(second.headers().contains_key("retry-after"));
    let problem = assert_problem(second, 429, "RATE_LIMITED").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("at most 1 plans"),
        "{problem}"
    );
    // Another tenant's plan is not held back by this one's.
    let other = {
        let (api, neighbour, job) = (api.clone(), neighbour.clone(), job.clone());
        tokio::spawn(async move { api.post("/api/v1/jobs/plan", &neighbour, &job).await })
    };
    accepts.recv().await.unwrap();
    assert_eq!(first.await.unwrap().status(), 504);
    assert_eq!(other.await.unwrap().status(), 504);
}

#[tokio::test]
async fn many_huge_views_are_refused_and_the_api_stays_small() {
    let source = freight_api::testing::fresh_database("freight_sec_views").await;
    let mut conn = sqlx::PgConnection::connect(&source).await.unwrap();
    // 120 views of 1 MB of definition each: 120 MB the source would send.
    sqlx::raw_sql(
        "CREATE TABLE t (id int PRIMARY KEY);
         DO $$ BEGIN
           FOR i IN 1..120 LOOP
             EXECUTE format('CREATE VIEW v%s AS SELECT %L::text AS doc FROM t', i, repeat('x', 1000000));
           END LOOP;
         END $$;",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    let control = freight_api::testing::fresh_database("freight_sec_views_ctl").await;
    let target = freight_api::testing::fresh_database("freight_sec_views_t").await;
    let mut api = FreightSpec::new("api", &control).spawn();
    let http = reqwest::Client::new();
    api.wait_ready(&http).await;

    let job = json!({
        "source_config": {"type": "postgresql", "url": source},
        "target_config": {"type": "postgresql", "url": target},
        "batch_size": 1000,
        "started_by": "mallory"
    });
    let problem = assert_problem(plan_request(&http, &api, job).await, 422, "PLAN_TOO_LARGE").await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("the views") && detail.contains("FREIGHT_MAX_PLAN_SCHEMA_BYTES"),
        "{detail}"
    );
    let peak_mib = peak_rss_kib(api.pid()) / 1024;
    assert!(
        peak_mib < 150,
        "API peak RSS {peak_mib} MiB while refusing 120 MB of views"
    );
    eprintln!("API peak RSS while refusing 120 MB of views: {peak_mib} MiB");
}

#[tokio::test]
async fn schema_text_beyond_the_budget_is_refused_before_it_is_read() {
    let dir = std::env::temp_dir().join(format!("freight-text-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("src.db");
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .unwrap();
    // A CHECK of 100 KB: SQLite keeps it in the table's CREATE statement.
    let long = format!("'{}'", "x".repeat(100_000));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE small (id INTEGER PRIMARY KEY);
         CREATE TABLE wordy (id INTEGER PRIMARY KEY, v TEXT CHECK (v <> {long}));"
    )))
    .execute(&mut c)
    .await
    .unwrap();
    c.close().await.unwrap();
    let engine = freight_worker::engine::Engine::new(
        freight_core::policy::ConnectionPolicy::for_local_user(),
    )
    .with_limits(freight_worker::engine::PlanLimits {
        max_schema_bytes_per_job: 64 * 1024,
        ..Default::default()
    });
    let sqlite = |file: &std::path::Path| -> freight_core::connection::ConnectionConfig {
        serde_json::from_value(json!({"type": "sqlite", "database": file.display().to_string()}))
            .unwrap()
    };
    let job = crate::support::job_context("acme", sqlite(&path), sqlite(&dir.join("out.db")));
    let err = engine.plan(&job, false).await.unwrap_err().to_string();
    assert!(
        err.contains("the tables (at wordy)") && err.contains("FREIGHT_MAX_PLAN_SCHEMA_BYTES"),
        "{err}"
    );
    let small = freight_worker::engine::JobContext {
        tables: vec!["small".into()],
        ..job
    };
    engine.plan(&small, false).await.unwrap();
    // Names are listed before anything else is read: SQLite's have no cap
    // of their own.
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE \"{}\" (id INTEGER PRIMARY KEY)",
        "n".repeat(2000)
    )))
    .execute(&mut c)
    .await
    .unwrap();
    c.close().await.unwrap();
    let err = engine.plan(&small, false).await.unwrap_err().to_string();
    assert!(err.contains("table name of more than 1024 bytes"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
