//! Other databases of Freight's own PostgreSQL server stay open to jobs,
//! under the superuser `postgres` too. What a source authored must not run
//! there with that login: a CHECK copied to the target (evaluated on every
//! row, its error in the job's log) could read Freight's tables and the
//! server's files; so could a user's cast the reader would call. A default
//! `freight all`, through the public API only.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

use crate::common::assert_problem;
use crate::ops_support::{Freight, FreightSpec, eventually, token};
use crate::support::database_name;

/// What the payloads put in their errors: found in a log, it leaked.
const MARKER: &str = "LEAKED:";

async fn connect(url: &str) -> PgConnection {
    PgConnection::connect(url).await.unwrap()
}

async fn exec(url: &str, sql: &str) {
    let mut c = connect(url).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
}

async fn scalar_i64(url: &str, sql: &str) -> i64 {
    let mut c = connect(url).await;
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
    n
}

async fn data_directory() -> String {
    let mut c = connect(&format!(
        "{}/postgres",
        freight_api::testing::postgres_server_url()
    ))
    .await;
    let dir: String = sqlx::query_scalar("SELECT current_setting('data_directory')")
        .fetch_one(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
    dir
}

fn job(source: &str, target: &str, tables: &[&str]) -> Value {
    json!({
        "source_config": {"type": "postgresql", "url": source},
        "target_config": {"type": "postgresql", "url": target},
        "tables": tables,
        "batch_size": 1000,
        "started_by": "mallory"
    })
}

async fn post(
    http: &reqwest::Client,
    freight: &Freight,
    path: &str,
    body: &Value,
) -> reqwest::Response {
    http.post(format!("{}{path}", freight.base_url()))
        .bearer_auth(token("acme"))
        .header("X-Tenant-ID", "acme")
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn get_text(http: &reqwest::Client, freight: &Freight, path: &str) -> String {
    http.get(format!("{}{path}", freight.base_url()))
        .bearer_auth(token("acme"))
        .header("X-Tenant-ID", "acme")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Creates the job and waits until it is final; returns it and its logs.
async fn run(http: &reqwest::Client, freight: &Freight, body: &Value) -> (Value, String) {
    let created = post(http, freight, "/api/v1/jobs", body).await;
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let job = wait_for(http, freight, &id, |job| {
        matches!(job["status"].as_str(), Some("failed" | "completed"))
    })
    .await;
    let logs = get_text(http, freight, &format!("/api/v1/jobs/{id}/logs?limit=1000")).await;
    (job, logs)
}

/// Polls the job until `done` says so.
async fn wait_for(
    http: &reqwest::Client,
    freight: &Freight,
    id: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let path = format!("/api/v1/jobs/{id}");
    let (path, done) = (&path, &done);
    eventually(Duration::from_secs(90), "the job", || async move {
        let job: Value = serde_json::from_str(&get_text(http, freight, path).await)
            .map_err(|e| e.to_string())?;
        if done(&job) {
            Ok(job)
        } else {
            Err(job.to_string())
        }
    })
    .await
}

fn assert_nothing_leaked(what: &str, texts: &[&str], data_directory: &str) {
    for text in texts {
        assert!(!text.contains(MARKER), "{what}: the payload ran: {text}");
        assert!(
            !text.contains(data_directory),
            "{what}: the server's data directory leaked: {text}"
        );
    }
}

/// A job on a default `freight all` copying `tables` of a fresh source
/// (made by `ddl`, given the source's database name) into a fresh database
/// of Freight's server, both as the superuser `postgres`.
struct OwnServerCopy {
    freight: Freight,
    http: reqwest::Client,
    source: String,
    target: String,
    body: Value,
    done: Value,
    logs: String,
}

async fn copy_on_own_server(
    prefix: &str,
    ddl: impl FnOnce(&str) -> String,
    tables: &[&str],
) -> OwnServerCopy {
    let control = freight_api::testing::fresh_database(&format!("{prefix}_ctl")).await;
    let source = freight_api::testing::fresh_database(&format!("{prefix}_src")).await;
    let target = freight_api::testing::fresh_database(&format!("{prefix}_tgt")).await;
    exec(&source, &ddl(&database_name(&source))).await;
    let mut freight = FreightSpec::new("all", &control).spawn();
    let http = reqwest::Client::new();
    freight.wait_ready(&http).await;
    let body = job(&source, &target, tables);
    let (done, logs) = run(&http, &freight, &body).await;
    OwnServerCopy {
        freight,
        http,
        source,
        target,
        body,
        done,
        logs,
    }
}

#[tokio::test]
async fn a_superuser_target_on_freights_server_runs_no_source_check() {
    let data_directory = data_directory().await;
    // The probe's CHECK: true on the source, on the target an error
    // carrying the server's data directory and a file it holds.
    let copy = copy_on_own_server(
        "freight_sec_own_check",
        |source_db| {
            format!(
                "CREATE TABLE leak4 (id int PRIMARY KEY, v text,
                   CONSTRAINT c4 CHECK (CASE WHEN current_database() = '{source_db}' THEN true
                     ELSE ('{MARKER}' || current_setting('data_directory') || pg_read_file('PG_VERSION'))::int > 0 END));
                 INSERT INTO leak4 VALUES (1, 'a'), (2, 'b');"
            )
        },
        &["leak4"],
    )
    .await;
    let (done, logs) = (&copy.done, &copy.logs);
    assert_nothing_leaked(
        "job",
        &[&done.to_string(), logs, &copy.freight.logs()],
        &data_directory,
    );
    assert_eq!(done["status"], "completed", "{done}\n{logs}");
    let warnings = done["plan_warnings"].to_string();
    assert!(
        warnings.contains(
            "CHECK c4 on leak4 not recreated: the target login is a superuser (or may read the \
             server's files) on Freight's own PostgreSQL server, where Freight does not run a \
             source's expressions; use an ordinary login to keep it"
        ),
        "{warnings}"
    );
    let checks = scalar_i64(
        &copy.target,
        "SELECT count(*) FROM pg_constraint WHERE contype = 'c' AND conrelid = 'leak4'::regclass",
    )
    .await;
    assert_eq!(checks, 0);
    assert_eq!(
        scalar_i64(&copy.target, "SELECT count(*) FROM leak4").await,
        2
    );

    // The preview says so too.
    let plan = post(&copy.http, &copy.freight, "/api/v1/jobs/plan", &copy.body).await;
    assert_eq!(plan.status(), 200);
    let plan = plan.text().await.unwrap();
    assert!(plan.contains("CHECK c4 on leak4 not recreated"), "{plan}");

    // A target table that already holds the probe's CHECK and a default
    // on a column the copy does not write (made by an ordinary login,
    // say) is refused, not filled.
    let again = freight_api::testing::fresh_database("freight_sec_own_check_tgt2").await;
    exec(
        &again,
        &format!(
            "CREATE TABLE leak4 (id int PRIMARY KEY, v text,
               x int DEFAULT (('{MARKER}' || current_setting('data_directory'))::int),
               CONSTRAINT c4 CHECK (('{MARKER}' || current_setting('data_directory'))::int > 0))"
        ),
    )
    .await;
    let body = job(&copy.source, &again, &["leak4"]);
    let refused = post(&copy.http, &copy.freight, "/api/v1/jobs/plan", &body).await;
    let refused = refused.text().await.unwrap();
    assert!(
        refused.contains("target table leak4 has CHECK c4, default of column x"),
        "{refused}"
    );
    assert_nothing_leaked("refused plan", &[&refused], &data_directory);
}

#[tokio::test]
async fn a_superuser_target_on_freights_server_gets_no_generated_expression() {
    let copy = copy_on_own_server(
        "freight_sec_own_gen",
        |_| {
            "CREATE TABLE gen (id int PRIMARY KEY, v text, lv text GENERATED ALWAYS AS (lower(v)) STORED);
             INSERT INTO gen (id, v) VALUES (1, 'A'), (2, 'B');"
                .to_owned()
        },
        &["gen"],
    )
    .await;
    let (done, logs) = (&copy.done, &copy.logs);
    assert_eq!(done["status"], "completed", "{done}\n{logs}");
    let warnings = done["plan_warnings"].to_string();
    assert!(
        warnings.contains(
            "generated column lv on gen is a plain column holding the source's values: the \
             target login is a superuser"
        ),
        "{warnings}"
    );
    let generated = scalar_i64(
        &copy.target,
        "SELECT count(*) FROM pg_attribute WHERE attrelid = 'gen'::regclass AND attgenerated <> ''",
    )
    .await;
    assert_eq!(generated, 0);
    let copied = scalar_i64(&copy.target, "SELECT count(*) FROM gen WHERE lv = lower(v)").await;
    assert_eq!(copied, 2, "the generated values arrive as plain values");
}

#[tokio::test]
async fn a_superuser_target_on_freights_server_gets_no_expression_or_partial_index() {
    let copy = copy_on_own_server(
        "freight_sec_own_idx",
        |_| {
            "CREATE TABLE idx (id int PRIMARY KEY, v text, n int);
             CREATE UNIQUE INDEX idx_partial ON idx (v) WHERE n > 0;
             CREATE INDEX idx_expr ON idx (lower(v));
             CREATE INDEX idx_plain ON idx (n);
             ALTER TABLE idx ADD CONSTRAINT idx_excl EXCLUDE USING btree ((n + 0) WITH =) WHERE (n > 0);
             INSERT INTO idx VALUES (1, 'a', 1), (2, 'a', 0);"
                .to_owned()
        },
        &["idx"],
    )
    .await;
    let (done, logs) = (&copy.done, &copy.logs);
    assert_eq!(done["status"], "completed", "{done}\n{logs}");
    let warnings = done["plan_warnings"].to_string();
    assert!(
        warnings.contains("partial index idx_partial on idx not recreated: the target login"),
        "{warnings}"
    );
    assert!(
        warnings.contains("index idx_expr uses expressions and is not recreated"),
        "{warnings}"
    );
    // An exclusion constraint's elements and condition are expressions too.
    assert!(
        warnings.contains("exclusion constraint idx_excl on idx not recreated: the target login"),
        "{warnings}"
    );
    let exclusions = scalar_i64(
        &copy.target,
        "SELECT count(*) FROM pg_constraint WHERE conrelid = 'idx'::regclass AND contype = 'x'",
    )
    .await;
    assert_eq!(exclusions, 0);
    let expression_indexes = scalar_i64(
        &copy.target,
        "SELECT count(*) FROM pg_index WHERE indrelid = 'idx'::regclass
           AND (indexprs IS NOT NULL OR indpred IS NOT NULL)",
    )
    .await;
    assert_eq!(expression_indexes, 0);
    let indexes = scalar_i64(
        &copy.target,
        "SELECT count(*) FROM pg_index WHERE indrelid = 'idx'::regclass AND NOT indisprimary",
    )
    .await;
    assert_eq!(
        indexes, 1,
        "only idx_plain: the unique partial index is not widened"
    );
}

#[tokio::test]
async fn an_ordinary_login_on_freights_server_keeps_its_checks() {
    let control = freight_api::testing::fresh_database("freight_sec_own_ord_ctl").await;
    let source = freight_api::testing::fresh_database("freight_sec_own_ord_src").await;
    let target = freight_api::testing::fresh_database("freight_sec_own_ord_tgt").await;
    let role = format!("freight_ordinary_{}", uuid::Uuid::new_v4().simple());
    let server = source.rsplit_once('/').unwrap().0.to_owned();
    let target_db = database_name(&target);
    exec(
        &format!("{server}/postgres"),
        &format!("CREATE ROLE {role} LOGIN; ALTER DATABASE \"{target_db}\" OWNER TO {role}"),
    )
    .await;
    exec(
        &source,
        "CREATE TABLE plain (id int PRIMARY KEY, v text, CONSTRAINT v_set CHECK (v <> ''),
           lv text GENERATED ALWAYS AS (lower(v)) STORED);
         INSERT INTO plain (id, v) VALUES (1, 'A'), (2, 'B');",
    )
    .await;

    let mut freight = FreightSpec::new("all", &control).spawn();
    let http = reqwest::Client::new();
    freight.wait_ready(&http).await;
    let ordinary = format!("postgres://{role}@127.0.0.1:5432/{target_db}");
    let (done, logs) = run(&http, &freight, &job(&source, &ordinary, &["plain"])).await;
    assert_eq!(done["status"], "completed", "{done}\n{logs}");
    assert!(
        !done["plan_warnings"].to_string().contains("ordinary login"),
        "{done}"
    );
    let checks = scalar_i64(
        &target,
        "SELECT count(*) FROM pg_constraint WHERE contype = 'c' AND conname = 'v_set'",
    )
    .await;
    assert_eq!(checks, 1, "an ordinary login keeps the source's CHECK");
    let generated = scalar_i64(
        &target,
        "SELECT count(*) FROM pg_attribute WHERE attrelid = 'plain'::regclass AND attgenerated <> ''",
    )
    .await;
    assert_eq!(generated, 1, "and its generated column");

    drop(freight);
    let admin = format!("{server}/postgres");
    exec(
        &admin,
        &format!("DROP DATABASE \"{target_db}\" WITH (FORCE)"),
    )
    .await;
    exec(&admin, &format!("DROP ROLE {role}")).await;
}

#[tokio::test]
async fn a_users_cast_on_a_superuser_source_never_runs() {
    let data_directory = data_directory().await;
    let control = freight_api::testing::fresh_database("freight_sec_own_cast_ctl").await;
    let source = freight_api::testing::fresh_database("freight_sec_own_cast_src").await;
    let target = freight_api::testing::fresh_database("freight_sec_own_cast_tgt").await;
    // What another user of the source database could have made: casts
    // of their own types that raise what a superuser may read.
    exec(
        &source,
        &format!(
            "CREATE TYPE mood AS ENUM ('sad', 'ok');
             CREATE FUNCTION leak(mood) RETURNS text LANGUAGE plpgsql AS $$
               BEGIN RAISE EXCEPTION '{MARKER}%', current_setting('data_directory') || pg_read_file('PG_VERSION'); END $$;
             CREATE CAST (mood AS text) WITH FUNCTION leak(mood);
             CREATE TABLE feelings (id int PRIMARY KEY, m mood, ms mood[]);
             INSERT INTO feelings VALUES (1, 'sad', '{{sad,ok}}'), (2, 'ok', NULL), (3, NULL, '{{}}');
             CREATE TYPE tone AS ENUM ('low', 'high');
             CREATE FUNCTION leak_in(text) RETURNS tone LANGUAGE plpgsql AS $$
               BEGIN RAISE EXCEPTION '{MARKER}%', current_setting('data_directory'); END $$;
             CREATE CAST (text AS tone) WITH FUNCTION leak_in(text);
             CREATE TABLE tones (t tone PRIMARY KEY);
             INSERT INTO tones VALUES ('low'), ('high');
             CREATE FUNCTION public.md5(text) RETURNS text LANGUAGE plpgsql AS $$
               BEGIN RAISE EXCEPTION '{MARKER}%', current_setting('data_directory'); END $$;"
        ),
    )
    .await;
    // The database's owner puts their schema before PostgreSQL's: their
    // `md5` would answer the validation's checksums.
    exec(
        &source,
        &format!(
            "ALTER DATABASE \"{}\" SET search_path = public, pg_catalog",
            database_name(&source)
        ),
    )
    .await;

    let mut freight = FreightSpec::new("all", &control).spawn();
    let http = reqwest::Client::new();
    freight.wait_ready(&http).await;

    // Read through the types' output functions: the cast never runs, and
    // the values arrive as the source prints them.
    let (done, logs) = run(&http, &freight, &job(&source, &target, &["feelings"])).await;
    assert_nothing_leaked("copy", &[&done.to_string(), &logs], &data_directory);
    assert_eq!(done["status"], "completed", "{done}\n{logs}");
    let arrived = scalar_i64(
        &target,
        "SELECT count(*) FROM feelings WHERE (id = 1 AND m = 'sad' AND ms::text = '{sad,ok}')
           OR (id = 2 AND m = 'ok' AND ms IS NULL) OR (id = 3 AND m IS NULL AND ms::text = '{}')",
    )
    .await;
    assert_eq!(arrived, 3);
    let id = done["id"].as_str().unwrap();
    let validate = post(
        &http,
        &freight,
        &format!("/api/v1/jobs/{id}/validate"),
        &json!({}),
    )
    .await;
    assert_eq!(validate.status(), 202);
    let validated = wait_for(&http, &freight, id, |job| {
        matches!(
            job["validation"]["status"].as_str(),
            Some("passed" | "failed")
        )
    })
    .await;
    let logs = get_text(
        &http,
        &freight,
        &format!("/api/v1/jobs/{id}/logs?limit=1000"),
    )
    .await;
    assert_nothing_leaked(
        "validation",
        &[&validated.to_string(), &logs, &freight.logs()],
        &data_directory,
    );
    assert_eq!(validated["validation"]["status"], "passed", "{validated}");

    // A cast into a key's type (Freight binds key values with CAST) is
    // refused with a clear error before anything runs: in the preview,
    // and by the worker.
    let tones = job(&source, &target, &["tones"]);
    let preview = post(&http, &freight, "/api/v1/jobs/plan", &tones).await;
    let problem = assert_problem(preview, 422, "VALIDATION_ERROR").await;
    assert_eq!(problem["errors"][0]["field"], "source_config", "{problem}");
    assert!(
        problem.to_string().contains("cast (text AS public.tone)"),
        "{problem}"
    );
    let (done, logs) = run(&http, &freight, &job(&source, &target, &["tones"])).await;
    assert_nothing_leaked(
        "refused",
        &[&done.to_string(), &logs, &freight.logs()],
        &data_directory,
    );
    assert_eq!(done["status"], "failed", "{done}");
    assert!(
        format!("{done}{logs}").contains("cast (text AS public.tone)"),
        "{done}\n{logs}"
    );
}

#[tokio::test]
async fn webhooks_may_not_post_to_freights_own_postgresql() {
    let control = freight_api::testing::fresh_database("freight_sec_own_hook").await;
    let mut freight = FreightSpec::new("all", &control).spawn();
    let http = reqwest::Client::new();
    freight.wait_ready(&http).await;
    for url in [
        "http://127.0.0.1:5432/",
        "http://localhost:5432/hook",
        "https://127.0.0.1:5432/",
    ] {
        let response = post(
            &http,
            &freight,
            "/api/v1/webhooks",
            &json!({"url": url, "events": ["job.completed"]}),
        )
        .await;
        assert_problem(response, 422, "CONNECTION_NOT_ALLOWED").await;
    }
    // Another port of the same host is not Freight's.
    let response = post(
        &http,
        &freight,
        "/api/v1/webhooks",
        &json!({"url": "http://127.0.0.1:5433/hook", "events": ["job.completed"]}),
    )
    .await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
}

#[tokio::test]
async fn a_check_added_after_planning_is_refused_before_a_batch_writes() {
    let data_directory = data_directory().await;
    let control = freight_api::testing::fresh_database("freight_sec_own_late_ctl").await;
    let source = freight_api::testing::fresh_database("freight_sec_own_late_src").await;
    let target = freight_api::testing::fresh_database("freight_sec_own_late_tgt").await;
    exec(
        &source,
        "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a'), (2, 'b');",
    )
    .await;
    let store = freight_core::store::postgres::PgStore::connect(
        &control,
        2,
        freight_core::secrets::SecretBox::from_key_material("k"),
    )
    .await
    .unwrap();
    let engine =
        freight_worker::engine::Engine::new(crate::support::installation_policy(&store).await);
    let config = |url: &str| freight_core::connection::ConnectionConfig {
        kind: freight_core::connection::DatabaseKind::Postgresql,
        url: Some(freight_core::connection::Secret::new(url.to_owned())),
        host: None,
        port: None,
        database: None,
        user: None,
        password: None,
        schema: None,
    };
    let job = crate::support::job_context("mallory", config(&source), config(&target));
    let plan = engine.plan(&job, true).await.unwrap();
    let batch =
        |planned: &freight_worker::engine::PlannedBatch| freight_worker::engine::BatchToRun {
            batch_id: freight_core::BatchId::new(),
            table_name: planned.table_name.clone(),
            key_start: planned.key_start.clone(),
            key_end: planned.key_end.clone(),
            record_error_budget: 0,
        };
    let first = batch(&plan.batches[0]);
    engine.run_batch(&job, &first).await.unwrap();

    // Someone with rights on the target table adds the probe's CHECK (and
    // a trigger) once the table's context is loaded.
    exec(
        &target,
        &format!(
            "TRUNCATE t;
             ALTER TABLE t ADD CONSTRAINT late CHECK (('{MARKER}' || current_setting('data_directory'))::int > 0) NOT VALID;"
        ),
    )
    .await;
    let err = engine
        .run_batch(&job, &first)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("target table t has CHECK late"), "{err}");
    assert_nothing_leaked("batch", &[&err], &data_directory);
    assert_eq!(scalar_i64(&target, "SELECT count(*) FROM t").await, 0);
    engine.release_job(job.job_id).await;
}
