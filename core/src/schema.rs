//! Schemas of request fields that the derive cannot state from the Rust
//! type alone: names (of tables and columns) and the other free-text fields
//! with the server's rules as `minLength`/`maxLength`/`pattern`, so a
//! schema-valid request is one the server's validation accepts.
//!
//! The patterns are ECMA-262 as JSON Schema asks, written with `\uXXXX`
//! escapes only (Python's `re`, Rust's `regex` and JavaScript read them
//! alike). "Control character" is Rust's `char::is_control` (Unicode `Cc`:
//! U+0000-U+001F and U+007F-U+009F); "whitespace" is `char::is_whitespace`
//! (what `str::trim` removes). Tests below hold the patterns to both.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ArrayBuilder, Object, ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

/// Control characters (`char::is_control`), as the ranges of a class.
const CONTROL: &str = "\\u0000-\\u001F\\u007F-\\u009F";
/// Whitespace (`char::is_whitespace`, what `str::trim` removes).
const WHITESPACE: &str =
    "\\u0009-\\u000D\\u0020\\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000";
/// Control characters and whitespace together.
const CONTROL_OR_WHITESPACE: &str =
    "\\u0000-\\u0020\\u007F-\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000";

/// No control characters (as `JobSpec.name` says it in its attribute).
pub const NO_CONTROL_PATTERN: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$";

/// Longest `started_by`, in characters, once trimmed.
pub const MAX_STARTED_BY_CHARS: usize = 200;

/// `started_by` as the server checks it: trimmed of whitespace, 1-200
/// characters without control characters. So whitespace around it, control
/// characters among it (a tab, a newline) included, is not counted.
pub fn started_by_pattern() -> String {
    let inner = MAX_STARTED_BY_CHARS - 2;
    format!(
        "^[{WHITESPACE}]*[^{CONTROL_OR_WHITESPACE}]([^{CONTROL}]{{0,{inner}}}[^{CONTROL_OR_WHITESPACE}])?[{WHITESPACE}]*$"
    )
}

/// The schema of `JobSpec.started_by` (schema only; the field is a `String`).
pub struct StartedBy;

impl PartialSchema for StartedBy {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(format!(
                "1-{MAX_STARTED_BY_CHARS} characters once leading and trailing whitespace is trimmed, not only whitespace, no control characters"
            )))
            .min_length(Some(1))
            .pattern(Some(started_by_pattern()))
            .into()
    }
}

impl ToSchema for StartedBy {}

/// Longest table or column name, in characters.
pub const MAX_NAME_CHARS: usize = 128;
/// Most tables a `tables`, `exclude_tables` or `key_columns` may name.
pub const MAX_TABLES: usize = 10_000;
/// Most key columns of one table.
pub const MAX_KEY_COLUMNS: usize = 32;

/// Whether `name` is a valid table or column name: 1-128 characters, no
/// control characters (NUL included).
pub fn is_valid_name(name: &str) -> bool {
    (1..=MAX_NAME_CHARS).contains(&name.chars().count()) && !name.chars().any(char::is_control)
}

fn name_schema(what: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(format!(
            "A {what} name as the source spells it: 1-{MAX_NAME_CHARS} characters, no control characters (NUL included)"
        )))
        .min_length(Some(1))
        .max_length(Some(MAX_NAME_CHARS))
        .pattern(Some(NO_CONTROL_PATTERN))
        .build()
}

/// A table name in a job spec (schema only; the field stays a `String`).
pub struct TableName;

impl PartialSchema for TableName {
    fn schema() -> RefOr<Schema> {
        name_schema("table").into()
    }
}

impl ToSchema for TableName {}

/// A column name in a job spec (schema only).
pub struct ColumnName;

impl PartialSchema for ColumnName {
    fn schema() -> RefOr<Schema> {
        name_schema("column").into()
    }
}

impl ToSchema for ColumnName {}

/// The schema of `JobSpec.key_columns` (schema only; the field is a map of
/// strings): at most 10000 tables by name, each with 1-32 distinct column
/// names.
pub struct KeyColumns;

impl PartialSchema for KeyColumns {
    fn schema() -> RefOr<Schema> {
        key_columns().into()
    }
}

impl ToSchema for KeyColumns {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((ColumnName::name().into(), ColumnName::schema()));
    }
}

fn key_columns() -> Object {
    let columns = ArrayBuilder::new()
        .items(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
            ColumnName::name(),
        )))
        .min_items(Some(1))
        .max_items(Some(MAX_KEY_COLUMNS))
        .unique_items(true)
        .description(Some(format!(
            "1-{MAX_KEY_COLUMNS} distinct columns, in key order"
        )));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(format!(
            "Key columns by table name: at most {MAX_TABLES} tables, each with 1-{MAX_KEY_COLUMNS} distinct columns"
        )))
        .property_names(Some(name_schema("table")))
        .additional_properties(Some(Schema::Array(columns.build())))
        .max_properties(Some(MAX_TABLES))
        .examples([serde_json::json!({"events": ["device_id", "recorded_at"]})])
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rust's reading of each pattern's character classes, character by
    /// character over all of Unicode: the patterns are hand-written ranges,
    /// so this is where they are held to `is_control` and `trim`.
    fn in_ranges(c: char, ranges: &[(u32, u32)]) -> bool {
        ranges
            .iter()
            .any(|(lo, hi)| (*lo..=*hi).contains(&u32::from(c)))
    }

    /// The `[^...]` ranges of a pattern's class, parsed from its text.
    fn class_ranges(class: &str) -> Vec<(u32, u32)> {
        let hex = |s: &str| u32::from_str_radix(s, 16).unwrap();
        let mut out = Vec::new();
        let mut rest = class;
        while let Some(tail) = rest.strip_prefix("\\u") {
            let lo = hex(&tail[..4]);
            rest = &tail[4..];
            let hi = match rest.strip_prefix("-\\u") {
                Some(tail) => {
                    rest = &tail[4..];
                    hex(&tail[..4])
                }
                None => lo,
            };
            out.push((lo, hi));
        }
        assert!(rest.is_empty(), "unparsed class text {rest:?}");
        out
    }

    #[test]
    fn character_classes_say_what_the_server_checks() {
        let control = class_ranges(CONTROL);
        let whitespace = class_ranges(WHITESPACE);
        let either = class_ranges(CONTROL_OR_WHITESPACE);
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            assert_eq!(in_ranges(c, &control), c.is_control(), "{c:?}");
            assert_eq!(in_ranges(c, &whitespace), c.is_whitespace(), "{c:?}");
            assert_eq!(
                in_ranges(c, &either),
                c.is_control() || c.is_whitespace(),
                "{c:?}"
            );
        }
        assert_eq!(NO_CONTROL_PATTERN, format!("^[^{CONTROL}]*$"));
        assert!(started_by_pattern().contains("{0,198}"));
    }

    #[test]
    fn names_are_counted_in_characters() {
        assert!(is_valid_name(&"é".repeat(128)));
        assert!(!is_valid_name(&"é".repeat(129)));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("a\u{0}b"));
        assert!(!is_valid_name("a\u{85}"));
    }
}
