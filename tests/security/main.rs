//! Security properties of the API, end to end against real PostgreSQL and
//! Redis: who is rate-limited as whom, what a tenant sees of the fleet,
//! what error bodies reveal.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

#[path = "../common/mod.rs"]
mod common;

mod fleet_view;
mod opaque_errors;
mod rate_limits;
mod readiness;
