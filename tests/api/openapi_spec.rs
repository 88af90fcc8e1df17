/// The committed spec is what the code emits: regenerate with
/// `cargo run -- openapi > openapi/freight.json`.
#[test]
fn committed_openapi_matches_the_code() {
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/freight.json"))
            .expect("openapi/freight.json is committed");
    let emitted = freight_api::openapi_json();
    assert!(
        committed == emitted,
        "openapi/freight.json is stale: run `cargo run -- openapi > openapi/freight.json`"
    );
}

#[test]
fn every_operation_has_an_id_summary_and_description() {
    let spec: serde_json::Value = serde_json::from_str(&freight_api::openapi_json()).unwrap();
    let mut ids = Vec::new();
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} lacks an operationId"));
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{id} lacks a summary"
            );
            assert!(
                op["description"].as_str().is_some_and(|s| !s.is_empty()),
                "{id} lacks a description"
            );
            ids.push(id.to_owned());
        }
    }
    for expected in [
        "create_migration_job",
        "plan_migration_job",
        "list_migration_jobs",
        "get_migration_job",
        "list_job_batches",
        "retry_migration_job",
        "validate_migration_job",
        "cancel_migration_job",
        "get_migration_logs",
        "export_migration_logs",
        "get_job_statistics",
        "get_worker_status",
        "get_tenant_statistics",
        "list_audit_events",
        "health_check",
    ] {
        assert!(
            ids.iter().any(|id| id == expected),
            "missing operation {expected}"
        );
    }
}

#[test]
fn every_schema_reference_resolves() {
    let json = freight_api::openapi_json();
    let spec: serde_json::Value = serde_json::from_str(&json).unwrap();
    let schemas = spec["components"]["schemas"].as_object().unwrap();
    for reference in json.split("\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(schemas.contains_key(name), "unresolvable $ref to {name}");
    }
}

#[test]
fn validation_is_an_open_world_tool_with_every_status_and_shown_in_the_job_view() {
    let spec: serde_json::Value = serde_json::from_str(&freight_api::openapi_json()).unwrap();
    let op = &spec["paths"]["/api/v1/jobs/{job_id}/validate"]["post"];
    assert_eq!(op["operationId"], "validate_migration_job");
    assert_eq!(op["x-mcp"]["annotations"]["openWorldHint"], true);
    for status in ["202", "400", "401", "403", "404", "409", "429"] {
        assert!(op["responses"][status].is_object(), "missing {status}");
    }
    let schemas = &spec["components"]["schemas"];
    let summary = &schemas["ValidationSummary"]["properties"];
    for key in ["status", "mismatched_batches", "checked_at"] {
        assert!(summary[key].is_object(), "ValidationSummary lacks {key}");
    }
    assert_eq!(
        schemas["ValidationStatus"]["enum"],
        serde_json::json!(["running", "passed", "failed"])
    );
    let view = &schemas["JobDetailResponse"]["allOf"][1];
    assert!(view["properties"]["validation"].is_object());
    // Always present: null when the job was never validated.
    assert!(
        view["required"]
            .as_array()
            .is_some_and(|r| r.contains(&serde_json::json!("validation")))
    );
}
