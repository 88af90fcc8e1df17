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

super::delegate::delegating_store!(PgStore {
    fn backend(&self) -> StoreBackend {
        StoreBackend::Postgres
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn watch_job_events(&self) -> StoreResult<BoxStream<'static, JobId>> {
        events::watch(self).await
    }
});
