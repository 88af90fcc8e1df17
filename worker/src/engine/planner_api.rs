//! [`EnginePlanner`]: `plan_migration_job` for the API, without the API
//! linking the engine's internals.

use async_trait::async_trait;
use freight_core::ValidationError;
use freight_core::connection::ConnectionConfig;
use freight_core::ids::{JobId, TenantId};
use freight_core::job::JobSpec;
use freight_core::plan::{PlanError, PlanReport, Planner};

use super::error::Failure;
use super::planner::PlanFail;
use super::{Engine, JobContext};

/// Plans a job spec read-only: connects, introspects, walks keys; writes nothing.
#[derive(Debug, Clone)]
pub struct EnginePlanner {
    engine: Engine,
}

impl EnginePlanner {
    pub fn new(engine: Engine) -> Self {
        Self { engine }
    }
}

/// The job as planning sees it: a fresh id, the caller's tenant.
fn context_of(
    tenant: &TenantId,
    source: &ConnectionConfig,
    target: &ConnectionConfig,
    spec: Option<&JobSpec>,
) -> JobContext {
    JobContext {
        job_id: JobId::new(),
        tenant: tenant.clone(),
        source: source.clone(),
        target: target.clone(),
        tables: spec.map(|s| s.tables.clone()).unwrap_or_default(),
        exclude_tables: spec.map(|s| s.exclude_tables.clone()).unwrap_or_default(),
        batch_size: spec.map_or(1, |s| s.batch_size),
        verify: spec.is_some_and(|s| s.verify),
        key_columns: spec.map(|s| s.key_columns.clone()).unwrap_or_default(),
        nul_characters: spec.map(|s| s.nul_characters).unwrap_or_default(),
        zero_dates: spec.map(|s| s.zero_dates).unwrap_or_default(),
        identifiers: spec.map(|s| s.identifiers).unwrap_or_default(),
    }
}

/// A refusal as the API reports it, with no credential of `job` in it.
fn plan_error(fail: PlanFail, job: &JobContext) -> PlanError {
    let mut secrets = job.source.secret_values();
    secrets.extend(job.target.secret_values());
    let scrub = |m: String| super::error::scrub(m, &secrets);
    match fail {
        PlanFail::Invalid { field, message } => {
            PlanError::Invalid(ValidationError::single(field, scrub(message)))
        }
        PlanFail::TooLarge(message) => PlanError::TooLarge(message),
        PlanFail::Failure(Failure::NotAllowed(violation)) => PlanError::NotAllowed(violation),
        PlanFail::Failure(Failure::Transient(m) | Failure::Permanent(m))
        | PlanFail::Failure(Failure::Data { message: m, .. }) => PlanError::Unreachable(scrub(m)),
    }
}

#[async_trait]
impl Planner for EnginePlanner {
    async fn plan(&self, tenant: &TenantId, spec: &JobSpec) -> Result<PlanReport, PlanError> {
        let job = context_of(tenant, &spec.source_config, &spec.target_config, Some(spec));
        self.engine
            .plan_detailed(&job, false)
            .await
            .map(|plan| plan.report)
            .map_err(|fail| plan_error(fail, &job))
    }

    async fn check_connections(
        &self,
        tenant: &TenantId,
        source: &ConnectionConfig,
        target: &ConnectionConfig,
    ) -> Result<(), PlanError> {
        let job = context_of(tenant, source, target, None);
        self.engine
            .check_connections(&job)
            .await
            .map_err(|f| plan_error(PlanFail::Failure(f), &job))
    }
}
