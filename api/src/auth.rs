//! The only way a handler learns who calls and for which tenant: the
//! [`TenantContext`] extractor checks the bearer token and the
//! `X-Tenant-ID` header together; [`AdminContext`] checks for the admin role.

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::{AUTHORIZATION, USER_AGENT};
use axum::http::request::Parts;
use freight_core::TenantId;
use freight_core::store::AuditInfo;
use freight_core::tokens::{Claims, Role, TokenError};
use std::net::SocketAddr;

use crate::error::ApiError;
use crate::state::AppState;

pub const TENANT_HEADER: &str = "x-tenant-id";

/// An authenticated caller acting for one tenant it is granted.
#[derive(Debug, Clone)]
pub struct TenantContext {
    pub tenant: TenantId,
    pub claims: Claims,
    pub audit: AuditInfo,
}

/// An authenticated caller with the admin role.
#[derive(Debug, Clone)]
pub struct AdminContext {
    pub claims: Claims,
}

fn bearer_claims(parts: &Parts, state: &AppState) -> Result<Claims, ApiError> {
    let header = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or(ApiError::Unauthorized(
            "missing Authorization: Bearer token",
        ))?;
    let token = header
        .to_str()
        .ok()
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::Unauthorized(
            "Authorization must be `Bearer <token>`",
        ))?;
    state.tokens.verify(token).map_err(|e| match e {
        TokenError::Expired => ApiError::Unauthorized("token expired"),
        TokenError::Invalid => ApiError::Unauthorized("token invalid"),
    })
}

fn audit_info(parts: &Parts, claims: &Claims) -> AuditInfo {
    let ip = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string());
    let user_agent = parts
        .headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(512).collect());
    AuditInfo {
        actor: claims.sub.clone(),
        role: claims.role,
        ip,
        user_agent,
    }
}

impl FromRequestParts<AppState> for TenantContext {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let claims = bearer_claims(parts, state)?;
        let raw = parts
            .headers
            .get(TENANT_HEADER)
            .ok_or_else(|| ApiError::BadRequest("missing X-Tenant-ID header".into()))?;
        let tenant = raw
            .to_str()
            .ok()
            .and_then(|raw| TenantId::parse(raw).ok())
            .ok_or_else(|| {
                ApiError::BadRequest(
                    "malformed X-Tenant-ID: 1-63 characters of [a-z0-9_-], starting with a letter or digit"
                        .into(),
                )
            })?;
        if !claims.grants(tenant.as_str()) {
            return Err(ApiError::Forbidden(format!(
                "token does not grant tenant {tenant}"
            )));
        }
        let audit = audit_info(parts, &claims);
        Ok(Self {
            tenant,
            claims,
            audit,
        })
    }
}

impl FromRequestParts<AppState> for AdminContext {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let claims = bearer_claims(parts, state)?;
        if claims.role != Role::Admin {
            return Err(ApiError::Forbidden("admin role required".into()));
        }
        Ok(Self { claims })
    }
}
