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

fn spec() -> serde_json::Value {
    serde_json::from_str(&freight_api::openapi_json()).unwrap()
}

/// `(path, method, operation)` of every operation.
fn operations(spec: &serde_json::Value) -> Vec<(String, String, serde_json::Value)> {
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            out.push((path.clone(), method.clone(), op.clone()));
        }
    }
    out
}

#[test]
fn every_api_operation_documents_the_shared_responses_and_headers() {
    let spec = spec();
    for name in [
        "BadRequest",
        "Unauthorized",
        "Forbidden",
        "TooManyRequests",
        "ServiceUnavailable",
    ] {
        let response = &spec["components"]["responses"][name];
        assert!(
            response["content"]["application/problem+json"]["schema"]["$ref"]
                == "#/components/schemas/Problem",
            "{name} is not a problem"
        );
    }
    let too_many = &spec["components"]["responses"]["TooManyRequests"]["headers"];
    for header in [
        "Retry-After",
        "RateLimit-Limit",
        "RateLimit-Remaining",
        "RateLimit-Reset",
        "X-Request-Id",
    ] {
        assert!(too_many.get(header).is_some(), "429 lacks {header}");
    }
    for (path, method, op) in operations(&spec) {
        let id = op["operationId"].as_str().unwrap().to_owned();
        let responses = op["responses"].as_object().unwrap();
        for (status, response) in responses {
            if response.get("$ref").is_none() {
                assert!(
                    response["headers"].get("X-Request-Id").is_some(),
                    "{id} {status} lacks X-Request-Id"
                );
            }
            if status.starts_with('4') || (status.starts_with('5') && path.starts_with("/api/")) {
                let content = match response.get("$ref").and_then(|r| r.as_str()) {
                    Some(r) => spec.pointer(&r[1..]).unwrap()["content"].clone(),
                    None => response["content"].clone(),
                };
                assert!(
                    content.get("application/problem+json").is_some(),
                    "{id} {status} is not application/problem+json"
                );
            }
        }
        if !path.starts_with("/api/v1/") {
            continue;
        }
        let mut expected = vec!["400", "401", "403", "429", "500", "503"];
        if path.contains("{job_id}") {
            expected.push("404");
        }
        if op.get("requestBody").is_some() {
            expected.extend(["413", "415", "422"]);
        }
        for status in expected {
            assert!(
                responses.contains_key(status),
                "{method} {path} ({id}) does not document {status}"
            );
        }
        // Shared statuses mean the same everywhere: references, never a
        // handler's own (narrower) wording.
        for (status, name) in [
            ("400", "BadRequest"),
            ("401", "Unauthorized"),
            ("403", "Forbidden"),
            ("429", "TooManyRequests"),
            ("500", "InternalError"),
            ("503", "ServiceUnavailable"),
        ] {
            assert_eq!(
                responses[status],
                serde_json::json!({"$ref": format!("#/components/responses/{name}")}),
                "{method} {path} ({id}): {status} is not the shared {name}"
            );
        }
        let params = op["parameters"].as_array().unwrap();
        if path != "/api/v1/admin/tenants/statistics" {
            assert!(
                params.contains(&serde_json::json!({"$ref": "#/components/parameters/TenantId"})),
                "{id} does not take the shared X-Tenant-ID parameter"
            );
        }
        for param in params.iter().filter(|p| p["in"] == "path") {
            assert_eq!(
                param["schema"]["format"], "uuid",
                "{id}: path parameter {} is not a UUID",
                param["name"]
            );
        }
        for param in params.iter().filter(|p| p["name"] == "limit") {
            assert_eq!(param["schema"]["minimum"], 1, "{id}: limit minimum");
            assert_eq!(param["schema"]["maximum"], 1000, "{id}: limit maximum");
        }
    }
    let bad_request = spec["components"]["responses"]["BadRequest"]["description"]
        .as_str()
        .unwrap();
    for cause in ["`X-Tenant-ID`", "UUID", "cursor", "JSON"] {
        assert!(
            bad_request.contains(cause),
            "the shared 400 does not name {cause}"
        );
    }
    let tenant = &spec["components"]["parameters"]["TenantId"];
    assert_eq!(tenant["required"], true);
    assert!(tenant["schema"]["pattern"].is_string());
}

#[test]
fn a_created_or_listed_job_or_webhook_links_to_every_operation_taking_its_id() {
    let spec = spec();
    for (collection, parameter, at_least) in [
        ("/api/v1/jobs", "job_id", 6),
        ("/api/v1/webhooks", "webhook_id", 2),
    ] {
        let placeholder = format!("{{{parameter}}}");
        let targets: Vec<String> = operations(&spec)
            .into_iter()
            .filter(|(path, _, _)| path.contains(&placeholder))
            .map(|(_, _, op)| op["operationId"].as_str().unwrap().to_owned())
            .collect();
        assert!(targets.len() >= at_least, "{targets:?}");
        for (method, status, expression) in [
            ("post", "201", "$response.body#/id"),
            ("get", "200", "$response.body#/items/0/id"),
        ] {
            let links = &spec["paths"][collection][method]["responses"][status]["links"];
            for target in &targets {
                assert_eq!(
                    links[target]["operationId"], *target,
                    "{method} {collection} has no link to {target}"
                );
                assert_eq!(links[target]["parameters"][parameter], expression);
            }
        }
    }
}

#[test]
fn request_bodies_refuse_unknown_fields_and_carry_examples() {
    let spec = spec();
    for name in ["JobSpec", "ConnectionConfig", "RetryBody"] {
        assert_eq!(
            spec["components"]["schemas"][name]["additionalProperties"], false,
            "{name} accepts unknown fields in the spec"
        );
    }
    let examples = spec["components"]["schemas"]["JobSpec"]["examples"]
        .as_array()
        .expect("JobSpec has examples");
    for example in examples {
        let spec: freight_core::job::JobSpec =
            serde_json::from_value(example.clone()).expect("the example deserialises");
        spec.validate().expect("the example is valid");
    }
    let open_world: Vec<&str> = operations(&spec)
        .iter()
        .filter(|(_, _, op)| op["x-mcp"]["annotations"]["openWorldHint"] == true)
        .map(|(_, _, op)| op["operationId"].as_str().unwrap())
        .map(|id| match id {
            "create_migration_job" => "create_migration_job",
            "plan_migration_job" => "plan_migration_job",
            "retry_migration_job" => "retry_migration_job",
            "validate_migration_job" => "validate_migration_job",
            other => panic!("{other} is marked openWorldHint"),
        })
        .collect();
    assert_eq!(open_world.len(), 4, "{open_world:?}");
}

/// The docs page and everything it loads come from this server: it works
/// offline, behind a firewall and in an air-gapped install.
#[tokio::test]
async fn the_docs_page_loads_only_local_assets() {
    let app = freight_api::testing::spawn_app().await;
    let http = reqwest::Client::new();
    let page = http
        .get(format!("{}/docs/", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let mut assets = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for rest in html.split(attribute).skip(1) {
            assets.push(rest.split('"').next().unwrap().to_owned());
        }
    }
    assert!(assets.len() >= 3, "the page loads no scripts? {html}");
    for asset in &assets {
        assert!(
            !asset.contains("//") && !asset.starts_with("data:http"),
            "the docs page loads {asset} from elsewhere"
        );
        let url = format!("{}/docs/{}", app.base_url, asset.trim_start_matches("./"));
        let response = http.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        let body = response.text().await.unwrap();
        assert!(!body.is_empty(), "{url} is empty");
        if asset.ends_with("swagger-initializer.js") {
            assert!(body.contains("/openapi.json"), "{body}");
            assert!(
                !body.contains("http://") && !body.contains("https://"),
                "the initializer names another host: {body}"
            );
        }
    }
    assert!(
        assets.iter().any(|a| a.ends_with("swagger-initializer.js")),
        "{assets:?}"
    );
    let spec = http
        .get(format!("{}/openapi.json", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(spec.text().await.unwrap(), freight_api::openapi_json());
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

/// Closed sets are enums in the spec: a client (and an MCP tool schema) is
/// told every value, not "any string".
#[test]
fn closed_sets_are_enums() {
    let spec = spec();
    let enum_of = |schema: &serde_json::Value| -> Vec<String> {
        let schema = match schema["$ref"].as_str() {
            Some(r) => spec.pointer(&r[1..]).unwrap().clone(),
            None => schema.clone(),
        };
        schema["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("not an enum: {schema}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    let schemas = &spec["components"]["schemas"];
    let audit = &schemas["AuditEvent"]["properties"];
    assert!(enum_of(&audit["action"]).contains(&"job.create".to_owned()));
    assert!(enum_of(&audit["action"]).contains(&"webhook.delete".to_owned()));
    assert_eq!(enum_of(&audit["actor_role"]), ["engineer", "admin"]);
    assert_eq!(enum_of(&audit["target_type"]), ["job", "webhook"]);
    let action_filter = spec["paths"]["/api/v1/audit"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "action")
        .expect("list_audit_events takes `action`");
    assert_eq!(enum_of(&action_filter["schema"]), enum_of(&audit["action"]));
    assert!(
        enum_of(&schemas["WebhookDelivery"]["properties"]["event_type"])
            .contains(&"job.completed".to_owned())
    );
    assert_eq!(
        enum_of(&schemas["Readiness"]["properties"]["status"]),
        ["ready", "not_ready"]
    );
    assert_eq!(enum_of(&schemas["Health"]["properties"]["status"]), ["ok"]);
}
