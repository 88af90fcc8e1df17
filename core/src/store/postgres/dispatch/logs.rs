//! [`DispatchLogs`] on Postgres.

use async_trait::async_trait;

use super::insert_log;
use crate::ids::BatchId;
use crate::job::LogLevel;
use crate::store::StoreResult;
use crate::store::dispatch::{DispatchLogs, JobRef};
use crate::store::postgres::PgStore;

#[async_trait]
impl DispatchLogs for PgStore {
    async fn log(
        &self,
        job: &JobRef,
        batch: Option<BatchId>,
        level: LogLevel,
        message: &str,
    ) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await?;
        insert_log(&mut conn, job, batch, level, None, message).await
    }
}
