//! Webhooks: endpoints a tenant registers to be told when its jobs finish.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use freight_core::ValidationError;
use freight_core::ids::WebhookId;
use freight_core::store::{
    DeliveryFilter, DeliveryStatus, NewWebhook, WebhookCreated, WebhookDelivery, WebhookRecord,
    parse_delivery_cursor,
};
use freight_core::webhooks::{MAX_URL_LEN, WebhookEventType, check_url, url_pattern};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::TenantContext;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

/// Body of `create_webhook`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://hooks.example.com/freight", "events": ["job.completed", "job.failed"]}))]
pub struct CreateWebhookBody {
    /// `http` or `https` endpoint that receives a POST per event: at most
    /// 2048 characters of those a URI may hold (ASCII, no spaces:
    /// percent-encode the rest), naming a host, without credentials. Its
    /// host must also pass the installation's connection policy (resolve,
    /// to an allowed address).
    #[schema(value_type = WebhookUrl)]
    pub url: String,
    /// Events to deliver (at least one).
    #[schema(example = json!(["job.completed", "job.failed"]), min_items = 1)]
    pub events: Vec<WebhookEventType>,
}

/// The schema of a webhook URL: the form [`check_url`] accepts (schema
/// only; the field is a `String`).
pub struct WebhookUrl;

impl utoipa::PartialSchema for WebhookUrl {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "An absolute `http` or `https` URI: at most 2048 characters, a host, no credentials",
            ))
            .format(Some(SchemaFormat::Custom("uri".into())))
            .max_length(Some(MAX_URL_LEN))
            .pattern(Some(url_pattern()))
            .examples(["https://hooks.example.com/freight"])
            .into()
    }
}

impl ToSchema for WebhookUrl {}

/// The tenant's webhooks, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    pub items: Vec<WebhookRecord>,
}

/// Filters and paging of `list_webhook_deliveries`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// Only deliveries in this state.
    pub status: Option<DeliveryStatus>,
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
    /// A page of deliveries, newest first.
    DeliveryList of WebhookDelivery, items: "Deliveries on this page."
);

/// Register a webhook
///
/// Freight POSTs a JSON message to `url` whenever one of `events` happens
/// to one of the tenant's jobs, signed per the Standard Webhooks
/// specification (`webhook-id`, `webhook-timestamp`, `webhook-signature:
/// v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed with the base64
/// part of the `secret`). The secret is shown only in this response.
/// Deliveries are retried with backoff until the endpoint answers 2xx;
/// `webhook-id` is the same on every attempt.
#[utoipa::path(
    post, path = "/api/v1/webhooks", operation_id = "create_webhook", tag = "webhooks",
    params(("X-Tenant-ID" = String, Header, description = "Tenant to act for")),
    request_body = CreateWebhookBody,
    responses(
        (status = 201, description = "Webhook registered; `secret` is shown only now", body = WebhookCreated),
        (status = 422, description = "A malformed URL (not http or https, credentials, no host) or no events (`VALIDATION_ERROR`), or a URL whose host the connection policy refuses: it does not resolve, or not to an allowed address (`CONNECTION_NOT_ALLOWED`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create_webhook(
    State(state): State<AppState>,
    ctx: TenantContext,
    ApiJson(body): ApiJson<CreateWebhookBody>,
) -> Result<impl IntoResponse, ApiError> {
    check_url(&body.url).map_err(|message| ValidationError::single("url", message))?;
    if body.events.is_empty() {
        return Err(ValidationError::single("events", "name at least one event").into());
    }
    let mut events = body.events;
    events.sort_by_key(|e| e.as_str());
    events.dedup();
    state
        .connection_policy
        .vet_url("url", &body.url)
        .await
        .map_err(|v| ApiError::ConnectionNotAllowed(ValidationError::single(v.field, v.message)))?;
    let created = state
        .store
        .create_webhook(
            &ctx.tenant,
            &NewWebhook {
                url: body.url,
                events,
            },
            &ctx.audit,
        )
        .await?;
    tracing::info!(tenant = %ctx.tenant, webhook_id = %created.webhook.id, "webhook created");
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// List webhooks
///
/// The tenant's webhooks, newest first, without their secrets.
#[utoipa::path(
    get, path = "/api/v1/webhooks", operation_id = "list_webhooks", tag = "webhooks",
    params(("X-Tenant-ID" = String, Header, description = "Tenant to act for")),
    responses(
        (status = 200, description = "The webhooks", body = WebhookList),
    ),
    security(("bearer" = []))
)]
pub async fn list_webhooks(
    State(state): State<AppState>,
    ctx: TenantContext,
) -> Result<axum::Json<WebhookList>, ApiError> {
    let items = state.store.list_webhooks(&ctx.tenant).await?;
    Ok(axum::Json(WebhookList { items }))
}

/// Delete a webhook
///
/// Stops deliveries to it; pending ones are dropped with it.
#[utoipa::path(
    delete, path = "/api/v1/webhooks/{webhook_id}", operation_id = "delete_webhook", tag = "webhooks",
    params(("X-Tenant-ID" = String, Header, description = "Tenant to act for"), ("webhook_id" = uuid::Uuid, Path, description = "Webhook id: the `id` returned by `create_webhook`", example = "0192f4a1-7c3e-7b1a-9d2e-5f6a7b8c9d0f")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such webhook for this tenant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn delete_webhook(
    State(state): State<AppState>,
    ctx: TenantContext,
    ApiPath(webhook_id): ApiPath<WebhookId>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .delete_webhook(&ctx.tenant, webhook_id, &ctx.audit)
        .await
        .map_err(not_found)?;
    Ok(StatusCode::NO_CONTENT)
}

/// List the deliveries of a webhook
///
/// Every message sent (or still to send) to the webhook, newest first, with
/// its attempts, the last HTTP status and the last error.
#[utoipa::path(
    get, path = "/api/v1/webhooks/{webhook_id}/deliveries", operation_id = "list_webhook_deliveries", tag = "webhooks",
    params(("X-Tenant-ID" = String, Header, description = "Tenant to act for"), ("webhook_id" = uuid::Uuid, Path, description = "Webhook id: the `id` returned by `create_webhook`", example = "0192f4a1-7c3e-7b1a-9d2e-5f6a7b8c9d0f"), DeliveriesQuery),
    responses(
        (status = 200, description = "A page of deliveries", body = DeliveryList),
        (status = 404, description = "No such webhook for this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`limit` out of range (1-1000) (`VALIDATION_ERROR`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list_webhook_deliveries(
    State(state): State<AppState>,
    ctx: TenantContext,
    ApiPath(webhook_id): ApiPath<WebhookId>,
    ApiQuery(query): ApiQuery<DeliveriesQuery>,
) -> Result<axum::Json<DeliveryList>, ApiError> {
    let before = super::decode_cursor(query.cursor.as_deref(), parse_delivery_cursor)?;
    let filter = DeliveryFilter {
        status: query.status,
        limit: super::page_limit(query.limit)?,
        before,
    };
    let page = state
        .store
        .list_webhook_deliveries(&ctx.tenant, webhook_id, &filter)
        .await
        .map_err(not_found)?;
    Ok(axum::Json(DeliveryList::from(page)))
}

fn not_found(e: freight_core::StoreError) -> ApiError {
    match e {
        freight_core::StoreError::NotFound => {
            ApiError::NotFound("no such webhook for this tenant".into())
        }
        other => other.into(),
    }
}
