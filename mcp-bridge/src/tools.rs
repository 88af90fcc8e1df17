//! The tool table: generated definitions (embedded at build time) as rmcp tools.

use std::collections::HashMap;
use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{Value, json};

use crate::generator::{BRIDGE_STATUS_TOOL, ToolDef};

/// `tools.json` written by `build.rs` from `openapi/freight.json`.
const EMBEDDED: &str = include_str!(concat!(env!("OUT_DIR"), "/tools.json"));

/// Generated tools plus `bridge_status`, in a stable order (by name).
pub struct ToolTable {
    defs: HashMap<String, ToolDef>,
    tools: Vec<Tool>,
}

impl ToolTable {
    /// The table generated from the spec this binary was built with.
    pub fn embedded() -> Result<Self, serde_json::Error> {
        Self::from_json(EMBEDDED)
    }

    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        let defs: Vec<ToolDef> = serde_json::from_str(json)?;
        Ok(Self::new(defs))
    }

    pub fn new(defs: Vec<ToolDef>) -> Self {
        let mut tools: Vec<Tool> = defs.iter().map(to_tool).collect();
        tools.push(bridge_status_tool());
        tools.sort_by(|a, b| a.name.cmp(&b.name));
        let defs = defs.into_iter().map(|d| (d.name.clone(), d)).collect();
        ToolTable { defs, tools }
    }

    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }

    pub fn tool(&self, name: &str) -> Option<&Tool> {
        self.tools.iter().find(|t| t.name == name)
    }

    /// The generated definition behind an API tool (`None` for `bridge_status`).
    pub fn def(&self, name: &str) -> Option<&ToolDef> {
        self.defs.get(name)
    }

    /// Number of generated (API) tools.
    pub fn api_tool_count(&self) -> usize {
        self.defs.len()
    }
}

fn object(value: &Value) -> JsonObject {
    value.as_object().cloned().unwrap_or_default()
}

fn to_tool(def: &ToolDef) -> Tool {
    let a = def.annotations;
    let mut annotations = ToolAnnotations::new()
        .read_only(a.read_only)
        .destructive(a.destructive)
        .idempotent(a.idempotent)
        .open_world(a.open_world);
    annotations.title = def.title.clone();
    let mut tool = Tool::new(
        def.name.clone(),
        def.description.clone(),
        Arc::new(object(&def.input_schema)),
    )
    .with_annotations(annotations);
    if let Some(title) = &def.title {
        tool = tool.with_title(title.clone());
    }
    if let Some(output) = &def.output_schema {
        tool = tool.with_raw_output_schema(Arc::new(object(output)));
    }
    tool
}

/// The bridge's own diagnostic tool.
pub fn bridge_status_tool() -> Tool {
    let input = json!({"type": "object", "properties": {}});
    let output = json!({
        "type": "object",
        "properties": {
            "api_url": {"type": "string"},
            "reachable": {"type": "boolean"},
            "api_status": {"type": ["string", "null"]},
            "api_version": {"type": ["string", "null"]},
            "bridge_version": {"type": "string"},
            "transport": {"type": "string"},
            "tenant_id": {"type": ["string", "null"]},
            "token_present": {"type": "boolean"},
            "tool_count": {"type": "integer"},
            "last_error": {"type": ["string", "null"]}
        },
        "required": ["api_url", "reachable", "bridge_version", "transport", "token_present", "tool_count"]
    });
    Tool::new(
        BRIDGE_STATUS_TOOL,
        "State of the Freight MCP bridge: which API it talks to, whether the API answers \
         (and its version), the tenant in use, whether an API token is configured (never \
         the token itself) and the last error a tool call hit. Call this first when tools fail.",
        Arc::new(object(&input)),
    )
    .with_title("Bridge status")
    .with_raw_output_schema(Arc::new(object(&output)))
    .with_annotations(
        ToolAnnotations::new()
            .read_only(true)
            .destructive(false)
            .idempotent(true)
            .open_world(false),
    )
}
