//! The only way a handler learns who calls and for which tenant: the
//! [`TenantContext`] extractor checks the bearer token and the
//! `X-Tenant-ID` header together; [`AdminContext`] checks for the admin role.

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
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

/// The token of an `Authorization: Bearer <token>` header.
///
/// The one parser of that header: the extractors below and the rate limiter
/// both call it, so what authenticates is always what is counted. The scheme
/// is case-insensitive (RFC 9110 §11.1), separated from the token by one or
/// more spaces; the token itself is returned trimmed and never empty.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, BearerError> {
    let header = headers.get(AUTHORIZATION).ok_or(BearerError::Missing)?;
    let (scheme, token) = header
        .to_str()
        .ok()
        .and_then(|value| value.split_once(' '))
        .ok_or(BearerError::Malformed)?;
    let token = token.trim();
    if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() {
        Ok(token)
    } else {
        Err(BearerError::Malformed)
    }
}

/// Why a request carries no bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerError {
    /// No `Authorization` header.
    Missing,
    /// Another scheme, or no token after `Bearer`.
    Malformed,
}

fn bearer_claims(parts: &Parts, state: &AppState) -> Result<Claims, ApiError> {
    let token = bearer_token(&parts.headers).map_err(|e| match e {
        BearerError::Missing => ApiError::Unauthorized("missing Authorization: Bearer token"),
        BearerError::Malformed => ApiError::Unauthorized("Authorization must be `Bearer <token>`"),
    })?;
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

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn token_of(value: &str) -> Result<String, BearerError> {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(value).expect("header"));
        bearer_token(&headers).map(str::to_owned)
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_the_token_trimmed() {
        for value in ["Bearer abc", "bearer abc", "BEARER abc", "bEaReR   abc  "] {
            assert_eq!(token_of(value), Ok("abc".into()), "{value}");
        }
        for value in ["Basic abc", "Bearer", "Bearer   ", "Bearerabc", "Token abc"] {
            assert_eq!(token_of(value), Err(BearerError::Malformed), "{value}");
        }
        assert_eq!(bearer_token(&HeaderMap::new()), Err(BearerError::Missing));
    }
}
