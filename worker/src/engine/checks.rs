//! CHECK constraints between dialects: a small tokenizer that re-spells an
//! expression for another database when every token of it means the same
//! there (column names, literals, comparisons, AND/OR/NOT, IS NULL, IN,
//! BETWEEN, LIKE, a few functions), and refuses otherwise. A refused check
//! is a plan warning, never a failed job.

use super::model::{Column, Dialect, Logical};
use super::sql::{ident, literal};

/// Words that mean the same in PostgreSQL, MySQL/MariaDB and SQLite.
const KEYWORDS: &[&str] = &[
    "and", "or", "not", "is", "null", "in", "between", "like", "true", "false",
];

/// Functions with the same name, arguments and meaning everywhere
/// (`length` is not: bytes on MySQL, characters elsewhere).
const FUNCTIONS: &[&str] = &[
    "char_length",
    "character_length",
    "lower",
    "upper",
    "abs",
    "coalesce",
    "trim",
];

/// Words of the PostgreSQL type names that follow `::` in
/// `pg_get_constraintdef` output (`(0)::numeric`, `'a'::character varying`).
const PG_CAST_WORDS: &[&str] = &[
    "numeric",
    "text",
    "integer",
    "bigint",
    "smallint",
    "character",
    "varying",
    "bpchar",
    "double",
    "precision",
    "real",
    "boolean",
    "date",
    "timestamp",
    "without",
    "with",
    "time",
    "zone",
    "varchar",
];

#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    Ident(String),
    Word(String),
    Str(String),
    Number(String),
    Symbol(String),
}

/// The expression spelled for `target`; `None` when it cannot be translated
/// faithfully. Same dialect: unchanged, if it stays inside the parentheses
/// Freight puts it in (see `sqltext::self_contained`; SQLite's DDL has its
/// own guard, `ddl::check_sqlite`).
pub fn translate(
    source: Dialect,
    target: Dialect,
    expression: &str,
    columns: &[Column],
) -> Option<String> {
    if source == target && decimal_text_columns(source, target, expression, columns).is_empty() {
        let contained =
            source == Dialect::Sqlite || super::sqltext::self_contained(source, expression);
        return contained.then(|| expression.to_owned());
    }
    respell_into(source, target, expression, columns)
}

/// Whether a column of the source is a decimal that a SQLite target stores
/// as exact text (`DECIMAL_TEXT`, TEXT affinity, see `typemap`): a
/// `decimal`/`numeric` (from SQLite, one declared otherwise than
/// `DECIMAL_TEXT`, which had NUMERIC affinity there) or a `bigint unsigned`.
pub fn is_decimal_text_on_sqlite(source: Dialect, col: &Column) -> bool {
    match col.logical {
        Logical::Decimal { .. } => {
            source != Dialect::Sqlite
                || !col
                    .source_type
                    .get(..12)
                    .is_some_and(|t| t.eq_ignore_ascii_case("DECIMAL_TEXT"))
        }
        Logical::UInt64 => true,
        _ => false,
    }
}

/// The columns an expression reads that a SQLite `target` stores as
/// decimal text; empty for other targets (or when it reads none, or does
/// not tokenize).
pub fn decimal_text_columns(
    source: Dialect,
    target: Dialect,
    expression: &str,
    columns: &[Column],
) -> Vec<String> {
    if target != Dialect::Sqlite {
        return Vec::new();
    }
    let Some(tokens) = tokenize(source, expression) else {
        return Vec::new();
    };
    let mut found: Vec<String> = Vec::new();
    for token in &tokens {
        let col = match token {
            Token::Ident(name) => columns
                .iter()
                .find(|c| c.name == *name)
                .or_else(|| columns.iter().find(|c| c.name.eq_ignore_ascii_case(name))),
            Token::Word(word) => columns.iter().find(|c| c.name.eq_ignore_ascii_case(word)),
            _ => None,
        };
        if let Some(col) = col
            && is_decimal_text_on_sqlite(source, col)
            && !found.contains(&col.name)
        {
            found.push(col.name.clone());
        }
    }
    found
}

/// Why an expression reading decimal-text columns cannot be kept on a
/// SQLite target (`None` when it can, or reads none): for the plan's
/// warning.
pub fn sqlite_decimal_refusal(
    source: Dialect,
    expression: &str,
    columns: &[Column],
) -> Option<String> {
    let names = decimal_text_columns(source, Dialect::Sqlite, expression, columns);
    let decimal: Vec<&Column> = names
        .iter()
        .filter_map(|name| columns.iter().find(|c| c.name == *name))
        .collect();
    let tokens = tokenize(source, expression)?;
    let why = sqlite_numeric_comparison(&tokens, &decimal).err()?;
    Some(format!(
        "it reads {}, which SQLite stores as exact text, and cannot compare as numbers there: {why}",
        names.join(", ")
    ))
}

/// How exactly SQLite compares a decimal read through `CAST(x AS NUMERIC)`
/// (an INTEGER when the text is one that fits 64 bits, else a REAL).
#[derive(Debug, Clone, Copy, PartialEq)]
enum NumericCast {
    /// Every value is an exact INTEGER, or has at most 15 significant
    /// digits, so its REAL keeps every order against other such numbers.
    Exact,
    /// An integer of up to 20 digits: above 2^63-1 it becomes a REAL, which
    /// still orders right against numbers of at most 15 digits, but not
    /// against another such column.
    Wide,
}

fn numeric_cast(col: &Column) -> Option<NumericCast> {
    match col.logical {
        Logical::Decimal {
            precision: Some(p),
            scale,
        } => {
            let scale = scale.unwrap_or(0);
            if p <= 15 || (scale == 0 && p <= 18) {
                Some(NumericCast::Exact)
            } else if scale == 0 {
                Some(NumericCast::Wide)
            } else {
                None
            }
        }
        Logical::UInt64 => Some(NumericCast::Wide),
        _ => None,
    }
}

/// Whether SQLite compares a number literal (or a string literal holding
/// one) exactly with [`NumericCast`] values: an integer of at most 18
/// digits, or at most 15 significant digits. Text that is no number
/// compares with text columns and is left alone.
fn literal_is_exact(text: &str) -> bool {
    let t = text.trim().trim_start_matches(['-', '+']);
    if t.is_empty() {
        return true;
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return t.trim_start_matches('0').len() <= 18;
    }
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(at) => (&t[..at], Some(&t[at + 1..])),
        None => (t, None),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let numeric = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && mantissa.matches('.').count() <= 1
        && exponent.is_none_or(|e| {
            let e = e.trim_start_matches(['-', '+']);
            !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
        });
    if !numeric {
        return true;
    }
    digits.trim_start_matches('0').trim_end_matches('0').len() <= 15
}

/// For a SQLite target: whether an expression reading decimal-text columns
/// can compare them as numbers (each read as `CAST(col AS NUMERIC)`, whose
/// NUMERIC affinity also applies to the literals it is compared with) and
/// get the source's answer: comparisons, `IN`, `BETWEEN`, `IS NULL` and
/// AND/OR/NOT only; no arithmetic (REAL arithmetic is not decimal), no
/// functions or `LIKE` (they would read the number's text), no literal of
/// more digits than a REAL holds, and no decimal of more (see
/// [`NumericCast`]). `Err` says why not.
fn sqlite_numeric_comparison(tokens: &[Token], decimal: &[&Column]) -> Result<(), String> {
    let mut wide = 0;
    for col in decimal {
        match numeric_cast(col) {
            Some(NumericCast::Exact) => {}
            Some(NumericCast::Wide) => wide += 1,
            None => {
                return Err(format!(
                    "decimal column {} ({}) has more digits than SQLite compares exactly",
                    col.name, col.source_type
                ));
            }
        }
    }
    if wide > 1 {
        return Err(
            "it compares integers of more than 18 digits, which SQLite compares as floats".into(),
        );
    }
    const NOT_VALUES: &[&str] = &["and", "or", "not", "is", "in", "between", "like"];
    let mut after_value = false;
    for (i, token) in tokens.iter().enumerate() {
        let mut value = false;
        match token {
            Token::Word(w) if w.eq_ignore_ascii_case("like") => {
                return Err("it matches a decimal's text with LIKE".into());
            }
            Token::Word(w)
                if !NOT_VALUES.contains(&w.to_ascii_lowercase().as_str())
                    && matches!(tokens.get(i + 1), Some(Token::Symbol(s)) if s == "(") =>
            {
                return Err(format!("it calls {w}()"));
            }
            Token::Word(w) => value = !NOT_VALUES.contains(&w.to_ascii_lowercase().as_str()),
            Token::Ident(_) => value = true,
            Token::Number(n) | Token::Str(n) => {
                if !literal_is_exact(n) {
                    return Err(format!(
                        "its literal {n} has more digits than SQLite compares exactly"
                    ));
                }
                value = true;
            }
            Token::Symbol(s) if matches!(s.as_str(), "+" | "*" | "/" | "%" | "||") => {
                return Err(
                    "it computes with decimals, which SQLite would do in floating point".into(),
                );
            }
            Token::Symbol(s) if s == "-" && after_value => {
                return Err(
                    "it computes with decimals, which SQLite would do in floating point".into(),
                );
            }
            Token::Symbol(s) if s == ")" => value = true,
            Token::Symbol(_) => {}
        }
        after_value = value;
    }
    Ok(())
}

/// The expression re-spelled token by token in its own dialect, column
/// names as `columns` spell them (matched without case): for targets whose
/// names were folded (`identifiers: lower`).
pub fn respell(dialect: Dialect, expression: &str, columns: &[Column]) -> Option<String> {
    respell_into(dialect, dialect, expression, columns)
}

fn respell_into(
    source: Dialect,
    target: Dialect,
    expression: &str,
    columns: &[Column],
) -> Option<String> {
    let tokens = tokenize(source, expression)?;
    // SQLite stores decimals as text: compared with numbers they compare
    // as text (`'99.99' < 1000` is false), so they are read as numbers
    // where that gives the source's answer, else the expression is refused.
    let decimal_text: Vec<&Column> = decimal_text_columns(source, target, expression, columns)
        .iter()
        .filter_map(|name| columns.iter().find(|c| c.name == *name))
        .collect();
    if !decimal_text.is_empty() && sqlite_numeric_comparison(&tokens, &decimal_text).is_err() {
        return None;
    }
    let as_number = |column: &Column, quoted: String| {
        if decimal_text.iter().any(|c| c.name == column.name) {
            format!("CAST({quoted} AS NUMERIC)")
        } else {
            quoted
        }
    };
    let mut out = String::with_capacity(expression.len() + 8);
    let mut after_function = false;
    let mut iter = tokens.into_iter().peekable();
    while let Some(token) = iter.next() {
        let mut function = false;
        let piece = match token {
            Token::Ident(name) => {
                let column = columns
                    .iter()
                    .find(|c| c.name == name)
                    .or_else(|| columns.iter().find(|c| c.name.eq_ignore_ascii_case(&name)))?;
                as_number(column, ident(target, &column.name))
            }
            Token::Word(word) => {
                let lower = word.to_ascii_lowercase();
                let is_call = matches!(iter.peek(), Some(Token::Symbol(s)) if s == "(");
                if KEYWORDS.contains(&lower.as_str()) {
                    lower.to_ascii_uppercase()
                } else if is_call && FUNCTIONS.contains(&lower.as_str()) {
                    function = true;
                    function_on(source, target, &lower)?
                } else if is_call && source == Dialect::Sqlite && lower == "length" {
                    // SQLite's `length` of text counts characters.
                    function = true;
                    function_on(source, target, "char_length")?
                } else if word.starts_with('_') && matches!(iter.peek(), Some(Token::Str(_))) {
                    // A character set introducer (`_utf8mb4'x'`): the target's own applies.
                    continue;
                } else {
                    // A bare column name.
                    let column = columns
                        .iter()
                        .find(|c| c.name.eq_ignore_ascii_case(&word))?;
                    as_number(column, ident(target, &column.name))
                }
            }
            Token::Str(s) => literal(target, &s),
            Token::Number(n) => n,
            Token::Symbol(s) if s == "::" => {
                // A PostgreSQL cast: dropped, the comparison types the value.
                let mut any = false;
                while let Some(Token::Word(w)) = iter.peek() {
                    if !PG_CAST_WORDS.contains(&w.to_ascii_lowercase().as_str()) {
                        return None;
                    }
                    iter.next();
                    any = true;
                }
                if !any {
                    return None;
                }
                continue;
            }
            // Concatenation: only generated columns translate it (engine/expr.rs).
            // Qualified names: only views translate them (engine/views.rs).
            Token::Symbol(s) if s == "||" || s == "." => return None,
            // MySQL divides integers into a decimal (`5 / 4` is 1.2500),
            // PostgreSQL and SQLite truncate (1).
            Token::Symbol(s)
                if s == "/"
                    && source != target
                    && (source == Dialect::MySql || target == Dialect::MySql) =>
            {
                return None;
            }
            Token::Symbol(s) => s,
        };
        let glued = out.is_empty()
            || out.ends_with('(')
            || piece == ")"
            || piece == ","
            || (piece == "(" && after_function);
        if !glued {
            out.push(' ');
        }
        out.push_str(&piece);
        after_function = function;
    }
    Some(out)
}

/// A function of [`FUNCTIONS`] as `target` spells it, when it computes the
/// same there. SQLite has no `char_length` (its `length` of text counts
/// characters), and its `lower`/`upper` change ASCII letters only
/// (`upper('é')` is `é`), so they do not translate to or from SQLite.
fn function_on(source: Dialect, target: Dialect, name: &str) -> Option<String> {
    let sqlite = (source == Dialect::Sqlite) != (target == Dialect::Sqlite);
    match name {
        "lower" | "upper" if sqlite => None,
        "char_length" | "character_length" if target == Dialect::Sqlite => {
            Some("length".to_owned())
        }
        _ => Some(name.to_owned()),
    }
}

pub fn tokenize(source: Dialect, text: &str) -> Option<Vec<Token>> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '\'' => {
                let (s, next) = quoted(&chars, i, '\'')?;
                // MySQL strings may hold backslash escapes: not portable.
                if source == Dialect::MySql && s.contains('\\') {
                    return None;
                }
                tokens.push(Token::Str(s));
                i = next;
            }
            '`' if source != Dialect::Postgres => {
                let (s, next) = quoted(&chars, i, '`')?;
                tokens.push(Token::Ident(s));
                i = next;
            }
            // MySQL: a string unless ANSI_QUOTES; ambiguous, so refused.
            '"' if source != Dialect::MySql => {
                let (s, next) = quoted(&chars, i, '"')?;
                tokens.push(Token::Ident(s));
                i = next;
            }
            '[' if source == Dialect::Sqlite => {
                let end = chars[i + 1..].iter().position(|&c| c == ']')? + i + 1;
                tokens.push(Token::Ident(chars[i + 1..end].iter().collect()));
                i = end + 1;
            }
            c if c.is_ascii_digit()
                || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
                let n: String = chars[start..i].iter().collect();
                if n.parse::<f64>().is_err() {
                    return None;
                }
                tokens.push(Token::Number(n));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                tokens.push(Token::Word(chars[start..i].iter().collect()));
            }
            _ => {
                let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                let symbol = match two.as_str() {
                    "<>" | "!=" | "<=" | ">=" => two,
                    // PostgreSQL's string concatenation (MySQL's `||` is OR).
                    "::" | "||" if source == Dialect::Postgres => two,
                    // SQLite's too.
                    "||" if source == Dialect::Sqlite => two,
                    _ => match c {
                        '=' | '<' | '>' | '+' | '-' | '*' | '/' | '%' | '(' | ')' | ',' | '.' => {
                            c.to_string()
                        }
                        _ => return None,
                    },
                };
                // `<=>`, `==`, `->` and friends have no portable spelling.
                let operator = matches!(
                    symbol.as_str(),
                    "<" | ">" | "=" | "<=" | ">=" | "<>" | "!=" | "-"
                );
                if operator && matches!(chars.get(i + symbol.len()), Some('>' | '=')) {
                    return None;
                }
                i += symbol.chars().count();
                tokens.push(Token::Symbol(symbol));
            }
        }
    }
    Some(tokens)
}

/// A quoted run starting at `start` (the quote), with doubled quotes inside;
/// returns its content and the index after the closing quote.
fn quoted(chars: &[char], start: usize, quote: char) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut i = start + 1;
    loop {
        let c = *chars.get(i)?;
        if c == quote {
            if chars.get(i + 1) == Some(&quote) {
                out.push(quote);
                i += 2;
                continue;
            }
            return Some((out, i + 1));
        }
        out.push(c);
        i += 1;
    }
}

/// The CHECK constraints of a SQLite `CREATE TABLE` statement, as
/// (name, expression); SQLite keeps no other record of them.
pub fn sqlite_checks(create_sql: &str) -> Vec<(Option<String>, String)> {
    let chars: Vec<char> = create_sql.chars().collect();
    let mut found = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if matches!(c, '\'' | '"' | '`') {
            match quoted(&chars, i, c) {
                Some((s, next)) => {
                    words.push(s);
                    i = next;
                }
                None => break,
            }
            continue;
        }
        if c == '[' {
            match chars[i + 1..].iter().position(|&c| c == ']') {
                Some(end) => {
                    words.push(chars[i + 1..i + 1 + end].iter().collect());
                    i += end + 2;
                }
                None => break,
            }
            continue;
        }
        if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if word.eq_ignore_ascii_case("check") {
                let mut j = i;
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                if chars.get(j) == Some(&'(')
                    && let Some(end) = closing_paren(&chars, j)
                {
                    let expression: String = chars[j + 1..end].iter().collect();
                    let name = match words.as_slice() {
                        [.., kw, name] if kw.eq_ignore_ascii_case("constraint") => {
                            Some(name.clone())
                        }
                        _ => None,
                    };
                    found.push((name, expression.trim().to_owned()));
                    i = end + 1;
                    words.clear();
                    continue;
                }
            }
            words.push(word);
            continue;
        }
        i += 1;
    }
    found
}

/// The generated columns of a SQLite `CREATE TABLE` statement, as
/// (column, expression): `name type [GENERATED ALWAYS] AS (expr)`.
pub fn sqlite_generated(create_sql: &str) -> Vec<(String, String)> {
    let chars: Vec<char> = create_sql.chars().collect();
    let Some(open) = chars.iter().position(|&c| c == '(') else {
        return Vec::new();
    };
    let Some(close) = closing_paren(&chars, open) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    // The column definitions and table constraints, split at top-level commas.
    let mut start = open + 1;
    let mut i = start;
    let mut parts = Vec::new();
    while i < close {
        match chars[i] {
            '(' => match closing_paren(&chars, i) {
                Some(end) => i = end,
                None => return found,
            },
            q @ ('\'' | '"' | '`') => match quoted(&chars, i, q) {
                Some((_, next)) => {
                    i = next;
                    continue;
                }
                None => return found,
            },
            ',' => {
                parts.push(&chars[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(&chars[start..close]);
    for part in parts {
        let mut words: Vec<String> = Vec::new();
        let mut i = 0;
        while i < part.len() {
            let c = part[i];
            if matches!(c, '\'' | '"' | '`') {
                let Some((s, next)) = quoted(part, i, c) else {
                    break;
                };
                words.push(s);
                i = next;
                continue;
            }
            if c == '[' {
                let Some(end) = part[i + 1..].iter().position(|&c| c == ']') else {
                    break;
                };
                words.push(part[i + 1..i + 1 + end].iter().collect());
                i += end + 2;
                continue;
            }
            if c == '(' {
                let Some(end) = closing_paren(part, i) else {
                    break;
                };
                if words.len() > 1 && words.last().is_some_and(|w| w.eq_ignore_ascii_case("as")) {
                    let expression: String = part[i + 1..end].iter().collect();
                    found.push((words[0].clone(), expression.trim().to_owned()));
                    break;
                }
                i = end + 1;
                continue;
            }
            if c.is_alphanumeric() || c == '_' {
                let start = i;
                while i < part.len() && (part[i].is_alphanumeric() || part[i] == '_') {
                    i += 1;
                }
                words.push(part[start..i].iter().collect());
                continue;
            }
            i += 1;
        }
    }
    found
}

/// A partial index's condition in a SQLite `CREATE INDEX` statement: what
/// follows `WHERE` after the column list.
pub fn sqlite_index_predicate(create_sql: &str) -> Option<String> {
    let chars: Vec<char> = create_sql.chars().collect();
    let open = chars.iter().position(|&c| c == '(')?;
    let close = closing_paren(&chars, open)?;
    let rest: String = chars[close + 1..].iter().collect();
    let trimmed = rest.trim_start();
    let body = trimmed
        .get(..5)
        .filter(|w| w.eq_ignore_ascii_case("where"))
        .map(|_| &trimmed[5..])?;
    let body = body.trim().trim_end_matches(';').trim();
    (!body.is_empty()).then(|| body.to_owned())
}

/// Index of the parenthesis closing the one at `open`, skipping strings.
fn closing_paren(chars: &[char], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = open;
    while i < chars.len() {
        match chars[i] {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            q @ ('\'' | '"' | '`') => {
                let (_, next) = quoted(chars, i, q)?;
                i = next;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_sqlite_generated_columns() {
        let sql = "CREATE TABLE t (id INTEGER PRIMARY KEY, price REAL, qty INTEGER CHECK (qty > 0),
            \"total\" REAL GENERATED ALWAYS AS (price * qty) STORED,
            label TEXT AS (upper('a,b' || id)) VIRTUAL, CONSTRAINT c CHECK (price > 0))";
        assert_eq!(
            sqlite_generated(sql),
            vec![
                ("total".to_owned(), "price * qty".to_owned()),
                ("label".to_owned(), "upper('a,b' || id)".to_owned())
            ]
        );
    }
    fn cols(names: &[&str]) -> Vec<Column> {
        names
            .iter()
            .map(|n| Column::plain(*n, "int", Logical::Int(4)))
            .collect()
    }

    #[test]
    fn translates_portable_expressions_and_refuses_the_rest() {
        let c = cols(&["qty", "code", "status"]);
        let t = |s, d, e| translate(s, d, e, &c);
        assert_eq!(
            t(
                Dialect::MySql,
                Dialect::Postgres,
                "`qty` > 0 and `qty` <= 100"
            )
            .as_deref(),
            Some("\"qty\" > 0 AND \"qty\" <= 100")
        );
        assert_eq!(
            t(Dialect::MySql, Dialect::Postgres, "char_length(`code`) = 3").as_deref(),
            Some("char_length(\"code\") = 3")
        );
        assert_eq!(
            t(Dialect::Postgres, Dialect::MySql, "((qty > (0)::numeric))").as_deref(),
            Some("((`qty` > (0)))")
        );
        assert_eq!(
            t(
                Dialect::Postgres,
                Dialect::MySql,
                "((status)::text <> 'it''s'::character varying)"
            )
            .as_deref(),
            Some("((`status`) <> 'it''s')")
        );
        assert_eq!(
            t(
                Dialect::Sqlite,
                Dialect::Postgres,
                "qty IN (1, 2) OR [code] IS NULL"
            )
            .as_deref(),
            Some("\"qty\" IN (1, 2) OR \"code\" IS NULL")
        );
        for refused in [
            "`qty` / 4 > 1",
            "`code` regexp '^[a-z]+$'",
            "`qty` <=> 1",
            "`qty` || 1",
            "`missing` > 1",
            "`code` <> 'a\\\\b'",
            "\"code\" = 'x'",
        ] {
            assert_eq!(
                t(Dialect::MySql, Dialect::Postgres, refused),
                None,
                "{refused}"
            );
        }
        assert_eq!(
            t(
                Dialect::Postgres,
                Dialect::MySql,
                "(status = ANY (ARRAY['a'::text]))"
            ),
            None
        );
    }

    #[test]
    fn lengths_and_case_functions_follow_sqlites_meaning() {
        let c = cols(&["code"]);
        let t = |s, d, e| translate(s, d, e, &c);
        assert_eq!(
            t(
                Dialect::Postgres,
                Dialect::Sqlite,
                "(char_length((code)::text) = 3)"
            )
            .as_deref(),
            Some("(length((\"code\")) = 3)")
        );
        assert_eq!(
            t(Dialect::Sqlite, Dialect::MySql, "length(code) < 10").as_deref(),
            Some("char_length(`code`) < 10")
        );
        for (source, target) in [
            (Dialect::Postgres, Dialect::Sqlite),
            (Dialect::Sqlite, Dialect::Postgres),
            (Dialect::Sqlite, Dialect::MySql),
        ] {
            assert_eq!(t(source, target, "upper(code) = code"), None);
        }
        assert_eq!(
            t(Dialect::MySql, Dialect::Postgres, "upper(`code`) = `code`").as_deref(),
            Some("upper(\"code\") = \"code\"")
        );
    }

    #[test]
    fn decimals_stored_as_text_on_sqlite_compare_as_numbers_or_are_refused() {
        let decimal = |name: &str, ty: &str, p: Option<u32>, s: u32| {
            Column::plain(
                name,
                ty,
                Logical::Decimal {
                    precision: p,
                    scale: Some(s),
                },
            )
        };
        let c = vec![
            decimal("p", "decimal(10,2)", Some(10), 2),
            decimal("balance", "numeric(12,2)", Some(12), 2),
            decimal("big", "decimal(20,2)", Some(20), 2),
            decimal("n", "numeric", None, 0),
            decimal("lp", "DECIMAL(10,2)", Some(10), 2),
            decimal("kept", "DECIMAL_TEXT(10,2)", Some(10), 2),
            Column::plain("u", "bigint unsigned", Logical::UInt64),
            Column::plain("v", "bigint unsigned", Logical::UInt64),
            Column::plain("qty", "int", Logical::Int(4)),
            Column::plain(
                "code",
                "text",
                Logical::Text {
                    max_len: None,
                    fixed: false,
                },
            ),
        ];
        let t = |s, e| translate(s, Dialect::Sqlite, e, &c);
        assert_eq!(
            t(Dialect::MySql, "`p` < 1000").as_deref(),
            Some("CAST(\"p\" AS NUMERIC) < 1000")
        );
        assert_eq!(
            t(Dialect::Postgres, "(balance > ('-1000'::integer)::numeric)").as_deref(),
            Some("(CAST(\"balance\" AS NUMERIC) > ('-1000'))")
        );
        assert_eq!(
            t(
                Dialect::MySql,
                "`p` between -5 and 10.5 and `qty` > 0 and `code` <> 'x' and `u` in (1, 2)"
            )
            .as_deref(),
            Some(
                "CAST(\"p\" AS NUMERIC) BETWEEN - 5 AND 10.5 AND \"qty\" > 0 AND \"code\" <> 'x' AND CAST(\"u\" AS NUMERIC) IN (1, 2)"
            )
        );
        // From SQLite: a declared DECIMAL had NUMERIC affinity there (its
        // check compared numbers); DECIMAL_TEXT was text already.
        assert_eq!(
            t(Dialect::Sqlite, "lp < 1000").as_deref(),
            Some("CAST(\"lp\" AS NUMERIC) < 1000")
        );
        assert_eq!(
            t(Dialect::Sqlite, "kept < 1000").as_deref(),
            Some("kept < 1000")
        );
        // Other targets are untouched.
        assert_eq!(
            translate(Dialect::MySql, Dialect::Postgres, "`p` < 1000", &c).as_deref(),
            Some("\"p\" < 1000")
        );
        for refused in [
            "`p` * `qty` < 1000",
            "`p` - 1 > 0",
            "`p` < 0.1234567890123456",
            "`p` < 12345678901234567890",
            "`big` > 0",
            "`n` > 0",
            "`p` like '1%'",
            "abs(`p`) < 5",
            "`u` < `v`",
        ] {
            assert_eq!(t(Dialect::MySql, refused), None, "{refused}");
        }
        assert!(
            sqlite_decimal_refusal(Dialect::MySql, "`p` * `qty` < 1000", &c)
                .is_some_and(|why| why.contains("reads p,") && why.contains("floating point")),
        );
        assert_eq!(sqlite_decimal_refusal(Dialect::MySql, "`p` < 5", &c), None);
    }

    #[test]
    fn finds_sqlite_checks_with_and_without_names() {
        let sql = "CREATE TABLE t (id INTEGER PRIMARY KEY, qty INT CHECK (qty > 0), \
                   note TEXT DEFAULT 'check (x)', CONSTRAINT \"ck code\" CHECK (length(note) < 10 AND (qty < 5)))";
        assert_eq!(
            sqlite_checks(sql),
            vec![
                (None, "qty > 0".to_owned()),
                (
                    Some("ck code".to_owned()),
                    "length(note) < 10 AND (qty < 5)".to_owned()
                ),
            ]
        );
    }
}
