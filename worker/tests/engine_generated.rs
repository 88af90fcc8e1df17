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
