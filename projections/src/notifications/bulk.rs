//! Batch-sized SQL for both backends: multi-row `INSERT ... VALUES` and
//! `IN (...)` lists, so a projection writes a whole batch in a few
//! statements instead of one round trip per row.
//!
//! Statements are cut into chunks whose row counts are powers of two, so
//! each table only ever sees a handful of distinct SQL texts and sqlx's
//! per-connection statement cache prepares each of them once.
//!
//! These generated statements use anonymous `?` placeholders on SQLite:
//! sqlx binds each argument after looking its name up with
//! `sqlite3_bind_parameter_name`, a linear scan of the statement's named
//! parameters, so `$N` costs O(N²) per statement (measured: 80% of the time
//! of a feed rebuild) while `?` costs nothing.

use std::fmt::Write;

use time::OffsetDateTime;

use crate::db::ReadModelTx;
use crate::on_tx;

/// Most bind parameters in one statement: well under SQLite's (32,766)
/// and PostgreSQL's (65,535) limits.
const MAX_PARAMETERS: usize = 8192;

/// Longest `IN (...)` list: hand-written SQL uses `$N` placeholders, whose
/// binding on SQLite grows with the square of their number.
const IN_LIST_MAX: usize = 512;

/// A value bound into a batch statement (only types both drivers encode).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Text(String),
    Int(i64),
    Time(OffsetDateTime),
}

impl From<String> for Value {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

impl From<i64> for Value {
    fn from(number: i64) -> Self {
        Self::Int(number)
    }
}

impl From<OffsetDateTime> for Value {
    fn from(time: OffsetDateTime) -> Self {
        Self::Time(time)
    }
}

/// How a generated statement writes its placeholders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placeholders {
    /// `$1, $2, ...` (PostgreSQL, and hand-written SQL for both backends).
    Numbered,
    /// `?, ?, ...`, bound in order (SQLite; see the module doc).
    Anonymous,
}

impl Placeholders {
    /// The cheapest style for `tx`'s backend.
    pub(crate) fn of(tx: &ReadModelTx<'_>) -> Self {
        match tx {
            ReadModelTx::Sqlite(..) => Self::Anonymous,
            ReadModelTx::Postgres(_) => Self::Numbered,
        }
    }

    /// `count` placeholders, numbered from `first`, comma-separated.
    pub(crate) fn list(self, first: usize, count: usize) -> String {
        let mut list = String::with_capacity(count * 6);
        for number in first..first + count {
            if number > first {
                list.push_str(", ");
            }
            match self {
                Self::Numbered => {
                    let _ = write!(list, "${number}");
                }
                Self::Anonymous => list.push('?'),
            }
        }
        list
    }
}

/// Inserts `values` (row after row, `columns.len()` values each) into
/// `table`.
pub(crate) async fn insert_rows(
    tx: &mut ReadModelTx<'_>,
    table: &str,
    columns: &[&str],
    values: Vec<Value>,
) -> Result<(), sqlx::Error> {
    let width = columns.len();
    let mut remaining_rows = values.len() / width;
    let mut values = values.into_iter();
    while remaining_rows > 0 {
        let rows = chunk_rows(remaining_rows, width);
        let sql = insert_sql(Placeholders::of(tx), table, columns, rows);
        let chunk: Vec<Value> = values.by_ref().take(rows * width).collect();
        execute(tx, &sql, chunk).await?;
        remaining_rows -= rows;
    }
    Ok(())
}

/// Runs `sql` with `values` bound to `$1, $2, ...`; returns the rows
/// affected.
pub(crate) async fn execute(
    tx: &mut ReadModelTx<'_>,
    sql: &str,
    values: Vec<Value>,
) -> Result<u64, sqlx::Error> {
    Ok(on_tx!(&mut *tx, connection => {
        let mut query = sqlx::query(sql);
        for value in values {
            query = match value {
                Value::Text(text) => query.bind(text),
                Value::Int(number) => query.bind(number),
                Value::Time(time) => query.bind(time),
            };
        }
        query.execute(connection).await?.rows_affected()
    }))
}

/// Splits `items` into chunks for `IN (...)` lists whose lengths are powers
/// of two (see the module doc) of at most [`IN_LIST_MAX`].
pub(crate) fn in_list_chunks<T>(items: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (chunk, tail) = rest.split_at(chunk_rows(rest.len().min(IN_LIST_MAX), 1));
        rest = tail;
        Some(chunk)
    })
}

/// The largest power of two that is at most `remaining` and keeps a chunk
/// of rows `width` values wide under [`MAX_PARAMETERS`].
fn chunk_rows(remaining: usize, width: usize) -> usize {
    let cap = (MAX_PARAMETERS / width.max(1)).max(1);
    let wanted = remaining.min(cap).max(1);
    1 << wanted.ilog2()
}

fn insert_sql(style: Placeholders, table: &str, columns: &[&str], rows: usize) -> String {
    let width = columns.len();
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        sql.push_str(&style.list(row * width + 1, width));
        sql.push(')');
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_powers_of_two_under_the_parameter_limit() {
        assert_eq!(chunk_rows(1, 3), 1);
        assert_eq!(chunk_rows(7, 3), 4);
        assert_eq!(chunk_rows(8, 3), 8);
        assert_eq!(chunk_rows(100_000, 2), 4096);
        assert_eq!(chunk_rows(100_000, 9), 512);
        let lengths: Vec<usize> = in_list_chunks(&[0; 13]).map(<[i32]>::len).collect();
        assert_eq!(lengths, [8, 4, 1]);
        let lengths: Vec<usize> = in_list_chunks(&[0; 1100]).map(<[i32]>::len).collect();
        assert_eq!(lengths, [512, 512, 64, 8, 4]);
    }

    #[test]
    fn insert_sql_numbers_placeholders_row_by_row() {
        assert_eq!(
            insert_sql(Placeholders::Numbered, "t", &["a", "b"], 2),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)"
        );
        assert_eq!(
            insert_sql(Placeholders::Anonymous, "t", &["a", "b"], 2),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)"
        );
        assert_eq!(Placeholders::Numbered.list(3, 3), "$3, $4, $5");
    }
}
