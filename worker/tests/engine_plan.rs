//! Planning writes nothing anywhere, names unknown tables, and never leaks
//! passwords.

#[path = "engine_support/mod.rs"]
mod support;

use freight_core::connection::DatabaseKind;
use freight_core::plan::{PlanError, Planner};
use freight_worker::engine::{Engine, EngineError, EnginePlanner};
use sqlx::Executor;
use support::{Dbs, config, job};

#[tokio::test]
async fn plan_reports_ddl_and_batches_but_writes_nothing() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute(
        "CREATE TABLE items (id int PRIMARY KEY, flag tinyint(1), price decimal(10,2), shape point, KEY idx_price (price));
         INSERT INTO items VALUES (1, 1, 9.99, POINT(1, 2)), (2, 0, 1.50, NULL), (3, NULL, NULL, NULL);",
    )
    .await
    .expect("source");
    // A second, empty MariaDB database as the MySQL target.
    let admin = sqlx::MySqlPool::connect(support::MY_ADMIN)
        .await
        .expect("admin");
    let my_target = format!("{}_t", dbs.name);
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {my_target}")))
        .await
        .expect("target db");
    let my_target_url = format!("mysql://root@127.0.0.1:3306/{my_target}");
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let sqlite_target = dbs.sqlite_path("never");
    for target in [
        dbs.pg("fresh_schema"),
        config(DatabaseKind::Mysql, &my_target_url, None),
        dbs.sqlite("never"),
    ] {
        let mut j = job(dbs.mysql(), target.clone(), &["items"], 2);
        j.verify = false;
        let plan = engine.plan(&j, false).await.expect("plan");
        assert_eq!(plan.report.total_rows_estimate, 3);
        assert_eq!(plan.report.total_batches, 2);
        assert_eq!(plan.batches.len(), 2);
        let table = &plan.report.tables[0];
        assert_eq!(table.key_columns, ["id"]);
        assert!(
            table.target_ddl[0].contains("CREATE TABLE"),
            "{:?}",
            table.target_ddl
        );
        assert!(
            table.target_ddl.iter().any(|d| d.contains("idx_price")),
            "{:?}",
            table.target_ddl
        );
        assert!(
            table.warnings.iter().any(|w| w.contains("WKB")),
            "{:?}",
            table.warnings
        );
        if target.kind == DatabaseKind::Postgresql {
            assert!(
                table.target_ddl[0].contains("boolean"),
                "{}",
                table.target_ddl[0]
            );
        }
    }
    // Nothing was created: no PostgreSQL schema, no MySQL table, no SQLite file.
    let pg = dbs.pg_pool().await;
    let schemas: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM pg_namespace WHERE nspname = 'fresh_schema'")
            .fetch_one(&pg)
            .await
            .expect("schemas");
    assert_eq!(schemas, 0);
    let tables: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = ?")
            .bind(&my_target)
            .fetch_one(&admin)
            .await
            .expect("tables");
    assert_eq!(tables, 0);
    let _ = admin
        .execute(sqlx::AssertSqlSafe(format!("DROP DATABASE {my_target}")))
        .await;
    assert!(!sqlite_target.exists());

    // The API's planner: same, from a JobSpec.
    let spec: freight_core::job::JobSpec = serde_json::from_value(serde_json::json!({
        "source_config": {"type": "mysql", "url": dbs.my_url()},
        "target_config": {"type": "postgresql", "url": dbs.pg_url(), "schema": "fresh_schema"},
        "tables": ["items"],
        "batch_size": 1,
        "started_by": "test"
    }))
    .expect("spec");
    let planner = EnginePlanner::new(freight_worker::engine::Engine::new(
        freight_core::policy::ConnectionPolicy::for_local_user(),
    ));
    let tenant = freight_core::TenantId::parse("planner-test").expect("tenant");
    let report = planner.plan(&tenant, &spec).await.expect("planner");
    assert_eq!(report.total_batches, 3);
    let mut missing = spec.clone();
    missing.tables = vec!["items".into(), "nope".into()];
    match planner.plan(&tenant, &missing).await {
        Err(PlanError::Invalid(e)) => assert!(e.0[0].message.contains("nope"), "{e:?}"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    dbs.cleanup().await;
}

#[tokio::test]
async fn unknown_tables_are_named_and_batches_of_them_fail_permanently() {
    let dbs = Dbs::new().await;
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let j = job(dbs.pg("public"), dbs.mysql(), &["ghost"], 10);
    match engine.plan(&j, true).await {
        Err(EngineError::Permanent(m)) => assert!(m.contains("ghost"), "{m}"),
        other => panic!("expected Permanent, got {other:?}"),
    }
    let batch = freight_worker::engine::BatchToRun {
        batch_id: freight_core::ids::BatchId::new(),
        table_name: "ghost".into(),
        key_start: None,
        key_end: None,
        record_error_budget: 0,
    };
    match engine.run_batch(&j, &batch).await {
        Err(EngineError::Permanent(m)) => assert!(m.contains("ghost"), "{m}"),
        other => panic!("expected Permanent, got {other:?}"),
    }
    dbs.cleanup().await;
}

#[tokio::test]
async fn errors_never_contain_passwords() {
    let dbs = Dbs::new().await;
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let secret = "Sup3rS3cretPw";
    let cases = [
        config(
            DatabaseKind::Postgresql,
            &format!("postgres://nobody:{secret}@127.0.0.1:5432/nope_db"),
            None,
        ),
        config(
            DatabaseKind::Mysql,
            &format!("mysql://nobody:{secret}@127.0.0.1:3306/nope_db"),
            None,
        ),
        config(
            DatabaseKind::Postgresql,
            &format!("postgres://nobody:{secret}@127.0.0.1:1/nope_db"),
            None,
        ),
    ];
    for source in cases {
        let j = job(source, dbs.pg("public"), &[], 10);
        let err = engine.plan(&j, false).await.expect_err("unreachable");
        let text = format!("{err} {err:?}");
        assert!(!text.contains(secret), "{text}");
        assert!(text.contains("source"), "{text}");
    }
    dbs.cleanup().await;
}

#[tokio::test]
async fn a_failure_met_on_the_target_table_says_it_was_the_target() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute("CREATE TABLE items (id int PRIMARY KEY); INSERT INTO items VALUES (1);")
        .await
        .expect("source");
    // A target file that is no SQLite database: the source's `items` reads
    // fine, the target's cannot be measured.
    std::fs::write(dbs.sqlite_path("garbage"), vec![b'x'; 4096]).expect("garbage file");
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let j = job(dbs.mysql(), dbs.sqlite("garbage"), &["items"], 10);
    let message = match engine.plan(&j, false).await {
        Err(EngineError::Permanent(m) | EngineError::Transient(m)) => m,
        other => panic!("expected a planning failure, got {other:?}"),
    };
    assert!(message.contains("the target"), "{message}");
    dbs.cleanup().await;
}
