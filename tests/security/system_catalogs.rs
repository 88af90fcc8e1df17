//! A server's own catalogs are not a tenant's data: with a superuser login
//! to another database of Freight's server (allowed), `schema:
//! "pg_catalog"` would copy `pg_authid`, every role's password hash,
//! Freight's own included; MariaDB's `mysql` database holds `mysql.user`.
//! Refused for every login, as source and as target, by the API (plan and
//! create) and by the worker.

use serde_json::{Value, json};

use crate::common::assert_problem;
use crate::ops_support::{Freight, FreightSpec, token};

async fn post(http: &reqwest::Client, freight: &Freight, path: &str, body: &Value) -> Value {
    let response = http
        .post(format!("{}{path}", freight.base_url()))
        .bearer_auth(token("acme"))
        .header("X-Tenant-ID", "acme")
        .json(body)
        .send()
        .await
        .unwrap();
    assert_problem(response, 422, "CONNECTION_NOT_ALLOWED").await
}

fn job(source: &Value, target: &Value, tables: &[&str]) -> Value {
    json!({
        "source_config": source,
        "target_config": target,
        "tables": tables,
        "batch_size": 1000,
        "started_by": "mallory"
    })
}

#[tokio::test]
async fn system_schemas_and_databases_are_refused_as_source_and_target() {
    let control = freight_api::testing::fresh_database("freight_sec_sys_ctl").await;
    let neighbour = freight_api::testing::fresh_database("freight_sec_sys_n").await;
    let mut freight = FreightSpec::new("all", &control).spawn();
    let http = reqwest::Client::new();
    freight.wait_ready(&http).await;

    let pg = |schema: &str| json!({"type": "postgresql", "url": neighbour, "schema": schema});
    let plain_pg = json!({"type": "postgresql", "url": neighbour});
    let maria_url =
        |db: &str| json!({"type": "mysql", "url": format!("mysql://root@127.0.0.1:3306/{db}")});
    let maria_fields = |db: &str| json!({"type": "mysql", "host": "127.0.0.1", "port": 3306, "database": db, "user": "root"});
    let mut cases = Vec::new();
    for schema in [
        "pg_catalog",
        "information_schema",
        "pg_toast",
        "pg_temp_1",
        "pg_toast_temp_1",
    ] {
        cases.push((pg(schema), "schema", "pg_authid"));
    }
    for db in [
        "mysql",
        "information_schema",
        "performance_schema",
        "sys",
        "MYSQL",
    ] {
        cases.push((maria_url(db), "url", "user"));
        cases.push((maria_fields(db), "database", "user"));
    }
    for (config, field, table) in &cases {
        for path in ["/api/v1/jobs/plan", "/api/v1/jobs"] {
            for side in ["source", "target"] {
                let body = if side == "source" {
                    job(config, &plain_pg, &[table])
                } else {
                    job(&plain_pg, config, &[])
                };
                let problem = post(&http, &freight, path, &body).await;
                assert_eq!(
                    problem["errors"][0]["field"].as_str().unwrap(),
                    format!("{side}_config.{field}"),
                    "{config} {path}: {problem}"
                );
                let message = problem["errors"][0]["message"].as_str().unwrap();
                assert!(message.contains("system"), "{config}: {message}");
            }
        }
    }
    let jobs: Value = http
        .get(format!("{}/api/v1/jobs", freight.base_url()))
        .bearer_auth(token("acme"))
        .header("X-Tenant-ID", "acme")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jobs["total"], 0, "no refused job was stored: {jobs}");
}

#[tokio::test]
async fn the_worker_refuses_a_system_schema_before_reading_it() {
    // A job stored before the rule, or written into the store by other
    // means: the worker's own check refuses it.
    let control = freight_api::testing::fresh_database("freight_sec_sys_wk").await;
    let neighbour = freight_api::testing::fresh_database("freight_sec_sys_wn").await;
    let store = freight_core::store::postgres::PgStore::connect(
        &control,
        2,
        freight_core::secrets::SecretBox::from_key_material("k"),
    )
    .await
    .unwrap();
    let engine =
        freight_worker::engine::Engine::new(crate::support::installation_policy(&store).await);
    let pg = |schema: Option<&str>| freight_core::connection::ConnectionConfig {
        kind: freight_core::connection::DatabaseKind::Postgresql,
        url: Some(freight_core::connection::Secret::new(neighbour.clone())),
        host: None,
        port: None,
        database: None,
        user: None,
        password: None,
        schema: schema.map(str::to_owned),
    };
    let maria = freight_core::connection::ConnectionConfig {
        kind: freight_core::connection::DatabaseKind::Mysql,
        url: Some(freight_core::connection::Secret::new(
            "mysql://root@127.0.0.1:3306/mysql".to_owned(),
        )),
        host: None,
        port: None,
        database: None,
        user: None,
        password: None,
        schema: None,
    };
    for (source, target, table, field) in [
        (
            pg(Some("pg_catalog")),
            pg(None),
            "pg_authid",
            "source_config.schema",
        ),
        (maria.clone(), pg(None), "user", "source_config.url"),
        (
            pg(None),
            pg(Some("information_schema")),
            "t",
            "target_config.schema",
        ),
        (pg(None), maria, "t", "target_config.url"),
    ] {
        let mut job = crate::support::job_context("mallory", source, target);
        job.tables = vec![table.to_owned()];
        let err = engine.plan(&job, true).await.unwrap_err().to_string();
        assert!(
            err.contains(field) && err.contains("system"),
            "{field}: {err}"
        );
        engine.release_job(job.job_id).await;
    }
}
