//! Tool arguments → the parts of one HTTP request (pure; no I/O).

use reqwest::Url;
use serde_json::{Map, Value};

use crate::generator::{BodyMode, Location, ToolDef};

/// The HTTP request one tool call becomes.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedRequest {
    pub method: String,
    pub url: Url,
    /// Headers from header parameters (not Authorization / X-Tenant-ID).
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
    /// Value of the tool's tenant argument, if given.
    pub tenant: Option<String>,
}

/// Fill the path, query, headers and body of `def` from `args`.
///
/// Errors are messages for the caller (missing or unknown arguments).
pub fn plan(
    def: &ToolDef,
    base: &Url,
    args: &Map<String, Value>,
) -> Result<PlannedRequest, String> {
    let unknown: Vec<&str> = args
        .keys()
        .map(String::as_str)
        .filter(|k| *k != def.tenant_argument && !def.arguments.iter().any(|a| a.name == *k))
        .collect();
    if !unknown.is_empty() {
        let mut known: Vec<&str> = def.arguments.iter().map(|a| a.name.as_str()).collect();
        known.push(&def.tenant_argument);
        return Err(format!(
            "unknown argument(s) {} for `{}`; it takes: {}",
            quoted(&unknown),
            def.name,
            quoted(&known)
        ));
    }

    let mut path = def.path.clone();
    let mut query: Vec<(String, String)> = Vec::new();
    let mut headers = Vec::new();
    let mut body_object = Map::new();
    let mut whole_body = None;
    let mut missing = Vec::new();

    for arg in &def.arguments {
        let value = match args.get(&arg.name) {
            None | Some(Value::Null) => {
                if arg.required {
                    missing.push(arg.name.as_str());
                }
                continue;
            }
            Some(value) => normalise(value, arg.structured),
        };
        match arg.location {
            Location::Path => {
                let text = scalar_text(&value);
                path = path.replace(&format!("{{{}}}", arg.api_name), &encode_segment(&text));
            }
            Location::Query => match &value {
                Value::Array(items) => {
                    query.extend(items.iter().map(|v| (arg.api_name.clone(), scalar_text(v))));
                }
                other => query.push((arg.api_name.clone(), scalar_text(other))),
            },
            Location::Header => headers.push((arg.api_name.clone(), scalar_text(&value))),
            Location::Body => {
                if matches!(def.body, BodyMode::Whole(_)) {
                    whole_body = Some(value);
                } else {
                    body_object.insert(arg.api_name.clone(), value);
                }
            }
        }
    }
    if !missing.is_empty() {
        return Err(format!(
            "missing required argument(s) {} for `{}`",
            quoted(&missing),
            def.name
        ));
    }

    let joined = format!("{}{}", base.as_str().trim_end_matches('/'), path);
    let mut url = Url::parse(&joined).map_err(|e| format!("cannot build URL `{joined}`: {e}"))?;
    if !query.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for (k, v) in &query {
            pairs.append_pair(k, v);
        }
    }
    let body = match &def.body {
        BodyMode::None => None,
        BodyMode::Whole(_) => whole_body,
        BodyMode::Flattened => Some(Value::Object(body_object)),
    };
    let tenant = args
        .get(&def.tenant_argument)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned);
    Ok(PlannedRequest {
        method: def.method.clone(),
        url,
        headers,
        body,
        tenant,
    })
}

/// A JSON string where an object or array is expected is parsed (a client quirk).
fn normalise(value: &Value, structured: bool) -> Value {
    if structured
        && let Value::String(text) = value
        && let Ok(parsed @ (Value::Object(_) | Value::Array(_))) =
            serde_json::from_str::<Value>(text.trim())
    {
        return parsed;
    }
    value.clone()
}

/// Text form of a value for a path segment, query pair or header.
fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Percent-encode everything but RFC 3986 unreserved characters.
fn encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::generator::generate;

    fn defs() -> Vec<ToolDef> {
        let spec: Value =
            serde_json::from_str(include_str!("../../openapi/freight.json")).expect("json");
        generate(&spec).expect("generates")
    }

    fn def(name: &str) -> ToolDef {
        defs()
            .into_iter()
            .find(|d| d.name == name)
            .expect("tool exists")
    }

    fn base() -> Url {
        Url::parse("http://api.test:8000/").expect("url")
    }

    fn args(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("object")
    }

    #[test]
    fn path_and_query_are_filled_and_encoded() {
        let planned = plan(
            &def("export_migration_logs"),
            &base(),
            &args(json!({"job_id": "a b/c", "format": "csv", "tenant_id": "acme"})),
        )
        .expect("plans");
        assert_eq!(planned.method, "GET");
        assert_eq!(
            planned.url.as_str(),
            "http://api.test:8000/api/v1/jobs/a%20b%2Fc/logs/export?format=csv"
        );
        assert_eq!(planned.tenant.as_deref(), Some("acme"));
        assert_eq!(planned.body, None);
    }

    #[test]
    fn body_properties_are_reassembled_and_json_strings_parsed() {
        let planned = plan(
            &def("create_migration_job"),
            &base(),
            &args(json!({
                "source_config": "{\"type\":\"sqlite\",\"url\":\"sqlite::memory:\"}",
                "target_config": {"type": "postgresql", "host": "h", "database": "d", "user": "u"},
                "tables": "[\"t\"]",
                "started_by": "[not json for a string field]",
            })),
        )
        .expect("plans");
        assert_eq!(planned.url.path(), "/api/v1/jobs");
        assert_eq!(
            planned.body,
            Some(json!({
                "source_config": {"type": "sqlite", "url": "sqlite::memory:"},
                "target_config": {"type": "postgresql", "host": "h", "database": "d", "user": "u"},
                "tables": ["t"],
                "started_by": "[not json for a string field]",
            }))
        );
        assert_eq!(planned.tenant, None);
    }

    #[test]
    fn optional_nulls_are_skipped_and_numbers_stringified() {
        let planned = plan(
            &def("list_migration_jobs"),
            &base(),
            &args(json!({"limit": 5, "cursor": null})),
        )
        .expect("plans");
        assert_eq!(planned.url.query(), Some("limit=5"));
    }

    #[test]
    fn missing_and_unknown_arguments_are_reported() {
        let err = plan(&def("get_migration_job"), &base(), &Map::new()).expect_err("missing");
        assert_eq!(
            err,
            "missing required argument(s) `job_id` for `get_migration_job`"
        );
        let err = plan(
            &def("get_migration_job"),
            &base(),
            &args(json!({"job_id": "x", "jobid": "y"})),
        )
        .expect_err("unknown");
        assert!(err.contains("unknown argument(s) `jobid`"), "{err}");
        assert!(err.contains("`job_id`, `tenant_id`"), "{err}");
    }

    #[test]
    fn base_url_with_a_path_prefix_is_kept() {
        let base = Url::parse("http://gw.test/freight/").expect("url");
        let planned = plan(&def("health_check"), &base, &Map::new()).expect("plans");
        assert_eq!(planned.url.as_str(), "http://gw.test/freight/health");
    }
}
