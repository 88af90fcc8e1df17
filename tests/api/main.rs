//! End-to-end tests of the control-plane API against real PostgreSQL and Redis.

#[path = "../common/mod.rs"]
mod common;

mod auth;
mod jobs;
mod logs;
mod openapi_spec;
mod statistics;
