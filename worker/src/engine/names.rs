//! How source names are spelled on the target (`identifiers`): kept as
//! they are (case included, always quoted), or folded to lower case like
//! pgloader does. Every place that names a target table, column, index or
//! constraint goes through [`for_target`] / [`table_name`], so the DDL, the
//! batches, finishing and validation agree.

use std::collections::BTreeMap;

use freight_core::job::Identifiers;

use super::model::{Dialect, Exclusion, Table};
use super::{checks, expr};

/// The target's name of a source table.
pub fn table_name(ids: Identifiers, name: &str) -> String {
    ids.apply(name)
}

/// Names that fold to the same target name, as "A, a; B, b"; `None` when
/// every name stays distinct.
fn collisions<'a>(ids: Identifiers, names: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut folded: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for name in names {
        folded.entry(ids.apply(name)).or_default().push(name);
    }
    let clashes: Vec<String> = folded
        .values()
        .filter(|names| names.len() > 1)
        .map(|names| names.join(", "))
        .collect();
    (!clashes.is_empty()).then(|| clashes.join("; "))
}

/// The job's tables must stay distinct on the target.
pub fn check_tables(ids: Identifiers, names: &[String]) -> Result<(), String> {
    match collisions(ids, names.iter().map(String::as_str)) {
        None => Ok(()),
        Some(clash) => Err(format!(
            "identifiers: lower folds table names to the same target name: {clash}"
        )),
    }
}

/// The source table with every name spelled as the target will have it:
/// table, columns, indexes, foreign keys (and the tables they reference),
/// CHECK constraint names. CHECK expressions from PostgreSQL to PostgreSQL
/// are re-spelled (other targets compare column names without case); one
/// that cannot be is left out with a warning. `Err` names columns or
/// indexes that would collide.
pub fn for_target(ids: Identifiers, target: Dialect, table: &Table) -> Result<Table, String> {
    if ids == Identifiers::Keep {
        return Ok(table.clone());
    }
    let column_names = table.columns.iter().map(|c| c.name.as_str());
    if let Some(clash) = collisions(ids, column_names) {
        return Err(format!(
            "identifiers: lower folds columns of table {} to the same name: {clash}",
            table.name
        ));
    }
    if let Some(clash) = collisions(ids, table.indexes.iter().map(|i| i.name.as_str())) {
        return Err(format!(
            "identifiers: lower folds indexes of table {} to the same name: {clash}",
            table.name
        ));
    }
    let mut out = table.clone();
    out.name = ids.apply(&table.name);
    for col in &mut out.columns {
        col.name = ids.apply(&col.name);
    }
    for index in &mut out.indexes {
        index.name = ids.apply(&index.name);
        index.columns = index.columns.iter().map(|c| ids.apply(c)).collect();
        index.include = index.include.iter().map(|c| ids.apply(c)).collect();
    }
    // A partial index's condition from PostgreSQL to PostgreSQL is
    // re-spelled like a CHECK; one that cannot be leaves the index out
    // (a whole-table index would be another constraint).
    if table.dialect == Dialect::Postgres && target == Dialect::Postgres {
        let columns = out.columns.clone();
        let mut kept = Vec::with_capacity(out.indexes.len());
        for mut index in std::mem::take(&mut out.indexes) {
            if let Some(predicate) = &index.predicate {
                match checks::respell(Dialect::Postgres, predicate, &columns) {
                    Some(respelled) => index.predicate = Some(respelled),
                    None => {
                        out.warnings.push(format!(
                            "index {} (WHERE {predicate}) cannot be re-spelled with lower-case names and is not recreated",
                            index.name
                        ));
                        continue;
                    }
                }
            }
            kept.push(index);
        }
        out.indexes = kept;
    }
    for fk in &mut out.foreign_keys {
        fk.name = ids.apply(&fk.name);
        fk.columns = fk.columns.iter().map(|c| ids.apply(c)).collect();
        fk.ref_table = ids.apply(&fk.ref_table);
        fk.ref_columns = fk.ref_columns.iter().map(|c| ids.apply(c)).collect();
    }
    // PostgreSQL compares names with case: generated expressions from
    // PostgreSQL are re-spelled with the folded names (or the column is
    // copied as a plain one, with create_table's warning).
    if table.dialect == Dialect::Postgres && target == Dialect::Postgres {
        let renamed = out.columns.clone();
        for col in &mut out.columns {
            if let Some(expression) = &col.generated {
                let respelled =
                    expr::translate(Dialect::Postgres, Dialect::Postgres, expression, &renamed);
                if respelled.is_none() {
                    out.warnings.push(format!(
                        "column {}: generated column ({expression}) cannot be re-spelled with lower-case names; copied as a plain column",
                        col.name
                    ));
                }
                col.generated = respelled;
            }
        }
    }
    let mut checks_kept = Vec::with_capacity(out.checks.len());
    for mut check in std::mem::take(&mut out.checks) {
        check.name = ids.apply(&check.name);
        if table.dialect == Dialect::Postgres && target == Dialect::Postgres {
            match checks::respell(Dialect::Postgres, &check.expression, &out.columns) {
                Some(expression) => check.expression = expression,
                None => {
                    out.warnings.push(format!(
                        "CHECK constraint {} ({}) cannot be re-spelled with lower-case names and is not recreated",
                        check.name, check.expression
                    ));
                    continue;
                }
            }
        }
        checks_kept.push(check);
    }
    out.checks = checks_kept;
    // An exclusion constraint's definition names columns as PostgreSQL
    // prints them: unquoted ones are lower case already, a quoted one
    // would name a column that no longer exists.
    for exclusion in std::mem::take(&mut out.exclusions) {
        if exclusion.definition.contains('"') {
            out.warnings.push(format!(
                "exclusion constraint {} ({}) cannot be re-spelled with lower-case names and is not recreated",
                exclusion.name, exclusion.definition
            ));
        } else {
            out.exclusions.push(Exclusion {
                name: ids.apply(&exclusion.name),
                ..exclusion
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_folds_ascii_and_finds_collisions() {
        assert_eq!(table_name(Identifiers::Lower, "CamelCase"), "camelcase");
        assert_eq!(table_name(Identifiers::Keep, "CamelCase"), "CamelCase");
        assert_eq!(
            collisions(Identifiers::Lower, ["Id", "id", "Name", "x"]).as_deref(),
            Some("Id, id")
        );
        assert_eq!(collisions(Identifiers::Keep, ["Id", "id"]), None);
        assert!(check_tables(Identifiers::Lower, &["T".into(), "t".into()]).is_err());
    }
}
