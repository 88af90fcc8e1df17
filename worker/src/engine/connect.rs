//! Opening source and target databases: one small pool per (job, side),
//! cached by the [`Engine`](super::Engine) so a job's batches share them.

use std::str::FromStr;
use std::time::Duration;

use freight_core::connection::ConnectionConfig;
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{Executor, MySqlPool, PgPool, SqlitePool};

use super::error::{Failure, classify, scrub};
use super::model::Dialect;

/// Which end of a job a pool serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Source,
    Target,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Source => "source",
            Self::Target => "target",
        }
    }
}

/// A pool of one of the three dialects.
#[derive(Debug, Clone)]
pub enum Pool {
    Postgres(PgPool),
    MySql(MySqlPool),
    Sqlite(SqlitePool),
}

impl Pool {
    pub fn dialect(&self) -> Dialect {
        match self {
            Self::Postgres(_) => Dialect::Postgres,
            Self::MySql(_) => Dialect::MySql,
            Self::Sqlite(_) => Dialect::Sqlite,
        }
    }

    pub async fn close(&self) {
        match self {
            Self::Postgres(p) => p.close().await,
            Self::MySql(p) => p.close().await,
            Self::Sqlite(p) => p.close().await,
        }
    }
}

/// Connections per pool: a worker runs a few batches of a job at once, each
/// holding one source and one target connection.
const MAX_CONNECTIONS: u32 = 8;

/// How a pool will be used; a read-only pool never creates or alters anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadOnly,
    ReadWrite,
}

/// Opens a pool for one side of a job. Errors name the side, never the
/// credentials. `Ok(None)`: a read-only SQLite target file that does not
/// exist yet (an empty target, not an error).
pub async fn open(
    config: &ConnectionConfig,
    side: Side,
    access: Access,
) -> Result<Option<Pool>, Failure> {
    let url = config.connection_url();
    let secrets = secrets_of(config);
    let ctx = format!("connecting to the {}", side.as_str());
    let map_err = |e: sqlx::Error| match classify(&e, &ctx) {
        Failure::Transient(m) => Failure::Transient(scrub(m, &secrets)),
        Failure::Data { message, .. } | Failure::Permanent(message) => {
            Failure::Permanent(scrub(message, &secrets))
        }
    };
    // Planning answers an API request: fail an unreachable server sooner.
    let acquire = match access {
        Access::ReadOnly => Duration::from_secs(10),
        Access::ReadWrite => Duration::from_secs(30),
    };
    let idle = Duration::from_secs(60);
    match Dialect::from_kind(config.kind) {
        Dialect::Postgres => {
            let opts = PgConnectOptions::from_str(&url)
                .map_err(map_err)?
                .application_name("freight-worker");
            let pool = PgPoolOptions::new()
                .max_connections(MAX_CONNECTIONS)
                .min_connections(0)
                .acquire_timeout(acquire)
                .idle_timeout(idle)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        // Timestamps without zone are written as given, and
                        // timestamptz text is read as UTC.
                        conn.execute("SET TimeZone = 'UTC'").await?;
                        Ok(())
                    })
                })
                .connect_with(opts)
                .await
                .map_err(map_err)?;
            Ok(Some(Pool::Postgres(pool)))
        }
        Dialect::MySql => {
            // sqlx already sets time_zone '+00:00' (MySQL `timestamp`
            // values are read as UTC instants) and utf8mb4.
            let opts = MySqlConnectOptions::from_str(&url).map_err(map_err)?;
            let pool = MySqlPoolOptions::new()
                .max_connections(MAX_CONNECTIONS)
                .min_connections(0)
                .acquire_timeout(acquire)
                .idle_timeout(idle)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        // Strict: a value that does not fit is an error (a
                        // rejected record), never silently truncated; an
                        // explicit 0 in an auto-increment column stays 0.
                        conn.execute(
                            "SET SESSION sql_mode = CONCAT(@@sql_mode, ',STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO')",
                        )
                        .await?;
                        Ok(())
                    })
                })
                .connect_with(opts)
                .await
                .map_err(map_err)?;
            Ok(Some(Pool::MySql(pool)))
        }
        Dialect::Sqlite => {
            let mut opts = SqliteConnectOptions::from_str(&url).map_err(map_err)?;
            let exists = opts.get_filename().exists();
            let writable = side == Side::Target && access == Access::ReadWrite;
            if !writable && side == Side::Target && !exists {
                return Ok(None);
            }
            opts = opts
                .read_only(!writable)
                .create_if_missing(writable)
                .busy_timeout(Duration::from_secs(30));
            // SQLite takes one writer at a time: one connection avoids
            // SQLITE_BUSY between our own concurrent batches.
            let max = if writable { 1 } else { 4 };
            let pool = SqlitePoolOptions::new()
                .max_connections(max)
                .min_connections(0)
                .acquire_timeout(Duration::from_secs(600))
                .idle_timeout(idle)
                .connect_with(opts)
                .await
                .map_err(map_err)?;
            Ok(Some(Pool::Sqlite(pool)))
        }
    }
}

/// Strings that must never appear in a message: the password, raw and
/// percent-encoded as it sits in a URL.
pub fn secrets_of(config: &ConnectionConfig) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(pw) = &config.password {
        out.push(pw.expose().to_owned());
    }
    if let Some(url) = &config.url
        && let Ok(parsed) = url::Url::parse(url.expose())
        && let Some(pw) = parsed.password()
    {
        out.push(pw.to_owned());
        if let Ok(decoded) = urlencoding_decode(pw) {
            out.push(decoded);
        }
    }
    out
}

fn urlencoding_decode(raw: &str) -> Result<String, std::string::FromUtf8Error> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
}
