//! What dispatch needs from the data plane, as a trait so that dispatch can
//! be exercised with a stand-in (fault injection in tests) and the real
//! [`Engine`](crate::engine) plugs in unchanged.

use std::future::Future;

use freight_core::ids::JobId;

use crate::engine::{
    BatchOutcome, BatchToRun, EngineError, JobContext, JobPlan, RangeCheck, RangeToValidate,
};

/// The engine's side of the contract in `crate::engine`.
pub trait DataPlane: Send + Sync + 'static {
    /// Plans the job and creates missing target tables.
    fn plan(&self, job: &JobContext) -> impl Future<Output = Result<JobPlan, EngineError>> + Send;

    /// Copies one key range idempotently.
    fn run_batch(
        &self,
        job: &JobContext,
        batch: &BatchToRun,
    ) -> impl Future<Output = Result<BatchOutcome, EngineError>> + Send;

    /// Recreates secondary indexes and foreign keys; returns warnings.
    fn finish_job(
        &self,
        job: &JobContext,
    ) -> impl Future<Output = Result<Vec<String>, EngineError>> + Send;

    /// Drops whatever the engine cached for the job (connection pools).
    fn release_job(&self, job: JobId) -> impl Future<Output = ()> + Send;

    /// Compares one batch's key range between source and target
    /// (validation after the load). A stand-in that cannot validate says so.
    fn validate_range(
        &self,
        job: &JobContext,
        range: &RangeToValidate,
    ) -> impl Future<Output = Result<RangeCheck, EngineError>> + Send {
        let _ = (job, range);
        async {
            Err(EngineError::Permanent(
                "this data plane cannot validate".into(),
            ))
        }
    }
}

/// The real data plane.
impl DataPlane for crate::engine::Engine {
    async fn plan(&self, job: &JobContext) -> Result<JobPlan, EngineError> {
        crate::engine::Engine::plan(self, job, true).await
    }

    async fn run_batch(
        &self,
        job: &JobContext,
        batch: &BatchToRun,
    ) -> Result<BatchOutcome, EngineError> {
        crate::engine::Engine::run_batch(self, job, batch).await
    }

    async fn finish_job(&self, job: &JobContext) -> Result<Vec<String>, EngineError> {
        crate::engine::Engine::finish_job(self, job).await
    }

    async fn release_job(&self, job: JobId) {
        crate::engine::Engine::release_job(self, job).await
    }

    async fn validate_range(
        &self,
        job: &JobContext,
        range: &RangeToValidate,
    ) -> Result<RangeCheck, EngineError> {
        crate::engine::Engine::validate_range(self, job, range).await
    }
}
