//! The dashboard at `/ui`, driven in a real headless Chromium through
//! WebDriver (Debian's `chromium` and `chromium-driver`; `scripts/test.sh`
//! installs them): deep link sign-in, the live job page, the batch grid,
//! the log viewer, the cancel button, the jobs list.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

#[path = "common/mod.rs"]
mod common;

use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use common::{Api, job_body};

struct Browser {
    client: Client,
    _driver: tokio::process::Child,
}

fn require(path: &str, package: &str) {
    assert!(
        std::path::Path::new(path).exists(),
        "{path} is missing: install the Debian package `{package}` (scripts/test.sh does)"
    );
}

async fn browser() -> Browser {
    require("/usr/bin/chromium", "chromium");
    require("/usr/bin/chromedriver", "chromium-driver");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let driver = tokio::process::Command::new("/usr/bin/chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let profile =
        std::env::temp_dir().join(format!("freight-ui-{}", uuid::Uuid::new_v4().simple()));
    let caps = json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", "--window-size=1280,900",
                     format!("--user-data-dir={}", profile.display())]
        }
    });
    let caps = caps.as_object().unwrap().clone();
    let url = format!("http://127.0.0.1:{port}");
    let mut last = None;
    for _ in 0..50 {
        // chromedriver speaks plain HTTP on loopback: no TLS connector.
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(client) => {
                return Browser {
                    client,
                    _driver: driver,
                };
            }
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("chromedriver did not start: {last:?}");
}

/// Waits (up to 20 s) until `script` returns true in the page.
async fn until(client: &Client, what: &str, script: &str) {
    for _ in 0..200 {
        if client.execute(script, vec![]).await.unwrap() == json!(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let html = client.source().await.unwrap_or_default();
    panic!("timed out waiting for {what}; page:\n{html}");
}

#[tokio::test]
async fn the_dashboard_follows_a_job_live_and_acts_on_it() {
    let api = Api::spawn().await;
    let caller = api.new_tenant();
    let job = api.create_job(&caller, &job_body()).await;
    let id = job["id"].as_str().unwrap().to_owned();
    let job_uuid = uuid::Uuid::parse_str(&id).unwrap();
    // The job as a worker leaves it mid-run: running, 3 batches, a bad record logged.
    let pg = api.pg().await;
    sqlx::query("UPDATE jobs SET status = 'running', started_at = now() - interval '10 seconds', rows_estimated = 3000 WHERE id = $1")
        .bind(job_uuid)
        .execute(&pg)
        .await
        .unwrap();
    for (seq, status, written) in [
        (0, "completed", 1000i64),
        (1, "failed", 0),
        (2, "running", 0),
    ] {
        sqlx::query(
            "INSERT INTO batches (id, job_id, tenant_id, seq, table_name, status, attempts, rows_read, rows_written)
             VALUES ($1, $2, $3, $4, 'orders', $5, 1, $6, $6)",
        )
        .bind(uuid::Uuid::new_v4())
        .bind(job_uuid)
        .bind(&caller.tenant)
        .bind(seq)
        .bind(status)
        .bind(written)
        .execute(&pg)
        .await
        .unwrap();
    }
    for (level, message) in [
        ("error", "duplicate key value violates unique constraint"),
        ("info", "batch 0 copied"),
    ] {
        sqlx::query("INSERT INTO job_logs (job_id, tenant_id, level, table_name, message) VALUES ($1, $2, $3, 'orders', $4)")
            .bind(job_uuid)
            .bind(&caller.tenant)
            .bind(level)
            .bind(message)
            .execute(&pg)
            .await
            .unwrap();
    }

    let browser = browser().await;
    let c = &browser.client;
    // A deep link signs in from the fragment (never sent to the server)...
    c.goto(&format!(
        "{}/ui/#/jobs/{id}?token={}&tenant={}",
        api.app.base_url, caller.token, caller.tenant
    ))
    .await
    .unwrap();
    until(
        c,
        "the job's status",
        "return !!document.querySelector('#main .status[data-status=running]')",
    )
    .await;
    // ...and drops the credentials from the address bar.
    let hash = c.execute("return location.hash", vec![]).await.unwrap();
    assert_eq!(hash, json!(format!("#/jobs/{id}")));
    let stored = c
        .execute("return sessionStorage.getItem('freight.tenant')", vec![])
        .await
        .unwrap();
    assert_eq!(stored, json!(caller.tenant));

    // The batch grid, coloured by status.
    until(
        c,
        "the batch grid",
        "return document.querySelectorAll('.grid .cell').length === 3",
    )
    .await;
    let statuses = c
        .execute(
            "return [...document.querySelectorAll('.grid .cell')].map(e => e.dataset.status)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(statuses, json!(["completed", "failed", "running"]));
    // Live throughput from the event stream's progress events.
    until(
        c,
        "progress samples",
        "return Number(document.querySelector('svg.chart').dataset.samples || 0) >= 2",
    )
    .await;
    // The log viewer, filtered by level.
    until(
        c,
        "log rows",
        "return document.querySelectorAll('table.logs tbody tr[data-level]').length === 2",
    )
    .await;
    c.find(Locator::Css("#log-level"))
        .await
        .unwrap()
        .select_by_value("error")
        .await
        .unwrap();
    c.find(Locator::Css("#log-level"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.execute(
        "document.querySelector('#log-level').form.requestSubmit()",
        vec![],
    )
    .await
    .unwrap();
    until(
        c,
        "only error logs",
        "const rows = [...document.querySelectorAll('table.logs tbody tr[data-level]')]; return rows.length === 1 && rows[0].dataset.level === 'error'",
    )
    .await;

    // Cancel through the button: the API's state, then the page's.
    c.find(Locator::XPath("//button[normalize-space()='Cancel']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(
        c,
        "the cancelled state",
        "return !!document.querySelector('#main .status[data-status=cancelled], #main .status[data-status=cancelling]')",
    )
    .await;
    let detail: serde_json::Value = api
        .get(&format!("/api/v1/jobs/{id}"), &caller)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        ["cancelled", "cancelling"].contains(&detail["status"].as_str().unwrap()),
        "{detail}"
    );

    // The jobs list links to the job, with a progress bar.
    c.goto(&format!("{}/ui/#/jobs", api.app.base_url))
        .await
        .unwrap();
    until(
        c,
        "the jobs list",
        &format!("return !!document.querySelector('tr[data-job=\"{id}\"] progress')"),
    )
    .await;

    // Signing out leaves a labelled sign-in form, reachable by keyboard.
    c.find(Locator::XPath("//button[normalize-space()='Sign out']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until(
        c,
        "the sign-in form",
        "return document.activeElement && document.activeElement.id === 'token'",
    )
    .await;
    let labelled = c
        .execute(
            "return ['token','tenant'].every(id => document.querySelector(`label[for=${id}]`))",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(labelled, json!(true));
    browser.client.close().await.unwrap();
}

#[tokio::test]
async fn the_dashboard_is_served_from_the_binary_with_no_outside_requests() {
    let api = Api::spawn().await;
    let http = reqwest::Client::new();
    let index = http
        .get(format!("{}/ui/", api.app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(index.status(), 200);
    let csp = index.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    let html = index.text().await.unwrap();
    for asset in ["/ui/app.js", "/ui/app.css"] {
        assert!(html.contains(asset), "{asset}");
        let response = http
            .get(format!("{}{asset}", api.app.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        let body = response.text().await.unwrap();
        assert!(
            !body.contains("http://") || asset.ends_with(".js"),
            "{asset} loads nothing from elsewhere"
        );
    }
    assert!(
        !html.contains("https://") && !html.contains("http://"),
        "no outside URLs in the page"
    );
    assert!(
        !html.contains("<script>"),
        "no inline script (the CSP forbids it)"
    );
}
