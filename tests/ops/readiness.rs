//! `/ready` follows its dependencies: 200, 503 while a (private) Redis or
//! PostgreSQL (behind a proxy the test cuts) is down, 200 again once it is
//! back.

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
    wait_readiness_of(http, base_url, status, true, redis).await;
}

async fn wait_readiness_of(
    http: &reqwest::Client,
    base_url: &str,
    status: u16,
    postgres: bool,
    redis: bool,
) {
    let what = format!("/ready to answer {status} with postgres={postgres}, redis={redis}");
    eventually(Duration::from_secs(30), &what, || async {
        let response = http
            .get(format!("{base_url}/ready"))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let code = response.status().as_u16();
        let body: Value = response.json().await.map_err(|e| e.to_string())?;
        if code == status && body["redis"] == redis && body["postgres"] == postgres {
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

/// A TCP proxy in front of the shared PostgreSQL that the test can cut
/// (listener and every connection closed) and restore on the same port:
/// "PostgreSQL is down" without stopping the server other tests use.
struct Proxy {
    port: u16,
    upstream: String,
    running: Option<tokio::task::JoinHandle<()>>,
}

impl Proxy {
    async fn start(upstream: &str) -> Self {
        let mut proxy = Self {
            port: free_port(),
            upstream: upstream.to_owned(),
            running: None,
        };
        proxy.restore().await;
        proxy
    }

    async fn restore(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("bind the proxy port again");
        let upstream = self.upstream.clone();
        self.running = Some(tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                let upstream = upstream.clone();
                connections.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }));
    }

    /// Aborting the task drops the listener and the `JoinSet`, which
    /// aborts (and closes) every proxied connection.
    fn cut(&mut self) {
        if let Some(task) = self.running.take() {
            task.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_flips_with_postgres_and_back() {
    let database = freight_api::testing::fresh_database("freight_ops").await;
    let server = freight_api::testing::postgres_server_url();
    let upstream = server
        .split_once("://")
        .map_or(server.as_str(), |(_, rest)| rest)
        .rsplit('@')
        .next()
        .expect("host:port in the server URL")
        .to_owned();
    let mut proxy = Proxy::start(&upstream).await;
    let via_proxy = database.replacen(&upstream, &format!("127.0.0.1:{}", proxy.port), 1);
    assert_ne!(via_proxy, database);

    let http = reqwest::Client::new();
    let mut api = FreightSpec::new("api", &via_proxy).spawn();
    api.wait_ready(&http).await;
    wait_readiness_of(&http, &api.base_url(), 200, true, true).await;

    proxy.cut();
    wait_readiness_of(&http, &api.base_url(), 503, false, true).await;

    proxy.restore().await;
    wait_readiness_of(&http, &api.base_url(), 200, true, true).await;

    api.terminate();
    assert!(api.wait_exit(Duration::from_secs(20)).await.success());
}
