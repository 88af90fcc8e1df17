//! [`WorkerRegistry`] on Postgres.

use async_trait::async_trait;

use crate::store::StoreResult;
use crate::store::dispatch::{WorkerBeat, WorkerRegistry};
use crate::store::postgres::PgStore;

#[async_trait]
impl WorkerRegistry for PgStore {
    async fn heartbeat(&self, beat: &WorkerBeat) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO workers (id, host, pid, concurrency, in_flight, rows_processed)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (id) DO UPDATE SET last_seen = now(), in_flight = EXCLUDED.in_flight,
                 rows_processed = EXCLUDED.rows_processed, concurrency = EXCLUDED.concurrency,
                 stopped_at = NULL",
        )
        .bind(&beat.id)
        .bind(&beat.host)
        .bind(beat.pid)
        .bind(beat.concurrency)
        .bind(beat.in_flight)
        .bind(beat.rows_processed)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn mark_stopped(&self, beat: &WorkerBeat) -> StoreResult<()> {
        sqlx::query(
            "UPDATE workers SET stopped_at = now(), last_seen = now(), in_flight = 0, rows_processed = $2
             WHERE id = $1",
        )
        .bind(&beat.id)
        .bind(beat.rows_processed)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
