//! `freight-mcp`: the Freight API as MCP tools, over stdio or Streamable HTTP.
//!
//! stdout carries only MCP protocol messages; all logs go to stderr.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use freight_mcp::config::{Config, Transport};
use freight_mcp::server::{Shared, serve_http, serve_stdio};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    let config = Config::parse();
    if let Err(message) = config.validate() {
        eprintln!("freight-mcp: invalid configuration: {message}");
        return ExitCode::from(2);
    }
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let shared = Arc::new(Shared::from_config(&config)?);
    tracing::info!(
        api_url = %config.api_url,
        transport = config.transport.as_str(),
        tools = shared.table.tools().len(),
        token_present = config.api_key.is_some(),
        "freight-mcp starting"
    );
    match config.transport {
        Transport::Stdio => serve_stdio(shared).await,
        Transport::Http => {
            if config.api_key.is_some() {
                tracing::warn!(
                    "FREIGHT_API_KEY is ignored over http: each client's Authorization header is forwarded"
                );
            }
            serve_http(shared, &config).await
        }
    }
}
