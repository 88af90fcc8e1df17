//! The value matrix: a MariaDB source and a PostgreSQL source holding every
//! hard case of the type mapping (README "Type mapping"), each migrated
//! end to end (plan, every batch, finish) to the other engines, and the
//! target read back with plain sqlx and compared value by value with what
//! the mapping promises.

#[path = "engine_support/mod.rs"]
mod support;

use std::collections::BTreeMap;

use freight_worker::engine::{Engine, JobContext, RejectedRecord};
use sqlx::{Executor, MySqlPool, PgPool, Row, SqlitePool};
use support::{Dbs, job, migrate, to_run};

/// One row of text renderings, by column name (`None` = NULL).
type TextRow = BTreeMap<String, Option<String>>;

fn engine() -> Engine {
    Engine::new(freight_core::policy::ConnectionPolicy::for_local_user())
}

/// Every column of the query must come back as text (or NULL).
fn text_row<R: Row>(row: &R) -> TextRow
where
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    usize: sqlx::ColumnIndex<R>,
{
    use sqlx::Column as _;
    row.columns()
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name().to_owned(), row.get::<Option<String>, _>(i)))
        .collect()
}

async fn pg_rows(pg: &PgPool, sql: &str) -> Vec<TextRow> {
    let rows = pg
        .fetch_all(sqlx::AssertSqlSafe(sql.to_owned()))
        .await
        .expect(sql);
    rows.iter().map(text_row).collect()
}

async fn my_rows(my: &MySqlPool, sql: &str) -> Vec<TextRow> {
    let rows = my
        .fetch_all(sqlx::AssertSqlSafe(sql.to_owned()))
        .await
        .expect(sql);
    rows.iter().map(text_row).collect()
}

async fn lite_rows(lite: &SqlitePool, sql: &str) -> Vec<TextRow> {
    let rows = lite
        .fetch_all(sqlx::AssertSqlSafe(sql.to_owned()))
        .await
        .expect(sql);
    rows.iter().map(text_row).collect()
}

/// Compares one row with the expected (column, value) pairs, naming the
/// first column that differs.
fn assert_row(what: &str, got: &TextRow, expected: &[(&str, Option<&str>)]) {
    for (col, want) in expected {
        let have = got
            .get(*col)
            .unwrap_or_else(|| panic!("{what}: no column {col} in {got:?}"));
        assert_eq!(have.as_deref(), *want, "{what}: column {col}");
    }
}

fn s(v: &str) -> Option<&str> {
    Some(v)
}

/// 5 MiB of every byte value, COPY's special bytes included.
fn big_blob() -> Vec<u8> {
    (0..5 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

const DEC65_MAX: &str = "99999999999999999999999999999999999.999999999999999999999999999999";
const DEC65_MIN: &str = "-99999999999999999999999999999999999.000000000000000000000000000001";
const JSON_DOC: &str = r#"{"k": [1, "two", null, 2.5], "é": "€ 😀", "nested": {"a": {}}}"#;
/// Text that breaks naive COPY text encoding: a literal `\N`, backslashes,
/// tab, CR, LF.
const HAZARD: &str = "tab\there\rcr\nlf \\ back\\slash \\\\ two";
const LATIN_NAME: &str = "€uro café Straße";
const LATIN_NOTE: &str = "„Anführung“ ‰ Œ Ÿ š ž – — … ÄÖÜ";
const EMOJI: &str = "😀 ok 𝄞 ünï";

/// The MariaDB source: `vals` (every MySQL case), `hazards` (COPY hazards;
/// its row 2 holds a NUL character, which PostgreSQL refuses, so the batch
/// of rows 1–2 is written again by text COPY while rows 3–4 go by binary
/// COPY) and `latin` (a latin1 table).
async fn create_mysql_source(my: &MySqlPool) {
    my.execute(
        "CREATE TABLE vals (
            id int PRIMARY KEY,
            tm time, tm6 time(6),
            ubig bigint unsigned, dec65 decimal(65,30),
            bits bit(12), yr year, yr0 year,
            st set('a','b','c'), en enum('x','y','it''s'),
            js json, bin16 binary(16), big longblob,
            emoji varchar(20), hz text, hz_empty varchar(10),
            pt point, poly polygon
         ) DEFAULT CHARSET=utf8mb4;
         CREATE TABLE hazards (id int PRIMARY KEY, a text, b varchar(40), c text) DEFAULT CHARSET=utf8mb4;
         CREATE TABLE latin (id int PRIMARY KEY, name varchar(40), note text, code char(4))
             DEFAULT CHARSET=latin1;",
    )
    .await
    .expect("create mysql source");
    sqlx::query(
        "INSERT INTO vals VALUES
          (1, '838:59:59', '-00:00:00.000001', 18446744073709551615, ?, b'000000000101', 1901, 0,
           'a,c', 'it''s', ?, UNHEX('00112233445566778899aabbccddeeff'), ?, ?, ?, '',
           ST_GeomFromText('POINT(1.5 -2)'),
           ST_GeomFromText('POLYGON((0 0, 4 0, 4 3, 0 3, 0 0), (1 1, 2 1, 2 2, 1 1))')),
          (2, '-838:59:59', '34:00:00.5', 0, ?, b'111111111111', 2155, 2000,
           '', 'x', '[]', UNHEX('00000000000000000000000000000000'), '', '', '\\\\N', NULL,
           NULL, NULL),
          (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           NULL, NULL, NULL)",
    )
    .bind(DEC65_MAX)
    .bind(JSON_DOC)
    .bind(big_blob())
    .bind(EMOJI)
    .bind(HAZARD)
    .bind(DEC65_MIN)
    .execute(my)
    .await
    .expect("insert vals");
    sqlx::query(
        "INSERT INTO hazards VALUES (1, '\\\\N', ?, ''), (2, 'x', ?, NULL), (3, '\\\\', 'N', ?),
             (4, NULL, '', NULL)",
    )
    .bind(HAZARD)
    .bind("bad\0nul")
    .bind(EMOJI)
    .execute(my)
    .await
    .expect("insert hazards");
    sqlx::query("INSERT INTO latin VALUES (1, ?, ?, 'ÄÖÜß'), (2, '', NULL, NULL)")
        .bind(LATIN_NAME)
        .bind(LATIN_NOTE)
        .execute(my)
        .await
        .expect("insert latin");
    // The latin1 table really holds cp1252 bytes (€ is 0x80), so the test
    // exercises the server's transcoding.
    let hex: String = sqlx::query_scalar("SELECT HEX(name) FROM latin WHERE id = 1")
        .fetch_one(my)
        .await
        .expect("hex");
    assert!(hex.starts_with("80"), "latin1 bytes: {hex}");
}

/// What the hazards table holds on every target (row 2, with its NUL
/// character, is checked apart).
fn expected_hazards() -> Vec<Vec<(&'static str, Option<&'static str>)>> {
    vec![
        vec![
            ("id", s("1")),
            ("a", s("\\N")),
            ("b", s(HAZARD)),
            ("c", s("")),
        ],
        vec![
            ("id", s("3")),
            ("a", s("\\")),
            ("b", s("N")),
            ("c", s(EMOJI)),
        ],
        vec![("id", s("4")), ("a", None), ("b", s("")), ("c", None)],
    ]
}

/// The source's own WKB of the spatial columns (lower hex), row 1.
async fn source_wkb(my: &MySqlPool) -> (String, String) {
    let row = sqlx::query(
        "SELECT LOWER(HEX(ST_AsWKB(pt))), LOWER(HEX(ST_AsWKB(poly))) FROM vals WHERE id = 1",
    )
    .fetch_one(my)
    .await
    .expect("wkb");
    (row.get(0), row.get(1))
}

/// WKB of POINT(1.5 -2): little endian, type 1, x, y.
const POINT_WKB: &str = "0101000000000000000000f83f00000000000000c0";

#[tokio::test]
async fn mariadb_values_arrive_exactly_in_postgres() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    create_mysql_source(&my).await;
    let (_, poly_wkb) = source_wkb(&my).await;
    let engine = engine();
    let j = job(
        dbs.mysql(),
        dbs.pg("public"),
        &["vals", "hazards", "latin"],
        2,
    );
    let (plan, rejected) = migrate_with_budget(&engine, &j).await;
    // The one record PostgreSQL cannot hold, named by table, column and key.
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0].key, serde_json::json!([2]));
    assert_eq!(rejected[0].column.as_deref(), Some("b"));
    assert!(
        rejected[0].message.contains("table hazards, column b"),
        "{}",
        rejected[0].message
    );
    let pg = dbs.pg_pool().await;

    let types: BTreeMap<String, String> = sqlx::query(
        "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute
         WHERE attrelid = 'vals'::regclass AND attnum > 0",
    )
    .fetch_all(&pg)
    .await
    .expect("types")
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    for (col, ty) in [
        ("tm", "interval"),
        ("ubig", "numeric(20,0)"),
        ("dec65", "numeric(65,30)"),
        ("bits", "bit(12)"),
        ("yr", "smallint"),
        ("st", "text"),
        ("en", "text"),
        ("js", "jsonb"),
        ("bin16", "bytea"),
        ("big", "bytea"),
        ("pt", "bytea"),
        ("poly", "bytea"),
    ] {
        assert_eq!(
            types.get(col).map(String::as_str),
            Some(ty),
            "type of {col}"
        );
    }
    let vals_ddl = plan
        .report
        .tables
        .iter()
        .find(|t| t.table_name == "vals")
        .expect("vals in plan");
    assert!(
        vals_ddl.warnings.iter().any(|w| w.contains("WKB")),
        "{:?}",
        vals_ddl.warnings
    );

    let rows = pg_rows(
        &pg,
        "SELECT id::text, tm::text, tm6::text, ubig::text, dec65::text, bits::text, yr::text,
                yr0::text, st, en,
                js::text, encode(bin16, 'hex') AS bin16, emoji, hz, hz_empty,
                encode(pt, 'hex') AS pt, encode(poly, 'hex') AS poly
         FROM vals ORDER BY id",
    )
    .await;
    assert_eq!(rows.len(), 3);
    assert_row(
        "pg vals 1",
        &rows[0],
        &[
            ("tm", s("838:59:59")),
            ("tm6", s("-00:00:00.000001")),
            ("ubig", s("18446744073709551615")),
            ("dec65", s(DEC65_MAX)),
            ("bits", s("000000000101")),
            ("yr", s("1901")),
            ("yr0", s("0")),
            ("st", s("a,c")),
            ("en", s("it's")),
            ("bin16", s("00112233445566778899aabbccddeeff")),
            ("emoji", s(EMOJI)),
            ("hz", s(HAZARD)),
            ("hz_empty", s("")),
            ("pt", s(POINT_WKB)),
            ("poly", Some(poly_wkb.as_str())),
        ],
    );
    let doc: serde_json::Value =
        serde_json::from_str(rows[0]["js"].as_deref().expect("js")).expect("json");
    assert_eq!(
        doc,
        serde_json::from_str::<serde_json::Value>(JSON_DOC).expect("json")
    );
    assert_row(
        "pg vals 2",
        &rows[1],
        &[
            ("tm", s("-838:59:59")),
            ("tm6", s("34:00:00.5")),
            ("ubig", s("0")),
            ("dec65", s(DEC65_MIN)),
            ("bits", s("111111111111")),
            ("yr", s("2155")),
            ("yr0", s("2000")),
            ("st", s("")),
            ("en", s("x")),
            ("js", s("[]")),
            ("bin16", s("00000000000000000000000000000000")),
            ("emoji", s("")),
            ("hz", s("\\N")),
            ("hz_empty", None),
            ("pt", None),
        ],
    );
    assert!(
        rows[2].iter().all(|(c, v)| c == "id" || v.is_none()),
        "row 3 is all NULL: {:?}",
        rows[2]
    );
    let big: Option<Vec<u8>> = sqlx::query_scalar("SELECT big FROM vals WHERE id = 1")
        .fetch_one(&pg)
        .await
        .expect("big");
    assert!(big == Some(big_blob()), "5 MiB blob differs");
    let empty_blob: Option<Vec<u8>> = sqlx::query_scalar("SELECT big FROM vals WHERE id = 2")
        .fetch_one(&pg)
        .await
        .expect("empty blob");
    assert_eq!(empty_blob, Some(Vec::new()));

    let hazards = pg_rows(&pg, "SELECT id::text, a, b, c FROM hazards ORDER BY id").await;
    assert_eq!(hazards.len(), 3, "row 2 is rejected: {hazards:?}");
    for (got, want) in hazards.iter().zip(expected_hazards()) {
        assert_row("pg hazards", got, &want);
    }
    let latin = pg_rows(
        &pg,
        "SELECT id::text, name, note, code FROM latin ORDER BY id",
    )
    .await;
    assert_row(
        "pg latin 1",
        &latin[0],
        &[
            ("name", s(LATIN_NAME)),
            ("note", s(LATIN_NOTE)),
            ("code", s("ÄÖÜß")),
        ],
    );
    assert_row(
        "pg latin 2",
        &latin[1],
        &[("name", s("")), ("note", None), ("code", None)],
    );
    engine.release_job(j.job_id).await;
    pg.close().await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn mariadb_values_arrive_exactly_in_sqlite() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    create_mysql_source(&my).await;
    let (_, poly_wkb) = source_wkb(&my).await;
    let engine = engine();
    let j = job(
        dbs.mysql(),
        dbs.sqlite("t"),
        &["vals", "hazards", "latin"],
        2,
    );
    migrate(&engine, &j).await;
    let lite = dbs.sqlite_pool("t").await;
    let rows = lite_rows(
        &lite,
        "SELECT CAST(id AS TEXT) AS id, tm, tm6, CAST(ubig AS TEXT) AS ubig, typeof(ubig) AS ubig_t,
                dec65, typeof(dec65) AS dec65_t, bits, typeof(bits) AS bits_t,
                CAST(yr AS TEXT) AS yr, CAST(yr0 AS TEXT) AS yr0, st, en, js, CASE WHEN bin16 IS NOT NULL THEN lower(hex(bin16)) END AS bin16, emoji, hz, hz_empty,
                CASE WHEN pt IS NOT NULL THEN lower(hex(pt)) END AS pt, CASE WHEN poly IS NOT NULL THEN lower(hex(poly)) END AS poly, typeof(pt) AS pt_t
         FROM vals ORDER BY id",
    )
    .await;
    assert_eq!(rows.len(), 3);
    assert_row(
        "sqlite vals 1",
        &rows[0],
        &[
            ("tm", s("838:59:59")),
            ("tm6", s("-00:00:00.000001")),
            ("ubig", s("18446744073709551615")),
            ("ubig_t", s("text")),
            ("dec65", s(DEC65_MAX)),
            ("dec65_t", s("text")),
            ("bits", s("000000000101")),
            ("bits_t", s("text")),
            ("yr", s("1901")),
            ("yr0", s("0")),
            ("st", s("a,c")),
            ("en", s("it's")),
            ("js", s(JSON_DOC)),
            ("bin16", s("00112233445566778899aabbccddeeff")),
            ("emoji", s(EMOJI)),
            ("hz", s(HAZARD)),
            ("hz_empty", s("")),
            ("pt", s(POINT_WKB)),
            ("pt_t", s("blob")),
            ("poly", Some(poly_wkb.as_str())),
        ],
    );
    assert_row(
        "sqlite vals 2",
        &rows[1],
        &[
            ("tm", s("-838:59:59")),
            ("tm6", s("34:00:00.5")),
            ("ubig", s("0")),
            ("dec65", s(DEC65_MIN)),
            ("bits", s("111111111111")),
            ("yr", s("2155")),
            ("yr0", s("2000")),
            ("st", s("")),
            ("js", s("[]")),
            ("hz", s("\\N")),
            ("hz_empty", None),
        ],
    );
    assert!(
        rows[2]
            .iter()
            .all(|(c, v)| c == "id" || c.ends_with("_t") || v.is_none()),
        "row 3 is all NULL: {:?}",
        rows[2]
    );
    let big: Option<Vec<u8>> = sqlx::query_scalar("SELECT big FROM vals WHERE id = 1")
        .fetch_one(&lite)
        .await
        .expect("big");
    assert!(big == Some(big_blob()), "5 MiB blob differs");
    let hazards = lite_rows(
        &lite,
        "SELECT CAST(id AS TEXT) AS id, a, b, c FROM hazards WHERE id <> 2 ORDER BY id",
    )
    .await;
    assert_eq!(hazards.len(), 3);
    for (got, want) in hazards.iter().zip(expected_hazards()) {
        assert_row("sqlite hazards", got, &want);
    }
    // SQLite keeps the NUL character.
    let nul: String = sqlx::query_scalar("SELECT hex(b) FROM hazards WHERE id = 2")
        .fetch_one(&lite)
        .await
        .expect("nul row");
    assert_eq!(nul, hex::encode_upper("bad\0nul"));
    let latin = lite_rows(&lite, "SELECT name, note, code FROM latin ORDER BY id").await;
    assert_row(
        "sqlite latin",
        &latin[0],
        &[
            ("name", s(LATIN_NAME)),
            ("note", s(LATIN_NOTE)),
            ("code", s("ÄÖÜß")),
        ],
    );
    engine.release_job(j.job_id).await;
    lite.close().await;
    dbs.cleanup().await;
}

/// `vals` rendered the same way on any MySQL/MariaDB database, the spatial
/// columns through `spatial` (the source holds geometries, a MySQL target
/// their WKB).
fn mysql_vals_sql(spatial: impl Fn(&str) -> String) -> String {
    format!(
        "SELECT CAST(id AS CHAR) AS id, CAST(tm AS CHAR) AS tm, CAST(tm6 AS CHAR) AS tm6,
                CAST(ubig AS CHAR) AS ubig, CAST(dec65 AS CHAR) AS dec65,
                LPAD(BIN(bits), 12, '0') AS bits, CAST(yr AS CHAR) AS yr, CAST(yr0 AS CHAR) AS yr0,
                CAST(st AS CHAR) AS st, CAST(en AS CHAR) AS en, CAST(js AS CHAR) AS js,
                LOWER(HEX(bin16)) AS bin16, MD5(big) AS big, CAST(LENGTH(big) AS CHAR) AS big_len,
                emoji, hz, hz_empty, {} AS pt, {} AS poly
         FROM vals ORDER BY id",
        spatial("pt"),
        spatial("poly")
    )
}

/// MariaDB → MariaDB (a second database): every value as the source holds
/// it, read back and compared with the source's own rendering, and the
/// declared types kept.
#[tokio::test]
async fn mariadb_values_arrive_exactly_in_another_mariadb_database() {
    let dbs = Dbs::new().await;
    let my = dbs.my_pool().await;
    create_mysql_source(&my).await;
    let (url, target) = dbs.second_mysql().await;
    let engine = engine();
    let j = job(
        dbs.mysql(),
        support::config(freight_core::connection::DatabaseKind::Mysql, &url, None),
        &["vals", "hazards", "latin"],
        2,
    );
    migrate(&engine, &j).await;

    let types = |pool: MySqlPool| async move {
        sqlx::query(
            "SELECT CAST(column_name AS CHAR), CAST(column_type AS CHAR),
                    CAST(character_set_name AS CHAR) FROM information_schema.columns
             WHERE table_schema = DATABASE() AND table_name IN ('vals', 'latin')
             ORDER BY table_name, ordinal_position",
        )
        .fetch_all(&pool)
        .await
        .expect("types")
        .iter()
        .map(|r| {
            (
                r.get::<String, _>(0),
                (r.get::<String, _>(1), r.get::<Option<String>, _>(2)),
            )
        })
        .collect::<BTreeMap<String, (String, Option<String>)>>()
    };
    let (source_types, target_types) = (types(my.clone()).await, types(target.clone()).await);
    for (col, ty) in &target_types {
        let documented = match col.as_str() {
            // Times gain fractional digits; spatial columns hold WKB.
            "tm" => Some("time(6)"),
            "pt" | "poly" => Some("longblob"),
            _ => None,
        };
        match documented {
            Some(want) => assert_eq!(ty.0, want, "type of {col}"),
            // The rest as declared, latin1 text included.
            None => assert_eq!(Some(ty), source_types.get(col), "type of {col}"),
        }
    }
    assert_eq!(target_types["yr0"].0, "year(4)");
    assert_eq!(target_types["name"].1.as_deref(), Some("latin1"));

    let wkb = |c: &str| format!("LOWER(HEX(ST_AsWKB({c})))");
    let source_rows = my_rows(&my, &mysql_vals_sql(wkb)).await;
    let target_rows = my_rows(
        &target,
        &mysql_vals_sql(|c: &str| format!("LOWER(HEX({c}))")),
    )
    .await;
    assert_eq!(source_rows.len(), 3);
    for (got, want) in target_rows.iter().zip(&source_rows) {
        // A time(6) shows six fractional digits; the value is the same.
        for (col, value) in want {
            let have = &got[col];
            if col == "tm" {
                let widened = value.as_ref().map(|v| format!("{v}.000000"));
                assert_eq!(have, &widened, "column tm");
            } else {
                assert_eq!(have, value, "column {col} of {want:?}");
            }
        }
    }
    assert_row(
        "mysql vals 1",
        &target_rows[0],
        &[
            ("tm", s("838:59:59.000000")),
            ("tm6", s("-00:00:00.000001")),
            ("ubig", s("18446744073709551615")),
            ("dec65", s(DEC65_MAX)),
            ("bits", s("000000000101")),
            ("yr", s("1901")),
            ("yr0", s("0000")),
            ("st", s("a,c")),
            ("en", s("it's")),
            ("js", s(JSON_DOC)),
            ("bin16", s("00112233445566778899aabbccddeeff")),
            ("emoji", s(EMOJI)),
            ("hz", s(HAZARD)),
            ("hz_empty", s("")),
            ("pt", s(POINT_WKB)),
        ],
    );
    assert_row(
        "mysql vals 2",
        &target_rows[1],
        &[
            ("tm", s("-838:59:59.000000")),
            ("tm6", s("34:00:00.500000")),
            ("yr0", s("2000")),
            ("dec65", s(DEC65_MIN)),
            ("big_len", s("0")),
            ("hz", s("\\N")),
            ("hz_empty", None),
        ],
    );
    let big: Option<Vec<u8>> = sqlx::query_scalar("SELECT big FROM vals WHERE id = 1")
        .fetch_one(&target)
        .await
        .expect("big");
    assert!(big == Some(big_blob()), "5 MiB blob differs");

    // Every hazard arrives, the NUL character included; latin1 text too.
    for sql in [
        "SELECT CAST(id AS CHAR) AS id, a, b, c, HEX(b) AS bx FROM hazards ORDER BY id",
        "SELECT CAST(id AS CHAR) AS id, name, note, code FROM latin ORDER BY id",
    ] {
        let want = my_rows(&my, sql).await;
        assert_eq!(my_rows(&target, sql).await, want, "{sql}");
        assert!(want.len() >= 2);
    }
    let hazards = my_rows(
        &target,
        "SELECT CAST(id AS CHAR) AS id, a, b, c FROM hazards WHERE id <> 2 ORDER BY id",
    )
    .await;
    for (got, want) in hazards.iter().zip(expected_hazards()) {
        assert_row("mysql hazards", got, &want);
    }
    let nul: String = sqlx::query_scalar("SELECT HEX(b) FROM hazards WHERE id = 2")
        .fetch_one(&target)
        .await
        .expect("nul row");
    assert_eq!(nul, hex::encode_upper("bad\0nul"));
    engine.release_job(j.job_id).await;
    target.close().await;
    my.close().await;
    dbs.drop_second().await;
    dbs.cleanup().await;
}

/// The PostgreSQL source: `pgvals` with arrays, ranges, interval, uuid,
/// jsonb, timestamptz in several zones, numeric NaN, a domain, an enum
/// type, citext (when the server has it) and bytea. Returns whether citext
/// is there.
async fn create_pg_source(pg: &PgPool) -> bool {
    let citext = pg
        .execute("CREATE EXTENSION IF NOT EXISTS citext")
        .await
        .is_ok();
    if !citext {
        println!(
            "note: the citext extension is not available on this server; its column is left out"
        );
    }
    pg.execute(
        "CREATE DOMAIN positive_int AS integer CHECK (VALUE > 0);
         CREATE DOMAIN price AS numeric(10,2);
         CREATE TYPE mood AS ENUM ('happy', 'sad', 'it''s');
         CREATE TABLE pgvals (
            id int PRIMARY KEY,
            arr int[], tarr text[], r4 int4range, tr tstzrange,
            iv interval, u uuid, jb jsonb, tz timestamptz,
            n numeric, dom positive_int, pr price, md mood, bya bytea,
            bits bit(5), bigb bytea, tod time
         );",
    )
    .await
    .expect("create pg source");
    if citext {
        pg.execute("ALTER TABLE pgvals ADD COLUMN ci citext")
            .await
            .expect("citext column");
    }
    pg.execute(
        "INSERT INTO pgvals (id, arr, tarr, r4, tr, iv, u, jb, tz, n, dom, pr, md, bya, bits) VALUES
          (1, '{1,2,NULL,4}', '{\"a b\",\"c,d\",NULL,\"\\\\\"}', '[1,10)',
           '[\"2024-01-01 00:00+02\",\"2024-02-01 00:00+00\")',
           '1 year 2 mons 3 days 04:05:06.5', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
           '{\"b\": [1, 2], \"a\": {\"c\": null}, \"é\": \"😀\"}', '2024-06-01 12:00:00+05:30',
           123.450, 42, 19.99, 'it''s', '\\x00ff5c4e0a09', B'10101'),
          (2, '{}', '{}', 'empty', '(,)', '-00:00:00.000001', '00000000-0000-0000-0000-000000000000',
           '[]', '1999-12-31 23:59:59.999999-08', 'NaN', 1, -0.01, 'happy', '', B'00000'),
          (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    )
    .await
    .expect("insert pg source");
    pg.execute("UPDATE pgvals SET tod = CASE id WHEN 1 THEN time '12:34:56.5' WHEN 2 THEN time '00:00:00' END")
        .await
        .expect("times of day");
    if citext {
        pg.execute("UPDATE pgvals SET ci = CASE id WHEN 1 THEN 'MiXeD Case' WHEN 2 THEN '' END")
            .await
            .expect("citext values");
    }
    sqlx::query("UPDATE pgvals SET bigb = $1 WHERE id = 1")
        .bind(big_blob())
        .execute(pg)
        .await
        .expect("5 MiB bytea");
    citext
}

/// Plans, runs every batch with a record-error budget, finishes; returns
/// the plan and the rejected records.
async fn migrate_with_budget(
    engine: &Engine,
    job: &JobContext,
) -> (freight_worker::engine::JobPlan, Vec<RejectedRecord>) {
    let plan = engine.plan(job, true).await.expect("plan");
    let mut rejected = Vec::new();
    for b in &plan.batches {
        let outcome = engine.run_batch(job, &to_run(b, 10)).await.expect("batch");
        assert_eq!(
            outcome.verified,
            Some(true),
            "verification: {:?}",
            outcome.verify_detail
        );
        rejected.extend(outcome.rejected);
    }
    engine.finish_job(job).await.expect("finish");
    (plan, rejected)
}

#[tokio::test]
async fn postgres_values_arrive_in_mariadb_as_documented() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    let citext = create_pg_source(&pg).await;
    let engine = engine();
    let j = job(dbs.pg("public"), dbs.mysql(), &["pgvals"], 10);
    let (_, rejected) = migrate_with_budget(&engine, &j).await;
    // NaN has no MySQL DECIMAL value: the record is rejected, naming its
    // column and key (the batch's table is in its log row).
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0].key, serde_json::json!([2]));
    assert_eq!(rejected[0].column.as_deref(), Some("n"), "{rejected:?}");
    assert!(
        rejected[0].message.contains("pgvals") && rejected[0].message.contains("NaN"),
        "{}",
        rejected[0].message
    );

    let my = dbs.my_pool().await;
    let types: BTreeMap<String, String> = sqlx::query(
        "SELECT CAST(column_name AS CHAR), CAST(column_type AS CHAR) FROM information_schema.columns
         WHERE table_schema = DATABASE() AND table_name = 'pgvals'",
    )
    .fetch_all(&my)
    .await
    .expect("types")
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    for (col, ty) in [
        ("arr", "longtext"),
        ("iv", "longtext"),
        ("u", "char(36)"),
        ("tz", "datetime(6)"),
        ("n", "decimal(65,30)"),
        ("dom", "int(11)"),
        ("pr", "decimal(10,2)"),
        ("md", "enum('happy','sad','it''s')"),
        ("bya", "longblob"),
        ("bits", "bit(5)"),
    ] {
        assert_eq!(
            types.get(col).map(String::as_str),
            Some(ty),
            "type of {col}"
        );
    }
    let ci = if citext { "ci" } else { "NULL AS ci" };
    let rows = my_rows(
        &my,
        &format!(
            "SELECT CAST(id AS CHAR) AS id, arr, tarr, r4, tr, iv, u, CAST(jb AS CHAR) AS jb,
                    CAST(tz AS CHAR) AS tz, CAST(n AS CHAR) AS n, CAST(dom AS CHAR) AS dom,
                    CAST(pr AS CHAR) AS pr, CAST(md AS CHAR) AS md, LOWER(HEX(bya)) AS bya,
                    BIN(bits) AS bits, CAST(tod AS CHAR) AS tod, {ci}
             FROM pgvals ORDER BY id"
        ),
    )
    .await;
    assert_eq!(rows.len(), 2, "the NaN row is rejected");
    assert_row(
        "mysql pgvals 1",
        &rows[0],
        &[
            ("id", s("1")),
            ("arr", s("{1,2,NULL,4}")),
            ("tarr", s("{\"a b\",\"c,d\",NULL,\"\\\\\"}")),
            ("r4", s("[1,10)")),
            (
                "tr",
                s("[\"2023-12-31 22:00:00+00\",\"2024-02-01 00:00:00+00\")"),
            ),
            ("iv", s("1 year 2 mons 3 days 04:05:06.5")),
            ("u", s("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
            ("tz", s("2024-06-01 06:30:00.000000")),
            ("n", s("123.450000000000000000000000000000")),
            ("dom", s("42")),
            ("pr", s("19.99")),
            ("md", s("it's")),
            ("bya", s("00ff5c4e0a09")),
            ("bits", s("10101")),
            ("tod", s("12:34:56.500000")),
            ("ci", if citext { s("MiXeD Case") } else { None }),
        ],
    );
    let doc: serde_json::Value =
        serde_json::from_str(rows[0]["jb"].as_deref().expect("jb")).expect("json");
    assert_eq!(
        doc,
        serde_json::json!({"a": {"c": null}, "b": [1, 2], "é": "😀"})
    );
    let big: Option<Vec<u8>> = sqlx::query_scalar("SELECT bigb FROM pgvals WHERE id = 1")
        .fetch_one(&my)
        .await
        .expect("big");
    assert!(big == Some(big_blob()), "5 MiB bytea differs on MariaDB");
    assert_row(
        "mysql pgvals 3",
        &rows[1],
        &[
            ("id", s("3")),
            ("arr", None),
            ("n", None),
            ("bya", None),
            ("ci", None),
        ],
    );
    engine.release_job(j.job_id).await;
    pg.close().await;
    dbs.cleanup().await;
}

#[tokio::test]
async fn postgres_values_arrive_in_sqlite_as_documented() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    let citext = create_pg_source(&pg).await;
    let engine = engine();
    let j = job(dbs.pg("public"), dbs.sqlite("t"), &["pgvals"], 10);
    migrate(&engine, &j).await;
    let lite = dbs.sqlite_pool("t").await;
    let ci = if citext { "ci" } else { "NULL AS ci" };
    let rows = lite_rows(
        &lite,
        &format!(
            "SELECT CAST(id AS TEXT) AS id, arr, tarr, r4, tr, iv, u, jb, tz, n, typeof(n) AS n_t,
                    CAST(dom AS TEXT) AS dom, typeof(dom) AS dom_t, pr, md, CASE WHEN bya IS NOT NULL THEN lower(hex(bya)) END AS bya,
                    typeof(bya) AS bya_t, bits, tod, {ci}
             FROM pgvals ORDER BY id"
        ),
    )
    .await;
    assert_eq!(rows.len(), 3);
    assert_row(
        "sqlite pgvals 1",
        &rows[0],
        &[
            ("arr", s("{1,2,NULL,4}")),
            ("tarr", s("{\"a b\",\"c,d\",NULL,\"\\\\\"}")),
            ("r4", s("[1,10)")),
            (
                "tr",
                s("[\"2023-12-31 22:00:00+00\",\"2024-02-01 00:00:00+00\")"),
            ),
            ("iv", s("1 year 2 mons 3 days 04:05:06.5")),
            ("u", s("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
            ("tz", s("2024-06-01 06:30:00+00:00")),
            ("n", s("123.450")),
            ("n_t", s("text")),
            ("dom", s("42")),
            ("dom_t", s("integer")),
            ("pr", s("19.99")),
            ("md", s("it's")),
            ("bya", s("00ff5c4e0a09")),
            ("bya_t", s("blob")),
            ("bits", s("10101")),
            ("tod", s("12:34:56.500")),
            ("ci", if citext { s("MiXeD Case") } else { None }),
        ],
    );
    let doc: serde_json::Value =
        serde_json::from_str(rows[0]["jb"].as_deref().expect("jb")).expect("json");
    assert_eq!(
        doc,
        serde_json::json!({"a": {"c": null}, "b": [1, 2], "é": "😀"})
    );
    let big: Option<Vec<u8>> = sqlx::query_scalar("SELECT bigb FROM pgvals WHERE id = 1")
        .fetch_one(&lite)
        .await
        .expect("big");
    assert!(big == Some(big_blob()), "5 MiB bytea differs on SQLite");
    assert_row(
        "sqlite pgvals 2",
        &rows[1],
        &[
            ("arr", s("{}")),
            ("r4", s("empty")),
            ("tr", s("(,)")),
            ("iv", s("-00:00:00.000001")),
            ("tz", s("2000-01-01 07:59:59.999999+00:00")),
            ("n", s("NaN")),
            ("dom", s("1")),
            ("pr", s("-0.01")),
            ("bya", s("")),
            ("bya_t", s("blob")),
            ("bits", s("00000")),
            ("ci", if citext { s("") } else { None }),
        ],
    );
    assert!(
        rows[2]
            .iter()
            .all(|(c, v)| c == "id" || c.ends_with("_t") || v.is_none()),
        "row 3 is all NULL: {:?}",
        rows[2]
    );
    engine.release_job(j.job_id).await;
    lite.close().await;
    pg.close().await;
    dbs.cleanup().await;
}

/// The SQLite source: one column per affinity and per spelling the engine
/// refines (README "SQLite sources").
async fn create_sqlite_source(lite: &SqlitePool) {
    lite.execute(
        "CREATE TABLE litevals (
            id INTEGER PRIMARY KEY, i INTEGER, r REAL, t TEXT, b BLOB, n NUMERIC,
            d DECIMAL_TEXT(10,2), dt DATETIME, dtz TIMESTAMPTZ, j JSON, u UUID,
            bits BIT_TEXT(5), nt, bo BOOLEAN, dd DATE,
            tm TIME, ch CHAR(4), cl CLOB, db DOUBLE, fl FLOAT, bn BINARY(16), ti TINYINT(1))",
    )
    .await
    .expect("create sqlite source");
    sqlx::query(
        "INSERT INTO litevals VALUES
          (1, 9223372036854775807, 2.25, ?, x'00ff5c4e', '12.50', '12.50',
           '2024-02-29 23:59:59.123456', '2024-06-01 12:00:00+05:30', '{\"a\": [1, null]}',
           'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '00101', 'anything', 1, '2024-01-31',
           '12:34:56.5', 'abcd', ?, 1.0000000000000002, 0.1,
           x'00112233445566778899aabbccddeeff', 1),
          (2, -1, -0.5, '', x'', '-3', '-0.01', NULL, NULL, '[]', NULL, '00000', '', 0, NULL,
           '23:59:59', 'é', '', -2.5e-300, -1.5, x'00', 0),
          (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    )
    .bind(HAZARD)
    .bind(EMOJI)
    .execute(lite)
    .await
    .expect("insert sqlite source");
}

#[tokio::test]
async fn sqlite_values_arrive_in_postgres_and_mariadb_as_documented() {
    let dbs = Dbs::new().await;
    let lite = dbs.sqlite_pool("src").await;
    create_sqlite_source(&lite).await;
    let engine = engine();

    let to_pg = job(dbs.sqlite("src"), dbs.pg("public"), &["litevals"], 10);
    migrate(&engine, &to_pg).await;
    let pg = dbs.pg_pool().await;
    let rows = pg_rows(
        &pg,
        "SELECT id::text, i::text, r::text, t, encode(b, 'hex') AS b, n::text, d::text, dt::text,
                (dtz AT TIME ZONE 'UTC')::text AS dtz, j::text, u::text, bits::text, nt, bo::text,
                dd::text, tm::text, ch, cl, db::float8::text AS db, fl::float8::text AS fl,
                encode(bn, 'hex') AS bn, ti::text
         FROM litevals ORDER BY id",
    )
    .await;
    assert_eq!(rows.len(), 3);
    assert_row(
        "pg litevals 1",
        &rows[0],
        &[
            ("i", s("9223372036854775807")),
            ("r", s("2.25")),
            ("t", s(HAZARD)),
            ("b", s("00ff5c4e")),
            // NUMERIC affinity made the text a number; DECIMAL_TEXT kept it.
            ("n", s("12.5")),
            ("d", s("12.50")),
            ("dt", s("2024-02-29 23:59:59.123456")),
            ("dtz", s("2024-06-01 06:30:00")),
            ("j", s("{\"a\": [1, null]}")),
            ("u", s("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
            ("bits", s("00101")),
            ("nt", s("anything")),
            ("bo", s("true")),
            ("dd", s("2024-01-31")),
            ("tm", s("12:34:56.5")),
            ("ch", s("abcd")),
            ("cl", s(EMOJI)),
            ("db", s("1.0000000000000002")),
            // SQLite stores every float as a double: FLOAT is one too.
            ("fl", s("0.1")),
            ("bn", s("00112233445566778899aabbccddeeff")),
            ("ti", s("true")),
        ],
    );
    assert_row(
        "pg litevals 2",
        &rows[1],
        &[
            ("i", s("-1")),
            ("r", s("-0.5")),
            ("t", s("")),
            ("b", s("")),
            ("n", s("-3")),
            ("d", s("-0.01")),
            ("j", s("[]")),
            ("bits", s("00000")),
            ("nt", s("")),
            ("bo", s("false")),
            ("tm", s("23:59:59")),
            ("ch", s("é")),
            ("cl", s("")),
            ("db", s("-2.5e-300")),
            ("fl", s("-1.5")),
            ("bn", s("00")),
            ("ti", s("false")),
        ],
    );
    assert!(
        rows[2].iter().all(|(c, v)| c == "id" || v.is_none()),
        "row 3 is all NULL: {:?}",
        rows[2]
    );

    let to_my = job(dbs.sqlite("src"), dbs.mysql(), &["litevals"], 10);
    migrate(&engine, &to_my).await;
    let my = dbs.my_pool().await;
    let rows = my_rows(
        &my,
        "SELECT CAST(id AS CHAR) AS id, CAST(i AS CHAR) AS i, CAST(r AS CHAR) AS r, t,
                LOWER(HEX(b)) AS b, CAST(n AS CHAR) AS n, CAST(d AS CHAR) AS d,
                CAST(dt AS CHAR) AS dt, CAST(dtz AS CHAR) AS dtz, CAST(j AS CHAR) AS j, u,
                LPAD(BIN(bits), 5, '0') AS bits, nt, CAST(bo AS CHAR) AS bo, CAST(dd AS CHAR) AS dd,
                CAST(tm AS CHAR) AS tm, ch, cl, CAST(db AS CHAR) AS db,
                CAST(CAST(fl AS DOUBLE) AS CHAR) AS fl, LOWER(HEX(bn)) AS bn, CAST(ti AS CHAR) AS ti
         FROM litevals ORDER BY id",
    )
    .await;
    assert_eq!(rows.len(), 3);
    assert_row(
        "mysql litevals 1",
        &rows[0],
        &[
            ("i", s("9223372036854775807")),
            ("r", s("2.25")),
            ("t", s(HAZARD)),
            ("b", s("00ff5c4e")),
            ("n", s("12.500000000000000000000000000000")),
            ("d", s("12.50")),
            ("dt", s("2024-02-29 23:59:59.123456")),
            ("dtz", s("2024-06-01 06:30:00.000000")),
            ("j", s("{\"a\": [1, null]}")),
            ("u", s("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
            ("bits", s("00101")),
            ("nt", s("anything")),
            ("bo", s("1")),
            ("dd", s("2024-01-31")),
            ("tm", s("12:34:56.500000")),
            ("ch", s("abcd")),
            ("cl", s(EMOJI)),
            ("db", s("1.0000000000000002")),
            ("fl", s("0.1")),
            ("bn", s("00112233445566778899aabbccddeeff")),
            ("ti", s("1")),
        ],
    );
    assert_row(
        "mysql litevals 2",
        &rows[1],
        &[
            ("i", s("-1")),
            ("t", s("")),
            ("b", s("")),
            ("d", s("-0.01")),
            ("bits", s("00000")),
            ("bo", s("0")),
            ("tm", s("23:59:59.000000")),
            ("ch", s("é")),
            ("cl", s("")),
            ("db", s("-2.5e-300")),
            ("fl", s("-1.5")),
            ("bn", s("00")),
            ("ti", s("0")),
        ],
    );
    assert!(
        rows[2].iter().all(|(c, v)| c == "id" || v.is_none()),
        "row 3 is all NULL: {:?}",
        rows[2]
    );
    for j in [&to_pg, &to_my] {
        engine.release_job(j.job_id).await;
    }
    lite.close().await;
    pg.close().await;
    dbs.cleanup().await;
}

/// Each column of `litevals` as SQLite's `quote()` spells it (storage class
/// and exact value: `X'00FF'`, `'text'`, `2.25`, `NULL`), and its declared
/// type.
async fn quoted_litevals(lite: &SqlitePool) -> (Vec<TextRow>, Vec<(String, String)>) {
    let columns: Vec<(String, String)> =
        sqlx::query_as("SELECT name, type FROM pragma_table_info('litevals') ORDER BY cid")
            .fetch_all(lite)
            .await
            .expect("columns");
    let list: Vec<String> = columns
        .iter()
        .map(|(c, _)| format!("quote(\"{c}\") AS \"{c}\""))
        .collect();
    let rows = lite_rows(
        lite,
        &format!("SELECT {} FROM litevals ORDER BY id", list.join(", ")),
    )
    .await;
    (rows, columns)
}

/// SQLite → SQLite (a second file): every value with its storage class, as
/// the source holds it; declared types kept, except where the mapping says.
#[tokio::test]
async fn sqlite_values_arrive_exactly_in_another_sqlite_file() {
    let dbs = Dbs::new().await;
    let lite = dbs.sqlite_pool("src").await;
    create_sqlite_source(&lite).await;
    let engine = engine();
    let j = job(dbs.sqlite("src"), dbs.sqlite("t"), &["litevals"], 2);
    migrate(&engine, &j).await;
    let target = dbs.sqlite_pool("t").await;
    let (want, source_types) = quoted_litevals(&lite).await;
    let (got, target_types) = quoted_litevals(&target).await;
    let documented: BTreeMap<&str, &str> = [
        // SQLite's NUMERIC affinity is not exact: decimals travel as text.
        ("n", "DECIMAL_TEXT"),
        ("nt", "TEXT"),
        ("cl", "TEXT"),
        ("db", "REAL"),
        ("fl", "REAL"),
        ("bn", "BLOB"),
        ("ti", "BOOLEAN"),
    ]
    .into();
    for ((col, source), (_, target)) in source_types.iter().zip(&target_types) {
        let expected = documented.get(col.as_str()).copied().unwrap_or(source);
        assert_eq!(target, expected, "declared type of {col}");
    }
    assert_eq!(want.len(), 3);
    for (got, want) in got.iter().zip(&want) {
        for (col, value) in want {
            let expected = match (col.as_str(), value.as_deref()) {
                // The number NUMERIC made of '12.50', as text.
                ("n", Some(v)) if v != "NULL" => Some(format!("'{v}'")),
                // The same instant, in UTC (as from every source), and the
                // same time of day, spelled with fraction digits in threes.
                ("dtz", Some("'2024-06-01 12:00:00+05:30'")) => {
                    Some("'2024-06-01 06:30:00+00:00'".to_owned())
                }
                ("tm", Some("'12:34:56.5'")) => Some("'12:34:56.500'".to_owned()),
                _ => value.clone(),
            };
            assert_eq!(got[col], expected, "column {col} of {want:?}");
        }
    }
    assert_row(
        "sqlite litevals 1",
        &got[0],
        &[
            ("i", s("9223372036854775807")),
            ("r", s("2.25")),
            ("b", s("X'00FF5C4E'")),
            ("n", s("'12.5'")),
            ("d", s("'12.50'")),
            ("dtz", s("'2024-06-01 06:30:00+00:00'")),
            ("bits", s("'00101'")),
            ("bo", s("1")),
            ("tm", s("'12:34:56.500'")),
            ("db", s("1.000000000000000223e+00")),
            ("fl", s("0.1")),
            ("bn", s("X'00112233445566778899AABBCCDDEEFF'")),
            ("ti", s("1")),
        ],
    );
    let text: Option<String> = sqlx::query_scalar("SELECT t FROM litevals WHERE id = 1")
        .fetch_one(&target)
        .await
        .expect("text");
    assert_eq!(text.as_deref(), Some(HAZARD));
    engine.release_job(j.job_id).await;
    target.close().await;
    lite.close().await;
    dbs.cleanup().await;
}

/// Floats MySQL cannot hold are rejected records naming the column;
/// SQLite keeps infinities as REAL and NaN (which it would store as NULL)
/// as the text `NaN`.
#[tokio::test]
async fn postgres_float_specials_are_kept_by_sqlite_and_named_by_mariadb() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    pg.execute(
        "CREATE TABLE floats (id int PRIMARY KEY, f double precision, r real);
         INSERT INTO floats VALUES (1, 'NaN', 1), (2, 'Infinity', 'NaN'), (3, '-Infinity', '-Infinity'),
             (4, 1.5, 2.5);",
    )
    .await
    .expect("floats");
    let engine = engine();
    let to_my = job(dbs.pg("public"), dbs.mysql(), &["floats"], 10);
    let (_, rejected) = migrate_with_budget(&engine, &to_my).await;
    let named: Vec<(serde_json::Value, Option<String>)> = rejected
        .iter()
        .map(|r| (r.key.clone(), r.column.clone()))
        .collect();
    assert_eq!(
        named,
        [1, 2, 3].map(|k| (serde_json::json!([k]), Some("f".to_owned())))
    );
    let my = dbs.my_pool().await;
    let rows = my_rows(
        &my,
        "SELECT CAST(id AS CHAR) AS id, CAST(f AS CHAR) AS f, CAST(r AS CHAR) AS r FROM floats",
    )
    .await;
    assert_eq!(rows.len(), 1);
    assert_row(
        "mysql floats",
        &rows[0],
        &[("id", s("4")), ("f", s("1.5")), ("r", s("2.5"))],
    );

    let to_lite = job(dbs.pg("public"), dbs.sqlite("t"), &["floats"], 10);
    migrate(&engine, &to_lite).await;
    let lite = dbs.sqlite_pool("t").await;
    let rows = lite_rows(
        &lite,
        "SELECT CAST(f AS TEXT) AS f, typeof(f) AS ft, CAST(r AS TEXT) AS r, typeof(r) AS rt
         FROM floats ORDER BY id",
    )
    .await;
    let expected = [
        [
            ("f", s("NaN")),
            ("ft", s("text")),
            ("r", s("1.0")),
            ("rt", s("real")),
        ],
        [
            ("f", s("Inf")),
            ("ft", s("real")),
            ("r", s("NaN")),
            ("rt", s("text")),
        ],
        [
            ("f", s("-Inf")),
            ("ft", s("real")),
            ("r", s("-Inf")),
            ("rt", s("real")),
        ],
        [
            ("f", s("1.5")),
            ("ft", s("real")),
            ("r", s("2.5")),
            ("rt", s("real")),
        ],
    ];
    for (got, want) in rows.iter().zip(expected) {
        assert_row("sqlite floats", got, &want);
    }
    for j in [&to_my, &to_lite] {
        engine.release_job(j.job_id).await;
    }
    lite.close().await;
    pg.close().await;
    dbs.cleanup().await;
}

/// Rows are packed into multi-row INSERTs of about 4 MiB: a large value
/// after smaller ones starts an INSERT of its own, so no statement passes
/// MariaDB's 16 MiB `max_allowed_packet` unless one value does.
#[tokio::test]
async fn a_large_value_after_smaller_ones_fits_mariadbs_packet() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    pg.execute("CREATE TABLE blobs (id int PRIMARY KEY, b bytea)")
        .await
        .expect("blobs");
    let small: Vec<u8> = big_blob()[..3_900_000].to_vec();
    let large: Vec<u8> = big_blob().repeat(3)[..14_000_000].to_vec();
    for (id, value) in [(1, &small), (2, &large)] {
        sqlx::query("INSERT INTO blobs VALUES ($1, $2)")
            .bind(id)
            .bind(value)
            .execute(&pg)
            .await
            .expect("insert");
    }
    let engine = engine();
    let j = job(dbs.pg("public"), dbs.mysql(), &["blobs"], 10);
    migrate(&engine, &j).await;
    let my = dbs.my_pool().await;
    let got: Vec<(i32, Vec<u8>)> = sqlx::query_as("SELECT id, b FROM blobs ORDER BY id")
        .fetch_all(&my)
        .await
        .expect("read back");
    assert_eq!(got.len(), 2);
    assert!(got[0].1 == small && got[1].1 == large, "values differ");
    engine.release_job(j.job_id).await;
    pg.close().await;
    dbs.cleanup().await;
}

/// Into a fresh PostgreSQL database (none of the source's domains, enum
/// types or extensions): domains arrive as their base types, enums as text
/// with a CHECK, citext as text; arrays, ranges, interval and bit keep
/// their types.
#[tokio::test]
async fn postgres_values_arrive_in_a_fresh_postgres_database() {
    let dbs = Dbs::new().await;
    let pg = dbs.pg_pool().await;
    let citext = create_pg_source(&pg).await;
    let admin = PgPool::connect(support::PG_ADMIN).await.expect("admin");
    let target_db = format!("{}_t", dbs.name);
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {target_db}")))
        .await
        .expect("target db");
    let target_url = format!("postgres://postgres@127.0.0.1:5432/{target_db}");
    let engine = engine();
    let j = job(
        dbs.pg("public"),
        support::config(
            freight_core::connection::DatabaseKind::Postgresql,
            &target_url,
            Some("public"),
        ),
        &["pgvals"],
        10,
    );
    let (plan, _) = migrate(&engine, &j).await;
    let warnings = plan.report.tables[0].warnings.join("\n");
    assert!(
        warnings.contains("domain positive_int is created as its base type integer"),
        "{warnings}"
    );
    let target = PgPool::connect(&target_url).await.expect("target");
    let types: BTreeMap<String, String> = sqlx::query(
        "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute
         WHERE attrelid = 'pgvals'::regclass AND attnum > 0",
    )
    .fetch_all(&target)
    .await
    .expect("types")
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    for (col, ty) in [
        ("arr", "integer[]"),
        ("tarr", "text[]"),
        ("r4", "int4range"),
        ("tr", "tstzrange"),
        ("iv", "interval"),
        ("jb", "jsonb"),
        ("n", "numeric"),
        ("dom", "integer"),
        ("pr", "numeric(10,2)"),
        ("md", "text"),
        ("bits", "bit(5)"),
    ] {
        assert_eq!(
            types.get(col).map(String::as_str),
            Some(ty),
            "type of {col}"
        );
    }
    if citext {
        assert_eq!(types.get("ci").map(String::as_str), Some("text"));
    }
    let sql = "SELECT id::text, arr::text, tarr::text, r4::text, tr::text, iv::text, u::text,
                      jb::text, tz::text, n::text, dom::text, pr::text, md::text,
                      encode(bya, 'hex') AS bya, bits::text, md5(bigb) AS bigb, tod::text
               FROM pgvals ORDER BY id";
    // The same text, column by column, as the source prints it.
    let source_rows = pg_rows(&pg, sql).await;
    let target_rows = pg_rows(&target, sql).await;
    assert_eq!(source_rows.len(), 3);
    assert_eq!(target_rows, source_rows);
    assert_eq!(source_rows[1]["n"].as_deref(), Some("NaN"));
    engine.release_job(j.job_id).await;
    target.close().await;
    let _ = admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {target_db} WITH (FORCE)"
        )))
        .await;
    pg.close().await;
    dbs.cleanup().await;
}
