//! MariaDB spatial columns into PostgreSQL: PostGIS `geometry` with each
//! value's SRID when the target database has the extension, WKB `bytea`
//! when it does not.

#[path = "engine_support/mod.rs"]
mod support;

use std::collections::BTreeMap;

use freight_worker::engine::Engine;
use sqlx::{Executor, MySqlPool, PgPool, Row};
use support::{Dbs, job, migrate};

fn engine() -> Engine {
    Engine::new(freight_core::policy::ConnectionPolicy::for_local_user())
}

/// Points, polygons and a mixed `geometry` column, SRIDs 4326 and 0, NULLs;
/// `loc` (NOT NULL) has a SPATIAL index.
async fn create_source(my: &MySqlPool) {
    my.execute(
        "CREATE TABLE places (
            id int PRIMARY KEY,
            pt point, poly polygon, g geometry,
            loc point NOT NULL, SPATIAL KEY sp_loc (loc)
         );
         INSERT INTO places VALUES
          (1, ST_GeomFromText('POINT(1.5 -2)', 4326),
              ST_GeomFromText('POLYGON((0 0,4 0,4 3,0 3,0 0),(1 1,2 1,2 2,1 1))', 4326),
              ST_GeomFromText('LINESTRING(0 0,1 1,2 0.5)', 4326),
              ST_GeomFromText('POINT(13.4 52.5)', 4326)),
          (2, ST_GeomFromText('POINT(-71.06 42.36)', 0),
              ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 0))', 0),
              ST_GeomFromText('POINT(7 8)', 0),
              ST_GeomFromText('POINT(0 0)', 0)),
          (3, NULL, NULL, NULL, ST_GeomFromText('POINT(1 1)', 3857)),
          (4, ST_GeomFromText('POINT(100 -45.25)', 4326), NULL,
              ST_GeomFromText('MULTILINESTRING((0 0,1 1),(2 2,3 3))', 4326),
              ST_GeomFromText('POINT(2 2)', 0)),
          (5, NULL, ST_GeomFromText('POLYGON((10 10,20 10,20 20,10 10))', 4326), NULL,
              ST_GeomFromText('POINT(3 3)', 4326));",
    )
    .await
    .expect("create source");
}

type Rows = Vec<Vec<Option<String>>>;

const COLUMNS: [&str; 4] = ["pt", "poly", "g", "loc"];

/// Per row: id, then per column its text and SRID.
async fn source_rows(my: &MySqlPool) -> Rows {
    let cols: Vec<String> = COLUMNS
        .iter()
        .map(|c| format!("ST_AsText({c}), CAST(ST_SRID({c}) AS CHAR)"))
        .collect();
    let sql = format!(
        "SELECT CAST(id AS CHAR), {} FROM places ORDER BY id",
        cols.join(", ")
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(my)
        .await
        .expect("source rows")
        .iter()
        .map(|r| (0..9).map(|i| r.get(i)).collect())
        .collect()
}

async fn target_rows(pg: &PgPool) -> Rows {
    let cols: Vec<String> = COLUMNS
        .iter()
        .map(|c| format!("ST_AsText({c}), ST_SRID({c})::text"))
        .collect();
    let sql = format!(
        "SELECT id::text, {} FROM places ORDER BY id",
        cols.join(", ")
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(pg)
        .await
        .expect("target rows")
        .iter()
        .map(|r| (0..9).map(|i| r.get(i)).collect())
        .collect()
}

async fn column_types(pg: &PgPool) -> BTreeMap<String, String> {
    sqlx::query(
        "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute
         WHERE attrelid = 'places'::regclass AND attnum > 0",
    )
    .fetch_all(pg)
    .await
    .expect("types")
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

#[tokio::test]
async fn mariadb_spatial_columns_become_postgis_geometry_with_their_srid() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    create_source(&my).await;
    let pg = dbs.pg_pool().await;
    pg.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        .await
        .expect("postgis (apt-get install postgresql-15-postgis-3)");

    // Batches of 2: every batch is verified by `migrate`.
    let (plan, outcomes) = migrate(
        &engine(),
        &job(dbs.mysql(), dbs.pg("public"), &["places"], 2),
    )
    .await;
    assert_eq!(outcomes.len(), 3);
    for o in &outcomes {
        let detail = o.verify_detail.as_deref().unwrap_or_default();
        assert!(
            detail.contains("checksum match") && !detail.contains("count only"),
            "{detail}"
        );
    }
    let warnings = &plan.report.tables[0].warnings;
    assert!(warnings.iter().all(|w| !w.contains("WKB")), "{warnings:?}");

    let types = column_types(&pg).await;
    assert_eq!(types["pt"], "geometry(Point)");
    assert_eq!(types["poly"], "geometry(Polygon)");
    assert_eq!(types["g"], "geometry");
    assert_eq!(types["loc"], "geometry(Point)");
    let gist: String = sqlx::query_scalar(
        "SELECT am.amname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
         JOIN pg_am am ON am.oid = c.relam WHERE i.indrelid = 'places'::regclass AND NOT i.indisprimary",
    )
    .fetch_one(&pg)
    .await
    .expect("spatial index");
    assert_eq!(gist, "gist");

    let source = source_rows(&my).await;
    assert_eq!(source[0][2].as_deref(), Some("4326"), "{source:?}");
    assert_eq!(source[1][2].as_deref(), Some("0"), "{source:?}");
    assert_eq!(target_rows(&pg).await, source);
    // And the same WKB, byte for byte.
    let wkb_sql = |hex: fn(&str) -> String| {
        let cols: Vec<String> = COLUMNS.iter().map(|c| hex(c)).collect();
        format!("SELECT {} FROM places ORDER BY id", cols.join(", "))
    };
    let source_wkb: Vec<Vec<Option<String>>> = sqlx::query(sqlx::AssertSqlSafe(wkb_sql(|c| {
        format!("LOWER(HEX(ST_AsBinary({c})))")
    })))
    .fetch_all(&my)
    .await
    .expect("source wkb")
    .iter()
    .map(|r| (0..4).map(|i| r.get(i)).collect())
    .collect();
    let target_wkb: Vec<Vec<Option<String>>> = sqlx::query(sqlx::AssertSqlSafe(wkb_sql(|c| {
        format!("encode(ST_AsBinary({c}), 'hex')")
    })))
    .fetch_all(&pg)
    .await
    .expect("target wkb")
    .iter()
    .map(|r| (0..4).map(|i| r.get(i)).collect())
    .collect();
    assert_eq!(target_wkb, source_wkb);
    // The values are real geometries: PostGIS computes on them.
    let area: f64 = sqlx::query_scalar("SELECT ST_Area(poly) FROM places WHERE id = 1")
        .fetch_one(&pg)
        .await
        .expect("area");
    assert!((area - 11.5).abs() < 1e-9, "{area}");
    dbs.cleanup().await;
}

#[tokio::test]
async fn without_postgis_spatial_columns_arrive_as_wkb_bytea() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    create_source(&my).await;
    let pg = dbs.pg_pool().await;

    let (plan, _) = migrate(
        &engine(),
        &job(dbs.mysql(), dbs.pg("public"), &["places"], 2),
    )
    .await;
    let warnings = &plan.report.tables[0].warnings;
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("pt") && w.contains("WKB")),
        "{warnings:?}"
    );
    let types = column_types(&pg).await;
    for c in COLUMNS {
        assert_eq!(types[c], "bytea", "{c}");
    }
    let wkb = |cols: Vec<String>| cols.join(", ");
    let source: Vec<Vec<Option<String>>> = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM places ORDER BY id",
        wkb(COLUMNS
            .iter()
            .map(|c| format!("LOWER(HEX(ST_AsBinary({c})))"))
            .collect())
    )))
    .fetch_all(&my)
    .await
    .expect("source wkb")
    .iter()
    .map(|r| (0..4).map(|i| r.get::<Option<String>, _>(i)).collect())
    .collect();
    let target: Vec<Vec<Option<String>>> = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM places ORDER BY id",
        wkb(COLUMNS
            .iter()
            .map(|c| format!("encode({c}, 'hex')"))
            .collect())
    )))
    .fetch_all(&pg)
    .await
    .expect("target wkb")
    .iter()
    .map(|r| (0..4).map(|i| r.get::<Option<String>, _>(i)).collect())
    .collect();
    assert_eq!(target, source);
    assert_eq!(
        source[0][0].as_deref(),
        Some("0101000000000000000000f83f00000000000000c0")
    );
    dbs.cleanup().await;
}

#[tokio::test]
async fn postgis_geometry_between_postgresql_databases_stays_geometry() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    pg.execute(
        "CREATE EXTENSION IF NOT EXISTS postgis;
         CREATE TABLE places (id int PRIMARY KEY, pt geometry(Point, 4326), g geometry);
         CREATE INDEX places_pt ON places USING gist (pt);
         INSERT INTO places VALUES
           (1, 'SRID=4326;POINT(1.5 -2)', 'SRID=3857;LINESTRING(0 0,1 1)'),
           (2, NULL, 'POLYGON((0 0,1 0,1 1,0 0))'),
           (3, 'SRID=4326;POINT(13.4 52.5)', NULL);",
    )
    .await
    .expect("postgis source (apt-get install postgresql-15-postgis-3)");

    migrate(
        &engine(),
        &job(dbs.pg("public"), dbs.pg("copy"), &["places"], 2),
    )
    .await;
    let types: BTreeMap<String, String> = sqlx::query(
        "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute
         WHERE attrelid = 'copy.places'::regclass AND attnum > 0",
    )
    .fetch_all(&pg)
    .await
    .expect("types")
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    assert_eq!(types["pt"], "geometry(Point,4326)");
    assert_eq!(types["g"], "geometry");
    let same: bool = sqlx::query_scalar(
        "SELECT bool_and(ST_AsEWKB(s.pt) IS NOT DISTINCT FROM ST_AsEWKB(t.pt)
                     AND ST_AsEWKB(s.g) IS NOT DISTINCT FROM ST_AsEWKB(t.g))
         FROM public.places s JOIN copy.places t USING (id)",
    )
    .fetch_one(&pg)
    .await
    .expect("compare");
    assert!(same);
    dbs.cleanup().await;
}

/// A rejected record sends its batch down the row-by-row path (text COPY):
/// the other rows' geometries arrive there too, SRID and all.
#[tokio::test]
async fn geometry_survives_the_rejected_record_path() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    my.execute("CREATE TABLE marks (id int PRIMARY KEY, pt point, note text)")
        .await
        .expect("create");
    sqlx::query(
        "INSERT INTO marks VALUES (1, ST_GeomFromText('POINT(1 2)', 4326), 'ok'),
            (2, ST_GeomFromText('POINT(3 4)', 0), ?),
            (3, ST_GeomFromText('POINT(5 6)', 0), NULL), (4, NULL, 'x')",
    )
    .bind("bad\0nul")
    .execute(&my)
    .await
    .expect("insert");
    let pg = dbs.pg_pool().await;
    pg.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        .await
        .expect("postgis");
    let engine = engine();
    let j = job(dbs.mysql(), dbs.pg("public"), &["marks"], 10);
    let plan = engine.plan(&j, true).await.expect("plan");
    let outcome = engine
        .run_batch(&j, &support::to_run(&plan.batches[0], 10))
        .await
        .expect("batch");
    assert_eq!(outcome.rejected.len(), 1, "{:?}", outcome.rejected);
    assert_eq!(outcome.verified, Some(true), "{:?}", outcome.verify_detail);
    let rows: Vec<(i32, Option<String>, Option<i32>)> =
        sqlx::query_as("SELECT id, ST_AsText(pt), ST_SRID(pt) FROM marks ORDER BY id")
            .fetch_all(&pg)
            .await
            .expect("rows");
    assert_eq!(
        rows,
        vec![
            (1, Some("POINT(1 2)".to_owned()), Some(4326)),
            (3, Some("POINT(5 6)".to_owned()), Some(0)),
            (4, None, None),
        ]
    );
    dbs.cleanup().await;
}
