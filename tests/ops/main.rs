//! Operations tests against real processes and services (no Docker): the
//! compose file, image and Prometheus config as promised by
//! README.md; a real Prometheus scraping a real `freight all`
//! through a migration; SIGTERM/SIGINT handling; redacted JSON logs;
//! readiness following Redis. Needs PostgreSQL, Redis and MariaDB on their
//! standard local ports and the Debian `prometheus` package (promtool).

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod compose;
mod dev;
mod live;
mod logs;
mod readiness;
mod scrape;
mod shutdown;
mod startup;
mod support;
