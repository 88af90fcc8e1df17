//! The `freight` binary's own subcommands.

use std::process::Command;

use freight_core::tokens::{Role, TokenKeys};

fn freight() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_freight"));
    command
        .env_remove("JWT_SECRET_KEY")
        .env_remove("FREIGHT_DEV_MODE")
        .env_remove("FREIGHT_ENCRYPTION_KEY")
        .env("RUST_LOG", "warn");
    command
}

#[test]
fn token_prints_only_a_token_that_grants_the_requested_tenants() {
    let secret = "cli-test-secret-0123456789";
    let output = freight()
        .args([
            "token",
            "--tenant",
            "acme",
            "--tenant",
            "globex",
            "--role",
            "admin",
            "--subject",
            "ops",
            "--ttl-hours",
            "2",
        ])
        .env("JWT_SECRET_KEY", secret)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let token = stdout.trim_end_matches('\n');
    assert_eq!(token.lines().count(), 1, "stdout holds only the token");
    let claims = TokenKeys::new(secret).verify(token).unwrap();
    assert_eq!(claims.tenants, ["acme", "globex"]);
    assert_eq!(claims.role, Role::Admin);
    assert_eq!(claims.sub, "ops");
    let ttl = claims.exp - claims.iat;
    assert_eq!(ttl, 2 * 3600);
}

#[test]
fn a_missing_or_weak_jwt_secret_is_a_clear_start_up_error() {
    // Workers verify no tokens: what they cannot start without is the
    // key that opens the jobs' connection configs.
    for (args, missing) in [
        (
            &["token", "--tenant", "acme"][..],
            "JWT_SECRET_KEY is not set",
        ),
        (&["api"][..], "JWT_SECRET_KEY is not set"),
        (&["all"][..], "JWT_SECRET_KEY is not set"),
        (&["worker"][..], "FREIGHT_ENCRYPTION_KEY is not set"),
    ] {
        let output = freight().args(args).output().unwrap();
        assert!(!output.status.success(), "{args:?} must refuse to start");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(missing), "{args:?}: {stderr}");
    }
    let weak = freight()
        .args(["token", "--tenant", "acme"])
        .env("JWT_SECRET_KEY", "short")
        .output()
        .unwrap();
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("at least 16 characters"));

    let bad_tenant = freight()
        .args(["token", "--tenant", "Not Valid"])
        .env("JWT_SECRET_KEY", "cli-test-secret-0123456789")
        .output()
        .unwrap();
    assert!(!bad_tenant.status.success());
}

#[test]
fn dev_mode_allows_a_missing_secret_with_a_loud_warning() {
    let output = freight()
        .args(["token", "--tenant", "acme"])
        .env("FREIGHT_DEV_MODE", "true")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("PUBLIC development secret"));
}

#[test]
fn openapi_prints_the_committed_spec() {
    let output = freight().arg("openapi").output().unwrap();
    assert!(output.status.success());
    let committed =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/freight.json")).unwrap();
    assert_eq!(output.stdout, committed);
}
