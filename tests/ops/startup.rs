//! A process that cannot serve its API does not start: `freight api` and
//! `freight all` on a port already taken exit non-zero at once, saying
//! which address and setting, rather than running on with only workers
//! and metrics.

use std::time::Duration;

use crate::support::FreightSpec;

#[tokio::test]
async fn a_taken_api_port_ends_start_up_with_a_clear_error() {
    let database = freight_api::testing::fresh_database("freight_ops_port").await;
    // Held for the whole test: the port stays taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    for command in ["api", "all"] {
        let mut freight = FreightSpec::new(command, &database)
            .env("FREIGHT_PORT", port.to_string())
            .spawn();
        let status = freight.wait_exit(Duration::from_secs(60)).await;
        let logs = freight.logs();
        assert!(
            !status.success(),
            "freight {command} exited {status}:\n{logs}"
        );
        assert!(
            logs.contains(&format!(
                "cannot serve the API on 127.0.0.1:{port} (FREIGHT_HOST, FREIGHT_PORT)"
            )),
            "freight {command}:\n{logs}"
        );
        assert!(
            logs.contains("Address already in use"),
            "freight {command}:\n{logs}"
        );
        // Nothing of the process was left running: no worker started.
        assert!(
            !logs.contains("worker starting"),
            "freight {command}:\n{logs}"
        );
    }
    drop(taken);
}
