//! Command line and environment: one typed struct, validated at start-up.

use std::time::Duration;

use clap::{Parser, ValueEnum};
use reqwest::Url;

/// How MCP clients reach the bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    /// One client over stdin/stdout (Claude Desktop); token from `FREIGHT_API_KEY`.
    Stdio,
    /// Streamable HTTP at `/mcp`; each request's `Authorization` header is forwarded.
    Http,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Stdio => "stdio",
            Transport::Http => "http",
        }
    }
}

pub use freight_secret::Secret;

/// Freight MCP bridge: every Freight API operation as an MCP tool.
#[derive(Debug, Clone, Parser)]
#[command(name = "freight-mcp", version, about)]
pub struct Config {
    /// MCP transport.
    #[arg(long, env = "MCP_TRANSPORT", value_enum, default_value = "stdio")]
    pub transport: Transport,

    /// Address to listen on (http transport).
    #[arg(long, env = "MCP_HOST", default_value = "127.0.0.1")]
    pub host: String,

    /// Port to listen on (http transport); 0 picks a free port.
    #[arg(long, env = "MCP_PORT", default_value_t = 8090)]
    pub port: u16,

    /// Accepted `Host` headers (http transport), comma-separated. Default: loopback only.
    #[arg(
        long,
        env = "MCP_ALLOWED_HOSTS",
        value_delimiter = ',',
        default_value = "localhost,127.0.0.1,::1"
    )]
    pub allowed_hosts: Vec<String>,

    /// Accepted browser `Origin`s (http transport), comma-separated, with scheme,
    /// e.g. `https://app.example.com:443`. Empty: Origin is not checked.
    #[arg(long, env = "MCP_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Base URL of the Freight API.
    #[arg(long, env = "FREIGHT_API_URL", default_value = "http://localhost:8000")]
    pub api_url: Url,

    /// API token (JWT) sent as `Authorization: Bearer` (stdio transport only;
    /// over http each client's own Authorization header is forwarded).
    #[arg(long, env = "FREIGHT_API_KEY", hide_env_values = true)]
    pub api_key: Option<Secret>,

    /// Tenant sent as `X-Tenant-ID` when a call has no `tenant_id` argument
    /// (and, over http, the request has no X-Tenant-ID header).
    #[arg(long, env = "FREIGHT_TENANT_ID")]
    pub tenant_id: Option<String>,

    /// Timeout of one API request, in seconds.
    #[arg(long, env = "FREIGHT_API_TIMEOUT_SECS", default_value_t = 30)]
    pub timeout_secs: u64,

    /// Largest non-JSON response (e.g. a CSV export) returned as text, in bytes;
    /// longer ones are cut with a note on how to page.
    #[arg(long, env = "FREIGHT_MCP_TEXT_BUDGET", default_value_t = 50_000)]
    pub text_budget: usize,
}

impl Config {
    /// Checks that clap cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if !matches!(self.api_url.scheme(), "http" | "https") {
            return Err(format!(
                "FREIGHT_API_URL must be an http(s) URL, got `{}`",
                self.api_url
            ));
        }
        if self.timeout_secs == 0 {
            return Err("FREIGHT_API_TIMEOUT_SECS must be at least 1".to_owned());
        }
        if self.text_budget < 256 {
            return Err("FREIGHT_MCP_TEXT_BUDGET must be at least 256 bytes".to_owned());
        }
        Ok(())
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }
}
