//! Statements whose text is built at run time (multi-row upserts, optional filters): their
//! values are collected in order while the text is written, then bound on whichever backend
//! runs the statement.

use std::borrow::Cow;
use std::fmt::{self, Write};

use bomizzel_store::Database;
use sqlx::FromRow;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;

use crate::db::ReadModelTx;
use crate::{on_pool, on_tx};

/// The most values one statement binds: far below SQLite's limit (32766) and large enough
/// that a batch of a thousand events needs only a handful of statements.
const MAX_BINDS: usize = 4096;

/// Rows per statement for rows of `columns` values: a power of two, see [`statement_chunks`].
pub(super) fn max_rows(columns: usize) -> usize {
    let rows = (MAX_BINDS / columns.max(1)).max(1);
    1 << rows.ilog2()
}

/// Splits `items` into statements of at most `max_rows` (a power of two) rows, the remainder
/// in power-of-two sizes too, so that only a few statement texts exist and each stays
/// prepared in the connection's statement cache.
pub(super) fn statement_chunks<T>(items: &[T], max_rows: usize) -> Vec<&[T]> {
    let mut chunks = Vec::new();
    let mut rest = items;
    while !rest.is_empty() {
        let size = max_rows.min(1 << rest.len().ilog2());
        let (chunk, tail) = rest.split_at(size);
        chunks.push(chunk);
        rest = tail;
    }
    chunks
}

/// A value to bind, of a type both drivers encode.
#[derive(Debug, Clone)]
pub(super) enum SqlValue<'a> {
    Text(Cow<'a, str>),
    NullableText(Option<&'a str>),
    Int(i64),
    Bool(bool),
    Time(OffsetDateTime),
    NullableTime(Option<OffsetDateTime>),
}

impl<'a> From<&'a str> for SqlValue<'a> {
    fn from(text: &'a str) -> Self {
        Self::Text(Cow::Borrowed(text))
    }
}

impl From<String> for SqlValue<'_> {
    fn from(text: String) -> Self {
        Self::Text(Cow::Owned(text))
    }
}

impl From<i64> for SqlValue<'_> {
    fn from(number: i64) -> Self {
        Self::Int(number)
    }
}

/// A statement's values, bound in the order they are added.
///
/// Placeholders must appear in the statement text in that order too: on SQLite they are
/// anonymous `?`, because the driver looks each numbered `$N` up by name with a linear scan
/// (quadratic in the number of values, seconds for a 1000-row upsert); on PostgreSQL they are
/// `$1`, `$2`, ...
#[derive(Debug)]
pub(super) struct Args<'a> {
    values: Vec<SqlValue<'a>>,
    numbered: bool,
}

impl<'a> Args<'a> {
    /// Values for a statement run in `tx`.
    pub(super) fn for_tx(tx: &ReadModelTx<'_>) -> Self {
        Self::new(matches!(tx, ReadModelTx::Postgres(_)))
    }

    /// Values for a statement run on `database`'s pool.
    pub(super) fn for_database(database: &Database) -> Self {
        Self::new(matches!(database, Database::Postgres(_)))
    }

    fn new(numbered: bool) -> Self {
        Self {
            values: Vec::new(),
            numbered,
        }
    }

    /// Adds `value` and returns its placeholder.
    pub(super) fn push(&mut self, value: impl Into<SqlValue<'a>>) -> Placeholder {
        self.values.push(value.into());
        Placeholder(self.numbered.then_some(self.values.len()))
    }

    /// Adds `values` and returns their placeholders separated by commas, as `IN (...)` wants
    /// them.
    pub(super) fn push_all<V: Into<SqlValue<'a>>>(
        &mut self,
        values: impl IntoIterator<Item = V>,
    ) -> String {
        let mut list = String::new();
        self.write_list(&mut list, values);
        list
    }

    /// Adds `values` and writes their placeholders, separated by commas, to `sql`.
    pub(super) fn write_list<V: Into<SqlValue<'a>>>(
        &mut self,
        sql: &mut String,
        values: impl IntoIterator<Item = V>,
    ) {
        for (index, value) in values.into_iter().enumerate() {
            if index > 0 {
                sql.push_str(", ");
            }
            // Writing to a String cannot fail.
            let _ = write!(sql, "{}", self.push(value));
        }
    }
}

/// A value's place in the statement text: `?` on SQLite, `$N` on PostgreSQL.
#[derive(Debug, Clone, Copy)]
pub(super) struct Placeholder(Option<usize>);

impl fmt::Display for Placeholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(number) => write!(f, "${number}"),
            None => f.write_str("?"),
        }
    }
}

/// Binds every value of `$args` to `$query`, in order.
macro_rules! bind_all {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for value in &$args.values {
            query = match value {
                SqlValue::Text(text) => query.bind(text.as_ref()),
                SqlValue::NullableText(text) => query.bind(*text),
                SqlValue::Int(number) => query.bind(*number),
                SqlValue::Bool(flag) => query.bind(*flag),
                SqlValue::Time(at) => query.bind(*at),
                SqlValue::NullableTime(at) => query.bind(*at),
            };
        }
        query
    }};
}

/// Runs a statement that returns no rows inside the batch's transaction.
pub(super) async fn execute(
    tx: &mut ReadModelTx<'_>,
    sql: &str,
    args: &Args<'_>,
) -> Result<(), sqlx::Error> {
    on_tx!(tx, connection => {
        bind_all!(sqlx::query(sql), args).execute(connection).await?;
    });
    Ok(())
}

/// A row type both backends can decode.
pub(super) trait AnyRow:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

impl<T> AnyRow for T where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

/// Runs a query inside the batch's transaction.
pub(super) async fn fetch_in_tx<T: AnyRow>(
    tx: &mut ReadModelTx<'_>,
    sql: &str,
    args: &Args<'_>,
) -> Result<Vec<T>, sqlx::Error> {
    Ok(on_tx!(tx, connection => {
        bind_all!(sqlx::query_as::<_, T>(sql), args).fetch_all(connection).await?
    }))
}

/// Runs a query on the pool, for readers.
pub(super) async fn fetch<T: AnyRow>(
    database: &Database,
    sql: &str,
    args: &Args<'_>,
) -> Result<Vec<T>, sqlx::Error> {
    Ok(on_pool!(database, pool => {
        bind_all!(sqlx::query_as::<_, T>(sql), args).fetch_all(pool).await?
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_have_power_of_two_sizes_and_cover_every_row() {
        let rows: Vec<usize> = (0..1000).collect();
        let chunks = statement_chunks(&rows, 128);
        let sizes: Vec<usize> = chunks.iter().map(|chunk| chunk.len()).collect();
        assert_eq!(sizes, [128, 128, 128, 128, 128, 128, 128, 64, 32, 8]);
        assert_eq!(chunks.concat(), rows);
        assert!(statement_chunks::<usize>(&[], 128).is_empty());
        assert_eq!(max_rows(23), 128);
        assert_eq!(max_rows(1), 4096);
    }

    #[test]
    fn placeholders_are_numbered_on_postgres_only() {
        let mut numbered = Args::new(true);
        assert_eq!(numbered.push_all(["a", "b", "c"]), "$1, $2, $3");
        assert_eq!(numbered.push(4).to_string(), "$4");
        let mut anonymous = Args::new(false);
        assert_eq!(anonymous.push_all(["a", "b"]), "?, ?");
    }
}
