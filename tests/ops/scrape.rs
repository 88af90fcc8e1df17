//! A real Prometheus scrapes a real `freight all` while it migrates the
//! compose stack's sample database (MariaDB `shop`) to PostgreSQL.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{
    Freight, FreightSpec, MARIADB, eventually, free_port, mariadb_shop, require_tool, token, unique,
};

const WAIT: Duration = Duration::from_secs(120);
/// customers + products + orders in deploy/mariadb/01-shop.sql.
const SHOP_ROWS: u64 = 200 + 40 + 400;

/// A Prometheus server on a free port scraping one target every second,
/// with its own storage; killed when dropped.
struct Prometheus {
    child: tokio::process::Child,
    port: u16,
    log: std::path::PathBuf,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Prometheus {
    fn start(target_port: u16) -> Self {
        let binary = require_tool("/usr/bin/prometheus", "prometheus");
        let dir = TempDir(std::env::temp_dir().join(unique("freight-ops-prometheus-")));
        std::fs::create_dir_all(dir.0.join("data")).expect("prometheus dir");
        let config = dir.0.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
                 scrape_configs:\n  - job_name: freight\n    static_configs:\n      \
                 - targets: ['127.0.0.1:{target_port}']\n"
            ),
        )
        .expect("write prometheus.yml");
        let port = free_port();
        let log = dir.0.join("prometheus.log");
        let child = tokio::process::Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.0.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("prometheus log"))
            .kill_on_drop(true)
            .spawn()
            .expect("spawn prometheus");
        Self {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Health of the only scrape target, as Prometheus reports it.
    async fn target_health(&self, http: &reqwest::Client) -> Result<String, String> {
        let body: Value = http
            .get(self.url("/api/v1/targets"))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let target = &body["data"]["activeTargets"][0];
        match target["health"].as_str() {
            Some("up") => Ok("up".into()),
            _ => Err(target.to_string()),
        }
    }

    /// Waits until Prometheus scraped the target successfully.
    async fn wait_target_up(&mut self, http: &reqwest::Client) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("prometheus exited with {status}:\n{}", self.log());
            }
            let last = match self.target_health(http).await {
                Ok(_) => return,
                Err(last) => last,
            };
            assert!(
                tokio::time::Instant::now() < deadline,
                "the target never came up; last: {last}\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The value of an instant query returning one sample, if it does.
    async fn query(&self, http: &reqwest::Client, promql: &str) -> Result<f64, String> {
        let url = reqwest::Url::parse_with_params(&self.url("/api/v1/query"), [("query", promql)])
            .map_err(|e| e.to_string())?;
        let body: Value = http
            .get(url)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let result = body["data"]["result"]
            .as_array()
            .ok_or_else(|| body.to_string())?;
        match result.as_slice() {
            [sample] => sample["value"][1]
                .as_str()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| body.to_string()),
            _ => Err(format!("{} samples: {body}", result.len())),
        }
    }

    /// Waits until `promql` evaluates to `expected`.
    async fn wait_for_value(&self, http: &reqwest::Client, promql: &str, expected: f64) {
        eventually(WAIT, &format!("{promql} == {expected}"), || async {
            match self.query(http, promql).await {
                Ok(value) if value == expected => Ok(()),
                Ok(value) => Err(format!("{value}")),
                Err(e) => Err(e),
            }
        })
        .await;
    }
}

async fn wait_for_job(freight: &Freight, http: &reqwest::Client, tenant: &str, id: &str) -> Value {
    let token = token(tenant);
    eventually(WAIT, "the job to finish", || async {
        let job: Value = http
            .get(format!("{}/api/v1/jobs/{id}", freight.base_url()))
            .bearer_auth(&token)
            .header("X-Tenant-ID", tenant)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        match job["status"].as_str() {
            Some("queued" | "running") | None => Err(job.to_string()),
            Some(_) => Ok(job),
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_freight_and_sees_a_migration() {
    let database = freight_api::testing::fresh_database("freight_ops").await;
    let target = freight_api::testing::fresh_database("freight_ops_tgt").await;
    let shop = mariadb_shop().await;
    let http = reqwest::Client::new();

    let mut freight = FreightSpec::new("all", &database).spawn();
    freight.wait_ready(&http).await;
    let mut prometheus = Prometheus::start(freight.metrics_port);
    prometheus.wait_target_up(&http).await;
    prometheus
        .wait_for_value(&http, r#"up{job="freight"}"#, 1.0)
        .await;

    // The first migration of README.md: every table of `shop`,
    // planned first.
    let tenant = unique("ops");
    let body = json!({
        "name": "shop to warehouse",
        "source_config": {"type": "mysql", "url": format!("{MARIADB}/{shop}")},
        "target_config": {"type": "postgresql", "url": target},
        "batch_size": 100,
        "verify": true,
        "started_by": "ops-test",
    });
    let post = |path: &str| {
        http.post(format!("{}{path}", freight.base_url()))
            .bearer_auth(token(&tenant))
            .header("X-Tenant-ID", &tenant)
            .json(&body)
    };
    let plan: Value = post("/api/v1/jobs/plan")
        .send()
        .await
        .expect("plan job")
        .error_for_status()
        .expect("200")
        .json()
        .await
        .expect("plan json");
    assert_eq!(plan["tables"].as_array().map(Vec::len), Some(3), "{plan:#}");
    assert_eq!(plan["total_batches"], 7, "{plan:#}");
    let created: Value = post("/api/v1/jobs")
        .send()
        .await
        .expect("create job")
        .error_for_status()
        .expect("201")
        .json()
        .await
        .expect("job json");
    let job_id = created["id"].as_str().expect("job id").to_owned();
    let job = wait_for_job(&freight, &http, &tenant, &job_id).await;
    assert_eq!(job["status"], "completed", "{job:#}");
    assert_eq!(job["rows_written"], SHOP_ROWS, "{job:#}");
    let batches = job["batches"]["completed"].as_u64().expect("batch count");
    // 200 + 40 + 400 rows in batches of 100, as README.md shows.
    assert_eq!(batches, 7, "{job:#}");

    let rows = SHOP_ROWS as f64;
    prometheus
        .wait_for_value(&http, "freight_jobs_created_total", 1.0)
        .await;
    prometheus
        .wait_for_value(
            &http,
            r#"freight_http_requests_total{method="POST",route="/api/v1/jobs",status="201"}"#,
            1.0,
        )
        .await;
    prometheus
        .wait_for_value(
            &http,
            // Polled by route template, never by the raw path: one series.
            r#"count(freight_http_requests_total{method="GET",route="/api/v1/jobs/{job_id}",status="200"})"#,
            1.0,
        )
        .await;
    prometheus
        .wait_for_value(&http, "freight_rows_written_total", rows)
        .await;
    prometheus
        .wait_for_value(
            &http,
            r#"sum(freight_batches_total{status="completed"})"#,
            batches as f64,
        )
        .await;

    // The worker's families (worker/src/dispatch/metrics.rs).
    for (promql, expected) in [
        (r#"freight_jobs_finished_total{status="completed"}"#, 1.0),
        ("freight_rows_read_total", rows),
        ("freight_rows_rejected_total", 0.0),
        (
            r#"freight_batch_duration_seconds_count{status="completed"}"#,
            batches as f64,
        ),
        ("freight_batch_retries_total or vector(0)", 0.0),
        ("freight_queue_depth", 0.0),
        ("freight_live_worker_slots", 2.0),
        ("freight_worker_concurrency", 2.0),
        ("freight_worker_batches_in_flight", 0.0),
        ("freight_batch_rows_per_second > 0", f64::NAN),
    ] {
        if expected.is_nan() {
            eventually(WAIT, promql, || async {
                prometheus.query(&http, promql).await.map(|_| ())
            })
            .await;
        } else {
            prometheus.wait_for_value(&http, promql, expected).await;
        }
    }

    // No label carries a job id or a tenant: series stay bounded.
    let exposition = http
        .get(format!("http://127.0.0.1:{}/metrics", freight.metrics_port))
        .send()
        .await
        .expect("/metrics")
        .text()
        .await
        .expect("metrics text");
    assert!(exposition.contains("freight_http_request_duration_seconds_bucket"));
    assert!(!exposition.contains(&job_id), "a job id in a label");
    assert!(!exposition.contains(&tenant), "a tenant in a label");

    freight.terminate();
    assert!(freight.wait_exit(Duration::from_secs(30)).await.success());
    prometheus.child.kill().await.expect("stop prometheus");
}
