//! Where a piece of a source's SQL text (a view's definition, a CHECK or
//! generated expression, as the source's catalogs print it) is code, and
//! where it is the inside of a string literal, quoted identifier,
//! dollar-quoted body or comment.
//!
//! Freight rewrites such text in a few places (a cast to a type the target
//! does not get, the source database's qualifier of a MySQL view). A plain
//! text replacement also rewrites what sits inside a string literal, and a
//! replacement holding a quote then ends the literal early: the rest of the
//! literal, which the source's author wrote, becomes SQL run on the target
//! (`'AAA::mydom\n; CREATE TABLE …; --'`). So every rewrite goes through
//! [`rewrite_code`], which offers only positions outside those regions, and
//! text that does not scan (an unterminated literal or comment, a MySQL
//! executable comment) is not rewritten at all: the caller leaves the
//! object out.
//!
//! PostgreSQL is scanned with `standard_conforming_strings` on, as Freight
//! sets it on every connection (see `connect`): a backslash escapes only in
//! `E'…'`. MySQL is scanned in its default modes: a backslash escapes in
//! `'…'` and `"…"`, and `"…"` is a string.

use super::model::Dialect;

/// What a region that is not code looks like at `rest`'s start, and its
/// length in bytes; `Err(())` when it starts one that never ends.
fn opaque_len(dialect: Dialect, rest: &str, after_word: bool) -> Result<Option<usize>, ()> {
    let bytes = rest.as_bytes();
    let first = bytes.first().copied();
    let second = bytes.get(1).copied();
    match (dialect, first, second) {
        (_, Some(b'-'), Some(b'-')) if dialect != Dialect::MySql || mysql_dash_comment(bytes) => {
            Ok(Some(rest.find('\n').map_or(rest.len(), |n| n + 1)))
        }
        (Dialect::MySql, Some(b'#'), _) => Ok(Some(rest.find('\n').map_or(rest.len(), |n| n + 1))),
        (_, Some(b'/'), Some(b'*')) => block_comment(dialect, rest).map(Some),
        (_, Some(b'\''), _) => quoted(rest, b'\'', dialect == Dialect::MySql, b'\'').map(Some),
        (Dialect::Postgres, Some(b'e' | b'E'), Some(b'\'')) if !after_word => {
            quoted(&rest[1..], b'\'', true, b'\'').map(|n| Some(n + 1))
        }
        (Dialect::Postgres, Some(b'"'), _) => quoted(rest, b'"', false, b'"').map(Some),
        (Dialect::MySql, Some(b'"'), _) => quoted(rest, b'"', true, b'"').map(Some),
        (Dialect::MySql, Some(b'`'), _) => quoted(rest, b'`', false, b'`').map(Some),
        (Dialect::Postgres, Some(b'$'), _) if !after_word => dollar_quoted(rest),
        _ => Ok(None),
    }
}

/// MySQL's `--` starts a comment only when whitespace or the end follows.
fn mysql_dash_comment(bytes: &[u8]) -> bool {
    bytes
        .get(2)
        .is_none_or(|b| b.is_ascii_whitespace() || b.is_ascii_control())
}

/// `/* … */`: nested on PostgreSQL; on MySQL not nested, and `/*!…*/`
/// (executable) and `/*+…*/` (optimizer hints) hold code, so they do not
/// scan.
fn block_comment(dialect: Dialect, rest: &str) -> Result<usize, ()> {
    let bytes = rest.as_bytes();
    if dialect == Dialect::MySql {
        if matches!(bytes.get(2), Some(b'!' | b'+')) {
            return Err(());
        }
        return rest[2..].find("*/").map(|end| end + 4).ok_or(());
    }
    let mut depth = 0usize;
    let mut i = 0;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Ok(i);
                }
            }
            _ => i += 1,
        }
    }
    Err(())
}

/// A region from `open` to the matching `close`; doubled `close` stands
/// for one, and with `backslash` a backslash escapes the next byte.
fn quoted(rest: &str, open: u8, backslash: bool, close: u8) -> Result<usize, ()> {
    let bytes = rest.as_bytes();
    debug_assert_eq!(bytes.first(), Some(&open));
    let mut i = 1;
    while let Some(&b) = bytes.get(i) {
        let escaped = backslash && b == b'\\';
        let doubled = b == close && bytes.get(i + 1) == Some(&close);
        if escaped || doubled {
            i += 2;
        } else if b == close {
            return Ok(i + 1);
        } else {
            i += 1;
        }
    }
    Err(())
}

/// `$tag$ … $tag$` (the tag may be empty); `None` when the `$` opens no
/// dollar quote (`$1`, a parameter).
fn dollar_quoted(rest: &str) -> Result<Option<usize>, ()> {
    let tag_len = rest[1..]
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len() - 1);
    let tag_ok = rest[1..]
        .chars()
        .next()
        .is_some_and(|c| !c.is_ascii_digit());
    if !tag_ok || rest.as_bytes().get(1 + tag_len) != Some(&b'$') {
        return Ok(None);
    }
    let delimiter = &rest[..tag_len + 2];
    let body = &rest[delimiter.len()..];
    body.find(delimiter)
        .map(|end| Some(delimiter.len() + end + delimiter.len()))
        .ok_or(())
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// `sql` with what `at` makes of its code positions: at each position
/// outside literals, quoted identifiers, dollar quotes and comments, `at`
/// sees the text from there and may answer how many bytes to replace and
/// with what (its match may run into a quoted identifier: `::"x'--"`).
/// Everything else is copied as it is. `None` when the text does not scan.
pub fn rewrite_code(
    dialect: Dialect,
    sql: &str,
    mut at: impl FnMut(&str) -> Option<(usize, String)>,
) -> Option<String> {
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    let mut after_word = false;
    while i < sql.len() {
        let rest = &sql[i..];
        if let Some((consumed, replacement)) = at(rest)
            && consumed > 0
            && rest.is_char_boundary(consumed)
        {
            out.push_str(&replacement);
            i += consumed;
            after_word = replacement.chars().next_back().is_some_and(is_word_char);
            continue;
        }
        if let Some(len) = opaque_len(dialect, rest, after_word).ok()? {
            out.push_str(&rest[..len]);
            i += len;
            after_word = false;
            continue;
        }
        let c = rest.chars().next()?;
        out.push(c);
        i += c.len_utf8();
        after_word = is_word_char(c);
    }
    Some(out)
}

/// Whether `expression` (a CHECK, generated expression or index condition
/// Freight puts inside parentheses of its own DDL) stays inside them: it
/// scans, never closes a parenthesis it did not open, closes all it opens
/// and holds no `;` outside literals.
pub fn self_contained(dialect: Dialect, expression: &str) -> bool {
    let mut depth = 0i64;
    let mut ok = true;
    let scanned = rewrite_code(dialect, expression, |rest| {
        match rest.as_bytes().first() {
            Some(b'(') => depth += 1,
            Some(b')') => {
                depth -= 1;
                ok &= depth >= 0;
            }
            Some(b';') => ok = false,
            _ => {}
        }
        None
    });
    scanned.is_some() && ok && depth == 0
}

/// A MySQL generation expression as `information_schema` shows it, as SQL.
/// MySQL 8 shows it escaped like the inside of a string literal (every
/// quote as `\'`, every backslash as `\\`); MariaDB shows it as written.
/// Escaped text is recognised by every quote in it being escaped (an odd
/// run of backslashes before it), and unescaped once. `None` when the
/// result would not stay inside the parentheses of `GENERATED ALWAYS AS
/// (…)` (see [`self_contained`]).
pub fn mysql_generation_expression(shown: &str) -> Option<String> {
    let bytes = shown.as_bytes();
    let escaped = bytes.contains(&b'\'')
        && bytes.iter().enumerate().all(|(i, &b)| {
            b != b'\'' || bytes[..i].iter().rev().take_while(|&&c| c == b'\\').count() % 2 == 1
        });
    let sql = if escaped {
        let mut out = String::with_capacity(shown.len());
        let mut chars = shown.chars();
        while let Some(c) = chars.next() {
            match (c, chars.clone().next()) {
                ('\\', Some(next @ ('\\' | '\''))) => {
                    out.push(next);
                    chars.next();
                }
                _ => out.push(c),
            }
        }
        out
    } else {
        shown.to_owned()
    };
    self_contained(Dialect::MySql, &sql).then_some(sql)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code position's letter upper-cased: what is code shows in
    /// capitals (the `e` of an escape string left alone).
    fn shout(dialect: Dialect, sql: &str) -> Option<String> {
        rewrite_code(dialect, sql, |rest| {
            if rest.starts_with("e'") {
                return None;
            }
            let c = rest.chars().next()?;
            c.is_ascii_lowercase()
                .then(|| (1, c.to_ascii_uppercase().to_string()))
        })
    }

    #[test]
    fn postgres_literals_identifiers_and_comments_are_not_code() {
        let cases = [
            ("a 'b''c' d", "A 'b''c' D"),
            ("a e'b\\'c' d", "A e'b\\'c' D"),
            ("a E'b\\\\' d", "A E'b\\\\' D"),
            // Standard strings: a backslash is a character.
            ("a 'b\\' d", "A 'b\\' D"),
            ("a \"b\"\"c\" d", "A \"b\"\"c\" D"),
            ("a $$b'c$$ d", "A $$b'c$$ D"),
            ("a $t$b$$c$t$ d", "A $t$b$$c$t$ D"),
            ("a $1 b", "A $1 B"),
            ("a -- b\nc", "A -- b\nC"),
            ("a /* b /* c */ d */ e", "A /* b /* c */ d */ E"),
            // `e` ending a word does not open an escape string.
            ("le'b\\' d", "Le'b\\' D"),
            ("x$y$ z", "X$Y$ Z"),
        ];
        for (sql, expected) in cases {
            assert_eq!(
                shout(Dialect::Postgres, sql).as_deref(),
                Some(expected),
                "{sql}"
            );
        }
        for unterminated in ["a 'b", "a \"b", "a $$b", "a /* b /* c */", "a e'b\\'"] {
            assert_eq!(
                shout(Dialect::Postgres, unterminated),
                None,
                "{unterminated}"
            );
        }
    }

    #[test]
    fn mysql_literals_identifiers_and_comments_are_not_code() {
        let cases = [
            ("a 'b\\'c' d", "A 'b\\'c' D"),
            ("a \"b\\\"c\" d", "A \"b\\\"c\" D"),
            ("a `b``c` d", "A `b``c` D"),
            ("a # b\nc", "A # b\nC"),
            ("a -- b\nc", "A -- b\nC"),
            // `--` without a space is two minus signs.
            ("a --b", "A --B"),
        ];
        for (sql, expected) in cases {
            assert_eq!(
                shout(Dialect::MySql, sql).as_deref(),
                Some(expected),
                "{sql}"
            );
        }
        for refused in ["a 'b\\'", "a /*!50001 b */", "a /*+ b */", "a /* b"] {
            assert_eq!(shout(Dialect::MySql, refused), None, "{refused}");
        }
    }

    #[test]
    fn mysql_generation_expressions_are_unescaped_once() {
        // MariaDB: as written.
        assert_eq!(
            mysql_generation_expression("concat(`a`,'it\\'s \\\\ x')").as_deref(),
            Some("concat(`a`,'it\\'s \\\\ x')")
        );
        // MySQL 8: escaped like a literal's inside.
        assert_eq!(
            mysql_generation_expression("concat(`a`,_utf8mb4\\'it\\\\\\'s\\')").as_deref(),
            Some("concat(`a`,_utf8mb4'it\\'s')")
        );
        assert_eq!(
            mysql_generation_expression("(`a` + 1)").as_deref(),
            Some("(`a` + 1)")
        );
        // MariaDB's text that a plain replacement of `\'` turned into an
        // expression ending the column definition stays as written.
        let tricky = "concat(`a`,'p\\'', ' ) VIRTUAL); DROP TABLE t; -- ')";
        assert_eq!(mysql_generation_expression(tricky).as_deref(), Some(tricky));
        assert_eq!(
            mysql_generation_expression("1) STORED; DROP TABLE t; --"),
            None
        );
    }

    #[test]
    fn self_contained_expressions() {
        assert!(self_contained(Dialect::Postgres, "(a > 0) AND (b <> ')')"));
        assert!(self_contained(Dialect::MySql, "concat(`a`,'it\\'s')"));
        for escaping in [
            "a > 0) OR (b < 0",
            "a > 0)); DROP TABLE t; --",
            "a > 0; DROP TABLE t",
            "(a > 0",
            "'open",
        ] {
            assert!(!self_contained(Dialect::Postgres, escaping), "{escaping}");
        }
        assert!(!self_contained(
            Dialect::MySql,
            "concat(`a`,'it')) STORED; DROP TABLE t; -- ')"
        ));
    }
}
