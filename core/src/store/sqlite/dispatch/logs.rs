//! [`DispatchLogs`] on SQLite.

use async_trait::async_trait;

use super::insert_log;
use crate::ids::BatchId;
use crate::job::LogLevel;
use crate::store::StoreResult;
use crate::store::dispatch::{DispatchLogs, JobRef};
use crate::store::sqlite::{SqliteStore, now};

#[async_trait]
impl DispatchLogs for SqliteStore {
    async fn log(
        &self,
        job: &JobRef,
        batch: Option<BatchId>,
        level: LogLevel,
        message: &str,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        insert_log(&mut tx, job, batch, level, None, message, &now()).await?;
        self.commit(tx).await
    }
}
