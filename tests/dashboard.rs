//! The dashboard at `/ui`, driven in a real headless Chromium through
//! WebDriver (Debian's `chromium` and `chromium-driver`; `scripts/test.sh`
//! installs them): a real migration followed live by a real `freight dev`
//! process until the progress bar reaches 100 % (and a screenshot of it);
//! the validate button and the plan preview form on that real source;
//! deep link sign-in, the batch grid, the log viewer and its export, the
//! cancel and retry buttons, the jobs list with its status filter, pages and
//! percents (the API's), and the log viewer under overlapping loads.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

#[path = "common/mod.rs"]
mod common;
#[path = "ops/support.rs"]
#[allow(dead_code)]
mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};

use common::{Api, job_body};
use support::{FreightSpec, eventually, token, unique};

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
                     "--disable-dev-shm-usage", "--window-size=1200,1000",
                     "--force-device-scale-factor=1", "--hide-scrollbars",
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
    until_within(client, Duration::from_secs(20), what, script).await;
}

/// Waits (up to `limit`) until `script` returns true in the page.
async fn until_within(client: &Client, limit: Duration, what: &str, script: &str) {
    let polls = limit.as_millis() / 100;
    for _ in 0..polls {
        if client.execute(script, vec![]).await.unwrap() == json!(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let html = client.source().await.unwrap_or_default();
    panic!("timed out waiting for {what}; page:\n{html}");
}

/// Rows of the migrated table: enough that the job runs for a few seconds
/// and the page sees it move.
const ROWS: i64 = 300_000;

/// A SQLite database with one table of [`ROWS`] rows.
async fn create_source(path: &Path) {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true);
    let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
    sqlx::query("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, amount REAL, note TEXT)")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
         INSERT INTO orders SELECT i, 'customer ' || (i % 997), i * 0.25, 'order note ' || i FROM n",
    )
    .bind(ROWS)
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
}

/// Where the test leaves its screenshot: the target directory, or
/// `docs/dashboard.png` with `FREIGHT_UPDATE_SCREENSHOT=1` (how the one in
/// the README was taken).
fn screenshot_path() -> PathBuf {
    if std::env::var("FREIGHT_UPDATE_SCREENSHOT").as_deref() == Ok("1") {
        support::repo_root().join("docs/dashboard.png")
    } else {
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png")
    }
}

#[tokio::test]
async fn a_real_migration_fills_the_progress_bar_to_completed() {
    let data = std::env::temp_dir().join(unique("freight-ui-"));
    std::fs::create_dir_all(&data).unwrap();
    let source = data.join("shop.db");
    let target = data.join("warehouse.db");
    create_source(&source).await;
    // The whole service in one real process: API, workers, reconciler.
    let mut freight = FreightSpec::new("dev", "postgres://nobody@127.0.0.1:1/unreachable")
        .env("REDIS_URL", "redis://127.0.0.1:1")
        .env("FREIGHT_DATA_DIR", data.display().to_string())
        .env("WORKER_CONCURRENCY", "1")
        .spawn();
    let http = reqwest::Client::new();
    let browser = browser().await;
    freight.wait_ready(&http).await;
    let base = freight.base_url();
    let tenant = unique("ui");
    let token = token(&tenant);

    let created = http
        .post(format!("{base}/api/v1/jobs"))
        .bearer_auth(&token)
        .header("X-Tenant-ID", &tenant)
        .json(&json!({
            "name": "shop orders to the warehouse",
            "source_config": {"type": "sqlite", "database": source.display().to_string()},
            "target_config": {"type": "sqlite", "database": target.display().to_string()},
            "batch_size": 5000,
            "started_by": "dashboard-test",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let c = &browser.client;
    c.goto(&format!(
        "{base}/ui/#/jobs/{id}?token={token}&tenant={tenant}"
    ))
    .await
    .unwrap();
    // Watch the bar: every value it shows, until the job is completed.
    let seen = std::cell::RefCell::new(Vec::<(String, f64)>::new());
    eventually(
        Duration::from_secs(120),
        "the job page to show `completed` at 100 %",
        || async {
            let now = c
                .execute(
                    "const bar = document.querySelector('#job-progress');
                     const status = document.querySelector('#main .status');
                     return bar && status ? [status.dataset.status, bar.value] : null",
                    vec![],
                )
                .await
                .map_err(|e| e.to_string())?;
            if let (Some(status), Some(value)) = (now[0].as_str(), now[1].as_f64()) {
                seen.borrow_mut().push((status.to_owned(), value));
                if status == "completed" && value == 100.0 {
                    return Ok(());
                }
            }
            Err(now.to_string())
        },
    )
    .await;
    let seen = seen.into_inner();
    let running: Vec<f64> = seen
        .iter()
        .filter(|(status, _)| status == "running")
        .map(|(_, value)| *value)
        .collect();
    assert!(
        running.iter().any(|v| *v < 100.0),
        "the page saw the job running below 100 %: {seen:?}"
    );
    assert!(
        running.windows(2).all(|w| w[0] <= w[1]),
        "the bar never goes back: {seen:?}"
    );
    assert!(
        running.iter().any(|v| *v > 0.0) || seen.len() > 2,
        "the bar moved while the job ran: {seen:?}"
    );
    // The bar is labelled and tells assistive technology how far it is.
    let a11y = c
        .execute(
            "const bar = document.querySelector('#job-progress');
             const label = document.querySelector(`label[for=job-progress]`);
             return [label && label.textContent, bar.getAttribute('aria-valuenow'), bar.getAttribute('aria-valuetext')]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(a11y, json!(["Progress", "100", "100 % done"]));

    // The API agrees, and the rows are really there.
    let job: Value = http
        .get(format!("{base}/api/v1/jobs/{id}"))
        .bearer_auth(&token)
        .header("X-Tenant-ID", &tenant)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["rows_written"], ROWS, "{job}");
    let mut copied = SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(&target))
        .await
        .unwrap();
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&mut copied)
        .await
        .unwrap();
    assert_eq!(count, ROWS);

    // Every batch cell is green: list items holding buttons.
    until(
        c,
        "every batch completed in the grid",
        "const cells = [...document.querySelectorAll('ul.grid > li > button.cell')];
         return cells.length > 1 && cells.every(b => b.dataset.status === 'completed')",
    )
    .await;
    until(
        c,
        "the throughput chart",
        "return Number(document.querySelector('svg.chart').dataset.samples || 0) >= 1",
    )
    .await;
    c.execute("window.scrollTo(0, 0)", vec![]).await.unwrap();
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let path = screenshot_path();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, &png).unwrap();
    eprintln!("screenshot: {}", path.display());

    // Validate through the button: the stream has ended with the job, and
    // the page follows the validation until it has passed.
    click(c, Locator::XPath("//button[normalize-space()='Validate']")).await;
    until_within(
        c,
        Duration::from_secs(120),
        "the validation shown as passed",
        "return !!document.querySelector('#main .status[data-status=passed]')",
    )
    .await;
    let job: Value = http
        .get(format!("{base}/api/v1/jobs/{id}"))
        .bearer_auth(&token)
        .header("X-Tenant-ID", &tenant)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(job["validation"]["status"], "passed", "{job}");

    // The plan preview form, typed in, against the real source: the page
    // lists the tables the API plans.
    let spec = json!({
        "source_config": {"type": "sqlite", "database": source.display().to_string()},
        "target_config": {"type": "sqlite", "database": target.display().to_string()},
        "batch_size": 5000,
        "started_by": "dashboard-test",
    });
    c.goto(&format!("{base}/ui/#/plan")).await.unwrap();
    let form = c.find(Locator::Css("#spec")).await.unwrap();
    form.clear().await.unwrap();
    form.send_keys(&spec.to_string()).await.unwrap();
    click(
        c,
        Locator::XPath("//button[normalize-space()='Preview plan']"),
    )
    .await;
    until(
        c,
        "the planned tables",
        "return document.querySelectorAll('#plan-result tbody tr').length > 0",
    )
    .await;
    let shown = c
        .execute(
            "return [...document.querySelectorAll('#plan-result tbody tr')]
                 .map(r => [...r.cells].slice(0, 4).map(c => c.textContent))",
            vec![],
        )
        .await
        .unwrap();
    let plan: Value = http
        .post(format!("{base}/api/v1/jobs/plan"))
        .bearer_auth(&token)
        .header("X-Tenant-ID", &tenant)
        .json(&spec)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let table = &plan["tables"][0];
    assert_eq!(plan["tables"].as_array().map(Vec::len), Some(1), "{plan}");
    assert_eq!(table["table_name"], "orders", "{plan}");
    assert_eq!(
        shown,
        json!([[
            "orders",
            "key id",
            fmt_count(&table["rows_estimate"]),
            fmt_count(&table["batch_count"]),
        ]]),
        "{plan}"
    );

    browser.client.close().await.unwrap();
    freight.terminate();
    freight.wait_exit(Duration::from_secs(30)).await;
    let _ = std::fs::remove_dir_all(&data);
}

/// The page's controls against a job whose state is set by hand (a
/// failed batch and error logs that a healthy run would not produce).
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

    // The skip link (shown when focused, as a Tab from the top shows it)
    // moves focus into the main region and leaves the job's page where it
    // is: "#main" is no route.
    c.execute("document.querySelector('a.skip').focus()", vec![])
        .await
        .unwrap();
    click(c, Locator::Css("a.skip")).await;
    let after = c
        .execute(
            "return [location.hash, document.getElementById('main').contains(document.activeElement)]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(after, json!([format!("#/jobs/{id}"), true]));

    // The batch grid, coloured by status.
    until(
        c,
        "the batch grid",
        "return document.querySelectorAll('.grid .cell').length === 3",
    )
    .await;
    let heading = c
        .execute(
            "return document.querySelector('#main h2').textContent",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(heading, json!(format!("Job {id}")));
    let statuses = c
        .execute(
            "return [...document.querySelectorAll('.grid .cell')].map(e => e.dataset.status)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(statuses, json!(["completed", "failed", "running"]));
    // A list of items each holding a real button (its role kept).
    let markup = c
        .execute(
            "return [document.querySelectorAll('ul.grid > li > button.cell').length,
                     document.querySelectorAll('.grid [role]').length]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(markup, json!([3, 0]));
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
    click(c, Locator::Css("#log-level")).await;
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

    // Export takes what the viewer shows: the same level filter.
    c.execute(
        "window.__fetched = []; const real = window.fetch;
         window.fetch = (url, init) => { window.__fetched.push(String(url)); return real(url, init); };",
        vec![],
    )
    .await
    .unwrap();
    click(
        c,
        Locator::XPath("//button[normalize-space()='Export CSV']"),
    )
    .await;
    until(
        c,
        "the filtered export",
        "return window.__fetched.some(u => u.includes('/logs/export?') && u.includes('format=csv') && u.includes('level=error'))",
    )
    .await;

    // Cancel through the button: the API's state, then the page's.
    click(c, Locator::XPath("//button[normalize-space()='Cancel']")).await;
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
    click(c, Locator::XPath("//button[normalize-space()='Sign out']")).await;
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

/// A count as the page shows it (`toLocaleString("en-US")`).
fn fmt_count(value: &Value) -> String {
    let digits = value.as_i64().expect("a count").to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// The ids of the jobs the list shows now.
async fn listed(c: &Client) -> Vec<String> {
    let ids = c
        .execute(
            "return [...document.querySelectorAll('tr[data-job]')].map(r => r.dataset.job)",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(ids).unwrap()
}

/// Clicks what `locator` finds, finding it again while the page re-renders
/// (a live page replaces its elements as events arrive: an element found a
/// moment ago may be stale by the time it is clicked).
async fn click(c: &Client, locator: Locator<'_>) {
    let mut last = String::new();
    for _ in 0..50 {
        match c.find(locator).await {
            Ok(element) => match element.click().await {
                Ok(()) => return,
                Err(e) => last = e.to_string(),
            },
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("could not click {locator:?}: {last}");
}

async fn click_link(c: &Client, text: &str) {
    click(c, Locator::LinkText(text)).await;
}

/// Retry through the button, then the jobs list filtered by status and
/// paged (20 a page), against jobs made through the API (no worker runs
/// them, so each state stays until the test changes it).
#[tokio::test]
async fn the_dashboard_retries_a_failed_job_and_filters_and_pages_the_jobs_list() {
    let api = Api::spawn().await;
    let caller = api.new_tenant();
    let mut ids = Vec::new();
    for _ in 0..22 {
        let job = api.create_job(&caller, &job_body()).await;
        ids.push(job["id"].as_str().unwrap().to_owned());
    }
    // One failed with a failed batch, as a worker leaves it.
    let failed = ids[0].clone();
    let failed_uuid = uuid::Uuid::parse_str(&failed).unwrap();
    let pg = api.pg().await;
    sqlx::query(
        "UPDATE jobs SET status = 'failed', started_at = now(), finished_at = now(),
                error_summary = '1 batch failed' WHERE id = $1",
    )
    .bind(failed_uuid)
    .execute(&pg)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO batches (id, job_id, tenant_id, seq, table_name, status, attempts, last_error)
         VALUES ($1, $2, $3, 0, 'orders', 'failed', 3, 'connection reset')",
    )
    .bind(uuid::Uuid::new_v4())
    .bind(failed_uuid)
    .bind(&caller.tenant)
    .execute(&pg)
    .await
    .unwrap();
    // One cancelled, for the status filter.
    let cancelled = ids[1].clone();
    let response = api
        .post(
            &format!("/api/v1/jobs/{cancelled}/cancel"),
            &caller,
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), 200);

    let browser = browser().await;
    let c = &browser.client;
    c.goto(&format!(
        "{}/ui/#/jobs/{failed}?token={}&tenant={}",
        api.app.base_url, caller.token, caller.tenant
    ))
    .await
    .unwrap();
    until(
        c,
        "the failed job",
        "return !!document.querySelector('#main .status[data-status=failed]')",
    )
    .await;
    // The job is final, so its event stream has ended (a fetch's timing
    // entry appears once its body is complete): what follows the retry is
    // the page's own doing.
    until(
        c,
        "the failed job's event stream to end",
        "return performance.getEntriesByType('resource').some(e => e.name.endsWith('/events'))",
    )
    .await;
    click(
        c,
        Locator::XPath("//button[normalize-space()='Retry failed batches']"),
    )
    .await;
    until(
        c,
        "the retried job queued again",
        "return !!document.querySelector('#main .status[data-status=queued]')
             && !!document.querySelector('.grid .cell[data-status=pending]')",
    )
    .await;
    let detail: Value = api
        .get(&format!("/api/v1/jobs/{failed}"), &caller)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["status"], "queued", "{detail}");
    // The page follows the retried job live again: a worker starting it
    // shows without a reload.
    sqlx::query("UPDATE jobs SET status = 'running' WHERE id = $1")
        .bind(failed_uuid)
        .execute(&pg)
        .await
        .unwrap();
    until(
        c,
        "the retried job running",
        "return !!document.querySelector('#main .status[data-status=running]')",
    )
    .await;

    // The jobs list, 20 a page: the next page holds the rest, none twice.
    c.goto(&format!("{}/ui/#/jobs", api.app.base_url))
        .await
        .unwrap();
    until(
        c,
        "the first page",
        "return document.querySelectorAll('tr[data-job]').length === 20",
    )
    .await;
    let first = listed(c).await;
    let pager = c
        .find(Locator::Css(".pager"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(pager.contains("22 job(s)"), "{pager}");
    click_link(c, "Next page").await;
    until(
        c,
        "the second page",
        "return document.querySelectorAll('tr[data-job]').length === 2",
    )
    .await;
    let second = listed(c).await;
    let mut all: Vec<String> = first.iter().chain(&second).cloned().collect();
    all.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(all, expected, "every job once across the pages");
    click_link(c, "First page").await;
    until(
        c,
        "the first page again",
        "return document.querySelectorAll('tr[data-job]').length === 20",
    )
    .await;
    assert_eq!(listed(c).await, first);

    // Filtered by status: only the cancelled job.
    c.find(Locator::Css("#status-filter"))
        .await
        .unwrap()
        .select_by_value("cancelled")
        .await
        .unwrap();
    click(c, Locator::XPath("//button[normalize-space()='Filter']")).await;
    until(
        c,
        "only the cancelled job",
        &format!(
            "const rows = [...document.querySelectorAll('tr[data-job]')];
             return location.hash === '#/jobs?status=cancelled' && rows.length === 1
                 && rows[0].dataset.job === '{cancelled}'"
        ),
    )
    .await;
    let badge = c
        .execute(
            "return document.querySelector('tr[data-job] .status').dataset.status",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(badge, json!("cancelled"));
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

/// The log viewer under overlapping loads (the first one, one per
/// `status` and `finished` event, the filter form submitted again and
/// again), answered out of order: each entry once, and the latest filter
/// wins. And the jobs list shows the percent the API shows, for a job that
/// failed at planning (0 %), one with no row estimate whose batches are
/// all final (100 %) and one part done.
#[tokio::test]
async fn log_rows_show_once_under_overlapping_loads_and_the_list_agrees_with_the_api() {
    let api = Api::spawn().await;
    let caller = api.new_tenant();
    let pg = api.pg().await;
    let create = async || {
        let job = api.create_job(&caller, &job_body()).await;
        uuid::Uuid::parse_str(job["id"].as_str().unwrap()).unwrap()
    };
    // Failed at planning: no estimate, no batch.
    let unplanned = create().await;
    sqlx::query(
        "UPDATE jobs SET status = 'failed', started_at = now(), finished_at = now(), rows_estimated = 0,
                error_summary = 'planning failed (source or target unreachable): connection refused'
         WHERE id = $1",
    )
    .bind(unplanned)
    .execute(&pg)
    .await
    .unwrap();
    const LOGS: usize = 7;
    for i in 0..LOGS {
        let level = if i % 3 == 0 { "error" } else { "info" };
        sqlx::query(
            "INSERT INTO job_logs (job_id, tenant_id, level, message) VALUES ($1, $2, $3, $4)",
        )
        .bind(unplanned)
        .bind(&caller.tenant)
        .bind(level)
        .bind(format!("line {i}"))
        .execute(&pg)
        .await
        .unwrap();
    }
    let errors = LOGS.div_ceil(3);
    // No estimate, every batch final: the API counts batches.
    let unestimated = create().await;
    sqlx::query(
        "UPDATE jobs SET status = 'completed_with_errors', started_at = now(), finished_at = now(),
                rows_estimated = 0 WHERE id = $1",
    )
    .bind(unestimated)
    .execute(&pg)
    .await
    .unwrap();
    for (seq, status) in [(0, "completed"), (1, "completed_with_errors")] {
        sqlx::query(
            "INSERT INTO batches (id, job_id, tenant_id, seq, table_name, status, attempts)
             VALUES ($1, $2, $3, $4, 'orders', $5, 1)",
        )
        .bind(uuid::Uuid::new_v4())
        .bind(unestimated)
        .bind(&caller.tenant)
        .bind(seq)
        .bind(status)
        .execute(&pg)
        .await
        .unwrap();
    }
    // Part done, by its estimate.
    let running = create().await;
    sqlx::query(
        "UPDATE jobs SET status = 'running', started_at = now(), rows_estimated = 1000 WHERE id = $1",
    )
    .bind(running)
    .execute(&pg)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO batches (id, job_id, tenant_id, seq, table_name, status, attempts,
                              rows_read, rows_written, rows_rejected)
         VALUES ($1, $2, $3, 0, 'orders', 'completed_with_errors', 1, 255, 250, 5)",
    )
    .bind(uuid::Uuid::new_v4())
    .bind(running)
    .bind(&caller.tenant)
    .execute(&pg)
    .await
    .unwrap();

    let browser = browser().await;
    let c = &browser.client;
    c.goto(&format!(
        "{}/ui/#/jobs/{unplanned}?token={}&tenant={}",
        api.app.base_url, caller.token, caller.tenant
    ))
    .await
    .unwrap();
    // The page's own loads first: the first one, then one per event of the
    // stream, which ends with the final job.
    until(
        c,
        "the job's event stream to end",
        "return performance.getEntriesByType('resource').some(e => e.name.endsWith('/events'))",
    )
    .await;
    let rows = "[...document.querySelectorAll('table.logs tbody tr[data-level]')]";
    until(c, "the log rows", &format!("return {rows}.length > 0")).await;

    // Log responses answered late and out of order; each load counted
    // until it has rendered (a task after its body was taken).
    c.execute(
        "window.__loads = 0; window.__pending = 0;
         const real = window.fetch.bind(window);
         const delays = [600, 0, 300, 100, 200];
         window.fetch = async (url, init) => {
           if (!String(url).includes('/logs?')) return real(url, init);
           const i = window.__loads++;
           window.__pending++;
           const response = await real(url, init);
           const body = await response.clone().json();
           await new Promise((done) => setTimeout(done, delays[i % delays.length]));
           response.json = async () => { setTimeout(() => { window.__pending--; }, 0); return body; };
           return response;
         };",
        vec![],
    )
    .await
    .unwrap();
    // At least `loads` (one of the page's own, from an event read before
    // the stream ended, may join them), none of them still running.
    let settled =
        |loads: usize| format!("return window.__loads >= {loads} && window.__pending === 0");
    let shown = async || -> Vec<String> {
        let texts = c
            .execute(
                &format!("return {rows}.map(r => r.cells[3].textContent)"),
                vec![],
            )
            .await
            .unwrap();
        serde_json::from_value(texts).unwrap()
    };
    c.execute(
        "const form = document.querySelector('#log-level').form;
         for (let i = 0; i < 5; i++) form.requestSubmit();",
        vec![],
    )
    .await
    .unwrap();
    until(c, "five overlapping loads", &settled(5)).await;
    let mut lines = shown().await;
    assert_eq!(lines.len(), LOGS, "each entry once: {lines:?}");
    lines.sort();
    lines.dedup();
    assert_eq!(lines.len(), LOGS, "no entry twice: {lines:?}");

    // A slow load for errors only, then a fast one for every level: the
    // later one is what stays.
    c.execute(
        "window.__loads = 0;
         const level = document.querySelector('#log-level');
         level.value = 'error';
         level.form.requestSubmit();
         level.value = '';
         level.form.requestSubmit();",
        vec![],
    )
    .await
    .unwrap();
    until(c, "two overlapping loads", &settled(2)).await;
    assert_eq!(
        shown().await.len(),
        LOGS,
        "the latest filter (any level) wins"
    );
    // And alone, the error filter shows the errors.
    c.execute(
        "window.__loads = 0;
         const level = document.querySelector('#log-level');
         level.value = 'error';
         level.form.requestSubmit();",
        vec![],
    )
    .await
    .unwrap();
    until(c, "the error-only load", &settled(1)).await;
    assert_eq!(shown().await.len(), errors);

    // The jobs list shows the API's percent for each job.
    c.goto(&format!("{}/ui/#/jobs", api.app.base_url))
        .await
        .unwrap();
    until(
        c,
        "every job's percent",
        "const bars = [...document.querySelectorAll('tr[data-job] progress')];
         return bars.length === 3 && bars.every(b => b.hasAttribute('value'))",
    )
    .await;
    for job in [unplanned, unestimated, running] {
        let detail: Value = api
            .get(&format!("/api/v1/jobs/{job}"), &caller)
            .await
            .json()
            .await
            .unwrap();
        let listed = c
            .execute(
                &format!(
                    "const row = document.querySelector('tr[data-job=\"{job}\"]');
                     return [row.querySelector('progress').value, row.cells[2].textContent.trim()]"
                ),
                vec![],
            )
            .await
            .unwrap();
        let percent = detail["progress"]["percent"].as_f64().unwrap();
        assert_eq!(
            (listed[0].as_f64(), listed[1].as_str()),
            (Some(percent), Some(format!("{percent:.0} %").as_str())),
            "{} job {job}: {detail}",
            detail["status"]
        );
    }
    browser.client.close().await.unwrap();
}

/// `/docs` has a Content-Security-Policy of its own (only this server's
/// scripts, styles and API; no framing), and Swagger UI still works under
/// it: the operations render from `/openapi.json`, styled, and the browser
/// reports no violation.
#[tokio::test]
async fn the_docs_page_works_under_its_content_security_policy() {
    let api = Api::spawn().await;
    let http = reqwest::Client::new();
    for path in ["/docs/", "/docs/swagger-initializer.js"] {
        let response = http
            .get(format!("{}{path}", api.app.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let csp = response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(csp, freight_api::app::DOCS_CSP, "{path}");
        assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    }

    let browser = browser().await;
    let c = &browser.client;
    c.goto(&format!("{}/docs/", api.app.base_url))
        .await
        .unwrap();
    until(
        c,
        "Swagger UI's operations",
        "return document.querySelectorAll('.opblock-summary-operation-id, .opblock').length > 10",
    )
    .await;
    let styled = c
        .execute(
            "const get = document.querySelector('.opblock.opblock-get');
             return getComputedStyle(get).borderTopStyle",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(styled, json!("solid"), "swagger-ui.css applies");
    // Violations reported so far (`buffered`), and any in the next moment.
    let violations = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const seen = [];
             const note = (reports) => reports.forEach((r) =>
                 seen.push(`${r.body.effectiveDirective} ${r.body.blockedURL} ${r.body.sample} ${r.body.sourceFile}:${r.body.lineNumber}`));
             const observer = new ReportingObserver(note, { types: ['csp-violation'], buffered: true });
             observer.observe();
             setTimeout(() => { note(observer.takeRecords()); done(seen); }, 1000);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(violations, json!([]), "no CSP violation");
    browser.client.close().await.unwrap();
}
