//! Attacks a hostile tenant would try through the public API, each against
//! real PostgreSQL, MariaDB and Redis: Freight's walls must hold (what
//! a tenant can reach, who is rate-limited as whom, what it sees of the
//! fleet, what error bodies reveal).

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

#[path = "../common/mod.rs"]
mod common;
#[path = "../ops/support.rs"]
#[allow(dead_code)]
mod ops_support;

mod credentials;
mod dev_files;
mod driver_errors;
mod egress;
mod fleet_view;
mod opaque_errors;
mod own_database;
mod own_server_expressions;
mod plan_limits;
mod pool_identity;
mod rate_limits;
mod readiness;
mod sealing;
mod sqlite_paths;
mod sqlite_schema;
mod support;
mod system_catalogs;
mod validation_cost;
mod view_injection;
mod webhook_proxy;
mod wiring;
