//! One HTTP response → one MCP tool result (pure; no I/O).

use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{Value, json};

use crate::generator::{Location, ToolDef};

/// Query arguments that page or narrow a listing, named in truncation notes.
const PAGING_ARGUMENTS: [&str; 12] = [
    "limit",
    "offset",
    "page",
    "page_size",
    "per_page",
    "cursor",
    "since",
    "until",
    "after",
    "before",
    "level",
    "batch_id",
];

/// What came back from the API.
pub struct ApiResponse<'a> {
    pub status: u16,
    pub content_type: Option<&'a str>,
    pub retry_after: Option<&'a str>,
    pub body: &'a str,
    /// Where the request went (for notes; carries no credentials).
    pub url: &'a str,
}

/// Build the tool result for `response`.
pub fn to_result(def: &ToolDef, response: &ApiResponse<'_>, text_budget: usize) -> CallToolResult {
    if !(200..300).contains(&response.status) {
        return problem_result(response);
    }
    if response.body.trim().is_empty() {
        return CallToolResult::success(vec![ContentBlock::text(format!(
            "HTTP {}: the API returned no content (success).",
            response.status
        ))]);
    }
    if is_json(response.content_type)
        && let Ok(value) = serde_json::from_str::<Value>(response.body)
    {
        let structured = if def.wrap_output || !value.is_object() {
            json!({ "result": value })
        } else {
            value
        };
        return CallToolResult::structured(structured);
    }
    let text = truncate(response.body, text_budget, &paging_note(def, response.url));
    CallToolResult::success(vec![ContentBlock::text(text)])
}

/// An `isError` result for a 4xx/5xx, from its problem+json body when there is one.
pub fn problem_result(response: &ApiResponse<'_>) -> CallToolResult {
    let problem: Value = serde_json::from_str(response.body).unwrap_or(Value::Null);
    let field = |key: &str| problem.get(key).and_then(Value::as_str);
    let code = field("code").unwrap_or_else(|| code_for_status(response.status));
    let title = field("title").unwrap_or("API error");
    let detail = field("detail");
    let mut text = format!(
        "Freight API error: HTTP {} {code}: {title}",
        response.status
    );
    if let Some(detail) = detail {
        text.push_str(&format!(" — {detail}"));
    } else if problem.is_null() && !response.body.trim().is_empty() {
        let mut snippet: String = response.body.trim().chars().take(300).collect();
        if snippet.len() < response.body.trim().len() {
            snippet.push('…');
        }
        text.push_str(&format!(" — {snippet}"));
    }
    if let Some(errors) = problem.get("errors").and_then(Value::as_array) {
        for error in errors {
            let f = error.get("field").and_then(Value::as_str).unwrap_or("?");
            let m = error.get("message").and_then(Value::as_str).unwrap_or("");
            text.push_str(&format!("\n  - {f}: {m}"));
        }
    }
    text.push_str(&format!("\nHint: {}", hint(code, response.retry_after)));
    CallToolResult::error(vec![ContentBlock::text(text)])
}

/// An `isError` result for an API that could not be reached at all.
pub fn unreachable_result(api_url: &str, reason: &str) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(format!(
        "The Freight API at {api_url} is unreachable: {reason}.\n\
         Hint: check that the API is running and that FREIGHT_API_URL points at it; \
         bridge_status shows what the bridge sees."
    ))])
}

/// An `isError` result for arguments the bridge could not turn into a request.
pub fn argument_error(message: &str) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(format!(
        "Invalid arguments: {message}.\nHint: see the tool's input schema."
    ))])
}

fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|ct| ct.split(';').next())
        .map(str::trim)
        .is_some_and(|mime| mime == "application/json" || mime.ends_with("+json"))
}

fn code_for_status(status: u16) -> &'static str {
    match status {
        400 | 422 => "VALIDATION_ERROR",
        401 => "UNAUTHORIZED",
        403 => "FORBIDDEN",
        404 => "NOT_FOUND",
        409 => "CONFLICT",
        429 => "RATE_LIMITED",
        502..=504 => "UNAVAILABLE",
        _ => "INTERNAL",
    }
}

fn hint(code: &str, retry_after: Option<&str>) -> String {
    match code {
        "VALIDATION_ERROR" => "fix the listed arguments and call the tool again.".to_owned(),
        "UNAUTHORIZED" => "the API rejected the credentials: check FREIGHT_API_KEY (stdio) or the Authorization header sent to the bridge (http); the token may have expired.".to_owned(),
        "FORBIDDEN" => "the token may not do this for this tenant: check the tenant_id argument / FREIGHT_TENANT_ID and the token's role.".to_owned(),
        "NOT_FOUND" => "check the ids in the arguments (list tools show existing ones); objects of another tenant are reported as not found.".to_owned(),
        "CONFLICT" => "the object is not in a state that allows this (e.g. a finished job cannot be cancelled); read its current state before trying again.".to_owned(),
        "RATE_LIMITED" => match retry_after {
            Some(secs) => format!("too many requests: wait {secs} s before calling again."),
            None => "too many requests: wait a little before calling again.".to_owned(),
        },
        "UNAVAILABLE" => "the API or one of its dependencies is unavailable; try again shortly (bridge_status shows reachability).".to_owned(),
        "CONNECTION_NOT_ALLOWED" => "Freight's connection policy refuses the named address or path (Freight's own databases and services, link-local and metadata addresses, addresses outside the operators' allow list, SQLite paths outside the tenant's directory, system catalogs such as pg_catalog or mysql as the schema): use another source, target, schema or URL; retrying the same one will not help.".to_owned(),
        "PLAN_TOO_LARGE" => "the plan would exceed Freight's limits: follow the detail (a larger batch_size, fewer tables, or a shorter key named in key_columns) and call again.".to_owned(),
        "PLAN_TIMEOUT" => "planning took longer than Freight allows: name fewer tables, or try again when the source is less busy.".to_owned(),
        _ => "the API failed internally; retrying the same call is unlikely to help — report it to the Freight operators.".to_owned(),
    }
}

/// How to get the rest of a cut text response.
fn paging_note(def: &ToolDef, url: &str) -> String {
    let paging: Vec<String> = def
        .arguments
        .iter()
        .filter(|a| {
            a.location == Location::Query && PAGING_ARGUMENTS.contains(&a.api_name.as_str())
        })
        .map(|a| format!("`{}`", a.name))
        .collect();
    if paging.is_empty() {
        format!(
            "To see the rest, narrow the request (e.g. use a list tool with limit/offset such as get_migration_logs) or fetch the full response directly from {url}."
        )
    } else {
        format!(
            "To see the rest, call `{}` again with {} to page or narrow the output.",
            def.name,
            paging.join(", ")
        )
    }
}

/// `text` cut to at most `budget` bytes (at a line end where possible), plus a note.
pub fn truncate(text: &str, budget: usize, how_to_page: &str) -> String {
    if text.len() <= budget {
        return text.to_owned();
    }
    let mut cut = budget;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    if let Some(newline) = text[..cut].rfind('\n')
        && newline >= budget / 2
    {
        cut = newline + 1;
    }
    let shown = &text[..cut];
    let total_lines = text.lines().count();
    let shown_lines = shown.lines().count();
    format!(
        "{shown}\n[freight-mcp: output truncated: showing {shown_lines} of {total_lines} lines ({cut} of {} bytes). {how_to_page}]",
        text.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::generate;

    fn def(name: &str) -> ToolDef {
        let spec: Value =
            serde_json::from_str(include_str!("../../openapi/freight.json")).expect("json");
        generate(&spec)
            .expect("generates")
            .into_iter()
            .find(|d| d.name == name)
            .expect("tool exists")
    }

    fn response<'a>(status: u16, content_type: &'a str, body: &'a str) -> ApiResponse<'a> {
        ApiResponse {
            status,
            content_type: Some(content_type),
            retry_after: None,
            body,
            url: "http://api.test/x",
        }
    }

    fn text(result: &CallToolResult) -> &str {
        result.content[0]
            .as_text()
            .map(|t| t.text.as_str())
            .unwrap_or("")
    }

    #[test]
    fn json_objects_are_structured_content_with_a_text_copy() {
        let body = r#"{"id":"1","status":"running"}"#;
        let result = to_result(
            &def("get_migration_job"),
            &response(200, "application/json", body),
            1000,
        );
        assert_eq!(result.is_error, Some(false));
        assert_eq!(
            result.structured_content,
            Some(json!({"id": "1", "status": "running"}))
        );
        let copy: Value = serde_json::from_str(text(&result)).expect("text is JSON");
        assert_eq!(copy["status"], "running");
    }

    #[test]
    fn json_arrays_are_wrapped_as_result() {
        let result = to_result(
            &def("list_job_batches"),
            &response(200, "application/json", "[1,2]"),
            1000,
        );
        assert_eq!(result.structured_content, Some(json!({"result": [1, 2]})));
    }

    #[test]
    fn csv_is_text_and_cut_with_a_paging_note() {
        let csv: String = (0..100).map(|i| format!("{i},line {i}\n")).collect();
        let result = to_result(
            &def("export_migration_logs"),
            &response(200, "text/csv", &csv),
            300,
        );
        assert_eq!(result.is_error, Some(false));
        assert_eq!(result.structured_content, None);
        let t = text(&result);
        assert!(t.starts_with("0,line 0\n"));
        assert!(t.contains("output truncated: showing"), "{t}");
        assert!(t.contains(&format!("of {} bytes", csv.len())));
        let kept = t.split("\n[freight-mcp").next().unwrap_or("");
        assert!(
            kept.len() <= 300 && kept.ends_with('\n'),
            "cut at a line end"
        );

        let small = to_result(
            &def("export_migration_logs"),
            &response(200, "text/csv", "a,b\n"),
            300,
        );
        assert_eq!(text(&small), "a,b\n");
    }

    #[test]
    fn truncation_note_names_paging_arguments_when_the_tool_has_them() {
        let long = "x\n".repeat(400);
        let t = truncate(&long, 300, &paging_note(&def("get_migration_logs"), "u"));
        assert!(t.contains("call `get_migration_logs` again with `"), "{t}");
        // Its query arguments that page or narrow, not the path's job id.
        for named in ["`level`", "`since`", "`limit`", "`cursor`"] {
            assert!(t.contains(named), "{named} in {t}");
        }
        assert!(!t.contains("`job_id`"), "{t}");
        let t = truncate("é".repeat(200).as_str(), 301, "note");
        assert!(
            t.contains("note"),
            "multi-byte text is cut on a char boundary"
        );
    }

    #[test]
    fn problems_become_error_results_with_code_detail_and_hint() {
        let body = r#"{"type":"about:blank","title":"Conflict","status":409,"detail":"job is completed","code":"CONFLICT"}"#;
        let result = to_result(
            &def("cancel_migration_job"),
            &response(409, "application/problem+json", body),
            1000,
        );
        assert_eq!(result.is_error, Some(true));
        let t = text(&result);
        assert!(
            t.starts_with("Freight API error: HTTP 409 CONFLICT: Conflict — job is completed"),
            "{t}"
        );
        assert!(t.contains("\nHint: the object is not in a state"));
    }

    #[test]
    fn refused_connections_and_plan_limits_get_their_own_hints() {
        for (code, expected) in [
            ("CONNECTION_NOT_ALLOWED", "connection policy refuses"),
            ("PLAN_TOO_LARGE", "larger batch_size"),
            ("PLAN_TIMEOUT", "fewer tables"),
        ] {
            let body = format!(r#"{{"title":"Refused","status":422,"code":"{code}"}}"#);
            let refused = response(422, "application/problem+json", &body);
            let result = problem_result(&refused);
            let t = text(&result);
            assert!(t.contains(expected), "{code}: {t}");
            assert!(!t.contains("failed internally"), "{code}: {t}");
        }
    }

    #[test]
    fn validation_errors_list_fields() {
        let body = r#"{"title":"Invalid","status":422,"code":"VALIDATION_ERROR","errors":[{"field":"tables","message":"must not be empty"}]}"#;
        let result = problem_result(&response(422, "application/problem+json", body));
        assert!(text(&result).contains("\n  - tables: must not be empty"));
    }

    #[test]
    fn non_problem_errors_fall_back_to_the_status() {
        let result = problem_result(&response(502, "text/html", "<html>bad gateway</html>"));
        let t = text(&result);
        assert!(t.contains("HTTP 502 UNAVAILABLE"), "{t}");
        assert!(t.contains("<html>bad gateway</html>"));
        let mut limited = response(
            429,
            "application/problem+json",
            r#"{"code":"RATE_LIMITED","title":"Slow down"}"#,
        );
        limited.retry_after = Some("7");
        assert!(text(&problem_result(&limited)).contains("wait 7 s"));
    }

    #[test]
    fn unreachable_names_the_url() {
        let result = unreachable_result("http://localhost:1", "connection refused");
        assert_eq!(result.is_error, Some(true));
        assert!(text(&result).contains("The Freight API at http://localhost:1 is unreachable"));
    }
}
