//! SQLite backend of [`Store`](super::Store), for `freight dev`: one file
//! (`<data-dir>/freight.db`), no server.
//!
//! Row-level security has no SQLite counterpart, so the `tenant_id` filter
//! every query carries is the only wall here; the cross-tenant tests run
//! against both backends for that reason.
//!
//! Connections: a pool of readers, and a writer pool of exactly one
//! connection whose transactions start with `BEGIN IMMEDIATE`. SQLite admits
//! one writer at a time anyway; queueing writers on the pool (in order, no
//! polling) instead of letting several connections race for the lock keeps
//! `SQLITE_BUSY` out of the process, and `IMMEDIATE` takes the write lock at
//! `BEGIN`, so a transaction that reads and then writes (a claim, a state
//! change) can never fail halfway on a lock upgrade when another process
//! (apalis-sqlite on the same file, a `sqlite3` shell) writes too: it waits
//! up to `busy_timeout` before it starts instead. WAL lets readers run
//! beside the writer.
//!
//! Job events are announced in-process: after each write commits, the ids
//! of jobs with new `job_events` rows go to a broadcast channel that
//! [`Store::watch_job_events`] follows (in dev mode only this process
//! writes the file).

mod audit;
mod dispatch;
mod events;
mod jobs;
mod logs;
mod statistics;
mod validations;
mod webhooks;
mod workers;

pub use dispatch::TakenOver;
pub use jobs::ResealReport;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};
use tokio::sync::broadcast;
use uuid::Uuid;
use uuid::fmt::Hyphenated;

use super::*;
use crate::secrets::SecretBox;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// Where applied migrations are recorded. Not sqlx's default
/// `_sqlx_migrations`: apalis-sqlite records its own migrations there, and
/// two migrators sharing one table each see the other's versions as
/// "missing" and refuse to run.
const MIGRATIONS_TABLE: &str = "_freight_migrations";

/// How long a writer waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct SqliteStore {
    reader: SqlitePool,
    writer: SqlitePool,
    secrets: SecretBox,
    path: PathBuf,
    events: broadcast::Sender<JobId>,
    /// The newest `job_events.seq` announced on `events`.
    announced: Arc<AtomicI64>,
    /// Wakes the dispatch side ([`DispatchJobs::watch_jobs`](crate::store::dispatch::DispatchJobs::watch_jobs)).
    wakeups: broadcast::Sender<()>,
    /// The `dispatch_wakeups.seq` last announced on `wakeups`.
    woken: Arc<AtomicI64>,
}

impl SqliteStore {
    /// Opens (creating when missing) the database file at `path`.
    pub async fn open(path: &Path, readers: u32, secrets: SecretBox) -> StoreResult<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL: durable at checkpoints, never corrupt; the
            // SQLite-recommended setting for WAL.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        // The writer first: it creates the file and switches it to WAL
        // before any reader opens it.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(readers.max(1))
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        let (events, _) = broadcast::channel(1024);
        let (wakeups, _) = broadcast::channel(16);
        Ok(Self {
            reader,
            writer,
            secrets,
            path: path.to_owned(),
            events,
            announced: Arc::new(AtomicI64::new(0)),
            wakeups,
            woken: Arc::new(AtomicI64::new(0)),
        })
    }

    pub fn secrets(&self) -> &SecretBox {
        &self.secrets
    }

    /// The pool for reads (WAL: they never wait for the writer).
    pub fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    /// The one-connection pool every write goes through.
    pub fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Applies migrations, then re-seals configs sealed before they were
    /// bound to their row (none on a fresh file; kept for parity with
    /// PostgreSQL).
    pub async fn migrate(&self) -> StoreResult<()> {
        let mut migrator = sqlx::migrate::Migrator::with_migrations(MIGRATOR.migrations.to_vec());
        migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
        migrator.run(&self.writer).await?;
        let last: Option<i64> = sqlx::query_scalar("SELECT max(seq) FROM job_events")
            .fetch_one(&self.reader)
            .await?;
        self.announced
            .fetch_max(last.unwrap_or(0), Ordering::SeqCst);
        let report = jobs::reseal(self, false).await?;
        if report.resealed > 0 || report.unreadable > 0 {
            tracing::info!(
                resealed = report.resealed,
                unreadable = report.unreadable,
                "connection configs re-sealed, bound to their rows"
            );
        }
        Ok(())
    }

    /// Re-seals every connection config with the current key (after a
    /// rotation: `freight reseal`).
    pub async fn reseal_all(&self) -> StoreResult<ResealReport> {
        jobs::reseal(self, true).await
    }

    /// The identity of Freight's own database, which the connection policy
    /// refuses to every job: the file, by canonical path.
    pub fn identity(&self) -> StoreResult<crate::policy::DatabaseIdentity> {
        let path = std::fs::canonicalize(&self.path)
            .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
        Ok(crate::policy::DatabaseIdentity::SqliteFile(path))
    }

    /// A write transaction holding the database's write lock from its start.
    pub async fn begin_write(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Runs one statement in a write transaction of its own (announcing what
    /// it changed); whether it changed exactly one row, as a lease-guarded
    /// update does when the lease is still ours.
    pub(crate) async fn update_one(
        &self,
        query: sqlx::query::Query<'_, Sqlite, sqlx::sqlite::SqliteArguments>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = query.execute(&mut *tx).await?;
        self.commit(tx).await?;
        Ok(done.rows_affected() == 1)
    }

    /// A read transaction: one consistent snapshot for several queries.
    pub async fn begin_read(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        Ok(self.reader.begin().await?)
    }

    /// Commits a write transaction, then wakes the watchers of every job
    /// that got new events in it, and the dispatch side when a job or a
    /// validation changed (both written by triggers, so no code path can
    /// forget to announce one; this process is the only writer of the file).
    pub async fn commit(&self, mut tx: Transaction<'static, Sqlite>) -> StoreResult<()> {
        let since = self.announced.load(Ordering::SeqCst);
        let changed: Vec<(Hyphenated, i64)> = sqlx::query_as(
            "SELECT job_id, max(seq) FROM job_events WHERE seq > $1 GROUP BY job_id",
        )
        .bind(since)
        .fetch_all(&mut *tx)
        .await?;
        let wakeups: i64 = sqlx::query_scalar("SELECT seq FROM dispatch_wakeups WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        if let Some(newest) = changed.iter().map(|(_, seq)| *seq).max() {
            self.announced.fetch_max(newest, Ordering::SeqCst);
        }
        for (job, _) in changed {
            // No listener right now is fine.
            let _ = self.events.send(JobId(job.into_uuid()));
        }
        if self.woken.fetch_max(wakeups, Ordering::SeqCst) < wakeups {
            let _ = self.wakeups.send(());
        }
        Ok(())
    }
}

use super::rows::{decode_error, page_size};

/// A timestamp as stored: UTC, six fractional digits, `Z`, so that text
/// order is time order (sqlx's own encoding varies the precision).
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Now, as stored.
pub fn now() -> String {
    timestamp(Utc::now())
}

/// A uuid as stored: lowercase hyphenated text.
pub fn uuid_text(id: Uuid) -> Hyphenated {
    id.hyphenated()
}

super::delegate::delegating_store!(SqliteStore {
    fn backend(&self) -> StoreBackend {
        StoreBackend::Sqlite
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn watch_job_events(&self) -> StoreResult<BoxStream<'static, JobId>> {
        Ok(events::watch(self))
    }
});

#[cfg(test)]
mod tests;
