//! [`Engine`]: the data plane's entry points, as dispatch calls them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use freight_core::ids::JobId;

use super::connect::{self, Access, Side};
use super::context::JobState;
use super::error::{Failure, scrub};
use super::planner::{self, PlanFail};
use super::{BatchOutcome, BatchToRun, EngineError, JobContext, JobPlan, batch, finish};

/// Copies data for dispatch. Cheap to clone; clones share pools and caches.
#[derive(Clone, Default)]
pub struct Engine {
    jobs: Arc<Mutex<HashMap<JobId, Arc<JobState>>>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

impl Engine {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self, job: JobId) -> Arc<JobState> {
        match self.jobs.lock() {
            Ok(mut jobs) => jobs.entry(job).or_default().clone(),
            // A panic elsewhere poisoned the map: run uncached rather than fail.
            Err(_) => Arc::new(JobState::default()),
        }
    }

    /// Plans the job. `prepare_target = false` is read-only (used by
    /// `plan_migration_job`); `true` also creates missing target tables.
    pub async fn plan(
        &self,
        job: &JobContext,
        prepare_target: bool,
    ) -> Result<JobPlan, EngineError> {
        self.plan_detailed(job, prepare_target)
            .await
            .map_err(|f| match f {
                PlanFail::Invalid { message, .. } => EngineError::Permanent(message),
                PlanFail::Failure(f) => f.into_engine(),
            })
            .map_err(|e| scrub_engine(e, job))
    }

    pub(crate) async fn plan_detailed(
        &self,
        job: &JobContext,
        prepare_target: bool,
    ) -> Result<JobPlan, PlanFail> {
        if prepare_target {
            let state = self.state(job.job_id);
            let source = state.source(job).await?;
            let target = state.target(job).await?;
            return planner::plan(job, &source, Some(&target), true).await;
        }
        // Read-only: pools of its own (a read-only SQLite target file is
        // not created), closed when done.
        let source = connect::open(&job.source, Side::Source, Access::ReadOnly)
            .await?
            .ok_or_else(|| Failure::Permanent("the source database does not exist".into()))?;
        let target = match connect::open(&job.target, Side::Target, Access::ReadOnly).await {
            Ok(t) => t,
            Err(e) => {
                source.close().await;
                return Err(e.into());
            }
        };
        let result = planner::plan(job, &source, target.as_ref(), false).await;
        source.close().await;
        if let Some(t) = target {
            t.close().await;
        }
        result
    }

    /// Copies one key range; idempotent.
    pub async fn run_batch(
        &self,
        job: &JobContext,
        batch: &BatchToRun,
    ) -> Result<BatchOutcome, EngineError> {
        let state = self.state(job.job_id);
        let run = async {
            let source = state.source(job).await.map_err(Failure::into_engine)?;
            let target = state.target(job).await.map_err(Failure::into_engine)?;
            let ctx = state
                .table(job, &batch.table_name)
                .await
                .map_err(Failure::into_engine)?;
            batch::run(job, &source, &target, &ctx, batch).await
        };
        run.await.map_err(|e| scrub_engine(e, job))
    }

    /// Secondary indexes, foreign keys, identity sequences; returns warnings.
    pub async fn finish_job(&self, job: &JobContext) -> Result<Vec<String>, EngineError> {
        let state = self.state(job.job_id);
        let run = async {
            let source = state.source(job).await?;
            let target = state.target(job).await?;
            finish::finish(job, &source, &target).await
        };
        run.await.map_err(|f| scrub_engine(f.into_engine(), job))
    }

    /// Drops the job's cached pools and schemas.
    pub async fn release_job(&self, job: JobId) {
        let state = self.jobs.lock().ok().and_then(|mut jobs| jobs.remove(&job));
        if let Some(state) = state {
            state.close().await;
        }
    }
}

fn scrub_engine(err: EngineError, job: &JobContext) -> EngineError {
    let mut secrets = connect::secrets_of(&job.source);
    secrets.extend(connect::secrets_of(&job.target));
    match err {
        EngineError::Transient(m) => EngineError::Transient(scrub(m, &secrets)),
        EngineError::Permanent(m) => EngineError::Permanent(scrub(m, &secrets)),
        EngineError::Rejected(records) => EngineError::Rejected(
            records
                .into_iter()
                .map(|mut r| {
                    r.message = scrub(r.message, &secrets);
                    r
                })
                .collect(),
        ),
    }
}
