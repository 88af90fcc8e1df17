//! Attacks a hostile tenant would try through the public API, each against
//! real PostgreSQL, MariaDB and Redis: Freight's walls must hold.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

#[path = "../common/mod.rs"]
mod common;
#[path = "../ops/support.rs"]
#[allow(dead_code)]
mod ops_support;

mod credentials;
mod egress;
mod own_database;
mod plan_limits;
mod sealing;
mod sqlite_paths;
mod support;
