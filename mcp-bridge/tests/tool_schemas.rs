//! The tools this binary embeds (generated from the committed
//! `openapi/freight.json`) as an MCP client validates them: the spec's own
//! examples are valid arguments, and an id that is not a UUID (alone, or in
//! a list of ids) is not.

use freight_mcp::generator::{Location, ToolDef};
use freight_mcp::tools::ToolTable;
use serde_json::{Map, Value, json};

const SPEC: &str = include_str!("../../openapi/freight.json");

fn spec() -> Value {
    serde_json::from_str(SPEC).expect("the committed spec is JSON")
}

fn resolve<'s>(spec: &'s Value, mut value: &'s Value) -> &'s Value {
    while let Some(reference) = value.get("$ref").and_then(Value::as_str) {
        value = spec
            .pointer(reference.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("unresolvable {reference}"));
    }
    value
}

fn operation<'s>(spec: &'s Value, def: &ToolDef) -> &'s Value {
    &spec["paths"][&def.path][def.method.to_ascii_lowercase()]
}

/// The first example of a parameter or schema (`example`, or `examples[0]`).
fn example_of(value: &Value) -> Option<Value> {
    value
        .get("example")
        .cloned()
        .or_else(|| value.get("examples")?.as_array()?.first().cloned())
}

/// Arguments built from the spec's examples: every parameter's, and the
/// request body's example spread over the body arguments.
fn example_arguments(spec: &Value, def: &ToolDef) -> Map<String, Value> {
    let op = operation(spec, def);
    let mut args = Map::new();
    for param in op["parameters"].as_array().into_iter().flatten() {
        let param = resolve(spec, param);
        let (name, location) = (param["name"].as_str().unwrap_or_default(), &param["in"]);
        let Some(binding) = def.arguments.iter().find(|a| {
            a.api_name == name && json!(format!("{:?}", a.location).to_lowercase()) == *location
        }) else {
            continue;
        };
        if let Some(example) =
            example_of(param).or_else(|| example_of(resolve(spec, &param["schema"])))
        {
            args.insert(binding.name.clone(), example);
        }
    }
    let body_schema = op["requestBody"]["content"]["application/json"]["schema"].clone();
    if !body_schema.is_null()
        && let Some(Value::Object(body)) = example_of(resolve(spec, &body_schema))
    {
        for (key, value) in body {
            let binding = def
                .arguments
                .iter()
                .find(|a| a.location == Location::Body && a.api_name == key)
                .unwrap_or_else(|| panic!("{}: body example has unknown field {key}", def.name));
            args.insert(binding.name.clone(), value);
        }
    }
    args
}

fn errors(schema: &Value, instance: &Value) -> Vec<String> {
    let validator = jsonschema::validator_for(schema).expect("input schema compiles");
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn every_tool_accepts_the_spec_examples_and_rejects_ids_that_are_not_uuids() {
    let spec = spec();
    let table = ToolTable::embedded().expect("embedded tool table");
    let mut tools_with_ids = Vec::new();
    let mut tools_with_id_lists = Vec::new();
    for tool in table.tools() {
        let Some(def) = table.def(&tool.name) else {
            continue; // bridge_status
        };
        let schema = Value::Object((*tool.input_schema).clone());
        let args = example_arguments(&spec, def);
        for required in schema["required"].as_array().into_iter().flatten() {
            let required = required.as_str().unwrap_or_default();
            assert!(
                args.contains_key(required),
                "{}: the spec has no example for the required argument `{required}`",
                def.name
            );
        }
        let valid = Value::Object(args.clone());
        let found = errors(&schema, &valid);
        assert!(
            found.is_empty(),
            "{}: the spec's example {valid} is refused: {found:?}",
            def.name
        );

        // Ids by name: `*_id` is one UUID, `*_ids` an array of UUIDs.
        let ids: Vec<&str> = def
            .arguments
            .iter()
            .filter(|a| a.name.ends_with("_id") && a.location != Location::Header)
            .map(|a| a.name.as_str())
            .collect();
        let id_lists: Vec<&str> = def
            .arguments
            .iter()
            .filter(|a| a.name.ends_with("_ids") && a.location != Location::Header)
            .map(|a| a.name.as_str())
            .collect();
        let uuid = json!("0192f4a1-7c3f-7000-8000-000000000001");
        let wrong_ids = [json!(42), json!("st"), json!("not-a-uuid"), json!(true)];
        let wrong_lists = wrong_ids
            .iter()
            .map(|wrong| json!([wrong]))
            .chain(wrong_ids.iter().map(|wrong| json!([uuid, wrong])))
            // One UUID where an array of them is asked for.
            .chain([uuid.clone(), json!(42)])
            .collect::<Vec<_>>();
        let wrongs = ids
            .iter()
            .flat_map(|id| wrong_ids.iter().map(move |wrong| (*id, wrong.clone())))
            .chain(
                id_lists
                    .iter()
                    .flat_map(|id| wrong_lists.iter().map(move |wrong| (*id, wrong.clone()))),
            );
        for (id, wrong) in wrongs {
            let mut bad = args.clone();
            bad.insert(id.to_owned(), wrong.clone());
            assert!(
                !errors(&schema, &Value::Object(bad)).is_empty(),
                "{}: `{id}` = {wrong} is accepted",
                def.name
            );
        }
        for id in &id_lists {
            let mut good = args.clone();
            good.insert((*id).to_owned(), json!([uuid]));
            let found = errors(&schema, &Value::Object(good));
            assert!(
                found.is_empty(),
                "{}: `{id}` = [{uuid}] is refused: {found:?}",
                def.name
            );
        }
        if !ids.is_empty() {
            tools_with_ids.push(def.name.clone());
        }
        if !id_lists.is_empty() {
            tools_with_id_lists.push(def.name.clone());
        }
    }
    assert!(
        tools_with_id_lists
            .iter()
            .any(|t| t == "retry_migration_job"),
        "retry_migration_job takes no typed `batch_ids`: {tools_with_id_lists:?}"
    );
    for expected in [
        "get_migration_job",
        "cancel_migration_job",
        "retry_migration_job",
        "list_job_batches",
        "get_migration_logs",
        "export_migration_logs",
    ] {
        assert!(
            tools_with_ids.iter().any(|t| t == expected),
            "{expected} takes no typed id: {tools_with_ids:?}"
        );
    }
}

#[test]
fn tools_that_connect_to_tenant_databases_are_open_world() {
    let table = ToolTable::embedded().expect("embedded tool table");
    for tool in table.tools() {
        let open_world = tool
            .annotations
            .as_ref()
            .and_then(|a| a.open_world_hint)
            .unwrap_or(false);
        let connects = matches!(
            tool.name.as_ref(),
            "create_migration_job"
                | "plan_migration_job"
                | "retry_migration_job"
                | "validate_migration_job"
        );
        assert_eq!(open_world, connects, "openWorldHint of {}", tool.name);
    }
}
