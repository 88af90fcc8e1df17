//! Expressions of generated columns (and views) between MySQL/MariaDB and
//! PostgreSQL: parsed from the tokens of `checks.rs` into a small tree,
//! typed by the table's columns, and spelled for the other dialect only when
//! every part computes the same value there. Anything else is refused
//! (`None`), and the caller falls back (a plain column, a skipped view)
//! with a warning.
//!
//! What translates: column references, string and number literals, NULL,
//! `+ - * %` on exact numbers (and doubles), unary minus, parentheses,
//! concatenation (MySQL `CONCAT(a, b)` ↔ PostgreSQL `a || b`: both are NULL
//! when any part is; PostgreSQL's `concat()` skips NULLs, so it is refused,
//! and is not IMMUTABLE, so no generated column could use it) of text and
//! of exact numbers, which print alike everywhere and are cast to text
//! explicitly (`CAST(id AS text)`: PostgreSQL's `text || integer` is not
//! IMMUTABLE either; doubles print differently and are refused),
//! `lower`, `upper`, `abs`, `coalesce` (MySQL `ifnull`),
//! `char_length`, and the byte/character lengths (MySQL `length` counts
//! bytes: PostgreSQL `octet_length`; PostgreSQL `length` counts characters:
//! MySQL `char_length`). Refused: `/` (integer division on PostgreSQL,
//! decimal on MySQL), `round` (MySQL rounds doubles the C library's way),
//! casts other than PostgreSQL's `::text` on text, every other function.
//!
//! SQLite sources' generated columns translate the same way into MySQL and
//! PostgreSQL, with SQLite's meanings: `||` concatenates, `length` of text
//! counts characters, `ifnull` is `coalesce`; refused are `%` (SQLite casts
//! both sides to integers), `lower`/`upper` (ASCII letters only) and
//! decimal columns (SQLite computes them as doubles).
//!
//! To SQLite only generated columns translate, and only expressions of
//! columns, text, integer literals, concatenation (`||`, NULL when any part
//! is, as MySQL's `CONCAT`), integer arithmetic, `abs`, `coalesce` and
//! character lengths: what `checks.rs` (token by token) cannot spell.

use freight_core::job::Identifiers;

use super::checks::{Token, tokenize};
use super::model::{Column, Dialect, Logical};
use super::sql::{ident, literal};

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Ty {
    Text,
    Number,
    /// A number whose text differs between databases (doubles, MySQL
    /// `zerofill`, decimals without a scale or wider than MySQL's): it
    /// computes like a number but is never concatenated.
    Inexact,
    Bool,
    Null,
    Other,
}

#[derive(Debug, Clone)]
pub(super) enum Expr {
    /// A column: the name to qualify it with on the target (a view's table
    /// alias), its target name, its kind.
    Column(Option<String>, String, Ty),
    Bool(bool),
    Compare(Box<Expr>, &'static str, Box<Expr>),
    IsNull(Box<Expr>, bool),
    Logic(Vec<Expr>, &'static str),
    Not(Box<Expr>),
    Str(String),
    Num(String),
    Null,
    Neg(Box<Expr>),
    Binary(Box<Expr>, &'static str, Box<Expr>),
    Concat(Vec<Expr>),
    Call(Func, Vec<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Func {
    Lower,
    Upper,
    Abs,
    Coalesce,
    CharLength,
    OctetLength,
    /// An exact number as text (`CAST(x AS text)`).
    ToText,
}

/// Whether values of this kind are numbers.
pub(super) fn is_number(ty: Ty) -> bool {
    matches!(ty, Ty::Number | Ty::Inexact)
}

impl Expr {
    pub(super) fn ty(&self) -> Ty {
        match self {
            Self::Column(_, _, ty) => *ty,
            Self::Bool(_)
            | Self::Compare(..)
            | Self::IsNull(..)
            | Self::Logic(..)
            | Self::Not(_) => Ty::Bool,
            Self::Str(_) | Self::Concat(_) => Ty::Text,
            // MySQL reads `1e3` as a double, PostgreSQL as a numeric.
            Self::Num(n) if n.contains(['e', 'E']) => Ty::Inexact,
            Self::Num(_) => Ty::Number,
            Self::Neg(inner) => inner.ty(),
            Self::Binary(l, _, r) if l.ty() == Ty::Inexact || r.ty() == Ty::Inexact => Ty::Inexact,
            Self::Binary(..) => Ty::Number,
            Self::Null => Ty::Null,
            Self::Call(Func::Lower | Func::Upper | Func::ToText, _) => Ty::Text,
            Self::Call(Func::Abs, args) => args.first().map_or(Ty::Number, Expr::ty),
            Self::Call(Func::Coalesce, args) if args.iter().any(|a| a.ty() == Ty::Inexact) => {
                Ty::Inexact
            }
            Self::Call(Func::Coalesce, args) => args
                .iter()
                .map(Expr::ty)
                .find(|t| *t != Ty::Null)
                .unwrap_or(Ty::Null),
            Self::Call(..) => Ty::Number,
        }
    }
}

/// The expression spelled for `target`, column names as `columns` spell
/// them (matched without case); `None` when it does not translate.
pub fn translate(
    source: Dialect,
    target: Dialect,
    expression: &str,
    columns: &[Column],
) -> Option<String> {
    translate_typed(source, target, expression, columns).map(|(sql, _)| sql)
}

/// A generated column's expression for `target`, only when its value has
/// the column's kind (PostgreSQL refuses e.g. text computed into a numeric
/// column) and it reads no other generated column (PostgreSQL forbids it).
pub fn translate_generated(
    source: Dialect,
    target: Dialect,
    expression: &str,
    column: &Column,
    columns: &[Column],
) -> Option<String> {
    let plain: Vec<Column> = columns
        .iter()
        .filter(|c| c.generated.is_none())
        .cloned()
        .collect();
    let (sql, ty) = translate_typed(source, target, expression, &plain)?;
    let fits = match column.logical {
        Logical::Text { .. } | Logical::Enum(_) => ty == Ty::Text,
        Logical::Int(_) | Logical::UInt64 | Logical::Decimal { .. } | Logical::Float64 => {
            is_number(ty)
        }
        Logical::Bool => ty == Ty::Bool,
        _ => false,
    };
    fits.then_some(sql)
}

fn translate_typed(
    source: Dialect,
    target: Dialect,
    expression: &str,
    columns: &[Column],
) -> Option<(String, Ty)> {
    // SQLite sources too (generated columns; views from SQLite are not
    // recreated, see `views.rs`), and SQLite targets of what `sqlite_safe`
    // allows.
    let from_sqlite = source == Dialect::Sqlite && target != Dialect::Sqlite;
    let to_sqlite = source != Dialect::Sqlite && target == Dialect::Sqlite;
    if !portable_pair(source, target) && !from_sqlite && !to_sqlite {
        return None;
    }
    let scope = [ScopeTable {
        refer: Vec::new(),
        emit_as: None,
        columns,
        rename: Identifiers::Keep,
    }];
    let tokens = tokenize(source, expression)?;
    let mut parser = Parser::new(tokens, source, &scope);
    let tree = parser.or_expr()?;
    if to_sqlite && !sqlite_safe(&tree) {
        return None;
    }
    (parser.pos == parser.tokens.len()).then(|| (emit(&tree, target), tree.ty()))
}

/// Whether SQLite computes the expression as MySQL and PostgreSQL do:
/// integers (SQLite prints `1.50` as `1.5`; its decimals are text, see
/// `typemap::generated_sql`), text, concatenation, and the functions that
/// mean the same there (its `lower`/`upper` change ASCII letters only).
fn sqlite_safe(expr: &Expr) -> bool {
    match expr {
        Expr::Column(_, _, ty) => matches!(ty, Ty::Text | Ty::Number),
        Expr::Str(_) | Expr::Null => true,
        Expr::Num(n) => n.bytes().all(|b| b.is_ascii_digit()),
        Expr::Neg(inner) => sqlite_safe(inner),
        Expr::Binary(l, _, r) => sqlite_safe(l) && sqlite_safe(r),
        Expr::Concat(parts) => parts.iter().all(sqlite_safe),
        Expr::Call(Func::ToText | Func::Abs | Func::Coalesce | Func::CharLength, args) => {
            args.iter().all(sqlite_safe)
        }
        Expr::Call(Func::Lower | Func::Upper | Func::OctetLength, _)
        | Expr::Bool(_)
        | Expr::Compare(..)
        | Expr::IsNull(..)
        | Expr::Logic(..)
        | Expr::Not(_) => false,
    }
}

/// Only MySQL/MariaDB and PostgreSQL are translated between.
pub(super) fn portable_pair(source: Dialect, target: Dialect) -> bool {
    matches!(source, Dialect::MySql | Dialect::Postgres)
        && matches!(target, Dialect::MySql | Dialect::Postgres)
}

/// A table an expression may name columns of.
pub(super) struct ScopeTable<'a> {
    /// Lower-case qualifiers that name it (`t`, `db.t`, an alias).
    pub refer: Vec<String>,
    /// What its columns are qualified with on the target.
    pub emit_as: Option<String>,
    pub columns: &'a [Column],
    /// How its column names are spelled on the target.
    pub rename: Identifiers,
}

pub(super) struct Parser<'a> {
    pub tokens: Vec<Token>,
    pub pos: usize,
    source: Dialect,
    scope: &'a [ScopeTable<'a>],
}

impl<'a> Parser<'a> {
    pub fn new(tokens: Vec<Token>, source: Dialect, scope: &'a [ScopeTable<'a>]) -> Self {
        Self {
            tokens,
            pos: 0,
            source,
            scope,
        }
    }

    /// The next token is the keyword `word` (any case).
    pub fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.pos), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    pub fn eat_word(&mut self, word: &str) -> bool {
        let found = self.peek_word(word);
        if found {
            self.pos += 1;
        }
        found
    }

    pub fn or_expr(&mut self) -> Option<Expr> {
        self.logic("or")
    }

    /// `a OR b` / `a AND b`, of conditions only.
    fn logic(&mut self, word: &'static str) -> Option<Expr> {
        let first = if word == "or" {
            self.logic("and")?
        } else {
            self.not_expr()?
        };
        if !self.peek_word(word) {
            return Some(first);
        }
        let mut parts = vec![first];
        while self.eat_word(word) {
            parts.push(if word == "or" {
                self.logic("and")?
            } else {
                self.not_expr()?
            });
        }
        let all_bool = parts.iter().all(|p| p.ty() == Ty::Bool);
        all_bool.then(|| Expr::Logic(parts, if word == "or" { "OR" } else { "AND" }))
    }

    fn not_expr(&mut self) -> Option<Expr> {
        if self.eat_word("not") {
            let inner = self.not_expr()?;
            return (inner.ty() == Ty::Bool).then(|| Expr::Not(Box::new(inner)));
        }
        self.comparison()
    }

    /// `a = b` (numbers; text only from PostgreSQL, whose equality does not
    /// depend on a case-insensitive collation, and only `=`/`<>`), `IS
    /// [NOT] NULL`.
    fn comparison(&mut self) -> Option<Expr> {
        let left = self.concat()?;
        if self.eat_word("is") {
            let negated = self.eat_word("not");
            if !self.eat_word("null") {
                return None;
            }
            return Some(Expr::IsNull(Box::new(left), negated));
        }
        let Some(op) = ["=", "<>", "!=", "<", ">", "<=", ">="]
            .into_iter()
            .find(|op| self.peek_symbol(op))
        else {
            return Some(left);
        };
        self.pos += 1;
        let right = self.concat()?;
        let op = if op == "!=" { "<>" } else { op };
        let fits = match (left.ty(), right.ty()) {
            (a, b) if is_number(a) && is_number(b) => true,
            (Ty::Text, Ty::Text) => self.source == Dialect::Postgres && matches!(op, "=" | "<>"),
            _ => false,
        };
        fits.then(|| Expr::Compare(Box::new(left), op, Box::new(right)))
    }

    pub fn peek_symbol(&self, symbol: &str) -> bool {
        matches!(self.tokens.get(self.pos), Some(Token::Symbol(s)) if s == symbol)
    }

    pub fn eat_symbol(&mut self, symbol: &str) -> bool {
        let found = self.peek_symbol(symbol);
        if found {
            self.pos += 1;
        }
        found
    }

    /// PostgreSQL: `||` binds looser than `+ -` (an "other operator").
    fn concat(&mut self) -> Option<Expr> {
        let first = self.additive()?;
        if !self.peek_symbol("||") {
            return Some(first);
        }
        let mut parts = vec![first];
        while self.eat_symbol("||") {
            parts.push(self.additive()?);
        }
        concat_of(parts)
    }

    fn additive(&mut self) -> Option<Expr> {
        let mut left = self.term()?;
        loop {
            let op = if self.eat_symbol("+") {
                "+"
            } else if self.eat_symbol("-") {
                "-"
            } else {
                return Some(left);
            };
            let right = self.term()?;
            left = arithmetic(left, op, right)?;
        }
    }

    fn term(&mut self) -> Option<Expr> {
        let mut left = self.unary()?;
        loop {
            let op = if self.eat_symbol("*") {
                "*"
            } else if self.source != Dialect::Sqlite && self.eat_symbol("%") {
                // SQLite's `%` casts both sides to integers (5.5 % 2 is 1).
                "%"
            } else {
                return Some(left);
            };
            let right = self.unary()?;
            left = arithmetic(left, op, right)?;
        }
    }

    fn unary(&mut self) -> Option<Expr> {
        if self.eat_symbol("-") {
            let inner = self.unary()?;
            return is_number(inner.ty()).then(|| Expr::Neg(Box::new(inner)));
        }
        self.postfix()
    }

    /// A primary with PostgreSQL casts after it: only `::text` (and
    /// `::character varying`) of text and of exact numbers, and numeric
    /// casts of number literals, which change nothing.
    fn postfix(&mut self) -> Option<Expr> {
        let mut expr = self.primary()?;
        while self.eat_symbol("::") {
            let mut words = Vec::new();
            // Type words only: `'x'::text AS label` ends at `AS`.
            const TYPE_WORDS: &[&str] = &[
                "text",
                "character",
                "varying",
                "varchar",
                "numeric",
                "integer",
                "bigint",
                "smallint",
            ];
            while let Some(Token::Word(w)) = self.tokens.get(self.pos) {
                let w = w.to_ascii_lowercase();
                if !TYPE_WORDS.contains(&w.as_str()) {
                    break;
                }
                words.push(w);
                self.pos += 1;
            }
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            let text_cast = matches!(
                words.as_slice(),
                ["text"] | ["character", "varying"] | ["varchar"]
            );
            // `(2)::numeric`: how PostgreSQL shows a literal it typed.
            let number_cast = matches!(
                words.as_slice(),
                ["numeric"] | ["integer"] | ["bigint"] | ["smallint"]
            );
            if text_cast && expr.ty() == Ty::Number {
                expr = Expr::Call(Func::ToText, vec![expr]);
                continue;
            }
            let fits = (text_cast && expr.ty() == Ty::Text)
                || (number_cast && matches!(expr, Expr::Num(_)));
            if !fits {
                return None;
            }
        }
        Some(expr)
    }

    fn primary(&mut self) -> Option<Expr> {
        let token = self.tokens.get(self.pos)?.clone();
        self.pos += 1;
        match token {
            Token::Number(n) => Some(Expr::Num(n)),
            Token::Str(s) => Some(Expr::Str(s)),
            Token::Symbol(s) if s == "(" => {
                let inner = self.or_expr()?;
                self.eat_symbol(")").then_some(inner)
            }
            Token::Ident(name) => self.column(name),
            // A character set introducer (MySQL 8's `_utf8mb4'x'`): the
            // target's own character set applies.
            Token::Word(word)
                if word.starts_with('_')
                    && matches!(self.tokens.get(self.pos), Some(Token::Str(_))) =>
            {
                self.primary()
            }
            Token::Word(word) => {
                let lower = word.to_ascii_lowercase();
                if self.peek_symbol("(") {
                    self.pos += 1;
                    let mut args = Vec::new();
                    if !self.eat_symbol(")") {
                        loop {
                            args.push(self.concat()?);
                            if self.eat_symbol(")") {
                                break;
                            }
                            if !self.eat_symbol(",") {
                                return None;
                            }
                        }
                    }
                    return self.call(&lower, args);
                }
                match lower.as_str() {
                    "null" => Some(Expr::Null),
                    "true" | "false" => Some(Expr::Bool(lower == "true")),
                    "and" | "or" | "not" | "is" | "select" | "from" | "where" | "as" | "on"
                    | "join" => None,
                    _ => self.column(word),
                }
            }
            Token::Symbol(_) => None,
        }
    }

    /// A column name, possibly qualified (`t.c`, `db.t.c`), resolved in
    /// the scope: a qualified one in the table it names, a bare one in the
    /// only table that has it.
    fn column(&mut self, first: String) -> Option<Expr> {
        let mut parts = vec![first];
        while self.peek_symbol(".") {
            self.pos += 1;
            match self.tokens.get(self.pos)?.clone() {
                Token::Ident(n) | Token::Word(n) => parts.push(n),
                _ => return None,
            }
            self.pos += 1;
        }
        let name = parts.pop()?;
        let qualifier = parts.join(".").to_ascii_lowercase();
        let mut found = None;
        for table in self.scope {
            if !parts.is_empty() && !table.refer.contains(&qualifier) {
                continue;
            }
            let column = table.columns.iter().find(|c| c.name == name).or_else(|| {
                table
                    .columns
                    .iter()
                    .find(|c| c.name.eq_ignore_ascii_case(&name))
            });
            if let Some(column) = column {
                if found.is_some() {
                    return None;
                }
                found = Some((table, column));
            }
        }
        let (table, column) = found?;
        let ty = match column.logical {
            // SQLite computes decimals as doubles (or as text: DECIMAL_TEXT).
            Logical::Decimal { .. } if self.source == Dialect::Sqlite => Ty::Other,
            Logical::Text { .. } | Logical::Enum(_) => Ty::Text,
            // MySQL pads a `zerofill` integer with zeros when it prints it.
            Logical::Int(_) | Logical::UInt64 if column.source_type.contains("zerofill") => {
                Ty::Inexact
            }
            // A decimal without a scale, or wider than MySQL's (65,30),
            // prints with another number of digits on another database.
            Logical::Decimal {
                precision: Some(p),
                scale,
            } if p <= 65 && scale.unwrap_or(0) <= 30 => Ty::Number,
            Logical::Decimal { .. } => Ty::Inexact,
            Logical::Int(_) | Logical::UInt64 => Ty::Number,
            // `float` is single precision on both sides, but MySQL computes
            // with doubles: only exact numbers and doubles compute the same
            // (doubles print differently).
            Logical::Float64 => Ty::Inexact,
            _ => Ty::Other,
        };
        Some(Expr::Column(
            table.emit_as.clone(),
            table.rename.apply(&column.name),
            ty,
        ))
    }

    fn call(&self, name: &str, args: Vec<Expr>) -> Option<Expr> {
        let one_of = |ty: Ty| {
            args.len() == 1 && (args[0].ty() == ty || (ty == Ty::Number && is_number(args[0].ty())))
        };
        let func = match (self.source, name) {
            // SQLite's change ASCII letters only (`upper('é')` is `é`).
            (Dialect::Sqlite, "lower" | "upper") => return None,
            // MariaDB stores `lower`/`upper` as `lcase`/`ucase`.
            (_, "lower" | "upper") | (Dialect::MySql, "lcase" | "ucase") if one_of(Ty::Text) => {
                if matches!(name, "lower" | "lcase") {
                    Func::Lower
                } else {
                    Func::Upper
                }
            }
            (_, "abs") if one_of(Ty::Number) => Func::Abs,
            (_, "char_length" | "character_length") if one_of(Ty::Text) => Func::CharLength,
            (Dialect::Postgres | Dialect::Sqlite, "length") if one_of(Ty::Text) => Func::CharLength,
            (Dialect::MySql, "length") if one_of(Ty::Text) => Func::OctetLength,
            (_, "octet_length") if one_of(Ty::Text) => Func::OctetLength,
            (Dialect::MySql | Dialect::Sqlite, "ifnull") | (_, "coalesce") if args.len() >= 2 => {
                // Numbers of either kind are one kind here.
                let kinds: Vec<Ty> = args
                    .iter()
                    .map(Expr::ty)
                    .filter(|t| *t != Ty::Null)
                    .map(|t| if t == Ty::Inexact { Ty::Number } else { t })
                    .collect();
                let same = kinds.windows(2).all(|w| w[0] == w[1]);
                if !same || kinds.first().is_none_or(|t| *t == Ty::Other) {
                    return None;
                }
                Func::Coalesce
            }
            (Dialect::MySql, "concat") if !args.is_empty() => return concat_of(args),
            _ => return None,
        };
        Some(Expr::Call(func, args))
    }
}

/// Concatenation of text and of exact numbers, those cast to text (every
/// database prints an integer or a decimal of a given scale alike; doubles
/// and the other `Inexact` numbers print differently and are refused).
fn concat_of(parts: Vec<Expr>) -> Option<Expr> {
    parts
        .into_iter()
        .map(|p| match p.ty() {
            Ty::Text => Some(p),
            Ty::Number => Some(Expr::Call(Func::ToText, vec![p])),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()
        .map(Expr::Concat)
}

fn arithmetic(left: Expr, op: &'static str, right: Expr) -> Option<Expr> {
    (is_number(left.ty()) && is_number(right.ty()))
        .then(|| Expr::Binary(Box::new(left), op, Box::new(right)))
}

pub(super) fn emit(expr: &Expr, target: Dialect) -> String {
    let list = |args: &[Expr]| {
        args.iter()
            .map(|a| emit(a, target))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match expr {
        Expr::Column(Some(qualifier), name, _) => {
            format!("{}.{}", ident(target, qualifier), ident(target, name))
        }
        Expr::Column(None, name, _) => ident(target, name),
        Expr::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_owned(),
        Expr::Compare(l, op, r) => format!("({} {op} {})", emit(l, target), emit(r, target)),
        Expr::IsNull(inner, negated) => format!(
            "({} IS {}NULL)",
            emit(inner, target),
            if *negated { "NOT " } else { "" }
        ),
        Expr::Logic(parts, op) => {
            let parts: Vec<String> = parts.iter().map(|p| emit(p, target)).collect();
            format!("({})", parts.join(&format!(" {op} ")))
        }
        Expr::Not(inner) => format!("(NOT {})", emit(inner, target)),
        Expr::Str(s) => literal(target, s),
        Expr::Num(n) => n.clone(),
        Expr::Null => "NULL".to_owned(),
        Expr::Neg(inner) => format!("(-{})", emit(inner, target)),
        Expr::Binary(l, op, r) => format!("({} {op} {})", emit(l, target), emit(r, target)),
        Expr::Concat(parts) if target != Dialect::MySql => {
            let parts: Vec<String> = parts.iter().map(|p| emit(p, target)).collect();
            format!("({})", parts.join(" || "))
        }
        Expr::Concat(parts) => format!("concat({})", list(parts)),
        Expr::Call(func, args) => {
            let name = match (func, target) {
                (Func::Lower, _) => "lower",
                (Func::Upper, _) => "upper",
                (Func::Abs, _) => "abs",
                (Func::Coalesce, _) => "coalesce",
                (Func::CharLength, Dialect::Sqlite) => "length",
                (Func::CharLength, _) => "char_length",
                (Func::OctetLength, Dialect::MySql) => "length",
                (Func::OctetLength, _) => "octet_length",
                (Func::ToText, _) => {
                    let ty = match target {
                        Dialect::Postgres => "text",
                        Dialect::MySql => "CHAR",
                        Dialect::Sqlite => "TEXT",
                    };
                    return format!("CAST({} AS {ty})", list(args));
                }
            };
            format!("{name}({})", list(args))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, logical: Logical) -> Column {
        Column::plain(name, "", logical)
    }

    fn columns() -> Vec<Column> {
        let text = Logical::Text {
            max_len: Some(20),
            fixed: false,
        };
        vec![
            col(
                "price",
                Logical::Decimal {
                    precision: Some(10),
                    scale: Some(2),
                },
            ),
            col("qty", Logical::Int(4)),
            col("first", text.clone()),
            col("last", text),
            col("score", Logical::Float32),
        ]
    }

    #[test]
    fn sqlite_generated_expressions_translate_with_sqlites_meaning() {
        let c = columns();
        let from_lite = |target, e| translate(Dialect::Sqlite, target, e, &c);
        assert_eq!(
            from_lite(Dialect::Postgres, "qty * 2 + abs(qty)").as_deref(),
            Some("((\"qty\" * 2) + abs(\"qty\"))")
        );
        assert_eq!(
            from_lite(Dialect::MySql, "first || ' ' || ifnull(last, '')").as_deref(),
            Some("concat(`first`, ' ', coalesce(`last`, ''))")
        );
        assert_eq!(
            from_lite(Dialect::MySql, "length(first)").as_deref(),
            Some("char_length(`first`)")
        );
        for refused in ["qty % 2", "upper(first)", "price * qty", "qty / 2"] {
            assert_eq!(from_lite(Dialect::Postgres, refused), None, "{refused}");
        }
        assert_eq!(from_lite(Dialect::Sqlite, "qty * 2"), None);
    }

    #[test]
    fn translates_what_computes_the_same_and_refuses_the_rest() {
        let c = columns();
        let my_to_pg = |e| translate(Dialect::MySql, Dialect::Postgres, e, &c);
        let pg_to_my = |e| translate(Dialect::Postgres, Dialect::MySql, e, &c);
        assert_eq!(
            my_to_pg("`price` * `qty` + 1").as_deref(),
            Some("((\"price\" * \"qty\") + 1)")
        );
        assert_eq!(
            my_to_pg("concat(`first`,' ',ucase_not_here)"),
            None,
            "unknown names are refused"
        );
        assert_eq!(
            my_to_pg("concat(lower(`first`),' ',`last`)").as_deref(),
            Some("(lower(\"first\") || ' ' || \"last\")")
        );
        assert_eq!(
            my_to_pg("ucase(`first`)").as_deref(),
            Some("upper(\"first\")")
        );
        assert_eq!(
            my_to_pg("length(`first`)").as_deref(),
            Some("octet_length(\"first\")")
        );
        assert_eq!(
            pg_to_my("((first || ' '::text) || last)").as_deref(),
            Some("concat(concat(`first`, ' '), `last`)")
        );
        assert_eq!(
            pg_to_my("(price * (qty)::numeric)"),
            None,
            "casts other than to text"
        );
        assert_eq!(
            pg_to_my("(price * (2)::numeric)").as_deref(),
            Some("(`price` * 2)")
        );
        assert_eq!(
            pg_to_my("length(first)").as_deref(),
            Some("char_length(`first`)")
        );
        assert_eq!(
            translate(
                Dialect::MySql,
                Dialect::Postgres,
                "coalesce(`ratio`, 0) * 2",
                &[col("ratio", Logical::Float64)]
            )
            .as_deref(),
            Some("(coalesce(\"ratio\", 0) * 2)"),
            "doubles compute alike"
        );
        assert_eq!(
            pg_to_my("COALESCE(first, 'x'::text)").as_deref(),
            Some("coalesce(`first`, 'x')")
        );
        for refused in [
            "`price` / `qty`",
            "round(`price`, 1)",
            "concat(`first`, `score`)",
            "concat(`first`, `qty` * 1e0)",
            "`score` * 2",
            "`first` + 1",
            "md5(`first`)",
        ] {
            assert_eq!(my_to_pg(refused), None, "{refused}");
        }
        assert_eq!(
            pg_to_my("concat(first, last)"),
            None,
            "PG concat skips NULLs"
        );
        // Exact numbers are concatenated as the text they print as
        // everywhere, cast explicitly (PostgreSQL's `text || integer` is
        // not IMMUTABLE).
        assert_eq!(
            my_to_pg("concat(_utf8mb4'order ',`qty`,'/',`price`)").as_deref(),
            Some("('order ' || CAST(\"qty\" AS text) || '/' || CAST(\"price\" AS text))")
        );
        assert_eq!(
            pg_to_my("(('order '::text || (qty)::text) || first)").as_deref(),
            Some("concat(concat('order ', CAST(`qty` AS CHAR)), `first`)")
        );
        let my_to_lite = |e| {
            let target = col(
                "tag",
                Logical::Text {
                    max_len: None,
                    fixed: false,
                },
            );
            translate_generated(Dialect::MySql, Dialect::Sqlite, e, &target, &c)
        };
        assert_eq!(
            my_to_lite("concat('order ',`qty` + 1,' ',coalesce(`first`, ''))").as_deref(),
            Some("('order ' || CAST((\"qty\" + 1) AS TEXT) || ' ' || coalesce(\"first\", ''))")
        );
        for refused in ["concat(`first`, 1.50)", "concat(lower(`first`), `qty`)"] {
            assert_eq!(my_to_lite(refused), None, "{refused}");
        }
        let mut derived = col("derived", Logical::Int(8));
        derived.generated = Some("`qty` * 2".into());
        let mut cols = c.clone();
        cols.push(derived.clone());
        let gen_to_pg = |e, column: &Column| {
            translate_generated(Dialect::MySql, Dialect::Postgres, e, column, &cols)
        };
        assert_eq!(
            gen_to_pg("`qty` * 2", &derived).as_deref(),
            Some("(\"qty\" * 2)")
        );
        assert_eq!(
            gen_to_pg("`derived` + 1", &derived),
            None,
            "reads a generated column"
        );
        assert_eq!(
            gen_to_pg("lower(`first`)", &derived),
            None,
            "text into a number"
        );
    }
}
