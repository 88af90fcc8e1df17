//! Freight's migration engine and its workers.
//!
//! - [`engine`]: connectors, planning and idempotent batch copies (no Freight database).
//! - `dispatch`: leases, apalis/Redis queues, the reconciler, heartbeats (no source/target).
//! - [`webhooks`]: sends the webhook outbox, signed, through the connection policy.

pub mod dispatch;
pub mod engine;
pub mod webhooks;
