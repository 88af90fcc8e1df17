//! The one way DDL reaches a target. On SQLite every statement passes a
//! guard first: exactly one statement, creating or dropping the object
//! Freight meant to, nothing else.
//!
//! Why: a tenant's SQLite file is text Freight reads back into DDL (a
//! view's `CREATE VIEW`, CHECK and generated expressions parsed out of
//! `sqlite_master`), and with `PRAGMA writable_schema` that text can be
//! anything that still opens, such as `CREATE VIEW v AS SELECT 1; ATTACH
//! DATABASE '/any/path' AS x; …`. Run as a script, the `ATTACH` would
//! create or open any file of the worker host, past `FREIGHT_SQLITE_ROOT`.
//! The guard tokenizes as SQLite does (strings, quoted identifiers,
//! comments), so a `;` it does not see is one SQLite does not see either,
//! and each statement is run on its own.
//!
//! PostgreSQL and MySQL get the same text too (a view's definition, CHECK
//! and generated expressions, read from their catalogs and at times
//! rewritten: see `sqltext`). Their DDL is never run as a script: each
//! statement is one prepared statement, which the server refuses to hold a
//! second one, so no quoting trick of a tenant's turns one object into
//! arbitrary SQL on the target.

use super::connect::Pool;
use super::error::{Failure, classify};
use super::model::Dialect;
use super::sql::ident;

/// The one statement a piece of DDL must be (checked on SQLite targets;
/// PostgreSQL and MySQL servers refuse a second statement themselves: see
/// [`apply`]).
#[derive(Debug, Clone, Copy)]
pub enum Expect<'a> {
    /// `CREATE TABLE [IF NOT EXISTS] name (…)`.
    CreateTable(&'a str),
    /// `CREATE [UNIQUE] INDEX [IF NOT EXISTS] name ON table (…)`.
    CreateIndex { name: &'a str, table: &'a str },
    /// `CREATE VIEW [IF NOT EXISTS] name [(…)] AS …`.
    CreateView(&'a str),
    /// `DROP VIEW [IF EXISTS] name`.
    DropView(&'a str),
    /// Other DDL of a PostgreSQL or MySQL target (foreign keys, triggers,
    /// comments); never accepted on SQLite.
    Other,
}

impl Expect<'_> {
    fn describe(&self) -> String {
        match self {
            Self::CreateTable(n) => format!("CREATE TABLE {n}"),
            Self::CreateIndex { name, .. } => format!("CREATE INDEX {name}"),
            Self::CreateView(n) => format!("CREATE VIEW {n}"),
            Self::DropView(n) => format!("DROP VIEW {n}"),
            Self::Other => "DDL of this kind".to_owned(),
        }
    }
}

/// Runs one DDL statement on the target; on SQLite only after
/// [`check_sqlite`] accepted it as `expect`. On PostgreSQL and MySQL it is
/// sent as one prepared statement (the extended protocol), never as a
/// script: the server itself refuses a second statement, whatever the
/// tenant's text made of Freight's quoting (see [`one_statement_pg`]).
pub async fn apply(pool: &Pool, sql: &str, expect: Expect<'_>) -> Result<(), Failure> {
    let context = "creating objects on the target";
    match pool {
        Pool::Sqlite(p) => {
            let statement = check_sqlite(sql, expect).map_err(Failure::Permanent)?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                .execute(p)
                .await
                .map(|_| ())
        }
        Pool::Postgres(p, _) => one_statement_pg(p, None, sql).await,
        Pool::MySql(p) => sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .persistent(false)
            .execute(p)
            .await
            .map(|_| ()),
    }
    .map_err(|e| classify(&e, context))
}

/// A foreign key's DDL on a MySQL target, on one connection whose session
/// checks foreign keys: batches write with the checks off (see
/// `TargetTx::begin`), and a connection one of them left so (a cancelled
/// task) must still check the rows already there. Two prepared statements:
/// DDL never goes to a target as several statements in one text.
pub async fn apply_foreign_key_mysql(pool: &sqlx::MySqlPool, sql: &str) -> Result<(), Failure> {
    let context = "creating objects on the target";
    let mut conn = pool.acquire().await.map_err(|e| classify(&e, context))?;
    sqlx::query(super::write::FOREIGN_KEY_CHECKS_ON)
        .execute(&mut *conn)
        .await
        .map_err(|e| classify(&e, context))?;
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .persistent(false)
        .execute(&mut *conn)
        .await
        .map(|_| ())
        .map_err(|e| classify(&e, context))
}

/// Whether the target would create the table `create` makes (a `CREATE
/// TABLE IF NOT EXISTS` of [`typemap::create_table`](super::typemap::create_table)),
/// leaving nothing behind: PostgreSQL and SQLite in a transaction rolled
/// back, MySQL as a TEMPORARY table of the session, dropped. Without a
/// pool (a preview) only SQLite's guard can answer; others say yes.
/// `Ok(Err(why))` when the target refuses it; `Err` for a failure that
/// says nothing about the statement (a lost connection).
pub async fn try_create(
    pool: Option<&Pool>,
    dialect: Dialect,
    table: &str,
    create: &str,
) -> Result<Result<(), String>, Failure> {
    let context = "trying a table definition on the target";
    let refused = |f: Failure| match f {
        Failure::Permanent(why) | Failure::Data { message: why, .. } => Ok(Err(why)),
        other => Err(other),
    };
    let outcome = match pool {
        None if dialect == Dialect::Sqlite => {
            return Ok(check_sqlite(create, Expect::CreateTable(table)).map(|_| ()));
        }
        None => return Ok(Ok(())),
        Some(Pool::Sqlite(p)) => {
            let statement = match check_sqlite(create, Expect::CreateTable(table)) {
                Ok(statement) => statement,
                Err(why) => return Ok(Err(why)),
            };
            let mut tx = p.begin().await.map_err(|e| classify(&e, context))?;
            let run = sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                .execute(&mut *tx)
                .await
                .map(|_| ());
            tx.rollback().await.map_err(|e| classify(&e, context))?;
            run
        }
        Some(Pool::Postgres(p, _)) => {
            let mut tx = p.begin().await.map_err(|e| classify(&e, context))?;
            let run = sqlx::raw_sql(sqlx::AssertSqlSafe(create.to_owned()))
                .execute(&mut *tx)
                .await
                .map(|_| ());
            tx.rollback().await.map_err(|e| classify(&e, context))?;
            run
        }
        Some(Pool::MySql(p)) => {
            let Some(rest) = create.strip_prefix("CREATE TABLE IF NOT EXISTS ") else {
                return Ok(Err("not a CREATE TABLE".to_owned()));
            };
            let mut conn = p.acquire().await.map_err(|e| classify(&e, context))?;
            let run = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "CREATE TEMPORARY TABLE {rest}"
            )))
            .execute(&mut *conn)
            .await
            .map(|_| ());
            if run.is_ok() {
                let drop = format!(
                    "DROP TEMPORARY TABLE IF EXISTS {}",
                    ident(Dialect::MySql, table)
                );
                if sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
                    .execute(&mut *conn)
                    .await
                    .is_err()
                {
                    // The session ends, and its temporary table with it.
                    conn.close().await.map_err(|e| classify(&e, context))?;
                }
            }
            run
        }
    };
    match outcome {
        Ok(()) => Ok(Ok(())),
        Err(e) => refused(classify(&e, context)),
    }
}

/// Runs `sql` on PostgreSQL with `schema` as the search path (a view's
/// unqualified names resolve there).
pub async fn apply_in_schema(pg: &sqlx::PgPool, schema: &str, sql: &str) -> Result<(), Failure> {
    one_statement_pg(pg, Some(schema), sql)
        .await
        .map_err(|e| classify(&e, "creating objects on the target"))
}

/// One statement on PostgreSQL, in a transaction that reads string
/// literals as Freight scanned them (`standard_conforming_strings` on,
/// whatever the target database, its roles or an earlier expression set)
/// and, with `schema`, resolves unqualified names there. The statement goes
/// through Parse/Bind/Execute, where PostgreSQL refuses more than one
/// ("cannot insert multiple commands into a prepared statement"); it is not
/// kept in the connection's statement cache.
async fn one_statement_pg(
    pg: &sqlx::PgPool,
    schema: Option<&str>,
    sql: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = pg.begin().await?;
    sqlx::query("SELECT pg_catalog.set_config('standard_conforming_strings', 'on', true)")
        .execute(&mut *tx)
        .await?;
    if let Some(schema) = schema {
        sqlx::query("SELECT pg_catalog.set_config('search_path', $1, true)")
            .bind(ident(Dialect::Postgres, schema))
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .persistent(false)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A bare word: keyword or identifier (compared without case).
    Word(String),
    /// A quoted identifier (`"…"`, `[…]`, `` `…` ``).
    Quoted(String),
    Str,
    Number,
    Semicolon,
    Symbol(char),
}

/// SQLite's tokens of `sql`, comments and whitespace left out; `Err` for
/// what SQLite would not read the way this does (an unterminated string,
/// identifier or comment, a NUL, bound parameters, unknown characters).
fn tokenize(sql: &str) -> Result<(Vec<Tok>, Option<usize>), String> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut last_semicolon = None;
    let mut i = 0;
    let unterminated = |what: &str| Err(format!("an unterminated {what}"));
    while let Some(&c) = chars.get(i) {
        match c {
            ' ' | '\t' | '\n' | '\r' | '\x0c' => i += 1,
            '-' if chars.get(i + 1) == Some(&'-') => {
                while chars.get(i).is_some_and(|&c| c != '\n') {
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                let Some(end) = (i + 2..chars.len().saturating_sub(1))
                    .find(|&j| chars[j] == '*' && chars[j + 1] == '/')
                else {
                    return unterminated("comment");
                };
                i = end + 2;
            }
            '\'' | '"' | '`' => {
                // Doubled quotes stand for one; the first lone one ends it.
                let mut j = i + 1;
                let mut text = String::new();
                loop {
                    match chars.get(j) {
                        None => return unterminated("quoted text"),
                        Some(&q) if q == c && chars.get(j + 1) == Some(&c) => {
                            text.push(c);
                            j += 2;
                        }
                        Some(&q) if q == c => break,
                        Some(&other) => {
                            text.push(other);
                            j += 1;
                        }
                    }
                }
                out.push(if c == '\'' {
                    Tok::Str
                } else {
                    Tok::Quoted(text)
                });
                i = j + 1;
            }
            '[' => {
                let Some(end) = chars[i..].iter().position(|&c| c == ']') else {
                    return unterminated("identifier");
                };
                out.push(Tok::Quoted(chars[i + 1..i + end].iter().collect()));
                i += end + 1;
            }
            ';' => {
                out.push(Tok::Semicolon);
                last_semicolon = Some(i);
                i += 1;
            }
            c if c.is_ascii_digit()
                || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                while chars
                    .get(i)
                    .is_some_and(|&c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
                {
                    i += 1;
                }
                out.push(Tok::Number);
            }
            c if c.is_ascii_alphabetic() || c == '_' || !c.is_ascii() => {
                let start = i;
                while chars.get(i).is_some_and(|&c| {
                    c.is_ascii_alphanumeric() || c == '_' || c == '$' || !c.is_ascii()
                }) {
                    i += 1;
                }
                out.push(Tok::Word(chars[start..i].iter().collect()));
            }
            '(' | ')' | ',' | '.' | '+' | '-' | '*' | '/' | '%' | '<' | '>' | '=' | '!' | '|'
            | '&' | '~' => {
                out.push(Tok::Symbol(c));
                i += 1;
            }
            other => return Err(format!("the character {other:?}")),
        }
    }
    // Where the last `;` is, in bytes.
    let at = last_semicolon.map(|c| chars[..c].iter().map(|c| c.len_utf8()).sum());
    Ok((out, at))
}

/// `sql` as the single statement `expect` says it is (a trailing `;` and
/// comments around it dropped); `Err` says why it is not.
pub fn check_sqlite(sql: &str, expect: Expect<'_>) -> Result<String, String> {
    let refused = |why: String| {
        Err(format!(
            "refused to run on the SQLite target: not a single {} statement ({why})",
            expect.describe()
        ))
    };
    let (mut tokens, last_semicolon) = match tokenize(sql) {
        Ok(t) => t,
        Err(why) => return refused(why),
    };
    // A final `;` (comments may follow it) is dropped with what follows.
    let mut statement = sql;
    if tokens.last() == Some(&Tok::Semicolon) {
        tokens.pop();
        statement = &sql[..last_semicolon.unwrap_or(sql.len())];
    }
    if tokens.contains(&Tok::Semicolon) {
        return refused("a second statement follows a `;`".into());
    }
    let mut p = Cursor { tokens, pos: 0 };
    let shape = match expect {
        Expect::CreateTable(name) => p
            .words(&["create", "table"])
            .and_then(|()| p.optional(&["if", "not", "exists"]))
            .and_then(|()| p.name(name))
            .and_then(|()| p.symbol('(')),
        Expect::CreateIndex { name, table } => p
            .words(&["create"])
            .and_then(|()| p.optional(&["unique"]))
            .and_then(|()| p.words(&["index"]))
            .and_then(|()| p.optional(&["if", "not", "exists"]))
            .and_then(|()| p.name(name))
            .and_then(|()| p.words(&["on"]))
            .and_then(|()| p.name(table))
            .and_then(|()| p.symbol('(')),
        Expect::CreateView(name) => p
            .words(&["create", "view"])
            .and_then(|()| p.optional(&["if", "not", "exists"]))
            .and_then(|()| p.name(name))
            .and_then(|()| p.view_body()),
        Expect::DropView(name) => p
            .words(&["drop", "view"])
            .and_then(|()| p.optional(&["if", "exists"]))
            .and_then(|()| p.name(name))
            .and_then(|()| p.end()),
        Expect::Other => Err("only tables, indexes and views are created on SQLite".into()),
    };
    match shape {
        Ok(()) => Ok(statement.to_owned()),
        Err(why) => refused(why),
    }
}

struct Cursor {
    tokens: Vec<Tok>,
    pos: usize,
}

impl Cursor {
    fn is_word(&self, w: &str) -> bool {
        matches!(self.tokens.get(self.pos), Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w))
    }

    fn words(&mut self, words: &[&str]) -> Result<(), String> {
        for w in words {
            if !self.is_word(w) {
                return Err(format!("expected {}", w.to_ascii_uppercase()));
            }
            self.pos += 1;
        }
        Ok(())
    }

    /// The words if the first of them is there.
    fn optional(&mut self, words: &[&str]) -> Result<(), String> {
        match words.first() {
            Some(first) if self.is_word(first) => self.words(words),
            _ => Ok(()),
        }
    }

    fn symbol(&mut self, s: char) -> Result<(), String> {
        if self.tokens.get(self.pos) == Some(&Tok::Symbol(s)) {
            self.pos += 1;
            return Ok(());
        }
        Err(format!("expected {s:?}"))
    }

    /// The object's name, unqualified or in `main` (never another
    /// attached schema), equal to `expected` without case (as SQLite
    /// compares names).
    fn name(&mut self, expected: &str) -> Result<(), String> {
        let read = |t: Option<&Tok>| match t {
            Some(Tok::Word(n) | Tok::Quoted(n)) => Some(n.clone()),
            _ => None,
        };
        let mut name = read(self.tokens.get(self.pos)).ok_or("expected a name")?;
        self.pos += 1;
        if self.tokens.get(self.pos) == Some(&Tok::Symbol('.')) {
            if !name.eq_ignore_ascii_case("main") {
                return Err(format!("it names schema {name}"));
            }
            name = read(self.tokens.get(self.pos + 1)).ok_or("expected a name")?;
            self.pos += 2;
        }
        if !name.eq_ignore_ascii_case(expected) {
            return Err(format!("it names {name}, not {expected}"));
        }
        Ok(())
    }

    /// `[(columns)] AS SELECT|WITH|VALUES …`.
    fn view_body(&mut self) -> Result<(), String> {
        if self.tokens.get(self.pos) == Some(&Tok::Symbol('(')) {
            let mut depth = 0usize;
            while let Some(t) = self.tokens.get(self.pos) {
                self.pos += 1;
                match t {
                    Tok::Symbol('(') => depth += 1,
                    Tok::Symbol(')') => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
            }
        }
        self.words(&["as"])?;
        if ["select", "with", "values"].iter().any(|w| self.is_word(w)) {
            return Ok(());
        }
        Err("expected a SELECT after AS".into())
    }

    fn end(&self) -> Result<(), String> {
        match self.tokens.get(self.pos) {
            None => Ok(()),
            Some(_) => Err("something follows the name".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_freight_writes() {
        let table = "CREATE TABLE IF NOT EXISTS \"t;x\" (\n  \"a\" TEXT DEFAULT 'a;b' CHECK (\"a\" <> ';'),\n  PRIMARY KEY (\"a\")\n)";
        assert_eq!(
            check_sqlite(table, Expect::CreateTable("t;x")).as_deref(),
            Ok(table)
        );
        let index = "CREATE UNIQUE INDEX \"i\" ON \"t\" (\"a\" DESC) WHERE a > 0";
        assert!(
            check_sqlite(
                index,
                Expect::CreateIndex {
                    name: "i",
                    table: "t"
                }
            )
            .is_ok()
        );
        let view = "CREATE VIEW [v] (x) AS SELECT 'a;' AS x -- tail ;\n; /* done; */ ";
        assert_eq!(
            check_sqlite(view, Expect::CreateView("V")).as_deref(),
            Ok("CREATE VIEW [v] (x) AS SELECT 'a;' AS x -- tail ;\n")
        );
        assert!(check_sqlite("DROP VIEW IF EXISTS \"v\"", Expect::DropView("v")).is_ok());
    }

    #[test]
    fn refuses_a_second_statement_and_other_objects() {
        let attach =
            "CREATE VIEW v AS SELECT 1; ATTACH DATABASE '/tmp/x' AS x; CREATE TABLE x.t(a)";
        let why = check_sqlite(attach, Expect::CreateView("v")).unwrap_err();
        assert!(why.contains("second statement"), "{why}");
        // Comment and quote tricks: the `;` SQLite sees is seen.
        for sql in [
            "CREATE VIEW v AS SELECT 1 /* x */; ATTACH 'p' AS x",
            "CREATE VIEW v AS SELECT 'it''s';ATTACH 'p' AS x",
            "CREATE VIEW v AS SELECT \"a\"\"\";ATTACH 'p' AS x",
            "CREATE VIEW v AS SELECT [a;b];ATTACH 'p' AS x",
            "CREATE VIEW v AS SELECT 1 --\n;ATTACH 'p' AS x",
            "CREATE VIEW v AS SELECT 1 /* never closed ; ATTACH 'p' AS x",
            "CREATE VIEW v AS SELECT 'never closed; ATTACH",
            "CREATE VIEW v AS SELECT 1\0; ATTACH 'p' AS x",
        ] {
            assert!(check_sqlite(sql, Expect::CreateView("v")).is_err(), "{sql}");
        }
        for (sql, expect) in [
            ("ATTACH DATABASE '/tmp/x' AS x", Expect::CreateView("v")),
            ("CREATE VIEW x.v AS SELECT 1", Expect::CreateView("v")),
            ("CREATE VIEW w AS SELECT 1", Expect::CreateView("v")),
            ("CREATE TEMP VIEW v AS SELECT 1", Expect::CreateView("v")),
            ("CREATE TABLE v (a)", Expect::CreateView("v")),
            ("CREATE TABLE t AS SELECT 1", Expect::CreateTable("t")),
            ("DROP VIEW v; DROP TABLE t", Expect::DropView("v")),
            ("DROP TABLE v", Expect::DropView("v")),
            ("PRAGMA writable_schema = ON", Expect::Other),
        ] {
            assert!(check_sqlite(sql, expect).is_err(), "{sql}");
        }
        assert!(check_sqlite("CREATE VIEW main.v AS SELECT 1", Expect::CreateView("v")).is_ok());
    }

    #[test]
    fn refuses_tables_and_indexes_whose_expressions_close_the_statement() {
        // A CHECK, generated column or default read out of a tenant's
        // `sqlite_master` that ends the statement early.
        for expression in [
            "qty >= 0 /* (( */)); ATTACH DATABASE '/tmp/p' AS y; CREATE TABLE y.z(q) --",
            "1)); ATTACH '/tmp/p' AS y; --",
        ] {
            let sql = format!(
                "CREATE TABLE IF NOT EXISTS \"t\" (\n  \"qty\" INTEGER,\n  CONSTRAINT \"c\" CHECK ({expression}),\n  PRIMARY KEY (\"qty\")\n)"
            );
            assert!(
                check_sqlite(&sql, Expect::CreateTable("t")).is_err(),
                "{sql}"
            );
        }
        let index = "CREATE INDEX \"i\" ON \"t\" (\"a\") WHERE a > 0; ATTACH '/tmp/p' AS y";
        let expect = Expect::CreateIndex {
            name: "i",
            table: "t",
        };
        assert!(check_sqlite(index, expect).is_err());
        let elsewhere = "CREATE INDEX \"i\" ON y.\"t\" (\"a\")";
        assert!(check_sqlite(elsewhere, expect).is_err());
    }
}
