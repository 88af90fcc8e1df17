//! Writing neutral rows into a target transaction: PostgreSQL by COPY,
//! MySQL and SQLite by multi-row INSERTs with bound parameters.

pub mod copy_binary;
mod copy_text;
pub mod merge;

use copy_binary::BinType;

use sqlx::{Executor, MySql, Postgres, Sqlite, Transaction};
use tokio::sync::mpsc;

use super::bind;
use super::connect::{Pool, Standing};
use super::context::TableCtx;
use super::error::{Failure, classify};
use super::model::{Dialect, Row};
use super::own_server;
use super::sql::{PG_PREFER_INDEX, Predicate, ident, table as qualified, values_placeholders};

/// Where rows go: a target table and its columns, in the order of the
/// values in each row.
#[derive(Debug, Clone)]
pub struct WriteSpec {
    pub dialect: Dialect,
    /// The table's name, for messages.
    pub table: String,
    pub qualified_table: String,
    pub columns: Vec<String>,
    /// Binary COPY wire types when every column allows it (PostgreSQL).
    pub binary: Option<Vec<BinType>>,
    /// Columns whose bound value is converted by the target on insert
    /// (MySQL `bit(n)`: the 0/1 digits become a number); empty when none.
    pub converted: Vec<(usize, &'static str)>,
    /// Columns whose bytes text COPY writes as bare hex, not bytea's
    /// `\x` form (PostGIS `geometry` takes hex EWKB); empty when none.
    pub bare_hex: Vec<usize>,
    /// MySQL decimal columns narrower than their source's type, checked
    /// value by value before writing; empty when none.
    pub decimal_limits: Vec<DecimalLimit>,
}

/// A MySQL target `decimal(precision, scale)` column whose source decimal
/// can hold more digits. MySQL rounds extra fraction digits even in strict
/// mode (MariaDB: only a note, 1265), so such a value is refused here,
/// as a record naming its column, before it is quietly changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecimalLimit {
    pub column: usize,
    pub precision: u32,
    pub scale: u32,
}

impl DecimalLimit {
    /// The limit for a source decimal written to a MySQL target decimal
    /// column, when the source can exceed it.
    pub fn between(
        column: usize,
        source: &super::model::Logical,
        target: &super::model::Logical,
    ) -> Option<Self> {
        use super::model::Logical;
        let Logical::Decimal {
            precision: Some(precision),
            scale,
        } = target
        else {
            return None;
        };
        let scale = scale.unwrap_or(0);
        let Logical::Decimal {
            precision: source_precision,
            scale: source_scale,
        } = source
        else {
            return None;
        };
        let source_scale = source_scale.unwrap_or(0);
        let wider = match source_precision {
            None => true,
            Some(p) => {
                source_scale > scale
                    || p.saturating_sub(source_scale) > precision.saturating_sub(scale)
            }
        };
        wider.then_some(Self {
            column,
            precision: *precision,
            scale,
        })
    }

    /// Why `value` does not fit, if it does not: more fraction digits than
    /// the scale (trailing zeros aside) or more integer digits than
    /// precision − scale. Text that is not a plain decimal (`NaN`) is left
    /// to the target to refuse.
    fn misfit(&self, value: &str) -> Option<String> {
        let digits = value.strip_prefix(['-', '+']).unwrap_or(value);
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let int = int.trim_start_matches('0');
        let frac = frac.trim_end_matches('0');
        let (p, s) = (self.precision, self.scale);
        if frac.len() > s as usize {
            Some(format!(
                "{value} has {} fraction digits; the target's decimal({p},{s}) keeps {s} (MySQL would round it)",
                frac.len()
            ))
        } else if int.len() > p.saturating_sub(s) as usize {
            Some(format!(
                "{value} has {} integer digits; the target's decimal({p},{s}) keeps {}",
                int.len(),
                p.saturating_sub(s)
            ))
        } else {
            None
        }
    }
}

/// A decimal the MySQL target would round, as a record error naming its
/// table and column (the caller adds the key).
fn decimal_failure(spec: &WriteSpec, row: &Row) -> Option<Failure> {
    spec.decimal_limits.iter().find_map(|limit| {
        let super::model::Value::Decimal(value) = row.get(limit.column)? else {
            return None;
        };
        let why = limit.misfit(value)?;
        let column = spec.columns.get(limit.column).cloned();
        Some(Failure::Data {
            message: format!(
                "table {}, column {}: {why}",
                spec.table,
                column.as_deref().unwrap_or("?")
            ),
            column,
        })
    })
}

impl WriteSpec {
    pub fn new(dialect: Dialect, schema: Option<&str>, table: &str, columns: Vec<String>) -> Self {
        Self {
            dialect,
            table: table.to_owned(),
            qualified_table: qualified(dialect, schema, table),
            columns,
            binary: None,
            converted: Vec::new(),
            bare_hex: Vec::new(),
            decimal_limits: Vec::new(),
        }
    }

    /// `VALUES` groups for `rows` rows, with each converted column's
    /// placeholder wrapped in its conversion.
    fn values(&self, rows: usize) -> String {
        if self.converted.is_empty() || self.dialect == Dialect::Postgres {
            return values_placeholders(self.dialect, rows, self.columns.len());
        }
        let mut group = String::from("(");
        for i in 0..self.columns.len() {
            if i > 0 {
                group.push(',');
            }
            match self.converted.iter().find(|(c, _)| *c == i) {
                Some((_, template)) => group.push_str(template),
                None => group.push('?'),
            }
        }
        group.push(')');
        vec![group; rows].join(",")
    }

    fn column_list(&self) -> String {
        let cols: Vec<String> = self
            .columns
            .iter()
            .map(|c| ident(self.dialect, c))
            .collect();
        cols.join(", ")
    }

    fn copy_sql(&self) -> String {
        format!(
            "COPY {} ({}) FROM STDIN",
            self.qualified_table,
            self.column_list()
        )
    }

    fn copy_binary_sql(&self) -> String {
        format!(
            "COPY {} ({}) FROM STDIN (FORMAT binary)",
            self.qualified_table,
            self.column_list()
        )
    }

    /// Rows per INSERT: under the dialect's bound-parameter limit.
    fn rows_per_insert(&self) -> usize {
        let max_params = match self.dialect {
            Dialect::MySql => 65_535,
            _ => 32_766,
        };
        (max_params / self.columns.len().max(1)).clamp(1, 2_000)
    }
}

/// PostgreSQL text cannot hold U+0000: such a value is a record error
/// naming its table and column (the caller adds the key), instead of an
/// encoding error from the middle of a COPY that names neither.
fn nul_failure(spec: &WriteSpec, row: &Row) -> Option<Failure> {
    let i = row.iter().position(
        |v| matches!(v, super::model::Value::Text(s) | super::model::Value::Json(s) if s.contains('\0')),
    )?;
    let column = spec.columns.get(i).cloned();
    Some(Failure::Data {
        message: format!(
            "table {}, column {}: text holds a NUL character (U+0000), which PostgreSQL cannot store (the job option nul_characters: strip removes them)",
            spec.table,
            column.as_deref().unwrap_or("?")
        ),
        column,
    })
}

/// Aborts a COPY because of a bad row, returning the row's failure.
async fn abort_copy(
    copy: sqlx::postgres::PgCopyIn<&mut sqlx::PgConnection>,
    failure: Failure,
) -> Failure {
    let reason = match &failure {
        Failure::Data { message, .. }
        | Failure::Permanent(message)
        | Failure::Transient(message) => message.clone(),
        Failure::NotAllowed(violation) => violation.to_string(),
    };
    let _ = copy.abort(reason).await;
    failure
}

/// Bytes of row data per INSERT statement before it is sent (stays well
/// under MySQL's default 16 MB `max_allowed_packet`).
const INSERT_BYTES: usize = 4 << 20;

/// See [`TargetTx::begin`]. Whatever else uses a connection whose batch
/// never reached its commit or rollback (a cancelled task) and needs the
/// checks sets them itself (`finish_job` creating foreign keys).
const FOREIGN_KEY_CHECKS_OFF: &str = "SET SESSION foreign_key_checks = 0";
pub const FOREIGN_KEY_CHECKS_ON: &str = "SET SESSION foreign_key_checks = 1";

/// An open target transaction of one of the three dialects.
pub enum TargetTx {
    Postgres(Transaction<'static, Postgres>),
    MySql(Transaction<'static, MySql>),
    Sqlite(Transaction<'static, Sqlite>),
}

macro_rules! on_tx {
    ($self:expr, $tx:ident => $body:expr) => {
        match $self {
            TargetTx::Postgres($tx) => $body,
            TargetTx::MySql($tx) => $body,
            TargetTx::Sqlite($tx) => $body,
        }
    };
}

impl TargetTx {
    /// Opens a batch's transaction. On MySQL/MariaDB the session's
    /// `foreign_key_checks` is off until [`commit`](Self::commit) or
    /// [`rollback`](Self::rollback): InnoDB then neither checks nor applies
    /// the target's foreign keys, so clearing a range never cascades into
    /// (or is refused because of) the tables referencing it, and rows land
    /// in any order, as in a first run (foreign keys come last). SQLite
    /// connections have `foreign_keys` off; PostgreSQL merges instead (see
    /// [`merge`]).
    pub async fn begin(pool: &Pool) -> Result<Self, Failure> {
        let ctx = "opening the target transaction";
        Ok(match pool {
            Pool::Postgres(p, _) => Self::Postgres(p.begin().await.map_err(|e| classify(&e, ctx))?),
            Pool::MySql(p) => {
                let mut tx = p.begin().await.map_err(|e| classify(&e, ctx))?;
                tx.execute(FOREIGN_KEY_CHECKS_OFF)
                    .await
                    .map_err(|e| classify(&e, ctx))?;
                Self::MySql(tx)
            }
            Pool::Sqlite(p) => Self::Sqlite(p.begin().await.map_err(|e| classify(&e, ctx))?),
        })
    }

    /// The PostgreSQL connection of the transaction.
    pub fn postgres(&mut self) -> Option<&mut sqlx::PgConnection> {
        match self {
            Self::Postgres(tx) => Some(&mut **tx),
            _ => None,
        }
    }

    /// [`begin`](Self::begin) for writing `ctx`'s target table. On a login
    /// privileged on Freight's own server, the table is locked against
    /// changes of its definition first (`ROW EXCLUSIVE`, what the copy
    /// takes anyway: no trigger, constraint or rule can be added until the
    /// batch commits), then refused if it holds anything PostgreSQL would
    /// evaluate while the batch writes (see `own_server`).
    pub async fn begin_for(pool: &Pool, ctx: &TableCtx) -> Result<Self, Failure> {
        let mut tx = Self::begin(pool).await?;
        if let (Pool::Postgres(_, Standing::PrivilegedOnFreightServer), Self::Postgres(pg)) =
            (pool, &mut tx)
        {
            let schema = ctx.target_schema.as_deref().unwrap_or_default();
            let checked = async {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "LOCK TABLE {} IN ROW EXCLUSIVE MODE",
                    ctx.write.qualified_table
                )))
                .execute(&mut **pg)
                .await
                .map_err(|e| classify(&e, "locking the target table"))?;
                match own_server::evaluated_objects_refusal(
                    &mut **pg,
                    schema,
                    &ctx.target.name,
                    &ctx.write.columns,
                )
                .await?
                {
                    Some(refusal) => Err(Failure::Permanent(refusal)),
                    None => Ok(()),
                }
            }
            .await;
            if let Err(failure) = checked {
                let _ = tx.rollback().await;
                return Err(failure);
            }
        }
        Ok(tx)
    }

    pub async fn commit(self) -> Result<(), Failure> {
        let ctx = "committing the batch";
        if let Self::MySql(mut tx) = self {
            // Back on before the connection returns to the pool (the
            // variable is not transactional: checks happen per statement).
            tx.execute(FOREIGN_KEY_CHECKS_ON)
                .await
                .map_err(|e| classify(&e, ctx))?;
            return tx.commit().await.map_err(|e| classify(&e, ctx));
        }
        on_tx!(self, tx => tx.commit().await.map_err(|e| classify(&e, ctx)))
    }

    pub async fn rollback(self) -> Result<(), Failure> {
        let ctx = "rolling back the batch";
        if let Self::MySql(mut tx) = self {
            let restored = tx.execute(FOREIGN_KEY_CHECKS_ON).await;
            let rolled_back = tx.rollback().await.map_err(|e| classify(&e, ctx));
            restored.map_err(|e| classify(&e, ctx))?;
            return rolled_back;
        }
        on_tx!(self, tx => tx.rollback().await.map_err(|e| classify(&e, ctx)))
    }

    /// Runs a statement without parameters (savepoints).
    async fn execute(&mut self, sql: &str) -> Result<(), Failure> {
        let ctx = "managing a savepoint";
        on_tx!(self, tx => tx
            .execute(sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())))
            .await
            .map(|_| ())
            .map_err(|e| classify(&e, ctx)))
    }

    pub async fn savepoint(&mut self) -> Result<(), Failure> {
        self.execute("SAVEPOINT freight_bisect").await
    }

    pub async fn rollback_to_savepoint(&mut self) -> Result<(), Failure> {
        self.execute("ROLLBACK TO SAVEPOINT freight_bisect").await
    }

    pub async fn release_savepoint(&mut self) -> Result<(), Failure> {
        self.execute("RELEASE SAVEPOINT freight_bisect").await
    }

    /// `DELETE FROM table WHERE predicate`; returns rows deleted.
    pub async fn delete(
        &mut self,
        spec: &WriteSpec,
        predicate: &Predicate,
    ) -> Result<u64, Failure> {
        let sql = format!(
            "DELETE FROM {} WHERE {}",
            spec.qualified_table, predicate.sql
        );
        let ctx = "clearing the key range on the target";
        let res = match self {
            Self::Postgres(tx) => {
                if predicate.one_sided {
                    sqlx::query(PG_PREFER_INDEX)
                        .execute(&mut **tx)
                        .await
                        .map_err(|e| classify(&e, ctx))?;
                }
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for v in &predicate.binds {
                    q = bind::pg(q, v);
                }
                q.execute(&mut **tx).await.map(|r| r.rows_affected())
            }
            Self::MySql(tx) => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for v in &predicate.binds {
                    q = bind::mysql(q, v);
                }
                q.execute(&mut **tx).await.map(|r| r.rows_affected())
            }
            Self::Sqlite(tx) => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for v in &predicate.binds {
                    q = bind::sqlite(q, v);
                }
                q.execute(&mut **tx).await.map(|r| r.rows_affected())
            }
        };
        res.map_err(|e| classify(&e, ctx))
    }

    /// Writes rows held in memory; returns rows written.
    pub async fn write_rows(&mut self, spec: &WriteSpec, rows: &[Row]) -> Result<u64, Failure> {
        if rows.is_empty() {
            return Ok(0);
        }
        match self {
            Self::Postgres(tx) => {
                let mut copy = tx
                    .copy_in_raw(&spec.copy_sql())
                    .await
                    .map_err(|e| classify(&e, "starting COPY"))?;
                let mut buf = Vec::with_capacity(64 << 10);
                for row in rows {
                    if let Some(failure) = nul_failure(spec, row) {
                        return Err(abort_copy(copy, failure).await);
                    }
                    copy_text::encode_row(&mut buf, row, &spec.bare_hex);
                    if buf.len() >= 256 << 10 {
                        copy.send(std::mem::take(&mut buf))
                            .await
                            .map_err(|e| classify(&e, "writing rows"))?;
                    }
                }
                if !buf.is_empty() {
                    copy.send(buf)
                        .await
                        .map_err(|e| classify(&e, "writing rows"))?;
                }
                copy.finish()
                    .await
                    .map_err(|e| classify(&e, "writing rows"))
            }
            _ => {
                if !spec.decimal_limits.is_empty()
                    && let Some(failure) = rows.iter().find_map(|row| decimal_failure(spec, row))
                {
                    return Err(failure);
                }
                let mut written = 0;
                let mut start = 0;
                while start < rows.len() {
                    let end = insert_chunk_end(spec, rows, start);
                    written += self.insert(spec, &rows[start..end]).await?;
                    start = end;
                }
                Ok(written)
            }
        }
    }

    /// Writes rows as they arrive from the reader; returns rows written.
    pub async fn write_stream(
        &mut self,
        spec: &WriteSpec,
        rx: &mut mpsc::Receiver<Vec<Row>>,
    ) -> Result<u64, Failure> {
        if let (Self::Postgres(tx), Some(types)) = (&mut *self, &spec.binary) {
            return copy_binary_stream(tx, spec, types, rx).await;
        }
        match self {
            Self::Postgres(tx) => {
                let mut copy = tx
                    .copy_in_raw(&spec.copy_sql())
                    .await
                    .map_err(|e| classify(&e, "starting COPY"))?;
                let mut buf = Vec::with_capacity(128 << 10);
                while let Some(chunk) = rx.recv().await {
                    for row in &chunk {
                        if let Some(failure) = nul_failure(spec, row) {
                            return Err(abort_copy(copy, failure).await);
                        }
                        copy_text::encode_row(&mut buf, row, &spec.bare_hex);
                    }
                    if buf.len() >= 64 << 10 {
                        let sent = copy.send(std::mem::take(&mut buf)).await;
                        if let Err(e) = sent {
                            return Err(classify(&e, "writing rows"));
                        }
                    }
                }
                if !buf.is_empty() {
                    copy.send(buf)
                        .await
                        .map_err(|e| classify(&e, "writing rows"))?;
                }
                copy.finish()
                    .await
                    .map_err(|e| classify(&e, "writing rows"))
            }
            _ => {
                let mut written = 0;
                let mut pending: Vec<Row> = Vec::new();
                while let Some(chunk) = rx.recv().await {
                    pending.extend(chunk);
                    if pending.len() >= spec.rows_per_insert() {
                        written += self.write_rows(spec, &pending).await?;
                        pending.clear();
                    }
                }
                written += self.write_rows(spec, &pending).await?;
                Ok(written)
            }
        }
    }

    async fn insert(&mut self, spec: &WriteSpec, rows: &[Row]) -> Result<u64, Failure> {
        let sql = format!(
            "INSERT INTO {} ({}) VALUES {}",
            spec.qualified_table,
            spec.column_list(),
            spec.values(rows.len())
        );
        let ctx = "writing rows";
        let res = match self {
            Self::MySql(tx) => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for v in rows.iter().flatten() {
                    q = bind::mysql(q, v);
                }
                q.execute(&mut **tx).await.map(|r| r.rows_affected())
            }
            Self::Sqlite(tx) => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for v in rows.iter().flatten() {
                    q = bind::sqlite(q, v);
                }
                q.execute(&mut **tx).await.map(|r| r.rows_affected())
            }
            Self::Postgres(tx) => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for v in rows.iter().flatten() {
                    q = bind::pg(q, v);
                }
                q.execute(&mut **tx).await.map(|r| r.rows_affected())
            }
        };
        res.map_err(|e| classify(&e, ctx))
    }
}

/// End of the next INSERT chunk from `start`: bounded by rows and bytes. A
/// row that would take the chunk past [`INSERT_BYTES`] starts the next one,
/// so only a single row larger than the packet limit can exceed it.
fn insert_chunk_end(spec: &WriteSpec, rows: &[Row], start: usize) -> usize {
    let max_rows = spec.rows_per_insert();
    let mut bytes = 0;
    let mut end = start;
    while end < rows.len() && end - start < max_rows {
        let size = rows[end].iter().map(approx_size).sum::<usize>();
        if end > start && bytes + size > INSERT_BYTES {
            break;
        }
        bytes += size;
        end += 1;
    }
    end
}

fn approx_size(v: &super::model::Value) -> usize {
    use super::model::Value;
    match v {
        Value::Text(s) | Value::Decimal(s) | Value::Json(s) => s.len() + 4,
        Value::Bytes(b) => b.len() + 4,
        _ => 9,
    }
}

/// Streams rows into a binary COPY; a value that does not fit its column
/// aborts the COPY as a data error, so the batch is bisected in text mode.
async fn copy_binary_stream(
    tx: &mut Transaction<'static, Postgres>,
    spec: &WriteSpec,
    types: &[BinType],
    rx: &mut mpsc::Receiver<Vec<Row>>,
) -> Result<u64, Failure> {
    let ctx = "writing rows";
    let mut copy = tx
        .copy_in_raw(&spec.copy_binary_sql())
        .await
        .map_err(|e| classify(&e, "starting COPY"))?;
    let mut buf = Vec::with_capacity(128 << 10);
    buf.extend_from_slice(copy_binary::HEADER);
    while let Some(chunk) = rx.recv().await {
        for row in &chunk {
            if let Some(failure) = nul_failure(spec, row) {
                return Err(abort_copy(copy, failure).await);
            }
            if let Err(copy_binary::Misfit(i)) = copy_binary::encode_row(&mut buf, row, types) {
                let column = spec.columns.get(i).cloned();
                let message = format!(
                    "value of column {} does not fit its target type",
                    column.as_deref().unwrap_or("?")
                );
                let _ = copy.abort(message.clone()).await;
                return Err(Failure::Data { message, column });
            }
        }
        if buf.len() >= 64 << 10 {
            copy.send(std::mem::take(&mut buf))
                .await
                .map_err(|e| classify(&e, ctx))?;
        }
    }
    buf.extend_from_slice(copy_binary::TRAILER);
    copy.send(buf).await.map_err(|e| classify(&e, ctx))?;
    copy.finish().await.map_err(|e| classify(&e, ctx))
}

#[cfg(test)]
mod tests {
    use super::DecimalLimit;
    use crate::engine::model::Logical;

    fn decimal(precision: Option<u32>, scale: Option<u32>) -> Logical {
        Logical::Decimal { precision, scale }
    }

    #[test]
    fn only_wider_sources_are_checked() {
        let target = decimal(Some(65), Some(30));
        assert!(DecimalLimit::between(0, &decimal(None, None), &target).is_some());
        assert!(DecimalLimit::between(0, &decimal(Some(70), Some(40)), &target).is_some());
        assert!(DecimalLimit::between(0, &decimal(Some(12), Some(2)), &target).is_none());
        let narrow = decimal(Some(10), Some(2));
        assert!(DecimalLimit::between(0, &decimal(Some(12), Some(2)), &narrow).is_some());
        assert!(DecimalLimit::between(0, &Logical::Int(8), &target).is_none());
    }

    #[test]
    fn values_beyond_precision_or_scale_misfit() {
        let limit = DecimalLimit {
            column: 0,
            precision: 65,
            scale: 30,
        };
        assert!(
            limit
                .misfit("0.1234567890123456789012345678901234")
                .is_some()
        );
        assert!(limit.misfit("0.123456789012345678901234567890").is_none());
        assert!(
            limit
                .misfit("-1.50000000000000000000000000000000000")
                .is_none()
        );
        assert!(limit.misfit(&"9".repeat(36)).is_some());
        assert!(limit.misfit(&format!("-000{}", "9".repeat(35))).is_none());
        assert!(limit.misfit("NaN").is_none());
    }
}
