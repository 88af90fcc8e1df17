//! The [`Store`](super::Store) methods both backends implement by handing
//! over to their modules of the same names (`jobs`, `logs`, `audit`, ...),
//! written once.

/// Implements [`Store`](super::Store) for a backend type whose module has
/// child modules `jobs`, `validations`, `statistics`, `audit`, `events`,
/// `webhooks` and `workers` with the same functions; the methods that
/// differ (`backend`, `ping`, `watch_job_events`) are passed in.
macro_rules! delegating_store {
    ($store:ty { $($own:tt)* }) => {
        #[async_trait]
        impl Store for $store {
            $($own)*

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
                window: &StatsWindow,
            ) -> StoreResult<JobStatistics> {
                statistics::for_tenant(self, tenant, window).await
            }

            async fn tenant_statistics(&self, window: &StatsWindow) -> StoreResult<Vec<TenantStatistics>> {
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
    };
}

pub(super) use delegating_store;
