//! Freight MCP bridge: every operation of the Freight API as an MCP tool.
//!
//! Code map:
//! - [`generator`]: OpenAPI → tool definitions (shared with `build.rs`);
//! - `tools`: the generated table, embedded at build time, as rmcp tools;
//! - `client`: one tool call → one HTTP request → one tool result;
//! - `server`: the rmcp `ServerHandler` and the stdio / Streamable HTTP transports;
//! - `config`: command line and environment.
//!
//! Architecture invariant: the bridge does not link `freight-api`; the
//! committed `openapi/freight.json` is its only contract.

pub mod client;
pub mod config;
pub mod generator;
pub mod request;
pub mod response;
pub mod server;
pub mod sse;
pub mod tools;
