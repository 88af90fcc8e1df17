//! OpenAPI 3.1 document → MCP tool definitions.
//!
//! This module is plain data in, data out: `build.rs` includes this very file
//! (via `#[path]`) to turn `openapi/freight.json` into the tool table that the
//! binary embeds, and the crate compiles it as a normal module so its rules are
//! unit-tested without building the binary.
//!
//! Rules (see `mcp-bridge/README.md`):
//! - name = `operationId` (or `x-mcp.name`), `[a-z0-9_]{1,64}`, unique;
//! - title = `summary` (or `x-mcp.title`); description = `description` + method + path;
//! - input schema = path, query and header parameters plus the request-body
//!   properties, flattened into one object. Collisions are resolved in that
//!   order of precedence: a later argument whose name is taken is renamed
//!   `<location>_<name>` (then `_2`, `_3`, …). A header parameter's
//!   argument is its name in lower case with `_` for `-` (`Last-Event-ID`:
//!   `last_event_id`);
//! - `$ref: "#/components/schemas/X"` becomes `$ref: "#/$defs/X"` with `X`
//!   copied (transitively) into the tool's `$defs`;
//! - output schema = the JSON schema of the lowest 2xx response, wrapped as
//!   `{ "result": … }` when it is not an object;
//! - annotations from HTTP semantics, all four hints set, `x-mcp.annotations` overrides;
//! - every `format: uuid` string in an input schema also carries the UUID `pattern`;
//! - the `tenant_id` argument takes the spec's `X-Tenant-ID` header schema (pattern, lengths).
//!
//! Architecture invariant: nothing here knows about rmcp or HTTP clients.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Name of the bridge's own tool; no operation may take it.
pub const BRIDGE_STATUS_TOOL: &str = "bridge_status";
/// Argument the bridge adds to every tool to choose the `X-Tenant-ID`.
pub const TENANT_ARGUMENT: &str = "tenant_id";
/// Maximum tool-name length accepted by MCP clients.
pub const MAX_TOOL_NAME_LEN: usize = 64;

/// Headers the bridge sets itself; parameters with these names are not arguments.
const BRIDGE_MANAGED_HEADERS: [&str; 3] = ["authorization", "x-tenant-id", "accept"];
const HTTP_METHODS: [&str; 7] = ["get", "put", "post", "delete", "patch", "head", "options"];
const SCHEMA_REF_PREFIX: &str = "#/components/schemas/";

/// One generated tool: what MCP shows, and how a call maps onto an HTTP request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDef {
    pub name: String,
    pub title: Option<String>,
    pub description: String,
    /// Upper-case HTTP method.
    pub method: String,
    /// Path template as in the spec, e.g. `/api/v1/jobs/{job_id}`.
    pub path: String,
    pub input_schema: Value,
    pub output_schema: Option<Value>,
    /// The 2xx JSON body is not an object and is returned as `{ "result": body }`.
    pub wrap_output: bool,
    pub annotations: Annotations,
    pub arguments: Vec<ArgBinding>,
    pub body: BodyMode,
    /// Name of the argument that sets `X-Tenant-ID` (normally `tenant_id`).
    pub tenant_argument: String,
    /// Set for a Server-Sent Events operation turned into a tool that
    /// follows the stream (`x-mcp.stream`).
    #[serde(default)]
    pub stream: Option<StreamDef>,
}

/// How a tool follows an event stream: until `result_event` arrives (its
/// data is the result) or the timeout argument's seconds pass (then the
/// last `progress_event` data is returned, marked unfinished). Each
/// `progress_event` becomes an MCP progress notification when the client
/// asked for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamDef {
    pub result_event: String,
    pub progress_event: Option<String>,
    /// Field of the progress event's data holding a 0-100 percentage.
    pub percent_field: Option<String>,
    /// The argument bounding how long the stream is followed (not sent).
    pub timeout_argument: String,
    pub default_timeout_seconds: u64,
    pub max_timeout_seconds: u64,
}

/// The four MCP tool hints, always set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Annotations {
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
    pub open_world: bool,
}

/// Where an argument goes in the HTTP request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    Path,
    Query,
    Header,
    Body,
}

impl Location {
    fn prefix(self) -> &'static str {
        match self {
            Location::Path => "path",
            Location::Query => "query",
            Location::Header => "header",
            Location::Body => "body",
        }
    }
}

/// One tool argument and the request part it fills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArgBinding {
    /// Name in the tool's input schema.
    pub name: String,
    /// Name in the HTTP request (parameter or body property).
    pub api_name: String,
    pub location: Location,
    pub required: bool,
    /// The schema wants an object or array: a JSON string value is parsed first.
    pub structured: bool,
}

/// How the request body is built from the arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode", content = "argument")]
pub enum BodyMode {
    /// No request body.
    None,
    /// An object assembled from the `Location::Body` arguments.
    Flattened,
    /// A non-object body passed whole as this argument.
    Whole(String),
}

/// Every rule the spec breaks, so one build shows them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateError {
    pub problems: Vec<String>,
}

impl fmt::Display for GenerateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "the OpenAPI spec cannot be turned into MCP tools ({} problem(s)):",
            self.problems.len()
        )?;
        for problem in &self.problems {
            writeln!(f, "  - {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for GenerateError {}

/// Generate the tool table from an OpenAPI 3.x document, sorted by tool name.
pub fn generate(spec: &Value) -> Result<Vec<ToolDef>, GenerateError> {
    let mut problems = Vec::new();
    let mut tools = Vec::new();
    let Some(paths) = spec.get("paths").and_then(Value::as_object) else {
        return Err(GenerateError {
            problems: vec!["the spec has no `paths` object".to_owned()],
        });
    };
    let tenant_schema = tenant_schema(spec);
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            problems.push(format!("path `{path}` is not an object"));
            continue;
        };
        let shared_params = item
            .get("parameters")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for method in HTTP_METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let op = Operation {
                spec,
                method: method.to_ascii_uppercase(),
                path,
                operation,
                shared_params: &shared_params,
                tenant_schema: &tenant_schema,
            };
            match op.build() {
                Ok(Some(tool)) => tools.push(tool),
                Ok(None) => {}
                Err(mut errs) => problems.append(&mut errs),
            }
        }
    }
    let mut seen: BTreeMap<&str, String> = BTreeMap::new();
    for tool in &tools {
        let location = format!("{} {}", tool.method, tool.path);
        if tool.name == BRIDGE_STATUS_TOOL {
            problems.push(format!(
                "{location}: tool name `{BRIDGE_STATUS_TOOL}` is reserved for the bridge's own tool"
            ));
        }
        if let Some(first) = seen.insert(&tool.name, location.clone()) {
            problems.push(format!(
                "duplicate tool name `{}`: used by {first} and {location}",
                tool.name
            ));
        }
    }
    if problems.is_empty() {
        tools.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(tools)
    } else {
        Err(GenerateError { problems })
    }
}

/// Whether `name` is a valid tool name: 1–64 characters of `[a-z0-9_]`.
pub fn is_valid_tool_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_TOOL_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Whether `name` is a valid argument name: non-empty `[A-Za-z0-9_.-]`.
pub fn is_valid_argument_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

struct Operation<'a> {
    spec: &'a Value,
    method: String,
    path: &'a str,
    operation: &'a Value,
    shared_params: &'a [Value],
    /// The schema of the tenant argument.
    tenant_schema: &'a Value,
}

/// Description of the tenant argument.
const TENANT_DESCRIPTION: &str = "Tenant to act for (sent as the X-Tenant-ID header). Optional: defaults to the bridge's configured tenant.";

/// The schema of the tenant argument: the spec's `X-Tenant-ID` header
/// parameter's (its pattern and length, so a client is told what the API
/// takes), from the first operation that declares one, with the bridge's
/// description; a plain string when none does.
fn tenant_schema(spec: &Value) -> Value {
    let declared = spec
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|paths| paths.values())
        .flat_map(|item| {
            let shared = item.get("parameters").and_then(Value::as_array);
            let own = HTTP_METHODS
                .iter()
                .filter_map(|method| item.get(*method)?.get("parameters")?.as_array());
            shared.into_iter().chain(own).flatten()
        })
        .filter_map(|param| resolve_ref(spec, param).ok())
        .find(|param| {
            str_of(param, "in") == "header"
                && str_of(param, "name").eq_ignore_ascii_case("x-tenant-id")
        })
        .and_then(|param| param.get("schema"))
        .and_then(|schema| resolve_ref(spec, schema).ok())
        .filter(|schema| schema.get("type") == Some(&json!("string")));
    let mut schema = match declared {
        Some(Value::Object(declared)) => {
            // Only the keywords that constrain a string: nothing that refers elsewhere.
            let mut kept = Map::new();
            for keyword in [
                "type",
                "pattern",
                "minLength",
                "maxLength",
                "format",
                "enum",
            ] {
                if let Some(value) = declared.get(keyword) {
                    kept.insert(keyword.to_owned(), value.clone());
                }
            }
            kept
        }
        _ => Map::from_iter([("type".to_owned(), json!("string"))]),
    };
    schema.insert("description".into(), json!(TENANT_DESCRIPTION));
    Value::Object(schema)
}

/// An argument before collision resolution.
struct Candidate {
    api_name: String,
    location: Location,
    required: bool,
    schema: Value,
}

impl Operation<'_> {
    fn at(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// `Ok(None)` for operations hidden with `x-mcp.hidden`.
    fn build(&self) -> Result<Option<ToolDef>, Vec<String>> {
        let at = self.at();
        let mut problems = Vec::new();
        let ext = self.operation.get("x-mcp").cloned().unwrap_or(Value::Null);
        if ext.get("hidden").and_then(Value::as_bool) == Some(true) {
            return Ok(None);
        }
        let operation_id = non_empty_str(self.operation.get("operationId"));
        let name = match non_empty_str(ext.get("name")).or(operation_id) {
            Some(name) => name.to_owned(),
            None => {
                problems.push(format!(
                    "{at}: missing operationId (it becomes the MCP tool name)"
                ));
                String::new()
            }
        };
        if !name.is_empty() && !is_valid_tool_name(&name) {
            problems.push(format!(
                "{at}: tool name `{name}` must be 1-{MAX_TOOL_NAME_LEN} characters of [a-z0-9_] (it is {} long)",
                name.len()
            ));
        }
        let description = non_empty_str(ext.get("description"))
            .or_else(|| non_empty_str(self.operation.get("description")));
        if description.is_none() {
            problems.push(format!(
                "{at}: missing description (write a doc comment with a summary line, a blank line, then a description paragraph)"
            ));
        }
        let title = non_empty_str(ext.get("title"))
            .or_else(|| non_empty_str(self.operation.get("summary")))
            .map(str::to_owned);

        let mut defs = Defs::default();
        let candidates = self.candidates(&mut defs, &mut problems);
        let (arguments, body, tenant_argument, mut input_schema) =
            self.input(candidates, &mut defs, &mut problems);
        let stream = match ext.get("stream") {
            Some(raw) => stream_def(raw, &arguments, &mut input_schema)
                .map_err(|e| problems.push(format!("{at}: x-mcp.stream: {e}")))
                .ok(),
            None => None,
        };
        let (output_schema, wrap_output) = match ext.get("stream") {
            Some(raw) => self.output_of("x-mcp.stream", &stream_output(raw), &mut problems),
            None => self.output(&mut problems),
        };
        let annotations = annotations(&self.method, &name, self.path, ext.get("annotations"));

        if !problems.is_empty() {
            return Err(problems);
        }
        let description = format!(
            "{}\n\nHTTP: {} {}",
            description.unwrap_or_default().trim(),
            self.method,
            self.path
        );
        Ok(Some(ToolDef {
            name,
            title,
            description,
            method: self.method.clone(),
            path: self.path.to_owned(),
            input_schema,
            output_schema,
            wrap_output,
            annotations,
            arguments,
            body,
            tenant_argument,
            stream,
        }))
    }

    /// Parameters (path, query, header) and body properties, in precedence order.
    fn candidates(&self, defs: &mut Defs, problems: &mut Vec<String>) -> Vec<Candidate> {
        let at = self.at();
        let mut params: BTreeMap<(String, String), Value> = BTreeMap::new();
        let own = self
            .operation
            .get("parameters")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        // Path-item parameters first; the operation's own override them by (in, name).
        let mut ordered: Vec<Value> = Vec::new();
        for param in self.shared_params.iter().chain(own.iter()) {
            let param = match resolve_ref(self.spec, param) {
                Ok(p) => p.clone(),
                Err(e) => {
                    problems.push(format!("{at}: {e}"));
                    continue;
                }
            };
            let key = (
                str_of(&param, "in").to_owned(),
                str_of(&param, "name").to_owned(),
            );
            if params.insert(key, param.clone()).is_none() {
                ordered.push(param);
            } else if let Some(slot) = ordered.iter_mut().find(|p| {
                str_of(p, "in") == str_of(&param, "in")
                    && str_of(p, "name") == str_of(&param, "name")
            }) {
                *slot = param;
            }
        }
        let mut out = Vec::new();
        for location in [Location::Path, Location::Query, Location::Header] {
            for param in ordered
                .iter()
                .filter(|p| str_of(p, "in") == location.prefix())
            {
                let api_name = str_of(param, "name").to_owned();
                if location == Location::Header
                    && BRIDGE_MANAGED_HEADERS.contains(&api_name.to_ascii_lowercase().as_str())
                {
                    continue;
                }
                if !is_valid_argument_name(&api_name) {
                    problems.push(format!(
                        "{at}: argument name `{api_name}` must match [A-Za-z0-9_.-]+"
                    ));
                    continue;
                }
                let mut schema = param.get("schema").cloned().unwrap_or_else(|| json!({}));
                if let Err(e) = defs.rewrite(self.spec, &mut schema) {
                    problems.push(format!("{at}: parameter `{api_name}`: {e}"));
                }
                if let Some(text) = non_empty_str(param.get("description"))
                    && let Some(obj) = schema.as_object_mut()
                {
                    obj.entry("description")
                        .or_insert_with(|| Value::String(text.to_owned()));
                }
                let required =
                    location == Location::Path || param.get("required") == Some(&Value::Bool(true));
                out.push(Candidate {
                    api_name,
                    location,
                    required,
                    schema,
                });
            }
        }
        out.extend(self.body_candidates(defs, problems));
        out
    }

    /// Body properties when the JSON body is an object; otherwise one `body` candidate.
    fn body_candidates(&self, defs: &mut Defs, problems: &mut Vec<String>) -> Vec<Candidate> {
        let at = self.at();
        let Some(body) = self.operation.get("requestBody") else {
            return Vec::new();
        };
        let body = match resolve_ref(self.spec, body) {
            Ok(b) => b,
            Err(e) => {
                problems.push(format!("{at}: request body: {e}"));
                return Vec::new();
            }
        };
        let body_required = body.get("required") != Some(&Value::Bool(false));
        let Some(schema) = json_media(body.get("content")).and_then(|m| m.get("schema")) else {
            return Vec::new();
        };
        let mut flat = FlatObject::default();
        match flatten_object(self.spec, schema, &mut flat, 0) {
            Err(e) => {
                problems.push(format!("{at}: request body: {e}"));
                Vec::new()
            }
            Ok(true) => {
                let mut out = Vec::new();
                for (prop, mut prop_schema) in flat.properties {
                    if !is_valid_argument_name(&prop) {
                        problems.push(format!(
                            "{at}: argument name `{prop}` (request body) must match [A-Za-z0-9_.-]+"
                        ));
                        continue;
                    }
                    if let Err(e) = defs.rewrite(self.spec, &mut prop_schema) {
                        problems.push(format!("{at}: body property `{prop}`: {e}"));
                    }
                    out.push(Candidate {
                        required: body_required && flat.required.contains(&prop),
                        api_name: prop,
                        location: Location::Body,
                        schema: prop_schema,
                    });
                }
                out
            }
            Ok(false) => {
                let mut whole = schema.clone();
                if let Err(e) = defs.rewrite(self.spec, &mut whole) {
                    problems.push(format!("{at}: request body: {e}"));
                }
                if let Some(text) = non_empty_str(body.get("description"))
                    && let Some(obj) = whole.as_object_mut()
                {
                    obj.entry("description")
                        .or_insert_with(|| Value::String(text.to_owned()));
                }
                vec![Candidate {
                    api_name: String::new(),
                    location: Location::Body,
                    required: body_required,
                    schema: whole,
                }]
            }
        }
    }

    /// Resolve name collisions and assemble the input schema.
    fn input(
        &self,
        candidates: Vec<Candidate>,
        defs: &mut Defs,
        problems: &mut Vec<String>,
    ) -> (Vec<ArgBinding>, BodyMode, String, Value) {
        if let Err(e) = defs.close(self.spec) {
            problems.push(format!("{}: {e}", self.at()));
        }
        let mut taken: BTreeSet<String> = BTreeSet::new();
        let mut properties = Map::new();
        let mut required = Vec::new();
        let mut arguments = Vec::new();
        let mut body = BodyMode::None;
        for candidate in candidates {
            let whole_body = candidate.location == Location::Body && candidate.api_name.is_empty();
            let wanted = if whole_body {
                "body".to_owned()
            } else if candidate.location == Location::Header {
                header_argument_name(&candidate.api_name)
            } else {
                candidate.api_name.clone()
            };
            let name = unique_name(&wanted, candidate.location.prefix(), &taken);
            taken.insert(name.clone());
            if whole_body {
                body = BodyMode::Whole(name.clone());
            } else if candidate.location == Location::Body {
                body = BodyMode::Flattened;
            }
            if candidate.required {
                required.push(Value::String(name.clone()));
            }
            let structured = defs.wants_structured(&candidate.schema);
            properties.insert(name.clone(), candidate.schema);
            arguments.push(ArgBinding {
                name,
                api_name: candidate.api_name,
                location: candidate.location,
                required: candidate.required,
                structured,
            });
        }
        let tenant_argument = unique_name(TENANT_ARGUMENT, "header", &taken);
        properties.insert(tenant_argument.clone(), self.tenant_schema.clone());
        let mut schema = Map::new();
        schema.insert("type".into(), json!("object"));
        schema.insert("properties".into(), Value::Object(properties));
        if !required.is_empty() {
            schema.insert("required".into(), Value::Array(required));
        }
        if !defs.schemas.is_empty() {
            schema.insert("$defs".into(), Value::Object(defs.schemas.clone()));
        }
        let mut schema = Value::Object(schema);
        sanitize(&mut schema);
        assert_formats(&mut schema);
        (arguments, body, tenant_argument, schema)
    }

    /// Output schema from the lowest 2xx response with a JSON body.
    fn output(&self, problems: &mut Vec<String>) -> (Option<Value>, bool) {
        let at = self.at();
        let Some(responses) = self.operation.get("responses").and_then(Value::as_object) else {
            return (None, false);
        };
        let mut success: Vec<(&String, &Value)> = responses
            .iter()
            .filter(|(code, _)| code.starts_with('2'))
            .collect();
        success.sort_by(|a, b| a.0.cmp(b.0));
        for (code, response) in success {
            let response = match resolve_ref(self.spec, response) {
                Ok(r) => r,
                Err(e) => {
                    problems.push(format!("{at}: response {code}: {e}"));
                    return (None, false);
                }
            };
            let Some(schema) = json_media(response.get("content")).and_then(|m| m.get("schema"))
            else {
                continue;
            };
            return self.output_of(&format!("response {code}"), schema, problems);
        }
        (None, false)
    }

    /// The output schema for a result of `schema` (`what` names it in errors).
    fn output_of(
        &self,
        what: &str,
        schema: &Value,
        problems: &mut Vec<String>,
    ) -> (Option<Value>, bool) {
        let at = self.at();
        {
            let mut defs = Defs::default();
            // An object, or an `allOf` of objects (utoipa's `#[serde(flatten)]`).
            let is_object = match flatten_object(self.spec, schema, &mut FlatObject::default(), 0) {
                Ok(is_object) => is_object,
                Err(e) => {
                    problems.push(format!("{at}: {what}: {e}"));
                    return (None, false);
                }
            };
            let mut body = if is_object {
                // Inline the top-level schema so its own `type` is "object".
                let mut inlined = deref_schema(self.spec, schema).cloned().unwrap_or_default();
                if let Some(obj) = inlined.as_object_mut() {
                    obj.insert("type".into(), json!("object"));
                }
                inlined
            } else {
                schema.clone()
            };
            if let Err(e) = defs
                .rewrite(self.spec, &mut body)
                .and_then(|()| defs.close(self.spec))
            {
                problems.push(format!("{at}: {what}: {e}"));
                return (None, false);
            }
            let mut out = if is_object {
                body
            } else {
                json!({
                    "type": "object",
                    "properties": { "result": body },
                    "required": ["result"],
                })
            };
            if !defs.schemas.is_empty()
                && let Some(obj) = out.as_object_mut()
            {
                let existing = obj
                    .entry("$defs")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Some(existing) = existing.as_object_mut() {
                    for (k, v) in defs.schemas {
                        existing.entry(k).or_insert(v);
                    }
                }
            }
            sanitize(&mut out);
            (Some(out), !is_object)
        }
    }
}

/// What a stream-following tool returns: whether the stream ended with
/// its result event, that event's data, and the last progress data.
fn stream_output(raw: &Value) -> Value {
    let any = json!({});
    json!({
        "type": "object",
        "properties": {
            "finished": {
                "type": "boolean",
                "description": "True when the result arrived; false when the timeout passed first (call again to keep following)."
            },
            "result": raw.get("result_schema").unwrap_or(&any),
            "last_progress": raw.get("progress_schema").unwrap_or(&any),
        },
        "required": ["finished"],
    })
}

/// Reads `x-mcp.stream` and adds its timeout argument to the input schema.
fn stream_def(
    raw: &Value,
    arguments: &[ArgBinding],
    input_schema: &mut Value,
) -> Result<StreamDef, String> {
    let text = |key: &str| raw.get(key).and_then(Value::as_str).map(str::to_owned);
    let result_event = text("result_event").ok_or("`result_event` is required")?;
    let timeout_argument = text("timeout_argument").unwrap_or_else(|| "timeout_seconds".into());
    if arguments.iter().any(|a| a.name == timeout_argument) {
        return Err(format!("`{timeout_argument}` is already an argument"));
    }
    let max = raw
        .get("max_timeout_seconds")
        .and_then(Value::as_u64)
        .unwrap_or(3600)
        .max(1);
    let default = raw
        .get("default_timeout_seconds")
        .and_then(Value::as_u64)
        .unwrap_or(300)
        .clamp(1, max);
    let properties = input_schema
        .get_mut("properties")
        .and_then(Value::as_object_mut)
        .ok_or("the input schema has no properties")?;
    properties.insert(
        timeout_argument.clone(),
        json!({
            "type": "integer",
            "minimum": 1,
            "maximum": max,
            "default": default,
            "description": format!("Seconds to follow before returning the latest state (default {default}, at most {max})."),
        }),
    );
    Ok(StreamDef {
        result_event,
        progress_event: text("progress_event"),
        percent_field: text("percent_field"),
        timeout_argument,
        default_timeout_seconds: default,
        max_timeout_seconds: max,
    })
}

/// Annotations from HTTP semantics, then `x-mcp.annotations` overrides.
fn annotations(method: &str, name: &str, path: &str, ext: Option<&Value>) -> Annotations {
    let last_segment = path.rsplit('/').next().unwrap_or_default();
    let destructive_word = ["cancel", "delete", "remove", "purge", "destroy", "drop"]
        .iter()
        .any(|w| name.contains(w) || last_segment.contains(w));
    let mut a = match method {
        "GET" | "HEAD" | "OPTIONS" => Annotations {
            read_only: true,
            destructive: false,
            idempotent: true,
            open_world: false,
        },
        "DELETE" => Annotations {
            read_only: false,
            destructive: true,
            idempotent: true,
            open_world: false,
        },
        "PUT" => Annotations {
            read_only: false,
            destructive: true,
            idempotent: true,
            open_world: false,
        },
        // POST, PATCH: creates or changes state; not safe to repeat blindly.
        _ => Annotations {
            read_only: false,
            destructive: destructive_word,
            idempotent: false,
            open_world: false,
        },
    };
    if let Some(ext) = ext {
        let flag = |camel: &str, snake: &str| {
            ext.get(camel)
                .or_else(|| ext.get(snake))
                .and_then(Value::as_bool)
        };
        if let Some(v) = flag("readOnlyHint", "read_only") {
            a.read_only = v;
        }
        if let Some(v) = flag("destructiveHint", "destructive") {
            a.destructive = v;
        }
        if let Some(v) = flag("idempotentHint", "idempotent") {
            a.idempotent = v;
        }
        if let Some(v) = flag("openWorldHint", "open_world") {
            a.open_world = v;
        }
    }
    a
}

/// OpenAPI-only keywords that are not JSON Schema (strict validators reject them).
const OPENAPI_ONLY_KEYWORDS: [&str; 5] = [
    "discriminator",
    "xml",
    "externalDocs",
    "example",
    "nullable",
];

/// Drop OpenAPI-only keywords from a schema, walking only schema positions
/// (so a property *named* `example` is kept).
fn sanitize(schema: &mut Value) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    for keyword in OPENAPI_ONLY_KEYWORDS {
        obj.remove(keyword);
    }
    for (key, value) in obj.iter_mut() {
        match key.as_str() {
            "properties" | "patternProperties" | "$defs" | "definitions" | "dependentSchemas" => {
                if let Some(map) = value.as_object_mut() {
                    map.values_mut().for_each(sanitize);
                }
            }
            "allOf" | "anyOf" | "oneOf" | "prefixItems" => {
                if let Some(items) = value.as_array_mut() {
                    items.iter_mut().for_each(sanitize);
                }
            }
            "items"
            | "additionalProperties"
            | "not"
            | "if"
            | "then"
            | "else"
            | "contains"
            | "propertyNames"
            | "unevaluatedItems"
            | "unevaluatedProperties"
            | "additionalItems" => sanitize(value),
            _ => {}
        }
    }
}

/// A UUID in any of its textual forms (hyphenated, any case).
pub const UUID_PATTERN: &str =
    "^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$";

/// JSON Schema's `format` is only an annotation unless a validator opts in,
/// so an MCP client would accept any string for a `format: uuid` id and the
/// API would answer 400. Every string schema with `format: uuid` (in
/// `$defs` too) also gets the equivalent `pattern`, which every validator
/// asserts.
fn assert_formats(schema: &mut Value) {
    match schema {
        Value::Object(obj) => {
            if obj.get("format") == Some(&json!("uuid")) && !obj.contains_key("pattern") {
                obj.insert("pattern".into(), json!(UUID_PATTERN));
            }
            obj.values_mut().for_each(assert_formats);
        }
        Value::Array(items) => items.iter_mut().for_each(assert_formats),
        _ => {}
    }
}

/// `wanted`, else `<prefix>_<wanted>`, else that with `_2`, `_3`, … appended.
/// A header parameter as an argument: HTTP header names are
/// case-insensitive and hyphenated, argument names are identifiers
/// (`Last-Event-ID` is `last_event_id`). The request still sends the
/// header under its own name.
fn header_argument_name(header: &str) -> String {
    header.to_ascii_lowercase().replace('-', "_")
}

fn unique_name(wanted: &str, prefix: &str, taken: &BTreeSet<String>) -> String {
    if !taken.contains(wanted) {
        return wanted.to_owned();
    }
    let prefixed = format!("{prefix}_{wanted}");
    if !taken.contains(&prefixed) {
        return prefixed;
    }
    (2..)
        .map(|n| format!("{prefixed}_{n}"))
        .find(|candidate| !taken.contains(candidate))
        .unwrap_or(prefixed)
}

fn non_empty_str(value: Option<&Value>) -> Option<&str> {
    value
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn str_of<'v>(value: &'v Value, key: &str) -> &'v str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The media type object for JSON (`application/json` or any `+json`) in a `content` map.
fn json_media(content: Option<&Value>) -> Option<&Value> {
    let content = content?.as_object()?;
    content.get("application/json").or_else(|| {
        content
            .iter()
            .find(|(media, _)| media.ends_with("+json"))
            .map(|(_, v)| v)
    })
}

/// Follow a `$ref` (any local JSON pointer) until a non-reference object.
fn resolve_ref<'s>(spec: &'s Value, mut value: &'s Value) -> Result<&'s Value, String> {
    for _ in 0..32 {
        let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
            return Ok(value);
        };
        value = lookup(spec, reference)?;
    }
    Err("`$ref` chain longer than 32 links (cycle?)".to_owned())
}

fn lookup<'s>(spec: &'s Value, reference: &str) -> Result<&'s Value, String> {
    reference
        .strip_prefix('#')
        .and_then(|pointer| spec.pointer(pointer))
        .ok_or_else(|| format!("unresolvable $ref `{reference}`"))
}

/// Like [`resolve_ref`], for schemas.
fn deref_schema<'s>(spec: &'s Value, schema: &'s Value) -> Result<&'s Value, String> {
    resolve_ref(spec, schema)
}

#[derive(Default)]
struct FlatObject {
    properties: BTreeMap<String, Value>,
    required: BTreeSet<String>,
}

/// Collect the properties of an object schema (following `$ref` and `allOf`).
/// `Ok(false)` when the schema is not a plain object (array, `oneOf`, scalar, …).
fn flatten_object(
    spec: &Value,
    schema: &Value,
    out: &mut FlatObject,
    depth: usize,
) -> Result<bool, String> {
    if depth > 16 {
        return Err("`allOf`/`$ref` nesting deeper than 16".to_owned());
    }
    let schema = deref_schema(spec, schema)?;
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        for part in parts {
            if !flatten_object(spec, part, out, depth + 1)? {
                return Ok(false);
            }
        }
    } else if schema.get("type") != Some(&json!("object")) && schema.get("properties").is_none() {
        return Ok(false);
    }
    if schema.get("oneOf").is_some() || schema.get("anyOf").is_some() {
        return Ok(false);
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            out.properties.insert(k.clone(), v.clone());
        }
    }
    if let Some(req) = schema.get("required").and_then(Value::as_array) {
        out.required
            .extend(req.iter().filter_map(Value::as_str).map(str::to_owned));
    }
    Ok(true)
}

/// Component schemas referenced by one tool schema, copied into its `$defs`.
#[derive(Default)]
struct Defs {
    schemas: Map<String, Value>,
    pending: Vec<String>,
}

impl Defs {
    /// Rewrite `#/components/schemas/X` refs in `schema` to `#/$defs/X` and note `X`.
    fn rewrite(&mut self, spec: &Value, schema: &mut Value) -> Result<(), String> {
        match schema {
            Value::Object(obj) => {
                if let Some(Value::String(reference)) = obj.get_mut("$ref") {
                    let Some(name) = reference.strip_prefix(SCHEMA_REF_PREFIX) else {
                        return Err(format!(
                            "unresolvable $ref `{reference}` (schemas must live under {SCHEMA_REF_PREFIX})"
                        ));
                    };
                    let name = name.to_owned();
                    lookup(spec, reference)?;
                    *reference = format!("#/$defs/{name}");
                    if !self.schemas.contains_key(&name) && !self.pending.contains(&name) {
                        self.pending.push(name);
                    }
                }
                for (key, value) in obj.iter_mut() {
                    if key != "$ref" {
                        self.rewrite(spec, value)?;
                    }
                }
                Ok(())
            }
            Value::Array(items) => items.iter_mut().try_for_each(|v| self.rewrite(spec, v)),
            _ => Ok(()),
        }
    }

    /// Copy every pending component (and what it references) into `schemas`.
    fn close(&mut self, spec: &Value) -> Result<(), String> {
        while let Some(name) = self.pending.pop() {
            let mut schema = lookup(spec, &format!("{SCHEMA_REF_PREFIX}{name}"))?.clone();
            // Insert first so self-references terminate.
            self.schemas.insert(name.clone(), Value::Null);
            self.rewrite(spec, &mut schema)?;
            self.schemas.insert(name, schema);
        }
        Ok(())
    }

    /// Whether a (rewritten) schema expects an object or an array.
    fn wants_structured(&self, schema: &Value) -> bool {
        self.wants_structured_at(schema, 0)
    }

    fn wants_structured_at(&self, schema: &Value, depth: usize) -> bool {
        if depth > 8 {
            return false;
        }
        if let Some(name) = schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/$defs/"))
        {
            return self
                .schemas
                .get(name)
                .is_some_and(|s| self.wants_structured_at(s, depth + 1));
        }
        let kinds: Vec<&str> = match schema.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if kinds.iter().any(|k| *k == "object" || *k == "array") {
            return true;
        }
        if !kinds.is_empty() {
            return false;
        }
        ["properties", "items"]
            .iter()
            .any(|k| schema.get(k).is_some())
            || ["oneOf", "anyOf", "allOf"].iter().any(|k| {
                schema
                    .get(k)
                    .and_then(Value::as_array)
                    .is_some_and(|alts| alts.iter().any(|s| self.wants_structured_at(s, depth + 1)))
            })
    }
}

#[cfg(test)]
#[path = "generator/tests.rs"]
mod tests;
