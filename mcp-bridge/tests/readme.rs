//! This crate's README lists the tools and the open-world ones by hand;
//! these tests hold both lists to the tools generated from the committed
//! `openapi/freight.json`, so a new operation cannot leave them stale.

use std::collections::BTreeSet;

use freight_mcp::tools::ToolTable;
use serde_json::Value;

const README: &str = include_str!("../README.md");
const SPEC: &str = include_str!("../../openapi/freight.json");

/// The backquoted names between `<!-- marker -->` and `<!-- /marker -->`.
fn listed(marker: &str) -> BTreeSet<String> {
    let open = format!("<!-- {marker} -->");
    let close = format!("<!-- /{marker} -->");
    let start = README
        .find(&open)
        .unwrap_or_else(|| panic!("README has no {open}"))
        + open.len();
    let end = README[start..]
        .find(&close)
        .unwrap_or_else(|| panic!("README has no {close}"))
        + start;
    README[start..end]
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The API tools, without `bridge_status` (which the README describes on
/// its own).
fn api_tools(table: &ToolTable) -> impl Iterator<Item = &rmcp::model::Tool> {
    table
        .tools()
        .iter()
        .filter(|t| table.def(&t.name).is_some())
}

#[test]
fn the_readme_lists_every_tool() {
    let table = ToolTable::embedded().expect("embedded tool table");
    let generated: BTreeSet<String> = api_tools(&table).map(|t| t.name.to_string()).collect();
    assert_eq!(listed("tools"), generated);
}

#[test]
fn the_readme_names_every_operation() {
    let spec: Value = serde_json::from_str(SPEC).expect("the committed spec is JSON");
    let paths = spec["paths"].as_object().expect("paths");
    let missing: Vec<&str> = paths
        .values()
        .filter_map(Value::as_object)
        .flat_map(|ops| ops.values())
        .filter_map(|op| op["operationId"].as_str())
        .filter(|id| !README.contains(&format!("`{id}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "not in mcp-bridge/README.md: {missing:?}"
    );
}

#[test]
fn the_readme_lists_the_open_world_tools() {
    let table = ToolTable::embedded().expect("embedded tool table");
    let open_world: BTreeSet<String> = api_tools(&table)
        .filter(|t| {
            t.annotations
                .as_ref()
                .and_then(|a| a.open_world_hint)
                .unwrap_or(false)
        })
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(listed("open-world"), open_world);
}
