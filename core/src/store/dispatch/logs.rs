//! Job log lines the worker writes on their own (most are written inside
//! the transaction of the change they describe, by the other aggregates).

use async_trait::async_trait;

use crate::ids::BatchId;
use crate::job::LogLevel;
use crate::store::StoreResult;

use super::JobRef;

#[async_trait]
pub trait DispatchLogs: Send + Sync + 'static {
    /// Appends one line to the job's log (`job_logs`), outside any other
    /// transaction.
    async fn log(
        &self,
        job: &JobRef,
        batch: Option<BatchId>,
        level: LogLevel,
        message: &str,
    ) -> StoreResult<()>;
}
