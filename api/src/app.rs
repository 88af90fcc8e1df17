//! The router that serves and the OpenAPI document, built from one source.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::response::IntoResponse;
use axum::routing::get;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::error::ApiError;
use crate::routes::{audit, events, health, jobs, logs, statistics, validation, webhooks, workers};
use crate::state::AppState;

/// Request bodies above this are refused with 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Freight",
        description = "Migration-control service: tenant-scoped jobs that copy tables between PostgreSQL, MySQL/MariaDB and SQLite in batches. Every /api/v1 request needs `Authorization: Bearer <JWT>` and `X-Tenant-ID`."
    ),
    modifiers(&BearerAuth),
    // Schemas only referenced from query parameters or from `contract.rs` are not collected by `routes!`.
    components(schemas(crate::error::Problem, crate::routes::logs::ExportFormat, freight_core::job::LogLevel, freight_core::job::JobStatus, freight_core::job::BatchStatus)),
    tags(
        (name = "jobs", description = "Migration jobs and their batches"),
        (name = "logs", description = "Record-level job logs"),
        (name = "statistics", description = "Aggregates over jobs"),
        (name = "workers", description = "Worker fleet"),
        (name = "audit", description = "Audit trail"),
        (name = "webhooks", description = "Signed notifications when jobs finish"),
        (name = "admin", description = "Cross-tenant administration"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("JWT")
                        .build(),
                ),
            );
        }
    }
}

fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(
            jobs::create_migration_job,
            jobs::list_migration_jobs
        ))
        .routes(routes!(jobs::plan_migration_job))
        .routes(routes!(jobs::get_migration_job))
        .routes(routes!(jobs::list_job_batches))
        .routes(routes!(jobs::retry_migration_job))
        .routes(routes!(jobs::cancel_migration_job))
        .routes(routes!(events::stream_job_events))
        .routes(routes!(webhooks::create_webhook, webhooks::list_webhooks))
        .routes(routes!(webhooks::delete_webhook))
        .routes(routes!(webhooks::list_webhook_deliveries))
        .routes(routes!(validation::validate_migration_job))
        .routes(routes!(logs::get_migration_logs))
        .routes(routes!(logs::export_migration_logs))
        .routes(routes!(statistics::get_job_statistics))
        .routes(routes!(statistics::get_tenant_statistics))
        .routes(routes!(workers::get_worker_status))
        .routes(routes!(audit::list_audit_events))
        .routes(routes!(health::health_check))
        .routes(routes!(health::readiness_check))
}

/// The OpenAPI document of the API, as served at `/openapi.json`: what the
/// router declares, plus what every operation shares (`crate::contract`).
pub fn openapi() -> serde_json::Value {
    finished(api_routes().split_for_parts().1)
}

fn finished(api: utoipa::openapi::OpenApi) -> serde_json::Value {
    let mut spec = serde_json::to_value(api).unwrap_or_default();
    crate::contract::finish(&mut spec);
    spec
}

/// The spec as committed in `openapi/freight.json`.
pub fn openapi_json() -> String {
    spec_text(&openapi())
}

fn spec_text(spec: &serde_json::Value) -> String {
    let mut json = serde_json::to_string_pretty(spec).unwrap_or_default();
    json.push('\n');
    json
}

/// Path of the interactive docs. Swagger UI's files are compiled into the
/// binary (`utoipa-swagger-ui`'s vendored copy): loading the page makes no
/// request beyond this server.
pub const DOCS_PATH: &str = "/docs";

/// What the docs page may do: run Swagger UI's own files (all served from
/// here, no inline script), load its stylesheets and the icons it inlines
/// as `data:` images, fetch the spec and send "Try it out" requests to
/// this server; nothing else, and no framing. Inline styles are allowed:
/// Swagger UI's bundle inserts a `<style>` element (styles run no code).
pub const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                            img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
                            form-action 'self'; frame-ancestors 'none'";

fn docs<S: Clone + Send + Sync + 'static>() -> Router<S> {
    // `validator_url("none")`: Swagger UI would otherwise send the spec to
    // validator.swagger.io for a badge.
    let swagger = SwaggerUi::new(DOCS_PATH).config(
        Config::from("/openapi.json")
            .validator_url("none")
            .try_it_out_enabled(true),
    );
    Router::from(swagger).layer(axum::middleware::map_response(
        |mut response: axum::response::Response| async move {
            let headers = response.headers_mut();
            headers.insert(
                axum::http::header::CONTENT_SECURITY_POLICY,
                axum::http::HeaderValue::from_static(DOCS_CSP),
            );
            headers.insert(
                axum::http::header::X_CONTENT_TYPE_OPTIONS,
                axum::http::HeaderValue::from_static("nosniff"),
            );
            response
        },
    ))
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

/// The complete application: API, spec, docs, middleware.
pub fn app(state: AppState) -> Router {
    let (router, api) = api_routes().split_for_parts();
    let spec = spec_text(&finished(api));
    // Layers added to the API router run after routing, so MatchedPath is known.
    let router = router
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::rate_limit::enforce,
        ))
        .layer(axum::middleware::from_fn(crate::http_metrics::record));
    let request_id = HeaderName::from_static("x-request-id");
    router
        .route(
            "/openapi.json",
            get(move || async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], spec).into_response() }),
        )
        .merge(docs())
        .merge(crate::ui::routes())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(crate::error::scope_request_id))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let request_id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                // The path only, never the query: it may carry filters, never secrets, but keep logs lean.
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id)
            }),
        )
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains
/// in-flight requests for at most `grace`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let (drain_tx, drain_rx) = tokio::sync::oneshot::channel::<()>();
    let server_state = state.clone();
    let server = axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        server_state.begin_shutdown();
        let _ = drain_tx.send(());
    });
    let server = std::pin::pin!(server.into_future());
    tokio::select! {
        result = server => result,
        () = async {
            let _ = drain_rx.await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(grace_seconds = grace.as_secs(), "requests still in flight after the grace period; exiting");
            Ok(())
        }
    }
}
