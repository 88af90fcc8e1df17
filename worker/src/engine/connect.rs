//! Opening source and target databases: one small pool per (job, side),
//! cached by the [`Engine`](super::Engine) so a job's batches share them.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use freight_core::connection::ConnectionConfig;
use freight_core::ids::TenantId;
use freight_core::policy::{
    ConnectionPolicy, DatabaseIdentity, INHERITED_POSTGRES_VARIABLES, POSTGRES_LOGIN_QUERY,
    PolicyViolation, VettedConnection, tenant_password,
};
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions, MySqlSslMode};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{Executor, MySqlConnection, MySqlPool, PgConnection, PgPool, SqlitePool};

use super::error::{Failure, classify, scrub};
use super::model::Dialect;

/// Which end of a job a pool serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Source,
    Target,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Source => "source",
            Self::Target => "target",
        }
    }

    /// The job spec field that configures this side.
    pub fn field(self) -> &'static str {
        match self {
            Self::Source => "source_config",
            Self::Target => "target_config",
        }
    }
}

/// What a PostgreSQL pool's login may do on the server it reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Any server but Freight's own, or an ordinary login on Freight's.
    Ordinary,
    /// A privileged login (superuser, server-file roles, ...: see
    /// [`POSTGRES_LOGIN_QUERY`]) on the server holding Freight's own
    /// database. An expression it evaluates can read Freight's tables
    /// (other tenants' jobs and webhooks) and the server's files, and an
    /// error carries the result into the job's log: Freight runs no
    /// expression of a tenant's there (see `own_server`).
    PrivilegedOnFreightServer,
}

/// A pool of one of the three dialects.
#[derive(Debug, Clone)]
pub enum Pool {
    Postgres(PgPool, Standing),
    MySql(MySqlPool),
    Sqlite(SqlitePool),
}

impl Pool {
    pub fn dialect(&self) -> Dialect {
        match self {
            Self::Postgres(..) => Dialect::Postgres,
            Self::MySql(_) => Dialect::MySql,
            Self::Sqlite(_) => Dialect::Sqlite,
        }
    }

    /// One integer that `sql` (a single-value query Freight built) answers.
    pub async fn fetch_i64(&self, sql: String) -> Result<i64, sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(sql);
        match self {
            Self::Postgres(p, _) => sqlx::query_scalar(sql).fetch_one(p).await,
            Self::MySql(p) => sqlx::query_scalar(sql).fetch_one(p).await,
            Self::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await,
        }
    }

    /// Whether this pool's login is privileged on Freight's own server.
    pub fn privileged_on_freight_server(&self) -> bool {
        matches!(self, Self::Postgres(_, Standing::PrivilegedOnFreightServer))
    }

    pub async fn close(&self) {
        match self {
            Self::Postgres(p, _) => p.close().await,
            Self::MySql(p) => p.close().await,
            Self::Sqlite(p) => p.close().await,
        }
    }
}

/// Connections per pool: a worker runs a few batches of a job at once, each
/// holding one source and one target connection.
const MAX_CONNECTIONS: u32 = 8;

/// How a pool will be used; a read-only pool never creates or alters anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadOnly,
    ReadWrite,
}

/// Opens a pool for one side of a job, through the connection policy: the
/// address and path rules first, then the driver options built from the
/// tenant's config alone (pinned to the checked address), then the identity
/// rule before anything is read or written. Errors name the side, never the
/// credentials. `Ok(None)`: a read-only SQLite target file that does not
/// exist yet (an empty target, not an error).
pub async fn open(
    policy: &ConnectionPolicy,
    tenant: &TenantId,
    config: &ConnectionConfig,
    side: Side,
    access: Access,
) -> Result<Option<Pool>, Failure> {
    Ok(open_guarded(policy, tenant, config, side, access)
        .await?
        .map(|(pool, _)| pool))
}

/// Refusals of a pool's later connections, for callers that wait on them.
pub type Refusals = Option<tokio::sync::watch::Receiver<Option<PolicyViolation>>>;

/// [`open`], also handing back the pool's refusals.
pub async fn open_guarded(
    policy: &ConnectionPolicy,
    tenant: &TenantId,
    config: &ConnectionConfig,
    side: Side,
    access: Access,
) -> Result<Option<(Pool, Refusals)>, Failure> {
    let field = side.field();
    let vetted = policy
        .vet(field, tenant, config)
        .await
        .map_err(Failure::NotAllowed)?;
    let secrets = config.secret_values();
    let ctx = format!("connecting to the {}", side.as_str());
    let dialect = Dialect::from_kind(config.kind);
    let map_err = |e: sqlx::Error| match not_that_server(&e, dialect, &ctx)
        .unwrap_or_else(|| classify(&e, &ctx))
    {
        Failure::Transient(m) => Failure::Transient(scrub(m, &secrets)),
        Failure::NotAllowed(v) => Failure::NotAllowed(v),
        Failure::Data { message, .. } | Failure::Permanent(message) => {
            Failure::Permanent(scrub(message, &secrets))
        }
    };
    // Planning answers an API request: fail an unreachable server sooner.
    let acquire = match access {
        Access::ReadOnly => Duration::from_secs(10),
        Access::ReadWrite => Duration::from_secs(30),
    };
    let idle = Duration::from_secs(60);
    match Dialect::from_kind(config.kind) {
        Dialect::Postgres => {
            let (opts, pinned) = postgres_options(field, &vetted)?;
            let (guard, mut refused) = Guard::new(policy, tenant, config, field, pinned);
            let standing = guard.standing.clone();
            let connecting = PgPoolOptions::new()
                .max_connections(MAX_CONNECTIONS)
                .min_connections(0)
                .acquire_timeout(acquire)
                .idle_timeout(idle)
                .after_connect(move |conn, _| {
                    let guard = guard.clone();
                    Box::pin(async move {
                        // Timestamps without zone are written as given, and
                        // timestamptz text is read as UTC.
                        conn.execute("SET TimeZone = 'UTC'").await?;
                        // Definitions the catalogs print (views, CHECKs) quote
                        // string literals the way `sqltext` scans them, whatever
                        // the database or role sets.
                        conn.execute("SET standard_conforming_strings = on").await?;
                        guard.check_postgres(conn).await?;
                        if guard.standing.get() != Some(&false) {
                            // A database's owner may set its search_path to
                            // put their own `md5` or `=` before PostgreSQL's:
                            // a privileged login resolves every name Freight
                            // leaves unqualified in pg_catalog only (Freight
                            // qualifies its tables with their schema).
                            conn.execute(
                                "SELECT pg_catalog.set_config('search_path', 'pg_catalog', false)",
                            )
                            .await?;
                        }
                        Ok(())
                    })
                })
                .connect_with(opts);
            let pool = unless_refused(&mut refused, connecting)
                .await?
                .map_err(map_err)?;
            // Set by the pool's first connection (sqlx opens one before it
            // returns); unknown counts as privileged.
            let standing = match standing.get() {
                Some(false) => Standing::Ordinary,
                _ => Standing::PrivilegedOnFreightServer,
            };
            Ok(Some((Pool::Postgres(pool, standing), Some(refused))))
        }
        Dialect::MySql => {
            // sqlx already sets time_zone '+00:00' (MySQL `timestamp`
            // values are read as UTC instants) and utf8mb4.
            let (opts, pinned) = mysql_options(&vetted)?;
            let (guard, mut refused) = Guard::new(policy, tenant, config, field, pinned);
            let connecting = MySqlPoolOptions::new()
                .max_connections(MAX_CONNECTIONS)
                .min_connections(0)
                .acquire_timeout(acquire)
                .idle_timeout(idle)
                .after_connect(move |conn, _| {
                    let guard = guard.clone();
                    Box::pin(async move {
                        guard.check_mysql(conn).await?;
                        // Strict: a value that does not fit is an error (a
                        // rejected record), never silently truncated; an
                        // explicit 0 in an auto-increment column stays 0.
                        conn.execute(
                            "SET SESSION sql_mode = CONCAT(@@sql_mode, ',STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO')",
                        )
                        .await?;
                        Ok(())
                    })
                })
                .connect_with(opts);
            let pool = unless_refused(&mut refused, connecting)
                .await?
                .map_err(map_err)?;
            Ok(Some((Pool::MySql(pool), Some(refused))))
        }
        Dialect::Sqlite => {
            let path = vetted.parts.database.clone().unwrap_or_default();
            let exists = std::path::Path::new(&path).exists();
            let writable = side == Side::Target && access == Access::ReadWrite;
            if !writable && side == Side::Target && !exists {
                return Ok(None);
            }
            let opts = if path == ":memory:" {
                SqliteConnectOptions::new().in_memory(true)
            } else {
                SqliteConnectOptions::new().filename(&path)
            };
            let opts = opts
                .read_only(!writable)
                .create_if_missing(writable)
                // Rows arrive in any table order and whole-table batches
                // clear their table: the target's foreign keys are not
                // enforced on Freight's own connections (SQLite enforces
                // them per connection, so the application's still do).
                .foreign_keys(false)
                .busy_timeout(Duration::from_secs(30));
            // SQLite takes one writer at a time: one connection avoids
            // SQLITE_BUSY between our own concurrent batches.
            let max = if writable { 1 } else { 4 };
            let pool = SqlitePoolOptions::new()
                .max_connections(max)
                .min_connections(0)
                .acquire_timeout(Duration::from_secs(600))
                .idle_timeout(idle)
                .connect_with(opts)
                .await
                .map_err(map_err)?;
            Ok(Some((Pool::Sqlite(pool), None)))
        }
    }
}

/// A connection that never became one of `dialect`'s, as a tenant reads
/// it: not the driver's protocol complaint (`unexpected response from
/// SSLRequest: 0x49`) but what it means. `None`: another failure, which
/// [`classify`] describes (the server's own refusal, a refused TCP
/// connection, a TLS error).
fn not_that_server(err: &sqlx::Error, dialect: Dialect, ctx: &str) -> Option<Failure> {
    let kind = match dialect {
        Dialect::Postgres => "PostgreSQL",
        Dialect::MySql => "MySQL/MariaDB",
        Dialect::Sqlite => return None,
    };
    match err {
        sqlx::Error::Protocol(_) => Some(Failure::Transient(format!(
            "{ctx}: the server at that address did not answer as a {kind} server"
        ))),
        // The pool is new: its first connection did not complete in time
        // (nothing answers the handshake there, or a firewall drops it).
        sqlx::Error::PoolTimedOut => Some(Failure::Transient(format!(
            "{ctx}: the server at that address did not answer as a {kind} server in time"
        ))),
        _ => None,
    }
}

/// PostgreSQL options from the tenant's config alone. sqlx seeds its
/// options from PG* variables and ~/.pgpass; every field they could fill is
/// set here, and the variables that cannot be overridden refuse the
/// connection instead.
/// `true` with the options: the driver connects to the checked address.
/// Refused (`CONNECTION_NOT_ALLOWED`, naming the variable) while Freight's
/// environment sets one sqlx applies and no option overrides: it would
/// send Freight's client certificate, trust Freight's CA or pass Freight's
/// server options to a tenant's server.
fn postgres_options(
    field: &str,
    vetted: &VettedConnection,
) -> Result<(PgConnectOptions, bool), Failure> {
    if let Some(var) = INHERITED_POSTGRES_VARIABLES
        .iter()
        .find(|v| std::env::var_os(v).is_some())
    {
        return Err(Failure::NotAllowed(PolicyViolation {
            field: field.to_owned(),
            message: format!(
                "PostgreSQL sources and targets are refused while Freight's environment sets \
                 {var}, which the driver would apply to this connection (the operator moves it \
                 into DATABASE_URL and unsets it)"
            ),
        }));
    }
    let parts = &vetted.parts;
    let mut ssl_mode = PgSslMode::Prefer;
    let mut application_name = "freight-worker".to_owned();
    let mut opts = PgConnectOptions::new_without_pgpass();
    for (name, value) in &parts.params {
        opts = match name.as_str() {
            "sslmode" => {
                ssl_mode = value.parse().map_err(|_| {
                    Failure::Permanent(format!("sslmode {value:?} is not a PostgreSQL SSL mode"))
                })?;
                opts
            }
            "sslrootcert" => opts.ssl_root_cert_from_pem(value.as_bytes().to_vec()),
            "sslcert" => opts.ssl_client_cert_from_pem(value.as_bytes()),
            "sslkey" => opts.ssl_client_key_from_pem(value.as_bytes()),
            "application_name" => {
                application_name.clone_from(value);
                opts
            }
            _ => opts,
        };
    }
    let user = parts.user.clone().unwrap_or_default();
    // verify-full checks the certificate against the name: keep the name
    // (the address was checked a moment ago); otherwise connect to the
    // checked address itself.
    let pinned = !matches!(ssl_mode, PgSslMode::VerifyFull);
    let host = if pinned {
        vetted.pinned_host()
    } else {
        parts.host.clone()
    }
    .unwrap_or_default();
    let opts = opts
        .host(&host)
        .port(vetted.address.map_or(5432, |a| a.port()))
        .username(&user)
        .password(tenant_password(parts).expose())
        .database(parts.database.as_deref().unwrap_or(&user))
        .ssl_mode(ssl_mode)
        .application_name(&application_name);
    Ok((opts, pinned))
}

/// MySQL options from the tenant's config alone (sqlx reads no
/// environment or option files for MySQL, so a missing password stays
/// missing: an empty one would be sent as a password).
fn mysql_options(vetted: &VettedConnection) -> Result<(MySqlConnectOptions, bool), Failure> {
    let parts = &vetted.parts;
    let mut ssl_mode = MySqlSslMode::Preferred;
    let mut opts = MySqlConnectOptions::new();
    for (name, value) in &parts.params {
        opts = match name.as_str() {
            "ssl-mode" | "sslmode" => {
                ssl_mode = value.parse().map_err(|_| {
                    Failure::Permanent(format!("ssl-mode {value:?} is not a MySQL SSL mode"))
                })?;
                opts
            }
            "ssl-ca" => opts.ssl_ca_from_pem(value.as_bytes().to_vec()),
            "ssl-cert" => opts.ssl_client_cert_from_pem(value.as_bytes()),
            "ssl-key" => opts.ssl_client_key_from_pem(value.as_bytes()),
            _ => opts,
        };
    }
    let pinned = !matches!(ssl_mode, MySqlSslMode::VerifyIdentity);
    let host = if pinned {
        vetted.pinned_host()
    } else {
        parts.host.clone()
    }
    .unwrap_or_default();
    let mut opts = opts
        .host(&host)
        .port(vetted.address.map_or(3306, |a| a.port()))
        .username(parts.user.as_deref().unwrap_or_default())
        .ssl_mode(ssl_mode);
    if let Some(password) = &parts.password {
        opts = opts.password(password.expose());
    }
    if let Some(db) = &parts.database {
        opts = opts.database(db);
    }
    Ok((opts, pinned))
}

/// The policy, applied again to every new connection of a pool (sqlx's
/// `after_connect`): a pool opens connections long after the first, and in
/// the TLS verify modes the driver resolves the host name itself each time.
/// PostgreSQL: the identity rule on every connection; both dialects in
/// verify modes: the address rules on what the name resolves to now.
#[derive(Clone)]
struct Guard {
    policy: Arc<ConnectionPolicy>,
    tenant: TenantId,
    config: Arc<ConnectionConfig>,
    field: &'static str,
    /// The driver connects to the checked address: nothing to re-resolve.
    pinned: bool,
    refused: Arc<tokio::sync::watch::Sender<Option<PolicyViolation>>>,
    /// PostgreSQL: whether the pool's login is privileged on Freight's own
    /// server, as its first connection found; every later connection must
    /// find the same (what was planned for one login must not run as
    /// another: in the TLS verify modes the name may reach another server).
    standing: Arc<OnceLock<bool>>,
}

impl Guard {
    fn new(
        policy: &ConnectionPolicy,
        tenant: &TenantId,
        config: &ConnectionConfig,
        field: &'static str,
        pinned: bool,
    ) -> (Self, tokio::sync::watch::Receiver<Option<PolicyViolation>>) {
        let (refused, watch) = tokio::sync::watch::channel(None);
        let guard = Self {
            policy: Arc::new(policy.clone()),
            tenant: tenant.clone(),
            config: Arc::new(config.clone()),
            field,
            pinned,
            refused: Arc::new(refused),
            standing: Arc::default(),
        };
        (guard, watch)
    }

    /// A refused connection: recorded for [`unless_refused`] and failed.
    /// sqlx closes it and logs the message; a pool whose later connection
    /// is refused hands out none (its callers time out).
    fn refuse(&self, violation: PolicyViolation) -> sqlx::Error {
        self.refused.send_replace(Some(violation.clone()));
        sqlx::Error::Configuration(Box::new(violation))
    }

    async fn check_address(&self) -> Result<(), sqlx::Error> {
        if self.pinned {
            return Ok(());
        }
        match self
            .policy
            .vet(self.field, &self.tenant, &self.config)
            .await
        {
            Ok(_) => Ok(()),
            Err(violation) => Err(self.refuse(violation)),
        }
    }

    /// The identity rule: refuses Freight's own database, whatever address
    /// reached it; and, in the same query, the login's [`Standing`].
    async fn check_postgres(&self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        self.check_address().await?;
        let (system_identifier, database, privileged): (String, String, bool) =
            sqlx::query_as(POSTGRES_LOGIN_QUERY)
                .fetch_one(&mut *conn)
                .await?;
        let privileged_here = privileged && self.policy.is_own_server(&system_identifier);
        let identity = DatabaseIdentity::Postgres {
            system_identifier,
            database,
        };
        self.policy
            .check_identity(self.field, &identity)
            .map_err(|violation| self.refuse(violation))?;
        if *self.standing.get_or_init(|| privileged_here) != privileged_here {
            return Err(self.refuse(PolicyViolation {
                field: self.field.to_owned(),
                message: "a new connection reached a login with other privileges on Freight's \
                          own server than the pool's first"
                    .to_owned(),
            }));
        }
        Ok(())
    }

    /// Freight keeps nothing in MySQL: only the address rules apply.
    async fn check_mysql(&self, _conn: &mut MySqlConnection) -> Result<(), sqlx::Error> {
        self.check_address().await
    }
}

/// Waits for a pool's connection, or for the policy to refuse it (sqlx
/// would retry a refused connection until the acquire timeout).
pub async fn unless_refused<P>(
    refused: &mut tokio::sync::watch::Receiver<Option<PolicyViolation>>,
    connecting: impl Future<Output = Result<P, sqlx::Error>>,
) -> Result<Result<P, sqlx::Error>, Failure> {
    tokio::select! {
        biased;
        violation = refused.wait_for(Option::is_some) => match violation {
            Ok(violation) => match violation.clone() {
                Some(violation) => Err(Failure::NotAllowed(violation)),
                None => Err(Failure::Permanent("the connection was refused".into())),
            },
            Err(_) => Err(Failure::Permanent("the connection was refused".into())),
        },
        connected = connecting => Ok(connected),
    }
}
