//! SQLite files: only inside the tenant's own directory, and one answer
//! whether or not a refused file exists.

use serde_json::json;

use crate::common::assert_problem;
use crate::support::{body, secure_api};

#[tokio::test]
async fn sqlite_is_refused_without_a_root_and_confined_to_the_tenant_directory_with_one() {
    let pg_target = freight_api::testing::fresh_database("freight_sec_sqlite_t").await;
    let target = json!({"type": "postgresql", "url": pg_target});

    let no_root = secure_api(|p| p).await;
    let mallory = no_root.new_tenant();
    let outside =
        std::env::temp_dir().join(format!("anything-{}.db", uuid::Uuid::new_v4().simple()));
    assert_problem(
        no_root
            .post(
                "/api/v1/jobs",
                &mallory,
                &body(
                    json!({"type": "sqlite", "database": outside.display().to_string()}),
                    target.clone(),
                ),
            )
            .await,
        422,
        "CONNECTION_NOT_ALLOWED",
    )
    .await;
    assert!(!outside.exists(), "a refused path is never created");

    let root = std::env::temp_dir().join(format!(
        "freight-sqlite-root-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&root).unwrap();
    let api = {
        let root = root.clone();
        secure_api(move |p| p.sqlite_root(root)).await
    };
    let mallory = api.new_tenant();
    let victim = api.new_tenant();
    let victim_dir = root.join(&victim.tenant);
    std::fs::create_dir_all(&victim_dir).unwrap();
    let victim_db = victim_dir.join("private.db");
    {
        use sqlx::Connection;
        let mut c =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", victim_db.display()))
                .await
                .unwrap();
        sqlx::query("CREATE TABLE secrets (id INTEGER PRIMARY KEY, v TEXT)")
            .execute(&mut c)
            .await
            .unwrap();
    }
    let mallory_dir = root.join(&mallory.tenant);
    std::fs::create_dir_all(&mallory_dir).unwrap();
    std::os::unix::fs::symlink(&victim_db, mallory_dir.join("link.db")).unwrap();
    std::os::unix::fs::symlink(&victim_dir, mallory_dir.join("theirs")).unwrap();

    let mut answers = Vec::new();
    for path in [
        "/etc/passwd".to_owned(),
        "/etc/no-such-file".to_owned(),
        victim_db.display().to_string(),
        format!("../{}/private.db", victim.tenant),
        "link.db".to_owned(),
        "theirs/private.db".to_owned(),
    ] {
        for form in [
            json!({"type": "sqlite", "database": path}),
            json!({"type": "sqlite", "url": format!("sqlite://{path}")}),
        ] {
            let problem = assert_problem(
                api.post("/api/v1/jobs/plan", &mallory, &body(form, target.clone()))
                    .await,
                422,
                "CONNECTION_NOT_ALLOWED",
            )
            .await;
            assert_eq!(
                problem["errors"][0]["field"], "source_config.database",
                "{path}"
            );
            answers.push(problem["errors"][0]["message"].clone());
        }
    }
    answers.dedup();
    assert_eq!(
        answers.len(),
        1,
        "one answer whether or not the file exists: {answers:?}"
    );

    // The tenant's own file, by relative path, is planned.
    {
        use sqlx::Connection;
        let own = mallory_dir.join("mine.db");
        let mut c =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", own.display()))
                .await
                .unwrap();
        sqlx::query("CREATE TABLE items (id INTEGER PRIMARY KEY)")
            .execute(&mut c)
            .await
            .unwrap();
    }
    let plan = api
        .post(
            "/api/v1/jobs/plan",
            &mallory,
            &body(
                json!({"type": "sqlite", "database": "mine.db"}),
                target.clone(),
            ),
        )
        .await;
    assert_eq!(plan.status(), 200, "{}", plan.text().await.unwrap());
    let plan: serde_json::Value = plan.json().await.unwrap();
    assert_eq!(plan["tables"][0]["table_name"], "items");
    let _ = std::fs::remove_dir_all(&root);
}
