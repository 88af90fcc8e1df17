//! One file per resource; each handler is thin: extract, call the store or
//! planner, shape the response.

pub mod audit;
pub mod events;
pub mod health;
pub mod jobs;
pub mod logs;
pub mod statistics;
pub mod validation;
pub mod webhooks;
pub mod workers;
