//! The connection policy: which databases a tenant's job may reach.
//!
//! Every outbound connection Freight makes for a tenant passes through here
//! twice: the address and path rules ([`ConnectionPolicy::vet`]) before any
//! network or file access, and the identity rule
//! ([`ConnectionPolicy::check_identity`]) right after connecting, before
//! anything is read or written. The API applies both at plan, create and
//! retry; the worker applies both again right before it connects, on the
//! address it resolved (so a name that later resolves elsewhere is refused).

mod address;
mod sqlite;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

pub use address::EgressRule;

use crate::connection::{ConnectionConfig, ConnectionParts, DatabaseKind, Secret};
use crate::ids::TenantId;

/// What identifies a database server and database after connecting.
/// Freight's own database is refused whatever name or address reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseIdentity {
    /// `system_identifier` of `pg_control_system()` (unique per cluster)
    /// and the database name.
    Postgres {
        system_identifier: String,
        database: String,
    },
    /// A SQLite file, by canonical path.
    SqliteFile(PathBuf),
}

/// Reads the identity of the PostgreSQL server and database a connection
/// reached; any role may run it.
pub const POSTGRES_IDENTITY_QUERY: &str =
    "SELECT system_identifier::text, current_database()::text FROM pg_control_system()";

/// Reads, in one query, the identity of the PostgreSQL server and
/// database a connection reached and whether its login is privileged
/// there: a superuser, a member of one (it may `SET ROLE` to it, even from
/// inside an expression), a member of `pg_read_server_files`,
/// `pg_write_server_files` or `pg_execute_server_program`, or (before
/// PostgreSQL 16, where it could grant itself any of those) a role with
/// `CREATEROLE`. The session user and the current one (a role's `SET role`
/// setting applies at login) both count. Any role may run it.
/// Every name is qualified (functions, operators, types): a database's
/// owner may set its `search_path` to put a schema of theirs before
/// `pg_catalog`, and this runs before Freight pins it.
pub const POSTGRES_LOGIN_QUERY: &str = "SELECT s.system_identifier::pg_catalog.text,
        pg_catalog.current_database()::pg_catalog.text,
        EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                WHERE (pg_catalog.pg_has_role(session_user, r.oid, 'MEMBER')
                       OR pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER'))
                  AND (r.rolsuper
                       OR r.rolname OPERATOR(pg_catalog.=) ANY ('{pg_read_server_files,\
pg_write_server_files,pg_execute_server_program}'::pg_catalog.name[])
                       OR (r.rolcreaterole
                           AND pg_catalog.current_setting('server_version_num')::pg_catalog.int4
                               OPERATOR(pg_catalog.<) 160000)))
 FROM pg_catalog.pg_control_system() s";

/// A connection the policy refused: the field it concerns and why. The
/// message never says whether a file exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PolicyViolation {
    pub field: String,
    pub message: String,
}

impl PolicyViolation {
    fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// Who the policy trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// Many tenants: SQLite only under `FREIGHT_SQLITE_ROOT/<tenant>/`.
    Tenants,
    /// One trusted local user (`freight dev`, `FREIGHT_DEV_MODE=true`):
    /// SQLite paths anywhere. The address and identity rules still hold.
    LocalUser,
}

/// A connection that passed the address and path rules.
#[derive(Debug, Clone)]
pub struct VettedConnection {
    /// The config's parts; for SQLite, `database` is the resolved file path.
    pub parts: ConnectionParts,
    /// For servers: the checked address to connect to (connect to this, not
    /// to the name, so DNS cannot change the answer afterwards).
    pub address: Option<SocketAddr>,
}

impl VettedConnection {
    /// The host to hand the driver: the checked address.
    pub fn pinned_host(&self) -> Option<String> {
        self.address.map(|a| a.ip().to_string())
    }
}

/// The policy of one Freight installation.
#[derive(Debug, Clone)]
pub struct ConnectionPolicy {
    trust: Trust,
    /// Empty: any address not denied.
    allow: Vec<EgressRule>,
    /// Operator's additions to the always-denied list.
    deny: Vec<EgressRule>,
    /// Freight's own services by address (Redis).
    protected: Vec<SocketAddr>,
    /// Freight's own services that only webhooks may not reach: its
    /// PostgreSQL server, whose other databases jobs may use.
    protected_from_webhooks: Vec<SocketAddr>,
    /// Addresses of this host: a protected service on a local address is
    /// reached through any of them.
    local_addresses: Vec<IpAddr>,
    own_databases: Vec<DatabaseIdentity>,
    sqlite_root: Option<PathBuf>,
}

impl ConnectionPolicy {
    /// A policy for many tenants with no operator rules.
    pub fn for_tenants() -> Self {
        Self {
            trust: Trust::Tenants,
            allow: Vec::new(),
            deny: Vec::new(),
            protected: Vec::new(),
            protected_from_webhooks: Vec::new(),
            local_addresses: address::local_addresses(),
            own_databases: Vec::new(),
            sqlite_root: None,
        }
    }

    /// A policy for one trusted local user (development, tests of the engine).
    pub fn for_local_user() -> Self {
        Self {
            trust: Trust::LocalUser,
            ..Self::for_tenants()
        }
    }

    pub fn trust(&self) -> Trust {
        self.trust
    }

    /// Only addresses matching one of `rules` may be reached (`FREIGHT_EGRESS_ALLOW`).
    pub fn allow_only(mut self, rules: Vec<EgressRule>) -> Self {
        self.allow = rules;
        self
    }

    /// Also refuses these (`FREIGHT_EGRESS_DENY`).
    pub fn deny(mut self, rules: Vec<EgressRule>) -> Self {
        self.deny.extend(rules);
        self
    }

    /// Refuses this endpoint of Freight's own (its Redis).
    pub fn protect_endpoint(mut self, addresses: impl IntoIterator<Item = SocketAddr>) -> Self {
        self.protected.extend(addresses);
        self
    }

    /// Refuses this endpoint to webhooks only (Freight's PostgreSQL server:
    /// jobs may use its other databases, but a webhook's POST to it is a
    /// request Freight has no business sending).
    pub fn protect_endpoint_from_webhooks(
        mut self,
        addresses: impl IntoIterator<Item = SocketAddr>,
    ) -> Self {
        self.protected_from_webhooks.extend(addresses);
        self
    }

    /// Refuses this database (Freight's own system of record).
    pub fn protect_database(mut self, identity: DatabaseIdentity) -> Self {
        self.own_databases.push(identity);
        self
    }

    /// SQLite files of tenant `t` live under `root/t/` (`FREIGHT_SQLITE_ROOT`).
    pub fn sqlite_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.sqlite_root = Some(root.into());
        self
    }

    /// The address and path rules, before any connection is opened.
    /// `field` names the config in errors (`source_config`).
    pub async fn vet(
        &self,
        field: &str,
        tenant: &TenantId,
        config: &ConnectionConfig,
    ) -> Result<VettedConnection, PolicyViolation> {
        let mut parts = config
            .parts()
            .map_err(|message| PolicyViolation::new(field, message))?;
        check_params(field, &parts)?;
        check_system_schema(field, config, &parts)?;
        if parts.kind == DatabaseKind::Sqlite {
            let raw = parts.database.clone().unwrap_or_default();
            let path = sqlite::resolve(self, tenant, &raw)
                .map_err(|message| PolicyViolation::new(&format!("{field}.database"), message))?;
            let canonical = canonical_file(&path);
            if self.is_own_database(&DatabaseIdentity::SqliteFile(canonical)) {
                return Err(PolicyViolation::new(field, OWN_DATABASE));
            }
            parts.database = Some(path.to_string_lossy().into_owned());
            return Ok(VettedConnection {
                parts,
                address: None,
            });
        }
        let host = parts
            .host
            .clone()
            .filter(|h| !h.trim().is_empty())
            .ok_or_else(|| {
                PolicyViolation::new(field, "a server host is required (no Unix sockets)")
            })?;
        if host.starts_with('/') {
            return Err(PolicyViolation::new(
                field,
                "Unix socket paths are not allowed; give a host name or address",
            ));
        }
        if parts.user.as_deref().is_none_or(str::is_empty) {
            return Err(PolicyViolation::new(
                field,
                "a user name is required (Freight never fills one in from its own environment)",
            ));
        }
        let port = parts.port.unwrap_or_default();
        let address = self.resolve_and_check(field, &host, port).await?;
        Ok(VettedConnection {
            parts,
            address: Some(address),
        })
    }

    /// The address rules for an HTTP(S) endpoint (a webhook URL): returns the
    /// parsed URL and the checked address to connect to.
    pub async fn vet_url(
        &self,
        field: &str,
        raw: &str,
    ) -> Result<(url::Url, SocketAddr), PolicyViolation> {
        let url = url::Url::parse(raw)
            .map_err(|_| PolicyViolation::new(field, "not an absolute http(s) URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(PolicyViolation::new(
                field,
                "the scheme must be http or https",
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(PolicyViolation::new(
                field,
                "credentials in the URL are not supported; receivers verify the signature",
            ));
        }
        let host = match url.host() {
            Some(url::Host::Domain(name)) => name.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(PolicyViolation::new(field, "the URL names no host")),
        };
        let port = url
            .port_or_known_default()
            .ok_or_else(|| PolicyViolation::new(field, "the URL names no port"))?;
        let address = self.resolve_and_check(field, &host, port).await?;
        if self.reaches_protected_from_webhooks(address) {
            return Err(PolicyViolation::new(
                field,
                format!("{host}: this is one of Freight's own services"),
            ));
        }
        Ok((url, address))
    }

    /// The identity rule, right after connecting and before anything is read
    /// or written.
    pub fn check_identity(
        &self,
        field: &str,
        identity: &DatabaseIdentity,
    ) -> Result<(), PolicyViolation> {
        if self.is_own_database(identity) {
            return Err(PolicyViolation::new(field, OWN_DATABASE));
        }
        Ok(())
    }

    /// Whether a PostgreSQL server is the one holding Freight's own
    /// database (any of its databases): a privileged login there can read
    /// Freight's tables and the server's files from inside an expression.
    pub fn is_own_server(&self, system_identifier: &str) -> bool {
        self.own_databases.iter().any(|own| {
            matches!(own, DatabaseIdentity::Postgres { system_identifier: s, .. } if s == system_identifier)
        })
    }

    fn is_own_database(&self, identity: &DatabaseIdentity) -> bool {
        self.own_databases.iter().any(|own| own == identity)
    }
}

/// The canonical path of a file that may not exist yet (a SQLite `-wal`
/// appears and vanishes): its directory canonicalised, then its name.
fn canonical_file(path: &std::path::Path) -> PathBuf {
    if let Ok(canonical) = path.canonicalize() {
        return canonical;
    }
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => dir
            .canonicalize()
            .map_or_else(|_| path.to_path_buf(), |dir| dir.join(name)),
        _ => path.to_path_buf(),
    }
}

impl DatabaseIdentity {
    /// A SQLite database and the files SQLite keeps beside it (`-wal`,
    /// `-shm`, `-journal`), by canonical path: writing any of them corrupts
    /// the database.
    pub fn sqlite_files(path: &std::path::Path) -> Vec<DatabaseIdentity> {
        let main = canonical_file(path);
        let mut files = vec![DatabaseIdentity::SqliteFile(main.clone())];
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut name = main.clone().into_os_string();
            name.push(suffix);
            files.push(DatabaseIdentity::SqliteFile(PathBuf::from(name)));
        }
        files
    }
}

const OWN_DATABASE: &str = "this is Freight's own database; jobs may not read or write it";

/// MySQL/MariaDB's own databases (compared without case, as MySQL does
/// for `information_schema` and, on many installations, every name).
const MYSQL_SYSTEM_DATABASES: &[&str] =
    &["mysql", "information_schema", "performance_schema", "sys"];

/// Refuses a server's own catalogs as a job's schema, for every login and
/// trust: with a superuser login (allowed on other databases of Freight's
/// server) `pg_catalog` holds `pg_authid`, every role's password hash,
/// Freight's own included; MySQL's `mysql.user` likewise. PostgreSQL:
/// `information_schema` and every schema whose name starts with `pg_`
/// (`pg_catalog`, `pg_toast`, `pg_temp_N`, `pg_toast_temp_N`; PostgreSQL
/// reserves the prefix). MySQL/MariaDB: the databases `mysql`,
/// `information_schema`, `performance_schema` and `sys`.
fn check_system_schema(
    field: &str,
    config: &ConnectionConfig,
    parts: &ConnectionParts,
) -> Result<(), PolicyViolation> {
    match parts.kind {
        DatabaseKind::Postgresql => {
            let schema = config.schema_or_default();
            let lower = schema.to_ascii_lowercase();
            if lower.starts_with("pg_") || lower == "information_schema" {
                return Err(PolicyViolation::new(
                    &format!("{field}.schema"),
                    format!(
                        "{schema} is a system schema of PostgreSQL; jobs may not read or write \
                         system catalogs"
                    ),
                ));
            }
        }
        DatabaseKind::Mysql => {
            let Some(database) = parts.database.as_deref() else {
                return Ok(());
            };
            if MYSQL_SYSTEM_DATABASES
                .iter()
                .any(|system| database.trim().eq_ignore_ascii_case(system))
            {
                let named_in = if config.url.is_some() {
                    "url"
                } else {
                    "database"
                };
                return Err(PolicyViolation::new(
                    &format!("{field}.{named_in}"),
                    format!(
                        "{database} is a system database of MySQL/MariaDB; jobs may not read or \
                         write system catalogs"
                    ),
                ));
            }
        }
        DatabaseKind::Sqlite => {}
    }
    Ok(())
}

/// URL parameters a tenant may set. Everything else (socket paths, file
/// paths of keys and certificates, host overrides) could make Freight
/// read its own files or reach another host than the one checked.
fn check_params(field: &str, parts: &ConnectionParts) -> Result<(), PolicyViolation> {
    let allowed: &[&str] = match parts.kind {
        DatabaseKind::Postgresql => &[
            "sslmode",
            "sslrootcert",
            "sslcert",
            "sslkey",
            "application_name",
        ],
        DatabaseKind::Mysql => &["ssl-mode", "sslmode", "ssl-ca", "ssl-cert", "ssl-key"],
        DatabaseKind::Sqlite => &["mode"],
    };
    for (name, value) in &parts.params {
        if !allowed.contains(&name.as_str()) {
            return Err(PolicyViolation::new(
                &format!("{field}.url"),
                format!("URL parameter {name:?} is not allowed (allowed: {allowed:?})"),
            ));
        }
        let is_file = matches!(
            name.as_str(),
            "sslrootcert" | "sslcert" | "sslkey" | "ssl-ca" | "ssl-cert" | "ssl-key"
        );
        if is_file && !value.trim_start().starts_with("-----BEGIN") {
            return Err(PolicyViolation::new(
                &format!("{field}.url"),
                format!("URL parameter {name:?} must hold the PEM text itself, not a file path"),
            ));
        }
    }
    Ok(())
}

/// Tenant connections must not pick up these from Freight's environment:
/// sqlx reads them as defaults and cannot be told to forget them.
pub const INHERITED_POSTGRES_VARIABLES: &[&str] =
    &["PGSSLCERT", "PGSSLKEY", "PGSSLROOTCERT", "PGOPTIONS"];

/// The password to give a driver: the tenant's, or an empty one, so that
/// nothing of the Freight process (PGPASSWORD, ~/.pgpass) fills the gap.
pub fn tenant_password(parts: &ConnectionParts) -> Secret {
    parts.password.clone().unwrap_or_else(|| Secret::new(""))
}

#[cfg(test)]
mod tests;
