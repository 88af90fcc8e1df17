//! Per-job state the engine caches: the two pools and, per table, the
//! source and target schemas matched column by column.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use freight_core::policy::ConnectionPolicy;
use tokio::sync::OnceCell;

use super::JobContext;
use super::connect::{self, Access, Pool, Side, Standing};
use super::error::Failure;
use super::model::{Dialect, Logical, Table};
use super::write::{DecimalLimit, WriteSpec, copy_binary};
use super::{introspect, names, own_server, spatial};

/// One table of a job, ready to copy.
#[derive(Debug)]
pub struct TableCtx {
    pub source: Table,
    /// The target table with its columns in the source's column order (so a
    /// source row is also a target row).
    pub target: Table,
    pub source_schema: Option<String>,
    pub target_schema: Option<String>,
    pub write: WriteSpec,
    /// How a batch's rows are found on the target.
    pub addressing: Addressing,
    /// The collation MySQL text keys are matched with (see
    /// [`introspect::exact_collation`]).
    pub exact_collation: &'static str,
}

/// How a batch addresses its rows on the target (to clear and to verify).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressing {
    /// By key range: the key orders the same way on both sides.
    KeyRange,
    /// By the exact keys read from the source (text, bytes, uuid keys:
    /// collations differ between databases).
    KeySet,
    /// No key: the table is one batch, which clears and refills the whole
    /// target table.
    WholeTable,
}

impl TableCtx {
    /// Key columns with their PostgreSQL type (for placeholder casts).
    pub fn source_key(&self) -> Vec<(String, String)> {
        key_of(&self.source)
    }

    pub fn target_key(&self) -> Vec<(String, String)> {
        key_of(&self.target)
    }
}

fn key_of(table: &Table) -> Vec<(String, String)> {
    table
        .key_columns()
        .iter()
        .map(|c| (c.name.clone(), c.source_type.clone()))
        .collect()
}

#[derive(Default)]
pub struct JobState {
    source: OnceCell<Pool>,
    target: OnceCell<Pool>,
    tables: Mutex<HashMap<String, Arc<TableCtx>>>,
}

impl JobState {
    pub async fn source(
        &self,
        job: &JobContext,
        policy: &ConnectionPolicy,
    ) -> Result<Pool, Failure> {
        self.source
            .get_or_try_init(|| async {
                connect::open(
                    policy,
                    &job.tenant,
                    &job.source,
                    Side::Source,
                    Access::ReadOnly,
                )
                .await?
                .ok_or_else(|| Failure::Permanent("the source database does not exist".into()))
            })
            .await
            .cloned()
    }

    pub async fn target(
        &self,
        job: &JobContext,
        policy: &ConnectionPolicy,
    ) -> Result<Pool, Failure> {
        self.target
            .get_or_try_init(|| async {
                connect::open(
                    policy,
                    &job.tenant,
                    &job.target,
                    Side::Target,
                    Access::ReadWrite,
                )
                .await?
                .ok_or_else(|| Failure::Permanent("the target database does not exist".into()))
            })
            .await
            .cloned()
    }

    pub async fn close(&self) {
        if let Some(p) = self.source.get() {
            p.close().await;
        }
        if let Some(p) = self.target.get() {
            p.close().await;
        }
    }

    /// The table's context, introspected once per job and process.
    pub async fn table(
        &self,
        job: &JobContext,
        policy: &ConnectionPolicy,
        name: &str,
    ) -> Result<Arc<TableCtx>, Failure> {
        if let Some(ctx) = self.tables.lock().ok().and_then(|t| t.get(name).cloned()) {
            return Ok(ctx);
        }
        let source = self.source(job, policy).await?;
        let target = self.target(job, policy).await?;
        let ctx = Arc::new(load_table(job, &source, &target, name).await?);
        if let Ok(mut tables) = self.tables.lock() {
            tables.insert(name.to_owned(), ctx.clone());
        }
        Ok(ctx)
    }
}

pub fn schema_of(
    pool: &Pool,
    config: &freight_core::connection::ConnectionConfig,
) -> Option<String> {
    (pool.dialect() == Dialect::Postgres).then(|| config.schema_or_default().to_owned())
}

async fn load_table(
    job: &JobContext,
    source: &Pool,
    target: &Pool,
    name: &str,
) -> Result<TableCtx, Failure> {
    let source_schema = schema_of(source, &job.source);
    let target_schema = schema_of(target, &job.target);
    let mut src = introspect::table(source, source_schema.as_deref().unwrap_or_default(), name)
        .await?
        .ok_or_else(|| Failure::Permanent(format!("table {name} not found in the source")))?;
    if let Some(named) = job.key_columns_for(name) {
        introspect::apply_key_columns(&mut src, named)
            .map_err(|m| Failure::Permanent(format!("key_columns: {m}")))?;
    }
    let target_name = names::table_name(job.identifiers, name);
    // Checked again before each process copies or validates (planning
    // checked too, but the schemas may have changed since).
    if let Pool::Postgres(pg, Standing::PrivilegedOnFreightServer) = source {
        let schema = source_schema.as_deref().unwrap_or_default();
        own_server::refuse_user_hooks(pg, "source", schema, name).await?;
    }
    if let Pool::Postgres(pg, Standing::PrivilegedOnFreightServer) = target {
        let schema = target_schema.as_deref().unwrap_or_default();
        // What the copy may write: the source's columns, as the target
        // names them (each batch checks the exact list again).
        let written: Vec<String> = src
            .columns
            .iter()
            .map(|c| names::table_name(job.identifiers, &c.name))
            .collect();
        if let Some(refusal) =
            own_server::evaluated_objects_refusal(pg, schema, &target_name, &written).await?
        {
            return Err(Failure::Permanent(refusal));
        }
        own_server::refuse_user_hooks(pg, "target", schema, &target_name).await?;
    }
    let mut tgt = introspect::table(
        target,
        target_schema.as_deref().unwrap_or_default(),
        &target_name,
    )
    .await?
        .ok_or_else(|| {
            Failure::Permanent(format!(
                "table {target_name} does not exist on the target (planning with prepare_target creates it)"
            ))
        })?;
    // The target computes its generated columns itself: they are neither
    // written nor compared. A source's generated column the target lacks is
    // left out too (the target need not have it).
    drop_columns(&mut src, |c| {
        tgt.column(&names::table_name(job.identifiers, &c.name))
            .map_or(c.generated.is_some(), |t| t.generated.is_some())
    });
    // MySQL → MySQL: `tinyint(1)` values are copied and compared as the
    // integers they are (see `adapt::for_target`).
    if src.dialect == Dialect::MySql && tgt.dialect == Dialect::MySql {
        src.keep_tinyint1_as_integer();
        tgt.keep_tinyint1_as_integer();
    }
    let exact_collation = introspect::exact_collation(target).await?;
    let mut target = match_columns(&src, &tgt)?;
    // MySQL spatial columns that are PostGIS geometry on the target travel
    // as EWKB bytes (see `spatial`).
    let mut geometry = Vec::new();
    if src.dialect == Dialect::MySql {
        for (i, (s, t)) in src.columns.iter_mut().zip(&mut target.columns).enumerate() {
            if spatial::postgis_type(&s.source_type).is_some()
                && matches!(&t.logical, Logical::Other(ty) if spatial::is_geometry(ty))
            {
                s.select_expr = Some(spatial::mysql_ewkb_sql(&s.name));
                t.logical = Logical::Bytes;
                t.select_expr = Some(spatial::pg_ewkb_sql(&t.name));
                geometry.push(i);
            }
        }
    }
    let mut write = WriteSpec::new(
        target.dialect,
        target_schema.as_deref(),
        &target.name,
        target.columns.iter().map(|c| c.name.clone()).collect(),
    );
    write.bare_hex = geometry;
    // Binary COPY unless disabled (FREIGHT_ENGINE_COPY=text, for comparison).
    let text_only = std::env::var("FREIGHT_ENGINE_COPY").is_ok_and(|v| v == "text");
    if target.dialect == Dialect::Postgres && !text_only {
        write.binary = copy_binary::plan_types(src.dialect, &src.columns, &target.columns);
    }
    if target.dialect == Dialect::MySql {
        write.decimal_limits = src
            .columns
            .iter()
            .zip(&target.columns)
            .enumerate()
            .filter_map(|(i, (s, t))| DecimalLimit::between(i, &s.logical, &t.logical))
            .collect();
        // A string bound to a MySQL bit column is taken as its bytes.
        write.converted = target
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| matches!(c.logical, Logical::Bits(_)))
            .map(|(i, _)| (i, "CAST(CONV(?, 2, 10) AS UNSIGNED)"))
            .collect();
    }
    let addressing = if src.key.is_empty() {
        Addressing::WholeTable
    } else if src.range_addressable() && target.range_addressable() {
        Addressing::KeyRange
    } else {
        Addressing::KeySet
    };
    Ok(TableCtx {
        addressing,
        exact_collation,
        source: src,
        target,
        source_schema,
        target_schema,
        write,
    })
}

/// Removes the columns `drop` picks (never key columns), keeping the
/// key's column indexes right.
fn drop_columns(table: &mut Table, drop: impl Fn(&super::model::Column) -> bool) {
    let keep: Vec<bool> = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| table.key.contains(&i) || table.primary_key.contains(&i) || !drop(c))
        .collect();
    if keep.iter().all(|k| *k) {
        return;
    }
    let mut new_index = Vec::with_capacity(keep.len());
    let mut next = 0;
    for k in &keep {
        new_index.push(next);
        if *k {
            next += 1;
        }
    }
    let remap = |ids: &[usize]| ids.iter().map(|&i| new_index[i]).collect::<Vec<_>>();
    table.key = remap(&table.key);
    table.primary_key = remap(&table.primary_key);
    let mut flags = keep.into_iter();
    table.columns.retain(|_| flags.next().unwrap_or(true));
}

/// The target table re-ordered to the source's columns; a source column
/// missing on the target is an error (its data would be lost).
pub fn match_columns(source: &Table, target: &Table) -> Result<Table, Failure> {
    let mut missing = Vec::new();
    let mut columns = Vec::with_capacity(source.columns.len());
    for col in &source.columns {
        match target.column(&col.name) {
            Some(t) => columns.push(t.clone()),
            // Left out of the copy (see `load_table`).
            None if col.generated.is_some() => {}
            None => missing.push(col.name.clone()),
        }
    }
    if !missing.is_empty() {
        return Err(Failure::Permanent(format!(
            "target table {} lacks source columns: {}",
            target.name,
            missing.join(", ")
        )));
    }
    Ok(Table {
        dialect: target.dialect,
        name: target.name.clone(),
        columns,
        key: source.key.clone(),
        primary_key: source.primary_key.clone(),
        indexes: target.indexes.clone(),
        foreign_keys: target.foreign_keys.clone(),
        checks: target.checks.clone(),
        exclusions: target.exclusions.clone(),
        comment: target.comment.clone(),
        inherited_by: target.inherited_by.clone(),
        warnings: Vec::new(),
    })
}
