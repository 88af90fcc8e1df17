//! SIGTERM to real `freight api`, `freight worker` and `freight all`
//! processes: they drain and exit 0 within the grace period.

use std::time::Duration;

use futures::channel::mpsc;
use serde_json::{Value, json};

use crate::support::{FreightSpec, MARIADB, token, unique};

const EXIT_WITHIN: Duration = Duration::from_secs(20);

fn job_body(tenant: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "name": format!("in flight for {tenant}"),
        "source_config": {"type": "mysql", "url": format!("{MARIADB}/nothing_here")},
        "target_config": {"type": "postgresql", "url": "postgres://postgres@127.0.0.1:5432/nothing_here"},
        "tables": ["t"],
        "started_by": "ops-test",
    }))
    .expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_finishes_an_in_flight_request_after_sigterm_and_exits_0() {
    let database = freight_api::testing::fresh_database("freight_ops").await;
    let http = reqwest::Client::new();
    let mut api = FreightSpec::new("api", &database)
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info,sqlx=warn,tower_http=debug")
        .spawn();
    api.wait_ready(&http).await;

    // A request whose body arrives in two halves: in flight until we send
    // the second one.
    let tenant = unique("ops");
    let body = job_body(&tenant);
    let (half, rest) = body.split_at(body.len() / 2);
    let (tx, rx) = mpsc::unbounded::<Result<Vec<u8>, std::io::Error>>();
    tx.unbounded_send(Ok(half.to_vec())).expect("first half");
    let request = http
        .post(format!("{}/api/v1/jobs", api.base_url()))
        .bearer_auth(token(&tenant))
        .header("X-Tenant-ID", &tenant)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(rx))
        .send();
    let response = tokio::spawn(request);
    api.wait_for_log_line(|line| {
        line.contains("started processing request") && line.contains(r#""method":"POST""#)
    })
    .await;

    api.terminate();
    api.wait_for_log_line(|line| line.contains("SIGTERM received"))
        .await;
    api.assert_running();
    tx.unbounded_send(Ok(rest.to_vec())).expect("second half");
    drop(tx);

    let response = response
        .await
        .expect("request task")
        .expect("the in-flight request completes");
    assert_eq!(response.status(), 201, "in-flight request after SIGTERM");
    let job: Value = response.json().await.expect("job json");
    assert_eq!(job["status"], "queued");

    let status = api.wait_exit(EXIT_WITHIN).await;
    assert!(
        status.success(),
        "exit 0 after SIGTERM: {status}\n{}",
        api.logs()
    );
    let logs = api.logs();
    let line_of = |needle: &str| {
        logs.lines()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in the log:\n{logs}"))
    };
    assert!(
        line_of("SIGTERM received") < line_of("job created"),
        "the request was still in flight when the signal arrived"
    );
    assert!(line_of("job created") < line_of("API stopped"));
    // New connections are refused once it is gone.
    assert!(
        http.get(format!("{}/health", api.base_url()))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_exits_0_on_sigterm() {
    let database = freight_api::testing::fresh_database("freight_ops").await;
    let mut worker = FreightSpec::new("worker", &database).spawn();
    // Fully up: the queue consumer's "Worker … started" comes last.
    worker
        .wait_for_log_line(|line| line.contains("Worker ") && line.contains(" started"))
        .await;
    // What the compose health check of a worker probes.
    let metrics_url = format!("http://127.0.0.1:{}/metrics", worker.metrics_port);
    crate::support::eventually(EXIT_WITHIN, "the worker's /metrics", || async {
        let text = reqwest::get(&metrics_url)
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        if text.contains("freight_worker_concurrency 2") {
            Ok(())
        } else {
            Err(text)
        }
    })
    .await;
    worker.terminate();
    let status = worker.wait_exit(EXIT_WITHIN).await;
    assert!(
        status.success(),
        "exit 0 after SIGTERM: {status}\n{}",
        worker.logs()
    );
    assert!(
        worker.logs().contains("worker stopped"),
        "{}",
        worker.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_exits_0_on_sigterm() {
    let database = freight_api::testing::fresh_database("freight_ops").await;
    let http = reqwest::Client::new();
    let mut all = FreightSpec::new("all", &database).spawn();
    all.wait_ready(&http).await;
    all.wait_for_log_line(|line| line.contains("worker starting"))
        .await;
    all.terminate();
    let status = all.wait_exit(EXIT_WITHIN).await;
    assert!(
        status.success(),
        "exit 0 after SIGTERM: {status}\n{}",
        all.logs()
    );
    let logs = all.logs();
    assert!(
        logs.contains("API stopped") && logs.contains("worker stopped"),
        "{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_stops_the_api_too() {
    let database = freight_api::testing::fresh_database("freight_ops").await;
    let http = reqwest::Client::new();
    let mut api = FreightSpec::new("api", &database).spawn();
    api.wait_ready(&http).await;
    crate::support::signal(api.pid(), "INT");
    let status = api.wait_exit(EXIT_WITHIN).await;
    assert!(
        status.success(),
        "exit 0 after SIGINT: {status}\n{}",
        api.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_signalled_during_start_up_exits_0() {
    let database = freight_api::testing::fresh_database("freight_ops").await;
    let mut worker = FreightSpec::new("worker", &database).spawn();
    // Its first line: still connecting and migrating, not yet dispatching.
    worker
        .wait_for_log_line(|line| line.contains("metrics at /metrics"))
        .await;
    worker.terminate();
    let status = worker.wait_exit(EXIT_WITHIN).await;
    assert!(
        status.success(),
        "exit 0 after SIGTERM during start-up: {status}\n{}",
        worker.logs()
    );
}
