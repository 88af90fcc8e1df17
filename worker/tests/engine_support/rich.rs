//! A table with rich types and NULLs, created and read back in each dialect
//! with plain sqlx (not the engine), so the comparison is independent.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use chrono::{NaiveDate, NaiveDateTime};
use sqlx::{MySqlPool, PgPool, Row, SqlitePool};

#[derive(Debug, Clone, PartialEq)]
pub struct Rich {
    pub id: i64,
    pub flag: Option<bool>,
    pub small: Option<i16>,
    pub big: Option<i64>,
    pub amount: Option<String>,
    pub ratio: Option<f64>,
    pub name: Option<String>,
    pub note: Option<String>,
    pub data: Option<Vec<u8>>,
    pub day: Option<NaiveDate>,
    pub at: Option<NaiveDateTime>,
    pub doc: Option<serde_json::Value>,
    pub uid: Option<uuid::Uuid>,
}

/// `n` rows with gaps in the key (ids 1, 4, 7, ...), every 5th all NULL.
pub fn rows(n: i64) -> Vec<Rich> {
    (0..n)
        .map(|i| {
            let id = i * 3 + 1;
            if i % 5 == 4 {
                return Rich {
                    id,
                    flag: None,
                    small: None,
                    big: None,
                    amount: None,
                    ratio: None,
                    name: None,
                    note: None,
                    data: None,
                    day: None,
                    at: None,
                    doc: None,
                    uid: None,
                };
            }
            let day = NaiveDate::from_ymd_opt(
                1990 + (i % 40) as i32,
                1 + (i % 12) as u32,
                1 + (i % 28) as u32,
            )
            .expect("date");
            Rich {
                id,
                flag: Some(i % 2 == 0),
                small: Some((i % 30_000) as i16 - 15_000),
                big: Some(i * 1_000_000_007 - 9_000_000_000_000),
                amount: Some(format!("{}.{:02}", i * 37 - 500, i % 100)),
                ratio: Some(i as f64 / 7.0),
                name: Some(format!("name {i} ünï’code 😀")),
                note: Some(format!("tab\there\nnew line \\ back'slash \"q\" {i}")),
                data: Some(vec![0, 1, 2, 255, (i % 256) as u8]),
                day: Some(day),
                at: day.and_hms_micro_opt((i % 24) as u32, 7, 9, (i * 1013 % 1_000_000) as u32),
                doc: Some(serde_json::json!({"i": i, "tags": ["a", "b"], "nested": {"x": null}})),
                uid: Some(uuid::Uuid::from_u128(
                    0x1234_5678_9abc_def0_u128 * (i as u128 + 1),
                )),
            }
        })
        .collect()
}

/// Decimals are compared without trailing zeros (SQLite keeps `12.5`).
fn norm_amount(a: Option<String>) -> Option<String> {
    a.map(|s| {
        let t = if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s
        };
        if t == "-0" { "0".to_owned() } else { t }
    })
}

pub fn normalized(rows: Vec<Rich>) -> Vec<Rich> {
    rows.into_iter()
        .map(|mut r| {
            r.amount = norm_amount(r.amount);
            r
        })
        .collect()
}

pub async fn create_pg(pool: &PgPool, schema: &str, rows: &[Rich]) {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}"
    )))
    .execute(pool)
    .await
    .expect("schema");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE {schema}.rich (id bigint PRIMARY KEY, flag boolean, small smallint, big bigint,
         amount numeric(12,2), ratio double precision, name varchar(100), note text, data bytea,
         day date, at timestamp, doc jsonb, uid uuid)"
    )))
    .execute(pool)
    .await
    .expect("create");
    for r in rows {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {schema}.rich VALUES ($1,$2,$3,$4,$5::numeric,$6,$7,$8,$9,$10,$11,$12::jsonb,$13)"
        )))
        .bind(r.id)
        .bind(r.flag)
        .bind(r.small)
        .bind(r.big)
        .bind(&r.amount)
        .bind(r.ratio)
        .bind(&r.name)
        .bind(&r.note)
        .bind(&r.data)
        .bind(r.day)
        .bind(r.at)
        .bind(r.doc.as_ref().map(|d| d.to_string()))
        .bind(r.uid)
        .execute(pool)
        .await
        .expect("insert");
    }
}

pub async fn create_mysql(pool: &MySqlPool, rows: &[Rich]) {
    sqlx::query(
        "CREATE TABLE rich (id bigint PRIMARY KEY, flag tinyint(1), small smallint, big bigint,
         amount decimal(12,2), ratio double, name varchar(100), note text, data blob,
         day date, at datetime(6), doc json, uid char(36))",
    )
    .execute(pool)
    .await
    .expect("create");
    for r in rows {
        sqlx::query("INSERT INTO rich VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)")
            .bind(r.id)
            .bind(r.flag)
            .bind(r.small)
            .bind(r.big)
            .bind(&r.amount)
            .bind(r.ratio)
            .bind(&r.name)
            .bind(&r.note)
            .bind(&r.data)
            .bind(r.day)
            .bind(r.at)
            .bind(r.doc.as_ref().map(|d| d.to_string()))
            .bind(r.uid.map(|u| u.to_string()))
            .execute(pool)
            .await
            .expect("insert");
    }
}

pub async fn create_sqlite(pool: &SqlitePool, rows: &[Rich]) {
    sqlx::query(
        "CREATE TABLE rich (id INTEGER PRIMARY KEY, flag BOOLEAN, small SMALLINT, big BIGINT,
         amount DECIMAL(12,2), ratio REAL, name VARCHAR(100), note TEXT, data BLOB,
         day DATE, at DATETIME, doc JSON, uid UUID)",
    )
    .execute(pool)
    .await
    .expect("create");
    for r in rows {
        sqlx::query("INSERT INTO rich VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)")
            .bind(r.id)
            .bind(r.flag)
            .bind(r.small)
            .bind(r.big)
            .bind(&r.amount)
            .bind(r.ratio)
            .bind(&r.name)
            .bind(&r.note)
            .bind(&r.data)
            .bind(r.day.map(|d| d.format("%Y-%m-%d").to_string()))
            .bind(r.at.map(|d| d.format("%Y-%m-%d %H:%M:%S%.6f").to_string()))
            .bind(r.doc.as_ref().map(|d| d.to_string()))
            .bind(r.uid.map(|u| u.to_string()))
            .execute(pool)
            .await
            .expect("insert");
    }
}

fn json(s: Option<String>) -> Option<serde_json::Value> {
    s.map(|s| serde_json::from_str(&s).expect("json"))
}

fn uid(s: Option<String>) -> Option<uuid::Uuid> {
    s.map(|s| s.parse().expect("uuid"))
}

pub async fn read_pg(pool: &PgPool, schema: &str) -> Vec<Rich> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id::int8, flag::bool, small::int2, big::int8, amount::text, ratio::float8, name::text,
         note::text, data::bytea, day::date, at::timestamp, doc::text, uid::text
         FROM {schema}.rich ORDER BY id"
    )))
    .fetch_all(pool)
    .await
    .expect("read pg");
    rows.iter()
        .map(|r| Rich {
            id: r.get(0),
            flag: r.get(1),
            small: r.get(2),
            big: r.get(3),
            amount: r.get(4),
            ratio: r.get(5),
            name: r.get(6),
            note: r.get(7),
            data: r.get(8),
            day: r.get(9),
            at: r.get(10),
            doc: json(r.get(11)),
            uid: uid(r.get(12)),
        })
        .collect()
}

pub async fn read_mysql(pool: &MySqlPool) -> Vec<Rich> {
    let rows = sqlx::query(
        "SELECT id, flag, small, big, CAST(amount AS CHAR), ratio, name, note, data, day, at,
         CAST(doc AS CHAR), CAST(uid AS CHAR) FROM rich ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .expect("read mysql");
    rows.iter()
        .map(|r| Rich {
            id: r.get(0),
            flag: r.get(1),
            small: r.get(2),
            big: r.get(3),
            amount: r.get(4),
            ratio: r.get(5),
            name: r.get(6),
            note: r.get(7),
            data: r.get(8),
            day: r.get(9),
            at: r.get(10),
            doc: json(r.get(11)),
            uid: uid(r.get(12)),
        })
        .collect()
}

pub async fn read_sqlite(pool: &SqlitePool) -> Vec<Rich> {
    let rows = sqlx::query(
        "SELECT id, flag, small, big, CAST(amount AS TEXT), ratio, name, note, data, day, at, doc, uid
         FROM rich ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .expect("read sqlite");
    rows.iter()
        .map(|r| Rich {
            id: r.get(0),
            flag: r.get(1),
            small: r.get(2),
            big: r.get(3),
            amount: r.get(4),
            ratio: r.get(5),
            name: r.get(6),
            note: r.get(7),
            data: r.get(8),
            day: r
                .get::<Option<String>, _>(9)
                .map(|d| d.parse().expect("date")),
            at: r.get::<Option<String>, _>(10).map(|d| {
                NaiveDateTime::parse_from_str(&d, "%Y-%m-%d %H:%M:%S%.f").expect("datetime")
            }),
            doc: json(r.get(11)),
            uid: uid(r.get(12)),
        })
        .collect()
}
