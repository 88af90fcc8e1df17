//! Everything workers do to Freight's own database, behind traits, one per
//! aggregate; [`DispatchStore`] is all of them together, the one handle the
//! worker holds (`Arc<dyn DispatchStore>`).
//!
//! - [`jobs`]: job leases (plan, finish), the plan's storage, settling jobs,
//!   the job context, and the wake-up stream (`LISTEN freight_jobs`).
//! - [`batches`]: the dispatch window, batch claims and leases, outcomes.
//! - [`validations`]: range tasks of the validation phase.
//! - [`outbox`]: webhook deliveries claimed and recorded under a lease.
//! - [`workers`]: the heartbeat row of a worker process.
//! - [`logs`]: a job log line outside any other write.
//!
//! One trait per aggregate keeps each backend file about one set of tables
//! and lets a part of the worker ask for no more than it uses (the webhook
//! sender holds only a [`WebhookOutbox`]); the composed [`DispatchStore`]
//! spares the dispatch runtime six handles to the same database.
//!
//! Workers read across tenants (they serve every tenant's jobs), so these
//! methods do not take a tenant first like [`Store`](super::Store)'s do;
//! every statement about a job or batch still names its tenant
//! ([`JobRef`], [`BatchRef`]), and a backend without row-level security
//! filters by it in every query.
//!
//! Contract for every backend: each method is atomic (one statement or one
//! transaction; on SQLite one `BEGIN IMMEDIATE` transaction, so the single
//! writer serialises what Postgres does with `FOR UPDATE SKIP LOCKED`);
//! "under a lease" means the write happens only while the row's lease
//! owner is still the caller, and reports when it was not. Times are the
//! database's clock (`now()`), never the worker's.

pub mod batches;
pub mod jobs;
pub mod logs;
pub mod outbox;
pub mod validations;
pub mod workers;

pub use batches::*;
pub use jobs::*;
pub use logs::*;
pub use outbox::*;
pub use validations::*;
pub use workers::*;

/// All of a worker's access to Freight's database. Implemented for every
/// type that implements the aggregate traits.
pub trait DispatchStore:
    DispatchJobs + DispatchBatches + DispatchValidations + WebhookOutbox + WorkerRegistry + DispatchLogs
{
}

impl<T> DispatchStore for T where
    T: DispatchJobs
        + DispatchBatches
        + DispatchValidations
        + WebhookOutbox
        + WorkerRegistry
        + DispatchLogs
{
}
