//! `/ready` follows Redis: 200, 503 while a (private) Redis is down, 200
//! again once it is back on the same port.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::support::{FreightSpec, eventually, free_port, require_tool};

/// A throw-away `redis-server` on `port`, without persistence. The shared
/// Redis on 6379 is never touched.
fn start_redis(port: u16) -> tokio::process::Child {
    tokio::process::Command::new(require_tool("redis-server", "redis-server"))
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn redis-server")
}

async fn wait_redis_answers(url: &str) {
    let client = redis::Client::open(url).expect("redis url");
    eventually(
        Duration::from_secs(20),
        "the private Redis to answer",
        || async {
            let mut conn = client
                .get_multiplexed_async_connection()
                .await
                .map_err(|e| e.to_string())?;
            redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .map_err(|e| e.to_string())
        },
    )
    .await;
}

async fn wait_readiness(http: &reqwest::Client, base_url: &str, status: u16, redis: bool) {
    let what = format!("/ready to answer {status} with redis={redis}");
    eventually(Duration::from_secs(30), &what, || async {
        let response = http
            .get(format!("{base_url}/ready"))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let code = response.status().as_u16();
        let body: Value = response.json().await.map_err(|e| e.to_string())?;
        if code == status && body["redis"] == redis && body["postgres"] == true {
            Ok(())
        } else {
            Err(format!("{code} {body}"))
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_flips_with_redis_and_back() {
    let port = free_port();
    let redis_url = format!("redis://127.0.0.1:{port}");
    let mut redis = start_redis(port);
    wait_redis_answers(&redis_url).await;

    let database = freight_api::testing::fresh_database("freight_ops").await;
    let http = reqwest::Client::new();
    let mut api = FreightSpec::new("api", &database)
        .env("REDIS_URL", &redis_url)
        .spawn();
    api.wait_ready(&http).await;
    wait_readiness(&http, &api.base_url(), 200, true).await;

    redis.kill().await.expect("stop the private Redis");
    wait_readiness(&http, &api.base_url(), 503, false).await;
    // Liveness is not readiness: the process is still up.
    let health = http
        .get(format!("{}/health", api.base_url()))
        .send()
        .await
        .expect("/health");
    assert_eq!(health.status(), 200);

    let _redis = start_redis(port);
    wait_redis_answers(&redis_url).await;
    wait_readiness(&http, &api.base_url(), 200, true).await;

    api.terminate();
    assert!(api.wait_exit(Duration::from_secs(20)).await.success());
}
