//! Freight's HTTP API: axum handlers under `/api/v1`, tenant-scoped by the
//! [`auth::TenantContext`] extractor, described by OpenAPI generated from
//! the same router ([`app::openapi`]). Only this crate knows HTTP.

pub mod app;
pub mod auth;
pub mod contract;
pub mod error;
pub mod events;
pub mod extract;
pub mod http_metrics;
pub mod plan_slots;
pub mod progress;
pub mod rate_limit;
pub mod routes;
pub mod state;
#[cfg(feature = "testing")]
pub mod testing;
pub mod ui;

pub use app::{app, openapi, openapi_json, serve};
pub use state::AppState;
