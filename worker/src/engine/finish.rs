//! After the data has landed: secondary indexes, foreign keys, identity
//! and auto-increment counters (`counters`) and the views that translate, on the target. Failures here are warnings (the data is already
//! there and verified), never a failed job.

use super::JobContext;
use super::connect::Pool;
use super::context::schema_of;
use super::error::Failure;
use super::introspect::budget::SchemaBudget;
use super::model::Dialect;
use super::planner::{PlanFail, select_tables};
use super::service::PlanLimits;
use super::typemap;
use super::{adapt, counters, ddl, introspect, names, views};

pub async fn finish(
    job: &JobContext,
    source: &Pool,
    target: &Pool,
    limits: &PlanLimits,
) -> Result<Vec<String>, Failure> {
    let source_names = match select_tables(job, source).await {
        Ok((names, _)) => names,
        Err(refused) => return Err(refused.into_failure()),
    };
    let source_schema = schema_of(source, &job.source).unwrap_or_default();
    let target_schema = schema_of(target, &job.target);
    let dialect = target.dialect();
    let target_names: Vec<String> = source_names
        .iter()
        .map(|n| names::table_name(job.identifiers, n))
        .collect();
    let mut warnings = Vec::new();
    let mut tables = Vec::new();
    // Per entry of `tables`, the source table as the source names it.
    let mut tables_originals = Vec::new();
    // The source tables as the source names them, for the views.
    let mut originals = Vec::new();
    for name in &source_names {
        let Some(src) = introspect::table(source, &source_schema, name).await? else {
            warnings.push(format!(
                "table {name} vanished from the source before finishing"
            ));
            continue;
        };
        originals.push(src);
    }
    for original in &originals {
        // The source table as the target names it (`identifiers`).
        let src = match names::for_target(job.identifiers, dialect, original) {
            Ok(renamed) => renamed,
            Err(problem) => {
                warnings.push(problem);
                continue;
            }
        };
        // As planning adapted it (types the target lacks, identities).
        let src = match adapt::for_target(
            source,
            schema_of(source, &job.source).as_deref(),
            Some(target),
            dialect,
            &originals,
            original,
            &src,
        )
        .await
        {
            Ok((adapted, _)) => adapted,
            Err(_) => src,
        };
        let Some(tgt) = introspect::table(
            target,
            target_schema.as_deref().unwrap_or_default(),
            &src.name,
        )
        .await?
        else {
            warnings.push(format!("table {} is missing on the target", src.name));
            continue;
        };
        tables.push((src, tgt));
        tables_originals.push(original);
    }

    for (src, tgt) in &tables {
        for index in &src.indexes {
            let target_name = typemap::index_name(src.dialect, &src.name, index);
            let exists = tgt.indexes.iter().any(|i| {
                i.name == target_name || (i.columns == index.columns && i.unique == index.unique)
            });
            if exists {
                continue;
            }
            let (Some(sql), _) =
                typemap::index_ddl(dialect, target_schema.as_deref(), src, index, true)
            else {
                // The plan said why.
                continue;
            };
            let expect = ddl::Expect::CreateIndex {
                name: &target_name,
                table: &src.name,
            };
            if let Err(e) = ddl::apply(target, &sql, expect).await {
                warnings.push(format!(
                    "index {target_name} on {} not created: {}",
                    src.name,
                    e.into_engine()
                ));
            }
        }
    }
    // Exclusion constraints (PostgreSQL to PostgreSQL; the plan warned of
    // the others), after the load like the indexes that implement them.
    for (src, tgt) in &tables {
        for exclusion in &src.exclusions {
            if tgt.exclusions.iter().any(|t| t.name == exclusion.name) {
                continue;
            }
            let Ok(sql) = typemap::exclusion_ddl(dialect, target_schema.as_deref(), src, exclusion)
            else {
                continue;
            };
            if let Err(e) = ddl::apply(target, &sql, ddl::Expect::Other).await {
                let e = e.into_engine().to_string();
                // `room WITH =` on an integer needs btree_gist's operator class.
                let hint = if e.contains("operator class") {
                    " (the source has an extension the target lacks, such as btree_gist)"
                } else {
                    ""
                };
                warnings.push(format!(
                    "exclusion constraint {} ({}) on {} was not recreated, so the target does not enforce it{hint}: {e}",
                    exclusion.name, exclusion.definition, src.name
                ));
            }
        }
    }
    for (src, tgt) in &tables {
        for fk in &src.foreign_keys {
            if !target_names.contains(&fk.ref_table) {
                continue;
            }
            if dialect == Dialect::Sqlite {
                // Created with the table unless the table existed before.
                if !tgt.foreign_keys.iter().any(|t| t.columns == fk.columns) {
                    warnings.push(format!(
                        "foreign key {} on {} not created: the target table existed and SQLite cannot add constraints to an existing table",
                        fk.name, src.name
                    ));
                }
                continue;
            }
            if tgt
                .foreign_keys
                .iter()
                .any(|t| t.name == fk.name || t.columns == fk.columns)
            {
                continue;
            }
            let sql = typemap::foreign_key_ddl(dialect, target_schema.as_deref(), &src.name, fk);
            let created = match target {
                Pool::MySql(my) => ddl::apply_foreign_key_mysql(my, &sql).await,
                _ => ddl::apply(target, &sql, ddl::Expect::Other).await,
            };
            if let Err(e) = created {
                warnings.push(format!(
                    "foreign key {} on {} not created: {}",
                    fk.name,
                    src.name,
                    e.into_engine()
                ));
            }
        }
    }
    // Identity and auto-increment counters continue past both the copied
    // keys and the source's own counter.
    for ((src, tgt), original) in tables.iter().zip(&tables_originals) {
        warnings.extend(
            counters::continue_counters(
                source,
                schema_of(source, &job.source).as_deref(),
                target,
                target_schema.as_deref(),
                original,
                src,
                tgt,
            )
            .await,
        );
    }
    // Views last: they read the tables. Planning held them within the
    // job's schema budget; a source that grew since loses its views, not
    // the job.
    let views = match views::plan(
        source,
        &source_schema,
        &originals,
        dialect,
        target.privileged_on_freight_server(),
        target_schema.as_deref(),
        job.identifiers,
        &mut SchemaBudget::new(limits.max_schema_bytes_per_job),
    )
    .await
    {
        Ok(views) => views,
        Err(PlanFail::TooLarge(why)) => {
            warnings.push(format!("views not recreated: {why}"));
            Vec::new()
        }
        Err(other) => return Err(other.into_failure()),
    };
    // A view may read another: what fails is tried again while some
    // other view got created.
    let mut pending: Vec<(&views::ViewPlan, &str)> = Vec::new();
    for view in &views {
        match &view.outcome {
            Ok(sql) => pending.push((view, sql)),
            Err(_) => warnings.push(view.message()),
        }
    }
    loop {
        let mut failed = Vec::new();
        let mut errors = Vec::new();
        let before = pending.len();
        for (view, sql) in pending {
            let res = match (target, &view.search_path) {
                (Pool::Postgres(pg, _), Some(path)) => ddl::apply_in_schema(pg, path, sql).await,
                _ => create_view(target, view, sql).await,
            };
            if let Err(e) = res {
                failed.push((view, sql));
                errors.push(format!(
                    "view {} not created: {}",
                    view.name,
                    e.into_engine()
                ));
            }
        }
        if failed.is_empty() || failed.len() == before {
            warnings.extend(errors);
            break;
        }
        pending = failed;
    }
    Ok(warnings)
}

/// The view's statements one by one: SQLite's `DROP VIEW` first.
async fn create_view(target: &Pool, view: &views::ViewPlan, sql: &str) -> Result<(), Failure> {
    if let Some(drop) = &view.drop_first {
        ddl::apply(target, drop, ddl::Expect::DropView(&view.name)).await?;
    }
    ddl::apply(target, sql, ddl::Expect::CreateView(&view.name)).await
}
