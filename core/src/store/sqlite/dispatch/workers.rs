//! [`WorkerRegistry`] on SQLite.

use async_trait::async_trait;

use crate::store::StoreResult;
use crate::store::dispatch::{WorkerBeat, WorkerRegistry};
use crate::store::sqlite::{SqliteStore, now, timestamp};

#[async_trait]
impl WorkerRegistry for SqliteStore {
    async fn heartbeat(&self, beat: &WorkerBeat) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO workers (id, host, pid, concurrency, in_flight, rows_processed, started_at, last_seen)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
             ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen,
                 in_flight = excluded.in_flight, rows_processed = excluded.rows_processed,
                 concurrency = excluded.concurrency, stopped_at = NULL",
        )
        .bind(&beat.id)
        .bind(&beat.host)
        .bind(beat.pid)
        .bind(beat.concurrency)
        .bind(beat.in_flight)
        .bind(beat.rows_processed)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        self.commit(tx).await
    }

    async fn mark_stopped(&self, beat: &WorkerBeat) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE workers SET stopped_at = $3, last_seen = $3, in_flight = 0, rows_processed = $2
             WHERE id = $1",
        )
        .bind(&beat.id)
        .bind(beat.rows_processed)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        self.commit(tx).await
    }
}

/// What [`SqliteStore::take_over_from_earlier_processes`] ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TakenOver {
    /// `workers` rows marked stopped.
    pub workers: u64,
    /// Running batches whose lease now counts as expired.
    pub batches: u64,
    /// Job leases (planning, finishing) freed.
    pub jobs: u64,
    /// Validation ranges and webhook deliveries whose lease was freed.
    pub other_leases: u64,
}

impl TakenOver {
    /// Whether an earlier process left anything behind.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl SqliteStore {
    /// Ends at once what earlier processes on this file left running,
    /// instead of waiting for their leases to run out: running batches'
    /// leases count as expired (the next reconciler pass hands them out
    /// again, as a lost lease, logged as one), job leases (planning,
    /// finishing), validation range and webhook delivery leases are freed,
    /// and the `workers` rows still marked live are marked stopped (their
    /// slots no longer count).
    ///
    /// Only sound when no other process uses the file and this one has not
    /// started its own workers yet, so that every lease it finds belongs to
    /// a process that is gone: `freight dev` calls it at start, holding its
    /// data directory's lock.
    pub async fn take_over_from_earlier_processes(&self) -> StoreResult<TakenOver> {
        let now = chrono::Utc::now();
        // A moment ago, so that `expire_leases`' `lease_expires_at < now`
        // holds at its next pass whatever the clock's resolution.
        let past = timestamp(now - chrono::Duration::seconds(1));
        let now = timestamp(now);
        let mut tx = self.begin_write().await?;
        let batches = sqlx::query(
            "UPDATE batches SET lease_expires_at = $1
             WHERE status = 'running' AND (lease_expires_at IS NULL OR lease_expires_at > $1)",
        )
        .bind(&past)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let jobs = sqlx::query(
            "UPDATE jobs SET dispatch_owner = NULL, dispatch_lease_until = NULL
             WHERE dispatch_owner IS NOT NULL",
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let ranges = sqlx::query(
            "UPDATE validation_results SET lease_expires_at = $1
             WHERE status = 'running' AND (lease_expires_at IS NULL OR lease_expires_at > $1)",
        )
        .bind(&past)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let deliveries = sqlx::query(
            "UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL
             WHERE status = 'pending' AND lease_owner IS NOT NULL",
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let workers = sqlx::query(
            "UPDATE workers SET stopped_at = $1, in_flight = 0 WHERE stopped_at IS NULL",
        )
        .bind(&now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        self.commit(tx).await?;
        Ok(TakenOver {
            workers,
            batches,
            jobs,
            other_leases: ranges + deliveries,
        })
    }
}
