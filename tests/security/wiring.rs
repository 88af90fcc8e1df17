//! The policy as `freight` wires it, not as a test builds it: a default
//! `freight all` and `freight api`, reached through the public API only.

use serde_json::{Value, json};

use crate::common::assert_problem;
use crate::ops_support::{Freight, FreightSpec, token};
use crate::support::database_name;

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

fn job(source: &Value, target: &Value) -> Value {
    json!({
        "source_config": source,
        "target_config": target,
        "batch_size": 1000,
        "started_by": "mallory"
    })
}

#[tokio::test]
async fn a_default_freight_all_refuses_its_own_database_and_redis() {
    let control = freight_api::testing::fresh_database("freight_sec_wire_ctl").await;
    let neighbour = freight_api::testing::fresh_database("freight_sec_wire_n").await;
    let own = database_name(&control);
    let mut freight = FreightSpec::new("all", &control).spawn();
    let http = reqwest::Client::new();
    freight.wait_ready(&http).await;
    let neighbour = json!({"type": "postgresql", "url": neighbour});

    let own_forms = [
        json!({"type": "postgresql", "url": format!("postgres://postgres@127.0.0.1:5432/{own}")}),
        json!({"type": "postgresql", "url": format!("postgres://postgres@localhost/{own}")}),
        json!({"type": "postgresql", "host": "127.0.0.1", "port": 5432, "database": own, "user": "postgres"}),
        json!({"type": "postgresql", "host": "localhost", "database": own, "user": "postgres"}),
    ];
    let redis_forms = [
        json!({"type": "postgresql", "host": "127.0.0.1", "port": 6379, "database": "x", "user": "u"}),
        json!({"type": "postgresql", "url": "postgres://u@localhost:6379/x"}),
        json!({"type": "mysql", "host": "127.0.0.1", "port": 6379, "database": "x", "user": "u"}),
    ];
    for (config, what) in own_forms
        .iter()
        .map(|c| (c, "Freight's own database"))
        .chain(redis_forms.iter().map(|c| (c, "")))
    {
        for path in ["/api/v1/jobs/plan", "/api/v1/jobs"] {
            for side in ["source", "target"] {
                let body = if side == "source" {
                    job(config, &neighbour)
                } else {
                    job(&neighbour, config)
                };
                let response = post(&http, &freight, path, &body).await;
                let problem = assert_problem(response, 422, "CONNECTION_NOT_ALLOWED").await;
                assert_eq!(
                    problem["errors"][0]["field"].as_str().unwrap(),
                    format!("{side}_config"),
                    "{config} {path}"
                );
                let message = problem["errors"][0]["message"].as_str().unwrap();
                assert!(message.contains(what), "{config} {path}: {message}");
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
async fn a_retry_checks_the_policy_of_the_restarted_server() {
    let control = freight_api::testing::fresh_database("freight_sec_retry_ctl").await;
    let source = freight_api::testing::fresh_database("freight_sec_retry_s").await;
    let target = freight_api::testing::fresh_database("freight_sec_retry_t").await;
    let http = reqwest::Client::new();
    let mut api = FreightSpec::new("api", &control).spawn();
    api.wait_ready(&http).await;
    let body = job(
        &json!({"type": "postgresql", "url": source}),
        &json!({"type": "postgresql", "url": target}),
    );
    let created = post(&http, &api, "/api/v1/jobs", &body).await;
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Allowed today: the retry reaches the job (nothing to retry yet).
    let retry = post(&http, &api, &format!("/api/v1/jobs/{id}/retry"), &json!({})).await;
    assert_eq!(retry.status(), 409);
    api.terminate();
    api.wait_exit(std::time::Duration::from_secs(30)).await;

    // The operator denies the address the job's databases are on.
    let mut stricter = FreightSpec::new("api", &control)
        .env("FREIGHT_EGRESS_DENY", "127.0.0.0/8,::1/128")
        .spawn();
    stricter.wait_ready(&http).await;
    let retry = post(
        &http,
        &stricter,
        &format!("/api/v1/jobs/{id}/retry"),
        &json!({}),
    )
    .await;
    let problem = assert_problem(retry, 422, "CONNECTION_NOT_ALLOWED").await;
    assert_eq!(problem["errors"][0]["field"], "source_config", "{problem}");
}
