use std::net::SocketAddr;

use super::*;
use crate::connection::Secret;

fn url_config(kind: DatabaseKind, url: &str) -> ConnectionConfig {
    ConnectionConfig {
        kind,
        url: Some(Secret::new(url)),
        host: None,
        port: None,
        database: None,
        user: None,
        password: None,
        schema: None,
    }
}

fn sqlite_config(path: &str) -> ConnectionConfig {
    ConnectionConfig {
        kind: DatabaseKind::Sqlite,
        url: None,
        host: None,
        port: None,
        database: Some(path.to_owned()),
        user: None,
        password: None,
        schema: None,
    }
}

fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

async fn refused(policy: &ConnectionPolicy, config: &ConnectionConfig) -> PolicyViolation {
    policy
        .vet("source_config", &tenant(), config)
        .await
        .expect_err("must be refused")
}

#[tokio::test]
async fn link_local_and_metadata_addresses_are_always_refused() {
    let policy = ConnectionPolicy::for_local_user();
    for url in [
        "postgres://u@169.254.169.254/db",
        "postgres://u@[fe80::1]/db",
        "postgres://u@[fd00:ec2::254]/db",
        "mysql://u@[::ffff:169.254.169.254]/db",
    ] {
        let kind = if url.starts_with("mysql") {
            DatabaseKind::Mysql
        } else {
            DatabaseKind::Postgresql
        };
        let err = refused(&policy, &url_config(kind, url)).await;
        assert_eq!(err.field, "source_config", "{url}");
        assert!(err.message.contains("link-local"), "{url}: {}", err.message);
    }
    let ok = policy
        .vet(
            "source_config",
            &tenant(),
            &url_config(DatabaseKind::Postgresql, "postgres://u@127.0.0.1/db"),
        )
        .await
        .unwrap();
    assert_eq!(ok.pinned_host().as_deref(), Some("127.0.0.1"));
}

#[tokio::test]
async fn freights_redis_is_refused_by_any_local_address() {
    let redis: SocketAddr = "127.0.0.1:6379".parse().unwrap();
    let policy = ConnectionPolicy::for_tenants().protect_endpoint([redis]);
    for url in [
        "mysql://u@127.0.0.1:6379/db",
        "mysql://u@[::1]:6379/db",
        "mysql://u@localhost:6379/db",
        "mysql://u@LOCALHOST.:6379/db",
    ] {
        let err = refused(&policy, &url_config(DatabaseKind::Mysql, url)).await;
        assert!(
            err.message.contains("Freight's own"),
            "{url}: {}",
            err.message
        );
    }
    policy
        .vet(
            "source_config",
            &tenant(),
            &url_config(DatabaseKind::Mysql, "mysql://u@127.0.0.1:3306/db"),
        )
        .await
        .expect("another port of the same host is allowed");
}

#[tokio::test]
async fn freights_postgresql_is_refused_to_webhooks_but_not_to_jobs() {
    let postgres: SocketAddr = "127.0.0.1:5432".parse().unwrap();
    let policy = ConnectionPolicy::for_tenants().protect_endpoint_from_webhooks([postgres]);
    for url in [
        "http://127.0.0.1:5432/",
        "http://[::1]:5432/hook",
        "https://localhost:5432/",
    ] {
        let err = policy.vet_url("url", url).await.unwrap_err();
        assert!(
            err.message.contains("Freight's own"),
            "{url}: {}",
            err.message
        );
    }
    policy
        .vet_url("url", "http://127.0.0.1:8080/hook")
        .await
        .expect("another port is allowed");
    policy
        .vet(
            "target_config",
            &tenant(),
            &url_config(
                DatabaseKind::Postgresql,
                "postgres://u@127.0.0.1:5432/other",
            ),
        )
        .await
        .expect("jobs may use the server's other databases");
}

#[tokio::test]
async fn operator_allow_and_deny_lists_apply_to_names_and_addresses() {
    let policy = ConnectionPolicy::for_tenants()
        .allow_only(EgressRule::parse_list("10.0.0.0/8, 127.0.0.1").unwrap())
        .deny(EgressRule::parse_list("10.1.2.3,Blocked.Example.").unwrap());
    let config =
        |host: &str| url_config(DatabaseKind::Postgresql, &format!("postgres://u@{host}/db"));
    assert!(
        refused(&policy, &config("192.168.1.1"))
            .await
            .message
            .contains("allow list")
    );
    assert!(
        refused(&policy, &config("10.1.2.3"))
            .await
            .message
            .contains("denied")
    );
    policy
        .vet("f", &tenant(), &config("10.9.9.9"))
        .await
        .unwrap();
    policy
        .vet("f", &tenant(), &config("127.0.0.1"))
        .await
        .unwrap();
    let deny_name =
        ConnectionPolicy::for_tenants().deny(EgressRule::parse_list("localhost").unwrap());
    assert!(
        refused(&deny_name, &config("LocalHost."))
            .await
            .message
            .contains("denied")
    );
    assert!(EgressRule::parse_list("not a host!").is_err());
}

#[tokio::test]
async fn dangerous_url_parameters_and_sockets_are_refused() {
    let policy = ConnectionPolicy::for_local_user();
    for (kind, url, field) in [
        (
            DatabaseKind::Postgresql,
            "postgres://u@h/db?host=/var/run/postgresql",
            "source_config.url",
        ),
        (
            DatabaseKind::Postgresql,
            "postgres://u@h/db?sslkey=/root/.postgresql/postgresql.key",
            "source_config.url",
        ),
        (
            DatabaseKind::Mysql,
            "mysql://u@h/db?socket=/run/mysqld/mysqld.sock",
            "source_config.url",
        ),
        (DatabaseKind::Postgresql, "postgres:///db", "source_config"),
    ] {
        let err = refused(&policy, &url_config(kind, url)).await;
        assert_eq!(err.field, field, "{url}: {err}");
    }
}

#[tokio::test]
async fn own_database_identity_is_refused_and_others_on_the_server_are_not() {
    let own = DatabaseIdentity::Postgres {
        system_identifier: "42".into(),
        database: "freight".into(),
    };
    let policy = ConnectionPolicy::for_tenants().protect_database(own.clone());
    assert!(policy.check_identity("target_config", &own).is_err());
    let neighbour = DatabaseIdentity::Postgres {
        system_identifier: "42".into(),
        database: "warehouse".into(),
    };
    policy.check_identity("target_config", &neighbour).unwrap();
}

#[tokio::test]
async fn sqlite_paths_stay_inside_the_tenant_directory() {
    let root =
        std::env::temp_dir().join(format!("freight-policy-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(root.join("acme")).unwrap();
    std::fs::create_dir_all(root.join("other")).unwrap();
    std::fs::write(root.join("other/secret.db"), b"x").unwrap();
    std::os::unix::fs::symlink(root.join("other/secret.db"), root.join("acme/link.db")).unwrap();
    std::os::unix::fs::symlink(root.join("other"), root.join("acme/dir")).unwrap();
    let policy = ConnectionPolicy::for_tenants().sqlite_root(&root);

    let disabled = ConnectionPolicy::for_tenants();
    assert!(
        refused(&disabled, &sqlite_config("a.db"))
            .await
            .message
            .contains("disabled")
    );

    let existing = refused(&policy, &sqlite_config("/etc/passwd")).await;
    let missing = refused(&policy, &sqlite_config("/etc/no-such-file")).await;
    assert_eq!(
        existing, missing,
        "one answer whether or not the file exists"
    );
    assert_eq!(existing.field, "source_config.database");
    for path in [
        "../other/secret.db",
        "link.db",
        "dir/secret.db",
        "sub/../../other/secret.db",
    ] {
        let err = refused(&policy, &sqlite_config(path)).await;
        assert_eq!(err, existing, "{path}");
    }
    let ok = policy
        .vet("source_config", &tenant(), &sqlite_config("new.db"))
        .await
        .unwrap();
    assert_eq!(
        ok.parts.database.as_deref(),
        Some(
            root.canonicalize()
                .unwrap()
                .join("acme/new.db")
                .to_str()
                .unwrap()
        )
    );
    let via_url = policy
        .vet(
            "source_config",
            &tenant(),
            &url_config(DatabaseKind::Sqlite, "sqlite://new.db"),
        )
        .await
        .unwrap();
    assert_eq!(via_url.parts.database, ok.parts.database);
    let _ = std::fs::remove_dir_all(&root);
}

#[tokio::test]
async fn system_schemas_are_refused_for_every_login() {
    for policy in [
        ConnectionPolicy::for_tenants(),
        ConnectionPolicy::for_local_user(),
    ] {
        for schema in [
            "pg_catalog",
            "information_schema",
            "pg_toast",
            "pg_temp_3",
            "pg_toast_temp_3",
            "PG_CATALOG",
        ] {
            let mut config = url_config(DatabaseKind::Postgresql, "postgres://u@127.0.0.1/db");
            config.schema = Some(schema.to_owned());
            let err = refused(&policy, &config).await;
            assert_eq!(err.field, "source_config.schema", "{schema}");
            assert!(err.message.contains("system schema"), "{}", err.message);
        }
        for database in [
            "mysql",
            "information_schema",
            "performance_schema",
            "sys",
            "MySQL",
        ] {
            let url = format!("mysql://u@127.0.0.1/{database}");
            let err = refused(&policy, &url_config(DatabaseKind::Mysql, &url)).await;
            assert_eq!(err.field, "source_config.url", "{database}");
            assert!(err.message.contains("system database"), "{}", err.message);
            let fields = ConnectionConfig {
                kind: DatabaseKind::Mysql,
                url: None,
                host: Some("127.0.0.1".into()),
                port: None,
                database: Some(database.to_owned()),
                user: Some("u".into()),
                password: None,
                schema: None,
            };
            let err = refused(&policy, &fields).await;
            assert_eq!(err.field, "source_config.database", "{database}");
        }
        // Ordinary names that merely look alike stay allowed.
        let mut config = url_config(
            DatabaseKind::Postgresql,
            "postgres://u@127.0.0.1/pg_catalog",
        );
        config.schema = Some("catalog_pg".into());
        policy
            .vet("source_config", &tenant(), &config)
            .await
            .unwrap();
        policy
            .vet(
                "source_config",
                &tenant(),
                &url_config(DatabaseKind::Mysql, "mysql://u@127.0.0.1/mysql_app"),
            )
            .await
            .unwrap();
    }
}
