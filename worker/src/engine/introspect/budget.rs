//! The bytes of schema text one plan may hold (`FREIGHT_MAX_PLAN_SCHEMA_BYTES`):
//! the source decides how long its names, defaults, CHECK expressions and
//! view definitions are, and a plan holds all of them at once.

use crate::engine::model::{DefaultValue, Logical, Table};

/// What every item (column, index, view, …) costs besides its text: the
/// structures that hold it.
pub const ITEM_OVERHEAD: usize = 64;

/// The plan's schema text budget: charged as tables and views are read.
#[derive(Debug, Clone)]
pub struct SchemaBudget {
    limit: usize,
    used: usize,
}

/// The source's schema is larger than the plan may hold.
#[derive(Debug)]
pub struct SchemaTooLarge(pub String);

impl SchemaBudget {
    pub fn new(limit: usize) -> Self {
        Self { limit, used: 0 }
    }

    /// Bytes still free.
    pub fn remaining(&self) -> usize {
        self.limit.saturating_sub(self.used)
    }

    /// Refuses when `bytes` more would not fit; `what` names them.
    pub fn fits(&self, what: &str, bytes: usize) -> Result<(), SchemaTooLarge> {
        if bytes <= self.remaining() {
            return Ok(());
        }
        Err(SchemaTooLarge(format!(
            "the source's schema is too large to plan: {what} take(s) more than the {} bytes of \
             schema text a plan may hold (FREIGHT_MAX_PLAN_SCHEMA_BYTES); name fewer tables in \
             tables or exclude_tables, or split the job",
            self.limit
        )))
    }

    /// Counts `bytes` as held, refusing when they do not fit.
    pub fn charge(&mut self, what: &str, bytes: usize) -> Result<(), SchemaTooLarge> {
        self.fits(what, bytes)?;
        self.used += bytes;
        Ok(())
    }
}

/// The text a table's description holds, plus [`ITEM_OVERHEAD`] per item.
pub fn table_bytes(table: &Table) -> usize {
    let opt = |s: &Option<String>| s.as_deref().map_or(0, str::len);
    let all = |v: &[String]| v.iter().map(|s| s.len() + ITEM_OVERHEAD).sum::<usize>();
    let columns: usize = table
        .columns
        .iter()
        .map(|c| {
            let default = match &c.default {
                Some(DefaultValue::Number(s) | DefaultValue::String(s)) => s.len(),
                _ => 0,
            };
            let logical = match &c.logical {
                Logical::Enum(labels) => all(labels),
                Logical::Other(s) => s.len(),
                _ => 0,
            };
            ITEM_OVERHEAD
                + c.name.len()
                + c.source_type.len()
                + default
                + logical
                + opt(&c.select_expr)
                + opt(&c.comment)
                + opt(&c.generated)
                + c.collation.as_ref().map_or(0, |(a, b)| a.len() + b.len())
        })
        .sum();
    let indexes: usize = table
        .indexes
        .iter()
        .map(|i| {
            ITEM_OVERHEAD
                + i.name.len()
                + all(&i.columns)
                + all(&i.include)
                + opt(&i.predicate)
                + opt(&i.method)
        })
        .sum();
    let foreign_keys: usize = table
        .foreign_keys
        .iter()
        .map(|f| {
            ITEM_OVERHEAD + f.name.len() + all(&f.columns) + f.ref_table.len() + all(&f.ref_columns)
        })
        .sum();
    let checks: usize = table
        .checks
        .iter()
        .map(|c| ITEM_OVERHEAD + c.name.len() + c.expression.len())
        .sum();
    let exclusions: usize = table
        .exclusions
        .iter()
        .map(|x| ITEM_OVERHEAD + x.name.len() + x.definition.len())
        .sum();
    ITEM_OVERHEAD
        + table.name.len()
        + columns
        + indexes
        + foreign_keys
        + checks
        + exclusions
        + opt(&table.comment)
        + all(&table.inherited_by)
        + all(&table.warnings)
}
