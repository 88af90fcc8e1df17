//! SQL text built at run time: identifiers quoted per dialect, values always
//! bound as parameters (never spliced), key ranges as portable predicates.

use super::introspect::MYSQL_PAD_BIN;
use super::model::{Dialect, Value};

/// Quotes an identifier; embedded quote characters are doubled.
pub fn ident(dialect: Dialect, name: &str) -> String {
    match dialect {
        Dialect::MySql => format!("`{}`", name.replace('`', "``")),
        Dialect::Postgres | Dialect::Sqlite => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

/// A string literal for DDL only (enum labels, defaults), never for data.
pub fn literal(dialect: Dialect, value: &str) -> String {
    let escaped = value.replace('\'', "''");
    match dialect {
        // MySQL also treats backslash as an escape inside literals.
        Dialect::MySql => format!("'{}'", escaped.replace('\\', "\\\\")),
        _ => format!("'{escaped}'"),
    }
}

/// A table name qualified by the PostgreSQL schema where there is one.
pub fn table(dialect: Dialect, schema: Option<&str>, name: &str) -> String {
    match (dialect, schema) {
        (Dialect::Postgres, Some(s)) => format!("{}.{}", ident(dialect, s), ident(dialect, name)),
        _ => ident(dialect, name),
    }
}

/// The table in a `FROM` clause that reads its own rows: a PostgreSQL table
/// with inheritance children is read with `ONLY`, since a plain `SELECT` of
/// it also returns every child's rows (each child is a table of its own,
/// copied as such). A partitioned table is read whole: its partitions are
/// not copied apart from it.
pub fn from(dialect: Dialect, schema: Option<&str>, table: &super::model::Table) -> String {
    let name = self::table(dialect, schema, &table.name);
    if dialect == Dialect::Postgres && !table.inherited_by.is_empty() {
        format!("ONLY {name}")
    } else {
        name
    }
}

/// Builds a WHERE clause with numbered or positional placeholders, keeping
/// the values to bind in order.
pub struct Predicate {
    dialect: Dialect,
    pub sql: String,
    pub binds: Vec<Value>,
    /// A key range open at one end (a table's first or last batch).
    pub one_sided: bool,
    /// The collation a MySQL text key is matched with, byte for byte (see
    /// [`exact_collation`](super::introspect::exact_collation)).
    exact_collation: &'static str,
}

/// Run before a one-sided key range query on PostgreSQL, in the same
/// transaction. Without statistics (a target table filled by this very job
/// and not analyzed yet) PostgreSQL assumes `key >= $1` matches a third of
/// the table and scans all of it: 0.3 s for the last batch of a 2M-row
/// table, every time, instead of a few ms through the key's index. Where
/// there is no index, the sequential scan still runs.
pub const PG_PREFER_INDEX: &str = "SET LOCAL enable_seqscan = off";

impl Predicate {
    pub fn new(dialect: Dialect) -> Self {
        Self {
            dialect,
            sql: String::new(),
            binds: Vec::new(),
            one_sided: false,
            exact_collation: MYSQL_PAD_BIN,
        }
    }

    /// Matches MySQL text keys in [`key_set`](Self::key_set) by `collation`
    /// (the target's NO PAD binary collation).
    pub fn with_exact_collation(mut self, collation: &'static str) -> Self {
        self.exact_collation = collation;
        self
    }

    /// A placeholder for `value`, cast to `pg_type` on PostgreSQL so a key
    /// bound arrives in the column's own type.
    pub fn bind(&mut self, value: Value, pg_type: &str) -> String {
        self.binds.push(value);
        match self.dialect {
            Dialect::Postgres => format!("CAST(${} AS {pg_type})", self.binds.len()),
            Dialect::MySql | Dialect::Sqlite => "?".to_owned(),
        }
    }

    /// `key >= start AND key < end`, expanded for composite keys into
    /// `(a > x) OR (a = x AND b >= y)` form, which every dialect's optimizer
    /// turns into an index range (row-value comparisons are not portable).
    pub fn key_range(
        &mut self,
        columns: &[(String, String)],
        start: Option<&[Value]>,
        end: Option<&[Value]>,
    ) {
        self.one_sided = start.is_some() != end.is_some();
        let mut parts = Vec::new();
        if let Some(start) = start {
            parts.push(self.tuple_cmp(columns, start, true));
        }
        if let Some(end) = end {
            parts.push(format!("NOT {}", self.tuple_cmp(columns, end, true)));
        }
        self.sql = if parts.is_empty() {
            "1=1".to_owned()
        } else {
            parts.join(" AND ")
        };
    }

    /// `key > start`: the rows after one key value (probing past a value
    /// that more than a batch of rows share, which a key named in the job's
    /// `key_columns` may).
    pub fn key_after(&mut self, columns: &[(String, String)], start: &[Value]) {
        self.one_sided = true;
        self.sql = self.tuple_cmp(columns, start, false);
    }

    /// Every row of the table: the one batch of a table copied whole.
    pub fn whole_table(&mut self) {
        self.one_sided = false;
        self.binds.clear();
        self.sql = "1=1".to_owned();
    }

    /// `(cols) >= (values)` (or `>` when `inclusive` is false), lexicographic.
    fn tuple_cmp(
        &mut self,
        columns: &[(String, String)],
        values: &[Value],
        inclusive: bool,
    ) -> String {
        let Some(((name, pg_type), rest_cols)) = columns.split_first() else {
            return if inclusive { "1=1" } else { "1=0" }.to_owned();
        };
        let col = ident(self.dialect, name);
        let value = values.first().cloned().unwrap_or(Value::Null);
        if rest_cols.is_empty() {
            let op = if inclusive { ">=" } else { ">" };
            let p = self.bind(value, pg_type);
            return format!("{col} {op} {p}");
        }
        let gt = self.bind(value.clone(), pg_type);
        let eq = self.bind(value, pg_type);
        let rest = self.tuple_cmp(rest_cols, &values[1..], inclusive);
        format!("({col} > {gt} OR ({col} = {eq} AND {rest}))")
    }

    /// `(a = ? AND b = ?) OR ...` for an explicit set of keys. Text keys
    /// compare byte for byte on MySQL and SQLite whatever the column's
    /// collation (PostgreSQL's deterministic collations already do).
    pub fn key_set(&mut self, columns: &[(String, String)], keys: &[Vec<Value>]) {
        if keys.is_empty() {
            self.sql = "1=0".to_owned();
            return;
        }
        let mut ors = Vec::with_capacity(keys.len());
        for key in keys {
            let ands: Vec<String> = columns
                .iter()
                .zip(key)
                .map(|((name, pg_type), v)| {
                    let col = ident(self.dialect, name);
                    let p = self.bind(v.clone(), pg_type);
                    if !matches!(v, Value::Text(_)) || self.dialect == Dialect::Postgres {
                        return format!("{col} = {p}");
                    }
                    // A case- or accent-insensitive target column (MySQL
                    // `_ci`, SQLite NOCASE) would take 'resume' for 'Résumé'
                    // and clear another batch's row: the key must match
                    // byte for byte. The first test keeps the key's index.
                    // MySQL: a utf8mb4 collation (the connection's character
                    // set, any column's converts to it), not `BINARY`. A
                    // NO PAD one, since PAD SPACE takes 'a ' for 'a'; except
                    // for a `char(n)` column, which holds no trailing spaces
                    // and must still match a key sent with them.
                    let exact = self.bind(v.clone(), pg_type);
                    match self.dialect {
                        Dialect::MySql => {
                            let collation = if pg_type.starts_with("char") {
                                MYSQL_PAD_BIN
                            } else {
                                self.exact_collation
                            };
                            format!("({col} = {p} AND {col} = {exact} COLLATE {collation})")
                        }
                        _ => format!("({col} = {p} AND {col} = {exact} COLLATE BINARY)"),
                    }
                })
                .collect();
            ors.push(format!("({})", ands.join(" AND ")));
        }
        self.sql = ors.join(" OR ");
    }
}

/// `?, ?, ?` or `$n, $n+1, ...` groups for a multi-row INSERT.
pub fn values_placeholders(dialect: Dialect, rows: usize, cols: usize) -> String {
    let mut out = String::with_capacity(rows * (cols * 4 + 3));
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            out.push(',');
        }
        out.push('(');
        for c in 0..cols {
            if c > 0 {
                out.push(',');
            }
            n += 1;
            match dialect {
                Dialect::Postgres => out.push_str(&format!("${n}")),
                _ => out.push('?'),
            }
        }
        out.push(')');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_identifiers_per_dialect() {
        assert_eq!(ident(Dialect::MySql, "a`b"), "`a``b`");
        assert_eq!(ident(Dialect::Postgres, "a\"b"), "\"a\"\"b\"");
        assert_eq!(table(Dialect::Postgres, Some("s"), "t"), "\"s\".\"t\"");
        assert_eq!(literal(Dialect::MySql, "it's\\"), "'it''s\\\\'");
    }

    #[test]
    fn composite_ranges_expand_lexicographically() {
        let cols = vec![
            ("a".to_owned(), "int".to_owned()),
            ("b".to_owned(), "text".to_owned()),
        ];
        let mut p = Predicate::new(Dialect::Postgres);
        p.key_range(
            &cols,
            Some(&[Value::Int(1), Value::Text("x".into())]),
            Some(&[Value::Int(2), Value::Text("y".into())]),
        );
        assert_eq!(
            p.sql,
            "(\"a\" > CAST($1 AS int) OR (\"a\" = CAST($2 AS int) AND \"b\" >= CAST($3 AS text))) AND NOT (\"a\" > CAST($4 AS int) OR (\"a\" = CAST($5 AS int) AND \"b\" >= CAST($6 AS text)))"
        );
        assert_eq!(p.binds.len(), 6);
        assert!(!p.one_sided);
    }

    #[test]
    fn mysql_text_keys_match_without_padding_except_char_columns() {
        let cols = vec![
            ("w".to_owned(), "varchar(255)".to_owned()),
            ("c".to_owned(), "char(8)".to_owned()),
        ];
        let key = vec![Value::Text("a ".into()), Value::Text("b".into())];
        let mut p = Predicate::new(Dialect::MySql).with_exact_collation("utf8mb4_nopad_bin");
        p.key_set(&cols, &[key]);
        assert_eq!(
            p.sql,
            "((`w` = ? AND `w` = ? COLLATE utf8mb4_nopad_bin) AND (`c` = ? AND `c` = ? COLLATE utf8mb4_bin))"
        );
        assert_eq!(p.binds.len(), 4);
    }

    #[test]
    fn first_and_last_ranges_are_one_sided() {
        let cols = vec![("id".to_owned(), "bigint".to_owned())];
        let one = [Value::Int(1)];
        for (start, end, one_sided) in [
            (None, Some(&one[..]), true),
            (Some(&one[..]), None, true),
            (Some(&one[..]), Some(&one[..]), false),
            (None, None, false),
        ] {
            let mut p = Predicate::new(Dialect::Postgres);
            p.key_range(&cols, start, end);
            assert_eq!(p.one_sided, one_sided, "{}", p.sql);
        }
    }
}
