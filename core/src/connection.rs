//! Source and target connection settings, as a tenant submits them and as
//! they are shown back (never with a password in it).

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::Validator;

/// Database engine of a source or target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseKind {
    /// PostgreSQL (any supported version).
    Postgresql,
    /// MySQL or MariaDB.
    Mysql,
    /// SQLite database file.
    Sqlite,
}

impl DatabaseKind {
    fn default_port(self) -> Option<u16> {
        match self {
            Self::Postgresql => Some(5432),
            Self::Mysql => Some(3306),
            Self::Sqlite => None,
        }
    }

    fn url_schemes(self) -> &'static [&'static str] {
        match self {
            Self::Postgresql => &["postgres", "postgresql"],
            Self::Mysql => &["mysql", "mariadb"],
            Self::Sqlite => &["sqlite"],
        }
    }
}

/// A secret string: `Debug` and `Display` never print it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

/// How to reach a source or target database: either a `url`, or
/// `host`/`port`/`database`/`user`/`password` (plus `schema` for PostgreSQL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionConfig {
    /// Database engine: `postgresql`, `mysql` (MariaDB too) or `sqlite`.
    #[serde(rename = "type")]
    pub kind: DatabaseKind,
    /// Full connection URL (e.g. `mysql://user:pass@host:3306/db`,
    /// `sqlite:///data/app.db`). Mutually exclusive with `host`.
    #[schema(value_type = Option<String>)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Secret>,
    /// Server host name or address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Server port; defaults to 5432 (PostgreSQL) or 3306 (MySQL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Database name (for SQLite: the database file path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// User name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Password; stored encrypted and never shown back.
    #[schema(value_type = Option<String>, format = Password)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// PostgreSQL schema holding the tables; default `public`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
}

/// A connection config as shown back: the password replaced by `***`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConnectionView {
    /// Database engine.
    #[serde(rename = "type")]
    pub kind: DatabaseKind,
    /// Connection URL with its password replaced by `***`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Server host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Server port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Database name or SQLite file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// User name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Always `***` when a password was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// PostgreSQL schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
}

const MASK: &str = "***";

impl ConnectionConfig {
    /// Checks the config, reporting problems under `prefix` (e.g. `source_config`).
    pub fn validate(&self, prefix: &str, v: &mut Validator) {
        let field = |name: &str| format!("{prefix}.{name}");
        match (&self.url, &self.host) {
            (Some(_), Some(_)) => v.push(field("url"), "give either url or host, not both"),
            (None, None) if self.kind != DatabaseKind::Sqlite => {
                v.push(field("url"), "give either url or host/database/user")
            }
            (None, None) => v.check(
                self.database.is_some(),
                field("database"),
                "sqlite needs url or database (the file path)",
            ),
            (Some(url), None) => {
                let scheme_ok = self
                    .kind
                    .url_schemes()
                    .iter()
                    .any(|s| url.expose().starts_with(&format!("{s}:")));
                v.check(
                    scheme_ok,
                    field("url"),
                    format!("url scheme must be one of {:?}", self.kind.url_schemes()),
                );
            }
            (None, Some(host)) => {
                v.check(!host.trim().is_empty(), field("host"), "must not be empty");
                v.check(
                    self.database.is_some(),
                    field("database"),
                    "required with host",
                );
                v.check(self.user.is_some(), field("user"), "required with host");
            }
        }
        if self.schema.is_some() && self.kind != DatabaseKind::Postgresql {
            v.push(field("schema"), "only PostgreSQL connections take a schema");
        }
        if let Some(schema) = &self.schema {
            v.check(
                !schema.is_empty() && schema.len() <= 63,
                field("schema"),
                "must be 1-63 characters",
            );
        }
        if self.port == Some(0) {
            v.push(field("port"), "must be 1-65535");
        }
    }

    /// The PostgreSQL schema to read or write, `public` unless given.
    pub fn schema_or_default(&self) -> &str {
        self.schema.as_deref().unwrap_or("public")
    }

    /// A sqlx connection URL for this config, secrets included: only for
    /// opening connections, never for display.
    pub fn connection_url(&self) -> String {
        if let Some(url) = &self.url {
            return url.expose().to_owned();
        }
        let db = self.database.as_deref().unwrap_or_default();
        if self.kind == DatabaseKind::Sqlite {
            return format!("sqlite://{db}");
        }
        let scheme = self.kind.url_schemes()[0];
        let host = self.host.as_deref().unwrap_or("localhost");
        let port = self.port.or(self.kind.default_port()).unwrap_or_default();
        let mut url = match url::Url::parse(&format!("{scheme}://{host}:{port}/")) {
            Ok(url) => url,
            Err(_) => return format!("{scheme}://{host}:{port}/{db}"),
        };
        // Url setters percent-encode, so passwords with '@' or '/' survive.
        let _ = url.set_username(self.user.as_deref().unwrap_or_default());
        let _ = url.set_password(self.password.as_ref().map(Secret::expose));
        url.set_path(db);
        url.to_string()
    }

    /// The config as it may be shown: no password anywhere.
    pub fn redacted(&self) -> ConnectionView {
        ConnectionView {
            kind: self.kind,
            url: self.url.as_ref().map(|u| redact_url(u.expose())),
            host: self.host.clone(),
            port: self.port,
            database: self.database.clone(),
            user: self.user.clone(),
            password: self.password.as_ref().map(|_| MASK.to_owned()),
            schema: self.schema.clone(),
        }
    }
}

/// Replaces the password of a URL by `***`; a URL that does not parse but
/// might hold credentials is masked whole.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some(MASK));
            url.to_string()
        }
        Ok(url) => url.to_string(),
        Err(_) if raw.contains('@') => MASK.to_owned(),
        Err(_) => raw.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_config(password: &str) -> ConnectionConfig {
        ConnectionConfig {
            kind: DatabaseKind::Mysql,
            url: None,
            host: Some("db".into()),
            port: None,
            database: Some("shop".into()),
            user: Some("app".into()),
            password: Some(Secret::new(password)),
            schema: None,
        }
    }

    #[test]
    fn redaction_removes_passwords_from_urls_and_fields() {
        let view = host_config("s3cret").redacted();
        assert_eq!(view.password.as_deref(), Some("***"));
        assert!(!serde_json::to_string(&view).unwrap().contains("s3cret"));
        assert_eq!(
            redact_url("postgres://u:s3cret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("not a url but u:s3cret@h"), "***");
        assert!(!format!("{:?}", host_config("s3cret")).contains("s3cret"));
    }

    #[test]
    fn connection_url_percent_encodes_credentials() {
        let url = host_config("p@ss/word").connection_url();
        assert_eq!(url, "mysql://app:p%40ss%2Fword@db:3306/shop");
    }

    #[test]
    fn validation_requires_url_or_host() {
        let mut cfg = host_config("x");
        cfg.host = None;
        let mut v = Validator::default();
        cfg.validate("source_config", &mut v);
        let err = v.finish().unwrap_err();
        assert_eq!(err.0[0].field, "source_config.url");
    }
}
