//! The reference: pgloader (Debian package) on the same table.

use std::time::Instant;

use anyhow::Context;

use crate::{DB, Measure, TABLE, data};

pub async fn run(source_url: &str, pg_server: &str, rows: i64) -> anyhow::Result<Measure> {
    let target_db = format!("{DB}_pgloader");
    let target_url = data::fresh_pg_database(pg_server, &target_db).await?;
    // pgloader's MySQL driver speaks no TLS: its URL takes no query string.
    let source_url = source_url.split('?').next().unwrap_or(source_url);
    let command = format!(
        "LOAD DATABASE FROM {source_url} INTO {target_url}
         WITH prefetch rows = 10000, workers = 4, concurrency = 2
         INCLUDING ONLY TABLE NAMES MATCHING '{TABLE}'
         ALTER SCHEMA '{DB}' RENAME TO 'public';\n"
    );
    // pgloader at its best here (about 14 s for the 2M rows): its default
    // prefetch (100000 rows) exhausts the Debian build's 1 GB heap on this
    // table about one run in two; 10000 with 4 workers and concurrency 2 is
    // its fastest configuration on this machine. The row count is checked
    // below, so a run that lost rows never counts.
    let file = std::env::temp_dir().join("freight-bench.load");
    std::fs::write(&file, command)?;
    let started = Instant::now();
    let output = tokio::process::Command::new("pgloader")
        .arg(&file)
        .output()
        .await
        .context("run pgloader (apt-get install -y pgloader)")?;
    let wall = started.elapsed();
    anyhow::ensure!(
        output.status.success(),
        "pgloader failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    data::check_target(&target_url, rows).await?;
    Ok(Measure {
        label: "pgloader".to_owned(),
        wall,
        rows,
        peak_rss_kb: None,
    })
}
