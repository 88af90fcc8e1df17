//! The benchmark of issue 3: a 2,000,000-row, 10-column MariaDB table
//! migrated into PostgreSQL through Freight (engine only, or the full path:
//! API → Redis → workers) and through pgloader, with wall time, rows/s, MB/s,
//! peak RSS and the ratio. A benchmark, not a test: run it by hand.
//!
//! `cargo run --release -p freight-bench -- --help`

mod data;
mod full;
mod pgloader;

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, ValueEnum};
use freight_core::connection::{ConnectionConfig, DatabaseKind, Secret};
use freight_core::ids::{BatchId, JobId, TenantId};
use freight_worker::engine::{BatchToRun, Engine, JobContext};
use futures::StreamExt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Plan + run every batch in this process with N concurrent tasks.
    Engine,
    /// `freight api` + `freight worker` child processes, job via the REST API.
    Full,
    /// pgloader only.
    Pgloader,
}

#[derive(Parser, Debug)]
struct Args {
    /// Rows in the source table (re-created when the count differs).
    #[arg(long, default_value_t = 2_000_000)]
    rows: i64,
    /// What to measure (repeatable).
    #[arg(long, value_enum, default_values_t = [Mode::Engine, Mode::Pgloader])]
    mode: Vec<Mode>,
    /// Batch sizes to measure, in order.
    #[arg(long, value_delimiter = ',', default_values_t = [10_000u32, 1_000])]
    batch_sizes: Vec<u32>,
    /// Concurrent batches (engine mode) / WORKER_CONCURRENCY (full mode).
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// MariaDB server (the bench database is created on it).
    #[arg(long, default_value = "mysql://root@127.0.0.1:3306")]
    mysql: String,
    /// PostgreSQL server (bench target databases are created on it).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    postgres: String,
    /// The `freight` binary for the full path.
    #[arg(long, default_value = "target/release/freight")]
    freight_bin: String,
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis: String,
    /// Keep TLS on the loopback connections (sqlx prefers TLS when the
    /// server offers it; encrypting 400 MB twice costs a core-second or more).
    #[arg(long)]
    tls: bool,
    /// Full path: write the worker's log (RUST_LOG=info) to this file, to
    /// see where the time goes.
    #[arg(long)]
    worker_log: Option<std::path::PathBuf>,
}

pub const DB: &str = "freight_bench";
pub const TABLE: &str = "bench_rows";

/// One measured run.
#[derive(Debug, Clone)]
pub struct Measure {
    pub label: String,
    pub wall: Duration,
    pub rows: i64,
    pub peak_rss_kb: Option<u64>,
}

impl Measure {
    fn rows_per_sec(&self) -> f64 {
        self.rows as f64 / self.wall.as_secs_f64()
    }

    fn print(&self, bytes: i64) {
        let rss = self.peak_rss_kb.map_or("n/a".to_owned(), |kb| {
            format!("{:.1} MB", kb as f64 / 1024.0)
        });
        println!(
            "{:<34} wall {:>7.2} s  {:>9.0} rows/s  {:>6.1} MB/s  peak RSS {rss}",
            self.label,
            self.wall.as_secs_f64(),
            self.rows_per_sec(),
            bytes as f64 / 1_048_576.0 / self.wall.as_secs_f64(),
        );
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let source_url = if args.tls {
        format!("{}/{DB}", args.mysql)
    } else {
        format!("{}/{DB}?ssl-mode=disabled", args.mysql)
    };
    data::set_pg_url_suffix(if args.tls { "" } else { "?sslmode=disable" });
    let size = data::ensure_source(&args.mysql, args.rows).await?;
    println!(
        "source: MariaDB {DB}.{TABLE}: {} rows, {:.0} MB (data_length + index_length), {} cores",
        args.rows,
        size as f64 / 1_048_576.0,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let mut results: Vec<Measure> = Vec::new();
    if args.mode.contains(&Mode::Pgloader) {
        let m = pgloader::run(&source_url, &args.postgres, args.rows).await?;
        m.print(size);
        results.push(m);
    }
    for &batch_size in &args.batch_sizes {
        if args.mode.contains(&Mode::Engine) {
            let m = engine_run(
                &source_url,
                &args.postgres,
                batch_size,
                args.concurrency,
                args.rows,
            )
            .await?;
            m.print(size);
            results.push(m);
        }
        if args.mode.contains(&Mode::Full) {
            let m = full::run(&args, &source_url, batch_size).await?;
            m.print(size);
            results.push(m);
        }
    }

    if let Some(pgl) = results.iter().find(|m| m.label.starts_with("pgloader")) {
        println!("\nratio to pgloader (rows/s):");
        for m in results.iter().filter(|m| !m.label.starts_with("pgloader")) {
            println!(
                "  {:<34} {:.2}x",
                m.label,
                m.rows_per_sec() / pgl.rows_per_sec()
            );
        }
    }
    Ok(())
}

pub fn mysql_config(url: &str) -> ConnectionConfig {
    config(DatabaseKind::Mysql, url)
}

pub fn pg_config(url: &str) -> ConnectionConfig {
    config(DatabaseKind::Postgresql, url)
}

fn config(kind: DatabaseKind, url: &str) -> ConnectionConfig {
    ConnectionConfig {
        kind,
        url: Some(Secret::new(url)),
        host: None,
        port: None,
        database: None,
        user: None,
        password: None,
        schema: None,
    }
}

/// Peak resident set of this process (VmHWM), in kB.
pub fn peak_rss_kb(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let status = std::fs::read_to_string(path).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Engine only: plan, then every batch with `concurrency` tasks, then finish.
async fn engine_run(
    source_url: &str,
    pg_server: &str,
    batch_size: u32,
    concurrency: usize,
    rows: i64,
) -> anyhow::Result<Measure> {
    let target_db = format!("{DB}_engine");
    let target_url = data::fresh_pg_database(pg_server, &target_db).await?;
    let job = JobContext {
        job_id: JobId::new(),
        tenant: TenantId::parse("bench").map_err(|e| anyhow::anyhow!("{e:?}"))?,
        source: mysql_config(source_url),
        target: pg_config(&target_url),
        tables: vec![TABLE.to_owned()],
        exclude_tables: Vec::new(),
        batch_size,
        verify: false,
        key_columns: Default::default(),
        nul_characters: Default::default(),
        zero_dates: Default::default(),
        identifiers: Default::default(),
    };
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let started = Instant::now();
    let plan = engine.plan(&job, true).await.context("plan")?;
    let planned = started.elapsed();
    let mut runs = futures::stream::iter(plan.batches.iter().map(|b| {
        let engine = engine.clone();
        let job = job.clone();
        let batch = BatchToRun {
            batch_id: BatchId::new(),
            table_name: b.table_name.clone(),
            key_start: b.key_start.clone(),
            key_end: b.key_end.clone(),
            record_error_budget: 0,
        };
        // Spawned, as dispatch does, so batches use both cores.
        tokio::spawn(async move { engine.run_batch(&job, &batch).await })
    }))
    .buffer_unordered(concurrency);
    let mut copied = 0;
    while let Some(done) = runs.next().await {
        let outcome = done.context("batch task")?.context("batch")?;
        copied += outcome.rows_written;
    }
    let copied_at = started.elapsed();
    engine.finish_job(&job).await.context("finish")?;
    engine.release_job(job.job_id).await;
    let wall = started.elapsed();
    anyhow::ensure!(copied == rows, "copied {copied} rows, expected {rows}");
    data::check_target(&target_url, rows).await?;
    println!(
        "  engine batch_size {batch_size}: plan {:.2} s ({} batches), copy {:.2} s, finish {:.2} s",
        planned.as_secs_f64(),
        plan.batches.len(),
        (copied_at - planned).as_secs_f64(),
        (wall - copied_at).as_secs_f64()
    );
    Ok(Measure {
        label: format!("freight engine (batch {batch_size}, x{concurrency})"),
        wall,
        rows,
        peak_rss_kb: peak_rss_kb(None),
    })
}
