//! Planning a job: which tables, what key, what target DDL, and the fixed
//! key ranges of `batch_size` rows each.

use std::collections::{HashMap, HashSet};

use freight_core::job::ZeroDates;
use freight_core::plan::{CopyMode, PlanReport, TablePlan};

use super::connect::{Pool, Standing};
use super::context::{match_columns, schema_of};
use super::error::{Failure, classify};
use super::introspect::budget::{self, SchemaBudget};
use super::model::{Column, Dialect, Logical, Table, Value};
use super::service::PlanLimits;
use super::sql::{Predicate, from, ident, table as qualified};
use super::{
    JobContext, JobPlan, PlannedBatch, adapt, ddl, introspect, names, own_server, read, typemap,
    views,
};

/// Why planning stopped.
#[derive(Debug)]
pub enum PlanFail {
    /// The request names something that does not exist or cannot be copied.
    Invalid {
        field: &'static str,
        message: String,
    },
    Failure(Failure),
    /// The plan would need more batches than the job may have.
    TooLarge(String),
}

impl PlanFail {
    /// For callers that only report: every refusal as a failure.
    pub fn into_failure(self) -> Failure {
        match self {
            Self::Invalid { message, .. } | Self::TooLarge(message) => Failure::Permanent(message),
            Self::Failure(f) => f,
        }
    }
}

impl From<Failure> for PlanFail {
    fn from(f: Failure) -> Self {
        Self::Failure(f)
    }
}

/// The names of a table's columns.
fn column_names(table: &Table) -> Vec<String> {
    table.columns.iter().map(|c| c.name.clone()).collect()
}

/// A refusal of `field`'s database (what Freight will not run there) as
/// the request's fault; other failures as they are.
fn refused_by(failure: Failure, field: &'static str) -> PlanFail {
    match failure {
        Failure::Permanent(message) => PlanFail::Invalid { field, message },
        other => PlanFail::Failure(other),
    }
}

/// Tables of a source Freight lists at most: the source decides how many
/// it has, and their names are held in memory (100,000 names of the
/// longest PostgreSQL identifiers: about 10 MB).
const LIST_TABLES_CEILING: usize = 100_000;

/// Key values longer than this (bytes, all key columns of a row together)
/// are refused before any is read: a boundary is held in memory, and
/// PostgreSQL and InnoDB indexes refuse keys of more than about 3 KB anyway.
pub const MAX_KEY_VALUE_BYTES: i64 = 64 * 1024;

/// The tables to copy: the requested ones (each must exist) or all of the
/// source, minus the excluded ones, in the source's order.
pub async fn select_tables(
    job: &JobContext,
    source: &Pool,
) -> Result<(Vec<String>, Vec<String>), PlanFail> {
    let schema = schema_of(source, &job.source).unwrap_or_default();
    let all = introspect::list_tables(source, &schema, LIST_TABLES_CEILING + 1).await?;
    if all.len() > LIST_TABLES_CEILING {
        return Err(PlanFail::TooLarge(format!(
            "the source has more than {LIST_TABLES_CEILING} tables, more than Freight plans"
        )));
    }
    let mut warnings = Vec::new();
    // The source's tables by name, and by name without case (the first in
    // the source's order): the source and the job's lists are long enough
    // that a scan per name would hold the planner for seconds.
    let exact: HashSet<&str> = all.iter().map(String::as_str).collect();
    let mut folded: HashMap<String, &str> = HashMap::with_capacity(all.len());
    for t in &all {
        folded.entry(t.to_ascii_lowercase()).or_insert(t.as_str());
    }
    let find = |name: &str| {
        exact
            .get(name)
            .or_else(|| folded.get(&name.to_ascii_lowercase()))
            .map(|t| (*t).to_owned())
    };
    let mut chosen = Vec::new();
    if job.tables.is_empty() {
        chosen = all.clone();
    } else {
        let mut unknown = Vec::new();
        let mut seen = HashSet::new();
        for name in &job.tables {
            match find(name) {
                Some(t) if seen.insert(t.clone()) => chosen.push(t),
                Some(_) => {}
                None => unknown.push(name.clone()),
            }
        }
        if !unknown.is_empty() {
            return Err(PlanFail::Invalid {
                field: "tables",
                message: format!("table(s) not found in the source: {}", unknown.join(", ")),
            });
        }
    }
    let mut excluded = HashSet::new();
    for name in &job.exclude_tables {
        match find(name) {
            Some(t) => {
                excluded.insert(t);
            }
            None => warnings.push(format!(
                "excluded table {name} does not exist in the source"
            )),
        }
    }
    if !excluded.is_empty() {
        chosen.retain(|c| !excluded.contains(c));
    }
    if chosen.is_empty() {
        warnings.push("no tables to copy".to_owned());
    }
    Ok((chosen, warnings))
}

/// Plans the job; with `prepare_target`, also creates missing target tables.
pub async fn plan(
    job: &JobContext,
    source: &Pool,
    target: Option<&Pool>,
    prepare_target: bool,
    limits: &PlanLimits,
) -> Result<JobPlan, PlanFail> {
    let (names, mut job_warnings) = select_tables(job, source).await?;
    let source_schema = schema_of(source, &job.source);
    let target_dialect = Dialect::from_kind(job.target.kind);
    let target_schema =
        (target_dialect == Dialect::Postgres).then(|| job.target.schema_or_default().to_owned());

    if names.len() > limits.max_tables_per_job {
        return Err(PlanFail::TooLarge(format!(
            "the job would copy {} tables, more than {} (FREIGHT_MAX_TABLES_PER_JOB); \
             name fewer in tables or exclude_tables, or split the job",
            names.len(),
            limits.max_tables_per_job
        )));
    }
    // Every table costs at least one batch.
    if names.len() > limits.max_batches_per_job {
        return Err(PlanFail::TooLarge(format!(
            "the job would copy {} tables, each at least one batch: more than {} batches \
             (FREIGHT_MAX_BATCHES_PER_JOB); name fewer tables or split the job",
            names.len(),
            limits.max_batches_per_job
        )));
    }
    check_key_columns_tables(job, &names)?;
    names::check_tables(job.identifiers, &names).map_err(|message| PlanFail::Invalid {
        field: "identifiers",
        message,
    })?;
    let mut tables = Vec::with_capacity(names.len());
    // Each table as the target will name it (`identifiers`).
    let mut target_tables = Vec::with_capacity(names.len());
    let mut name_problems = Vec::new();
    let mut key_problems = Vec::new();
    let mut schema_budget = SchemaBudget::new(limits.max_schema_bytes_per_job);
    for name in &names {
        // Measured by the server before any of it is sent.
        let text = introspect::schema_text_bytes(
            source,
            source_schema.as_deref().unwrap_or_default(),
            name,
        )
        .await?;
        schema_budget.fits(
            &format!("the tables (at {name})"),
            usize::try_from(text).unwrap_or(usize::MAX),
        )?;
        let mut table =
            introspect::table(source, source_schema.as_deref().unwrap_or_default(), name)
                .await?
                .ok_or_else(|| {
                    Failure::Permanent(format!("table {name} disappeared while planning"))
                })?;
        // MySQL → MySQL: a `tinyint(1)` is the integer it is, key bounds
        // included (see `adapt::for_target`).
        if table.dialect == Dialect::MySql && target_dialect == Dialect::MySql {
            table.keep_tinyint1_as_integer();
        }
        if let Some(named) = job.key_columns_for(name) {
            match introspect::apply_key_columns(&mut table, named) {
                Ok(()) => {
                    if let Some(problem) =
                        null_in_key(source, source_schema.as_deref(), &table).await?
                    {
                        key_problems.push(problem);
                    }
                }
                Err(problem) => key_problems.push(problem),
            }
        }
        if let Pool::Postgres(pg, Standing::PrivilegedOnFreightServer) = source {
            let schema = source_schema.as_deref().unwrap_or_default();
            own_server::refuse_user_hooks(pg, "source", schema, name)
                .await
                .map_err(|f| refused_by(f, "source_config"))?;
        }
        schema_budget.charge(
            &format!("the tables (at {name})"),
            budget::table_bytes(&table),
        )?;
        match names::for_target(job.identifiers, target_dialect, &table) {
            Ok(renamed) => target_tables.push(renamed),
            Err(problem) => name_problems.push(problem),
        }
        tables.push(table);
    }
    if !name_problems.is_empty() {
        return Err(PlanFail::Invalid {
            field: "identifiers",
            message: name_problems.join("; "),
        });
    }
    if !key_problems.is_empty() {
        return Err(PlanFail::Invalid {
            field: "key_columns",
            message: key_problems.join("; "),
        });
    }

    if prepare_target && let (Some(Pool::Postgres(pg, _)), Some(schema)) = (target, &target_schema)
    {
        let sql = format!(
            "CREATE SCHEMA IF NOT EXISTS {}",
            ident(Dialect::Postgres, schema)
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(pg)
            .await
            .map_err(|e| classify(&e, "creating the target schema"))?;
    }

    let exact = match target {
        Some(pool) => introspect::exact_collation(pool).await?,
        None => introspect::MYSQL_PAD_BIN,
    };
    let mut report_tables = Vec::with_capacity(tables.len());
    let mut batches = Vec::new();
    // Bytes of boundary key values held so far (FREIGHT_MAX_PLAN_KEY_BYTES).
    let mut key_bytes = 0usize;
    for (table, target_table) in tables.iter().zip(&target_tables) {
        let mut warnings = target_table.warnings.clone();
        // A full scan: only for the preview (`plan_migration_job`), where
        // the user decides. A job's own planning stays O(1) for dense keys
        // (the copy turns zero dates into NULL either way).
        if !prepare_target {
            warnings.extend(zero_date_warnings(source, table, job.zero_dates).await?);
        }
        let existing = match target {
            Some(pool) => {
                let schema = target_schema.as_deref().unwrap_or_default();
                // A target table is the tenant's text too (held while
                // this table is planned).
                let text = introspect::schema_text_bytes(pool, schema, &target_table.name)
                    .await
                    .map_err(|f| f.on("the target"))?;
                schema_budget.fits(
                    &format!("target table {}", target_table.name),
                    usize::try_from(text).unwrap_or(usize::MAX),
                )?;
                let existing = introspect::table(pool, schema, &target_table.name)
                    .await
                    .map_err(|f| f.on("the target"))?;
                if let (Some(_), Pool::Postgres(pg, Standing::PrivilegedOnFreightServer)) =
                    (&existing, pool)
                {
                    if let Some(message) = own_server::evaluated_objects_refusal(
                        pg,
                        schema,
                        &target_table.name,
                        &column_names(target_table),
                    )
                    .await?
                    {
                        return Err(PlanFail::Invalid {
                            field: "target_config",
                            message,
                        });
                    }
                    own_server::refuse_user_hooks(pg, "target", schema, &target_table.name)
                        .await
                        .map_err(|f| refused_by(f, "target_config"))?;
                }
                existing
            }
            None => None,
        };
        let (mut ddl_table, adapt_warnings) = adapt::for_target(
            source,
            source_schema.as_deref(),
            target,
            target_dialect,
            &tables,
            table,
            target_table,
        )
        .await?;
        let enum_warnings =
            adapt::empty_enum_values(source, source_schema.as_deref(), table, &mut ddl_table)
                .await?;
        // Introspection warnings adapting made untrue (spatial columns
        // that are geometry on the target after all).
        warnings.retain(|w| !target_table.warnings.contains(w) || ddl_table.warnings.contains(w));
        warnings.extend(adapt_warnings);
        warnings.extend(enum_warnings);
        // SQLite's foreign keys are part of CREATE TABLE: those to tables
        // the job copies.
        let copied = |t: &String| target_tables.iter().any(|c| &c.name == t);
        ddl_table.foreign_keys.retain(|fk| copied(&fk.ref_table));
        let (create, ddl_warnings) =
            typemap::create_table(target_dialect, target_schema.as_deref(), &ddl_table, exact);
        warnings.extend(ddl_warnings);
        let created = existing.is_none();
        let mut target_ddl = Vec::new();
        match existing {
            Some(existing) => {
                match_columns(target_table, &existing).map_err(|f| match f {
                    Failure::Permanent(message) => PlanFail::Invalid {
                        field: "target_config",
                        message,
                    },
                    other => PlanFail::Failure(other),
                })?;
                warnings.push(format!(
                    "target table {} exists: each batch replaces the rows of its key range",
                    target_table.name
                ));
            }
            None => {
                let mut create = create;
                let run_on = target.filter(|_| prepare_target);
                if run_on.is_some() || target_dialect == Dialect::Sqlite {
                    // What the target refuses to compile (a CHECK or a
                    // generated column calling a function of the source's
                    // own, a type it lacks), or the DDL guard refuses on
                    // SQLite (the preview included), never fails the job:
                    // the table is created without it, with a warning.
                    let mut done =
                        create_table(run_on, target_dialect, &target_table.name, &create).await;
                    while let Err(Failure::Permanent(why) | Failure::Data { message: why, .. }) =
                        &done
                    {
                        // First the CHECKs and generated expressions the
                        // target refuses, each tried on its own: only those
                        // are left out.
                        let refused = leave_out_refused_expressions(
                            run_on,
                            target_dialect,
                            target_schema.as_deref(),
                            &mut ddl_table,
                            exact,
                        )
                        .await?;
                        if refused.is_empty() {
                            let Some(left_out) = adapt::simpler(&mut ddl_table) else {
                                break;
                            };
                            warnings.push(format!(
                                "table {}: {left_out}: the target refused the table as it was ({why})",
                                target_table.name
                            ));
                        } else {
                            warnings.extend(refused);
                        }
                        create = typemap::create_table(
                            target_dialect,
                            target_schema.as_deref(),
                            &ddl_table,
                            exact,
                        )
                        .0;
                        done =
                            create_table(run_on, target_dialect, &target_table.name, &create).await;
                    }
                    done?;
                }
                target_ddl.extend(create);
            }
        }
        for index in &ddl_table.indexes {
            let (ddl, index_warnings) = typemap::index_ddl(
                target_dialect,
                target_schema.as_deref(),
                &ddl_table,
                index,
                true,
            );
            target_ddl.extend(ddl);
            warnings.extend(index_warnings);
        }
        for exclusion in &ddl_table.exclusions {
            match typemap::exclusion_ddl(
                target_dialect,
                target_schema.as_deref(),
                &ddl_table,
                exclusion,
            ) {
                Ok(ddl) => target_ddl.push(ddl),
                Err(warning) => warnings.push(warning),
            }
        }
        for (fk, target_fk) in table.foreign_keys.iter().zip(&target_table.foreign_keys) {
            if names.contains(&fk.ref_table) && target_dialect == Dialect::Sqlite && created {
                // In the CREATE TABLE above.
            } else if names.contains(&fk.ref_table) && target_dialect != Dialect::Sqlite {
                warnings.extend(typemap::foreign_key_warnings(target_dialect, fk));
                target_ddl.push(typemap::foreign_key_ddl(
                    target_dialect,
                    target_schema.as_deref(),
                    &target_table.name,
                    target_fk,
                ));
            } else if target_dialect == Dialect::Sqlite {
                warnings.push(format!(
                    "foreign key {} is not recreated: the target table exists and SQLite cannot add constraints to an existing table",
                    fk.name
                ));
            } else {
                warnings.push(format!(
                    "foreign key {} references {}, which is not part of the job; not recreated",
                    fk.name, fk.ref_table
                ));
            }
        }

        // This table's batches and those of the tables still to plan (one
        // each at least) must fit the job's budget.
        let tables_after = tables.len() - report_tables.len() - 1;
        let (copy_mode, table_batches, rows) = if table.key.is_empty() {
            if batches.len() + 1 + tables_after > limits.max_batches_per_job {
                return Err(PlanFail::TooLarge(format!(
                    "the plan needs more than {} batches (FREIGHT_MAX_BATCHES_PER_JOB): \
                     each table without a key is one batch; name fewer tables or split the job",
                    limits.max_batches_per_job
                )));
            }
            warnings.push(format!(
                "table {} has no primary key or unique NOT NULL index: it is copied whole, in one batch that clears the target table and copies every row in one transaction (a retry copies it whole again); name a key in key_columns to cut it in ranges",
                table.name
            ));
            let mut all = Predicate::new(source.dialect());
            all.whole_table();
            let rows = read::count(source, source_schema.as_deref(), table, &all).await?;
            let batch = PlannedBatch {
                table_name: table.name.clone(),
                key_start: None,
                key_end: None,
            };
            (CopyMode::WholeTable, vec![batch], rows)
        } else {
            // Every table costs at least one batch; what is left of the
            // job's budget bounds this table's boundaries before they are
            // collected.
            let budget = BatchBudget {
                remaining: limits
                    .max_batches_per_job
                    .saturating_sub(batches.len() + 1 + tables_after),
                limit: limits.max_batches_per_job,
                key_bytes_remaining: limits.max_key_bytes_per_job.saturating_sub(key_bytes),
                key_bytes_limit: limits.max_key_bytes_per_job,
                batch_size: job.batch_size,
                rows_before: report_tables
                    .iter()
                    .map(|t: &TablePlan| t.rows_estimate)
                    .sum(),
            };
            let (bounds, rows, bytes) =
                key_boundaries(source, source_schema.as_deref(), table, &budget).await?;
            key_bytes = key_bytes.saturating_add(bytes);
            (CopyMode::KeyRanges, ranges(&table.name, bounds), rows)
        };
        report_tables.push(TablePlan {
            table_name: table.name.clone(),
            key_columns: table.key_names(),
            copy_mode,
            rows_estimate: rows,
            batch_count: table_batches.len() as i64,
            target_ddl,
            warnings,
        });
        batches.extend(table_batches);
    }
    // Views come after the tables (finish_job creates them).
    let views = views::plan(
        source,
        source_schema.as_deref().unwrap_or_default(),
        &tables,
        target_dialect,
        target.is_some_and(Pool::privileged_on_freight_server),
        target_schema.as_deref(),
        job.identifiers,
        &mut schema_budget,
    )
    .await?;
    job_warnings.extend(views.iter().map(views::ViewPlan::message));
    if prepare_target && target.is_none() {
        job_warnings.push("target unavailable: tables not created".into());
    }

    let report = PlanReport {
        total_rows_estimate: report_tables.iter().map(|t| t.rows_estimate).sum(),
        total_batches: batches.len() as i64,
        tables: report_tables,
        warnings: job_warnings,
    };
    Ok(JobPlan { report, batches })
}

/// MySQL zero dates (`0000-00-00`, or a zero month or day) have no value in
/// any other database and are copied as NULL: a warning per DATE/DATETIME/
/// TIMESTAMP column that holds any, with how many. One pass over the table
/// counts them for all such columns at once (a full scan unless the table
/// has none: about 0.8 s per million 170-byte rows on the development
/// machine; the copy reads every row anyway).
async fn zero_date_warnings(
    pool: &Pool,
    table: &Table,
    mode: ZeroDates,
) -> Result<Vec<String>, Failure> {
    let Pool::MySql(my) = pool else {
        return Ok(Vec::new());
    };
    let dates: Vec<&Column> = table
        .columns
        .iter()
        .filter(|c| {
            matches!(
                c.logical,
                Logical::Date | Logical::DateTime | Logical::DateTimeTz
            )
        })
        .collect();
    if dates.is_empty() {
        return Ok(Vec::new());
    }
    let sums: Vec<String> = dates
        .iter()
        .map(|c| {
            let column = ident(Dialect::MySql, &c.name);
            format!(
                "CAST(COALESCE(SUM(MONTH({column}) = 0 OR DAYOFMONTH({column}) = 0), 0) AS SIGNED)"
            )
        })
        .collect();
    let sql = format!(
        "SELECT {} FROM {}",
        sums.join(", "),
        qualified(Dialect::MySql, None, &table.name)
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_one(my)
        .await
        .map_err(|e| classify(&e, "counting zero dates"))?;
    let mut warnings = Vec::new();
    for (i, col) in dates.iter().enumerate() {
        let n: i64 =
            sqlx::Row::try_get(&row, i).map_err(|e| classify(&e, "counting zero dates"))?;
        if n == 0 {
            continue;
        }
        let fate = match mode {
            ZeroDates::Reject => " are rejected records (zero_dates: reject)",
            ZeroDates::Null if col.nullable => " are copied as NULL (zero_dates: null)",
            ZeroDates::Null => {
                " are rejected records: zero_dates: null copies them as NULL, which the NOT NULL column refuses"
            }
        };
        warnings.push(format!(
            "column {}: zero dates (0000-00-00 or a zero month/day) in {n} row(s){fate}",
            col.name
        ));
    }
    Ok(warnings)
}

/// Every table named in `key_columns` must be one the job copies.
fn check_key_columns_tables(job: &JobContext, names: &[String]) -> Result<(), PlanFail> {
    let folded: HashSet<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
    let unknown: Vec<&str> = job
        .key_columns
        .keys()
        .filter(|t| !folded.contains(&t.to_ascii_lowercase()))
        .map(String::as_str)
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(PlanFail::Invalid {
        field: "key_columns",
        message: format!(
            "key_columns names table(s) the job does not copy: {}",
            unknown.join(", ")
        ),
    })
}

/// A named key column that holds NULL would lose rows: no key range holds
/// them. One probe, only for nullable columns.
async fn null_in_key(
    pool: &Pool,
    schema: Option<&str>,
    table: &Table,
) -> Result<Option<String>, Failure> {
    let dialect = pool.dialect();
    let nullable: Vec<&Column> = table
        .key_columns()
        .into_iter()
        .filter(|c| c.nullable)
        .collect();
    if nullable.is_empty() {
        return Ok(None);
    }
    let test: Vec<String> = nullable
        .iter()
        .map(|c| format!("{} IS NULL", ident(dialect, &c.name)))
        .collect();
    let sql = format!(
        "SELECT 1 FROM {} WHERE {} LIMIT 1",
        from(dialect, schema, table),
        test.join(" OR ")
    );
    let found = read::first_row(pool, sql, &Predicate::new(dialect), &[]).await?;
    Ok(found.map(|_| {
        let names: Vec<&str> = nullable.iter().map(|c| c.name.as_str()).collect();
        format!(
            "table {}: key column(s) {} hold NULL, which no key range can address",
            table.name,
            names.join(", ")
        )
    }))
}

/// After the target refused `table`: each CHECK and each generated
/// expression is tried on its own, on the table without the others
/// ([`ddl::try_create`], which leaves nothing behind), and those the
/// target refuses are taken out of `table`, a warning naming each (a
/// generated column then holds the source's values). Nothing is taken out
/// (and no warning returned) when the table without any of them is refused
/// too: the cause is elsewhere (see [`adapt::simpler`]).
async fn leave_out_refused_expressions(
    pool: Option<&Pool>,
    dialect: Dialect,
    schema: Option<&str>,
    table: &mut Table,
    collation: &str,
) -> Result<Vec<String>, Failure> {
    let generated: Vec<usize> = (0..table.columns.len())
        .filter(|&i| table.columns[i].generated.is_some())
        .collect();
    if table.checks.is_empty() && generated.is_empty() {
        return Ok(Vec::new());
    }
    let mut bare = table.clone();
    bare.checks.clear();
    for col in &mut bare.columns {
        col.generated = None;
    }
    let attempt = |t: Table| async move {
        let (statements, _) = typemap::create_table(dialect, schema, &t, collation);
        match statements.first() {
            Some(create) => ddl::try_create(pool, dialect, &t.name, create).await,
            None => Ok(Ok(())),
        }
    };
    if attempt(bare.clone()).await?.is_err() {
        return Ok(Vec::new());
    }
    let mut warnings = Vec::new();
    let mut kept = Vec::with_capacity(table.checks.len());
    for check in &table.checks {
        let mut one = bare.clone();
        one.checks = vec![check.clone()];
        match attempt(one).await? {
            Ok(()) => kept.push(check.clone()),
            Err(why) => warnings.push(format!(
                "CHECK constraint {} ({}) is not recreated: the target refused it ({why})",
                check.name, check.expression
            )),
        }
    }
    table.checks = kept;
    for i in generated {
        let mut one = bare.clone();
        one.columns[i].generated = table.columns[i].generated.clone();
        one.columns[i].generated_virtual = table.columns[i].generated_virtual;
        if let Err(why) = attempt(one).await? {
            let col = &mut table.columns[i];
            warnings.push(format!(
                "column {}: generated column ({}) is created as a plain column holding the values the source computed: the target refused its expression ({why})",
                col.name,
                col.generated.as_deref().unwrap_or_default()
            ));
            col.generated = None;
        }
    }
    Ok(warnings)
}

/// The table's statements one by one, through the DDL guard, on `pool`;
/// without one (a preview) only the guard's check, on SQLite.
async fn create_table(
    pool: Option<&Pool>,
    dialect: Dialect,
    table: &str,
    statements: &[String],
) -> Result<(), Failure> {
    for sql in statements {
        match pool {
            Some(pool) => ddl::apply(pool, sql, ddl::Expect::CreateTable(table)).await?,
            None if dialect == Dialect::Sqlite => {
                ddl::check_sqlite(sql, ddl::Expect::CreateTable(table))
                    .map_err(Failure::Permanent)?;
            }
            None => {}
        }
    }
    Ok(())
}

/// How many more boundaries one table may add to the job's plan.
struct BatchBudget {
    /// Boundaries this table may still produce.
    remaining: usize,
    /// `FREIGHT_MAX_BATCHES_PER_JOB`.
    limit: usize,
    batch_size: u32,
    /// Rows of the tables planned before this one.
    rows_before: i64,
    /// Bytes of key values this table's boundaries may still take.
    key_bytes_remaining: usize,
    /// `FREIGHT_MAX_PLAN_KEY_BYTES`.
    key_bytes_limit: usize,
}

impl BatchBudget {
    /// Refuses the plan once `rows` of this table are known or estimated to
    /// need more boundaries than remain, naming a batch size that fits.
    fn check(&self, boundaries: usize, rows: i64) -> Result<(), PlanFail> {
        if boundaries <= self.remaining {
            return Ok(());
        }
        let rows = u64::try_from(self.rows_before.saturating_add(rows)).unwrap_or(u64::MAX);
        let limit = u64::try_from(self.limit.max(1)).unwrap_or(u64::MAX);
        // Leave a quarter of headroom for estimates that run low.
        let suggested = (rows.div_ceil(limit).saturating_mul(5) / 4)
            .max(u64::from(self.batch_size).saturating_mul(2))
            .min(u64::from(freight_core::job::MAX_BATCH_SIZE));
        Err(PlanFail::TooLarge(format!(
            "the plan needs more than {} batches (FREIGHT_MAX_BATCHES_PER_JOB) at batch_size {}; \
             use batch_size {suggested} or more",
            self.limit, self.batch_size
        )))
    }

    /// Refuses the plan once its boundaries' key values take more bytes
    /// than the job may hold.
    fn check_bytes(&self, table: &str, bytes: usize) -> Result<(), PlanFail> {
        if bytes <= self.key_bytes_remaining {
            return Ok(());
        }
        Err(PlanFail::TooLarge(format!(
            "table {table}: key values too large to plan: the boundaries of the plan take more than \
             {} bytes (FREIGHT_MAX_PLAN_KEY_BYTES) at batch_size {}; use a larger batch_size or a \
             shorter key (key_columns)",
            self.key_bytes_limit, self.batch_size
        )))
    }
}

/// What a boundary key costs the plan: the bytes of its values as the plan
/// stores them (bytes in hex), at least 8 each.
fn key_bytes(row: &[Value]) -> usize {
    row.iter()
        .map(|v| {
            match v {
                Value::Text(s) | Value::Decimal(s) | Value::Json(s) => s.len(),
                Value::Bytes(b) => 2 + 2 * b.len(),
                _ => 8,
            }
            .max(8)
        })
        .sum()
}

/// Whether a key column's values can be long (text, bytes, numbers as
/// text, ...): those are measured before any is read.
fn variable_length(logical: &Logical) -> bool {
    !matches!(
        logical,
        Logical::Bool
            | Logical::Int(_)
            | Logical::UInt64
            | Logical::Float32
            | Logical::Float64
            | Logical::Date
            | Logical::Time
            | Logical::Duration
            | Logical::DateTime
            | Logical::DateTimeTz
            | Logical::Uuid
    )
}

/// Refuses a key whose longest values (all key columns of a row together)
/// exceed [`MAX_KEY_VALUE_BYTES`], by one aggregate the server computes:
/// no boundary is read before its size is known to be small. A full scan
/// of the key columns, as the walk is; only for variable-length keys.
async fn check_key_lengths(
    pool: &Pool,
    schema: Option<&str>,
    table: &Table,
) -> Result<(), PlanFail> {
    let dialect = pool.dialect();
    let long: Vec<&Column> = table
        .key_columns()
        .into_iter()
        .filter(|c| variable_length(&c.logical))
        .collect();
    if long.is_empty() {
        return Ok(());
    }
    let lengths: Vec<String> = long
        .iter()
        .map(|c| {
            let expr = c
                .select_expr
                .clone()
                .unwrap_or_else(|| ident(dialect, &c.name));
            match dialect {
                Dialect::Postgres => format!("COALESCE(octet_length(({expr})::text), 0)::bigint"),
                Dialect::MySql => format!("COALESCE(LENGTH({expr}), 0)"),
                Dialect::Sqlite => format!("COALESCE(length(CAST({expr} AS BLOB)), 0)"),
            }
        })
        .collect();
    let max = match dialect {
        Dialect::MySql => format!("CAST(COALESCE(MAX({}), 0) AS SIGNED)", lengths.join(" + ")),
        _ => format!("COALESCE(MAX({}), 0)", lengths.join(" + ")),
    };
    let sql = format!("SELECT {max} FROM {}", from(dialect, schema, table));
    let ctx = "measuring key values";
    let longest: i64 = pool.fetch_i64(sql).await.map_err(|e| classify(&e, ctx))?;
    if longest <= MAX_KEY_VALUE_BYTES {
        return Ok(());
    }
    let names: Vec<&str> = table
        .key_columns()
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    Err(PlanFail::TooLarge(format!(
        "table {}: key values too large to plan: key ({}) values of up to {longest} bytes, \
         at most {MAX_KEY_VALUE_BYTES} per row; name a shorter key in key_columns",
        table.name,
        names.join(", ")
    )))
}

/// The first key of every range after the first, and the row count
/// (exact from a walk, estimated for arithmetic ranges).
async fn key_boundaries(
    pool: &Pool,
    schema: Option<&str>,
    table: &Table,
    budget: &BatchBudget,
) -> Result<(Vec<Vec<Value>>, i64, usize), PlanFail> {
    let batch_size = budget.batch_size;
    // The statistics say enough to refuse before anything is walked.
    let estimate = introspect::row_estimate(pool, schema.unwrap_or_default(), &table.name).await?;
    if let Some(estimate) = estimate {
        let needed = u64::try_from(estimate).unwrap_or(0) / u64::from(batch_size.max(1));
        budget.check(usize::try_from(needed).unwrap_or(usize::MAX), estimate)?;
    }
    if let Some((bounds, rows)) =
        arithmetic_boundaries(pool, schema, table, budget, estimate).await?
    {
        let bytes = bounds.len().saturating_mul(8);
        budget.check_bytes(&table.name, bytes)?;
        return Ok((bounds, rows, bytes));
    }
    check_key_lengths(pool, schema, table).await?;
    if table.key == table.primary_key {
        refuse_rows_beyond_budget(pool, schema, table, budget).await?;
    }
    walked_boundaries(pool, schema, table, budget).await
}

/// Before a walk: the rows the budget's boundaries can cut, counted by
/// the server and no further. Statistics that lie (or none, as on SQLite)
/// say nothing of a table's size, and walking a big one a batch at a time
/// to find out takes up to 100,000 round trips; counting to the limit
/// reads no more than that walk would, in one query. Only for unique keys:
/// rows that share a named (non-unique) key value need fewer boundaries.
async fn refuse_rows_beyond_budget(
    pool: &Pool,
    schema: Option<&str>,
    table: &Table,
    budget: &BatchBudget,
) -> Result<(), PlanFail> {
    let step = u64::from(budget.batch_size.max(1));
    // One more row than `remaining` boundaries can hold.
    let cap = u64::try_from(budget.remaining)
        .unwrap_or(u64::MAX)
        .saturating_add(1)
        .saturating_mul(step)
        .saturating_add(1);
    let cap = i64::try_from(cap).unwrap_or(i64::MAX);
    let sql = format!(
        "SELECT COUNT(*) FROM (SELECT 1 FROM {} LIMIT {cap}) freight_n",
        from(pool.dialect(), schema, table)
    );
    let counted: i64 = pool
        .fetch_i64(sql)
        .await
        .map_err(|e| classify(&e, "counting rows"))?;
    if counted < cap {
        return Ok(());
    }
    budget.check(budget.remaining.saturating_add(1), counted)
}

/// Estimated rows below which the key walk is cheap enough to always run
/// (and gives an exact count).
const WALK_BELOW_BATCHES: i64 = 16;

/// A single integer key that the database's statistics call dense is cut
/// by arithmetic: `[min + i·batch_size, min + (i+1)·batch_size)`. A range
/// of `batch_size` consecutive key values never holds more than
/// `batch_size` rows (exactly that many where the key has no gaps), and
/// planning costs two index lookups instead of a walk over every key (the
/// walk reads the whole clustered index of an InnoDB table: 1.4 s for 2M
/// rows). `None` (walk instead) for other keys, small or unanalyzed
/// tables, and keys so sparse that arithmetic ranges would mostly be empty.
async fn arithmetic_boundaries(
    pool: &Pool,
    schema: Option<&str>,
    table: &Table,
    budget: &BatchBudget,
    estimate: Option<i64>,
) -> Result<Option<(Vec<Vec<Value>>, i64)>, PlanFail> {
    let batch_size = budget.batch_size;
    let key_cols: Vec<Column> = table.key_columns().into_iter().cloned().collect();
    let [key] = key_cols.as_slice() else {
        return Ok(None);
    };
    if !matches!(key.logical, Logical::Int(_)) {
        return Ok(None);
    }
    let step = i64::from(batch_size.max(1));
    let Some(estimate) = estimate else {
        return Ok(None);
    };
    if estimate < WALK_BELOW_BATCHES * step {
        return Ok(None);
    }
    let dialect = pool.dialect();
    let column = ident(dialect, &key.name);
    let select = key.select_expr.clone().unwrap_or_else(|| column.clone());
    let from = from(dialect, schema, table);
    let none = Predicate::new(dialect);
    let mut ends = Vec::with_capacity(2);
    for order in ["ASC", "DESC"] {
        let sql =
            format!("SELECT {select} AS freight_k0 FROM {from} ORDER BY {column} {order} LIMIT 1");
        match read::first_row(pool, sql, &none, &key_cols)
            .await?
            .as_deref()
        {
            Some([Value::Int(v)]) => ends.push(*v),
            _ => return Ok(None),
        }
    }
    let [min, max] = ends[..] else {
        return Ok(None);
    };
    let span = i128::from(max) - i128::from(min) + 1;
    let ranges = (span + i128::from(step) - 1) / i128::from(step);
    // Density below one half by the statistics: too many empty ranges.
    let needed = (i128::from(estimate) + i128::from(step) - 1) / i128::from(step);
    if ranges > 2 * needed + 1 {
        return Ok(None);
    }
    // Refused before a single boundary is allocated.
    let count = usize::try_from(ranges - 1).unwrap_or(usize::MAX);
    budget.check(count, estimate)?;
    budget.check_bytes(&table.name, count.saturating_mul(8))?;
    let bounds: Result<Vec<Vec<Value>>, _> = (1..ranges)
        .map(|i| i64::try_from(i128::from(min) + i * i128::from(step)).map(|b| vec![Value::Int(b)]))
        .collect();
    let Ok(bounds) = bounds else {
        return Ok(None);
    };
    // InnoDB's estimate is often 5-10 % off; a key it calls 90 % dense is
    // counted as gap-free, so that progress does not read 100 % while the
    // last ranges still run.
    let rows = match i64::try_from(span) {
        Ok(span) if estimate.saturating_mul(10) >= span.saturating_mul(9) => span,
        Ok(span) => estimate.min(span),
        Err(_) => estimate,
    };
    Ok(Some((bounds, rows)))
}

/// Walks the key in order and returns the first key of every range after
/// the first, plus the exact row count. Each probe seeks to the previous
/// boundary through the key index and steps `batch_size` entries
/// (`WHERE key >= last ORDER BY key LIMIT 1 OFFSET n`): O(batch_size) per
/// probe, O(rows) in all, reading key columns only. Data is never read by
/// OFFSET; batches are read by key range.
async fn walked_boundaries(
    pool: &Pool,
    schema: Option<&str>,
    table: &Table,
    budget: &BatchBudget,
) -> Result<(Vec<Vec<Value>>, i64, usize), PlanFail> {
    let batch_size = budget.batch_size;
    let dialect = pool.dialect();
    let mut bytes = 0usize;
    let key_cols: Vec<Column> = table.key_columns().into_iter().cloned().collect();
    let key = key_cols
        .iter()
        .map(|c| (c.name.clone(), c.source_type.clone()))
        .collect::<Vec<_>>();
    // Aliased: PostgreSQL resolves ORDER BY names to *output* columns first,
    // and `"id"::text` would be output as "id" and sorted as text.
    let select: Vec<String> = key_cols
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let expr = c
                .select_expr
                .clone()
                .unwrap_or_else(|| ident(dialect, &c.name));
            format!("{expr} AS freight_k{i}")
        })
        .collect();
    let order: Vec<String> = key_cols.iter().map(|c| ident(dialect, &c.name)).collect();
    let step = batch_size.max(1);
    let mut bounds: Vec<Vec<Value>> = Vec::new();
    loop {
        let mut pred = Predicate::new(dialect);
        pred.key_range(&key, bounds.last().map(Vec::as_slice), None);
        let sql = format!(
            "SELECT {} FROM {} WHERE {} ORDER BY {} LIMIT 1 OFFSET {step}",
            select.join(", "),
            from(dialect, schema, table),
            pred.sql,
            order.join(", ")
        );
        let row = match read::first_row(pool, sql, &pred, &key_cols).await? {
            // More than a batch of rows share the last boundary's value (a
            // key named in key_columns need not be unique): the next range
            // starts at the next value.
            Some(row) if bounds.last() == Some(&row) => {
                let mut after = Predicate::new(dialect);
                after.key_after(&key, &row);
                let sql = format!(
                    "SELECT {} FROM {} WHERE {} ORDER BY {} LIMIT 1",
                    select.join(", "),
                    from(dialect, schema, table),
                    after.sql,
                    order.join(", ")
                );
                read::first_row(pool, sql, &after, &key_cols).await?
            }
            other => other,
        };
        match row {
            Some(row) if row.iter().all(|v| *v != Value::Null) => {
                bytes = bytes.saturating_add(key_bytes(&row));
                budget.check_bytes(&table.name, bytes)?;
                bounds.push(row);
                let walked = i64::try_from(bounds.len()).unwrap_or(i64::MAX);
                budget.check(bounds.len(), walked.saturating_mul(i64::from(step)))?;
            }
            Some(_) => {
                return Err(PlanFail::Failure(Failure::Permanent(format!(
                    "table {}: NULL in key column; rows with a NULL key cannot be addressed",
                    table.name
                ))));
            }
            None => break,
        }
    }
    let mut tail = Predicate::new(dialect);
    tail.key_range(&key, bounds.last().map(Vec::as_slice), None);
    let last = read::count(pool, schema, table, &tail).await?;
    let rows = bounds.len() as i64 * i64::from(step) + last;
    Ok((bounds, rows, bytes))
}

/// Turns boundaries into ranges: `[-inf, b0)`, `[b0, b1)`, ..., `[bn, +inf)`.
/// The open ends catch rows added below the first or above the last key.
/// Consumes the boundaries: each is freed as it is converted, so a plan
/// holds its keys as values and as JSON only one boundary at a time.
fn ranges(table: &str, bounds: Vec<Vec<Value>>) -> Vec<PlannedBatch> {
    let to_json =
        |row: Vec<Value>| serde_json::Value::Array(row.into_iter().map(Value::into_json).collect());
    let mut out = Vec::with_capacity(bounds.len() + 1);
    let mut start: Option<serde_json::Value> = None;
    for b in bounds {
        let end = to_json(b);
        out.push(PlannedBatch {
            table_name: table.to_owned(),
            key_start: start.take(),
            key_end: Some(end.clone()),
        });
        start = Some(end);
    }
    out.push(PlannedBatch {
        table_name: table.to_owned(),
        key_start: start,
        key_end: None,
    });
    out
}
