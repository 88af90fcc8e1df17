//! Newtype identifiers: parsed once at the edge, passed typed inside.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::ValidationError;

/// A tenant identifier: 1–63 characters of `[a-z0-9_-]`, starting with a
/// letter or digit. The narrow alphabet keeps it safe in headers, logs and
/// metric labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let valid_len = (1..=63).contains(&raw.len());
        let valid_start = raw
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let valid_chars = raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if valid_len && valid_start && valid_chars {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ValidationError::single(
                "X-Tenant-ID",
                "must be 1-63 characters of [a-z0-9_-], starting with a letter or digit",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantId {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<TenantId> for String {
    fn from(value: TenantId) -> Self {
        value.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema, sqlx::Type)]
        #[serde(transparent)]
        #[sqlx(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new time-ordered (v7) identifier.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// Identifies a migration job.
    JobId
);
uuid_id!(
    /// Identifies one batch (a fixed key range of one table) of a job.
    BatchId
);
uuid_id!(
    /// Identifies a webhook endpoint of a tenant.
    WebhookId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_accept_the_documented_alphabet_only() {
        assert!(TenantId::parse("acme").is_ok());
        assert!(TenantId::parse("acme-eu_1").is_ok());
        assert!(TenantId::parse("").is_err());
        assert!(TenantId::parse("-acme").is_err());
        assert!(TenantId::parse("Acme").is_err());
        assert!(TenantId::parse("acme corp").is_err());
        assert!(TenantId::parse(&"a".repeat(64)).is_err());
    }
}
