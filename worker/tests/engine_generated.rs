//! Generated columns arrive as generated columns where their expression
//! translates (and the copy leaves them to the target), else as plain
//! columns holding the source's values, named in a plan warning.

#[path = "engine_support/mod.rs"]
mod support;

use freight_worker::engine::Engine;
use sqlx::Executor;
use support::{Dbs, job, migrate};

fn md5_hex(text: &str) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(text.as_bytes()))
}

#[tokio::test]
async fn mysql_generated_columns_become_postgres_generated_columns_where_they_translate() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute(
        "CREATE TABLE items (id int PRIMARY KEY, price decimal(10,2) NOT NULL, qty int NOT NULL,
             total decimal(12,2) AS (price * qty) STORED,
             first varchar(20), last varchar(20),
             full_name varchar(41) AS (concat(lower(first), ' ', last)) VIRTUAL,
             fancy char(32) AS (md5(first)) STORED);
         INSERT INTO items (id, price, qty, first, last) VALUES
             (1, 2.50, 4, 'Ada', 'Lovelace'), (2, 1.25, 3, 'Alan', NULL);",
    )
    .await
    .expect("source");
    my.close().await;
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let j = job(dbs.mysql(), dbs.pg("public"), &["items"], 10);
    let (plan, _) = migrate(&engine, &j).await;
    let table = &plan.report.tables[0];
    let ddl = table.target_ddl.join("\n");
    assert!(
        ddl.contains("\"total\" numeric(12,2) GENERATED ALWAYS AS ((\"price\" * \"qty\")) STORED"),
        "{ddl}"
    );
    assert!(
        ddl.contains("GENERATED ALWAYS AS ((lower(\"first\") || ' ' || \"last\")) STORED"),
        "{ddl}"
    );
    let warnings = table.warnings.join("\n");
    assert!(
        warnings.contains("column fancy: generated column (md5(`first`))")
            && warnings.contains("plain column"),
        "{warnings}"
    );
    assert!(!warnings.contains("column total"), "{warnings}");

    let pg = dbs.pg_pool().await;
    let generated: Vec<String> = sqlx::query_scalar(
        "SELECT attname::text FROM pg_attribute WHERE attrelid = 'items'::regclass
         AND attgenerated = 's' ORDER BY attnum",
    )
    .fetch_all(&pg)
    .await
    .expect("generated columns");
    assert_eq!(generated, ["total", "full_name"]);
    type Item = (i32, String, Option<String>, Option<String>);
    let rows: Vec<Item> =
        sqlx::query_as("SELECT id, total::text, full_name, fancy FROM items ORDER BY id")
            .fetch_all(&pg)
            .await
            .expect("rows");
    assert_eq!(
        rows,
        vec![
            (
                1,
                "10.00".to_owned(),
                Some("ada Lovelace".to_owned()),
                Some(md5_hex("Ada"))
            ),
            (2, "3.75".to_owned(), None, Some(md5_hex("Alan"))),
        ]
    );
    // The target computes them for new rows too.
    let total: String = sqlx::query_scalar(
        "INSERT INTO items (id, price, qty) VALUES (3, 1.10, 3) RETURNING total::text",
    )
    .fetch_one(&pg)
    .await
    .expect("insert on the target");
    assert_eq!(total, "3.30");
    // Running a batch again leaves the target as running it once.
    migrate(&engine, &j).await;
    pg.close().await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn postgres_generated_columns_become_mysql_generated_columns_or_plain_ones() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    pg.execute(
        "CREATE SCHEMA src;
         CREATE TABLE src.sums (id int PRIMARY KEY, a int, b int,
             s int GENERATED ALWAYS AS (a + b) STORED,
             name varchar(20),
             up varchar(20) GENERATED ALWAYS AS (upper(name)) STORED,
             h text GENERATED ALWAYS AS (md5(name)) STORED);
         INSERT INTO src.sums (id, a, b, name) VALUES (1, 2, 3, 'x'), (2, NULL, 1, 'Yz');",
    )
    .await
    .expect("source");
    pg.close().await;
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let j = job(dbs.pg("src"), dbs.mysql(), &["sums"], 10);
    let (plan, _) = migrate(&engine, &j).await;
    let warnings = plan.report.tables[0].warnings.join("\n");
    assert!(
        warnings.contains("column h: generated column (md5((name)::text))")
            || warnings.contains("column h: generated column (md5(name"),
        "{warnings}"
    );
    assert!(!warnings.contains("column s:"), "{warnings}");

    let my = dbs.my_pool().await;
    let generated: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(column_name AS CHAR) FROM information_schema.columns
         WHERE table_schema = DATABASE() AND table_name = 'sums' AND extra LIKE '%GENERATED%'
         ORDER BY ordinal_position",
    )
    .fetch_all(&my)
    .await
    .expect("generated columns");
    assert_eq!(generated, ["s", "up"]);
    type Sum = (i32, Option<i32>, Option<String>, Option<String>);
    let rows: Vec<Sum> = sqlx::query_as("SELECT id, s, up, h FROM sums ORDER BY id")
        .fetch_all(&my)
        .await
        .expect("rows");
    assert_eq!(
        rows,
        vec![
            (1, Some(5), Some("X".to_owned()), Some(md5_hex("x"))),
            (2, None, Some("YZ".to_owned()), Some(md5_hex("Yz"))),
        ]
    );
    my.close().await;
    dbs.cleanup().await;
}

/// SQLite holds decimals as exact text and would compute a generated
/// column over them in floating point (`big * q` as 1.23456789012346e+16):
/// such a column arrives as a plain column holding the source's values,
/// named in a plan warning, and is copied and validated like any other.
#[tokio::test]
async fn generated_decimals_arrive_in_sqlite_as_the_values_the_source_computed() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute(
        "CREATE TABLE prices2 (id INT PRIMARY KEY, big DECIMAL(20,2), q INT,
             g DECIMAL(22,2) AS (big * q) STORED,
             half DECIMAL(22,4) AS (q / 2) VIRTUAL,
             dq INT AS (q * 2) STORED);
         INSERT INTO prices2 (id, big, q) VALUES (1, 12345678901234567.89, 1), (2, 0.10, 3), (3, NULL, 7);",
    )
    .await
    .expect("source");
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let j = job(dbs.mysql(), dbs.sqlite("t"), &["prices2"], 2);
    let (plan, _) = migrate(&engine, &j).await;
    let warnings = plan.report.tables[0].warnings.join("\n");
    for plain in [
        "column g: generated column",
        "column half: generated column",
    ] {
        assert!(
            warnings.contains(plain) && warnings.contains("floating point"),
            "{plain}: {warnings}"
        );
    }
    assert!(!warnings.contains("column dq:"), "{warnings}");
    let lite = dbs.sqlite_pool("t").await;
    let generated: Vec<(String, i64)> = sqlx::query_as(
        "SELECT name, hidden FROM pragma_table_xinfo('prices2') WHERE hidden <> 0 ORDER BY cid",
    )
    .fetch_all(&lite)
    .await
    .expect("columns");
    assert_eq!(generated, [("dq".to_owned(), 3)]);
    let rows: Vec<(i64, Option<String>, Option<String>, i64)> =
        sqlx::query_as("SELECT id, g, half, dq FROM prices2 ORDER BY id")
            .fetch_all(&lite)
            .await
            .expect("rows");
    assert_eq!(
        rows,
        vec![
            (
                1,
                Some("12345678901234567.89".to_owned()),
                Some("0.5000".to_owned()),
                2
            ),
            (2, Some("0.30".to_owned()), Some("1.5000".to_owned()), 6),
            (3, None, Some("3.5000".to_owned()), 14),
        ]
    );
    // Validated like any column: a changed value is found.
    let validate = |plan: &freight_worker::engine::JobPlan| {
        let batches = plan.batches.clone();
        let engine = &engine;
        let j = &j;
        async move {
            let mut out = Vec::new();
            for b in &batches {
                let range = freight_worker::engine::RangeToValidate {
                    batch_id: freight_core::ids::BatchId::new(),
                    table_name: b.table_name.clone(),
                    key_start: b.key_start.clone(),
                    key_end: b.key_end.clone(),
                };
                out.push(engine.validate_range(j, &range).await.expect("validate"));
            }
            out
        }
    };
    for check in validate(&plan).await {
        assert!(check.matched, "{}", check.detail);
        assert!(!check.detail.contains("count only"), "{}", check.detail);
    }
    lite.execute("UPDATE prices2 SET g = '0.31' WHERE id = 2")
        .await
        .expect("tamper");
    let matched: Vec<bool> = validate(&plan).await.iter().map(|c| c.matched).collect();
    assert_eq!(matched.iter().filter(|m| !**m).count(), 1, "{matched:?}");
    engine.release_job(j.job_id).await;
    lite.close().await;
    my.close().await;
    dbs.cleanup().await;
}
