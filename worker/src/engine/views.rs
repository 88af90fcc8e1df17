//! Views of the source, recreated on the target after the tables when
//! their definition translates: a SELECT list of expressions that
//! `engine/expr.rs` translates (each named), FROM and JOINs (inner, left,
//! cross, comma) of tables the job copies, and a WHERE condition of such
//! expressions. Anything else (GROUP BY, ORDER BY, subqueries, other views,
//! tables the job does not copy, untranslatable expressions) leaves the
//! view out, with the reason in the plan.

use freight_core::job::Identifiers;

use super::checks::{Token, tokenize};
use super::connect::Pool;
use super::ddl;
use super::expr::{self, Parser, ScopeTable, Ty};
use super::introspect::budget::SchemaBudget;
use super::introspect::{self, ViewDef};
use super::model::{Dialect, Table};
use super::own_server;
use super::planner::PlanFail;
use super::sql::{ident, table as qualified};
use super::sqltext;

/// A view of the source and what becomes of it on the target.
#[derive(Debug, Clone)]
pub struct ViewPlan {
    pub name: String,
    /// The target's `CREATE OR REPLACE VIEW`, or why the view is left out.
    pub outcome: Result<String, String>,
    /// The PostgreSQL schema its (unqualified) names resolve in: a view
    /// copied from PostgreSQL with its own SQL.
    pub search_path: Option<String>,
    /// Copied with its own SQL (same dialect) rather than translated.
    pub verbatim: bool,
    /// Run before `outcome` (SQLite has no `CREATE OR REPLACE VIEW`).
    pub drop_first: Option<String>,
}

impl ViewPlan {
    /// How the plan reports it.
    pub fn message(&self) -> String {
        match &self.outcome {
            Ok(_) if self.verbatim => format!(
                "view {} is recreated on the target after the copy, with its own SQL",
                self.name
            ),
            Ok(_) => format!(
                "view {} is recreated on the target after the copy",
                self.name
            ),
            Err(why) => format!("view {} is not recreated: {why}", self.name),
        }
    }
}

/// The target spellings of the source's views; `tables` are the source
/// tables the job copies. Their definitions are charged to `budget`. A
/// target login privileged on Freight's own server gets none (see
/// `own_server`).
#[allow(clippy::too_many_arguments)]
pub async fn plan(
    source: &Pool,
    source_schema: &str,
    tables: &[Table],
    target: Dialect,
    target_privileged: bool,
    target_schema: Option<&str>,
    ids: Identifiers,
    budget: &mut SchemaBudget,
) -> Result<Vec<ViewPlan>, PlanFail> {
    let defs = introspect::view_definitions(source, source_schema, budget).await?;
    let source = source.dialect();
    Ok(defs
        .into_iter()
        .map(|def| {
            if target_privileged {
                return ViewPlan {
                    outcome: Err(own_server::VIEW_WHY.to_owned()),
                    search_path: None,
                    verbatim: false,
                    drop_first: None,
                    name: def.name,
                };
            }
            // Same dialect, names kept: the view's own SQL.
            if source == target && ids == Identifiers::Keep {
                return ViewPlan {
                    drop_first: (target == Dialect::Sqlite)
                        .then(|| format!("DROP VIEW IF EXISTS {}", ident(target, &def.name))),
                    outcome: own_sql(&def, target, target_schema),
                    search_path: target_schema
                        .filter(|_| target == Dialect::Postgres)
                        .map(str::to_owned),
                    verbatim: true,
                    name: def.name,
                };
            }
            ViewPlan {
                drop_first: None,
                outcome: translate(&def, source, tables, target, target_schema, ids),
                search_path: None,
                verbatim: false,
                name: def.name,
            }
        })
        .collect())
}

/// A view recreated in its own dialect: PostgreSQL's definition (read with
/// the source schema as search path, so its names are unqualified) under
/// the target schema; MySQL's with the source database's qualifier
/// dropped; SQLite's `CREATE VIEW` as written, if it is one (the text of a
/// tenant's file can be anything: see `engine::ddl`), else skipped.
fn own_sql(def: &ViewDef, target: Dialect, target_schema: Option<&str>) -> Result<String, String> {
    let definition = def.definition.as_ref().map_err(Clone::clone)?;
    let body = definition.trim().trim_end_matches(';');
    Ok(match target {
        Dialect::Postgres => format!(
            "CREATE OR REPLACE VIEW {} AS {body}",
            qualified(target, target_schema, &def.name)
        ),
        Dialect::MySql => format!(
            "CREATE OR REPLACE VIEW {} AS {}",
            ident(target, &def.name),
            unqualified(body, &def.schema)?
        ),
        Dialect::Sqlite => ddl::check_sqlite(definition, ddl::Expect::CreateView(&def.name))
            .map_err(|why| format!("skipped: its definition was {why}"))?,
    })
}

/// A MySQL view's body without the source database's qualifier
/// (`` `shop`.`orders` `` → `` `orders` ``), taken off where it is code
/// only, never out of a string literal or comment (see `sqltext`).
fn unqualified(body: &str, database: &str) -> Result<String, String> {
    let qualifier = format!("{}.", ident(Dialect::MySql, database));
    sqltext::rewrite_code(Dialect::MySql, body, |rest| {
        rest.starts_with(&qualifier)
            .then(|| (qualifier.len(), String::new()))
    })
    .ok_or_else(|| {
        "its definition has an unterminated literal, identifier or comment, or an executable comment, and is not rewritten".to_owned()
    })
}

const UNSUPPORTED: &str = "its definition uses something Freight does not translate (only SELECT lists of portable expressions, FROM/JOIN of copied tables and WHERE are)";

fn translate(
    def: &ViewDef,
    source: Dialect,
    tables: &[Table],
    target: Dialect,
    target_schema: Option<&str>,
    ids: Identifiers,
) -> Result<String, String> {
    if !expr::portable_pair(source, target) {
        return Err("views are translated between MySQL/MariaDB and PostgreSQL only".into());
    }
    let definition = def.definition.as_ref().map_err(Clone::clone)?;
    let body = definition.trim().trim_end_matches(';');
    let tokens = tokenize(source, body).ok_or(UNSUPPORTED)?;
    let is_word = |t: &Token, w: &str| matches!(t, Token::Word(x) if x.eq_ignore_ascii_case(w));
    if !tokens.first().is_some_and(|t| is_word(t, "select")) {
        return Err(UNSUPPORTED.into());
    }
    // FROM and WHERE at the top level (not inside parentheses).
    let mut depth = 0i32;
    let mut from = None;
    let mut where_at = None;
    for (i, t) in tokens.iter().enumerate() {
        match t {
            Token::Symbol(s) if s == "(" => depth += 1,
            Token::Symbol(s) if s == ")" => depth -= 1,
            t if depth == 0 && from.is_none() && is_word(t, "from") => from = Some(i),
            t if depth == 0 && from.is_some() && is_word(t, "where") => where_at = Some(i),
            _ => {}
        }
    }
    let from = from.ok_or(UNSUPPORTED)?;
    let from_end = where_at.unwrap_or(tokens.len());

    // Pass 1: which tables, under which names; pass 2: the SQL.
    let mut walk = FromWalk {
        tokens: &tokens[from + 1..from_end],
        pos: 0,
        source,
        qualifier: def.schema.to_ascii_lowercase(),
        tables,
        target,
        target_schema,
        ids,
        found: Vec::new(),
    };
    walk.list(None)?;
    let found = std::mem::take(&mut walk.found);
    let scope: Vec<ScopeTable> = found
        .iter()
        .map(|(table, alias)| ScopeTable {
            refer: match alias {
                Some(alias) => vec![alias.to_ascii_lowercase()],
                None => vec![
                    table.name.to_ascii_lowercase(),
                    format!("{}.{}", walk.qualifier, table.name.to_ascii_lowercase()),
                ],
            },
            emit_as: Some(alias.clone().unwrap_or_else(|| ids.apply(&table.name))),
            columns: &table.columns,
            rename: ids,
        })
        .collect();
    walk.pos = 0;
    let from_sql = walk.list(Some(&scope))?;

    // The SELECT list.
    let mut parser = Parser::new(tokens[1..from].to_vec(), source, &scope);
    let distinct = parser.eat_word("distinct");
    let mut items = Vec::new();
    loop {
        let item = parser.or_expr().ok_or(UNSUPPORTED)?;
        let alias = if parser.eat_word("as") {
            match parser.tokens.get(parser.pos) {
                Some(Token::Ident(a) | Token::Word(a)) => {
                    let a = a.clone();
                    parser.pos += 1;
                    Some(a)
                }
                _ => return Err(UNSUPPORTED.into()),
            }
        } else {
            None
        };
        let name = match (alias, &item) {
            (Some(alias), _) => ids.apply(&alias),
            (None, expr::Expr::Column(_, name, _)) => name.clone(),
            (None, _) => return Err("a column of its SELECT list has no name".into()),
        };
        items.push(format!(
            "{} AS {}",
            expr::emit(&item, target),
            ident(target, &name)
        ));
        if !parser.eat_symbol(",") {
            break;
        }
    }
    if parser.pos != parser.tokens.len() {
        return Err(UNSUPPORTED.into());
    }

    let mut sql = format!(
        "CREATE OR REPLACE VIEW {} AS SELECT {}{} FROM {from_sql}",
        qualified(target, target_schema, &ids.apply(&def.name)),
        if distinct { "DISTINCT " } else { "" },
        items.join(", ")
    );
    if let Some(at) = where_at {
        let mut parser = Parser::new(tokens[at + 1..].to_vec(), source, &scope);
        let condition = parser.or_expr().ok_or(UNSUPPORTED)?;
        if parser.pos != parser.tokens.len() || condition.ty() != Ty::Bool {
            return Err(UNSUPPORTED.into());
        }
        sql.push_str(&format!(" WHERE {}", expr::emit(&condition, target)));
    }
    Ok(sql)
}

/// Walks a FROM clause: `item (, item)*`, `item := primary (JOIN primary
/// [ON condition])*`, `primary := ( list ) | table [[AS] alias]`. Without a
/// scope it only collects the tables (ON conditions skipped); with one it
/// spells the clause for the target.
struct FromWalk<'a> {
    tokens: &'a [Token],
    pos: usize,
    source: Dialect,
    /// The source database (MySQL) or schema (PostgreSQL), lower case.
    qualifier: String,
    tables: &'a [Table],
    target: Dialect,
    target_schema: Option<&'a str>,
    ids: Identifiers,
    found: Vec<(&'a Table, Option<String>)>,
}

impl<'a> FromWalk<'a> {
    fn word(&self, w: &str) -> bool {
        matches!(self.tokens.get(self.pos), Some(Token::Word(x)) if x.eq_ignore_ascii_case(w))
    }

    fn symbol(&self, s: &str) -> bool {
        matches!(self.tokens.get(self.pos), Some(Token::Symbol(x)) if x == s)
    }

    fn list(&mut self, scope: Option<&[ScopeTable]>) -> Result<String, String> {
        let mut out = self.joined(scope)?;
        while self.symbol(",") {
            self.pos += 1;
            out.push_str(", ");
            out.push_str(&self.joined(scope)?);
        }
        if self.pos < self.tokens.len() && !self.symbol(")") {
            return Err(UNSUPPORTED.into());
        }
        Ok(out)
    }

    fn joined(&mut self, scope: Option<&[ScopeTable]>) -> Result<String, String> {
        let mut out = self.primary(scope)?;
        loop {
            let kind = if self.word("join") {
                "JOIN"
            } else if self.word("inner") {
                self.pos += 1;
                "JOIN"
            } else if self.word("cross") {
                self.pos += 1;
                "CROSS JOIN"
            } else if self.word("left") {
                self.pos += 1;
                if self.word("outer") {
                    self.pos += 1;
                }
                "LEFT JOIN"
            } else {
                return Ok(out);
            };
            if !self.word("join") {
                return Err(UNSUPPORTED.into());
            }
            self.pos += 1;
            let right = self.primary(scope)?;
            out = format!("{out} {kind} {right}");
            if self.word("on") {
                self.pos += 1;
                out.push_str(&format!(" ON {}", self.condition(scope)?));
            }
        }
    }

    fn condition(&mut self, scope: Option<&[ScopeTable]>) -> Result<String, String> {
        let Some(scope) = scope else {
            // Pass 1: skip to the end of the condition.
            let mut depth = 0i32;
            while let Some(t) = self.tokens.get(self.pos) {
                match t {
                    Token::Symbol(s) if s == "(" => depth += 1,
                    Token::Symbol(s) if s == ")" && depth == 0 => break,
                    Token::Symbol(s) if s == ")" => depth -= 1,
                    Token::Symbol(s) if s == "," && depth == 0 => break,
                    Token::Word(w)
                        if depth == 0
                            && ["join", "inner", "left", "cross"]
                                .iter()
                                .any(|k| w.eq_ignore_ascii_case(k)) =>
                    {
                        break;
                    }
                    _ => {}
                }
                self.pos += 1;
            }
            return Ok(String::new());
        };
        let mut parser = Parser::new(self.tokens[self.pos..].to_vec(), self.source, scope);
        let condition = parser.or_expr().ok_or(UNSUPPORTED)?;
        if condition.ty() != Ty::Bool {
            return Err(UNSUPPORTED.into());
        }
        self.pos += parser.pos;
        Ok(expr::emit(&condition, self.target))
    }

    fn primary(&mut self, scope: Option<&[ScopeTable]>) -> Result<String, String> {
        if self.symbol("(") {
            self.pos += 1;
            let inner = self.list(scope)?;
            if !self.symbol(")") {
                return Err(UNSUPPORTED.into());
            }
            self.pos += 1;
            return Ok(format!("({inner})"));
        }
        let mut parts = Vec::new();
        loop {
            match self.tokens.get(self.pos) {
                Some(Token::Ident(n) | Token::Word(n)) => parts.push(n.clone()),
                _ => return Err(UNSUPPORTED.into()),
            }
            self.pos += 1;
            if !self.symbol(".") {
                break;
            }
            self.pos += 1;
        }
        let name = parts.pop().ok_or(UNSUPPORTED)?;
        if parts.len() > 1
            || parts
                .first()
                .is_some_and(|q| q.to_ascii_lowercase() != self.qualifier)
        {
            return Err(format!(
                "it reads {}.{name}, outside the source database",
                parts.join(".")
            ));
        }
        let table = self
            .tables
            .iter()
            .find(|t| t.name == name)
            .or_else(|| {
                self.tables
                    .iter()
                    .find(|t| t.name.eq_ignore_ascii_case(&name))
            })
            .ok_or_else(|| format!("it reads {name}, which is not a table the job copies"))?;
        if self.word("as") {
            self.pos += 1;
        }
        let keywords = [
            "join", "inner", "left", "cross", "on", "where", "outer", "natural", "right", "full",
        ];
        let alias = match self.tokens.get(self.pos) {
            Some(Token::Ident(a)) => Some(a.clone()),
            Some(Token::Word(a)) if !keywords.iter().any(|k| a.eq_ignore_ascii_case(k)) => {
                Some(a.clone())
            }
            _ => None,
        };
        if alias.is_some() {
            self.pos += 1;
        }
        if scope.is_none() {
            self.found.push((table, alias.clone()));
            return Ok(String::new());
        }
        let target_name = self.ids.apply(&table.name);
        let shown = alias.unwrap_or_else(|| target_name.clone());
        Ok(format!(
            "{} AS {}",
            qualified(self.target, self.target_schema, &target_name),
            ident(self.target, &shown)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::model::{Column, Logical};

    fn table(name: &str, columns: &[(&str, Logical)]) -> Table {
        Table {
            dialect: Dialect::Postgres,
            name: name.to_owned(),
            columns: columns
                .iter()
                .map(|(n, l)| Column::plain(*n, "", l.clone()))
                .collect(),
            key: Vec::new(),
            primary_key: Vec::new(),
            indexes: Vec::new(),
            foreign_keys: Vec::new(),
            checks: Vec::new(),
            exclusions: Vec::new(),
            comment: None,
            inherited_by: Vec::new(),
            warnings: Vec::new(),
        }
    }

    #[test]
    fn mysql_views_lose_their_qualifier_in_code_only() {
        let body = "select `shop`.`t`.`a` AS `a`,'`shop`.x' AS `b` from `shop`.`t`";
        assert_eq!(
            unqualified(body, "shop").as_deref(),
            Ok("select `t`.`a` AS `a`,'`shop`.x' AS `b` from `t`")
        );
        // A database whose name holds a quote: the qualifier is matched as
        // the identifier it is, never inside a literal.
        let body = "select \"x`it's`.y\" AS `a`,`it's`.`t`.`a` AS `b` from `it's`.`t`";
        assert_eq!(
            unqualified(body, "it's").as_deref(),
            Ok("select \"x`it's`.y\" AS `a`,`t`.`a` AS `b` from `t`")
        );
        assert!(unqualified("select 'open", "shop").is_err());
        assert!(unqualified("select /*!50001 1 */", "shop").is_err());
    }

    #[test]
    fn translates_postgres_view_definitions() {
        let text = Logical::Text {
            max_len: None,
            fixed: false,
        };
        let tables = [table(
            "customers",
            &[
                ("id", Logical::Int(4)),
                ("name", text.clone()),
                ("city", text),
            ],
        )];
        let def = ViewDef {
            name: "labels".into(),
            definition: Ok(
                " SELECT customers.id,\n    ((customers.name || ' ('::text) || customers.city) || ')'::text AS label\n   FROM src.customers\n  WHERE customers.city IS NOT NULL AND customers.id <> 3;".into(),
            ),
            schema: "src".into(),
        };
        let sql = translate(
            &def,
            Dialect::Postgres,
            &tables,
            Dialect::MySql,
            None,
            Identifiers::Keep,
        );
        assert_eq!(
            sql.as_deref(),
            Ok(
                "CREATE OR REPLACE VIEW `labels` AS SELECT `customers`.`id` AS `id`, concat(concat(concat(`customers`.`name`, ' ('), `customers`.`city`), ')') AS `label` FROM `customers` AS `customers` WHERE ((`customers`.`city` IS NOT NULL) AND (`customers`.`id` <> 3))"
            )
        );
    }
}
