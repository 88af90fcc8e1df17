//! The benchmark's source table and target databases.

use anyhow::Context;
use sqlx::{Connection, Executor, MySqlConnection, PgConnection, Row};

use crate::{DB, TABLE};

/// Creates the 2M-row table once (reused while its row count matches);
/// returns its size in bytes.
pub async fn ensure_source(server: &str, rows: i64) -> anyhow::Result<i64> {
    let mut conn = MySqlConnection::connect(&format!("{server}/mysql"))
        .await
        .context("connect to MariaDB")?;
    conn.execute(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE IF NOT EXISTS {DB}"
    )))
    .await?;
    conn.execute(sqlx::AssertSqlSafe(format!("USE {DB}")))
        .await?;
    let existing: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '{DB}' AND table_name = '{TABLE}'"
    )))
    .fetch_one(&mut conn)
    .await
    .ok();
    let count: i64 = if existing == Some(1) {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {TABLE}")))
            .fetch_one(&mut conn)
            .await?
    } else {
        -1
    };
    if count != rows {
        println!("creating {DB}.{TABLE} with {rows} rows (once)...");
        conn.execute(sqlx::AssertSqlSafe(format!("DROP TABLE IF EXISTS {TABLE}")))
            .await?;
        conn.execute(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE {TABLE} (
                id bigint NOT NULL PRIMARY KEY,
                uuid char(36) NOT NULL,
                email varchar(255) NOT NULL,
                name varchar(100) NOT NULL,
                amount decimal(12,2) NOT NULL,
                active tinyint(1) NOT NULL,
                score double NOT NULL,
                created_at datetime NOT NULL,
                updated_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
                body text
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        )))
        .await?;
        // MariaDB's sequence engine generates the rows server-side.
        let mut done = 0;
        while done < rows {
            let upto = (done + 200_000).min(rows);
            conn.execute(sqlx::AssertSqlSafe(format!(
                "INSERT INTO {TABLE} SELECT seq, UUID(), CONCAT('user', seq, '@example.com'),
                   CONCAT('Name ', seq, ' ', SUBSTRING(MD5(seq), 1, 8)),
                   ROUND(RAND(seq) * 1000000, 2), seq % 2, RAND(seq + 1) * 1000,
                   '2020-01-01' + INTERVAL seq SECOND, FROM_UNIXTIME(1600000000 + seq),
                   SUBSTRING(REPEAT('lorem ipsum dolor sit amet, consectetur adipiscing elit ', 8), 1, 20 + (seq * 7919) % 90)
                 FROM seq_{}_to_{upto}",
                done + 1
            )))
            .await?;
            done = upto;
        }
        conn.execute(sqlx::AssertSqlSafe(format!("ANALYZE TABLE {TABLE}")))
            .await?;
    }
    let size: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT CAST(data_length + index_length AS SIGNED) FROM information_schema.tables
         WHERE table_schema = '{DB}' AND table_name = '{TABLE}'"
    )))
    .fetch_one(&mut conn)
    .await?
    .try_get(0)?;
    Ok(size)
}

static PG_SUFFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Query string appended to target URLs (e.g. `?sslmode=disable`).
pub fn set_pg_url_suffix(suffix: &str) {
    let _ = PG_SUFFIX.set(suffix.to_owned());
}

/// Drops and re-creates a PostgreSQL database; returns its URL.
pub async fn fresh_pg_database(server: &str, name: &str) -> anyhow::Result<String> {
    let mut conn = PgConnection::connect(&format!("{server}/postgres"))
        .await
        .context("connect to PostgreSQL")?;
    conn.execute(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .await?;
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await?;
    // Each run writes ~1 GB of WAL and pages; flush the previous run's now
    // so that its checkpoint does not land in the middle of this one.
    if let Err(e) = conn.execute("CHECKPOINT").await {
        println!("(CHECKPOINT failed, figures may be noisier: {e})");
    }
    Ok(format!(
        "{server}/{name}{}",
        PG_SUFFIX.get().map_or("", String::as_str)
    ))
}

/// The target holds exactly `rows` rows.
pub async fn check_target(url: &str, rows: i64) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(url).await?;
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {TABLE}")))
        .fetch_one(&mut conn)
        .await?;
    anyhow::ensure!(n == rows, "target holds {n} rows, expected {rows}");
    Ok(())
}
