//! What planning a job reports, and the interface the engine implements.
//! The API serves `plan_migration_job` through [`Planner`] without linking
//! the engine; the `freight` binary wires the engine's implementation in.

use async_trait::async_trait;
use serde::Serialize;
use utoipa::ToSchema;

use crate::ValidationError;
use crate::connection::ConnectionConfig;
use crate::ids::TenantId;
use crate::job::JobSpec;
use crate::policy::PolicyViolation;

/// How a table's rows are cut into batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CopyMode {
    /// Fixed ranges of `key_columns`, each batch deleting its range on the
    /// target and inserting the source rows of it.
    KeyRanges,
    /// No key (and none named in the job's `key_columns`): one batch clears
    /// the target table and copies every row in one target transaction; a
    /// retry copies the whole table again.
    WholeTable,
}

/// The plan of one table.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TablePlan {
    /// Source table name.
    pub table_name: String,
    /// Columns of the key batches are cut on: the primary key, else a unique
    /// index of NOT NULL columns, else the job's `key_columns` entry; empty
    /// when the table is copied whole.
    pub key_columns: Vec<String>,
    /// How the table is copied: in key ranges, or whole in one batch.
    pub copy_mode: CopyMode,
    /// Estimated rows in the source table.
    pub rows_estimate: i64,
    /// Batches the table will be split into.
    pub batch_count: i64,
    /// Statements that create the table (and later its indexes) on the target.
    pub target_ddl: Vec<String>,
    /// Lossy or risky casts and fallbacks for this table.
    pub warnings: Vec<String>,
}

/// What a job would do, computed without moving or writing anything.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlanReport {
    /// Tables to copy, in copy order.
    pub tables: Vec<TablePlan>,
    /// Estimated rows across all tables.
    pub total_rows_estimate: i64,
    /// Batches across all tables.
    pub total_batches: i64,
    /// Warnings that concern the whole job.
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The spec is well-formed but names something that does not exist.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The connection policy refuses a source or target.
    #[error(transparent)]
    NotAllowed(#[from] PolicyViolation),
    /// The plan would need more batches than a job may have; the message
    /// names a batch size that fits.
    #[error("{0}")]
    TooLarge(String),
    /// A source or target database could not be reached or read; the
    /// message never holds credentials.
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    Internal(String),
}

#[async_trait]
pub trait Planner: Send + Sync + 'static {
    /// Introspects source (and target) for `tenant` and returns the plan;
    /// writes nothing. Both ends pass the connection policy first.
    async fn plan(&self, tenant: &TenantId, spec: &JobSpec) -> Result<PlanReport, PlanError>;

    /// Applies the connection policy to both ends of a job (at create and
    /// retry) without reading or writing anything.
    async fn check_connections(
        &self,
        tenant: &TenantId,
        source: &ConnectionConfig,
        target: &ConnectionConfig,
    ) -> Result<(), PlanError>;
}
