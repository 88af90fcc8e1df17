//! Logging and metrics set-up.

use anyhow::Context;
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
    init_metrics_on(settings, None)
}

/// Like [`init_metrics`], on `ip` (default: every address).
pub fn init_metrics_on(settings: &Settings, ip: Option<std::net::IpAddr>) -> anyhow::Result<()> {
    if !settings.enable_metrics {
        tracing::info!("metrics disabled (ENABLE_METRICS=false)");
        return Ok(());
    }
    let ip = ip.unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
    let addr = std::net::SocketAddr::new(ip, settings.metrics_port);
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets(&[
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
        ])
        .context("histogram buckets")?
        .install()
        .with_context(|| format!("serve metrics on {addr} (METRICS_PORT)"))?;
    tracing::info!(%addr, "metrics at /metrics");
    Ok(())
}
