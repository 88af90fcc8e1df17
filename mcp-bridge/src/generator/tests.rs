use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::*;

/// The committed spec: the tests check the rules against the contract the
/// bridge actually ships, not a copy that can drift from it.
const SPEC: &str = include_str!("../../../openapi/freight.json");

/// Operation keys of an OpenAPI 3.1 path item. Spelled out here rather than
/// taken from the generator so a method it forgot would show as a missing tool.
const OPERATION_KEYS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn committed_spec() -> Value {
    serde_json::from_str(SPEC).expect("the committed spec is valid JSON")
}

fn tools(spec: &Value) -> Vec<ToolDef> {
    generate(spec).expect("spec generates")
}

fn tool<'t>(tools: &'t [ToolDef], name: &str) -> &'t ToolDef {
    tools
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no tool {name}"))
}

fn names(tools: &[ToolDef]) -> Vec<&str> {
    tools.iter().map(|t| t.name.as_str()).collect()
}

fn problems(spec: &Value) -> Vec<String> {
    generate(spec).expect_err("spec must be rejected").problems
}

fn op_mut<'s>(spec: &'s mut Value, path: &str, method: &str) -> &'s mut Value {
    let op = &mut spec["paths"][path][method];
    assert!(op.is_object(), "no operation {method} {path}");
    op
}

fn simple_op(id: &str) -> Value {
    json!({
        "operationId": id,
        "summary": "S",
        "description": "D",
        "responses": {"200": {"description": "ok"}}
    })
}

/// Every operation of `spec` as (upper-case method, path, operation), found
/// by walking `paths`.
fn operations(spec: &Value) -> Vec<(String, &str, &Value)> {
    let paths = spec["paths"].as_object().expect("paths");
    let mut ops = Vec::new();
    for (path, item) in paths {
        for key in OPERATION_KEYS {
            if let Some(op) = item.get(key) {
                ops.push((key.to_ascii_uppercase(), path.as_str(), op));
            }
        }
    }
    ops
}

fn is_hidden(op: &Value) -> bool {
    op["x-mcp"]["hidden"] == json!(true)
}

/// The tool name an operation asks for: `x-mcp.name`, else its `operationId`.
fn expected_name(op: &Value) -> &str {
    op["x-mcp"]["name"]
        .as_str()
        .or_else(|| op["operationId"].as_str())
        .expect("operation has an operationId")
}

/// The component schema that `{"$ref": "#/components/schemas/X"}` names.
fn component<'s>(spec: &'s Value, reference: &Value) -> &'s Value {
    let name = reference["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
        .unwrap_or_else(|| panic!("not a schema $ref: {reference}"));
    let schema = &spec["components"]["schemas"][name];
    assert!(schema.is_object(), "no schema {name}");
    schema
}

/// Names of the component schemas `value` reaches through `$ref`s, transitively.
fn reachable_schemas(spec: &Value, value: &Value, found: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if key == "$ref"
                    && let Some(name) = v
                        .as_str()
                        .and_then(|r| r.strip_prefix("#/components/schemas/"))
                {
                    if found.insert(name.to_owned()) {
                        reachable_schemas(spec, &spec["components"]["schemas"][name], found);
                    }
                } else {
                    reachable_schemas(spec, v, found);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| reachable_schemas(spec, v, found)),
        _ => {}
    }
}

#[test]
fn every_operation_becomes_a_tool_sorted_by_name() {
    let spec = committed_spec();
    let visible: Vec<&Value> = operations(&spec)
        .into_iter()
        .map(|(_, _, op)| op)
        .filter(|op| !is_hidden(op))
        .collect();
    assert!(!visible.is_empty(), "the committed spec has operations");
    let mut expected: Vec<&str> = visible.iter().map(|op| expected_name(op)).collect();
    expected.sort_unstable();

    let tools = tools(&spec);
    assert_eq!(tools.len(), visible.len());
    assert_eq!(names(&tools), expected);
}

#[test]
fn every_operation_id_of_the_committed_spec_becomes_exactly_one_tool() {
    let spec = committed_spec();
    let tools = tools(&spec);
    let ops = operations(&spec);
    assert!(!ops.is_empty(), "the committed spec has operations");
    let mut ids = BTreeSet::new();
    let mut hidden = 0;
    for (method, path, op) in &ops {
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
        assert!(ids.insert(id), "operationId `{id}` is used twice");
        let made: Vec<&ToolDef> = tools
            .iter()
            .filter(|t| t.method == *method && t.path == *path)
            .collect();
        if is_hidden(op) {
            hidden += 1;
            assert!(made.is_empty(), "hidden `{id}` became a tool");
            continue;
        }
        assert_eq!(
            made.len(),
            1,
            "`{id}` ({method} {path}) became {} tools",
            made.len()
        );
        assert_eq!(made[0].name, expected_name(op), "tool of `{id}`");
    }
    // No tool without an operation behind it.
    assert_eq!(tools.len(), ops.len() - hidden);

    // The table build.rs embedded in the binary is this very one.
    let table = crate::tools::ToolTable::embedded().expect("embedded tool table");
    assert_eq!(table.api_tool_count(), tools.len());
    for def in &tools {
        assert_eq!(table.def(&def.name), Some(def), "embedded `{}`", def.name);
    }
}

#[test]
fn an_added_operation_yields_an_added_tool() {
    let before = tools(&committed_spec());
    let mut spec = committed_spec();
    spec["paths"]["/api/v1/jobs/{job_id}/pause"] = json!({"post": {
        "operationId": "pause_migration_job",
        "summary": "Pause a job",
        "description": "Stops dispatching new batches.",
        "parameters": [{"name": "job_id", "in": "path", "required": true, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JobRecord"}}}}}
    }});
    let after = tools(&spec);
    let added: Vec<&str> = names(&after)
        .into_iter()
        .filter(|n| !names(&before).contains(n))
        .collect();
    assert_eq!(added, ["pause_migration_job"]);
    assert_eq!(after.len(), before.len() + 1);
    let pause = tool(&after, "pause_migration_job");
    assert_eq!(pause.method, "POST");
    assert_eq!(pause.path, "/api/v1/jobs/{job_id}/pause");
    assert_eq!(pause.input_schema["required"], json!(["job_id"]));
}

#[test]
fn title_and_description_come_from_summary_description_method_and_path() {
    let spec = committed_spec();
    let op = &spec["paths"]["/api/v1/jobs/{job_id}"]["get"];
    let (summary, description) = (
        op["summary"].as_str().expect("summary"),
        op["description"].as_str().expect("description"),
    );
    let tools = tools(&spec);
    let get = tool(&tools, "get_migration_job");
    assert_eq!(get.title.as_deref(), Some(summary));
    assert_eq!(
        get.description,
        format!(
            "{}\n\nHTTP: GET /api/v1/jobs/{{job_id}}",
            description.trim()
        )
    );
}

#[test]
fn body_properties_are_flattened_with_refs_moved_to_defs() {
    let spec = committed_spec();
    let body = component(
        &spec,
        &spec["paths"]["/api/v1/jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"],
    );
    // The body's own properties plus the bridge's tenant argument.
    let mut expected_props: BTreeSet<&str> = body["properties"]
        .as_object()
        .expect("body properties")
        .keys()
        .map(String::as_str)
        .collect();
    expected_props.insert(TENANT_ARGUMENT);
    let mut expected_required: Vec<&str> = body["required"]
        .as_array()
        .expect("body required")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    expected_required.sort_unstable();
    let mut expected_defs = BTreeSet::new();
    reachable_schemas(&spec, body, &mut expected_defs);
    assert!(expected_defs.contains("ConnectionConfig"));

    let tools = tools(&spec);
    let create = tool(&tools, "create_migration_job");
    let schema = &create.input_schema;
    assert_eq!(schema["type"], "object");
    let props: BTreeSet<&str> = schema["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(props, expected_props);
    assert_eq!(schema["required"], json!(expected_required));
    assert_eq!(
        schema["properties"]["source_config"]["$ref"],
        "#/$defs/ConnectionConfig"
    );
    let defs: BTreeSet<String> = schema["$defs"]
        .as_object()
        .expect("$defs")
        .keys()
        .cloned()
        .collect();
    assert_eq!(defs, expected_defs);
    assert!(!schema.to_string().contains("#/components/"));
    assert_eq!(create.body, BodyMode::Flattened);
    // The X-Tenant-ID header parameter is the bridge's, not an argument.
    assert!(create.arguments.iter().all(|a| a.api_name != "X-Tenant-ID"));
    assert_eq!(create.tenant_argument, "tenant_id");
}

#[test]
fn the_tenant_argument_takes_what_the_x_tenant_id_header_takes() {
    let spec = committed_spec();
    let declared = &spec["components"]["parameters"]["TenantId"]["schema"];
    assert!(declared["pattern"].is_string(), "{declared}");
    for tool in tools(&spec) {
        let tenant = &tool.input_schema["properties"][&tool.tenant_argument];
        assert_eq!(tenant["type"], "string", "{}", tool.name);
        for keyword in ["pattern", "minLength", "maxLength"] {
            assert_eq!(
                tenant[keyword], declared[keyword],
                "{}: {keyword}",
                tool.name
            );
        }
        assert!(
            tenant["description"]
                .as_str()
                .is_some_and(|d| d.contains("X-Tenant-ID")),
            "{}",
            tool.name
        );
    }

    // A spec that declares no X-Tenant-ID header: a plain string.
    let mut bare = json!({"openapi": "3.1.0", "paths": {"/x": {"get": simple_op("get_x")}}});
    let bare_tools = tools(&bare);
    let tenant = &tool(&bare_tools, "get_x").input_schema["properties"]["tenant_id"];
    assert_eq!(tenant["type"], "string");
    assert!(tenant.get("pattern").is_none());

    // Declared inline on one operation, it holds for every tool.
    op_mut(&mut bare, "/x", "get")["parameters"] = json!([
        {"name": "x-tenant-id", "in": "header", "schema": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 9}}
    ]);
    bare["paths"]["/y"] = json!({"get": simple_op("get_y")});
    for tool in tools(&bare) {
        let tenant = &tool.input_schema["properties"]["tenant_id"];
        assert_eq!(tenant["pattern"], "^[a-z]+$", "{}", tool.name);
        assert_eq!(tenant["maxLength"], 9, "{}", tool.name);
    }
}

#[test]
fn object_and_array_arguments_are_marked_structured() {
    let tools = tools(&committed_spec());
    let create = tool(&tools, "create_migration_job");
    let structured = |name: &str| {
        create
            .arguments
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.structured)
            .expect("argument exists")
    };
    assert!(structured("source_config"));
    assert!(structured("tables"));
    assert!(!structured("started_by"));
    assert!(!structured("batch_size"));
}

#[test]
fn path_and_query_parameters_become_arguments() {
    let spec = committed_spec();
    let op = &spec["paths"]["/api/v1/jobs/{job_id}/logs/export"]["get"];
    // The spec's own path and query parameters, in order (the X-Tenant-ID
    // header is the bridge's), with path parameters always required.
    let params: Vec<&Value> = op["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter(|p| p["in"] == "path" || p["in"] == "query")
        .collect();
    let location = |p: &Value| {
        if p["in"] == "path" {
            Location::Path
        } else {
            Location::Query
        }
    };
    let expected: Vec<(&str, Location, bool)> = params
        .iter()
        .map(|p| {
            let name = p["name"].as_str().expect("name");
            let required = p["in"] == "path" || p["required"] == json!(true);
            (name, location(p), required)
        })
        .collect();
    let expected_required: Vec<&str> = expected
        .iter()
        .filter(|(_, _, required)| *required)
        .map(|(name, _, _)| *name)
        .collect();
    let job_id = params
        .iter()
        .find(|p| p["name"] == "job_id")
        .expect("job_id parameter");

    let tools = tools(&spec);
    let export = tool(&tools, "export_migration_logs");
    let args: Vec<(&str, Location, bool)> = export
        .arguments
        .iter()
        .map(|a| (a.name.as_str(), a.location, a.required))
        .collect();
    assert_eq!(args, expected);
    assert!(args.contains(&("job_id", Location::Path, true)));
    assert!(args.contains(&("format", Location::Query, false)));
    assert_eq!(export.input_schema["required"], json!(expected_required));
    assert_eq!(
        export.input_schema["properties"]["format"]["$ref"],
        "#/$defs/ExportFormat"
    );
    assert_eq!(
        export.input_schema["properties"]["job_id"]["description"],
        job_id["description"]
    );
    assert!(job_id["description"].is_string());
    assert_eq!(export.output_schema, None, "CSV/NDJSON has no JSON schema");
}

#[test]
fn collisions_are_resolved_deterministically() {
    let mut spec = committed_spec();
    let op = op_mut(&mut spec, "/api/v1/jobs/{job_id}/retry", "post");
    op["parameters"]
        .as_array_mut()
        .expect("params")
        .push(json!({"name": "job_id", "in": "query", "schema": {"type": "string"}}));
    op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {
        "type": "object",
        "required": ["job_id"],
        "properties": {
            "job_id": {"type": "string"},
            "query_job_id": {"type": "string"},
            "tenant_id": {"type": "string"},
            "reason": {"type": "string"}
        }
    }}}});
    let first = tools(&spec);
    let retry = tool(&first, "retry_migration_job");
    let args: Vec<(&str, &str, Location)> = retry
        .arguments
        .iter()
        .map(|a| (a.name.as_str(), a.api_name.as_str(), a.location))
        .collect();
    assert_eq!(
        args,
        [
            ("job_id", "job_id", Location::Path),
            ("query_job_id", "job_id", Location::Query),
            ("body_job_id", "job_id", Location::Body),
            ("body_query_job_id", "query_job_id", Location::Body),
            ("reason", "reason", Location::Body),
            ("tenant_id", "tenant_id", Location::Body),
        ]
    );
    assert_eq!(retry.tenant_argument, "header_tenant_id");
    assert_eq!(
        retry.input_schema["required"],
        json!(["job_id", "body_job_id"])
    );
    // Same input, same output.
    assert_eq!(first, tools(&spec));
}

#[test]
fn non_object_bodies_are_passed_whole() {
    let mut spec = committed_spec();
    let op = op_mut(&mut spec, "/api/v1/jobs/{job_id}/retry", "post");
    op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {
        "type": "array", "items": {"$ref": "#/components/schemas/JobStatus"}
    }}}});
    let tools = tools(&spec);
    let retry = tool(&tools, "retry_migration_job");
    assert_eq!(retry.body, BodyMode::Whole("body".to_owned()));
    assert_eq!(
        retry.input_schema["properties"]["body"]["items"]["$ref"],
        "#/$defs/JobStatus"
    );
    assert_eq!(retry.input_schema["required"], json!(["job_id", "body"]));
}

#[test]
fn output_schema_is_the_2xx_json_schema_wrapped_when_not_an_object() {
    let mut spec = committed_spec();
    let cancelled = component(
        &spec,
        &spec["paths"]["/api/v1/jobs/{job_id}/cancel"]["post"]["responses"]["200"]["content"]["application/json"]
            ["schema"],
    );
    let expected_props: BTreeSet<String> = cancelled["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .cloned()
        .collect();
    let tools = tools(&spec);
    let cancel = tool(&tools, "cancel_migration_job");
    let out = cancel.output_schema.as_ref().expect("output schema");
    assert_eq!(out["type"], "object");
    let props: BTreeSet<String> = out["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .cloned()
        .collect();
    assert_eq!(props, expected_props);
    assert_eq!(out["properties"]["status"]["$ref"], "#/$defs/JobStatus");
    assert!(out["$defs"]["JobStatus"].is_object());
    assert!(!cancel.wrap_output);
    assert!(
        !tool(&tools, "list_job_batches").wrap_output,
        "a page is an object"
    );

    let create = tool(&tools, "create_migration_job");
    assert!(create.output_schema.is_some(), "201 counts as success");

    // No operation of the committed spec answers with a bare array: make one.
    op_mut(&mut spec, "/api/v1/jobs/{job_id}/batches", "get")["responses"]["200"]["content"]["application/json"]
        ["schema"] =
        json!({"type": "array", "items": {"$ref": "#/components/schemas/BatchRecord"}});
    let tools = self::tools(&spec);
    let batches = tool(&tools, "list_job_batches");
    let out = batches.output_schema.as_ref().expect("output schema");
    assert_eq!(out["required"], json!(["result"]));
    assert_eq!(out["properties"]["result"]["type"], "array");
    assert!(out["$defs"]["BatchRecord"].is_object());
    assert!(batches.wrap_output);
}

#[test]
fn annotations_follow_http_semantics() {
    let tools = tools(&committed_spec());
    let hints = |name: &str| tool(&tools, name).annotations;
    let read = Annotations {
        read_only: true,
        destructive: false,
        idempotent: true,
        open_world: false,
    };
    assert_eq!(hints("get_migration_job"), read);
    assert_eq!(hints("health_check"), read);
    let create = hints("create_migration_job");
    assert!(!create.read_only && !create.idempotent && !create.destructive);
    let cancel = hints("cancel_migration_job");
    assert!(!cancel.read_only && cancel.destructive && !cancel.idempotent);
    let retry = hints("retry_migration_job");
    assert!(!retry.read_only && !retry.destructive);
}

#[test]
fn delete_is_destructive_and_idempotent() {
    let mut spec = committed_spec();
    spec["paths"]["/api/v1/jobs/{job_id}"]["delete"] = simple_op("delete_migration_job");
    let tools = tools(&spec);
    let del = tool(&tools, "delete_migration_job").annotations;
    assert!(del.destructive && del.idempotent && !del.read_only);
}

#[test]
fn x_mcp_extension_overrides_name_title_hidden_and_annotations() {
    let mut spec = committed_spec();
    op_mut(&mut spec, "/api/v1/jobs/plan", "post")["x-mcp"] = json!({
        "name": "plan_job",
        "title": "Dry-run a migration",
        "annotations": {"readOnlyHint": true, "idempotentHint": true, "openWorldHint": true}
    });
    op_mut(&mut spec, "/api/v1/audit", "get")["x-mcp"] = json!({"hidden": true});
    let tools = tools(&spec);
    assert!(!names(&tools).contains(&"list_audit_events"));
    assert!(!names(&tools).contains(&"plan_migration_job"));
    let plan = tool(&tools, "plan_job");
    assert_eq!(plan.title.as_deref(), Some("Dry-run a migration"));
    assert_eq!(
        plan.annotations,
        Annotations {
            read_only: true,
            destructive: false,
            idempotent: true,
            open_world: true
        }
    );
}

#[test]
fn missing_operation_id_fails() {
    let mut spec = committed_spec();
    op_mut(&mut spec, "/api/v1/workers", "get")
        .as_object_mut()
        .expect("object")
        .remove("operationId");
    let problems = problems(&spec);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("GET /api/v1/workers: missing operationId"));
}

#[test]
fn missing_or_empty_description_fails() {
    let mut spec = committed_spec();
    op_mut(&mut spec, "/api/v1/workers", "get")
        .as_object_mut()
        .expect("object")
        .remove("description");
    op_mut(&mut spec, "/api/v1/audit", "get")["description"] = json!("  ");
    let problems = problems(&spec);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems.iter().all(|p| p.contains("missing description")));
}

#[test]
fn tool_name_longer_than_64_fails() {
    let mut spec = committed_spec();
    let long = "a".repeat(65);
    op_mut(&mut spec, "/api/v1/workers", "get")["operationId"] = json!(long);
    let problems = problems(&spec);
    assert!(
        problems[0].contains("must be 1-64 characters"),
        "{problems:?}"
    );
    assert!(problems[0].contains("65 long"));
    // Exactly 64 is fine.
    op_mut(&mut spec, "/api/v1/workers", "get")["operationId"] = json!("a".repeat(64));
    assert!(generate(&spec).is_ok());
}

#[test]
fn tool_name_outside_charset_fails() {
    for bad in [
        "getWorkerStatus",
        "get-worker-status",
        "get worker",
        "günther",
    ] {
        let mut spec = committed_spec();
        op_mut(&mut spec, "/api/v1/workers", "get")["operationId"] = json!(bad);
        let problems = problems(&spec);
        assert!(
            problems[0].contains(&format!("`{bad}` must be 1-64 characters of [a-z0-9_]")),
            "{problems:?}"
        );
    }
}

#[test]
fn duplicate_names_fail() {
    let mut spec = committed_spec();
    op_mut(&mut spec, "/api/v1/workers", "get")["operationId"] = json!("get_job_statistics");
    let problems = problems(&spec);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("duplicate tool name `get_job_statistics`"));
    assert!(problems[0].contains("GET /api/v1/statistics"));
    assert!(problems[0].contains("GET /api/v1/workers"));
}

#[test]
fn duplicate_names_via_x_mcp_fail() {
    let mut spec = committed_spec();
    op_mut(&mut spec, "/api/v1/workers", "get")["x-mcp"] = json!({"name": "health_check"});
    assert!(problems(&spec)[0].contains("duplicate tool name `health_check`"));
}

#[test]
fn bridge_status_name_is_reserved() {
    let mut spec = committed_spec();
    op_mut(&mut spec, "/api/v1/workers", "get")["operationId"] = json!("bridge_status");
    assert!(problems(&spec)[0].contains("reserved"));
}

#[test]
fn unresolvable_refs_fail() {
    const MISSING: &str = "#/components/schemas/ConnectionConfig";
    let mut spec = committed_spec();
    // One problem per body property that names the schema (the create and
    // plan bodies' `source_config` and `target_config`).
    let mut expected = Vec::new();
    for (method, path, op) in operations(&spec) {
        let body = &op["requestBody"]["content"]["application/json"]["schema"];
        let body = match body.get("$ref") {
            Some(_) => component(&spec, body),
            None => body,
        };
        for (name, property) in body["properties"].as_object().into_iter().flatten() {
            if property["$ref"] == MISSING {
                expected.push(format!(
                    "{method} {path}: body property `{name}`: unresolvable $ref `{MISSING}`"
                ));
            }
        }
    }
    assert!(expected.len() >= 2, "{expected:?}");
    expected.sort();
    spec["components"]["schemas"]
        .as_object_mut()
        .expect("schemas")
        .remove("ConnectionConfig");
    let mut problems = problems(&spec);
    problems.sort();
    assert_eq!(problems, expected);

    let mut spec = committed_spec();
    op_mut(&mut spec, "/api/v1/workers", "get")["responses"]["200"] =
        json!({"$ref": "#/components/responses/Nope"});
    assert!(self::problems(&spec)[0].contains("unresolvable $ref `#/components/responses/Nope`"));

    let mut spec = committed_spec();
    op_mut(&mut spec, "/api/v1/workers", "get")["parameters"] =
        json!([{"$ref": "#/components/parameters/Missing"}]);
    assert!(self::problems(&spec)[0].contains("`#/components/parameters/Missing`"));

    let mut spec = committed_spec();
    op_mut(&mut spec, "/api/v1/audit", "get")["parameters"][1]["schema"] =
        json!({"$ref": "https://example.com/schema.json"});
    assert!(
        self::problems(&spec)[0].contains("unresolvable $ref `https://example.com/schema.json`")
    );
}

#[test]
fn argument_names_outside_charset_fail() {
    let mut spec = committed_spec();
    op_mut(&mut spec, "/api/v1/audit", "get")["parameters"]
        .as_array_mut()
        .expect("params")
        .push(json!({"name": "filter[actor]", "in": "query", "schema": {"type": "string"}}));
    let problems = problems(&spec);
    assert!(
        problems[0].contains("argument name `filter[actor]` must match [A-Za-z0-9_.-]+"),
        "{problems:?}"
    );

    let mut spec = committed_spec();
    spec["components"]["schemas"]["JobSpec"]["properties"]["batch size"] =
        json!({"type": "integer"});
    let problems = self::problems(&spec);
    assert!(
        problems[0].contains("argument name `batch size`"),
        "{problems:?}"
    );
}

#[test]
fn all_problems_are_reported_together() {
    let mut spec = committed_spec();
    op_mut(&mut spec, "/api/v1/workers", "get")["operationId"] = json!("Bad-Name");
    op_mut(&mut spec, "/api/v1/audit", "get")
        .as_object_mut()
        .expect("object")
        .remove("description");
    let err = generate(&spec).expect_err("rejected");
    assert_eq!(err.problems.len(), 2);
    let text = err.to_string();
    assert!(text.contains("2 problem(s)"));
    assert!(text.contains("Bad-Name") && text.contains("missing description"));
}

#[test]
fn path_item_parameters_are_shared_by_its_operations() {
    let spec = json!({
        "openapi": "3.1.0",
        "paths": {"/things/{id}": {
            "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
            "get": simple_op("get_thing"),
        }},
    });
    let tools = tools(&spec);
    assert_eq!(tools[0].arguments[0].name, "id");
    assert_eq!(tools[0].input_schema["required"], json!(["id"]));
}

#[test]
fn name_rules() {
    assert!(is_valid_tool_name("get_migration_job"));
    assert!(!is_valid_tool_name(""));
    assert!(!is_valid_tool_name("Get"));
    assert!(is_valid_argument_name("X-Request-ID"));
    assert!(is_valid_argument_name("a.b_c-1"));
    assert!(!is_valid_argument_name("a b"));
    assert!(!is_valid_argument_name(""));
}

#[test]
fn openapi_only_keywords_are_dropped_but_properties_named_like_them_kept() {
    let mut spec = committed_spec();
    let schemas = &mut spec["components"]["schemas"];
    schemas["JobRecord"]["example"] = json!({"id": "x"});
    schemas["JobRecord"]["properties"]["example"] =
        json!({"type": "string", "xml": {"name": "ex"}});
    schemas["ConnectionConfig"]["discriminator"] = json!({"propertyName": "type"});
    let required = schemas["ConnectionConfig"]["required"].clone();
    assert!(required.is_array());
    let tools = tools(&spec);
    let out = tool(&tools, "cancel_migration_job")
        .output_schema
        .clone()
        .expect("output");
    assert!(out.get("example").is_none());
    assert_eq!(out["properties"]["example"], json!({"type": "string"}));
    let input = &tool(&tools, "create_migration_job").input_schema;
    assert!(
        input["$defs"]["ConnectionConfig"]
            .get("discriminator")
            .is_none()
    );
    assert_eq!(input["$defs"]["ConnectionConfig"]["required"], required);
}

#[test]
fn all_of_objects_are_objects_not_wrapped() {
    let mut spec = committed_spec();
    spec["components"]["schemas"]["JobDetail"] = json!({"allOf": [
        {"$ref": "#/components/schemas/JobRecord"},
        {"type": "object", "required": ["batches"], "properties": {"batches": {"type": "integer"}}}
    ]});
    op_mut(&mut spec, "/api/v1/jobs/{job_id}", "get")["responses"]["200"]["content"]["application/json"]
        ["schema"] = json!({"$ref": "#/components/schemas/JobDetail"});
    let tools = tools(&spec);
    let get = tool(&tools, "get_migration_job");
    assert!(!get.wrap_output);
    let out = get.output_schema.as_ref().expect("output");
    assert_eq!(out["type"], "object");
    assert_eq!(out["allOf"][0]["$ref"], "#/$defs/JobRecord");
    assert!(out["$defs"]["JobRecord"].is_object());
    assert_eq!(
        out["allOf"][1]["properties"]["batches"],
        json!({"type": "integer"})
    );
}

#[test]
fn uuid_ids_carry_a_pattern_every_validator_asserts() {
    let mut spec = committed_spec();
    spec["paths"]["/api/v1/jobs/{job_id}/pause"] = json!({"post": {
        "operationId": "pause_migration_job",
        "summary": "Pause a job",
        "description": "Stops dispatching new batches.",
        "parameters": [
            {"name": "job_id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}},
            {"name": "batch_id", "in": "query", "schema": {"$ref": "#/components/schemas/Uuid"}}
        ],
        "responses": {"200": {"description": "ok"}}
    }});
    spec["components"]["schemas"]["Uuid"] = json!({"type": "string", "format": "uuid"});
    let tools = tools(&spec);
    let schema = &tool(&tools, "pause_migration_job").input_schema;
    assert_eq!(
        schema["properties"]["job_id"]["pattern"],
        json!(UUID_PATTERN)
    );
    assert_eq!(schema["$defs"]["Uuid"]["pattern"], json!(UUID_PATTERN));
}

#[test]
fn x_mcp_sets_the_open_world_hint() {
    let mut spec = committed_spec();
    op_mut(&mut spec, "/api/v1/jobs", "post")["x-mcp"] =
        json!({"annotations": {"openWorldHint": true}});
    let tools = tools(&spec);
    assert!(tool(&tools, "create_migration_job").annotations.open_world);
    assert!(!tool(&tools, "get_migration_job").annotations.open_world);
}

#[test]
fn a_header_parameter_is_a_snake_case_argument_sent_under_its_header_name() {
    let tools = tools(&committed_spec());
    let watch = tool(&tools, "watch_migration_job");
    let header = watch
        .arguments
        .iter()
        .find(|a| a.location == Location::Header)
        .expect("the Last-Event-ID parameter");
    assert_eq!(
        (header.name.as_str(), header.api_name.as_str()),
        ("last_event_id", "Last-Event-ID")
    );
    let properties = watch.input_schema["properties"]
        .as_object()
        .expect("properties");
    assert!(properties.contains_key("last_event_id"), "{properties:?}");
    assert!(
        properties.keys().all(|name| !name.contains('-')),
        "{properties:?}"
    );
}
