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

/// The delete and update rules of a MySQL table's foreign keys, by column.
async fn my_fk_rules(my: &sqlx::MySqlPool, table: &str) -> Vec<(String, String, String)> {
    sqlx::query_as(
        "SELECT CAST(k.column_name AS CHAR), CAST(r.delete_rule AS CHAR), CAST(r.update_rule AS CHAR)
         FROM information_schema.referential_constraints r
         JOIN information_schema.key_column_usage k
           ON k.constraint_schema = r.constraint_schema AND k.constraint_name = r.constraint_name
          AND k.table_name = r.table_name
         WHERE r.constraint_schema = DATABASE() AND r.table_name = ? ORDER BY k.column_name",
    )
    .bind(table)
    .fetch_all(my)
    .await
    .expect("mysql foreign keys")
}

#[tokio::test]
async fn sqlite_foreign_key_actions_and_checks_are_enforced_on_mariadb() {
    let dbs = Dbs::new().await;
    let lite = dbs.sqlite_pool("src").await;
    lite.execute(
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);
         CREATE TABLE child (id INTEGER PRIMARY KEY,
            parent_id INTEGER REFERENCES parent (id) ON DELETE CASCADE ON UPDATE CASCADE,
            other_id INTEGER REFERENCES parent (id) ON DELETE SET NULL,
            qty INTEGER CHECK (qty > 0),
            CONSTRAINT small CHECK (qty < 100),
            CONSTRAINT typed CHECK (typeof(qty) = 'integer'));
         INSERT INTO parent VALUES (1), (2), (3);
         INSERT INTO child VALUES (1, 1, 2, 3), (2, 1, NULL, 99), (3, 2, 3, 1);",
    )
    .await
    .expect("source");
    lite.close().await;
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let j = job(dbs.sqlite("src"), dbs.mysql(), &["parent", "child"], 10);
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
            .any(|w| w.contains("typed") && w.contains("not recreated")),
        "{:?}",
        child.warnings
    );

    let my = dbs.my_pool().await;
    assert_eq!(
        my_fk_rules(&my, "child").await,
        [
            (
                "other_id".to_owned(),
                "SET NULL".to_owned(),
                "RESTRICT".to_owned()
            ),
            (
                "parent_id".to_owned(),
                "CASCADE".to_owned(),
                "CASCADE".to_owned()
            ),
        ]
    );
    let mut checks: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(constraint_name AS CHAR) FROM information_schema.check_constraints
         WHERE constraint_schema = DATABASE() AND table_name = 'child'",
    )
    .fetch_all(&my)
    .await
    .expect("checks");
    checks.sort();
    assert_eq!(checks, ["child_check1", "small"]);
    // Enforced: each check refuses a row, a missing parent is refused.
    for bad in [
        "INSERT INTO child VALUES (9, 1, NULL, 0)",
        "INSERT INTO child VALUES (9, 1, NULL, 100)",
        "INSERT INTO child VALUES (9, 7, NULL, 5)",
    ] {
        assert!(sqlx::query(bad).execute(&my).await.is_err(), "{bad}");
    }
    // A changed parent key follows into its children; deleting a parent
    // deletes its children and empties the other references to it.
    sqlx::query("UPDATE parent SET id = 10 WHERE id = 1")
        .execute(&my)
        .await
        .expect("update parent");
    sqlx::query("DELETE FROM parent WHERE id = 3")
        .execute(&my)
        .await
        .expect("delete parent 3");
    sqlx::query("DELETE FROM parent WHERE id = 2")
        .execute(&my)
        .await
        .expect("delete parent 2");
    let left: Vec<(i64, Option<i64>, Option<i64>)> =
        sqlx::query_as("SELECT id, parent_id, other_id FROM child ORDER BY id")
            .fetch_all(&my)
            .await
            .expect("children");
    assert_eq!(left, [(1, Some(10), None), (2, Some(10), None)]);
    engine.release_job(j.job_id).await;
    my.close().await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn postgres_foreign_key_actions_and_checks_are_enforced_on_sqlite() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    pg.execute(
        "CREATE SCHEMA src;
         CREATE TABLE src.parent (id int PRIMARY KEY);
         CREATE TABLE src.child (id int PRIMARY KEY,
            parent_id int REFERENCES src.parent (id) ON DELETE CASCADE ON UPDATE CASCADE,
            other_id int REFERENCES src.parent (id) ON DELETE SET NULL ON UPDATE RESTRICT,
            amount numeric(10,2) CONSTRAINT amount_positive CHECK (amount > 0),
            code varchar(10) CHECK (char_length(code) = 3),
            tags text[] CHECK (cardinality(tags) < 5));
         INSERT INTO src.parent VALUES (1), (2), (3);
         INSERT INTO src.child VALUES (1, 1, 2, 9.5, 'abc', NULL), (2, 1, NULL, 1, 'déf', '{a}'),
             (3, 2, 3, 0.01, NULL, NULL);",
    )
    .await
    .expect("source");
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let j = job(dbs.pg("src"), dbs.sqlite("t"), &["parent", "child"], 10);
    let (plan, _) = migrate(&engine, &j).await;
    let child = plan
        .report
        .tables
        .iter()
        .find(|t| t.table_name == "child")
        .expect("child planned");
    let warnings = child.warnings.join("\n");
    assert!(
        warnings.contains("child_tags_check") && warnings.contains("not recreated"),
        "{warnings}"
    );
    assert!(!warnings.contains("amount_positive"), "{warnings}");
    assert!(!warnings.contains("child_code_check"), "{warnings}");

    let lite = dbs.sqlite_pool("t").await;
    let mut fks: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT \"from\", on_delete, on_update FROM pragma_foreign_key_list('child')",
    )
    .fetch_all(&lite)
    .await
    .expect("foreign keys");
    fks.sort();
    assert_eq!(
        fks,
        [
            (
                "other_id".to_owned(),
                "SET NULL".to_owned(),
                "RESTRICT".to_owned()
            ),
            (
                "parent_id".to_owned(),
                "CASCADE".to_owned(),
                "CASCADE".to_owned()
            ),
        ]
    );
    // SQLite enforces foreign keys per connection, when asked to.
    let mut conn = lite.acquire().await.expect("connection");
    conn.execute("PRAGMA foreign_keys = ON")
        .await
        .expect("foreign keys on");
    for bad in [
        "INSERT INTO child (id, parent_id, amount) VALUES (9, 1, 0)",
        // Three characters, not three bytes: 'déf' above is accepted.
        "INSERT INTO child (id, parent_id, code) VALUES (9, 1, 'ab')",
        "INSERT INTO child (id, parent_id) VALUES (9, 7)",
        "UPDATE parent SET id = 30 WHERE id = 3",
    ] {
        assert!(sqlx::query(bad).execute(&mut *conn).await.is_err(), "{bad}");
    }
    sqlx::query("INSERT INTO child (id, parent_id, code) VALUES (9, 1, 'xyz')")
        .execute(&mut *conn)
        .await
        .expect("a good row");
    sqlx::query("UPDATE parent SET id = 10 WHERE id = 1")
        .execute(&mut *conn)
        .await
        .expect("update parent");
    sqlx::query("DELETE FROM parent WHERE id = 3")
        .execute(&mut *conn)
        .await
        .expect("delete parent 3");
    sqlx::query("DELETE FROM parent WHERE id = 2")
        .execute(&mut *conn)
        .await
        .expect("delete parent 2");
    type Child = (i64, Option<i64>, Option<i64>, Option<String>);
    let left: Vec<Child> =
        sqlx::query_as("SELECT id, parent_id, other_id, code FROM child ORDER BY id")
            .fetch_all(&mut *conn)
            .await
            .expect("children");
    assert_eq!(
        left,
        [
            (1, Some(10), None, Some("abc".to_owned())),
            (2, Some(10), None, Some("déf".to_owned())),
            (9, Some(10), None, Some("xyz".to_owned())),
        ]
    );
    drop(conn);
    engine.release_job(j.job_id).await;
    lite.close().await;
    pg.close().await;
    dbs.cleanup().await;
}

/// A SQLite source whose UNIQUE constraints live in `sqlite_autoindex_*`
/// indexes (a name a SQLite target refuses), one of them on two columns,
/// one whose natural name is taken, one on a table with a long name.
async fn sqlite_unique_source(dbs: &Dbs) {
    let lite = dbs.sqlite_pool("src").await;
    lite.execute(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE,
             region TEXT, code TEXT, UNIQUE (region, code));
         CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
         CREATE INDEX customers_region_code_key ON notes (body);
         CREATE TABLE a_table_with_a_rather_long_name_for_its_unique_constraint (
             id INTEGER PRIMARY KEY, a_column_with_a_long_name TEXT UNIQUE);
         INSERT INTO customers VALUES (1, 'a@example.com', 'eu', 'x'), (2, 'b@example.com', 'eu', 'y');",
    )
    .await
    .expect("source");
    lite.close().await;
}

const LONG_TABLE: &str = "a_table_with_a_rather_long_name_for_its_unique_constraint";
/// `<table>_<column>` cut to 59 bytes, then `_key`: 63 bytes, PostgreSQL's limit.
const LONG_INDEX: &str = "a_table_with_a_rather_long_name_for_its_unique_constraint_a_key";

/// The names of the unique indexes of a table on the target, sorted.
async fn unique_index_names(dbs: &Dbs, target: &str, table: &str) -> Vec<String> {
    let mut names: Vec<String> = match target {
        "sqlite" => sqlx::query_scalar(
            "SELECT name FROM pragma_index_list(?) WHERE \"unique\" = 1 AND origin <> 'pk'",
        )
        .bind(table)
        .fetch_all(&dbs.sqlite_pool("t").await)
        .await
        .expect("sqlite indexes"),
        "postgres" => sqlx::query_scalar(
            "SELECT i.relname::text FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
             WHERE x.indrelid = $1::regclass AND x.indisunique AND NOT x.indisprimary",
        )
        .bind(format!("public.{table}"))
        .fetch_all(&dbs.pg_pool().await)
        .await
        .expect("pg indexes"),
        _ => sqlx::query_scalar(
            "SELECT DISTINCT CAST(index_name AS CHAR) FROM information_schema.statistics
             WHERE table_schema = DATABASE() AND table_name = ? AND non_unique = 0
               AND index_name <> 'PRIMARY'",
        )
        .bind(table)
        .fetch_all(&dbs.my_pool().await)
        .await
        .expect("mysql indexes"),
    };
    names.sort();
    names
}

/// A duplicate of row 1's email, inserted on the target.
async fn insert_duplicate_email(dbs: &Dbs, target: &str) -> bool {
    let sql = "INSERT INTO customers (id, email) VALUES (3, 'a@example.com')";
    match target {
        "sqlite" => dbs.sqlite_pool("t").await.execute(sql).await.is_ok(),
        "postgres" => dbs.pg_pool().await.execute(sql).await.is_ok(),
        _ => dbs.my_pool().await.execute(sql).await.is_ok(),
    }
}

#[tokio::test]
async fn sqlite_unique_constraints_arrive_named_and_enforced_on_every_target() {
    let dbs = Dbs::new().await;
    sqlite_unique_source(&dbs).await;
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let tables = ["customers", "notes", LONG_TABLE];
    for (target, config) in [
        ("sqlite", dbs.sqlite("t")),
        ("postgres", dbs.pg("public")),
        ("mariadb", dbs.mysql()),
    ] {
        // `migrate` also asserts that finishing created every index.
        let (plan, _) = migrate(&engine, &job(dbs.sqlite("src"), config, &tables, 10)).await;
        let ddl: Vec<&String> = plan
            .report
            .tables
            .iter()
            .flat_map(|t| &t.target_ddl)
            .collect();
        assert!(
            ddl.iter().all(|d| !d.contains("sqlite_autoindex")),
            "{target}: {ddl:?}"
        );
        assert_eq!(
            unique_index_names(&dbs, target, "customers").await,
            ["customers_email_key", "customers_region_code_key1"],
            "{target}"
        );
        assert_eq!(
            unique_index_names(&dbs, target, LONG_TABLE).await,
            [LONG_INDEX],
            "{target}"
        );
        assert!(
            !insert_duplicate_email(&dbs, target).await,
            "{target}: a duplicate email was accepted"
        );
    }
    dbs.cleanup().await;
}

/// SQLite targets hold decimals as exact text (TEXT affinity), so a CHECK
/// comparing one with a number compared text (`'99.99' < 1000` is false,
/// `'-2000.00' > '-1000'` true). It now reads the column as a number; a
/// check that cannot compare exactly that way (arithmetic) is left out
/// with a warning naming it.
#[tokio::test]
async fn checks_on_decimals_compare_numbers_on_sqlite() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute(
        "CREATE TABLE prices (id INT PRIMARY KEY, p DECIMAL(10,2) CHECK (p < 1000),
             q INT, CONSTRAINT prices_total CHECK (p * q < 100000));
         INSERT INTO prices VALUES (1, 99.99, 1), (2, 5.00, 3), (3, 999.99, 0);",
    )
    .await
    .expect("mariadb source");
    let pg = dbs.pg_pool().await;
    pg.execute(
        "CREATE TABLE accounts (id int PRIMARY KEY,
             balance numeric(12,2) CHECK (balance > -1000),
             lim numeric(12,2) CHECK (lim BETWEEN 0 AND 5000.50 OR lim IS NULL));
         INSERT INTO accounts VALUES (1, -999.99, 5000.50), (2, 0, NULL), (3, 12.5, 0);",
    )
    .await
    .expect("pg source");
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let from_my = job(dbs.mysql(), dbs.sqlite("m"), &["prices"], 10);
    let (plan, _) = migrate(&engine, &from_my).await;
    let warnings = plan.report.tables[0].warnings.join("\n");
    assert!(
        warnings.contains("CHECK constraint prices_total")
            && warnings.contains("which SQLite stores as exact text"),
        "{warnings}"
    );
    assert!(!warnings.contains("constraint p "), "{warnings}");
    let lite = dbs.sqlite_pool("m").await;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM prices")
        .fetch_one(&lite)
        .await
        .expect("copied");
    assert_eq!(count, 3, "every row arrives");
    let insert = |id: i64, p: &str| {
        sqlx::query("INSERT INTO prices (id, p, q) VALUES (?, ?, 1)")
            .bind(id)
            .bind(p.to_owned())
    };
    assert!(insert(4, "999.99").execute(&lite).await.is_ok());
    assert!(
        insert(5, "1000.00").execute(&lite).await.is_err(),
        "p < 1000 holds"
    );
    assert!(insert(6, "10000").execute(&lite).await.is_err());

    let from_pg = job(dbs.pg("public"), dbs.sqlite("p"), &["accounts"], 10);
    let (plan, _) = migrate(&engine, &from_pg).await;
    let warnings = plan.report.tables[0].warnings.join("\n");
    assert!(!warnings.contains("CHECK"), "{warnings}");
    let lite_pg = dbs.sqlite_pool("p").await;
    let insert = |id: i64, balance: &str, lim: Option<&str>| {
        sqlx::query("INSERT INTO accounts VALUES (?, ?, ?)")
            .bind(id)
            .bind(balance.to_owned())
            .bind(lim.map(str::to_owned))
    };
    assert!(
        insert(4, "-2000.00", None).execute(&lite_pg).await.is_err(),
        "balance > -1000 holds"
    );
    assert!(
        insert(5, "-999.00", Some("5000.5"))
            .execute(&lite_pg)
            .await
            .is_ok()
    );
    assert!(
        insert(6, "1", Some("5000.51"))
            .execute(&lite_pg)
            .await
            .is_err()
    );
    for j in [&from_my, &from_pg] {
        engine.release_job(j.job_id).await;
    }
    lite.close().await;
    lite_pg.close().await;
    my.close().await;
    pg.close().await;
    dbs.cleanup().await;
}
