//! What every operation shares, added to the spec in one place: the
//! responses the extractors, the body limit, the rate limiter and the error
//! mapping can send (defined once in `components.responses` and referenced),
//! the headers sent with them, the typed `X-Tenant-ID` parameter, and the
//! OpenAPI links from a created or listed job (webhook) to every operation
//! taking its id.
//!
//! Nothing here is per route: an operation gets its shared responses from
//! what it declares (a bearer `security`, an `X-Tenant-ID` parameter, path
//! or query parameters, a request body), and its links from taking a
//! `job_id` or `webhook_id` path parameter. A new route is documented like the others by
//! declaring those, and states only the responses of its own handler.
//!
//! A handler may word a shared 404 or 422 itself (a webhook is not a job,
//! a list has no body): its wording is kept, with the shared headers. The
//! 400, 401, 403, 429, 500 and 503 mean the same on every operation: a
//! handler does not declare them, so they stay references (a test in
//! `tests/api/openapi_spec.rs` holds every operation to that).

use serde_json::{Map, Value, json};

use crate::auth::TENANT_HEADER;

/// The `X-Tenant-ID` rules of `freight_core::TenantId::parse`.
pub const TENANT_PATTERN: &str = "^[a-z0-9][a-z0-9_-]{0,62}$";

const PROBLEM_MEDIA: &str = "application/problem+json";
const REQUEST_ID: &str = "X-Request-Id";
const RATE_LIMIT_HEADERS: [&str; 3] = ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"];
const RETRY_AFTER: &str = "Retry-After";

/// A resource whose id, returned by some operations, feeds every operation
/// taking it as a path parameter: the OpenAPI links.
struct LinkedResource {
    /// The path parameter (`job_id`).
    parameter: &'static str,
    /// What the id is called in the links' descriptions.
    noun: &'static str,
    /// (operation, success status, runtime expression of the id).
    sources: &'static [(&'static str, &'static str, &'static str)],
}

const LINKED_RESOURCES: [LinkedResource; 2] = [
    LinkedResource {
        parameter: "job_id",
        noun: "job",
        sources: &[
            ("create_migration_job", "201", "$response.body#/id"),
            ("list_migration_jobs", "200", "$response.body#/items/0/id"),
        ],
    },
    LinkedResource {
        parameter: "webhook_id",
        noun: "webhook",
        sources: &[
            ("create_webhook", "201", "$response.body#/id"),
            ("list_webhooks", "200", "$response.body#/items/0/id"),
        ],
    },
];

/// A shared response: name in `components.responses`, status, description.
struct Shared {
    name: &'static str,
    status: &'static str,
    description: &'static str,
}

const BAD_REQUEST: Shared = Shared {
    name: "BadRequest",
    status: "400",
    description: "Malformed request: a missing or malformed `X-Tenant-ID` header, another header parameter out of its schema (a `Last-Event-ID` that is not an event id of the job), a path or query parameter of the wrong type (a `job_id` that is not a UUID), a query parameter the operation does not define (where it defines some: an operation without query parameters ignores the query string), a `cursor` this list did not make, or a body that is not JSON (`VALIDATION_ERROR`)",
};
const UNAUTHORIZED: Shared = Shared {
    name: "Unauthorized",
    status: "401",
    description: "Missing, malformed, expired or invalid bearer token (`UNAUTHORIZED`)",
};
const FORBIDDEN: Shared = Shared {
    name: "Forbidden",
    status: "403",
    description: "The token does not grant the `X-Tenant-ID` tenant, or the route needs the admin role (`FORBIDDEN`)",
};
const NOT_FOUND: Shared = Shared {
    name: "NotFound",
    status: "404",
    description: "No such job for this tenant; another tenant's job is a 404 too (`NOT_FOUND`)",
};
const PAYLOAD_TOO_LARGE: Shared = Shared {
    name: "PayloadTooLarge",
    status: "413",
    description: "The request body is larger than 1 MiB (`VALIDATION_ERROR`)",
};
const UNSUPPORTED_MEDIA_TYPE: Shared = Shared {
    name: "UnsupportedMediaType",
    status: "415",
    description: "The body is not sent as `Content-Type: application/json` (`VALIDATION_ERROR`)",
};
const UNPROCESSABLE: Shared = Shared {
    name: "ValidationFailed",
    status: "422",
    description: "Well-formed JSON that is not valid: a field of the wrong type or out of range, an unknown field, or a rule across fields; `errors` names each field (`VALIDATION_ERROR`)",
};
const TOO_MANY_REQUESTS: Shared = Shared {
    name: "TooManyRequests",
    status: "429",
    description: "Rate limit exceeded, or a per-tenant limit on concurrent work reached (`FREIGHT_MAX_CONCURRENT_PLANS` plans): retry after `Retry-After` seconds (`RATE_LIMITED`). A request is counted before it is authenticated: without a valid token (or for a tenant the token does not grant) against the per-address anonymous limit, so it may get this 429 rather than a 401 or 403",
};
const INTERNAL: Shared = Shared {
    name: "InternalError",
    status: "500",
    description: "Internal error; the body names no cause, the log line with the same `request_id` does (`INTERNAL`)",
};
const UNAVAILABLE: Shared = Shared {
    name: "ServiceUnavailable",
    status: "503",
    description: "A dependency (PostgreSQL, Redis) is unavailable; retry later (`UNAVAILABLE`)",
};

const ALL_SHARED: [&Shared; 10] = [
    &BAD_REQUEST,
    &UNAUTHORIZED,
    &FORBIDDEN,
    &NOT_FOUND,
    &PAYLOAD_TOO_LARGE,
    &UNSUPPORTED_MEDIA_TYPE,
    &UNPROCESSABLE,
    &TOO_MANY_REQUESTS,
    &INTERNAL,
    &UNAVAILABLE,
];

const HTTP_METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// Adds the shared parts to a spec generated from the router.
pub fn finish(spec: &mut Value) {
    add_components(spec);
    add_schema_rules(spec);
    describe_event_streams(spec);
    let targets: Vec<Vec<String>> = LINKED_RESOURCES
        .iter()
        .map(|resource| operations_taking(spec, resource.parameter))
        .collect();
    let Some(paths) = spec.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut() {
        for method in HTTP_METHODS {
            if let Some(operation) = item.get_mut(method) {
                finish_operation(operation, &targets);
            }
        }
    }
    drop_unused_responses(spec);
    if let Some(spec) = spec.as_object_mut() {
        spec.entry("servers").or_insert_with(
            || json!([{"url": "/", "description": "The Freight instance serving this document"}]),
        );
    }
}

/// Rules across the fields of a request schema that the derive cannot
/// state (which fields go together), each written next to the validation
/// it describes, merged into the generated component schema.
fn add_schema_rules(spec: &mut Value) {
    let rules = [("ConnectionConfig", freight_core::connection::schema_rules())];
    for (name, rules) in rules {
        let schema = spec
            .pointer_mut(&format!("/components/schemas/{name}"))
            .and_then(Value::as_object_mut);
        if let (Some(schema), Value::Object(rules)) = (schema, rules) {
            schema.extend(rules);
        }
    }
}

/// An event stream's schema (a `oneOf` of `{event, data}` variants, one per
/// event name) describes one event as it is on the wire: its `event` name,
/// its `id` (sent back as `Last-Event-ID` to resume after it) and its
/// `data`, the JSON text of the payload (`contentMediaType` and
/// `contentSchema`), so a client or a contract test can check each event.
fn describe_event_streams(spec: &mut Value) {
    let mut names: Vec<String> = Vec::new();
    for item in spec
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(Map::values)
    {
        for method in HTTP_METHODS {
            let responses = item
                .get(method)
                .and_then(|op| op.get("responses"))
                .and_then(Value::as_object);
            for response in responses.into_iter().flat_map(Map::values) {
                let name = response
                    .pointer("/content/text~1event-stream/schema/$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix("#/components/schemas/"));
                if let Some(name) = name
                    && !names.iter().any(|n| n == name)
                {
                    names.push(name.to_owned());
                }
            }
        }
    }
    for name in names {
        let variants = spec
            .pointer_mut(&format!("/components/schemas/{name}/oneOf"))
            .and_then(Value::as_array_mut);
        for variant in variants.into_iter().flatten() {
            let Some(variant) = variant.as_object_mut() else {
                continue;
            };
            if let Some(properties) = variant.get_mut("properties").and_then(Value::as_object_mut) {
                if let Some(payload) = properties.remove("data") {
                    properties.insert(
                        "data".into(),
                        json!({
                            "type": "string",
                            "description": "The event's payload, as JSON text",
                            "contentMediaType": "application/json",
                            "contentSchema": payload,
                        }),
                    );
                }
                properties.insert(
                    "id".into(),
                    json!({
                        "type": "string",
                        "pattern": "^[0-9]+(\\.[0-9]+)?$",
                        "description": "Event id, unique within the job: the number of a stored change (`status`, `batch_failed`), or for an event derived when sent (the first `status` of a stream, `progress`, `finished`) that of the last change before it and a count (`1234.2`). Send it back as `Last-Event-ID` to resume after this event",
                    }),
                );
            }
            if let Some(required) = variant.get_mut("required").and_then(Value::as_array_mut)
                && !required.contains(&json!("id"))
            {
                required.push(json!("id"));
            }
        }
    }
}

/// Shared responses no operation refers to (every operation that could
/// send one describes its own): left out rather than listed unused.
fn drop_unused_responses(spec: &mut Value) {
    let text = spec.get("paths").map(Value::to_string).unwrap_or_default();
    if let Some(responses) = spec
        .pointer_mut("/components/responses")
        .and_then(Value::as_object_mut)
    {
        responses.retain(|name, _| text.contains(&format!("\"#/components/responses/{name}\"")));
    }
}

fn add_components(spec: &mut Value) {
    let components = spec
        .as_object_mut()
        .map(|spec| spec.entry("components").or_insert_with(|| json!({})));
    let Some(components) = components.and_then(Value::as_object_mut) else {
        return;
    };
    let mut headers = Map::new();
    headers.insert(
        REQUEST_ID.into(),
        json!({
            "description": "Id of this request (a UUID, or the `x-request-id` the client sent); problems carry it as `request_id`",
            "required": true,
            "schema": {"type": "string", "minLength": 1}
        }),
    );
    for (name, description) in RATE_LIMIT_HEADERS.iter().zip([
        "Requests allowed in the current one-minute window (sent when rate limiting is on)",
        "Requests left in the current window (sent when rate limiting is on)",
        "Seconds until the current window ends (sent when rate limiting is on)",
    ]) {
        headers.insert(
            (*name).into(),
            json!({"description": description, "schema": {"type": "integer", "minimum": 0}}),
        );
    }
    headers.insert(
        RETRY_AFTER.into(),
        json!({
            "description": "Seconds to wait before retrying",
            "required": true,
            "schema": {"type": "integer", "minimum": 0}
        }),
    );
    components.insert("headers".into(), Value::Object(headers));

    let mut responses = Map::new();
    for shared in ALL_SHARED {
        let mut response = json!({
            "description": shared.description,
            "content": {PROBLEM_MEDIA: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        });
        add_headers(&mut response, shared.status, true);
        responses.insert(shared.name.into(), response);
    }
    components.insert("responses".into(), Value::Object(responses));

    components.insert(
        "parameters".into(),
        json!({
            "TenantId": {
                "name": "X-Tenant-ID",
                "in": "header",
                "description": "Tenant to act for: 1-63 characters of `[a-z0-9_-]`, starting with a letter or digit; the token must grant it",
                "required": true,
                "schema": {"type": "string", "pattern": TENANT_PATTERN, "minLength": 1, "maxLength": 63},
                "example": "acme"
            }
        }),
    );
}

/// `header: {"$ref": …}` entries of a response sent with `status`.
fn add_headers(response: &mut Value, status: &str, rate_limited: bool) {
    let Some(response) = response.as_object_mut() else {
        return;
    };
    let headers = response
        .entry("headers")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    let Some(headers) = headers else {
        return;
    };
    let mut names = vec![REQUEST_ID];
    if rate_limited {
        names.extend(RATE_LIMIT_HEADERS);
    }
    if status == "429" {
        names.push(RETRY_AFTER);
    }
    for name in names {
        headers
            .entry(name)
            .or_insert_with(|| json!({"$ref": format!("#/components/headers/{name}")}));
    }
}

/// Operation ids taking `parameter` as a path parameter, in path order.
fn operations_taking(spec: &Value, parameter: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let Some(paths) = spec.get("paths").and_then(Value::as_object) else {
        return ids;
    };
    for item in paths.values() {
        for method in HTTP_METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let takes_it = parameters(operation).any(|p| {
                p.get("in") == Some(&json!("path")) && p.get("name") == Some(&json!(parameter))
            });
            if let Some(id) = operation.get("operationId").and_then(Value::as_str)
                && takes_it
            {
                ids.push(id.to_owned());
            }
        }
    }
    ids
}

fn parameters(operation: &Value) -> impl Iterator<Item = &Value> {
    operation
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// `targets[i]`: the operations taking the id of `LINKED_RESOURCES[i]`.
fn finish_operation(operation: &mut Value, targets: &[Vec<String>]) {
    // `security: [{}]` (health probes) means "no token needed".
    let secured = operation
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|s| {
            s.iter()
                .any(|r| r.as_object().is_some_and(|r| !r.is_empty()))
        });
    let mut tenant = false;
    if let Some(params) = operation
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
    {
        for param in params.iter_mut() {
            let is_tenant = param.get("in") == Some(&json!("header"))
                && param
                    .get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.eq_ignore_ascii_case(TENANT_HEADER));
            if is_tenant {
                *param = json!({"$ref": "#/components/parameters/TenantId"});
                tenant = true;
            }
        }
    }
    let takes =
        |location: &str| parameters(operation).any(|p| p.get("in") == Some(&json!(location)));
    let (path, query) = (takes("path"), takes("query"));
    let body = operation.get("requestBody").is_some();

    let mut shared: Vec<&Shared> = Vec::new();
    if tenant || path || query || body {
        shared.push(&BAD_REQUEST);
    }
    if secured {
        shared.extend([&UNAUTHORIZED, &FORBIDDEN]);
    }
    if path {
        shared.push(&NOT_FOUND);
    }
    if body {
        shared.extend([&PAYLOAD_TOO_LARGE, &UNSUPPORTED_MEDIA_TYPE, &UNPROCESSABLE]);
    }
    if secured {
        shared.extend([&TOO_MANY_REQUESTS, &INTERNAL, &UNAVAILABLE]);
    }

    let operation_id = operation
        .get("operationId")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for response in responses.values_mut() {
        if response.get("$ref").is_none() {
            // `status` only matters for 429, handled below.
            add_headers(response, "", secured);
        }
    }
    for shared in shared {
        match responses.get_mut(shared.status) {
            // The handler says more about this status: keep its words, add the shared headers.
            Some(own) => {
                add_headers(own, shared.status, secured);
                if let Some(content) = own.get_mut("content").and_then(Value::as_object_mut) {
                    content.entry(PROBLEM_MEDIA).or_insert_with(
                        || json!({"schema": {"$ref": "#/components/schemas/Problem"}}),
                    );
                }
            }
            None => {
                responses.insert(
                    shared.status.into(),
                    json!({"$ref": format!("#/components/responses/{}", shared.name)}),
                );
            }
        }
    }
    sort_responses(responses);

    for (resource, targets) in LINKED_RESOURCES.iter().zip(targets) {
        let Some((_, status, id)) = resource
            .sources
            .iter()
            .find(|(source, _, _)| operation_id.as_deref() == Some(*source))
        else {
            continue;
        };
        let Some(success) = responses.get_mut(*status).and_then(Value::as_object_mut) else {
            continue;
        };
        let links: Map<String, Value> = targets
            .iter()
            .map(|target| {
                (
                    target.clone(),
                    json!({
                        "operationId": target,
                        "parameters": {resource.parameter: id},
                        "description": format!(
                            "The {}'s `id` is the `{}` of `{target}`",
                            resource.noun, resource.parameter
                        ),
                    }),
                )
            })
            .collect();
        success.insert("links".into(), Value::Object(links));
    }
}

/// Responses in status order, whatever order they were added in.
fn sort_responses(responses: &mut Map<String, Value>) {
    let mut entries: Vec<(String, Value)> = std::mem::take(responses).into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    responses.extend(entries);
}
