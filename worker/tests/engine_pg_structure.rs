//! What a table is besides its columns: PostgreSQL inheritance and
//! partitioning, exclusion constraints, triggers and table comments. Each
//! row arrives once, in its own table, and validation counts it once; what
//! the target cannot have is a plan (or finish) warning naming it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "engine_support/mod.rs"]
mod support;

use freight_core::ids::BatchId;
use freight_core::policy::ConnectionPolicy;
use freight_worker::engine::{Engine, JobContext, JobPlan, RangeToValidate};
use sqlx::Executor;
use support::{Dbs, config, job, migrate};

/// Rows per table the source holds, compared by validation: (matched, source rows, target rows).
async fn validate_all(
    engine: &Engine,
    job: &JobContext,
    plan: &JobPlan,
    table: &str,
) -> (bool, i64, i64) {
    let mut out = (true, 0, 0);
    for b in plan.batches.iter().filter(|b| b.table_name == table) {
        let range = RangeToValidate {
            batch_id: BatchId::new(),
            table_name: b.table_name.clone(),
            key_start: b.key_start.clone(),
            key_end: b.key_end.clone(),
        };
        let check = engine.validate_range(job, &range).await.expect("validate");
        out.0 &= check.matched;
        out.1 += check.source.rows;
        out.2 += check.target.rows;
    }
    out
}

/// Rows of a table on the job's target.
async fn target_count(dbs: &Dbs, job: &JobContext, table: &str) -> i64 {
    use freight_core::connection::DatabaseKind;
    let count = match job.target.kind {
        DatabaseKind::Postgresql => {
            let pool = dbs.pg_pool().await;
            let n = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT count(*) FROM dst.{table}"
            )))
            .fetch_one(&pool)
            .await;
            pool.close().await;
            n
        }
        DatabaseKind::Mysql => {
            let pool = dbs.my_pool().await;
            let n =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                    .fetch_one(&pool)
                    .await;
            pool.close().await;
            n
        }
        DatabaseKind::Sqlite => {
            let pool = dbs.sqlite_pool("t").await;
            let n =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                    .fetch_one(&pool)
                    .await;
            pool.close().await;
            n
        }
    };
    count.expect("count")
}

fn warnings_of<'a>(plan: &'a JobPlan, table: &str) -> &'a [String] {
    &plan
        .report
        .tables
        .iter()
        .find(|t| t.table_name == table)
        .expect("table planned")
        .warnings
}

fn has(warnings: &[String], parts: &[&str]) -> bool {
    warnings.iter().any(|w| parts.iter().all(|p| w.contains(p)))
}

#[tokio::test]
async fn inherited_rows_arrive_once_in_their_own_table_on_every_target() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    pg.execute(
        "CREATE SCHEMA src;
         CREATE TABLE src.city_base (id serial PRIMARY KEY, name text);
         CREATE TABLE src.capital (state char(2)) INHERITS (src.city_base);
         INSERT INTO src.city_base (name) SELECT 'city ' || g FROM generate_series(1, 200) g;
         INSERT INTO src.capital (name, state) SELECT 'capital ' || g, 'S' || (g % 10) FROM generate_series(1, 50) g;
         CREATE TABLE src.events (id int, d date, PRIMARY KEY (id, d)) PARTITION BY RANGE (d);
         CREATE TABLE src.events_2024 PARTITION OF src.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
         CREATE TABLE src.events_2025 PARTITION OF src.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
         INSERT INTO src.events SELECT g, DATE '2024-06-01' + g * 7 FROM generate_series(1, 60) g;
         ANALYZE;",
    )
    .await
    .expect("source");
    let engine = Engine::new(ConnectionPolicy::for_local_user());
    let targets = [
        ("postgres", dbs.pg("dst")),
        ("mariadb", dbs.mysql()),
        ("sqlite", dbs.sqlite("t")),
    ];
    for (label, target) in targets {
        let j = job(
            dbs.pg("src"),
            target,
            &["city_base", "capital", "events"],
            50,
        );
        let (plan, _) = migrate(&engine, &j).await;
        let planned = |t: &str| {
            plan.report
                .tables
                .iter()
                .find(|p| p.table_name == t)
                .map(|p| p.rows_estimate)
        };
        assert_eq!(planned("city_base"), Some(200), "{label}: planned rows");
        assert_eq!(planned("capital"), Some(50), "{label}: planned rows");
        assert_eq!(target_count(&dbs, &j, "city_base").await, 200, "{label}");
        assert_eq!(target_count(&dbs, &j, "capital").await, 50, "{label}");
        assert_eq!(target_count(&dbs, &j, "events").await, 60, "{label}");

        // Validation reads the parent with ONLY too: 200 rows each side.
        let (matched, source_rows, target_rows) =
            validate_all(&engine, &j, &plan, "city_base").await;
        assert!(matched, "{label}: city_base validates");
        assert_eq!((source_rows, target_rows), (200, 200), "{label}");
        let (matched, source_rows, _) = validate_all(&engine, &j, &plan, "events").await;
        assert!(matched, "{label}: events validates");
        assert_eq!(source_rows, 60, "{label}");

        let base = warnings_of(&plan, "city_base");
        assert!(
            has(
                base,
                &["city_base has inheritance children (capital)", "ONLY"]
            ),
            "{label}: {base:?}"
        );
        assert!(
            has(
                base,
                &["column id", "city_base_id_seq", "capital.id", "same id"]
            ),
            "{label}: {base:?}"
        );
        let capital = warnings_of(&plan, "capital");
        assert!(
            has(
                capital,
                &["capital inherits from city_base", "separate table"]
            ),
            "{label}: {capital:?}"
        );
        let events = warnings_of(&plan, "events");
        assert!(
            has(
                events,
                &[
                    "events is partitioned",
                    "unpartitioned",
                    "events_2024, events_2025"
                ]
            ),
            "{label}: {events:?}"
        );
        engine.release_job(j.job_id).await;
    }
    // On PostgreSQL the partitioned table arrives as a plain one.
    let kind: String =
        sqlx::query_scalar("SELECT relkind::text FROM pg_class WHERE oid = 'dst.events'::regclass")
            .fetch_one(&pg)
            .await
            .expect("relkind");
    assert_eq!(kind, "r");
    pg.close().await;
    dbs.cleanup().await;
}

const BOOKINGS: &str = "CREATE EXTENSION IF NOT EXISTS btree_gist;
     CREATE SCHEMA src;
     CREATE TABLE src.booking (id int PRIMARY KEY, room int NOT NULL, during tsrange NOT NULL,
        CONSTRAINT booking_no_overlap EXCLUDE USING gist (room WITH =, during WITH &&));
     INSERT INTO src.booking VALUES
        (1, 1, '[2024-01-01 10:00, 2024-01-01 11:00)'),
        (2, 1, '[2024-01-01 11:00, 2024-01-01 12:00)'),
        (3, 2, '[2024-01-01 10:00, 2024-01-01 11:00)');";

#[tokio::test]
async fn an_exclusion_constraint_arrives_as_a_constraint_on_postgres() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    pg.execute(BOOKINGS).await.expect("source");
    let engine = Engine::new(ConnectionPolicy::for_local_user());
    let j = job(dbs.pg("src"), dbs.pg("dst"), &["booking"], 10);
    let (plan, _) = migrate(&engine, &j).await;
    let ddl = &plan.report.tables[0].target_ddl;
    assert!(
        ddl.iter()
            .any(|d| d.contains("ADD CONSTRAINT \"booking_no_overlap\" EXCLUDE USING gist")),
        "{ddl:?}"
    );
    assert!(
        ddl.iter().all(|d| !d.contains("CREATE INDEX")),
        "never a plain index: {ddl:?}"
    );
    let def: String = sqlx::query_scalar(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint
         WHERE conrelid = 'dst.booking'::regclass AND contype = 'x'",
    )
    .fetch_one(&pg)
    .await
    .expect("exclusion constraint on the target");
    assert!(
        def.contains("room WITH =") && def.contains("during WITH &&"),
        "{def}"
    );
    let overlapping = sqlx::query(
        "INSERT INTO dst.booking VALUES (9, 1, '[2024-01-01 10:30, 2024-01-01 10:45)')",
    )
    .execute(&pg)
    .await;
    assert!(overlapping.is_err(), "the constraint is enforced");
    // Finishing again keeps it (no duplicate, no warning).
    let warnings = engine.finish_job(&j).await.expect("finish");
    assert!(warnings.is_empty(), "{warnings:?}");
    engine.release_job(j.job_id).await;

    // A database without btree_gist: the constraint cannot be created, and
    // the warning says so (no plain index stands in for it).
    let (url, other) = dbs.second_pg().await;
    let j = job(
        dbs.pg("src"),
        config(
            freight_core::connection::DatabaseKind::Postgresql,
            &url,
            Some("public"),
        ),
        &["booking"],
        10,
    );
    migrate(&engine, &j).await;
    let warnings = engine.finish_job(&j).await.expect("finish");
    assert!(
        has(
            &warnings,
            &[
                "exclusion constraint booking_no_overlap",
                "was not recreated",
                "btree_gist"
            ]
        ),
        "{warnings:?}"
    );
    let indexes: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_index WHERE indrelid = 'public.booking'::regclass AND NOT indisprimary",
    )
    .fetch_one(&other)
    .await
    .expect("indexes");
    assert_eq!(indexes, 0);
    engine.release_job(j.job_id).await;
    other.close().await;
    dbs.drop_second().await;

    // MariaDB and SQLite have no exclusion constraints: the plan says it is lost.
    for target in [dbs.mysql(), dbs.sqlite("t")] {
        let j = job(dbs.pg("src"), target, &["booking"], 10);
        let plan = engine.plan(&j, false).await.expect("plan");
        let warnings = warnings_of(&plan, "booking");
        assert!(
            has(
                warnings,
                &["exclusion constraint booking_no_overlap", "is lost"]
            ),
            "{warnings:?}"
        );
        assert!(!has(warnings, &["uses gist"]), "{warnings:?}");
    }
    pg.close().await;
    dbs.cleanup().await;
}

const ACCOUNT: &str = "CREATE TABLE account (id int PRIMARY KEY, balance int,
        touched datetime(6) DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6))
        COMMENT='customer accounts; it''s the ledger';
     CREATE TRIGGER account_audit BEFORE UPDATE ON account FOR EACH ROW SET NEW.balance = NEW.balance;
     INSERT INTO account (id, balance) VALUES (1, 10), (2, 20);";

const COMMENT: &str = "customer accounts; it's the ledger";

#[tokio::test]
async fn table_comments_arrive_on_postgres_and_mariadb_and_sqlite_says_it_has_none() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute(ACCOUNT).await.expect("mysql source");
    let engine = Engine::new(ConnectionPolicy::for_local_user());

    let j = job(dbs.mysql(), dbs.pg("dst"), &["account"], 10);
    migrate(&engine, &j).await;
    engine.release_job(j.job_id).await;
    let pg = dbs.pg_pool().await;
    let comment: Option<String> =
        sqlx::query_scalar("SELECT obj_description('dst.account'::regclass, 'pg_class')")
            .fetch_one(&pg)
            .await
            .expect("comment");
    assert_eq!(comment.as_deref(), Some(COMMENT));

    // Back from PostgreSQL into another MariaDB database.
    let (url, other) = dbs.second_mysql().await;
    let j = job(
        dbs.pg("dst"),
        config(freight_core::connection::DatabaseKind::Mysql, &url, None),
        &["account"],
        10,
    );
    migrate(&engine, &j).await;
    engine.release_job(j.job_id).await;
    let comment: String = sqlx::query_scalar(
        "SELECT CAST(table_comment AS CHAR) FROM information_schema.tables
         WHERE table_schema = DATABASE() AND table_name = 'account'",
    )
    .fetch_one(&other)
    .await
    .expect("mysql comment");
    assert_eq!(comment, COMMENT);
    other.close().await;
    dbs.drop_second().await;

    let j = job(dbs.mysql(), dbs.sqlite("t"), &["account"], 10);
    let plan = engine.plan(&j, false).await.expect("plan");
    assert!(
        has(
            warnings_of(&plan, "account"),
            &["comment of table account is not kept: SQLite has none"]
        ),
        "{:?}",
        plan.report
    );
    pg.close().await;
    my.close().await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn user_triggers_are_named_in_the_plan_from_every_source() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute(ACCOUNT).await.expect("mysql source");
    let engine = Engine::new(ConnectionPolicy::for_local_user());

    // MariaDB -> PostgreSQL (where Freight makes its own ON UPDATE trigger).
    let j = job(dbs.mysql(), dbs.pg("dst"), &["account"], 10);
    let (plan, _) = migrate(&engine, &j).await;
    engine.release_job(j.job_id).await;
    let warnings = warnings_of(&plan, "account");
    assert!(
        has(warnings, &["trigger(s) account_audit are not recreated"]),
        "{warnings:?}"
    );

    // PostgreSQL -> MariaDB: a user trigger is named; Freight's own is the
    // column's ON UPDATE clause again, not a lost trigger.
    let pg = dbs.pg_pool().await;
    pg.execute(
        "CREATE FUNCTION dst.noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
         CREATE TRIGGER account_guard BEFORE INSERT ON dst.account FOR EACH ROW EXECUTE FUNCTION dst.noop();",
    )
    .await
    .expect("pg trigger");
    let (url, other) = dbs.second_mysql().await;
    let j = job(
        dbs.pg("dst"),
        config(freight_core::connection::DatabaseKind::Mysql, &url, None),
        &["account"],
        10,
    );
    let (plan, _) = migrate(&engine, &j).await;
    engine.release_job(j.job_id).await;
    let warnings = warnings_of(&plan, "account");
    assert!(
        has(warnings, &["trigger(s) account_guard are not recreated"]),
        "{warnings:?}"
    );
    assert!(
        !has(warnings, &["account_touched_on_update"]),
        "{warnings:?}"
    );
    let extra: String = sqlx::query_scalar(
        "SELECT CAST(extra AS CHAR) FROM information_schema.columns
         WHERE table_schema = DATABASE() AND table_name = 'account' AND column_name = 'touched'",
    )
    .fetch_one(&other)
    .await
    .expect("mysql column");
    assert!(extra.to_lowercase().contains("on update"), "{extra}");
    other.close().await;
    dbs.drop_second().await;

    // SQLite.
    let lite = dbs.sqlite_pool("src").await;
    lite.execute(
        "CREATE TABLE item (id INTEGER PRIMARY KEY, qty INTEGER);
         CREATE TRIGGER item_log AFTER INSERT ON item BEGIN SELECT 1; END;
         INSERT INTO item VALUES (1, 2);",
    )
    .await
    .expect("sqlite source");
    lite.close().await;
    let j = job(dbs.sqlite("src"), dbs.pg("lite"), &["item"], 10);
    let plan = engine.plan(&j, false).await.expect("plan");
    assert!(
        has(
            warnings_of(&plan, "item"),
            &["trigger(s) item_log are not recreated"]
        ),
        "{:?}",
        plan.report
    );
    pg.close().await;
    my.close().await;
    dbs.cleanup().await;
}
