//! The full path: `freight api` and `freight worker` as child processes, a
//! job created through the REST API and polled until it finishes.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use tokio::process::{Child, Command};

use crate::{Args, DB, Measure, TABLE, data, peak_rss_kb};

const PORT: u16 = 18_473;
const JWT: &str = "freight-bench-secret-0123456789abcdef0123456789abcdef";

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.start_kill();
    }
}

pub async fn run(args: &Args, source_url: &str, batch_size: u32) -> anyhow::Result<Measure> {
    let control = data::fresh_pg_database(&args.postgres, &format!("{DB}_control")).await?;
    let target_url = data::fresh_pg_database(&args.postgres, &format!("{DB}_full")).await?;
    let queue = format!("freight-bench:{}", uuid::Uuid::new_v4().simple());
    let env = |cmd: &mut Command| {
        cmd.env("DATABASE_URL", &control)
            .env("REDIS_URL", &args.redis)
            .env("JWT_SECRET_KEY", JWT)
            .env("FREIGHT_ENCRYPTION_KEY", JWT)
            .env("FREIGHT_PORT", PORT.to_string())
            .env("FREIGHT_HOST", "127.0.0.1")
            .env("ENABLE_METRICS", "false")
            .env("FREIGHT_QUEUE", &queue)
            .env("WORKER_CONCURRENCY", args.concurrency.to_string())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
    };
    let mut migrate = Command::new(&args.freight_bin);
    migrate.arg("migrate");
    env(&mut migrate);
    let status = migrate.status().await.context("run `freight migrate`")?;
    anyhow::ensure!(status.success(), "freight migrate failed");

    let mut api = Command::new(&args.freight_bin);
    api.arg("api");
    env(&mut api);
    let _api = Kill(api.spawn().context("spawn freight api")?);
    let mut worker = Command::new(&args.freight_bin);
    worker.arg("worker");
    env(&mut worker);
    if let Some(path) = &args.worker_log {
        let log = std::fs::File::create(path).context("create the worker log file")?;
        worker.env("RUST_LOG", "info").stderr(log);
    }
    let worker = Kill(worker.spawn().context("spawn freight worker")?);
    let worker_pid = worker.0.id();

    let mut token_cmd = Command::new(&args.freight_bin);
    token_cmd.args(["token", "--tenant", "bench"]);
    env(&mut token_cmd);
    let token_out = token_cmd.stdout(Stdio::piped()).output().await?;
    let token = String::from_utf8(token_out.stdout)?.trim().to_owned();

    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{PORT}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{base}/health")).send().await.is_err() {
        anyhow::ensure!(Instant::now() < deadline, "API did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let body = json!({
        "source_config": {"type": "mysql", "url": source_url},
        "target_config": {"type": "postgresql", "url": target_url},
        "tables": [TABLE],
        "batch_size": batch_size,
        "started_by": "freight-bench",
    });
    let started = Instant::now();
    let created: serde_json::Value = http
        .post(format!("{base}/api/v1/jobs"))
        .bearer_auth(&token)
        .header("X-Tenant-ID", "bench")
        .json(&body)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = created
        .pointer("/job/id")
        .or_else(|| created.get("id"))
        .and_then(|v| v.as_str())
        .context("job id in create response")?
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(1800);
    let mut peak = None;
    let status = loop {
        let job: serde_json::Value = http
            .get(format!("{base}/api/v1/jobs/{id}"))
            .bearer_auth(&token)
            .header("X-Tenant-ID", "bench")
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        peak = peak_rss_kb(worker_pid).or(peak);
        let status = job
            .pointer("/job/status")
            .or_else(|| job.get("status"))
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        if matches!(
            status.as_str(),
            "completed" | "completed_with_errors" | "failed" | "cancelled"
        ) {
            break status;
        }
        anyhow::ensure!(Instant::now() < deadline, "job did not finish in time");
        // Polling interval of the benchmark's own client, not a test wait.
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let wall = started.elapsed();
    anyhow::ensure!(status == "completed", "job ended {status}");
    data::check_target(&target_url, args.rows).await?;
    Ok(Measure {
        label: format!(
            "freight full path (batch {batch_size}, x{})",
            args.concurrency
        ),
        wall,
        rows: args.rows,
        peak_rss_kb: peak,
    })
}
