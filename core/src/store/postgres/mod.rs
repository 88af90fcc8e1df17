//! PostgreSQL backend of [`Store`] and of the dispatch traits
//! ([`DispatchStore`](super::dispatch::DispatchStore), in `dispatch/`).
//!
//! Tenant-scoped work runs in a transaction that first switches to the
//! `freight_tenant` role and sets `freight.tenant_id`, so row-level security
//! enforces isolation a second time, beneath the `tenant_id` filters that
//! every query carries anyway.

mod audit;
mod dispatch;
mod events;
mod jobs;

pub use super::rows::parse_delivery_cursor;
pub use jobs::ResealReport;
mod logs;
mod statistics;
mod validations;
mod webhooks;
mod workers;

use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use super::*;
use crate::secrets::SecretBox;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    secrets: SecretBox,
}

impl PgStore {
    pub async fn connect(url: &str, max_connections: u32, secrets: SecretBox) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await?;
        Ok(Self { pool, secrets })
    }

    pub fn from_pool(pool: PgPool, secrets: SecretBox) -> Self {
        Self { pool, secrets }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn secrets(&self) -> &SecretBox {
        &self.secrets
    }

    /// Applies migrations, then re-seals configs sealed before they were
    /// bound to their row.
    pub async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.pool).await?;
        let report = jobs::reseal(self, false).await?;
        if report.resealed > 0 || report.unreadable > 0 {
            tracing::info!(
                resealed = report.resealed,
                unreadable = report.unreadable,
                "connection configs re-sealed, bound to their rows"
            );
        }
        Ok(())
    }

    /// Re-seals every connection config with the current key (after a
    /// rotation: `freight reseal`).
    pub async fn reseal_all(&self) -> StoreResult<jobs::ResealReport> {
        jobs::reseal(self, true).await
    }

    /// The identity of Freight's own database, which the connection
    /// policy refuses to every job.
    pub async fn identity(&self) -> StoreResult<crate::policy::DatabaseIdentity> {
        let (system_identifier, database): (String, String) =
            sqlx::query_as(crate::policy::POSTGRES_IDENTITY_QUERY)
                .fetch_one(&self.pool)
                .await?;
        Ok(crate::policy::DatabaseIdentity::Postgres {
            system_identifier,
            database,
        })
    }

    /// A transaction in which row-level security admits only `tenant`'s rows.
    async fn scoped(&self, tenant: &TenantId) -> StoreResult<Transaction<'static, Postgres>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT set_config('freight.tenant_id', $1, true), set_config('role', 'freight_tenant', true)")
            .bind(tenant.as_str())
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }
}

use super::rows::{decode_error, page_size};

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> StoreBackend {
        StoreBackend::Postgres
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn create_job(
        &self,
        tenant: &TenantId,
        spec: &JobSpec,
        audit: &AuditInfo,
    ) -> StoreResult<JobRecord> {
        jobs::create(self, tenant, spec, audit).await
    }

    async fn get_job(&self, tenant: &TenantId, job: JobId) -> StoreResult<JobDetail> {
        jobs::get(self, tenant, job).await
    }

    async fn list_jobs(
        &self,
        tenant: &TenantId,
        filter: &JobFilter,
    ) -> StoreResult<Page<JobRecord>> {
        jobs::list(self, tenant, filter).await
    }

    async fn list_batches(
        &self,
        tenant: &TenantId,
        job: JobId,
        filter: &BatchFilter,
    ) -> StoreResult<Page<BatchRecord>> {
        jobs::list_batches(self, tenant, job, filter).await
    }

    async fn cancel_job(
        &self,
        tenant: &TenantId,
        job: JobId,
        audit: &AuditInfo,
    ) -> StoreResult<JobRecord> {
        jobs::cancel(self, tenant, job, audit).await
    }

    async fn retry_job(
        &self,
        tenant: &TenantId,
        job: JobId,
        request: &RetryRequest,
        audit: &AuditInfo,
    ) -> StoreResult<RetryOutcome> {
        jobs::retry(self, tenant, job, request, audit).await
    }

    async fn list_logs(
        &self,
        tenant: &TenantId,
        job: JobId,
        filter: &LogFilter,
    ) -> StoreResult<Page<LogEntry>> {
        super::rows::list_logs(self, tenant, job, filter).await
    }

    async fn job_events(
        &self,
        tenant: &TenantId,
        job: JobId,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<JobEvent>> {
        events::after(self, tenant, job, after, limit).await
    }

    async fn last_job_event(&self, tenant: &TenantId, job: JobId) -> StoreResult<i64> {
        events::last_id(self, tenant, job).await
    }

    async fn watch_job_events(&self) -> StoreResult<BoxStream<'static, JobId>> {
        events::watch(self).await
    }

    async fn create_webhook(
        &self,
        tenant: &TenantId,
        new: &NewWebhook,
        audit: &AuditInfo,
    ) -> StoreResult<WebhookCreated> {
        webhooks::create(self, tenant, new, audit).await
    }

    async fn list_webhooks(&self, tenant: &TenantId) -> StoreResult<Vec<WebhookRecord>> {
        webhooks::list(self, tenant).await
    }

    async fn delete_webhook(
        &self,
        tenant: &TenantId,
        webhook: WebhookId,
        audit: &AuditInfo,
    ) -> StoreResult<()> {
        webhooks::delete(self, tenant, webhook, audit).await
    }

    async fn list_webhook_deliveries(
        &self,
        tenant: &TenantId,
        webhook: WebhookId,
        filter: &DeliveryFilter,
    ) -> StoreResult<Page<WebhookDelivery>> {
        webhooks::deliveries(self, tenant, webhook, filter).await
    }

    async fn stream_logs(
        &self,
        tenant: &TenantId,
        job: JobId,
        filter: LogFilter,
    ) -> StoreResult<BoxStream<'static, StoreResult<LogEntry>>> {
        super::rows::stream_logs(self, tenant, job, filter).await
    }

    async fn job_statistics(
        &self,
        tenant: &TenantId,
        window: &TimeWindow,
    ) -> StoreResult<JobStatistics> {
        statistics::for_tenant(self, tenant, window).await
    }

    async fn tenant_statistics(&self, window: &TimeWindow) -> StoreResult<Vec<TenantStatistics>> {
        statistics::all_tenants(self, window).await
    }

    async fn list_audit_events(
        &self,
        tenant: &TenantId,
        filter: &AuditFilter,
    ) -> StoreResult<Page<AuditEvent>> {
        audit::list(self, tenant, filter).await
    }

    async fn worker_status(&self, tenant: &TenantId) -> StoreResult<WorkerStatus> {
        workers::status(self, tenant).await
    }

    async fn live_workers(&self) -> StoreResult<Vec<WorkerInfo>> {
        workers::live(self).await
    }

    async fn job_connections(
        &self,
        tenant: &TenantId,
        job: JobId,
    ) -> StoreResult<(ConnectionConfig, ConnectionConfig)> {
        jobs::connections(self, tenant, job).await
    }

    async fn start_validation(
        &self,
        tenant: &TenantId,
        job: JobId,
        audit: &AuditInfo,
    ) -> StoreResult<ValidationSummary> {
        validations::start(self, tenant, job, audit).await
    }

    async fn batch_exists(
        &self,
        tenant: &TenantId,
        job: JobId,
        batch: BatchId,
    ) -> StoreResult<bool> {
        jobs::batch_exists(self, tenant, job, batch).await
    }
}
