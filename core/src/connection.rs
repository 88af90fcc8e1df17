//! Source and target connection settings, as a tenant submits them and as
//! they are shown back (never with a password in it).

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

pub use freight_secret::Secret;

/// How to reach a source or target database, one of: a `url`, whose
/// scheme is that of `type`; a `host` with `database` and `user` (plus
/// `port` and `password`); or, for SQLite only, the file path as
/// `database`. `schema` is for PostgreSQL only. A field given as `null` is
/// absent; no string may hold a NUL character.
// What the derived schema cannot say (which fields go together, per
// `type`) is `schema_rules`, merged into the spec's schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionConfig {
    /// Database engine: `postgresql`, `mysql` (MariaDB too) or `sqlite`.
    #[serde(rename = "type")]
    pub kind: DatabaseKind,
    /// Full connection URL (e.g. `mysql://user:pass@host:3306/db`,
    /// `sqlite:///data/app.db`), its scheme that of `type` (`postgres:` or
    /// `postgresql:`, `mysql:` or `mariadb:`, `sqlite:`). Mutually
    /// exclusive with `host`.
    #[schema(value_type = Option<String>, pattern = "^[^\\u0000]*$")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Secret>,
    /// Server host name or address (not blank); `database` and `user` go
    /// with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        pattern = "^[^\\u0000]*[^\\u0000\\u0009-\\u000D\\u0020\\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000][^\\u0000]*$"
    )]
    pub host: Option<String>,
    /// Server port; defaults to 5432 (PostgreSQL) or 3306 (MySQL).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::whole::optional"
    )]
    #[schema(minimum = 1, maximum = 65535)]
    pub port: Option<u16>,
    /// Database name (for SQLite: the database file path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[^\\u0000]*$")]
    pub database: Option<String>,
    /// User name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[^\\u0000]*$")]
    pub user: Option<String>,
    /// Password; stored encrypted and never shown back.
    #[schema(value_type = Option<String>, format = Password, pattern = "^[^\\u0000]*$")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// PostgreSQL schema holding the tables (PostgreSQL connections only):
    /// 1-63 bytes in UTF-8, PostgreSQL's limit for a name; default `public`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 63, pattern = "^[^\\u0000]*$")]
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

/// What [`ConnectionConfig::validate`] checks across fields, as JSON Schema,
/// merged into the spec's `ConnectionConfig` schema: exactly one way to
/// reach the database (`url`; `host` with `database` and `user`; or, for
/// SQLite, a `database` file path), the URL scheme of each `type`, and
/// `schema` for PostgreSQL only. A `null` counts as absent, as it does for
/// the server. Kept next to `validate` so the two change together; a test
/// in `tests/api/openapi_spec.rs` holds them to the same answers.
pub fn schema_rules() -> serde_json::Value {
    let absent = serde_json::json!({"type": "null"});
    let per_kind: Vec<serde_json::Value> = [
        DatabaseKind::Postgresql,
        DatabaseKind::Mysql,
        DatabaseKind::Sqlite,
    ]
    .into_iter()
    .map(|kind| {
        let pattern = format!("^({}):", kind.url_schemes().join("|"));
        let mut then = serde_json::json!({"properties": {"url": {"pattern": pattern}}});
        if kind != DatabaseKind::Postgresql {
            then["properties"]["schema"] = absent.clone();
        }
        // "if `type` is `kind` then …", spelled as "`type` is not `kind`, or
        // …": the same rule, which more tools read (Redocly's example check
        // mistakes `if`/`then` for unevaluated properties).
        serde_json::json!({
            "anyOf": [{"properties": {"type": {"not": {"const": kind}}}}, then],
        })
    })
    .collect();
    serde_json::json!({
        // Exclusive by construction (a string `url`, a string `host`, or
        // neither): `anyOf`, as linters cannot see that `oneOf` holds.
        "anyOf": [
            {
                "title": "By URL",
                "required": ["url"],
                "properties": {"url": {"type": "string"}, "host": absent},
            },
            {
                "title": "By host",
                "required": ["host", "database", "user"],
                "properties": {
                    "host": {"type": "string"},
                    "database": {"type": "string"},
                    "user": {"type": "string"},
                    "url": absent,
                },
            },
            {
                "title": "SQLite file",
                "required": ["type", "database"],
                "properties": {
                    "type": {"const": "sqlite"},
                    "database": {"type": "string"},
                    "url": absent,
                    "host": absent,
                },
            },
        ],
        "allOf": per_kind,
    })
}

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
        // No driver or store takes a NUL inside a string.
        for (name, value) in [
            ("url", self.url.as_ref().map(Secret::expose)),
            ("host", self.host.as_deref()),
            ("database", self.database.as_deref()),
            ("user", self.user.as_deref()),
            ("password", self.password.as_ref().map(Secret::expose)),
            ("schema", self.schema.as_deref()),
        ] {
            if value.is_some_and(|value| value.contains('\0')) {
                v.push(field(name), "must not contain NUL characters");
            }
        }
    }

    /// The PostgreSQL schema to read or write, `public` unless given.
    pub fn schema_or_default(&self) -> &str {
        self.schema.as_deref().unwrap_or("public")
    }

    /// The config taken apart: what driver options are built from. Nothing
    /// comes from the process environment, pass files or option files. An
    /// empty password (field, URL or `password=` parameter) is no password,
    /// as leaving it out is: MySQL would otherwise be sent an empty one and
    /// refuse a login that has none. The config itself (sealed, shown as
    /// `***`) is left as given.
    pub fn parts(&self) -> Result<ConnectionParts, String> {
        let mut parts = self.parts_as_given()?;
        parts.password = parts.password.filter(|p| !p.expose().is_empty());
        Ok(parts)
    }

    fn parts_as_given(&self) -> Result<ConnectionParts, String> {
        match (&self.url, self.kind) {
            (Some(url), DatabaseKind::Sqlite) => Ok(ConnectionParts {
                kind: self.kind,
                host: None,
                port: None,
                user: None,
                password: None,
                database: Some(sqlite_path_of(url.expose())?),
                params: sqlite_params_of(url.expose()),
            }),
            (Some(url), _) => parse_server_url(self.kind, url.expose()),
            (None, _) => Ok(ConnectionParts {
                kind: self.kind,
                host: self.host.clone(),
                port: self.port.or(self.kind.default_port()),
                user: self.user.clone(),
                password: self.password.clone(),
                database: self.database.clone(),
                params: Vec::new(),
            }),
        }
    }

    /// Every string of this config that must never be shown: passwords and
    /// sensitive URL parameters, raw and percent-decoded.
    pub fn secret_values(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(pw) = &self.password {
            out.push(pw.expose().to_owned());
        }
        if let Some(url) = &self.url
            && let Ok(parsed) = url::Url::parse(url.expose())
        {
            let mut push = |raw: &str| {
                out.push(raw.to_owned());
                if let Ok(decoded) = percent_encoding::percent_decode_str(raw).decode_utf8() {
                    out.push(decoded.into_owned());
                }
            };
            if let Some(pw) = parsed.password() {
                push(pw);
            }
            for (name, value) in parsed.query_pairs() {
                if is_sensitive_param(&name) {
                    push(&value);
                }
            }
        }
        out.retain(|s| !s.is_empty());
        out
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

/// A connection config taken apart, URL or fields alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionParts {
    pub kind: DatabaseKind,
    /// Host name or address (IPv6 without brackets); `None` for SQLite.
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub password: Option<Secret>,
    /// Database name, or the SQLite file path.
    pub database: Option<String>,
    /// URL query parameters other than user and password, as given.
    pub params: Vec<(String, String)>,
}

/// URL parameters whose values are credentials.
const SENSITIVE_PARAMS: &[&str] = &["password", "sslpassword", "sslkey", "ssl-key"];

fn is_sensitive_param(name: &str) -> bool {
    SENSITIVE_PARAMS
        .iter()
        .any(|p| p.eq_ignore_ascii_case(name))
}

fn decoded(raw: &str) -> String {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8_lossy()
        .into_owned()
}

fn parse_server_url(kind: DatabaseKind, raw: &str) -> Result<ConnectionParts, String> {
    let url = url::Url::parse(raw).map_err(|_| "url does not parse".to_owned())?;
    let host = match url.host() {
        Some(url::Host::Domain(name)) => Some(decoded(name)),
        Some(url::Host::Ipv4(ip)) => Some(ip.to_string()),
        Some(url::Host::Ipv6(ip)) => Some(ip.to_string()),
        None => None,
    };
    let mut user = Some(decoded(url.username())).filter(|u| !u.is_empty());
    let mut password = url.password().map(|p| Secret::new(decoded(p)));
    let mut params = Vec::new();
    for (name, value) in url.query_pairs() {
        match name.as_ref() {
            "user" if user.is_none() => user = Some(value.into_owned()),
            "password" if password.is_none() => password = Some(Secret::new(value.into_owned())),
            _ => params.push((name.into_owned(), value.into_owned())),
        }
    }
    let database = Some(decoded(url.path().trim_start_matches('/'))).filter(|d| !d.is_empty());
    Ok(ConnectionParts {
        kind,
        host,
        port: url.port().or(kind.default_port()),
        user,
        password,
        database,
        params,
    })
}

/// The file path of a `sqlite:` URL (`sqlite://path`, `sqlite:///abs`, `sqlite:path`).
fn sqlite_path_of(raw: &str) -> Result<String, String> {
    let rest = raw
        .strip_prefix("sqlite://")
        .or_else(|| raw.strip_prefix("sqlite:"))
        .ok_or_else(|| "url must start with sqlite:".to_owned())?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() {
        return Err("url names no database file".into());
    }
    Ok(decoded(path))
}

fn sqlite_params_of(raw: &str) -> Vec<(String, String)> {
    match raw.split_once('?') {
        Some((_, query)) => url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect(),
        None => Vec::new(),
    }
}

/// Replaces every credential of a URL by `***`: the password and sensitive
/// query parameters. A URL that does not parse but might hold credentials
/// is masked whole.
pub fn redact_url(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        return if raw.contains('@') || raw.contains('?') {
            MASK.to_owned()
        } else {
            raw.to_owned()
        };
    };
    if url.password().is_some() {
        let _ = url.set_password(Some(MASK));
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(name, value)| {
                let value = if is_sensitive_param(&name) {
                    MASK.to_owned()
                } else {
                    value.into_owned()
                };
                (name.into_owned(), value)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
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
    fn query_string_credentials_are_secrets() {
        let raw = "postgres://u@h/db?sslmode=require&password=hunt%2Fer2&sslpassword=kp&sslkey=pem";
        let redacted = redact_url(raw);
        for secret in ["hunt", "kp", "pem"] {
            assert!(!redacted.contains(secret), "{redacted}");
        }
        assert!(redacted.contains("sslmode=require"), "{redacted}");
        let config = ConnectionConfig {
            kind: DatabaseKind::Postgresql,
            url: Some(Secret::new(raw)),
            host: None,
            port: None,
            database: None,
            user: None,
            password: None,
            schema: None,
        };
        let secrets = config.secret_values();
        assert!(secrets.contains(&"hunt/er2".to_owned()), "{secrets:?}");
        assert!(secrets.contains(&"kp".to_owned()), "{secrets:?}");
        let parts = config.parts().unwrap();
        assert_eq!(parts.password.unwrap().expose(), "hunt/er2");
        assert_eq!(parts.user.as_deref(), Some("u"));
        assert_eq!(parts.database.as_deref(), Some("db"));
        assert_eq!(parts.port, Some(5432));
        assert_eq!(parts.params.len(), 3, "{:?}", parts.params);
    }

    #[test]
    fn an_empty_password_is_no_password() {
        let empty = host_config("");
        assert_eq!(empty.parts().unwrap().password, None);
        assert_eq!(empty.redacted().password.as_deref(), Some("***"));
        let mut url_config = host_config("unused");
        url_config.host = None;
        url_config.password = None;
        for url in [
            "mysql://app:@db/shop",
            "mysql://app@db/shop?password=",
            "mysql://app@db/shop",
        ] {
            url_config.url = Some(Secret::new(url));
            assert_eq!(url_config.parts().unwrap().password, None, "{url}");
        }
        assert_eq!(
            host_config(" ")
                .parts()
                .unwrap()
                .password
                .map(|p| p.expose().to_owned()),
            Some(" ".to_owned())
        );
    }

    #[test]
    fn urls_and_fields_come_apart_alike() {
        let from_fields = host_config("p@ss").parts().unwrap();
        let mut url_config = host_config("unused");
        url_config.host = None;
        url_config.password = None;
        url_config.url = Some(Secret::new("mysql://app:p%40ss@db/shop"));
        let from_url = url_config.parts().unwrap();
        assert_eq!(from_fields, from_url);
        let v6 = ConnectionConfig {
            url: Some(Secret::new("postgres://u@[::1]:6543/x")),
            kind: DatabaseKind::Postgresql,
            ..url_config
        };
        let parts = v6.parts().unwrap();
        assert_eq!(parts.host.as_deref(), Some("::1"));
        assert_eq!(parts.port, Some(6543));
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
