//! [`Engine`]: the data plane's entry points, as dispatch calls them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use freight_core::ids::JobId;

use freight_core::policy::ConnectionPolicy;

use super::connect::{self, Access, Pool, Side};
use super::context::{JobState, TableCtx};
use super::error::{Failure, scrub};
use super::planner::{self, PlanFail};
use super::validate;
use super::{BatchOutcome, BatchToRun, EngineError, JobContext, JobPlan, batch, finish};
use super::{RangeCheck, RangeToValidate};

/// Copies data for dispatch. Cheap to clone; clones share pools and caches.
#[derive(Clone)]
pub struct Engine {
    jobs: Arc<Mutex<HashMap<JobId, Arc<JobState>>>>,
    policy: Arc<ConnectionPolicy>,
    limits: PlanLimits,
}

/// Defaults of [`PlanLimits`], written once (the process settings use
/// them too).
pub mod plan_defaults {
    pub const MAX_BATCHES_PER_JOB: u64 = 100_000;
    pub const MAX_KEY_BYTES_PER_JOB: u64 = 16 * 1024 * 1024;
    pub const MAX_TABLES_PER_JOB: u64 = 10_000;
    pub const MAX_SCHEMA_BYTES_PER_JOB: u64 = 32 * 1024 * 1024;
}

/// Bounds on what planning may produce, so a plan's memory stays bounded
/// whatever the source returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanLimits {
    /// Batches one job may be cut into (`FREIGHT_MAX_BATCHES_PER_JOB`).
    /// Every table costs at least one, keyless ones exactly one.
    pub max_batches_per_job: usize,
    /// Bytes of boundary key values one plan may hold
    /// (`FREIGHT_MAX_PLAN_KEY_BYTES`): the batch count alone does not bound
    /// memory when the key is a long text.
    pub max_key_bytes_per_job: usize,
    /// Tables one job may copy (`FREIGHT_MAX_TABLES_PER_JOB`), checked
    /// before any table's schema is read.
    pub max_tables_per_job: usize,
    /// Bytes of schema text (names, types, defaults, CHECK and generated
    /// expressions, view definitions) one plan may hold
    /// (`FREIGHT_MAX_PLAN_SCHEMA_BYTES`).
    pub max_schema_bytes_per_job: usize,
}

impl PlanLimits {
    /// Limits as configured (64-bit settings; a value beyond this
    /// platform's `usize` means no limit).
    pub fn new(
        max_batches_per_job: u64,
        max_key_bytes_per_job: u64,
        max_tables_per_job: u64,
        max_schema_bytes_per_job: u64,
    ) -> Self {
        let size = |value: u64| usize::try_from(value).unwrap_or(usize::MAX);
        Self {
            max_batches_per_job: size(max_batches_per_job),
            max_key_bytes_per_job: size(max_key_bytes_per_job),
            max_tables_per_job: size(max_tables_per_job),
            max_schema_bytes_per_job: size(max_schema_bytes_per_job),
        }
    }
}

impl Default for PlanLimits {
    fn default() -> Self {
        Self::new(
            plan_defaults::MAX_BATCHES_PER_JOB,
            plan_defaults::MAX_KEY_BYTES_PER_JOB,
            plan_defaults::MAX_TABLES_PER_JOB,
            plan_defaults::MAX_SCHEMA_BYTES_PER_JOB,
        )
    }
}

/// How long creating or retrying a job waits for a server to answer the
/// identity check before leaving it to the worker.
const IDENTITY_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine whose every connection passes `policy`.
    pub fn new(policy: ConnectionPolicy) -> Self {
        Self {
            jobs: Arc::default(),
            policy: Arc::new(policy),
            limits: PlanLimits::default(),
        }
    }

    pub fn with_limits(mut self, limits: PlanLimits) -> Self {
        self.limits = limits;
        self
    }

    pub fn policy(&self) -> &ConnectionPolicy {
        &self.policy
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
                PlanFail::Invalid { message, .. } | PlanFail::TooLarge(message) => {
                    EngineError::Permanent(message)
                }
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
            let source = state.source(job, &self.policy).await?;
            let target = state.target(job, &self.policy).await?;
            return planner::plan(job, &source, Some(&target), true, &self.limits).await;
        }
        // Read-only: pools of its own (a read-only SQLite target file is
        // not created), closed when done.
        let (source, target) = self.open_read_only(job).await?;
        let Some(source) = source else {
            if let Some(t) = target {
                t.close().await;
            }
            return Err(Failure::Permanent("the source database does not exist".into()).into());
        };
        let result = planner::plan(job, &source, target.as_ref(), false, &self.limits).await;
        source.close().await;
        if let Some(t) = target {
            t.close().await;
        }
        result
    }

    /// Opens one end of `job` through the policy and holds `connections` of
    /// its pool at once: each new connection of a pool passes the policy,
    /// not only the first (for tests of that rule).
    #[doc(hidden)]
    pub async fn hold_connections(
        &self,
        job: &JobContext,
        source: bool,
        connections: usize,
    ) -> Result<(), EngineError> {
        let side = if source { Side::Source } else { Side::Target };
        let config = if source { &job.source } else { &job.target };
        let opened =
            connect::open_guarded(&self.policy, &job.tenant, config, side, Access::ReadOnly)
                .await
                .map_err(Failure::into_engine)?;
        let Some((pool, Some(mut refused))) = opened else {
            return Err(EngineError::Permanent("not a database server".into()));
        };
        let result = async {
            match &pool {
                Pool::Postgres(p, _) => {
                    let mut held = Vec::new();
                    for _ in 0..connections {
                        let conn = connect::unless_refused(&mut refused, p.acquire()).await?;
                        held.push(
                            conn.map_err(|e| Failure::Transient(super::error::describe(&e)))?,
                        );
                    }
                }
                Pool::MySql(p) => {
                    let mut held = Vec::new();
                    for _ in 0..connections {
                        let conn = connect::unless_refused(&mut refused, p.acquire()).await?;
                        held.push(
                            conn.map_err(|e| Failure::Transient(super::error::describe(&e)))?,
                        );
                    }
                }
                Pool::Sqlite(_) => {}
            }
            Ok::<(), Failure>(())
        }
        .await;
        pool.close().await;
        result.map_err(Failure::into_engine)
    }

    /// Opens both ends read-only through the policy (address, path and
    /// identity rules) in pools of their own.
    async fn open_read_only(
        &self,
        job: &JobContext,
    ) -> Result<(Option<Pool>, Option<Pool>), Failure> {
        let source = connect::open(
            &self.policy,
            &job.tenant,
            &job.source,
            Side::Source,
            Access::ReadOnly,
        )
        .await?;
        let target = match connect::open(
            &self.policy,
            &job.tenant,
            &job.target,
            Side::Target,
            Access::ReadOnly,
        )
        .await
        {
            Ok(t) => t,
            Err(e) => {
                if let Some(s) = source {
                    s.close().await;
                }
                return Err(e);
            }
        };
        Ok((source, target))
    }

    /// The connection policy applied to both ends of a job without reading
    /// or writing anything: address and path rules, then (when a server
    /// answers) the identity rule. An unreachable server is not refused
    /// here; the worker checks again right before it connects.
    pub(crate) async fn check_connections(&self, job: &JobContext) -> Result<(), Failure> {
        let sides = [(Side::Source, &job.source), (Side::Target, &job.target)];
        for (side, config) in sides {
            self.policy
                .vet(side.field(), &job.tenant, config)
                .await
                .map_err(Failure::NotAllowed)?;
        }
        for (side, config) in sides {
            let opened = connect::open(&self.policy, &job.tenant, config, side, Access::ReadOnly);
            match tokio::time::timeout(IDENTITY_CHECK_TIMEOUT, opened).await {
                Ok(Ok(Some(pool))) => pool.close().await,
                Ok(Err(refused @ Failure::NotAllowed(_))) => return Err(refused),
                Ok(Ok(None) | Err(_)) | Err(_) => {}
            }
        }
        Ok(())
    }

    /// The job's cached pools (through the policy) and one table's context.
    async fn open_table(
        &self,
        job: &JobContext,
        table: &str,
    ) -> Result<(Pool, Pool, Arc<TableCtx>), EngineError> {
        let state = self.state(job.job_id);
        let source = state
            .source(job, &self.policy)
            .await
            .map_err(Failure::into_engine)?;
        let target = state
            .target(job, &self.policy)
            .await
            .map_err(Failure::into_engine)?;
        let ctx = state
            .table(job, &self.policy, table)
            .await
            .map_err(Failure::into_engine)?;
        Ok((source, target, ctx))
    }

    /// Copies one key range; idempotent.
    pub async fn run_batch(
        &self,
        job: &JobContext,
        batch: &BatchToRun,
    ) -> Result<BatchOutcome, EngineError> {
        let run = async {
            let (source, target, ctx) = self.open_table(job, &batch.table_name).await?;
            batch::run(job, &source, &target, &ctx, batch).await
        };
        run.await.map_err(|e| scrub_engine(e, job))
    }

    /// Compares one batch's key range between source and target by count
    /// and in-database checksum (validation after the load); reads only.
    pub async fn validate_range(
        &self,
        job: &JobContext,
        range: &RangeToValidate,
    ) -> Result<RangeCheck, EngineError> {
        let run = async {
            let (source, target, ctx) = self.open_table(job, &range.table_name).await?;
            let strip_nul = job.nul_characters == freight_core::job::NulCharacters::Strip;
            validate::check(&source, &target, &ctx, range, strip_nul).await
        };
        run.await.map_err(|e| scrub_engine(e, job))
    }

    /// Secondary indexes, foreign keys, identity sequences, then views;
    /// returns warnings.
    pub async fn finish_job(&self, job: &JobContext) -> Result<Vec<String>, EngineError> {
        let state = self.state(job.job_id);
        let run = async {
            let source = state.source(job, &self.policy).await?;
            let target = state.target(job, &self.policy).await?;
            finish::finish(job, &source, &target, &self.limits).await
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
    let mut secrets = job.source.secret_values();
    secrets.extend(job.target.secret_values());
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
