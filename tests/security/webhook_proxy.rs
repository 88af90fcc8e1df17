//! Webhook deliveries go to the address the connection policy checked,
//! never through a proxy named in the worker's environment
//! (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`): a proxy would reach
//! whatever the URL names, the pinned address aside.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;
use sqlx::Connection;

use crate::ops_support::{FreightSpec, token};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_ignore_the_proxy_of_the_workers_environment() {
    // The endpoint: announces each POST.
    let (delivered, mut deliveries) = tokio::sync::mpsc::unbounded_channel::<String>();
    let endpoint = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let delivered = delivered.clone();
            async move {
                let _ = delivered.send(body);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, endpoint).await });

    // The proxy: counts and announces every connection, answers nothing.
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    let proxied = Arc::new(AtomicUsize::new(0));
    let proxy_hit = Arc::new(tokio::sync::Notify::new());
    {
        let (proxied, proxy_hit) = (proxied.clone(), proxy_hit.clone());
        tokio::spawn(async move {
            while let Ok((socket, _)) = proxy.accept().await {
                proxied.fetch_add(1, Ordering::SeqCst);
                proxy_hit.notify_one();
                drop(socket);
            }
        });
    }

    // A job that completes: a SQLite copy under the tenant's root.
    let root = std::env::temp_dir().join(format!(
        "freight-webhook-proxy-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(root.join("acme")).unwrap();
    let mut c = sqlx::SqliteConnection::connect(&format!(
        "sqlite://{}?mode=rwc",
        root.join("acme/src.db").display()
    ))
    .await
    .unwrap();
    sqlx::raw_sql("CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1), (2);")
        .execute(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();

    let control = freight_api::testing::fresh_database("freight_sec_webhook_proxy").await;
    let mut freight = FreightSpec::new("all", &control)
        .env("FREIGHT_SQLITE_ROOT", root.display().to_string())
        .env("FREIGHT_WEBHOOK_POLL_MS", "50")
        .env("HTTP_PROXY", &proxy_url)
        .env("http_proxy", &proxy_url)
        .env("HTTPS_PROXY", &proxy_url)
        .env("ALL_PROXY", &proxy_url)
        .spawn();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    freight.wait_ready(&http).await;
    let post = |path: &str, body: serde_json::Value| {
        http.post(format!("{}{path}", freight.base_url()))
            .bearer_auth(token("acme"))
            .header("X-Tenant-ID", "acme")
            .json(&body)
            .send()
    };
    let webhook = post(
        "/api/v1/webhooks",
        json!({"url": hook_url, "events": ["job.completed", "job.failed"]}),
    )
    .await
    .unwrap();
    assert_eq!(webhook.status(), 201, "{}", webhook.text().await.unwrap());
    let job = post(
        "/api/v1/jobs",
        json!({
            "source_config": {"type": "sqlite", "database": "src.db"},
            "target_config": {"type": "sqlite", "database": "out.db"},
            "batch_size": 1000,
            "started_by": "mallory"
        }),
    )
    .await
    .unwrap();
    assert_eq!(job.status(), 201, "{}", job.text().await.unwrap());

    // Whichever comes first: the delivery at the endpoint, or a
    // connection to the proxy.
    tokio::select! {
        body = deliveries.recv() => {
            let body = body.unwrap();
            assert!(body.contains("job.completed"), "{body}");
        }
        () = proxy_hit.notified() => {}
        () = tokio::time::sleep(Duration::from_secs(60)) => {
            panic!("no delivery within 60 s; log:\n{}", freight.logs())
        }
    }
    assert_eq!(
        proxied.load(Ordering::SeqCst),
        0,
        "the delivery went to the proxy of the worker's environment"
    );
    let _ = std::fs::remove_dir_all(&root);
}
