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
         WITH prefetch rows = 20000
         INCLUDING ONLY TABLE NAMES MATCHING '{TABLE}'
         ALTER SCHEMA '{DB}' RENAME TO 'public';\n"
    );
    // Default prefetch (100000 rows) exhausts the Debian build's 1 GB heap
    // on this table; 20000 keeps it within and is not slower here.
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
