//! Record-level job logs: paged, and exported as a stream of any size.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use freight_core::JobId;
use freight_core::ids::BatchId;
use freight_core::job::LogLevel;
use freight_core::store::*;
use futures::StreamExt;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::auth::TenantContext;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;

/// Filters and paging of `get_migration_logs`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// Minimum severity: `warn` returns warnings and errors.
    pub level: Option<LogLevel>,
    /// Only entries of this batch.
    pub batch_id: Option<BatchId>,
    /// Only entries logged at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Page size, 1-1000; default 50.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page of this list: an opaque token
    /// made by the server; anything else (a cursor of another list
    /// included) is a 400.
    #[param(min_length = 1, pattern = "^[A-Za-z0-9_-]+$")]
    pub cursor: Option<String>,
}

super::list_page!(
    /// A page of log entries, oldest first.
    LogList of LogEntry, items: "Entries on this page."
);

/// Export file format.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// Comma-separated values with a header row.
    #[default]
    Csv,
    /// Newline-delimited JSON, one entry per line.
    Json,
}

/// Options of `export_migration_logs`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `csv` (default) or `json` (newline-delimited).
    pub format: Option<ExportFormat>,
    /// Minimum severity.
    pub level: Option<LogLevel>,
    /// Only entries of this batch.
    pub batch_id: Option<BatchId>,
    /// Only entries logged at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
}

/// Get the logs of a job
///
/// Record-level log of a job: every rejected record with its table, key,
/// column and the database's error, plus job events such as plan warnings,
/// retries and verification mismatches. Filter by `level` (minimum),
/// `batch_id` and `since`; paginated by cursor.
#[utoipa::path(
    get, path = "/api/v1/jobs/{job_id}/logs", operation_id = "get_migration_logs", tag = "logs",
    params(("X-Tenant-ID" = String, Header, description = "Tenant to act for"), ("job_id" = uuid::Uuid, Path, description = "Job id: the `id` returned by `create_migration_job`", example = "0192f4a1-7c3e-7b1a-9d2e-5f6a7b8c9d0e"), LogsQuery),
    responses(
        (status = 200, description = "A page of log entries", body = LogList),
        (status = 422, description = "`limit` out of range (1-1000) (`VALIDATION_ERROR`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_migration_logs(
    State(state): State<AppState>,
    ctx: TenantContext,
    ApiPath(job_id): ApiPath<JobId>,
    ApiQuery(query): ApiQuery<LogsQuery>,
) -> Result<axum::Json<LogList>, ApiError> {
    let after_id = super::decode_cursor(query.cursor.as_deref(), parse_log_cursor)?;
    let filter = LogFilter {
        min_level: query.level,
        batch_id: query.batch_id,
        since: query.since,
        limit: super::page_limit(query.limit)?,
        after_id,
    };
    let page = state.store.list_logs(&ctx.tenant, job_id, &filter).await?;
    Ok(axum::Json(LogList::from(page)))
}

const CSV_HEADER: &[&str] = &[
    "id",
    "created_at",
    "level",
    "batch_id",
    "table_name",
    "record_key",
    "column_name",
    "message",
];

fn csv_line(fields: &[String]) -> Bytes {
    let mut writer = csv::Writer::from_writer(Vec::with_capacity(256));
    // Writing to a Vec cannot fail.
    let _ = writer.write_record(fields);
    Bytes::from(writer.into_inner().unwrap_or_default())
}

fn entry_as_csv(entry: &LogEntry) -> Bytes {
    csv_line(&[
        entry.id.to_string(),
        entry.created_at.to_rfc3339(),
        entry.level.as_str().to_owned(),
        entry.batch_id.map(|b| b.to_string()).unwrap_or_default(),
        entry.table_name.clone().unwrap_or_default(),
        entry
            .record_key
            .as_ref()
            .map(|k| k.to_string())
            .unwrap_or_default(),
        entry.column_name.clone().unwrap_or_default(),
        entry.message.clone(),
    ])
}

fn entry_as_json_line(entry: &LogEntry) -> Bytes {
    let mut line = serde_json::to_vec(entry).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

/// Export the logs of a job
///
/// Streams every log entry of a job matching the filters as a file
/// download (`Content-Disposition: attachment`): CSV with a header row, or
/// newline-delimited JSON. Works for logs of any size without paging.
#[utoipa::path(
    get, path = "/api/v1/jobs/{job_id}/logs/export", operation_id = "export_migration_logs", tag = "logs",
    params(("X-Tenant-ID" = String, Header, description = "Tenant to act for"), ("job_id" = uuid::Uuid, Path, description = "Job id: the `id` returned by `create_migration_job`", example = "0192f4a1-7c3e-7b1a-9d2e-5f6a7b8c9d0e"), ExportQuery),
    responses(
        (status = 200, description = "The log file", content(
            (String = "text/csv"),
            (String = "application/x-ndjson"),
        )),
    ),
    security(("bearer" = []))
)]
pub async fn export_migration_logs(
    State(state): State<AppState>,
    ctx: TenantContext,
    ApiPath(job_id): ApiPath<JobId>,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    let format = query.format.unwrap_or_default();
    let filter = LogFilter {
        min_level: query.level,
        batch_id: query.batch_id,
        since: query.since,
        limit: 0,
        after_id: None,
    };
    let entries = state.store.stream_logs(&ctx.tenant, job_id, filter).await?;
    let (content_type, extension) = match format {
        ExportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
        ExportFormat::Json => ("application/x-ndjson", "ndjson"),
    };
    let lines = entries.map(move |entry| {
        entry
            .map(|e| match format {
                ExportFormat::Csv => entry_as_csv(&e),
                ExportFormat::Json => entry_as_json_line(&e),
            })
            .map_err(|e| {
                // The status line is already sent: abort the body so the client sees a truncated download.
                tracing::error!(error = %e, %job_id, "log export failed mid-stream");
                std::io::Error::other("log export failed")
            })
    });
    let body = match format {
        ExportFormat::Csv => {
            let header = csv_line(
                &CSV_HEADER
                    .iter()
                    .map(|h| (*h).to_owned())
                    .collect::<Vec<_>>(),
            );
            Body::from_stream(futures::stream::once(async move { Ok(header) }).chain(lines))
        }
        ExportFormat::Json => Body::from_stream(lines),
    };
    let disposition = format!("attachment; filename=\"job-{job_id}-logs.{extension}\"");
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}
