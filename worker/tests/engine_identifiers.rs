//! `identifiers`: names arrive as the source spells them (`keep`, the
//! default) or folded to lower case (`lower`), and folding that would make
//! two names collide is refused at planning.

#[path = "engine_support/mod.rs"]
mod support;

use freight_core::job::Identifiers;
use freight_worker::engine::{Engine, EngineError};
use sqlx::Executor;
use support::{Dbs, job, migrate};

async fn camel_case_source(dbs: &Dbs) {
    let my = dbs.my_pool().await;
    my.execute(
        "CREATE TABLE `Parent` (`Id` int PRIMARY KEY);
         CREATE TABLE `CamelCase` (`Id` int PRIMARY KEY, `MixedName` varchar(20) NOT NULL,
             `ParentId` int, KEY `IdxMixed` (`MixedName`),
             CONSTRAINT `FkParent` FOREIGN KEY (`ParentId`) REFERENCES `Parent` (`Id`),
             CONSTRAINT `NotEmpty` CHECK (`MixedName` <> ''));
         INSERT INTO `Parent` VALUES (1);
         INSERT INTO `CamelCase` VALUES (1, 'one', 1), (2, 'two', NULL);
         CREATE VIEW `CamelView` AS SELECT `MixedName` FROM `CamelCase` WHERE `Id` > 1;",
    )
    .await
    .expect("source");
    my.close().await;
}

async fn names_in(pg: &sqlx::PgPool, sql: &str) -> Vec<String> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_all(pg)
        .await
        .expect(sql)
}

#[tokio::test]
async fn lower_folds_every_target_name_and_keep_keeps_them() {
    let dbs = Dbs::new().await;
    camel_case_source(&dbs).await;
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let pg = dbs.pg_pool().await;
    pg.execute("CREATE SCHEMA kept; CREATE SCHEMA folded")
        .await
        .expect("schemas");

    let keep = job(dbs.mysql(), dbs.pg("kept"), &["Parent", "CamelCase"], 10);
    assert_eq!(keep.identifiers, Identifiers::Keep, "the default");
    migrate(&engine, &keep).await;
    let mut lower = job(dbs.mysql(), dbs.pg("folded"), &["Parent", "CamelCase"], 10);
    lower.identifiers = Identifiers::Lower;
    let (plan, outcomes) = migrate(&engine, &lower).await;
    assert_eq!(outcomes.iter().map(|o| o.rows_written).sum::<i64>(), 3);
    let ddl = plan.report.tables[1].target_ddl.join("\n");
    assert!(
        ddl.contains("\"folded\".\"camelcase\"") && ddl.contains("\"mixedname\""),
        "{ddl}"
    );

    for (schema, table, column) in [
        ("kept", "CamelCase", "MixedName"),
        ("folded", "camelcase", "mixedname"),
    ] {
        let values = names_in(
            &pg,
            &format!("SELECT \"{column}\" FROM {schema}.\"{table}\" ORDER BY 1"),
        )
        .await;
        assert_eq!(values, ["one", "two"], "{schema}");
        let view = if schema == "kept" {
            "CamelView"
        } else {
            "camelview"
        };
        let through_view = names_in(
            &pg,
            &format!("SELECT \"{column}\" FROM {schema}.\"{view}\""),
        )
        .await;
        assert_eq!(through_view, ["two"], "{schema}");
        let tables = names_in(
            &pg,
            &format!(
                "SELECT table_name::text FROM information_schema.tables
                 WHERE table_schema = '{schema}' AND table_type = 'BASE TABLE' ORDER BY 1"
            ),
        )
        .await;
        let expected: Vec<String> = if schema == "kept" {
            vec!["CamelCase".into(), "Parent".into()]
        } else {
            vec!["camelcase".into(), "parent".into()]
        };
        assert_eq!(tables, expected);
        let constraints = names_in(
            &pg,
            &format!(
                "SELECT conname::text || ' ' || pg_get_constraintdef(c.oid) FROM pg_constraint c
                 JOIN pg_namespace n ON n.oid = c.connamespace
                 WHERE n.nspname = '{schema}' AND c.contype IN ('c', 'f') ORDER BY 1"
            ),
        )
        .await;
        let indexes = names_in(
            &pg,
            &format!(
                "SELECT indexname::text FROM pg_indexes WHERE schemaname = '{schema}' ORDER BY 1"
            ),
        )
        .await;
        if schema == "kept" {
            assert!(
                constraints.iter().any(|c| c.starts_with(
                    "FkParent FOREIGN KEY (\"ParentId\") REFERENCES kept.\"Parent\"(\"Id\")"
                )),
                "{constraints:?}"
            );
            assert!(
                indexes.contains(&"CamelCase_IdxMixed".to_owned()),
                "{indexes:?}"
            );
        } else {
            assert!(
                constraints.iter().any(|c| c
                    .starts_with("fkparent FOREIGN KEY (parentid) REFERENCES folded.parent(id)")),
                "{constraints:?}"
            );
            assert!(
                constraints
                    .iter()
                    .any(|c| c.starts_with("camelcase_notempty CHECK") && c.contains("mixedname")),
                "{constraints:?}"
            );
            assert!(
                indexes.contains(&"camelcase_idxmixed".to_owned()),
                "{indexes:?}"
            );
        }
    }
    pg.close().await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn lower_refuses_names_that_would_collide() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute("CREATE TABLE `Dup` (id int PRIMARY KEY); CREATE TABLE `dup` (id int PRIMARY KEY);")
        .await
        .expect("source");
    my.close().await;
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let mut j = job(dbs.mysql(), dbs.pg("public"), &[], 10);
    j.identifiers = Identifiers::Lower;
    match engine.plan(&j, false).await {
        Err(EngineError::Permanent(message)) => assert!(
            message.contains("identifiers")
                && (message.contains("Dup, dup") || message.contains("dup, Dup")),
            "{message}"
        ),
        other => panic!("expected a refusal, got {:?}", other.map(|p| p.report)),
    }
    // Kept as they are, both tables are copied.
    j.identifiers = Identifiers::Keep;
    let plan = engine.plan(&j, false).await.expect("plan");
    assert_eq!(plan.report.tables.len(), 2);

    // PostgreSQL columns may differ only in case.
    let pg = dbs.pg_pool().await;
    pg.execute("CREATE SCHEMA src; CREATE TABLE src.t (id int PRIMARY KEY, \"A\" int, a int)")
        .await
        .expect("pg source");
    pg.close().await;
    let mut j = job(dbs.pg("src"), dbs.pg("public"), &["t"], 10);
    j.identifiers = Identifiers::Lower;
    match engine.plan(&j, false).await {
        Err(EngineError::Permanent(message)) => {
            assert!(
                message.contains("columns of table t") && message.contains("A, a"),
                "{message}"
            )
        }
        other => panic!("expected a refusal, got {:?}", other.map(|p| p.report)),
    }
    dbs.cleanup().await;
}

#[tokio::test]
async fn lower_respells_postgres_checks_for_a_postgres_target() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    pg.execute(
        "CREATE SCHEMA src; CREATE SCHEMA dst;
         CREATE TABLE src.\"Orders\" (\"Id\" int PRIMARY KEY, \"Qty\" int CONSTRAINT \"QtyPositive\" CHECK (\"Qty\" > 0));
         INSERT INTO src.\"Orders\" VALUES (1, 5);",
    )
    .await
    .expect("source");
    let engine = Engine::new(freight_core::policy::ConnectionPolicy::for_local_user());
    let mut j = job(dbs.pg("src"), dbs.pg("dst"), &["Orders"], 10);
    j.identifiers = Identifiers::Lower;
    migrate(&engine, &j).await;
    let def: String = sqlx::query_scalar(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'qtypositive'",
    )
    .fetch_one(&pg)
    .await
    .expect("check on the target");
    assert_eq!(def, "CHECK ((qty > 0))");
    let refused = pg.execute("INSERT INTO dst.orders VALUES (2, 0)").await;
    assert!(refused.is_err(), "the check holds on the target");
    pg.close().await;
    dbs.cleanup().await;
}
