//! [`EnginePlanner`]: `plan_migration_job` for the API, without the API
//! linking the engine's internals.

use async_trait::async_trait;
use freight_core::ValidationError;
use freight_core::ids::{JobId, TenantId};
use freight_core::job::JobSpec;
use freight_core::plan::{PlanError, PlanReport, Planner};

use super::error::Failure;
use super::planner::PlanFail;
use super::{Engine, JobContext};

/// Plans a job spec read-only: connects, introspects, walks keys; writes nothing.
#[derive(Debug, Clone, Default)]
pub struct EnginePlanner {
    engine: Engine,
}

impl EnginePlanner {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Planner for EnginePlanner {
    async fn plan(&self, spec: &JobSpec) -> Result<PlanReport, PlanError> {
        let tenant = TenantId::parse("planner").map_err(PlanError::Invalid)?;
        let job = JobContext {
            job_id: JobId::new(),
            tenant,
            source: spec.source_config.clone(),
            target: spec.target_config.clone(),
            tables: spec.tables.clone(),
            exclude_tables: spec.exclude_tables.clone(),
            batch_size: spec.batch_size,
            verify: spec.verify,
            key_columns: spec.key_columns.clone(),
            nul_characters: spec.nul_characters,
        };
        let mut secrets = super::connect::secrets_of(&job.source);
        secrets.extend(super::connect::secrets_of(&job.target));
        let scrub = |m: String| super::error::scrub(m, &secrets);
        match self.engine.plan_detailed(&job, false).await {
            Ok(plan) => Ok(plan.report),
            Err(PlanFail::Invalid { field, message }) => Err(PlanError::Invalid(
                ValidationError::single(field, scrub(message)),
            )),
            Err(PlanFail::Failure(Failure::Transient(m) | Failure::Permanent(m)))
            | Err(PlanFail::Failure(Failure::Data { message: m, .. })) => {
                Err(PlanError::Unreachable(scrub(m)))
            }
        }
    }
}
