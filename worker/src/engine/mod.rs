//! The data plane: connectors, planning and idempotent batch copies.
//!
//! CONTRACT between the engine (this module) and dispatch (`crate::dispatch`):
//! dispatch loads a [`JobContext`] from Freight's store, asks [`Engine::plan`] once
//! per job for the fixed key ranges, stores them as batches, and later calls
//! [`Engine::run_batch`] for each batch it holds a lease on, and
//! [`Engine::finish_job`] once every batch has finished. The engine never
//! touches Freight's own database; dispatch never touches source or target.

mod adapt;
mod batch;
mod bind;
mod checks;
mod connect;
mod context;
mod counters;
mod ddl;
mod error;
mod expr;
mod finish;
mod introspect;
pub mod model;
mod names;
mod own_server;
mod planner;
mod planner_api;
mod read;
mod service;
mod spatial;
mod sql;
mod sqltext;
mod typemap;
mod validate;
mod views;
mod write;

pub use planner_api::EnginePlanner;
pub use service::{Engine, PlanLimits, plan_defaults};
pub use sql::PG_PREFER_INDEX;
// The units of work dispatch hands the engine live in `core` (the dispatch
// store records them too); re-exported so the engine speaks of them as its own.
pub use freight_core::work::{
    BatchOutcome, BatchToRun, JobPlan, PlannedBatch, RangeCheck, RangeSide, RangeToValidate,
    RejectedRecord,
};

use std::collections::BTreeMap;

use freight_core::connection::ConnectionConfig;
use freight_core::ids::{JobId, TenantId};
use freight_core::job::{Identifiers, NulCharacters, ZeroDates};

/// A job as the engine needs it: loaded once, shared by its batches.
#[derive(Debug, Clone)]
pub struct JobContext {
    pub job_id: JobId,
    pub tenant: TenantId,
    pub source: ConnectionConfig,
    pub target: ConnectionConfig,
    /// Tables requested; empty means every table of the source.
    pub tables: Vec<String>,
    pub exclude_tables: Vec<String>,
    pub batch_size: u32,
    pub verify: bool,
    /// Columns to cut batches on, per table (`JobSpec.key_columns`).
    pub key_columns: BTreeMap<String, Vec<String>>,
    /// Text holding NUL characters: a record error on PostgreSQL targets,
    /// or stripped while reading.
    pub nul_characters: NulCharacters,
    /// MySQL zero and partial dates: NULL, or a rejected record.
    pub zero_dates: ZeroDates,
    /// How source names are spelled on the target (kept, or lower case).
    pub identifiers: Identifiers,
}

impl JobContext {
    /// The key columns the job names for `table` (matched like table names:
    /// exactly, else ignoring ASCII case).
    pub fn key_columns_for(&self, table: &str) -> Option<&[String]> {
        self.key_columns
            .get(table)
            .or_else(|| {
                self.key_columns
                    .iter()
                    .find(|(t, _)| t.eq_ignore_ascii_case(table))
                    .map(|(_, c)| c)
            })
            .map(Vec::as_slice)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Worth retrying with backoff: connection drops, deadlocks, timeouts.
    #[error("transient: {0}")]
    Transient(String),
    /// Retrying will not help: missing table, bad records beyond the
    /// budget, unsupported key. The batch fails.
    #[error("{0}")]
    Permanent(String),
    /// More records were rejected than the batch's `record_error_budget`
    /// allows: the batch wrote nothing (its transaction rolled back) and
    /// fails; these are the offending records, for the record-level log.
    #[error("{} record(s) rejected, more than the job's error budget allows", .0.len())]
    Rejected(Vec<RejectedRecord>),
}

// `Engine` (in `service.rs`) provides:
//   pub fn new(policy: ConnectionPolicy) -> Engine   (every pool opened under the policy)
//   pub async fn plan(&self, job: &JobContext, prepare_target: bool) -> Result<JobPlan, EngineError>
//       prepare_target=false: read-only (plan_migration_job); true: also create missing target tables
//   pub async fn run_batch(&self, job: &JobContext, batch: &BatchToRun) -> Result<BatchOutcome, EngineError>
//   pub async fn finish_job(&self, job: &JobContext) -> Result<Vec<String>, EngineError>   (secondary indexes, FKs, sequences, views; returns warnings)
//   pub async fn release_job(&self, job: JobId)   (drops cached pools)
//   pub async fn validate_range(&self, job: &JobContext, range: &RangeToValidate) -> Result<RangeCheck, EngineError>
//       (counts and in-database checksums of one batch's key range on both sides; reads only)
