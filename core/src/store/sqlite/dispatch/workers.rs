//! [`WorkerRegistry`] on SQLite.

use async_trait::async_trait;

use crate::store::StoreResult;
use crate::store::dispatch::{WorkerBeat, WorkerRegistry};
use crate::store::sqlite::{SqliteStore, now};

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
