//! Storage of jobs, batches, logs and the audit trail.
//!
//! Handlers see only the [`Store`] trait, workers only the traits of
//! [`dispatch`] ([`dispatch::DispatchStore`]); [`postgres`] implements both
//! today, and a SQLite backend for a zero-dependency dev mode can be added
//! beside it without touching them. Every tenant-owned read and write
//! takes the [`TenantId`] first: there is no unscoped way to reach a job.
//!
//! [`sqlite`] is that backend (`freight dev`: one file, no server): it
//! implements [`Store`] and every dispatch trait with the same semantics,
//! errors, ordering and cursors.

mod delegate;
pub mod dispatch;
pub mod postgres;
mod rows;
pub mod sqlite;
mod types;

use async_trait::async_trait;
use futures::stream::BoxStream;

pub use types::*;

use crate::StoreError;
use crate::connection::ConnectionConfig;
use crate::ids::{BatchId, JobId, TenantId, WebhookId};
use crate::job::JobSpec;

pub type StoreResult<T> = Result<T, StoreError>;

/// Which database holds Freight's own tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreBackend {
    /// The production system of record.
    Postgres,
    /// The embedded mode's file (`freight dev`).
    Sqlite,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Which database this store writes to.
    fn backend(&self) -> StoreBackend;

    /// Answers when the database is reachable.
    async fn ping(&self) -> StoreResult<()>;

    /// Stores a new `queued` job and its audit event in one transaction.
    async fn create_job(
        &self,
        tenant: &TenantId,
        spec: &JobSpec,
        audit: &AuditInfo,
    ) -> StoreResult<JobRecord>;

    async fn get_job(&self, tenant: &TenantId, job: JobId) -> StoreResult<JobDetail>;

    async fn list_jobs(
        &self,
        tenant: &TenantId,
        filter: &JobFilter,
    ) -> StoreResult<Page<JobRecord>>;

    /// `NotFound` when the job is not the tenant's.
    async fn list_batches(
        &self,
        tenant: &TenantId,
        job: JobId,
        filter: &BatchFilter,
    ) -> StoreResult<Page<BatchRecord>>;

    /// Moves the job towards `cancelled`; pending batches are cancelled at
    /// once, running ones finish or roll back whole.
    async fn cancel_job(
        &self,
        tenant: &TenantId,
        job: JobId,
        audit: &AuditInfo,
    ) -> StoreResult<JobRecord>;

    /// Resets the failed batches (all, or the given ones) to pending and the
    /// job to `queued`. `Conflict` when there is nothing to retry.
    async fn retry_job(
        &self,
        tenant: &TenantId,
        job: JobId,
        request: &RetryRequest,
        audit: &AuditInfo,
    ) -> StoreResult<RetryOutcome>;

    async fn list_logs(
        &self,
        tenant: &TenantId,
        job: JobId,
        filter: &LogFilter,
    ) -> StoreResult<Page<LogEntry>>;

    /// Every log entry of a job matching `filter`, read in pages so that
    /// exports of any size run in bounded memory.
    async fn stream_logs(
        &self,
        tenant: &TenantId,
        job: JobId,
        filter: LogFilter,
    ) -> StoreResult<BoxStream<'static, StoreResult<LogEntry>>>;

    async fn job_statistics(
        &self,
        tenant: &TenantId,
        window: &StatsWindow,
    ) -> StoreResult<JobStatistics>;

    /// Every tenant's figures: for admins only (the caller checks the role).
    async fn tenant_statistics(&self, window: &StatsWindow) -> StoreResult<Vec<TenantStatistics>>;

    async fn list_audit_events(
        &self,
        tenant: &TenantId,
        filter: &AuditFilter,
    ) -> StoreResult<Page<AuditEvent>>;

    /// Durable events of a job (status changes, failed batch attempts)
    /// after event id `after`, oldest first; ids only grow, so resuming
    /// after the last id seen misses nothing.
    async fn job_events(
        &self,
        tenant: &TenantId,
        job: JobId,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<JobEvent>>;

    /// The newest event id of a job (0 when none).
    async fn last_job_event(&self, tenant: &TenantId, job: JobId) -> StoreResult<i64>;

    /// Ids of jobs with new events, announced by whichever process wrote
    /// them; the stream ends when the backend loses its listening connection.
    async fn watch_job_events(&self) -> StoreResult<BoxStream<'static, JobId>>;

    /// The fleet as `tenant` may see it: counts, and its own running
    /// batches; `workers` is left empty (see [`Store::live_workers`]).
    async fn worker_status(&self, tenant: &TenantId) -> StoreResult<WorkerStatus>;

    /// Registers a webhook of `tenant`; returns it with its signing secret
    /// (stored sealed, never shown again).
    async fn create_webhook(
        &self,
        tenant: &TenantId,
        new: &NewWebhook,
        audit: &AuditInfo,
    ) -> StoreResult<WebhookCreated>;

    async fn list_webhooks(&self, tenant: &TenantId) -> StoreResult<Vec<WebhookRecord>>;

    /// Deletes a webhook and its pending deliveries.
    async fn delete_webhook(
        &self,
        tenant: &TenantId,
        webhook: WebhookId,
        audit: &AuditInfo,
    ) -> StoreResult<()>;

    /// Deliveries of a webhook, newest first.
    async fn list_webhook_deliveries(
        &self,
        tenant: &TenantId,
        webhook: WebhookId,
        filter: &DeliveryFilter,
    ) -> StoreResult<Page<WebhookDelivery>>;

    /// Live workers with ids and host names: for admins only (the caller
    /// checks the role).
    async fn live_workers(&self) -> StoreResult<Vec<WorkerInfo>>;

    /// The decrypted connection configs of a job, for workers and planning.
    async fn job_connections(
        &self,
        tenant: &TenantId,
        job: JobId,
    ) -> StoreResult<(ConnectionConfig, ConnectionConfig)>;

    /// Starts a validation of a finished job: one range task per batch,
    /// compared by workers. `Conflict` while the job is queued, running or
    /// cancelling, or when it has no batches; a validation already running
    /// is returned as it is.
    async fn start_validation(
        &self,
        tenant: &TenantId,
        job: JobId,
        audit: &AuditInfo,
    ) -> StoreResult<ValidationSummary>;

    /// Batches of a job by id, for retry requests naming batch ids.
    async fn batch_exists(
        &self,
        tenant: &TenantId,
        job: JobId,
        batch: BatchId,
    ) -> StoreResult<bool>;
}
