//! Every new connection of a pool passes the identity rule, not only the
//! first: a pool opens connections long after planning, and in the TLS
//! verify modes the driver resolves the host name itself each time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use freight_core::policy::{ConnectionPolicy, DatabaseIdentity};
use serde_json::json;
use sqlx::Connection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A PostgreSQL proxy that forwards its first `honest` connections as they
/// are and points every later one at `database` instead: a server whose
/// answer changes after the first connection.
async fn switching_proxy(honest: usize, database: String) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            let database = database.clone();
            tokio::spawn(async move {
                let mut startup = read_message(&mut client).await;
                // SSLRequest: no TLS here; the client sends its startup next.
                if startup.len() == 8 && startup[4..8] == 80_877_103u32.to_be_bytes() {
                    client.write_all(b"N").await.unwrap();
                    startup = read_message(&mut client).await;
                }
                if n >= honest {
                    startup = with_database(&startup, &database);
                }
                let mut server = tokio::net::TcpStream::connect("127.0.0.1:5432")
                    .await
                    .unwrap();
                server.write_all(&startup).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    port
}

async fn read_message(stream: &mut tokio::net::TcpStream) -> Vec<u8> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await.unwrap();
    let mut message = len.to_vec();
    message.resize(u32::from_be_bytes(len) as usize, 0);
    stream.read_exact(&mut message[4..]).await.unwrap();
    message
}

/// The startup message with its `database` parameter replaced.
fn with_database(startup: &[u8], database: &str) -> Vec<u8> {
    let fields: Vec<&[u8]> = startup[8..].split(|b| *b == 0).collect();
    let mut body = startup[4..8].to_vec();
    let mut pairs = fields.chunks(2);
    for pair in pairs.by_ref() {
        let [name, value] = pair else { break };
        if name.is_empty() {
            break;
        }
        body.extend_from_slice(name);
        body.push(0);
        body.extend_from_slice(if *name == b"database" {
            database.as_bytes()
        } else {
            value
        });
        body.push(0);
    }
    body.push(0);
    let mut message = u32::try_from(body.len() + 4)
        .unwrap()
        .to_be_bytes()
        .to_vec();
    message.extend(body);
    message
}

#[tokio::test]
async fn a_pools_later_connection_to_freights_own_database_is_refused() {
    let own = freight_api::testing::fresh_database("freight_sec_pool_own").await;
    let tenant_db = freight_api::testing::fresh_database("freight_sec_pool_tenant").await;
    let mut conn = sqlx::PgConnection::connect(&own).await.unwrap();
    let (system_identifier, database): (String, String) =
        sqlx::query_as(freight_core::policy::POSTGRES_IDENTITY_QUERY)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    conn.close().await.unwrap();
    let policy = ConnectionPolicy::for_tenants().protect_database(DatabaseIdentity::Postgres {
        system_identifier,
        database: database.clone(),
    });
    let engine = freight_worker::engine::Engine::new(policy);
    let port = switching_proxy(1, database).await;
    let tenant_name = crate::support::database_name(&tenant_db);
    let config: freight_core::connection::ConnectionConfig = serde_json::from_value(json!({
        "type": "postgresql",
        "url": format!("postgres://postgres@127.0.0.1:{port}/{tenant_name}?sslmode=disable")
    }))
    .unwrap();
    let job = crate::support::job_context("acme", config.clone(), config);

    // The first connection reaches the tenant's database; the second, of the
    // same pool, Freight's own, and is refused.
    let err = engine
        .hold_connections(&job, true, 2)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("connection not allowed") && err.contains("Freight's own database"),
        "{err}"
    );
}
