//! Foreign keys keep their ON DELETE / ON UPDATE actions and CHECK
//! constraints arrive on the target; a check that does not translate is a
//! plan warning naming it.

#[path = "engine_support/mod.rs"]
mod support;

use freight_worker::engine::Engine;
use sqlx::{Executor, Row};
use support::{Dbs, job, migrate};

/// (constraint name, definition) of the CHECK constraints of a PostgreSQL table.
async fn pg_checks(pg: &sqlx::PgPool, table: &str) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT conname::text, pg_get_constraintdef(oid) FROM pg_constraint
         WHERE conrelid = $1::regclass AND contype = 'c' ORDER BY conname",
    )
    .bind(table)
    .fetch_all(pg)
    .await
    .expect("pg checks")
}

#[tokio::test]
async fn mariadb_foreign_key_actions_and_checks_arrive_on_postgres() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute(
        "CREATE TABLE parent (id int PRIMARY KEY, code char(3) NOT NULL);
         CREATE TABLE child (id int PRIMARY KEY, parent_id int, qty int CHECK (qty > 0), code varchar(10),
            CONSTRAINT ck_code CHECK (char_length(code) = 3 OR code IS NULL),
            CONSTRAINT ck_regex CHECK (code REGEXP '^[a-z]+$'),
            CONSTRAINT fk_child_parent FOREIGN KEY (parent_id) REFERENCES parent (id)
                ON DELETE CASCADE ON UPDATE SET NULL);
         INSERT INTO parent VALUES (1, 'abc'), (2, 'def');
         INSERT INTO child VALUES (1, 1, 5, 'abc'), (2, 1, 1, NULL), (3, 2, 7, 'xyz');",
    )
    .await
    .expect("source");
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let j = job(dbs.mysql(), dbs.pg("public"), &["parent", "child"], 10);
    let (plan, _) = migrate(&engine, &j).await;
    let child = plan
        .report
        .tables
        .iter()
        .find(|t| t.table_name == "child")
        .expect("child planned");
    assert!(
        child
            .warnings
            .iter()
            .any(|w| w.contains("ck_regex") && w.contains("not recreated")),
        "{:?}",
        child.warnings
    );
    assert!(
        child
            .target_ddl
            .iter()
            .any(|d| d.contains("ON DELETE CASCADE ON UPDATE SET NULL")),
        "{:?}",
        child.target_ddl
    );

    let pg = dbs.pg_pool().await;
    let actions: (String, String) = sqlx::query_as(
        "SELECT confdeltype::text, confupdtype::text FROM pg_constraint
         WHERE conrelid = 'public.child'::regclass AND contype = 'f'",
    )
    .fetch_one(&pg)
    .await
    .expect("fk");
    assert_eq!(actions, ("c".to_owned(), "n".to_owned()));
    let checks = pg_checks(&pg, "public.child").await;
    let names: Vec<&str> = checks.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["child_ck_code", "child_qty"], "{checks:?}");
    assert!(checks[0].1.contains("char_length"), "{checks:?}");
    // They hold: a bad row is refused, a deleted parent takes its children.
    let refused = sqlx::query("INSERT INTO child VALUES (9, 2, 0, NULL)")
        .execute(&pg)
        .await;
    assert!(refused.is_err(), "qty > 0 must be enforced");
    sqlx::query("DELETE FROM parent WHERE id = 1")
        .execute(&pg)
        .await
        .expect("delete parent");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM child")
        .fetch_one(&pg)
        .await
        .expect("count");
    assert_eq!(left, 1);
    engine.release_job(j.job_id).await;
    pg.close().await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn postgres_foreign_key_actions_and_checks_arrive_on_mariadb() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    pg.execute(
        "CREATE SCHEMA src;
         CREATE TABLE src.parent (id int PRIMARY KEY);
         CREATE TABLE src.child (id int PRIMARY KEY,
            parent_id int REFERENCES src.parent (id) ON DELETE SET NULL ON UPDATE CASCADE,
            amount numeric(10,2) CONSTRAINT amount_positive CHECK (amount > 0),
            status text CHECK (status <> 'bad'),
            tags text[] CHECK (cardinality(tags) < 5));
         INSERT INTO src.parent VALUES (1), (2);
         INSERT INTO src.child VALUES (1, 1, 9.5, 'ok', NULL), (2, 2, 1, NULL, '{a}');",
    )
    .await
    .expect("source");
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let j = job(dbs.pg("src"), dbs.mysql(), &["parent", "child"], 10);
    let (plan, _) = migrate(&engine, &j).await;
    let child = plan
        .report
        .tables
        .iter()
        .find(|t| t.table_name == "child")
        .expect("child planned");
    assert!(
        child
            .warnings
            .iter()
            .any(|w| w.contains("child_tags_check") && w.contains("not recreated")),
        "{:?}",
        child.warnings
    );

    let my = dbs.my_pool().await;
    let rules = sqlx::query(
        "SELECT CAST(delete_rule AS CHAR), CAST(update_rule AS CHAR)
         FROM information_schema.referential_constraints
         WHERE constraint_schema = DATABASE() AND table_name = 'child'",
    )
    .fetch_one(&my)
    .await
    .expect("fk rules");
    assert_eq!(rules.get::<String, _>(0), "SET NULL");
    assert_eq!(rules.get::<String, _>(1), "CASCADE");
    let mut checks: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(constraint_name AS CHAR) FROM information_schema.check_constraints
         WHERE constraint_schema = DATABASE() AND table_name = 'child'",
    )
    .fetch_all(&my)
    .await
    .expect("checks");
    checks.sort();
    assert_eq!(checks, ["amount_positive", "child_status_check"]);
    let refused = sqlx::query("INSERT INTO child (id, amount) VALUES (9, -1)")
        .execute(&my)
        .await;
    assert!(refused.is_err(), "amount > 0 must be enforced");
    engine.release_job(j.job_id).await;
    pg.close().await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn sqlite_foreign_key_actions_and_checks_arrive_on_postgres() {
    let dbs = Dbs::new().await;
    let lite = dbs.sqlite_pool("src").await;
    lite.execute(
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);
         CREATE TABLE child (id INTEGER PRIMARY KEY,
            parent_id INTEGER REFERENCES parent (id) ON DELETE CASCADE ON UPDATE RESTRICT,
            qty INTEGER CHECK (qty > 0),
            CONSTRAINT small CHECK (qty < 100));
         INSERT INTO parent VALUES (1);
         INSERT INTO child VALUES (1, 1, 3);",
    )
    .await
    .expect("source");
    lite.close().await;
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let j = job(
        dbs.sqlite("src"),
        dbs.pg("public"),
        &["parent", "child"],
        10,
    );
    migrate(&engine, &j).await;
    let pg = dbs.pg_pool().await;
    let actions: (String, String) = sqlx::query_as(
        "SELECT confdeltype::text, confupdtype::text FROM pg_constraint
         WHERE conrelid = 'public.child'::regclass AND contype = 'f'",
    )
    .fetch_one(&pg)
    .await
    .expect("fk");
    assert_eq!(actions, ("c".to_owned(), "r".to_owned()));
    let checks = pg_checks(&pg, "public.child").await;
    let names: Vec<&str> = checks.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["child_check1", "small"], "{checks:?}");
    engine.release_job(j.job_id).await;
    pg.close().await;
    dbs.cleanup().await;
}
