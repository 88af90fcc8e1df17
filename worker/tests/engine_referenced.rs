//! Re-copying a range of a table that other tables' foreign keys reference
//! (a retry after the job completed, a repair after validation, a job run
//! again into the same target) never changes the referencing tables' rows,
//! and never fails because they reference it: PostgreSQL targets update
//! such a table's rows in place, MySQL/MariaDB targets write with
//! `foreign_key_checks` off. Rows the source no longer has are deleted, and
//! changed ones updated.
//!
//! The schema has each kind of reference to `customers` (ON DELETE
//! CASCADE, SET NULL and NO ACTION), one to a text key (`countries`, copied
//! by key set) and one to a nullable unique key of a table without a
//! primary key (`accounts`, copied whole).

#[path = "engine_support/mod.rs"]
mod support;

use freight_core::policy::ConnectionPolicy;
use freight_worker::engine::{BatchOutcome, Engine, JobContext, JobPlan};
use sqlx::{Executor, MySqlPool, PgPool};
use support::{Dbs, config, job, migrate, to_run};

/// A database of the test, as a source or a target.
enum Db {
    /// A pool and the schema the tables are in.
    Pg(PgPool, &'static str),
    My(MySqlPool),
}

/// A row as the tests compare it: two integers and a text.
type Row3 = (Option<i64>, Option<i64>, Option<String>);

/// The tables and how each is compared: (integer, integer, text) SQL
/// expressions, NULL where the table has nothing.
const TABLES: [(&str, [&str; 3]); 9] = [
    ("customers", ["id", "NULL", "name"]),
    ("tags", ["id", "NULL", "label"]),
    ("customer_tags", ["customer_id", "tag_id", "NULL"]),
    ("orders", ["id", "customer_id", "NULL"]),
    ("invoices", ["id", "customer_id", "NULL"]),
    ("countries", ["NULL", "NULL", "CONCAT(code, ':', name)"]),
    ("cities", ["id", "NULL", "country_code"]),
    (
        "accounts",
        ["NULL", "NULL", "CONCAT(COALESCE(email, '-'), '/', plan)"],
    ),
    ("logins", ["id", "NULL", "email"]),
];

const NAMES: [&str; 9] = [
    "customers",
    "tags",
    "customer_tags",
    "orders",
    "invoices",
    "countries",
    "cities",
    "accounts",
    "logins",
];

/// The tables referencing others (their rows must not change when the
/// referenced tables are re-copied).
const CHILDREN: [&str; 5] = ["customer_tags", "orders", "invoices", "cities", "logins"];

const MARIADB_SCHEMA: &str = "
    CREATE TABLE customers (id int AUTO_INCREMENT PRIMARY KEY, name varchar(50) NOT NULL);
    CREATE TABLE tags (id int PRIMARY KEY, label varchar(20));
    CREATE TABLE customer_tags (customer_id int, tag_id int,
        FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE ON UPDATE CASCADE,
        FOREIGN KEY (tag_id) REFERENCES tags (id) ON DELETE SET NULL);
    CREATE TABLE orders (id int PRIMARY KEY, customer_id int,
        FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE SET NULL ON UPDATE CASCADE);
    CREATE TABLE invoices (id int PRIMARY KEY, customer_id int NOT NULL,
        FOREIGN KEY (customer_id) REFERENCES customers (id));
    CREATE TABLE countries (code varchar(2) COLLATE utf8mb4_nopad_bin PRIMARY KEY, name varchar(50));
    CREATE TABLE cities (id int PRIMARY KEY, country_code varchar(2) COLLATE utf8mb4_nopad_bin,
        FOREIGN KEY (country_code) REFERENCES countries (code) ON DELETE CASCADE);
    CREATE TABLE accounts (email varchar(100) NULL UNIQUE, plan varchar(10) NOT NULL);
    CREATE TABLE logins (id int PRIMARY KEY, email varchar(100),
        FOREIGN KEY (email) REFERENCES accounts (email) ON DELETE CASCADE);";

const POSTGRES_SCHEMA: &str = "
    CREATE SCHEMA src;
    CREATE TABLE src.customers (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name varchar(50) NOT NULL);
    CREATE TABLE src.tags (id int PRIMARY KEY, label varchar(20));
    CREATE TABLE src.customer_tags (
        customer_id int REFERENCES src.customers (id) ON DELETE CASCADE ON UPDATE CASCADE,
        tag_id int REFERENCES src.tags (id) ON DELETE SET NULL);
    CREATE TABLE src.orders (id int PRIMARY KEY,
        customer_id int REFERENCES src.customers (id) ON DELETE SET NULL ON UPDATE CASCADE);
    CREATE TABLE src.invoices (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES src.customers (id));
    CREATE TABLE src.countries (code varchar(2) PRIMARY KEY, name varchar(50));
    CREATE TABLE src.cities (id int PRIMARY KEY,
        country_code varchar(2) REFERENCES src.countries (code) ON DELETE CASCADE);
    CREATE TABLE src.accounts (email varchar(100) UNIQUE, plan varchar(10) NOT NULL);
    CREATE TABLE src.logins (id int PRIMARY KEY,
        email varchar(100) REFERENCES src.accounts (email) ON DELETE CASCADE);";

/// The rows, with `{p}` for the tables' schema prefix and `{o}` for what a
/// PostgreSQL identity column needs to take an explicit value.
const ROWS: &str = "
    INSERT INTO {p}customers (id, name) {o} VALUES (1, 'Ada'), (2, 'Bob'), (3, 'Cy'), (4, 'Di'),
        (5, 'Ed'), (6, 'Flo'), (7, 'Gus'), (8, 'Hal');
    INSERT INTO {p}tags VALUES (1, 'vip'), (2, 'new'), (3, 'old');
    INSERT INTO {p}customer_tags VALUES (1, 1), (2, 2), (3, 1), (5, 3);
    INSERT INTO {p}orders VALUES (1, 1), (2, 2), (3, 5), (4, 7);
    INSERT INTO {p}invoices VALUES (1, 1), (2, 3), (3, 6);
    INSERT INTO {p}countries VALUES ('DE', 'Germany'), ('FR', 'France'), ('IT', 'Italy'), ('NL', 'Holland');
    INSERT INTO {p}cities VALUES (1, 'DE'), (2, 'FR'), (3, 'NL');
    INSERT INTO {p}accounts VALUES ('a@x', 'free'), ('b@x', 'pro'), (NULL, 'trial'), ('c@x', 'free');
    INSERT INTO {p}logins VALUES (1, 'a@x'), (2, 'c@x');";

impl Db {
    /// `sql` with `{p}` and `{o}` filled in for this database.
    fn spell(&self, sql: &str) -> String {
        match self {
            Self::Pg(_, schema) => sql
                .replace("{p}", &format!("{schema}."))
                .replace("{o}", "OVERRIDING SYSTEM VALUE"),
            Self::My(_) => sql.replace("{p}", "").replace("{o}", ""),
        }
    }

    async fn exec(&self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(self.spell(sql));
        match self {
            Self::Pg(pool, _) => pool.execute(sql).await.map(|_| ()),
            Self::My(pool) => pool.execute(sql).await.map(|_| ()),
        }
        .unwrap_or_else(|e| panic!("{e}"));
    }

    /// A table's rows as [`Row3`]s, sorted.
    async fn rows(&self, table: &str) -> Vec<Row3> {
        let [a, b, c] = TABLES
            .iter()
            .find(|(t, _)| *t == table)
            .map(|(_, cols)| *cols)
            .expect("known table");
        let mut rows: Vec<Row3> = match self {
            Self::Pg(pool, schema) => sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT CAST({a} AS bigint), CAST({b} AS bigint), CAST({c} AS text) FROM {schema}.{table}"
            )))
            .fetch_all(pool)
            .await
            .expect("pg rows"),
            Self::My(pool) => sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT CAST({a} AS SIGNED), CAST({b} AS SIGNED), CAST({c} AS CHAR) FROM {table}"
            )))
            .fetch_all(pool)
            .await
            .expect("mysql rows"),
        };
        rows.sort();
        rows
    }

    async fn snapshot(&self, tables: &[&str]) -> Vec<(String, Vec<Row3>)> {
        let mut all = Vec::new();
        for t in tables {
            all.push(((*t).to_owned(), self.rows(t).await));
        }
        all
    }
}

/// One direction's databases and job.
struct Case {
    dbs: Dbs,
    source: Db,
    target: Db,
    job: JobContext,
    second: bool,
}

#[derive(Clone, Copy, Debug)]
enum Direction {
    MariaDbToPostgres,
    MariaDbToMariaDb,
    PostgresToPostgres,
}

const DIRECTIONS: [Direction; 3] = [
    Direction::MariaDbToPostgres,
    Direction::MariaDbToMariaDb,
    Direction::PostgresToPostgres,
];

impl Case {
    async fn new(direction: Direction) -> Self {
        let dbs = Dbs::new().await;
        let (source, source_config) = match direction {
            Direction::PostgresToPostgres => {
                let pg = dbs.pg_pool().await;
                pg.execute(POSTGRES_SCHEMA).await.expect("pg schema");
                (Db::Pg(pg, "src"), dbs.pg("src"))
            }
            _ => {
                let my = dbs.my_pool().await;
                my.execute(MARIADB_SCHEMA).await.expect("mariadb schema");
                (Db::My(my), dbs.mysql())
            }
        };
        source.exec(ROWS).await;
        let (target, target_config, second) = match direction {
            Direction::MariaDbToMariaDb => {
                let (url, pool) = dbs.second_mysql().await;
                (
                    Db::My(pool),
                    config(freight_core::connection::DatabaseKind::Mysql, &url, None),
                    true,
                )
            }
            _ => (
                Db::Pg(dbs.pg_pool().await, "public"),
                dbs.pg("public"),
                false,
            ),
        };
        let job = job(source_config, target_config, &NAMES, 3);
        Self {
            dbs,
            source,
            target,
            job,
            second,
        }
    }

    /// A new job of the same tables between the same databases.
    fn job_again(&self) -> JobContext {
        let mut again = self.job.clone();
        again.job_id = freight_core::ids::JobId::new();
        again
    }

    fn is_postgres_target(&self) -> bool {
        matches!(self.target, Db::Pg(..))
    }

    /// Every batch of `table` run again; their outcomes.
    async fn retry(&self, engine: &Engine, plan: &JobPlan, table: &str) -> Vec<BatchOutcome> {
        let mut outcomes = Vec::new();
        for b in plan.batches.iter().filter(|b| b.table_name == table) {
            outcomes.push(
                engine
                    .run_batch(&self.job, &to_run(b, 0))
                    .await
                    .unwrap_or_else(|e| panic!("retry of a {table} batch: {e:?}")),
            );
        }
        assert!(!outcomes.is_empty(), "{table} has batches");
        outcomes
    }

    /// [`retry`](Self::retry), every batch verified.
    async fn retry_verified(&self, engine: &Engine, plan: &JobPlan, table: &str) {
        for o in self.retry(engine, plan, table).await {
            assert_eq!(o.verified, Some(true), "{table}: {:?}", o.verify_detail);
        }
    }

    async fn assert_same(&self, tables: &[&str], what: &str) {
        assert_eq!(
            self.target.snapshot(tables).await,
            self.source.snapshot(tables).await,
            "{what}"
        );
    }

    async fn cleanup(self) {
        for db in [self.source, self.target] {
            match db {
                Db::Pg(p, _) => p.close().await,
                Db::My(p) => p.close().await,
            }
        }
        if self.second {
            self.dbs.drop_second().await;
        }
        self.dbs.cleanup().await;
    }
}

#[tokio::test]
async fn retrying_referenced_tables_keeps_the_rows_referencing_them() {
    for direction in DIRECTIONS {
        let case = Case::new(direction).await;
        let engine = Engine::new(ConnectionPolicy::for_local_user());
        let (plan, _) = migrate(&engine, &case.job).await;
        case.assert_same(&NAMES, "after the first run").await;
        let children = case.target.snapshot(&CHILDREN).await;
        assert_eq!(children[0].1.len(), 4, "{direction:?}: customer_tags");

        // Unchanged source: a retry of every referenced table's batches
        // copies them again and leaves every other table as it was.
        for table in ["customers", "countries", "accounts", "tags"] {
            case.retry_verified(&engine, &plan, table).await;
        }
        assert_eq!(
            case.target.snapshot(&CHILDREN).await,
            children,
            "{direction:?}: a retry of the referenced tables changed their children"
        );
        case.assert_same(&NAMES, "after the retry").await;

        // Changed and new rows at the source arrive; the children stay.
        case.source
            .exec(
                "UPDATE {p}customers SET name = 'Bobby' WHERE id = 2;
                 UPDATE {p}customers SET name = 'Hal 2' WHERE id = 8;
                 INSERT INTO {p}customers (id, name) {o} VALUES (9, 'Ivy');
                 UPDATE {p}countries SET name = 'Netherlands' WHERE code = 'NL';
                 INSERT INTO {p}countries VALUES ('ES', 'Spain');
                 UPDATE {p}accounts SET plan = 'team' WHERE email = 'a@x';
                 UPDATE {p}accounts SET plan = 'trial2' WHERE email IS NULL;
                 INSERT INTO {p}accounts VALUES ('d@x', 'pro');",
            )
            .await;
        for table in ["customers", "countries", "accounts"] {
            case.retry_verified(&engine, &plan, table).await;
        }
        case.assert_same(&NAMES, "after the changes were retried")
            .await;
        assert_eq!(case.target.snapshot(&CHILDREN).await, children);
        engine.release_job(case.job.job_id).await;

        // The same job run again into the target that holds the tables
        // with their foreign keys (children are copied before their
        // parents: the alphabetical order puts customer_tags first).
        let again = case.job_again();
        case.source
            .exec("UPDATE {p}customers SET name = 'Cyd' WHERE id = 3")
            .await;
        migrate(&engine, &again).await;
        case.assert_same(&NAMES, "after a second job into the same target")
            .await;
        assert_eq!(
            case.target.snapshot(&CHILDREN).await,
            children,
            "{direction:?}"
        );
        engine.release_job(again.job_id).await;
        case.cleanup().await;
    }
}

#[tokio::test]
async fn cascading_and_nulling_foreign_keys_lose_nothing_on_a_retry_or_a_rerun() {
    // Only ON DELETE CASCADE and SET NULL reference customers here: a
    // DELETE of its range would succeed, and silently empty customer_tags
    // and null every order's customer.
    for direction in DIRECTIONS {
        let mut case = Case::new(direction).await;
        case.source.exec("DROP TABLE {p}invoices").await;
        case.job.tables.retain(|t| t != "invoices");
        let engine = Engine::new(ConnectionPolicy::for_local_user());
        let (plan, _) = migrate(&engine, &case.job).await;
        let children = ["customer_tags", "orders", "cities", "logins"];
        let before = case.target.snapshot(&children).await;
        assert_eq!(before[0].1.len(), 4, "{direction:?}");
        assert!(
            before[1]
                .1
                .iter()
                .all(|(_, customer, _)| customer.is_some())
        );
        for table in ["customers", "countries", "accounts", "tags"] {
            case.retry_verified(&engine, &plan, table).await;
        }
        assert_eq!(
            case.target.snapshot(&children).await,
            before,
            "{direction:?}: retry"
        );
        engine.release_job(case.job.job_id).await;
        let again = case.job_again();
        migrate(&engine, &again).await;
        assert_eq!(
            case.target.snapshot(&children).await,
            before,
            "{direction:?}: re-run"
        );
        engine.release_job(again.job_id).await;
        case.cleanup().await;
    }
}

#[tokio::test]
async fn a_row_deleted_at_the_source_is_deleted_on_the_target_by_a_retry() {
    for direction in DIRECTIONS {
        let case = Case::new(direction).await;
        let engine = Engine::new(ConnectionPolicy::for_local_user());
        let (plan, _) = migrate(&engine, &case.job).await;
        let children = case.target.snapshot(&CHILDREN).await;

        // Customer 5 goes: the source cascades to its tag and nulls its
        // order. Account b@x (no login; its table is copied whole) goes
        // too. (Tables copied by key set, such as countries, keep the rows
        // the source deleted: a batch addresses only the keys it read.)
        case.source
            .exec(
                "DELETE FROM {p}customers WHERE id = 5;
                 DELETE FROM {p}accounts WHERE email = 'b@x';",
            )
            .await;
        for table in ["customers", "accounts"] {
            case.retry_verified(&engine, &plan, table).await;
        }
        case.assert_same(&["customers", "accounts"], "parents")
            .await;
        if case.is_postgres_target() {
            // PostgreSQL applies the foreign keys' actions to a row deleted
            // for good, as the source did.
            case.assert_same(&CHILDREN, "children follow the deletion")
                .await;
        } else {
            // MariaDB writes with foreign_key_checks off: the children stay
            // until their own batches are copied again.
            assert_eq!(case.target.snapshot(&CHILDREN).await, children);
            for table in ["customer_tags", "orders"] {
                case.retry_verified(&engine, &plan, table).await;
            }
            case.assert_same(&CHILDREN, "children after their retry")
                .await;
        }

        // Customer 6 goes with its invoice (NO ACTION), but only the
        // customers are copied again: the target's invoice 3 still
        // references customer 6.
        case.source
            .exec(
                "DELETE FROM {p}invoices WHERE id = 3;
                 DELETE FROM {p}customers WHERE id = 6;",
            )
            .await;
        let outcomes = case.retry(&engine, &plan, "customers").await;
        if case.is_postgres_target() {
            // Kept, and said so; nothing fails.
            let kept: Vec<_> = outcomes
                .iter()
                .filter(|o| o.verified != Some(true))
                .collect();
            assert_eq!(kept.len(), 1, "{outcomes:?}");
            let detail = kept[0].verify_detail.as_deref().unwrap_or_default();
            assert!(
                detail.contains("1 row(s) the source no longer has stay on the target"),
                "{detail}"
            );
            assert!(case.target.rows("customers").await.contains(&(
                Some(6),
                None,
                Some("Flo".into())
            )));
            case.retry_verified(&engine, &plan, "invoices").await;
            case.retry_verified(&engine, &plan, "customers").await;
        } else {
            assert!(
                outcomes.iter().all(|o| o.verified == Some(true)),
                "{outcomes:?}"
            );
            case.retry_verified(&engine, &plan, "invoices").await;
        }
        case.assert_same(&NAMES, "after the retries").await;
        engine.release_job(case.job.job_id).await;
        case.cleanup().await;
    }
}

#[tokio::test]
async fn a_refused_row_of_a_referenced_postgres_table_keeps_its_previous_copy() {
    let case = Case::new(Direction::MariaDbToPostgres).await;
    let engine = Engine::new(ConnectionPolicy::for_local_user());
    let (plan, _) = migrate(&engine, &case.job).await;
    let children = case.target.snapshot(&CHILDREN).await;
    // The target refuses a name the source now has.
    case.target
        .exec("ALTER TABLE public.customers ADD CONSTRAINT not_bad CHECK (name <> 'bad')")
        .await;
    case.source
        .exec(
            "UPDATE customers SET name = 'bad' WHERE id = 2;
             UPDATE customers SET name = 'Ann' WHERE id = 1;",
        )
        .await;
    let batch = plan
        .batches
        .iter()
        .find(|b| b.table_name == "customers" && b.key_start.is_none())
        .expect("first customers batch");
    let outcome = engine
        .run_batch(&case.job, &to_run(batch, 1))
        .await
        .expect("retry with a record budget");
    assert_eq!(outcome.rejected.len(), 1, "{:?}", outcome.rejected);
    assert_eq!(outcome.rejected[0].key, serde_json::json!([2]));
    assert!(
        outcome.rejected[0].message.contains("not_bad"),
        "{}",
        outcome.rejected[0].message
    );
    let customers = case.target.rows("customers").await;
    assert!(customers.contains(&(Some(1), None, Some("Ann".into()))));
    assert!(customers.contains(&(Some(2), None, Some("Bob".into()))));
    assert_eq!(outcome.verified, Some(false));
    let detail = outcome.verify_detail.as_deref().unwrap_or_default();
    assert!(
        detail.contains("1 rejected or set-aside row(s) keep their previous copy"),
        "{detail}"
    );
    assert_eq!(case.target.snapshot(&CHILDREN).await, children);
    engine.release_job(case.job.job_id).await;
    case.cleanup().await;
}

#[tokio::test]
async fn an_on_update_timestamp_keeps_the_source_value_when_a_referenced_row_is_updated() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute(
        "CREATE TABLE profiles (id int PRIMARY KEY, bio varchar(50),
             changed datetime NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP);
         CREATE TABLE posts (id int PRIMARY KEY, profile_id int NOT NULL,
             FOREIGN KEY (profile_id) REFERENCES profiles (id));
         INSERT INTO profiles VALUES (1, 'one', '2020-01-01 10:00:00'), (2, 'two', '2020-01-02 10:00:00');
         INSERT INTO posts VALUES (1, 1), (2, 2);",
    )
    .await
    .expect("source");
    let engine = Engine::new(ConnectionPolicy::for_local_user());
    let j = job(dbs.mysql(), dbs.pg("public"), &["profiles", "posts"], 10);
    let (plan, _) = migrate(&engine, &j).await;
    // A change at the source that leaves the timestamp as it was.
    my.execute("UPDATE profiles SET bio = 'uno', changed = changed WHERE id = 1")
        .await
        .expect("update");
    let batch = plan
        .batches
        .iter()
        .find(|b| b.table_name == "profiles")
        .expect("profiles batch");
    let outcome = engine
        .run_batch(&j, &to_run(batch, 0))
        .await
        .expect("retry");
    assert_eq!(outcome.verified, Some(true), "{:?}", outcome.verify_detail);
    let pg = dbs.pg_pool().await;
    let rows: Vec<(i32, String, String)> =
        sqlx::query_as("SELECT id, bio, changed::text FROM profiles ORDER BY id")
            .fetch_all(&pg)
            .await
            .expect("profiles");
    assert_eq!(
        rows,
        [
            (1, "uno".to_owned(), "2020-01-01 10:00:00".to_owned()),
            (2, "two".to_owned(), "2020-01-02 10:00:00".to_owned())
        ]
    );
    let posts: i64 = sqlx::query_scalar("SELECT count(*) FROM posts")
        .fetch_one(&pg)
        .await
        .expect("posts");
    assert_eq!(posts, 2);
    engine.release_job(j.job_id).await;
    pg.close().await;
    my.close().await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn a_table_referencing_itself_is_merged_with_new_rows_referencing_each_other() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute(
        "CREATE TABLE staff (id int PRIMARY KEY, name varchar(20) NOT NULL, boss int,
             FOREIGN KEY (boss) REFERENCES staff (id) ON DELETE SET NULL);
         CREATE TABLE badges (id int PRIMARY KEY, staff_id int NOT NULL,
             FOREIGN KEY (staff_id) REFERENCES staff (id) ON DELETE CASCADE);
         INSERT INTO staff VALUES (1, 'Ada', NULL), (2, 'Bob', 1), (3, 'Cy', 1), (4, 'Di', 3);
         INSERT INTO badges VALUES (1, 1), (2, 2), (3, 3), (4, 4);",
    )
    .await
    .expect("source");
    let engine = Engine::new(ConnectionPolicy::for_local_user());
    let j = job(dbs.mysql(), dbs.pg("public"), &["staff", "badges"], 100);
    let (plan, _) = migrate(&engine, &j).await;
    // Two new rows, the first reporting to the second; an old row moves
    // under a new one; a boss leaves (the source nulls her reports' boss).
    my.execute(
        "SET foreign_key_checks = 0;
         INSERT INTO staff VALUES (5, 'Ed', 6), (6, 'Flo', NULL);
         SET foreign_key_checks = 1;
         UPDATE staff SET boss = 6 WHERE id = 2;
         DELETE FROM staff WHERE id = 3;",
    )
    .await
    .expect("changes");
    let batch = plan
        .batches
        .iter()
        .find(|b| b.table_name == "staff")
        .expect("staff batch");
    let outcome = engine
        .run_batch(&j, &to_run(batch, 0))
        .await
        .expect("retry");
    assert_eq!(outcome.verified, Some(true), "{:?}", outcome.verify_detail);
    let pg = dbs.pg_pool().await;
    let rows: Vec<(i32, String, Option<i32>)> =
        sqlx::query_as("SELECT id, name, boss FROM staff ORDER BY id")
            .fetch_all(&pg)
            .await
            .expect("staff");
    let source: Vec<(i32, String, Option<i32>)> =
        sqlx::query_as("SELECT id, name, boss FROM staff ORDER BY id")
            .fetch_all(&my)
            .await
            .expect("source staff");
    assert_eq!(rows, source);
    assert_eq!(rows[2], (4, "Di".to_owned(), None));
    // Staff 3's badge went with her, as at the source; the others stay.
    let badges: Vec<(i32, i32)> = sqlx::query_as("SELECT id, staff_id FROM badges ORDER BY id")
        .fetch_all(&pg)
        .await
        .expect("badges");
    assert_eq!(badges, [(1, 1), (2, 2), (4, 4)]);
    engine.release_job(j.job_id).await;
    pg.close().await;
    my.close().await;
    dbs.cleanup().await;
}
