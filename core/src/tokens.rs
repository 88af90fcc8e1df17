//! JWT access tokens: which tenants a bearer may act for, and as what role.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// What a token's bearer may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Acts within the tenants the token lists.
    Engineer,
    /// May act for any tenant and use the admin routes.
    Admin,
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "engineer" => Ok(Self::Engineer),
            "admin" => Ok(Self::Admin),
            other => Err(format!("unknown role {other:?}: use engineer or admin")),
        }
    }
}

/// The claims Freight puts in and expects from a token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Who acts: recorded as the actor of audit events.
    pub sub: String,
    /// Tenants this token grants.
    pub tenants: Vec<String>,
    pub role: Role,
    pub iat: i64,
    pub exp: i64,
}

impl Claims {
    /// Whether the bearer may act for `tenant`.
    pub fn grants(&self, tenant: &str) -> bool {
        self.role == Role::Admin || self.tenants.iter().any(|t| t == tenant)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token expired")]
    Expired,
    #[error("token invalid")]
    Invalid,
}

/// Signs and checks tokens with the configured HMAC secret.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(***)")
    }
}

impl TokenKeys {
    pub fn new(secret: &str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
        }
    }

    pub fn mint(
        &self,
        subject: &str,
        tenants: &[String],
        role: Role,
        ttl: chrono::Duration,
    ) -> Result<String, TokenError> {
        let now = chrono::Utc::now();
        let claims = Claims {
            sub: subject.to_owned(),
            tenants: tenants.to_vec(),
            role,
            iat: now.timestamp(),
            exp: (now + ttl).timestamp(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| TokenError::Invalid)
    }

    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_tampering_and_expiry() {
        let keys = TokenKeys::new("test-secret");
        let token = keys
            .mint(
                "alice",
                &["acme".into()],
                Role::Engineer,
                chrono::Duration::hours(1),
            )
            .unwrap();
        let claims = keys.verify(&token).unwrap();
        assert!(claims.grants("acme"));
        assert!(!claims.grants("globex"));
        assert!(matches!(
            TokenKeys::new("other").verify(&token),
            Err(TokenError::Invalid)
        ));
        let expired = keys
            .mint("alice", &[], Role::Admin, chrono::Duration::hours(-1))
            .unwrap();
        assert!(matches!(keys.verify(&expired), Err(TokenError::Expired)));
    }
}
