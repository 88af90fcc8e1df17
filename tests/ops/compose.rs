//! docker-compose.yml, the Dockerfile and deploy/prometheus.yml, checked
//! without Docker: the services, ports, env wiring and start order that
//! README.md promises.

use std::collections::BTreeSet;

use serde_norway::Value;

use crate::support::{read, repo_root, require_tool};

fn compose() -> Value {
    let mut value: Value =
        serde_norway::from_str(&read("docker-compose.yml")).expect("docker-compose.yml is YAML");
    // Compose applies `<<:` merge keys; so must we.
    value.apply_merge().expect("merge keys");
    value
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    compose["services"]
        .get(name)
        .unwrap_or_else(|| panic!("service {name} missing from docker-compose.yml"))
}

fn str_list(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .map(|items| {
            items
                .iter()
                .map(|item| item.as_str().expect("a string").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn env<'a>(service: &'a Value, name: &str) -> &'a str {
    service["environment"][name]
        .as_str()
        .unwrap_or_else(|| panic!("environment variable {name} is not set (as a string)"))
}

fn depends_on_condition<'a>(service: &'a Value, dependency: &str) -> &'a str {
    service["depends_on"][dependency]["condition"]
        .as_str()
        .unwrap_or_else(|| panic!("no depends_on condition for {dependency}"))
}

const FREIGHT_SERVICES: [&str; 2] = ["freight-api", "freight-worker"];

#[test]
fn the_stack_has_every_promised_service() {
    let compose = compose();
    let services: BTreeSet<&str> = compose["services"]
        .as_mapping()
        .expect("services")
        .keys()
        .map(|k| k.as_str().expect("service name"))
        .collect();
    let expected: BTreeSet<&str> = [
        "postgres",
        "redis",
        "freight-api",
        "freight-worker",
        "prometheus",
        "mariadb",
    ]
    .into();
    assert_eq!(services, expected);

    assert_eq!(
        str_list(&service(&compose, "freight-api")["command"]),
        ["api"]
    );
    let worker = service(&compose, "freight-worker");
    assert_eq!(str_list(&worker["command"]), ["worker"]);
    assert_eq!(
        worker["deploy"]["replicas"].as_u64(),
        Some(2),
        "two workers by default"
    );
    for name in FREIGHT_SERVICES {
        let s = service(&compose, name);
        assert_eq!(s["image"].as_str(), Some("freight:local"), "{name}");
        assert_eq!(
            s["build"].as_str(),
            Some("."),
            "{name} builds the Dockerfile"
        );
    }
}

#[test]
fn published_ports_are_the_documented_ones() {
    let compose = compose();
    let ports = |name| str_list(&service(&compose, name)["ports"]);
    assert_eq!(ports("freight-api"), ["8000:8000"]);
    assert_eq!(ports("prometheus"), ["9090:9090"]);
    assert_eq!(ports("mariadb"), ["127.0.0.1:3307:3306"]);
    // Workers scale: a fixed host port would collide between replicas.
    assert!(ports("freight-worker").is_empty());
    assert!(ports("postgres").is_empty() && ports("redis").is_empty());
}

#[test]
fn freight_processes_are_wired_to_postgres_redis_and_metrics() {
    let compose = compose();
    let postgres = service(&compose, "postgres");
    let user = env(postgres, "POSTGRES_USER");
    let password = env(postgres, "POSTGRES_PASSWORD");
    let db = env(postgres, "POSTGRES_DB");
    let database_url = format!("postgres://{user}:{password}@postgres:5432/{db}");
    for name in FREIGHT_SERVICES {
        let s = service(&compose, name);
        assert_eq!(env(s, "DATABASE_URL"), database_url, "{name}");
        assert_eq!(env(s, "REDIS_URL"), "redis://redis:6379", "{name}");
        assert_eq!(env(s, "METRICS_PORT"), "9090", "{name}");
        assert_eq!(env(s, "LOG_FORMAT"), "json", "{name}");
        // One queue and one encryption key for the API and every worker, or
        // workers could not read what the API stored.
        assert_eq!(env(s, "FREIGHT_QUEUE"), "freight:batches", "{name}");
        for secret in ["JWT_SECRET_KEY", "FREIGHT_ENCRYPTION_KEY"] {
            assert!(
                env(s, secret).starts_with(&format!("${{{secret}:-change-me-local-only")),
                "{name}: {secret} must come from the environment with a marked local default"
            );
        }
        // Docker's stop timeout must outlast Freight's drain.
        let grace: u64 = env(s, "SHUTDOWN_GRACE_SECONDS").parse().expect("number");
        let stop = s["stop_grace_period"].as_str().expect("stop_grace_period");
        let stop: u64 = stop.trim_end_matches('s').parse().expect("seconds");
        assert!(
            stop > grace,
            "{name}: stop_grace_period {stop}s <= {grace}s"
        );
    }
    let api = service(&compose, "freight-api");
    assert_eq!(env(api, "FREIGHT_PORT"), "8000");
    assert_eq!(env(api, "FREIGHT_HOST"), "0.0.0.0");
    assert!(
        service(&compose, "redis")["command"]
            .as_sequence()
            .is_some_and(|c| c.iter().any(|a| a.as_str() == Some("--appendonly"))),
        "Redis runs without persistence: Postgres is the system of record"
    );
}

#[test]
fn no_secret_is_hard_coded() {
    let compose = compose();
    let secret_names = ["PASSWORD", "SECRET", "KEY"];
    for (name, s) in compose["services"].as_mapping().expect("services") {
        let Some(environment) = s["environment"].as_mapping() else {
            continue;
        };
        for (key, value) in environment {
            let key = key.as_str().expect("env name");
            let value = value.as_str().unwrap_or_default();
            if secret_names.iter().any(|s| key.contains(s)) {
                assert!(
                    value.starts_with(&format!("${{{key}:-change-me-local-only")),
                    "{name:?}: {key}={value:?} must be `${{{key}:-change-me-local-only…}}`"
                );
            }
        }
    }
}

#[test]
fn start_order_waits_for_healthy_dependencies() {
    let compose = compose();
    for name in [
        "postgres",
        "redis",
        "freight-api",
        "freight-worker",
        "prometheus",
        "mariadb",
    ] {
        let test = str_list(&service(&compose, name)["healthcheck"]["test"]);
        assert!(
            test.first().is_some_and(|t| t.starts_with("CMD")),
            "{name} has a health check"
        );
    }
    for name in FREIGHT_SERVICES {
        let s = service(&compose, name);
        for dependency in ["postgres", "redis"] {
            assert_eq!(
                depends_on_condition(s, dependency),
                "service_healthy",
                "{name} -> {dependency}"
            );
        }
    }
    let api_check = str_list(&service(&compose, "freight-api")["healthcheck"]["test"]);
    assert!(
        api_check.iter().any(|a| a == "http://localhost:8000/ready"),
        "the API is healthy when /ready says so: {api_check:?}"
    );
    let worker_check = str_list(&service(&compose, "freight-worker")["healthcheck"]["test"]);
    assert!(
        worker_check
            .iter()
            .any(|a| a == "http://localhost:9090/metrics"),
        "{worker_check:?}"
    );
}

#[test]
fn prometheus_scrapes_every_freight_process_on_9090() {
    let compose = compose();
    let volumes = str_list(&service(&compose, "prometheus")["volumes"]);
    assert!(volumes.contains(&"./deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro".into()));
    assert!(volumes.contains(&"./deploy/rules:/etc/prometheus/rules:ro".into()));

    let config: Value =
        serde_norway::from_str(&read("deploy/prometheus.yml")).expect("prometheus.yml is YAML");
    let jobs = config["scrape_configs"]
        .as_sequence()
        .expect("scrape_configs");
    let job = |name: &str| {
        jobs.iter()
            .find(|j| j["job_name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("scrape job {name}"))
    };
    assert_eq!(
        str_list(&job("freight-api")["static_configs"][0]["targets"]),
        ["freight-api:9090"]
    );
    let workers = &job("freight-worker")["dns_sd_configs"][0];
    assert_eq!(str_list(&workers["names"]), ["freight-worker"]);
    assert_eq!(workers["port"].as_u64(), Some(9090));
}

#[test]
fn the_sample_databases_are_mounted_for_first_start() {
    let compose = compose();
    let mariadb = service(&compose, "mariadb");
    assert_eq!(env(mariadb, "MARIADB_DATABASE"), "shop");
    assert_eq!(env(mariadb, "MARIADB_USER"), "freight");
    assert!(
        str_list(&mariadb["volumes"])
            .contains(&"./deploy/mariadb:/docker-entrypoint-initdb.d:ro".into())
    );
    assert!(
        str_list(&service(&compose, "postgres")["volumes"])
            .contains(&"./deploy/postgres:/docker-entrypoint-initdb.d:ro".into())
    );
    assert!(read("deploy/postgres/01-warehouse.sql").contains("CREATE DATABASE warehouse"));
    let seed = read("deploy/mariadb/01-shop.sql");
    for line in seed.lines().map(|l| l.trim().to_uppercase()) {
        assert!(
            !line.starts_with("USE ") && !line.starts_with("CREATE DATABASE"),
            "the seed runs inside MARIADB_DATABASE; it must not pick its own: {line}"
        );
    }
}

#[test]
fn the_image_builds_both_binaries_and_runs_unprivileged() {
    let dockerfile = read("Dockerfile");
    assert!(dockerfile.contains("cargo build --release --locked -p freight -p freight-mcp --bins"));
    assert!(dockerfile.contains("AS build") && dockerfile.contains("FROM debian:"));
    assert!(dockerfile.contains("COPY --from=build /out/freight /out/freight-mcp /usr/local/bin/"));
    let user = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("USER "))
        .next_back()
        .expect("a USER instruction");
    assert!(
        !user.starts_with("root") && !user.starts_with("0"),
        "runs as {user}"
    );
    assert!(dockerfile.contains(r#"ENTRYPOINT ["freight"]"#));
    // Only the sources go into the build context.
    let ignore: Vec<String> = read(".dockerignore").lines().map(str::to_owned).collect();
    for entry in ["target", ".git", ".env"] {
        assert!(
            ignore.contains(&entry.to_owned()),
            ".dockerignore lacks {entry}"
        );
    }
    for needed in ["migrations", "openapi", "Cargo.lock"] {
        assert!(repo_root().join(needed).exists());
        assert!(
            !ignore.contains(&needed.to_owned()),
            "{needed} is needed by the build"
        );
    }
}

#[test]
fn promtool_accepts_the_prometheus_config() {
    let promtool = require_tool("promtool", "prometheus");
    let output = std::process::Command::new(promtool)
        .args(["check", "config"])
        .arg(repo_root().join("deploy/prometheus.yml"))
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "promtool check config failed:\n{text}"
    );
    assert!(text.contains("SUCCESS"), "{text}");
}

#[test]
fn promtool_accepts_the_alert_rules() {
    let promtool = require_tool("promtool", "prometheus");
    let rules: Vec<_> = std::fs::read_dir(repo_root().join("deploy/rules"))
        .expect("deploy/rules")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    assert!(!rules.is_empty(), "deploy/rules/*.yml");
    let output = std::process::Command::new(promtool)
        .args(["check", "rules"])
        .args(&rules)
        .output()
        .expect("run promtool");
    assert!(
        output.status.success(),
        "promtool check rules failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Every variable the binary reads is documented in README.md.
#[test]
fn every_setting_is_documented() {
    let docs = read("README.md");
    let mut names = BTreeSet::new();
    for source in [
        "src/settings.rs",
        "src/dev_cmd.rs",
        "src/worker_cmd.rs",
        "src/telemetry.rs",
    ] {
        let text = read(source);
        for call in ["env = \"", "std::env::var(\""] {
            for (i, _) in text.match_indices(call) {
                let rest = &text[i + call.len()..];
                let name: String = rest.chars().take_while(|c| *c != '"').collect();
                if name.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
                    names.insert(name);
                }
            }
        }
    }
    assert!(names.contains("DATABASE_URL") && names.contains("FREIGHT_LEASE_MS"));
    let compose = compose();
    for name in FREIGHT_SERVICES {
        if let Some(environment) = service(&compose, name)["environment"].as_mapping() {
            names.extend(
                environment
                    .keys()
                    .map(|k| k.as_str().expect("env").to_owned()),
            );
        }
    }
    names.insert("LOG_FORMAT".into());
    names.insert("RUST_LOG".into());
    let missing: Vec<_> = names
        .iter()
        .filter(|n| !docs.contains(&format!("`{n}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "README.md does not document {missing:?}"
    );
}

/// Without `docker compose config` to run, at least catch misspelt keys:
/// every key must be one the Compose specification defines.
#[test]
fn only_compose_spec_keys_are_used() {
    let compose = compose();
    let top: BTreeSet<&str> = [
        "name", "services", "volumes", "networks", "configs", "secrets",
    ]
    .into();
    let service_keys: BTreeSet<&str> = [
        "image",
        "build",
        "command",
        "entrypoint",
        "environment",
        "env_file",
        "ports",
        "expose",
        "volumes",
        "healthcheck",
        "depends_on",
        "deploy",
        "restart",
        "stop_grace_period",
        "stop_signal",
        "user",
        "working_dir",
        "init",
        "labels",
        "networks",
        "profiles",
        "container_name",
        "hostname",
        "logging",
        "ulimits",
        "read_only",
        "tmpfs",
        "pull_policy",
    ]
    .into();
    let healthcheck_keys: BTreeSet<&str> = [
        "test",
        "interval",
        "timeout",
        "retries",
        "start_period",
        "start_interval",
        "disable",
    ]
    .into();
    for key in compose.as_mapping().expect("mapping").keys() {
        let key = key.as_str().expect("key");
        assert!(
            top.contains(key) || key.starts_with("x-"),
            "unknown top-level key {key}"
        );
    }
    for (name, s) in compose["services"].as_mapping().expect("services") {
        for key in s.as_mapping().expect("service").keys() {
            let key = key.as_str().expect("key");
            assert!(service_keys.contains(key), "{name:?}: unknown key {key}");
        }
        if let Some(check) = s["healthcheck"].as_mapping() {
            for key in check.keys() {
                let key = key.as_str().expect("key");
                assert!(
                    healthcheck_keys.contains(key),
                    "{name:?}: unknown healthcheck key {key}"
                );
            }
        }
        for (dependency, condition) in s["depends_on"].as_mapping().into_iter().flatten() {
            let dependency = dependency.as_str().expect("name");
            assert!(
                compose["services"].get(dependency).is_some(),
                "{name:?} depends on unknown {dependency}"
            );
            let condition = condition["condition"].as_str().unwrap_or_default();
            assert!(
                [
                    "service_started",
                    "service_healthy",
                    "service_completed_successfully"
                ]
                .contains(&condition),
                "{name:?} -> {dependency}: condition {condition:?}"
            );
        }
    }
    // Named volumes used by services are declared.
    let declared: BTreeSet<&str> = compose["volumes"]
        .as_mapping()
        .expect("volumes")
        .keys()
        .map(|k| k.as_str().expect("volume"))
        .collect();
    for (name, s) in compose["services"].as_mapping().expect("services") {
        for volume in str_list(&s["volumes"]) {
            let source = volume.split(':').next().unwrap_or_default();
            if !source.starts_with('.') && !source.starts_with('/') {
                assert!(
                    declared.contains(source),
                    "{name:?}: volume {source} not declared"
                );
            }
        }
    }
}
