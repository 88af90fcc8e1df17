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

/// A validator for one component schema of the spec, as a client (or
/// schemathesis) reads it.
fn component_validator(spec: &serde_json::Value, name: &str) -> jsonschema::Validator {
    let schema = serde_json::json!({
        "$ref": format!("#/components/schemas/{name}"),
        "components": spec["components"],
    });
    jsonschema::draft202012::new(&schema).expect("the component schema compiles")
}

/// What the server says of a job spec before it connects anywhere:
/// whether it deserialises and passes validation.
fn server_accepts_job_spec(body: &serde_json::Value) -> Result<(), String> {
    let spec: freight_core::job::JobSpec =
        serde_json::from_value(body.clone()).map_err(|e| e.to_string())?;
    spec.validate().map_err(|e| e.to_string())
}

/// Schema-valid means server-valid and schema-invalid means refused, for
/// the rules of a job spec a schema can state (which connection fields go
/// together per `type`, names, free text, whole numbers written as
/// floats): checked case by case against the spec as committed, so the
/// spec and `JobSpec::validate` cannot drift apart. What only the server
/// can know (tables that exist, reachable databases) is out of scope.
#[test]
fn the_job_spec_schema_says_what_the_server_accepts() {
    use serde_json::json;

    let spec = spec();
    let schema = component_validator(&spec, "JobSpec");
    let example = spec["components"]["schemas"]["JobSpec"]["examples"][0].clone();
    let with = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut body = example.clone();
        edit(&mut body);
        body
    };
    let names = |n: usize, unit: &str| json!(vec![unit.to_owned(); n]);
    let mut cases: Vec<(&str, serde_json::Value)> = vec![
        ("the example", example.clone()),
        // Whole numbers however written; fractions and out-of-range values not.
        (
            "batch_size 1000.0",
            with(&|b| b["batch_size"] = json!(1000.0)),
        ),
        ("batch_size 1e3", with(&|b| b["batch_size"] = json!(1e3))),
        ("batch_size 3.5", with(&|b| b["batch_size"] = json!(3.5))),
        ("batch_size 1e30", with(&|b| b["batch_size"] = json!(1e30))),
        ("batch_size 0", with(&|b| b["batch_size"] = json!(0))),
        ("max_retries 3.0", with(&|b| b["max_retries"] = json!(3.0))),
        ("max_retries 51", with(&|b| b["max_retries"] = json!(51))),
        (
            "max_retries -1.0",
            with(&|b| b["max_retries"] = json!(-1.0)),
        ),
        (
            "max_record_errors 5.0",
            with(&|b| b["max_record_errors"] = json!(5.0)),
        ),
        (
            "max_record_errors 2^63",
            with(&|b| b["max_record_errors"] = json!(9_223_372_036_854_775_808_u64)),
        ),
        (
            "port 3306.0",
            with(&|b| b["source_config"]["port"] = json!(3306.0)),
        ),
        (
            "port 80.5",
            with(&|b| b["source_config"]["port"] = json!(80.5)),
        ),
        ("port 0", with(&|b| b["source_config"]["port"] = json!(0))),
        // Table and column names: 1-128 characters, no control characters.
        (
            "a 128-character table",
            with(&|b| b["tables"] = json!(["t".repeat(128)])),
        ),
        (
            "a 128-character non-ASCII table",
            with(&|b| b["tables"] = json!(["é".repeat(128)])),
        ),
        (
            "a 129-character table",
            with(&|b| b["tables"] = json!(["t".repeat(129)])),
        ),
        ("an empty table name", with(&|b| b["tables"] = json!([""]))),
        (
            "a NUL in a table name",
            with(&|b| b["tables"] = json!(["a\u{0}b"])),
        ),
        (
            "a tab in a table name",
            with(&|b| b["exclude_tables"] = json!(["a\tb"])),
        ),
        (
            "U+0085 in a table name",
            with(&|b| b["exclude_tables"] = json!(["a\u{85}"])),
        ),
        ("10000 tables", with(&|b| b["tables"] = names(10_000, "t"))),
        ("10001 tables", with(&|b| b["tables"] = names(10_001, "t"))),
        (
            "key columns",
            with(&|b| b["key_columns"] = json!({"events": ["device_id", "recorded_at"]})),
        ),
        (
            "no key columns",
            with(&|b| b["key_columns"] = json!({"events": []})),
        ),
        (
            "a key column twice",
            with(&|b| b["key_columns"] = json!({"events": ["a", "a"]})),
        ),
        (
            "32 key columns",
            with(&|b| {
                b["key_columns"] =
                    json!({"t": (0..32).map(|i| format!("c{i}")).collect::<Vec<_>>()})
            }),
        ),
        (
            "33 key columns",
            with(&|b| {
                b["key_columns"] =
                    json!({"t": (0..33).map(|i| format!("c{i}")).collect::<Vec<_>>()})
            }),
        ),
        (
            "an empty key table",
            with(&|b| b["key_columns"] = json!({"": ["a"]})),
        ),
        (
            "a control character in a key table",
            with(&|b| b["key_columns"] = json!({"t\u{1}": ["a"]})),
        ),
        (
            "a DEL in a key column",
            with(&|b| b["key_columns"] = json!({"t": ["\u{7f}"]})),
        ),
        // `name`: at most 200 characters, no control characters.
        ("no name", with(&|b| b["name"] = json!(null))),
        ("an empty name", with(&|b| b["name"] = json!(""))),
        (
            "a 200-character name",
            with(&|b| b["name"] = json!("é".repeat(200))),
        ),
        (
            "a 201-character name",
            with(&|b| b["name"] = json!("n".repeat(201))),
        ),
        (
            "a newline in the name",
            with(&|b| b["name"] = json!("a\nb")),
        ),
        // `started_by`: trimmed, 1-200 characters, no control characters.
        ("started_by a", with(&|b| b["started_by"] = json!("a"))),
        (
            "started_by blank",
            with(&|b| b["started_by"] = json!(" \u{3000}")),
        ),
        ("started_by empty", with(&|b| b["started_by"] = json!(""))),
        (
            "started_by spaced",
            with(&|b| b["started_by"] = json!("  ci pipeline  ")),
        ),
        (
            "started_by with a newline after",
            with(&|b| b["started_by"] = json!("ci\n")),
        ),
        (
            "started_by with a tab inside",
            with(&|b| b["started_by"] = json!("c\ti")),
        ),
        (
            "started_by with U+001F after",
            with(&|b| b["started_by"] = json!("ci\u{1f}")),
        ),
        (
            "started_by 200 characters",
            with(&|b| b["started_by"] = json!("s".repeat(200))),
        ),
        (
            "started_by 200 characters, padded",
            with(&|b| b["started_by"] = json!(format!(" {} ", "s".repeat(200)))),
        ),
        (
            "started_by 201 characters",
            with(&|b| b["started_by"] = json!("s".repeat(201))),
        ),
        (
            "started_by U+FEFF",
            with(&|b| b["started_by"] = json!("\u{feff}")),
        ),
    ];
    // Connections: exactly one way to reach the database, per `type`.
    for (what, config) in [
        (
            "a host",
            json!({"type": "mysql", "host": "db", "database": "shop", "user": "app"}),
        ),
        (
            "a host and a password",
            json!({"type": "postgresql", "host": "db", "port": 5432, "database": "shop", "user": "app", "password": "pw", "schema": "sales"}),
        ),
        (
            "a mysql url",
            json!({"type": "mysql", "url": "mysql://app@db/shop"}),
        ),
        (
            "a mariadb url",
            json!({"type": "mysql", "url": "mariadb://app@db/shop"}),
        ),
        (
            "a postgres url",
            json!({"type": "postgresql", "url": "postgres://app@db/shop"}),
        ),
        (
            "a postgresql url",
            json!({"type": "postgresql", "url": "postgresql://app@db/shop"}),
        ),
        (
            "a sqlite url",
            json!({"type": "sqlite", "url": "sqlite:///data/app.db"}),
        ),
        (
            "a sqlite file",
            json!({"type": "sqlite", "database": "/data/app.db"}),
        ),
        (
            "nulls for what is not given",
            json!({"type": "mysql", "url": "mysql://app@db/shop", "host": null, "schema": null, "port": null}),
        ),
        ("nothing", json!({"type": "mysql"})),
        ("nothing, for sqlite", json!({"type": "sqlite"})),
        (
            "nulls only",
            json!({"type": "postgresql", "url": null, "host": null}),
        ),
        (
            "a url and a host",
            json!({"type": "mysql", "url": "mysql://app@db/shop", "host": "db"}),
        ),
        (
            "a url of another type",
            json!({"type": "postgresql", "url": "mysql://app@db/shop"}),
        ),
        (
            "a sqlite url for mysql",
            json!({"type": "mysql", "url": "sqlite:///x.db"}),
        ),
        (
            "an upper-case scheme",
            json!({"type": "mysql", "url": "MYSQL://app@db/shop"}),
        ),
        (
            "a host without a user",
            json!({"type": "mysql", "host": "db", "database": "shop"}),
        ),
        (
            "a host without a database",
            json!({"type": "mysql", "host": "db", "user": "app"}),
        ),
        (
            "a blank host",
            json!({"type": "mysql", "host": " \t", "database": "shop", "user": "app"}),
        ),
        (
            "a schema for mysql",
            json!({"type": "mysql", "host": "db", "database": "shop", "user": "app", "schema": "s"}),
        ),
        (
            "a schema for sqlite",
            json!({"type": "sqlite", "database": "/x.db", "schema": "s"}),
        ),
        (
            "an empty schema",
            json!({"type": "postgresql", "host": "db", "database": "shop", "user": "app", "schema": ""}),
        ),
        (
            "a 63-character schema",
            json!({"type": "postgresql", "host": "db", "database": "shop", "user": "app", "schema": "s".repeat(63)}),
        ),
        (
            "a 64-character schema",
            json!({"type": "postgresql", "host": "db", "database": "shop", "user": "app", "schema": "s".repeat(64)}),
        ),
        (
            "a NUL in the database",
            json!({"type": "mysql", "host": "db", "database": "sh\u{0}op", "user": "app"}),
        ),
        (
            "a NUL in the password",
            json!({"type": "mysql", "url": "mysql://db/shop", "password": "p\u{0}w"}),
        ),
        (
            "an unknown type",
            json!({"type": "oracle", "host": "db", "database": "shop", "user": "app"}),
        ),
        (
            "no type",
            json!({"host": "db", "database": "shop", "user": "app"}),
        ),
        (
            "an unknown field",
            json!({"type": "mysql", "url": "mysql://db/shop", "passwd": "x"}),
        ),
    ] {
        cases.push((what, with(&|b| b["source_config"] = config.clone())));
    }
    let mut disagreements = Vec::new();
    for (what, body) in &cases {
        let by_schema = schema.is_valid(body);
        let by_server = server_accepts_job_spec(body);
        if by_schema != by_server.is_ok() {
            disagreements.push(format!(
                "{what}: the schema {}, the server {}",
                if by_schema { "accepts" } else { "refuses" },
                match &by_server {
                    Ok(()) => "accepts".to_owned(),
                    Err(e) => format!("refuses ({e})"),
                }
            ));
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
    // The cases cover both answers.
    assert!(cases.iter().filter(|(_, b)| schema.is_valid(b)).count() > 20);
    assert!(cases.iter().filter(|(_, b)| !schema.is_valid(b)).count() > 20);
}

/// A webhook URL the schema's pattern accepts, the server's form check
/// accepts too; one it refuses is refused (the policy, which needs DNS, is
/// apart). The pattern is stricter than the parser only where a host is
/// spelled in a form no one writes (`http://127.1`, a percent-encoded
/// host, an octet with a leading zero): those are listed as such.
#[test]
fn the_webhook_url_schema_says_what_the_server_accepts() {
    let spec = spec();
    let url = component_validator(&spec, "WebhookUrl");
    let stricter_than_the_server = ["http://127.1/", "http://a%41b.example/", "http://01.2.3.4/"];
    for raw in [
        "https://hooks.example.com/freight",
        "http://127.0.0.1:9/hook",
        "http://[::1]:8080/x?y=1#z",
        "HTTPS://Hooks.Example.COM./a/b;c=d/%7Euser?q=a/b?c",
        "http://a_b~c-d.example:65535",
        "http://x.example/p@th:1!$&'()*+,;=",
        "",
        "ftp://x/y",
        "http://",
        "http:///path",
        "http:hooks.example.com",
        "https://user:pw@hooks.example.com/",
        "https://user@hooks.example.com/",
        " https://hooks.example.com/",
        "https://hooks.example.com/ x",
        "https://hooks.example.com/\u{0}",
        "https://hooks.example.com/é",
        "https://exämple.com/",
        "http://a.1/",
        "http://256.1.1.1/",
        "http://hooks.example.com:65536/",
        "http://hooks.example.com:port/",
        "mailto:ops@example.com",
        "http://[::1/",
        "http://hooks.example.com\\path",
        "http://hooks.example.com/{x}",
        "http://?x",
    ]
    .into_iter()
    .chain(stricter_than_the_server)
    {
        let by_schema = url.is_valid(&serde_json::json!(raw));
        let by_server = freight_core::webhooks::check_url(raw);
        if stricter_than_the_server.contains(&raw) {
            assert!(!by_schema && by_server.is_ok(), "{raw:?}");
        } else {
            assert_eq!(by_schema, by_server.is_ok(), "{raw:?}: {by_server:?}");
        }
    }
    let long = format!("https://hooks.example.com/{}", "a".repeat(2048));
    assert!(!url.is_valid(&serde_json::json!(long)));
    assert!(freight_core::webhooks::check_url(&long).is_err());
}
