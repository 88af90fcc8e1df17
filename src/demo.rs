//! `freight dev --demo`: a small sample SQLite database to migrate, so the
//! first job needs nothing installed.
//!
//! The rows are generated deterministically (same file every time), with a
//! few things real databases hold: a foreign key, a unique email, NULLs,
//! decimals, timestamps, non-ASCII text and a table without a key.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{Connection, SqliteConnection};

pub const CUSTOMERS: i64 = 2_000;
pub const ORDERS: i64 = 10_000;
pub const EVENTS: i64 = 3_000;

const FIRST_NAMES: [&str; 8] = [
    "Ada", "Grace", "Linus", "Zoë", "José", "Søren", "Aiko", "Ngozi",
];
const COUNTRIES: [&str; 6] = ["DE", "FR", "JP", "NG", "BR", "US"];
const STATUSES: [&str; 4] = ["new", "paid", "shipped", "returned"];

/// Where the demo's files live, under the data directory.
#[derive(Debug, Clone)]
pub struct DemoFiles {
    pub source: PathBuf,
    pub target: PathBuf,
}

impl DemoFiles {
    pub fn under(data_dir: &Path) -> Self {
        let dir = data_dir.join("demo");
        Self {
            source: dir.join("shop.db"),
            target: dir.join("warehouse.db"),
        }
    }
}

/// Creates the demo source database unless it exists (a restart keeps the
/// file a job may be copying from).
pub async fn ensure_source(files: &DemoFiles) -> anyhow::Result<()> {
    if files.source.exists() {
        return Ok(());
    }
    let dir = files
        .source
        .parent()
        .context("the demo file has a directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    // Written under a temporary name and renamed, so an interrupted run
    // never leaves a half-filled source behind.
    let partial = files.source.with_extension("db.partial");
    let _ = std::fs::remove_file(&partial);
    let options = SqliteConnectOptions::new()
        .filename(&partial)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Delete);
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .context("create the demo database")?;
    fill(&mut conn).await.context("fill the demo database")?;
    conn.close().await?;
    std::fs::rename(&partial, &files.source)
        .with_context(|| format!("move the demo database to {}", files.source.display()))?;
    Ok(())
}

async fn fill(conn: &mut SqliteConnection) -> anyhow::Result<()> {
    let mut tx = conn.begin().await?;
    sqlx::query(
        "CREATE TABLE customers (
             id INTEGER PRIMARY KEY,
             name TEXT NOT NULL,
             email TEXT NOT NULL UNIQUE,
             country TEXT,
             joined_at TEXT NOT NULL
         )",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "CREATE TABLE orders (
             id INTEGER PRIMARY KEY,
             customer_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
             amount NUMERIC(10,2) NOT NULL,
             status TEXT NOT NULL DEFAULT 'new',
             note TEXT,
             ordered_at TEXT NOT NULL
         )",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query("CREATE INDEX orders_by_customer ON orders (customer_id)")
        .execute(&mut *tx)
        .await?;
    // A log table without a key: copied whole, in one batch.
    sqlx::query("CREATE TABLE page_views (path TEXT NOT NULL, seen_at TEXT NOT NULL)")
        .execute(&mut *tx)
        .await?;

    for id in 1..=CUSTOMERS {
        let name = FIRST_NAMES[index(id, FIRST_NAMES.len())];
        let country = (id % 17 != 0).then(|| COUNTRIES[index(id / 3, COUNTRIES.len())]);
        sqlx::query("INSERT INTO customers VALUES (?, ?, ?, ?, ?)")
            .bind(id)
            .bind(format!("{name} #{id}"))
            .bind(format!("customer{id}@example.com"))
            .bind(country)
            .bind(timestamp(id * 3_607))
            .execute(&mut *tx)
            .await?;
    }
    for id in 1..=ORDERS {
        let customer = (id * 7_919) % CUSTOMERS + 1;
        let cents = (id * 1_103) % 100_000 + 99;
        let note = (id % 5 == 0).then(|| format!("gift wrap ✓ order {id}"));
        sqlx::query("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?)")
            .bind(id)
            .bind(customer)
            .bind(format!("{}.{:02}", cents / 100, cents % 100))
            .bind(STATUSES[index(id, STATUSES.len())])
            .bind(note)
            .bind(timestamp(id * 911))
            .execute(&mut *tx)
            .await?;
    }
    for n in 1..=EVENTS {
        sqlx::query("INSERT INTO page_views VALUES (?, ?)")
            .bind(format!("/products/{}", n % 97))
            .bind(timestamp(n * 59))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

fn index(n: i64, len: usize) -> usize {
    usize::try_from(n).unwrap_or(0) % len
}

/// Seconds after 2024-01-01T00:00:00Z, as SQLite's text timestamps.
fn timestamp(offset_seconds: i64) -> String {
    let start = chrono::DateTime::from_timestamp(1_704_067_200, 0).unwrap_or_default();
    (start + chrono::Duration::seconds(offset_seconds))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_demo_source_is_created_once_with_every_row() {
        let dir = std::env::temp_dir().join(format!("freight-demo-{}", uuid_like()));
        let files = DemoFiles::under(&dir);
        ensure_source(&files).await.expect("create");
        let mut conn =
            SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(&files.source))
                .await
                .expect("open");
        for (table, rows) in [
            ("customers", CUSTOMERS),
            ("orders", ORDERS),
            ("page_views", EVENTS),
        ] {
            let count: i64 =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                    .fetch_one(&mut conn)
                    .await
                    .expect("count");
            assert_eq!(count, rows, "{table}");
        }
        // Every order's customer exists.
        let orphans: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM orders WHERE customer_id NOT IN (SELECT id FROM customers)",
        )
        .fetch_one(&mut conn)
        .await
        .expect("orphans");
        assert_eq!(orphans, 0);
        // A second call keeps the file as it is.
        let modified = std::fs::metadata(&files.source)
            .and_then(|m| m.modified())
            .expect("mtime");
        ensure_source(&files).await.expect("again");
        let again = std::fs::metadata(&files.source)
            .and_then(|m| m.modified())
            .expect("mtime");
        assert_eq!(modified, again);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn uuid_like() -> String {
        format!(
            "{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        )
    }
}
