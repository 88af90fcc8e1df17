//! Schema fidelity: auto-increment keys continue past the copied maximum on
//! every target (unsigned ones included), PostgreSQL's odd types never fail
//! a PostgreSQL target, indexes keep what the target can hold and are never
//! made weaker, and same-dialect copies (MySQL→MySQL, SQLite→SQLite,
//! PostgreSQL→PostgreSQL) keep collations, index kinds, foreign keys,
//! generated columns and views.

#[path = "engine_support/mod.rs"]
mod support;

use freight_core::connection::DatabaseKind;
use freight_worker::engine::Engine;
use sqlx::{Executor, MySqlPool};
use support::{Dbs, config, job, migrate};

fn engine() -> Engine {
    Engine::new(freight_core::policy::ConnectionPolicy::for_local_user())
}

const WORDPRESS: &str =
    "CREATE TABLE posts (ID bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY,
        title varchar(40) COLLATE utf8mb4_general_ci NOT NULL,
        body text, modified datetime NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
        FULLTEXT KEY ft_body (body), KEY by_modified (modified DESC, title));
    CREATE TABLE counters (id int unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, n int NOT NULL,
        doubled int AS (n * 2) STORED);
    CREATE TABLE comments (id int NOT NULL AUTO_INCREMENT PRIMARY KEY, post_id bigint unsigned,
        CONSTRAINT fk_post FOREIGN KEY (post_id) REFERENCES posts (ID) ON DELETE CASCADE);
    CREATE TABLE huge (id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, v int);
    INSERT INTO posts (ID, title, body, modified) VALUES (1, 'Hello', 'first post', '2001-01-01'),
        (5, 'Again', NULL, '2001-01-01'), (42, 'Last', 'x', '2001-01-01');
    INSERT INTO counters (id, n) VALUES (3, 1), (7, 2);
    INSERT INTO comments VALUES (1, 42), (2, 5);
    INSERT INTO huge VALUES (18446744073709551000, 1);";

fn table_warnings(plan: &freight_worker::engine::JobPlan, table: &str) -> String {
    plan.report
        .tables
        .iter()
        .find(|t| t.table_name == table)
        .map(|t| t.warnings.join("\n"))
        .unwrap_or_default()
}

#[tokio::test]
async fn unsigned_auto_increment_keys_continue_on_postgres() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute(WORDPRESS).await.expect("source");
    my.close().await;
    let engine = engine();
    let j = job(
        dbs.mysql(),
        dbs.pg("public"),
        &["posts", "counters", "comments", "huge"],
        2,
    );
    let (plan, _) = migrate(&engine, &j).await;
    let posts = table_warnings(&plan, "posts");
    assert!(!posts.contains("ON UPDATE"), "{posts}");
    assert!(
        posts.contains("index ft_body is a FULLTEXT index and is not recreated"),
        "{posts}"
    );
    let huge = table_warnings(&plan, "huge");
    assert!(
        huge.contains("column id: bigint unsigned auto-increment holds values above 2^63-1"),
        "{huge}"
    );

    let pg = dbs.pg_pool().await;
    let types: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT table_name::text, data_type::text, is_identity::text FROM information_schema.columns
         WHERE table_schema = 'public' AND column_name IN ('ID', 'id') ORDER BY table_name",
    )
    .fetch_all(&pg)
    .await
    .expect("key types");
    assert_eq!(
        types,
        [
            ("comments", "integer", "YES"),
            ("counters", "bigint", "YES"),
            ("huge", "numeric", "NO"),
            ("posts", "bigint", "YES"),
        ]
        .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()))
    );
    let id: i64 = sqlx::query_scalar("INSERT INTO posts (title) VALUES ('new') RETURNING \"ID\"")
        .fetch_one(&pg)
        .await
        .expect("insert without id");
    assert_eq!(id, 43);
    let id: i64 = sqlx::query_scalar("INSERT INTO counters (n) VALUES (5) RETURNING id")
        .fetch_one(&pg)
        .await
        .expect("insert without id");
    assert_eq!(id, 8);
    // ON UPDATE CURRENT_TIMESTAMP: a trigger touches the column when the
    // row changes, unless the update sets it.
    sqlx::query("UPDATE posts SET title = 'changed' WHERE \"ID\" = 1")
        .execute(&pg)
        .await
        .expect("update");
    sqlx::query("UPDATE posts SET title = 'set', modified = '1999-01-01' WHERE \"ID\" = 5")
        .execute(&pg)
        .await
        .expect("update");
    let modified: Vec<(i64, String)> = sqlx::query_as(
        "SELECT \"ID\", modified::date::text FROM posts WHERE \"ID\" < 43 ORDER BY 1",
    )
    .fetch_all(&pg)
    .await
    .expect("modified");
    assert!(modified[0].1.as_str() > "2020-01-01", "{modified:?}");
    assert_eq!(modified[1].1, "1999-01-01");
    assert_eq!(modified[2].1, "2001-01-01");
    // Only b-tree indexes of whole columns: the FULLTEXT one is left out,
    // the DESC one kept.
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT indexdef FROM pg_indexes WHERE tablename = 'posts' AND indexname <> 'posts_pkey'",
    )
    .fetch_all(&pg)
    .await
    .expect("indexes");
    assert_eq!(indexes.len(), 1, "{indexes:?}");
    assert!(indexes[0].contains("(modified DESC, title)"), "{indexes:?}");
    engine.release_job(j.job_id).await;
    pg.close().await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn mysql_to_mysql_keeps_unsigned_identity_collation_on_update_and_index_kinds() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute(WORDPRESS).await.expect("source");
    my.execute(
        "CREATE VIEW per_post AS SELECT post_id, COUNT(*) AS n FROM comments GROUP BY post_id",
    )
    .await
    .expect("view");
    my.close().await;
    let (url, target) = dbs.second_mysql().await;
    let engine = engine();
    let j = job(
        dbs.mysql(),
        config(DatabaseKind::Mysql, &url, None),
        &["posts", "counters", "comments", "huge"],
        2,
    );
    let (plan, _) = migrate(&engine, &j).await;
    assert!(
        plan.report
            .warnings
            .iter()
            .any(|w| w.contains("view per_post is recreated") && w.contains("its own SQL")),
        "{:?}",
        plan.report.warnings
    );

    let columns: Vec<(String, String, String, Option<String>, String)> = sqlx::query_as(
        "SELECT CAST(table_name AS CHAR), CAST(column_name AS CHAR), CAST(column_type AS CHAR),
                CAST(collation_name AS CHAR), CAST(extra AS CHAR)
         FROM information_schema.columns WHERE table_schema = DATABASE()
           AND column_name IN ('ID', 'id', 'title', 'modified', 'doubled') AND table_name <> 'per_post'
         ORDER BY table_name, column_name",
    )
    .fetch_all(&target)
    .await
    .expect("columns");
    let find = |t: &str, c: &str| {
        columns
            .iter()
            .find(|r| r.0 == t && r.1.eq_ignore_ascii_case(c))
            .cloned()
            .unwrap_or_else(|| panic!("{t}.{c} in {columns:?}"))
    };
    let id = find("posts", "ID");
    assert!(
        id.2.starts_with("bigint") && id.2.contains("unsigned"),
        "{id:?}"
    );
    assert!(id.4.contains("auto_increment"), "{id:?}");
    let counter = find("counters", "id");
    assert!(
        counter.2.starts_with("int") && counter.2.contains("unsigned"),
        "{counter:?}"
    );
    assert!(counter.4.contains("auto_increment"), "{counter:?}");
    assert_eq!(
        find("posts", "title").3.as_deref(),
        Some("utf8mb4_general_ci")
    );
    assert!(
        find("posts", "modified")
            .4
            .to_ascii_lowercase()
            .contains("on update current_timestamp"),
        "{columns:?}"
    );
    assert!(
        find("counters", "doubled")
            .4
            .to_ascii_uppercase()
            .contains("GENERATED")
    );

    let mut kinds: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT CAST(index_name AS CHAR), CAST(index_type AS CHAR), CAST(collation AS CHAR)
         FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = 'posts'
         AND seq_in_index = 1 ORDER BY index_name",
    )
    .fetch_all(&target)
    .await
    .expect("indexes");
    kinds.sort();
    assert_eq!(
        kinds,
        [
            ("PRIMARY", "BTREE", Some("A")),
            ("posts_by_modified", "BTREE", Some("D")),
            ("posts_ft_body", "FULLTEXT", None),
        ]
        .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.map(str::to_owned)))
    );
    // Identity continues past the copied maximum, the huge one too.
    sqlx::query("INSERT INTO posts (title) VALUES ('new')")
        .execute(&target)
        .await
        .expect("insert");
    let id: u64 = sqlx::query_scalar("SELECT MAX(ID) FROM posts")
        .fetch_one(&target)
        .await
        .expect("max");
    assert_eq!(id, 43);
    sqlx::query("INSERT INTO huge (v) VALUES (2)")
        .execute(&target)
        .await
        .expect("insert");
    let id: u64 = sqlx::query_scalar("SELECT MAX(id) FROM huge")
        .fetch_one(&target)
        .await
        .expect("max");
    assert_eq!(id, 18_446_744_073_709_551_001);
    // The foreign key and the view hold.
    sqlx::query("DELETE FROM posts WHERE ID = 42")
        .execute(&target)
        .await
        .expect("delete");
    let per_post: Vec<(u64, i64)> = sqlx::query_as("SELECT post_id, n FROM per_post")
        .fetch_all(&target)
        .await
        .expect("view");
    assert_eq!(per_post, [(5, 1)]);
    engine.release_job(j.job_id).await;
    target.close().await;
    dbs.drop_second().await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn mysql_to_sqlite_keeps_identity_foreign_keys_and_generated_columns() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute(WORDPRESS).await.expect("source");
    my.close().await;
    let engine = engine();
    let j = job(
        dbs.mysql(),
        dbs.sqlite("t"),
        &["posts", "counters", "comments"],
        2,
    );
    let (plan, _) = migrate(&engine, &j).await;
    let comments = table_warnings(&plan, "comments");
    assert!(!comments.contains("foreign key"), "{comments}");
    let counters = table_warnings(&plan, "counters");
    assert!(!counters.contains("doubled"), "{counters}");

    let lite = dbs.sqlite_pool("t").await;
    let fk: (String, String) =
        sqlx::query_as("SELECT \"table\", on_delete FROM pragma_foreign_key_list('comments')")
            .fetch_one(&lite)
            .await
            .expect("foreign key");
    assert_eq!(fk, ("posts".to_owned(), "CASCADE".to_owned()));
    let hidden: i64 = sqlx::query_scalar(
        "SELECT hidden FROM pragma_table_xinfo('counters') WHERE name = 'doubled'",
    )
    .fetch_one(&lite)
    .await
    .expect("generated");
    assert_eq!(hidden, 3);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO posts (title, modified) VALUES ('new', '2024-01-01') RETURNING ID",
    )
    .fetch_one(&lite)
    .await
    .expect("insert");
    assert_eq!(id, 43);
    let (id, doubled): (i64, i64) =
        sqlx::query_as("INSERT INTO counters (n) VALUES (21) RETURNING id, doubled")
            .fetch_one(&lite)
            .await
            .expect("insert");
    assert_eq!((id, doubled), (8, 42));
    engine.release_job(j.job_id).await;
    lite.close().await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn postgres_odd_types_and_indexes_arrive_on_postgres() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    pg.execute(
        "CREATE EXTENSION hstore;
         CREATE SCHEMA src;
         CREATE TYPE src.mood AS ENUM ('happy', 'sad', 'angry');
         CREATE TYPE src.pair AS (a int, b text);
         CREATE DOMAIN src.posint AS integer CHECK (VALUE > 0);
         CREATE DOMAIN src.smallpos AS src.posint CHECK (VALUE < 100);
         CREATE DOMAIN src.shortname AS varchar(10);
         CREATE DOMAIN src.shorter AS src.shortname;
         CREATE TABLE src.people (id int PRIMARY KEY, m src.mood, ms src.mood[], p src.pair,
             sp src.smallpos, sn src.shorter, attrs hstore, doc json, tags int[],
             email text, name text, v int,
             CONSTRAINT not_angry CHECK (m <> 'angry'::src.mood),
             CONSTRAINT some_happy CHECK ('happy'::src.mood = ANY (ms)),
             CONSTRAINT has_a CHECK (attrs ? 'a'));
         CREATE UNIQUE INDEX people_email ON src.people (email) INCLUDE (name);
         CREATE INDEX people_v_desc ON src.people (v DESC, name);
         CREATE INDEX people_tags ON src.people USING gin (tags);
         CREATE INDEX people_attrs ON src.people USING gist (attrs);
         CREATE UNIQUE INDEX people_big_v ON src.people (v) WHERE v > 10;
         CREATE INDEX people_name_hash ON src.people USING hash (name);
         CREATE VIEW src.moods AS SELECT m, count(*) AS n FROM src.people GROUP BY m;
         CREATE FUNCTION src.domain_of(text) RETURNS text IMMUTABLE LANGUAGE sql
             AS $$ SELECT split_part($1, '@', 2) $$;
         CREATE TABLE src.accounts (id int PRIMARY KEY,
             email text CONSTRAINT has_domain CHECK (src.domain_of(email) <> ''),
             dom text GENERATED ALWAYS AS (src.domain_of(email)) STORED);
         INSERT INTO src.accounts (id, email) VALUES (1, 'a@example.org');
         INSERT INTO src.people VALUES
           (1, 'happy', '{happy,sad}', ROW(1, 'x'), 5, 'ada', 'a=>1', '{\"b\": 1,  \"a\": 2}', '{1,2}', 'a@x', 'Ada', 11),
           (2, 'sad', '{happy}', NULL, 99, 'bob', 'a=>2, b=>3', NULL, NULL, 'b@x', 'Bob', 5);",
    )
    .await
    .expect("source");
    let (url, target) = dbs.second_pg().await;
    let engine = engine();
    let j = job(
        dbs.pg("src"),
        config(DatabaseKind::Postgresql, &url, Some("public")),
        &["people", "accounts"],
        10,
    );
    let (plan, _) = migrate(&engine, &j).await;
    // Functions of the source's own: the table arrives without what calls them.
    let accounts = table_warnings(&plan, "accounts");
    assert!(
        accounts.contains("CHECK constraint has_domain")
            && accounts.contains("the target refused it")
            && accounts.contains("column dom: generated column")
            && accounts.contains("refused its expression"),
        "{accounts}"
    );
    let dom: String = sqlx::query_scalar("SELECT dom FROM accounts WHERE id = 1")
        .fetch_one(&target)
        .await
        .expect("accounts copied");
    assert_eq!(dom, "example.org");
    let warnings = table_warnings(&plan, "people");
    for expected in [
        "column ms: src.mood[] (an array of an enum type) is copied as an array of text",
        "column p: composite type src.pair is copied as its text form",
        "column attrs: type hstore does not exist on the target",
        "CHECK constraint has_a",
        "index people_attrs (gist) is not recreated",
    ] {
        assert!(warnings.contains(expected), "{expected:?} in {warnings}");
    }

    let types: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, format_type(atttypid, atttypmod) FROM information_schema.columns c
         JOIN pg_attribute a ON a.attrelid = 'public.people'::regclass AND a.attname = c.column_name
         WHERE table_schema = 'public' AND table_name = 'people' ORDER BY ordinal_position",
    )
    .fetch_all(&target)
    .await
    .expect("types");
    let ty = |c: &str| {
        types
            .iter()
            .find(|(n, _)| n == c)
            .map(|(_, t)| t.clone())
            .unwrap_or_default()
    };
    assert_eq!(ty("m"), "text");
    assert_eq!(ty("ms"), "text[]");
    assert_eq!(ty("p"), "text");
    assert_eq!(ty("sp"), "integer");
    assert_eq!(ty("sn"), "character varying(10)");
    assert_eq!(ty("attrs"), "text");
    assert_eq!(ty("doc"), "json");
    let checks: Vec<String> = sqlx::query_scalar(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint
         WHERE conrelid = 'public.people'::regclass AND contype = 'c' ORDER BY conname",
    )
    .fetch_all(&target)
    .await
    .expect("checks");
    assert_eq!(checks.len(), 3, "{checks:?}");
    assert!(
        checks.iter().any(|c| c.contains("'angry'::text")),
        "{checks:?}"
    );
    let refused = sqlx::query("INSERT INTO people (id, m, ms) VALUES (9, 'angry', '{happy}')")
        .execute(&target)
        .await;
    assert!(refused.is_err(), "not_angry must hold");

    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = 'people'
         AND indexname <> 'people_pkey' ORDER BY indexname",
    )
    .fetch_all(&target)
    .await
    .expect("indexes");
    let all = indexes.join("\n");
    for expected in [
        "CREATE UNIQUE INDEX people_big_v ON public.people USING btree (v) WHERE (v > 10)",
        "CREATE UNIQUE INDEX people_email ON public.people USING btree (email) INCLUDE (name)",
        "CREATE INDEX people_name_hash ON public.people USING hash (name)",
        "CREATE INDEX people_tags ON public.people USING gin (tags)",
        "CREATE INDEX people_v_desc ON public.people USING btree (v DESC, name)",
    ] {
        assert!(all.contains(expected), "{expected:?} in {all}");
    }
    assert_eq!(indexes.len(), 5, "{all}");
    // The unique index is on email alone: two rows may share a name.
    sqlx::query("INSERT INTO people (id, email, name) VALUES (3, 'c@x', 'Ada')")
        .execute(&target)
        .await
        .expect("same name, other email");
    let doc: String = sqlx::query_scalar("SELECT doc::text FROM people WHERE id = 1")
        .fetch_one(&target)
        .await
        .expect("json");
    assert_eq!(doc, "{\"b\": 1,  \"a\": 2}");
    let moods: Vec<(Option<String>, i64)> = sqlx::query_as("SELECT m, n FROM moods ORDER BY m")
        .fetch_all(&target)
        .await
        .expect("view");
    assert_eq!(moods.len(), 3, "{moods:?}");
    engine.release_job(j.job_id).await;
    target.close().await;
    pg.close().await;
    dbs.drop_second().await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn postgres_include_and_partial_indexes_are_never_weakened_elsewhere() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    pg.execute(
        "CREATE SCHEMA src;
         CREATE TABLE src.users (id int PRIMARY KEY, email varchar(100), name varchar(100), v int);
         CREATE UNIQUE INDEX users_email ON src.users (email) INCLUDE (name);
         CREATE UNIQUE INDEX users_big_v ON src.users (v) WHERE v > 10;
         INSERT INTO src.users VALUES (1, 'a@x', 'Ada', 1), (2, 'b@x', 'Ada', 1);",
    )
    .await
    .expect("source");
    let engine = engine();
    let j = job(dbs.pg("src"), dbs.mysql(), &["users"], 10);
    let (plan, _) = migrate(&engine, &j).await;
    let warnings = table_warnings(&plan, "users");
    assert!(
        warnings.contains("INCLUDE (name) is not kept"),
        "{warnings}"
    );
    assert!(
        warnings.contains("index users_big_v is a unique index of the rows where"),
        "{warnings}"
    );
    let my = dbs.my_pool().await;
    let indexed: Vec<(String, String)> = sqlx::query_as(
        "SELECT CAST(index_name AS CHAR), CAST(column_name AS CHAR) FROM information_schema.statistics
         WHERE table_schema = DATABASE() AND table_name = 'users' AND index_name <> 'PRIMARY'",
    )
    .fetch_all(&my)
    .await
    .expect("indexes");
    assert_eq!(indexed, [("users_email".to_owned(), "email".to_owned())]);

    let j = job(dbs.pg("src"), dbs.sqlite("t"), &["users"], 10);
    migrate(&engine, &j).await;
    let lite = dbs.sqlite_pool("t").await;
    let sql: Vec<String> = sqlx::query_scalar(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'users' AND sql IS NOT NULL ORDER BY name",
    )
    .fetch_all(&lite)
    .await
    .expect("indexes");
    assert_eq!(sql.len(), 2, "{sql:?}");
    assert!(sql[0].contains("(\"v\") WHERE"), "{sql:?}");
    assert!(sql[1].ends_with("(\"email\")"), "{sql:?}");
    engine.release_job(j.job_id).await;
    lite.close().await;
    my.close().await;
    pg.close().await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn sqlite_to_sqlite_keeps_keys_foreign_keys_generated_columns_indexes_and_views() {
    let dbs = Dbs::new().await;
    let src = dbs.sqlite_pool("src").await;
    src.execute(
        "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         CREATE TABLE child (id INTEGER PRIMARY KEY,
             parent_id INTEGER REFERENCES parent (id) ON DELETE CASCADE,
             price REAL NOT NULL, qty INTEGER NOT NULL CHECK (qty > 0),
             total REAL GENERATED ALWAYS AS (price * qty) STORED,
             label TEXT AS (upper('item ' || id)) VIRTUAL);
         CREATE INDEX child_qty_desc ON child (qty DESC, price);
         CREATE UNIQUE INDEX child_big ON child (price) WHERE qty > 10;
         CREATE VIEW totals AS SELECT parent_id, sum(total) AS t FROM child GROUP BY parent_id;
         INSERT INTO parent VALUES (1, 'a'), (7, 'b');
         INSERT INTO child (id, parent_id, price, qty) VALUES (1, 1, 2.5, 4), (9, 7, 1.0, 20);",
    )
    .await
    .expect("source");
    src.close().await;
    let engine = engine();
    let j = job(dbs.sqlite("src"), dbs.sqlite("t"), &["parent", "child"], 10);
    let (plan, _) = migrate(&engine, &j).await;
    let child = table_warnings(&plan, "child");
    assert!(!child.contains("generated"), "{child}");
    assert!(!child.contains("foreign key"), "{child}");

    let lite = dbs.sqlite_pool("t").await;
    let generated: Vec<(String, i64)> = sqlx::query_as(
        "SELECT name, hidden FROM pragma_table_xinfo('child') WHERE hidden > 0 ORDER BY cid",
    )
    .fetch_all(&lite)
    .await
    .expect("generated");
    // VIRTUAL stays VIRTUAL (2), STORED stored (3).
    assert_eq!(
        generated,
        [("total".to_owned(), 3), ("label".to_owned(), 2)],
        "{generated:?}"
    );
    let rows: Vec<(i64, f64, String)> =
        sqlx::query_as("SELECT id, total, label FROM child ORDER BY id")
            .fetch_all(&lite)
            .await
            .expect("rows");
    assert_eq!(
        rows,
        [
            (1, 10.0, "ITEM 1".to_owned()),
            (9, 20.0, "ITEM 9".to_owned())
        ]
    );
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'child' AND sql IS NOT NULL ORDER BY name",
    )
    .fetch_all(&lite)
    .await
    .expect("indexes");
    assert!(
        indexes[0].contains("WHERE") && indexes[0].contains("UNIQUE"),
        "{indexes:?}"
    );
    assert!(indexes[1].contains("DESC"), "{indexes:?}");
    let checks: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sqlite_master WHERE name = 'child' AND sql LIKE '%CHECK%'",
    )
    .fetch_one(&lite)
    .await
    .expect("check");
    assert_eq!(checks, 1);
    // Identity continues; the foreign key cascades (enforced per connection).
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO child (parent_id, price, qty) VALUES (1, 1.0, 1) RETURNING id",
    )
    .fetch_one(&lite)
    .await
    .expect("insert");
    assert_eq!(id, 10);
    let mut conn = lite.acquire().await.expect("connection");
    conn.execute("PRAGMA foreign_keys = ON")
        .await
        .expect("fk on");
    conn.execute("DELETE FROM parent WHERE id = 1")
        .await
        .expect("delete");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM child")
        .fetch_one(&mut *conn)
        .await
        .expect("count");
    assert_eq!(left, 1);
    let totals: Vec<(i64, f64)> = sqlx::query_as("SELECT parent_id, t FROM totals")
        .fetch_all(&mut *conn)
        .await
        .expect("view");
    assert_eq!(totals, [(7, 20.0)]);
    drop(conn);
    engine.release_job(j.job_id).await;
    lite.close().await;
    dbs.cleanup().await;
}

/// A row of `files`, each column as MariaDB prints it.
type FileRow = (
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
);

#[tokio::test]
async fn mysql_to_mysql_keeps_text_blob_binary_and_set_types_as_declared() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute(
        "CREATE TABLE files (id binary(16) PRIMARY KEY, short tinytext, body mediumtext,
             raw blob, tag varbinary(20), flags set('read','write','exec'), made year);
         INSERT INTO files VALUES
             (UNHEX('00112233445566778899AABBCCDDEEFF'), 'tiny', REPEAT('m', 70000),
              UNHEX('00FF10'), UNHEX('CAFE'), 'read,exec', 1999),
             (UNHEX('FF000000000000000000000000000001'), NULL, '', UNHEX(''), NULL, '', NULL);",
    )
    .await
    .expect("source");
    let declared = |pool: MySqlPool| async move {
        let types: Vec<(String, String)> = sqlx::query_as(
            "SELECT CAST(column_name AS CHAR), CAST(column_type AS CHAR)
             FROM information_schema.columns
             WHERE table_schema = DATABASE() AND table_name = 'files' ORDER BY ordinal_position",
        )
        .fetch_all(&pool)
        .await
        .expect("column types");
        let rows: Vec<FileRow> = sqlx::query_as(
            "SELECT HEX(id), short, LENGTH(body), HEX(raw), HEX(tag), CAST(flags AS CHAR),
                        CAST(made AS SIGNED)
                 FROM files ORDER BY id",
        )
        .fetch_all(&pool)
        .await
        .expect("rows");
        (types, rows)
    };
    let (source_types, source_rows) = declared(my.clone()).await;
    my.close().await;
    let (url, target) = dbs.second_mysql().await;
    let engine = engine();
    let j = job(
        dbs.mysql(),
        config(DatabaseKind::Mysql, &url, None),
        &["files"],
        1,
    );
    migrate(&engine, &j).await;
    let (target_types, target_rows) = declared(target.clone()).await;
    assert_eq!(target_types, source_types, "every type as declared");
    assert_eq!(target_rows, source_rows, "every value");
    assert_eq!(source_rows.len(), 2);
    engine.release_job(j.job_id).await;
    target.close().await;
    dbs.drop_second().await;
    dbs.cleanup().await;
}

/// Identity columns of a PostgreSQL source: a key (`orders`), one outside
/// the key (`tickets.seq`), one second in a composite key (`order_lines.line`),
/// and a table with two (`pairs`).
const PG_IDENTITIES: &str = "CREATE SCHEMA src;
    CREATE TABLE src.orders (id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, note text);
    CREATE TABLE src.tickets (code varchar(10) PRIMARY KEY, seq bigserial, note text);
    CREATE TABLE src.order_lines (order_id int, line int GENERATED BY DEFAULT AS IDENTITY,
        PRIMARY KEY (order_id, line));
    CREATE TABLE src.pairs (id serial PRIMARY KEY, other serial);
    INSERT INTO src.orders VALUES (1, 'a'), (5, 'b'), (42, 'c');
    INSERT INTO src.tickets VALUES ('x', 3, 'a'), ('y', 9, 'b');
    INSERT INTO src.order_lines VALUES (1, 1), (1, 2), (5, 7);
    INSERT INTO src.pairs VALUES (1, 10), (2, 20);";

const IDENTITY_TABLES: [&str; 4] = ["orders", "tickets", "order_lines", "pairs"];

#[tokio::test]
async fn postgres_identities_continue_on_mysql_or_are_named() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    pg.execute(PG_IDENTITIES).await.expect("source");
    let engine = engine();
    let j = job(dbs.pg("src"), dbs.mysql(), &IDENTITY_TABLES, 2);
    let (plan, _) = migrate(&engine, &j).await;
    for table in ["orders", "tickets", "order_lines"] {
        let warnings = table_warnings(&plan, table);
        assert!(!warnings.contains("identity"), "{table}: {warnings}");
    }
    let pairs = table_warnings(&plan, "pairs");
    assert!(
        pairs.contains("column other: identity/auto-increment is not kept"),
        "{pairs}"
    );

    let my = dbs.my_pool().await;
    let mut new_ids = Vec::new();
    for sql in [
        "INSERT INTO orders (note) VALUES ('new')",
        "INSERT INTO tickets (code, note) VALUES ('z', 'new')",
        "INSERT INTO order_lines (order_id) VALUES (1)",
        "INSERT INTO pairs (other) VALUES (30)",
    ] {
        let id = sqlx::query(sql)
            .execute(&my)
            .await
            .expect(sql)
            .last_insert_id();
        new_ids.push(id);
    }
    // Each continues past the copied maximum (42, 9, 7, 2).
    assert!(new_ids[0] > 42, "{new_ids:?}");
    assert!(new_ids[1] > 9, "{new_ids:?}");
    assert!(new_ids[2] > 7, "{new_ids:?}");
    assert!(new_ids[3] > 2, "{new_ids:?}");
    engine.release_job(j.job_id).await;
    my.close().await;
    pg.close().await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn postgres_identities_continue_on_sqlite_or_are_named() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    pg.execute(PG_IDENTITIES).await.expect("source");
    let engine = engine();
    let j = job(dbs.pg("src"), dbs.sqlite("t"), &IDENTITY_TABLES, 2);
    let (plan, _) = migrate(&engine, &j).await;
    let orders = table_warnings(&plan, "orders");
    assert!(!orders.contains("identity"), "{orders}");
    for (table, column) in [
        ("tickets", "seq"),
        ("order_lines", "line"),
        ("pairs", "other"),
    ] {
        let warnings = table_warnings(&plan, table);
        assert!(
            warnings.contains(&format!(
                "column {column}: identity/auto-increment is not kept"
            )),
            "{table}: {warnings}"
        );
    }
    let pairs = table_warnings(&plan, "pairs");
    assert!(!pairs.contains("column id: identity"), "{pairs}");

    let lite = dbs.sqlite_pool("t").await;
    let id: i64 = sqlx::query_scalar("INSERT INTO orders (note) VALUES ('new') RETURNING id")
        .fetch_one(&lite)
        .await
        .expect("insert");
    assert_eq!(id, 43);
    let id: i64 = sqlx::query_scalar("INSERT INTO pairs (other) VALUES (30) RETURNING id")
        .fetch_one(&lite)
        .await
        .expect("insert");
    assert_eq!(id, 3);
    engine.release_job(j.job_id).await;
    lite.close().await;
    pg.close().await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn mysql_to_mysql_keeps_keys_that_differ_by_trailing_spaces_and_column_collations() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    // A NO PAD key holds `a`, `a ` and `a  ` as three keys; `label` keeps
    // its case-insensitive collation (and its unique index's meaning).
    my.execute(
        "CREATE TABLE spaced (w varchar(20) COLLATE utf8mb4_nopad_bin PRIMARY KEY, n int,
             label varchar(20) COLLATE utf8mb4_general_ci, UNIQUE KEY by_label (label))
             CHARSET utf8mb4;
         INSERT INTO spaced VALUES ('a', 1, 'x'), ('a ', 2, 'y'), ('a  ', 3, 'z'), ('b', 4, NULL);",
    )
    .await
    .expect("source");
    my.close().await;
    let (url, target) = dbs.second_mysql().await;
    let engine = engine();
    let j = job(
        dbs.mysql(),
        config(DatabaseKind::Mysql, &url, None),
        &["spaced"],
        1,
    );
    migrate(&engine, &j).await;
    let rows: Vec<(String, i32)> = sqlx::query_as("SELECT w, n FROM spaced ORDER BY n")
        .fetch_all(&target)
        .await
        .expect("rows");
    let expected: Vec<(String, i32)> = [("a", 1), ("a ", 2), ("a  ", 3), ("b", 4)]
        .into_iter()
        .map(|(w, n)| (w.to_owned(), n))
        .collect();
    assert_eq!(rows, expected);
    let label: String = sqlx::query_scalar(
        "SELECT CAST(collation_name AS CHAR) FROM information_schema.columns
         WHERE table_schema = DATABASE() AND table_name = 'spaced' AND column_name = 'label'",
    )
    .fetch_one(&target)
    .await
    .expect("collation");
    assert_eq!(label, "utf8mb4_general_ci");
    engine.release_job(j.job_id).await;
    target.close().await;
    dbs.drop_second().await;
    dbs.cleanup().await;
}

/// `CURRENT_DATE` / `CURRENT_TIME` / `LOCALTIME` defaults (MySQL
/// `curdate()`, `curtime()`) are recreated on every target: a row inserted
/// there without those columns gets today and the time of day.
#[tokio::test]
async fn current_date_and_time_defaults_arrive_on_every_target() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    pg.execute(
        "CREATE SCHEMA src;
         CREATE TABLE src.stamps (id int PRIMARY KEY, d date NOT NULL DEFAULT CURRENT_DATE,
             t time DEFAULT CURRENT_TIME, lt time(3) DEFAULT LOCALTIME, dn date DEFAULT now(),
             ts timestamp DEFAULT now());
         INSERT INTO src.stamps (id) VALUES (1);",
    )
    .await
    .expect("pg source");
    let my = dbs.my_pool().await;
    my.execute(
        "CREATE TABLE days (id int PRIMARY KEY, d date NOT NULL DEFAULT curdate(),
             t time DEFAULT curtime());
         INSERT INTO days (id) VALUES (1);",
    )
    .await
    .expect("mariadb source");
    let engine = engine();
    let no_default_warning = |plan: &freight_worker::engine::JobPlan, table: &str, what: &str| {
        let warnings = table_warnings(plan, table);
        assert!(!warnings.contains("default"), "{what}: {warnings}");
    };

    // PostgreSQL → MariaDB.
    let j = job(dbs.pg("src"), dbs.mysql(), &["stamps"], 10);
    let (plan, _) = migrate(&engine, &j).await;
    no_default_warning(&plan, "stamps", "postgres → mariadb");
    my.execute("INSERT INTO stamps (id) VALUES (2)")
        .await
        .expect("insert on mariadb");
    let ok: (i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT d = CURDATE(), t IS NOT NULL, lt IS NOT NULL, dn = CURDATE(), ts IS NOT NULL
         FROM stamps WHERE id = 2",
    )
    .fetch_one(&my)
    .await
    .expect("mariadb row");
    assert_eq!(ok, (1, 1, 1, 1, 1), "postgres → mariadb");
    engine.release_job(j.job_id).await;

    // PostgreSQL → SQLite.
    let j = job(dbs.pg("src"), dbs.sqlite("t"), &["stamps"], 10);
    let (plan, _) = migrate(&engine, &j).await;
    no_default_warning(&plan, "stamps", "postgres → sqlite");
    let lite = dbs.sqlite_pool("t").await;
    sqlx::query("INSERT INTO stamps (id) VALUES (2)")
        .execute(&lite)
        .await
        .expect("insert on sqlite");
    let ok: (bool, bool, bool, bool, bool) = sqlx::query_as(
        "SELECT d = date('now'), t GLOB '[0-2][0-9]:[0-5][0-9]:[0-5][0-9]', lt IS NOT NULL,
                dn = date('now'), ts IS NOT NULL
         FROM stamps WHERE id = 2",
    )
    .fetch_one(&lite)
    .await
    .expect("sqlite row");
    assert_eq!(ok, (true, true, true, true, true), "postgres → sqlite");
    engine.release_job(j.job_id).await;

    // PostgreSQL → PostgreSQL and MariaDB → PostgreSQL.
    for (j, table) in [
        (job(dbs.pg("src"), dbs.pg("dst"), &["stamps"], 10), "stamps"),
        (job(dbs.mysql(), dbs.pg("dst"), &["days"], 10), "days"),
    ] {
        let (plan, _) = migrate(&engine, &j).await;
        no_default_warning(&plan, table, table);
        engine.release_job(j.job_id).await;
    }
    pg.execute(
        "INSERT INTO dst.stamps (id) VALUES (2);
         INSERT INTO dst.days (id) VALUES (2);",
    )
    .await
    .expect("insert on postgres");
    let ok: (bool, bool, bool, bool) = sqlx::query_as(
        "SELECT s.d = CURRENT_DATE AND s.dn = CURRENT_DATE, s.t IS NOT NULL AND s.lt IS NOT NULL,
                d.d = CURRENT_DATE, d.t BETWEEN interval '0' AND interval '24 hours'
         FROM dst.stamps s, dst.days d WHERE s.id = 2 AND d.id = 2",
    )
    .fetch_one(&pg)
    .await
    .expect("postgres rows");
    assert_eq!(ok, (true, true, true, true), "into postgres");

    // MariaDB → SQLite: the date; a MySQL `time` is a duration there (text),
    // whose default is named as not recreated.
    let j = job(dbs.mysql(), dbs.sqlite("d"), &["days"], 10);
    let (plan, _) = migrate(&engine, &j).await;
    let warnings = table_warnings(&plan, "days");
    assert!(
        warnings.contains("column t: its default CURRENT_TIME has no equivalent"),
        "{warnings}"
    );
    let lite_d = dbs.sqlite_pool("d").await;
    let today: bool =
        sqlx::query_scalar("INSERT INTO days (id) VALUES (2) RETURNING d = date('now')")
            .fetch_one(&lite_d)
            .await
            .expect("insert on sqlite");
    assert!(today, "mariadb → sqlite");
    engine.release_job(j.job_id).await;
    lite.close().await;
    lite_d.close().await;
    my.close().await;
    pg.close().await;
    dbs.cleanup().await;
}
