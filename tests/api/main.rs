//! End-to-end tests of the control-plane API against real PostgreSQL and Redis.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

#[path = "../common/mod.rs"]
mod common;

mod auth;
mod cli;
mod events;
mod jobs;
mod logs;
mod openapi_spec;
mod plan;
mod rate_limits;
mod statistics;
mod webhooks;
