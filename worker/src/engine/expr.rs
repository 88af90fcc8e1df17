//! Expressions of generated columns (and views) between MySQL/MariaDB and
//! PostgreSQL: parsed from the tokens of `checks.rs` into a small tree,
//! typed by the table's columns, and spelled for the other dialect only when
//! every part computes the same value there. Anything else is refused
//! (`None`), and the caller falls back (a plain column, a skipped view)
//! with a warning.
//!
//! What translates: column references, string and number literals, NULL,
//! `+ - * %` on exact numbers (and doubles), unary minus, parentheses,
//! concatenation of text (MySQL `CONCAT(a, b)` ↔ PostgreSQL `a || b`: both
//! are NULL when any part is; PostgreSQL's `concat()` skips NULLs, so it is
//! refused), `lower`, `upper`, `abs`, `coalesce` (MySQL `ifnull`),
//! `char_length`, and the byte/character lengths (MySQL `length` counts
//! bytes: PostgreSQL `octet_length`; PostgreSQL `length` counts characters:
//! MySQL `char_length`). Refused: `/` (integer division on PostgreSQL,
//! decimal on MySQL), `round` (MySQL rounds doubles the C library's way),
//! casts other than PostgreSQL's `::text` on text, every other function.

use super::checks::{Token, tokenize};
use super::model::{Column, Dialect, Logical};
use super::sql::{ident, literal};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Ty {
    Text,
    Number,
    Null,
    Other,
}

#[derive(Debug, Clone)]
enum Expr {
    Column(String, Ty),
    Str(String),
    Num(String),
    Null,
    Neg(Box<Expr>),
    Binary(Box<Expr>, &'static str, Box<Expr>),
    Concat(Vec<Expr>),
    Call(Func, Vec<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Func {
    Lower,
    Upper,
    Abs,
    Coalesce,
    CharLength,
    OctetLength,
}

impl Expr {
    fn ty(&self) -> Ty {
        match self {
            Self::Column(_, ty) => *ty,
            Self::Str(_) | Self::Concat(_) => Ty::Text,
            Self::Num(_) | Self::Neg(_) | Self::Binary(..) => Ty::Number,
            Self::Null => Ty::Null,
            Self::Call(Func::Lower | Func::Upper, _) => Ty::Text,
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
    if !matches!(source, Dialect::MySql | Dialect::Postgres)
        || !matches!(target, Dialect::MySql | Dialect::Postgres)
    {
        return None;
    }
    let tree = parse(source, expression, columns)?;
    Some(emit(&tree, target))
}

fn parse(source: Dialect, expression: &str, columns: &[Column]) -> Option<Expr> {
    let tokens = tokenize(source, expression)?;
    let mut parser = Parser {
        tokens,
        pos: 0,
        source,
        columns,
    };
    let tree = parser.concat()?;
    (parser.pos == parser.tokens.len()).then_some(tree)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    source: Dialect,
    columns: &'a [Column],
}

impl Parser<'_> {
    fn peek_symbol(&self, symbol: &str) -> bool {
        matches!(self.tokens.get(self.pos), Some(Token::Symbol(s)) if s == symbol)
    }

    fn eat_symbol(&mut self, symbol: &str) -> bool {
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
            } else if self.eat_symbol("%") {
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
            return (inner.ty() == Ty::Number).then(|| Expr::Neg(Box::new(inner)));
        }
        self.postfix()
    }

    /// A primary with PostgreSQL casts after it: only `::text` (and
    /// `::character varying`) of text and numeric casts of number literals,
    /// which change nothing.
    fn postfix(&mut self) -> Option<Expr> {
        let expr = self.primary()?;
        while self.eat_symbol("::") {
            let mut words = Vec::new();
            while let Some(Token::Word(w)) = self.tokens.get(self.pos) {
                words.push(w.to_ascii_lowercase());
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
                let inner = self.concat()?;
                self.eat_symbol(")").then_some(inner)
            }
            Token::Ident(name) => self.column(&name),
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
                if lower == "null" {
                    return Some(Expr::Null);
                }
                self.column(&word)
            }
            Token::Symbol(_) => None,
        }
    }

    fn column(&self, name: &str) -> Option<Expr> {
        let column = self.columns.iter().find(|c| c.name == name).or_else(|| {
            self.columns
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(name))
        })?;
        let ty = match column.logical {
            Logical::Text { .. } | Logical::Enum(_) => Ty::Text,
            // `float` is single precision on both sides, but MySQL computes
            // with doubles: only exact numbers and doubles compute the same.
            Logical::Int(_) | Logical::UInt64 | Logical::Decimal { .. } | Logical::Float64 => {
                Ty::Number
            }
            _ => Ty::Other,
        };
        Some(Expr::Column(column.name.clone(), ty))
    }

    fn call(&self, name: &str, args: Vec<Expr>) -> Option<Expr> {
        let one_of = |ty: Ty| args.len() == 1 && args[0].ty() == ty;
        let func = match (self.source, name) {
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
            (Dialect::Postgres, "length") if one_of(Ty::Text) => Func::CharLength,
            (Dialect::MySql, "length") if one_of(Ty::Text) => Func::OctetLength,
            (_, "octet_length") if one_of(Ty::Text) => Func::OctetLength,
            (Dialect::MySql, "ifnull") | (_, "coalesce") if args.len() >= 2 => {
                let kinds: Vec<Ty> = args
                    .iter()
                    .map(Expr::ty)
                    .filter(|t| *t != Ty::Null)
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

/// Concatenation of text parts only: numbers print differently.
fn concat_of(parts: Vec<Expr>) -> Option<Expr> {
    let text = parts.iter().all(|p| p.ty() == Ty::Text);
    text.then_some(Expr::Concat(parts))
}

fn arithmetic(left: Expr, op: &'static str, right: Expr) -> Option<Expr> {
    (left.ty() == Ty::Number && right.ty() == Ty::Number)
        .then(|| Expr::Binary(Box::new(left), op, Box::new(right)))
}

fn emit(expr: &Expr, target: Dialect) -> String {
    let list = |args: &[Expr]| {
        args.iter()
            .map(|a| emit(a, target))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match expr {
        Expr::Column(name, _) => ident(target, name),
        Expr::Str(s) => literal(target, s),
        Expr::Num(n) => n.clone(),
        Expr::Null => "NULL".to_owned(),
        Expr::Neg(inner) => format!("(-{})", emit(inner, target)),
        Expr::Binary(l, op, r) => format!("({} {op} {})", emit(l, target), emit(r, target)),
        Expr::Concat(parts) if target == Dialect::Postgres => {
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
                (Func::CharLength, _) => "char_length",
                (Func::OctetLength, Dialect::MySql) => "length",
                (Func::OctetLength, _) => "octet_length",
            };
            format!("{name}({})", list(args))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, logical: Logical) -> Column {
        Column {
            name: name.to_owned(),
            source_type: String::new(),
            logical,
            nullable: true,
            default: None,
            select_expr: None,
            auto_increment: false,
            unsigned: false,
            comment: None,
            generated: None,
        }
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
            pg_to_my("COALESCE(first, 'x'::text)").as_deref(),
            Some("coalesce(`first`, 'x')")
        );
        for refused in [
            "`price` / `qty`",
            "round(`price`, 1)",
            "concat(`first`, `qty`)",
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
    }
}
