//! Freight's domain: typed identifiers, job specifications and their state
//! machine, connection configs with encrypted secrets, access tokens, and
//! storage behind the [`store::Store`] trait. Nothing in this crate knows HTTP.

pub mod connection;
pub mod error;
pub mod ids;
pub mod job;
pub mod plan;
pub mod policy;
pub mod schema;
pub mod secrets;
pub mod store;
pub mod tokens;
pub mod webhooks;
pub mod whole;
pub mod work;

pub use error::{FieldError, StoreError, ValidationError};
pub use ids::{BatchId, JobId, TenantId};
