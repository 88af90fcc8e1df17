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

/// (column, comment) of a PostgreSQL table's commented columns.
async fn pg_comments(pg: &sqlx::PgPool, table: &str) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT a.attname::text, col_description(a.attrelid, a.attnum)
         FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0
           AND col_description(a.attrelid, a.attnum) IS NOT NULL ORDER BY a.attnum",
    )
    .bind(table)
    .fetch_all(pg)
    .await
    .expect("pg comments")
}

#[tokio::test]
async fn column_comments_arrive_and_generated_columns_are_named() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute(
        "CREATE TABLE priced (id int PRIMARY KEY COMMENT 'the order''s number',
            net decimal(10,2) NOT NULL COMMENT 'before tax',
            gross decimal(10,2) AS (net * 1.2) STORED, note text, KEY note_prefix (note(20)));
         INSERT INTO priced (id, net, note) VALUES (1, 10.00, 'a'), (2, 2.50, NULL);
         CREATE VIEW priced_view AS SELECT id, gross FROM priced;",
    )
    .await
    .expect("source");
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let j = job(dbs.mysql(), dbs.pg("public"), &["priced"], 10);
    let (plan, _) = migrate(&engine, &j).await;
    let warnings = plan.report.tables[0].warnings.join("\n");
    // `net * 1.2` translates: a generated column on PostgreSQL too.
    assert!(!warnings.contains("column gross"), "{warnings}");
    assert!(
        warnings.contains("index note_prefix indexes prefixes (note(20))"),
        "{warnings}"
    );
    let job_warnings = plan.report.warnings.join("\n");
    assert!(
        job_warnings.contains("view priced_view is recreated on the target"),
        "{job_warnings}"
    );
    let pg = dbs.pg_pool().await;
    assert_eq!(
        pg_comments(&pg, "priced").await,
        vec![
            ("id".to_owned(), "the order's number".to_owned()),
            ("net".to_owned(), "before tax".to_owned())
        ]
    );
    let gross: Vec<String> = sqlx::query_scalar("SELECT gross::text FROM priced ORDER BY id")
        .fetch_all(&pg)
        .await
        .expect("gross");
    assert_eq!(
        gross,
        ["12.00", "3.00"],
        "the target computes the same values"
    );
    let generated: bool = sqlx::query_scalar(
        "SELECT attgenerated = 's' FROM pg_attribute WHERE attrelid = 'priced'::regclass AND attname = 'gross'",
    )
    .fetch_one(&pg)
    .await
    .expect("gross");
    assert!(generated);

    // Back from PostgreSQL: comments onto MariaDB columns; a generated
    // column stays generated.
    pg.execute(
        "CREATE TABLE shipped (id int PRIMARY KEY, w numeric(8,2), w2 numeric GENERATED ALWAYS AS (w * 2) STORED);
         COMMENT ON COLUMN shipped.w IS 'weight, kg';
         INSERT INTO shipped (id, w) VALUES (1, 1.5);",
    )
    .await
    .expect("pg source");
    let back = job(dbs.pg("public"), dbs.mysql(), &["shipped"], 10);
    let (plan, _) = migrate(&engine, &back).await;
    let warnings = plan.report.tables[0].warnings.join("\n");
    assert!(!warnings.contains("column w2: generated"), "{warnings}");
    let w2: (String, String) = sqlx::query_as(
        "SELECT CAST(extra AS CHAR), CAST(generation_expression AS CHAR) FROM information_schema.columns
         WHERE table_schema = DATABASE() AND table_name = 'shipped' AND column_name = 'w2'",
    )
    .fetch_one(&my)
    .await
    .expect("w2");
    assert!(
        w2.0.contains("STORED GENERATED") && w2.1.contains("`w` * 2"),
        "{w2:?}"
    );
    let comment: String = sqlx::query_scalar(
        "SELECT CAST(column_comment AS CHAR) FROM information_schema.columns
         WHERE table_schema = DATABASE() AND table_name = 'shipped' AND column_name = 'w'",
    )
    .fetch_one(&my)
    .await
    .expect("comment");
    assert_eq!(comment, "weight, kg");
    dbs.cleanup().await;
}
