//! Tables without a key are copied whole, in one batch that clears and
//! refills the target table; a key the source does not declare can be named
//! in the job (`key_columns`) to cut such a table in ranges.

#[path = "engine_support/mod.rs"]
mod support;

use freight_core::plan::{CopyMode, PlanError, Planner};
use freight_worker::engine::{Engine, EngineError, EnginePlanner};
use sqlx::Executor;
use support::{Dbs, job, migrate, to_run};

/// Rows of `logs` on MariaDB, sorted (duplicates kept).
async fn my_rows(pool: &sqlx::MySqlPool, table: &str) -> Vec<(Option<String>, Option<i32>)> {
    let mut rows: Vec<(Option<String>, Option<i32>)> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT msg, n FROM {table}")))
            .fetch_all(pool)
            .await
            .expect("mysql rows");
    rows.sort();
    rows
}

async fn pg_rows(pool: &sqlx::PgPool, table: &str) -> Vec<(Option<String>, Option<i32>)> {
    let mut rows: Vec<(Option<String>, Option<i32>)> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT msg, n FROM {table}")))
            .fetch_all(pool)
            .await
            .expect("pg rows");
    rows.sort();
    rows
}

#[tokio::test]
async fn a_keyless_mariadb_table_is_copied_whole_and_a_rerun_leaves_the_same_rows() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute(
        "CREATE TABLE logs (msg varchar(50), n int);
         INSERT INTO logs VALUES ('a', 1), ('a', 1), ('a', 1), ('b', NULL), (NULL, 2), ('c', 3), ('c', 3);",
    )
    .await
    .expect("source");
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    // batch_size 2 would cut 4 ranges if the table had a key.
    let job = job(dbs.mysql(), dbs.pg("public"), &["logs"], 2);
    let (plan, outcomes) = migrate(&engine, &job).await;
    let table = &plan.report.tables[0];
    assert_eq!(table.copy_mode, CopyMode::WholeTable);
    assert!(table.key_columns.is_empty());
    assert_eq!(table.batch_count, 1);
    assert_eq!(table.rows_estimate, 7);
    assert!(
        table.warnings.iter().any(|w| w.contains("copied whole")),
        "{:?}",
        table.warnings
    );
    assert_eq!(plan.batches.len(), 1);
    assert!(plan.batches[0].key_start.is_none() && plan.batches[0].key_end.is_none());
    assert_eq!(outcomes[0].rows_read, 7);
    assert_eq!(outcomes[0].rows_written, 7);

    let pg = dbs.pg_pool().await;
    let source = my_rows(&my, "logs").await;
    assert_eq!(pg_rows(&pg, "logs").await, source);

    // A retry of the batch copies the table whole again: same rows, no duplicates.
    let again = engine
        .run_batch(&job, &to_run(&plan.batches[0], 0))
        .await
        .expect("rerun");
    assert_eq!(again.verified, Some(true), "{:?}", again.verify_detail);
    assert_eq!(again.rows_written, 7);
    assert_eq!(pg_rows(&pg, "logs").await, source);
    // The target table has no key either (nothing to make one from).
    let pk: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_constraint WHERE conrelid = 'public.logs'::regclass AND contype = 'p'",
    )
    .fetch_one(&pg)
    .await
    .expect("pk");
    assert_eq!(pk, 0);
    engine.release_job(job.job_id).await;
    pg.close().await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn a_keyless_postgres_table_is_copied_whole_to_mariadb_and_sqlite() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    pg.execute(
        "CREATE SCHEMA src; CREATE TABLE src.logs (msg text, n int);
         INSERT INTO src.logs VALUES ('x', 1), ('x', 1), (NULL, NULL), (NULL, NULL), ('y', 2);",
    )
    .await
    .expect("source");
    let source = pg_rows(&pg, "src.logs").await;
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());

    let to_mysql = job(dbs.pg("src"), dbs.mysql(), &["logs"], 1);
    let (plan, _) = migrate(&engine, &to_mysql).await;
    assert_eq!(plan.report.tables[0].copy_mode, CopyMode::WholeTable);
    assert_eq!(plan.batches.len(), 1);
    let my = dbs.my_pool().await;
    assert_eq!(my_rows(&my, "logs").await, source);
    let again = engine
        .run_batch(&to_mysql, &to_run(&plan.batches[0], 0))
        .await
        .expect("rerun");
    assert_eq!(again.verified, Some(true), "{:?}", again.verify_detail);
    assert_eq!(my_rows(&my, "logs").await, source);

    let to_sqlite = job(dbs.pg("src"), dbs.sqlite("t"), &["logs"], 1);
    let (plan, _) = migrate(&engine, &to_sqlite).await;
    engine
        .run_batch(&to_sqlite, &to_run(&plan.batches[0], 0))
        .await
        .expect("rerun");
    let lite = dbs.sqlite_pool("t").await;
    let mut got: Vec<(Option<String>, Option<i32>)> = sqlx::query_as("SELECT msg, n FROM logs")
        .fetch_all(&lite)
        .await
        .expect("sqlite rows");
    got.sort();
    assert_eq!(got, source);

    // A batch planned as a key range cannot run on a table without a key.
    let mut stale = to_run(&plan.batches[0], 0);
    stale.key_start = Some(serde_json::json!([1]));
    match engine.run_batch(&to_sqlite, &stale).await {
        Err(EngineError::Permanent(m)) => assert!(m.contains("no key"), "{m}"),
        other => panic!("expected Permanent, got {other:?}"),
    }
    for j in [&to_mysql, &to_sqlite] {
        engine.release_job(j.job_id).await;
    }
    lite.close().await;
    pg.close().await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn key_columns_named_in_the_job_cut_a_keyless_table_in_ranges() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    // `n` is not unique: five rows share n = 1, more than a batch of 2.
    my.execute(
        "CREATE TABLE logs (msg varchar(50), n int NOT NULL);
         INSERT INTO logs VALUES ('a', 1), ('a', 1), ('b', 1), ('c', 1), ('d', 1),
             ('e', 2), ('f', 3), ('f', 3), ('g', 4), ('h', 5), ('i', 6);",
    )
    .await
    .expect("source");
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let mut j = job(dbs.mysql(), dbs.pg("public"), &["logs"], 2);
    j.key_columns.insert("logs".into(), vec!["N".into()]);
    let (plan, outcomes) = migrate(&engine, &j).await;
    let table = &plan.report.tables[0];
    assert_eq!(table.copy_mode, CopyMode::KeyRanges);
    assert_eq!(table.key_columns, ["n"]);
    assert!(plan.batches.len() >= 4, "{:?}", plan.batches);
    assert_eq!(outcomes.iter().map(|o| o.rows_written).sum::<i64>(), 11);
    let pg = dbs.pg_pool().await;
    let source = my_rows(&my, "logs").await;
    assert_eq!(pg_rows(&pg, "logs").await, source);
    // Re-running every range leaves the same rows.
    for b in &plan.batches {
        engine.run_batch(&j, &to_run(b, 0)).await.expect("rerun");
    }
    assert_eq!(pg_rows(&pg, "logs").await, source);
    // The named key is not made a primary key on the target: it need not be unique.
    let pk: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_constraint WHERE conrelid = 'public.logs'::regclass AND contype = 'p'",
    )
    .fetch_one(&pg)
    .await
    .expect("pk");
    assert_eq!(pk, 0);
    engine.release_job(j.job_id).await;
    pg.close().await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn unknown_or_nullable_key_columns_are_invalid_and_named() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute(
        "CREATE TABLE logs (msg varchar(50), n int);
         INSERT INTO logs VALUES ('a', 1), ('b', NULL);
         CREATE TABLE other (id int PRIMARY KEY);",
    )
    .await
    .expect("source");
    let spec = |key_columns: serde_json::Value| -> freight_core::job::JobSpec {
        serde_json::from_value(serde_json::json!({
            "source_config": {"type": "mysql", "url": dbs.my_url()},
            "target_config": {"type": "postgresql", "url": dbs.pg_url()},
            "tables": ["logs"],
            "key_columns": key_columns,
            "started_by": "test"
        }))
        .expect("spec")
    };
    for (key_columns, expect) in [
        (serde_json::json!({"logs": ["nope"]}), "nope"),
        (serde_json::json!({"logs": ["n"]}), "NULL"),
        (serde_json::json!({"other": ["id"]}), "other"),
    ] {
        match EnginePlanner::new(freight_worker::engine::Engine::new(
            freight_core::policy::ConnectionPolicy::for_local_user(),
        ))
        .plan(
            &freight_core::TenantId::parse("keyless").unwrap(),
            &spec(key_columns.clone()),
        )
        .await
        {
            Err(PlanError::Invalid(e)) => {
                assert_eq!(e.0[0].field, "key_columns", "{e:?}");
                assert!(e.0[0].message.contains(expect), "{e:?}");
            }
            other => panic!("{key_columns}: expected Invalid, got {other:?}"),
        }
    }
    // A non-null named column plans fine.
    let report = EnginePlanner::new(freight_worker::engine::Engine::new(
        freight_core::policy::ConnectionPolicy::for_local_user(),
    ))
    .plan(
        &freight_core::TenantId::parse("keyless").unwrap(),
        &spec(serde_json::json!({"logs": ["msg"]})),
    )
    .await
    .expect("plan");
    assert_eq!(report.tables[0].copy_mode, CopyMode::KeyRanges);
    dbs.cleanup().await;
}
