//! SQL whose text is built at run time, for both backends: multi-row
//! `INSERT ... VALUES` (and upserts), `IN (...)` lists and optional filters.
//! A projection writes a whole batch in a few statements instead of one
//! round trip per row. Every read model uses this one module; fixed,
//! hand-written SQL goes through [`on_tx!`](crate::on_tx) as
//! [`crate::db`] describes.
//!
//! Values are collected in order while the text is written ([`Args`]), then
//! bound on whichever backend runs the statement. Their placeholders differ:
//!
//! - SQLite: anonymous `?`, bound in order. sqlx binds each argument after
//!   looking its name up with `sqlite3_bind_parameter_name`, a linear scan
//!   of the statement's named parameters, so `$N` costs O(N²) per statement
//!   (measured: 80% of the time of a feed rebuild, seconds for a 1,000-row
//!   upsert) while `?` costs nothing.
//! - PostgreSQL: `$1, $2, ...`, the only placeholders it knows.
//!
//! Inserts are cut into chunks whose row counts are powers of two, at most
//! [`MAX_PARAMETERS`] values each, so each table only ever sees a handful of
//! distinct SQL texts and sqlx's per-connection statement cache prepares
//! each of them once. An `IN (...)` list is padded to a power of two instead
//! ([`Args::push_set`]): one statement whatever its length, as every
//! statement is a round trip to SQLite's connection thread.

use std::borrow::Cow;
use std::fmt::{self, Write};

use bomizzel_store::Database;
use sqlx::FromRow;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;

use crate::db::ReadModelTx;
use crate::{on_pool, on_tx};

/// Most values one generated statement binds: well under SQLite's (32,766)
/// and PostgreSQL's (65,535) limits, which leaves room for the few fixed
/// values a statement may add to a chunk, and large enough that a batch of
/// a thousand events needs only a handful of statements.
const MAX_PARAMETERS: usize = 8192;

/// Most keys one [`key_matches`] condition joins with `OR`: SQLite refuses
/// expressions nested deeper than 1,000, and an `OR` chain nests one level
/// per key.
const MAX_OR_TERMS: usize = 512;

/// Rows in the next statement when `remaining` rows of `width` values each
/// are left: the largest power of two that is at most `remaining` and keeps
/// the statement under [`MAX_PARAMETERS`] (and at most `max_rows`).
fn rows_per_statement(remaining: usize, width: usize, max_rows: usize) -> usize {
    let cap = (MAX_PARAMETERS / width.max(1)).clamp(1, max_rows.max(1));
    1 << remaining.min(cap).max(1).ilog2()
}

/// Splits the values of an `IN (...)` list into statements of at most
/// [`MAX_PARAMETERS`] values; [`Args::push_set`] pads each to a power of
/// two, so a list of any length is one statement of few distinct texts.
pub(crate) fn in_lists<T>(items: &[T]) -> impl Iterator<Item = &[T]> {
    items.chunks(MAX_PARAMETERS)
}

/// The keys of [`key_matches`], `width` columns each, cut into statements
/// of power-of-two sizes, at most [`MAX_OR_TERMS`] keys each.
pub(crate) fn key_chunks<T>(keys: &[T], width: usize) -> impl Iterator<Item = &[T]> {
    split(keys, width, MAX_OR_TERMS)
}

fn split<T>(items: &[T], width: usize, max_rows: usize) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (chunk, tail) = rest.split_at(rows_per_statement(rest.len(), width, max_rows));
        rest = tail;
        Some(chunk)
    })
}

/// A value to bind, of a type both drivers encode.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value<'a> {
    Text(Cow<'a, str>),
    NullableText(Option<&'a str>),
    Int(i64),
    NullableInt(Option<i64>),
    Bool(bool),
    Time(OffsetDateTime),
    NullableTime(Option<OffsetDateTime>),
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(text: &'a str) -> Self {
        Self::Text(Cow::Borrowed(text))
    }
}

impl From<String> for Value<'_> {
    fn from(text: String) -> Self {
        Self::Text(Cow::Owned(text))
    }
}

impl<'a> From<Option<&'a str>> for Value<'a> {
    fn from(text: Option<&'a str>) -> Self {
        Self::NullableText(text)
    }
}

impl From<i64> for Value<'_> {
    fn from(number: i64) -> Self {
        Self::Int(number)
    }
}

impl From<Option<i64>> for Value<'_> {
    fn from(number: Option<i64>) -> Self {
        Self::NullableInt(number)
    }
}

impl From<bool> for Value<'_> {
    fn from(flag: bool) -> Self {
        Self::Bool(flag)
    }
}

impl From<OffsetDateTime> for Value<'_> {
    fn from(at: OffsetDateTime) -> Self {
        Self::Time(at)
    }
}

impl From<Option<OffsetDateTime>> for Value<'_> {
    fn from(at: Option<OffsetDateTime>) -> Self {
        Self::NullableTime(at)
    }
}

/// A statement's values, bound in the order they are added.
///
/// Placeholders must appear in the statement text in that order too: write
/// the one [`Args::push`] returns where the value goes (see the module doc
/// for why they are `?` on SQLite and `$N` on PostgreSQL).
#[derive(Debug)]
pub(crate) struct Args<'a> {
    values: Vec<Value<'a>>,
    numbered: bool,
    persistent: bool,
}

impl<'a> Args<'a> {
    /// Values for a statement run in `tx`.
    pub(crate) fn for_tx(tx: &ReadModelTx<'_>) -> Self {
        Self::new(matches!(tx, ReadModelTx::Postgres(_)))
    }

    /// Values for a statement run on `database`'s pool.
    pub(crate) fn for_database(database: &Database) -> Self {
        Self::new(matches!(database, Database::Postgres(_)))
    }

    /// `values` for hand-written SQL that numbers a few placeholders `$1`,
    /// `$2`, ... in binding order, which both backends accept.
    pub(crate) fn numbered(values: impl IntoIterator<Item = Value<'a>>) -> Self {
        Self {
            values: values.into_iter().collect(),
            ..Self::new(true)
        }
    }

    fn new(numbered: bool) -> Self {
        Self {
            values: Vec::new(),
            numbered,
            persistent: true,
        }
    }

    /// The statement is planned afresh each time it runs instead of being
    /// kept prepared (sqlx's `persistent(false)`): for statements whose best
    /// plan depends on how much the tables hold.
    pub(crate) fn planned_each_time(mut self) -> Self {
        self.persistent = false;
        self
    }

    /// Adds `value` and returns its placeholder.
    pub(crate) fn push(&mut self, value: impl Into<Value<'a>>) -> Placeholder {
        self.values.push(value.into());
        Placeholder(self.numbered.then_some(self.values.len()))
    }

    /// Adds `values` and returns their placeholders separated by commas, as
    /// `IN (...)` wants them.
    pub(crate) fn push_all<V: Into<Value<'a>>>(
        &mut self,
        values: impl IntoIterator<Item = V>,
    ) -> String {
        let mut list = String::new();
        self.write_list(&mut list, values);
        list
    }

    /// [`Args::push_all`] for an `IN (...)` list: `values` padded to a power
    /// of two by repeating the last, which the list means the same with, so
    /// that each table sees a handful of texts (prepared once each) and a
    /// list of any length needs one statement instead of one per power of
    /// two in its length.
    pub(crate) fn push_set<V: Into<Value<'a>>>(
        &mut self,
        values: impl IntoIterator<Item = V>,
    ) -> String {
        let mut values: Vec<Value<'a>> = values.into_iter().map(Into::into).collect();
        if let Some(last) = values.last().cloned() {
            values.resize(values.len().next_power_of_two(), last);
        }
        self.push_all(values)
    }

    /// Adds `values` and writes their placeholders, separated by commas, to
    /// `sql`.
    pub(crate) fn write_list<V: Into<Value<'a>>>(
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
pub(crate) struct Placeholder(Option<usize>);

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
        let args = $args;
        let mut query = $query.persistent(args.persistent);
        for value in &args.values {
            query = match value {
                Value::Text(text) => query.bind(text.as_ref()),
                Value::NullableText(text) => query.bind(*text),
                Value::Int(number) => query.bind(*number),
                Value::NullableInt(number) => query.bind(*number),
                Value::Bool(flag) => query.bind(*flag),
                Value::Time(at) => query.bind(*at),
                Value::NullableTime(at) => query.bind(*at),
            };
        }
        query
    }};
}

/// Inserts `values` (row after row, `columns.len()` values each) into
/// `table`: `INSERT INTO table (columns) VALUES (...), (...) tail` in as few
/// statements as the parameter limit allows. `tail` is empty or an
/// `ON CONFLICT` clause (see [`on_conflict_update`]).
pub(crate) async fn insert_rows(
    tx: &mut ReadModelTx<'_>,
    table: &str,
    columns: &[&str],
    tail: &str,
    values: Vec<Value<'_>>,
) -> Result<(), sqlx::Error> {
    let width = columns.len().max(1);
    let mut remaining_rows = values.len() / width;
    let mut values = values.into_iter();
    while remaining_rows > 0 {
        let rows = rows_per_statement(remaining_rows, width, usize::MAX);
        let mut args = Args::for_tx(tx);
        let sql = insert_sql(
            &mut args,
            table,
            columns,
            tail,
            values.by_ref().take(rows * width),
        );
        execute(tx, &sql, &args).await?;
        remaining_rows -= rows;
    }
    Ok(())
}

/// The text of one multi-row insert of `values`, which are added to `args`.
fn insert_sql<'a>(
    args: &mut Args<'a>,
    table: &str,
    columns: &[&str],
    tail: &str,
    values: impl Iterator<Item = Value<'a>>,
) -> String {
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    let mut values = values.peekable();
    let mut first = true;
    while values.peek().is_some() {
        sql.push_str(if first { "(" } else { ", (" });
        first = false;
        args.write_list(&mut sql, values.by_ref().take(columns.len()));
        sql.push(')');
    }
    if !tail.is_empty() {
        sql.push(' ');
        sql.push_str(tail);
    }
    sql
}

/// `a = excluded.a, ...` for the `columns` not in `except`: what an upsert
/// sets to replace a row but for its key (and any column that never
/// changes).
pub(crate) fn set_excluded(columns: &[&str], except: &[&str]) -> String {
    columns
        .iter()
        .filter(|column| !except.contains(column))
        .map(|column| format!("{column} = excluded.{column}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `ON CONFLICT (key) DO UPDATE SET set`: the `tail` of an upsert by
/// [`insert_rows`].
pub(crate) fn on_conflict_update(key: &[&str], set: &str) -> String {
    format!("ON CONFLICT ({}) DO UPDATE SET {set}", key.join(", "))
}

/// `(a = ? AND b = ?) OR (a = ? AND b = ?)`: rows whose `columns` match
/// one of `keys` (cut them with [`key_chunks`]), which both backends answer
/// with one primary-key lookup per key; the keys' values are added to
/// `args`.
pub(crate) fn key_matches<'a, const N: usize>(
    args: &mut Args<'a>,
    columns: &[&str; N],
    keys: impl IntoIterator<Item = [Value<'a>; N]>,
) -> String {
    let mut sql = String::new();
    for (index, key) in keys.into_iter().enumerate() {
        sql.push_str(if index == 0 { "(" } else { " OR (" });
        for (position, (column, value)) in columns.iter().zip(key).enumerate() {
            if position > 0 {
                sql.push_str(" AND ");
            }
            // Writing to a String cannot fail.
            let _ = write!(sql, "{column} = {}", args.push(value));
        }
        sql.push(')');
    }
    sql
}

/// Runs a statement that returns no rows inside the batch's transaction;
/// returns the rows it affected.
pub(crate) async fn execute(
    tx: &mut ReadModelTx<'_>,
    sql: &str,
    args: &Args<'_>,
) -> Result<u64, sqlx::Error> {
    Ok(on_tx!(tx, connection => {
        bind_all!(sqlx::query(sql), args)
            .execute(connection)
            .await?
            .rows_affected()
    }))
}

/// A row type both backends can decode.
pub(crate) trait AnyRow:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

impl<T> AnyRow for T where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

/// Runs a query inside the batch's transaction.
pub(crate) async fn fetch_in_tx<T: AnyRow>(
    tx: &mut ReadModelTx<'_>,
    sql: &str,
    args: &Args<'_>,
) -> Result<Vec<T>, sqlx::Error> {
    Ok(on_tx!(tx, connection => {
        bind_all!(sqlx::query_as::<_, T>(sql), args).fetch_all(connection).await?
    }))
}

/// Runs a query on the pool, for readers.
pub(crate) async fn fetch<T: AnyRow>(
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
    fn chunks_are_powers_of_two_under_the_parameter_limit() {
        let rows = |remaining, width| rows_per_statement(remaining, width, usize::MAX);
        assert_eq!(rows(1, 3), 1);
        assert_eq!(rows(7, 3), 4);
        assert_eq!(rows(8, 3), 8);
        assert_eq!(rows(100_000, 1), 8192);
        assert_eq!(rows(100_000, 2), 4096);
        assert_eq!(rows(100_000, 9), 512);
        assert_eq!(rows(100_000, 24), 256);
        assert_eq!(rows(100_000, 10_000), 1);

        let rows: Vec<usize> = (0..20_000).collect();
        let lengths: Vec<usize> = in_lists(&rows).map(<[usize]>::len).collect();
        assert_eq!(lengths, [8192, 8192, 3616]);
        assert_eq!(in_lists(&rows).collect::<Vec<_>>().concat(), rows);
        assert_eq!(in_lists::<usize>(&[]).count(), 0);
        let rows: Vec<usize> = (0..3000).collect();
        let lengths: Vec<usize> = key_chunks(&rows, 2).map(<[usize]>::len).collect();
        assert_eq!(lengths[..5], [512; 5]);
        assert_eq!(lengths[5..], [256, 128, 32, 16, 8]);
    }

    #[test]
    fn in_lists_are_padded_to_a_power_of_two_with_their_last_value() {
        let mut args = Args::new(false);
        assert_eq!(args.push_set(["a", "b", "c"]), "?, ?, ?, ?");
        assert_eq!(args.values, ["a", "b", "c", "c"].map(Value::from));
        let mut args = Args::new(true);
        assert_eq!(args.push_set([1, 2]), "$1, $2");
        assert_eq!(args.push_set(Vec::<i64>::new()), "");
    }

    #[test]
    fn placeholders_are_numbered_on_postgres_only() {
        let mut numbered = Args::new(true);
        assert_eq!(numbered.push_all(["a", "b", "c"]), "$1, $2, $3");
        assert_eq!(numbered.push(4).to_string(), "$4");
        let mut anonymous = Args::new(false);
        assert_eq!(anonymous.push_all(["a", "b"]), "?, ?");
        assert_eq!(anonymous.push(3).to_string(), "?");
        let mut hand_written = Args::numbered([Value::from(1), Value::from("x")]);
        assert_eq!(hand_written.push(3).to_string(), "$3");
    }

    #[test]
    fn insert_sql_writes_one_tuple_per_row() {
        let values = || [1, 2, 3, 4].into_iter().map(Value::from);
        let mut numbered = Args::new(true);
        assert_eq!(
            insert_sql(&mut numbered, "t", &["a", "b"], "", values()),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)"
        );
        assert_eq!(numbered.values, values().collect::<Vec<_>>());
        let mut anonymous = Args::new(false);
        assert_eq!(
            insert_sql(
                &mut anonymous,
                "t",
                &["a", "b"],
                "ON CONFLICT (a) DO NOTHING",
                values()
            ),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?) ON CONFLICT (a) DO NOTHING"
        );
        assert_eq!(
            set_excluded(&["a", "b", "c"], &["a"]),
            "b = excluded.b, c = excluded.c"
        );
        let keys = [[Value::from("x"), Value::from(1)], ["y".into(), 2.into()]];
        assert_eq!(
            key_matches(&mut Args::new(false), &["a", "b"], keys.clone()),
            "(a = ? AND b = ?) OR (a = ? AND b = ?)"
        );
        let mut numbered = Args::new(true);
        assert_eq!(
            key_matches(&mut numbered, &["a", "b"], keys.clone()),
            "(a = $1 AND b = $2) OR (a = $3 AND b = $4)"
        );
        assert_eq!(numbered.values, keys.concat());
    }

    /// Every value type round-trips through a multi-statement insert, an
    /// `IN (...)` list and a delete, on `tx`'s backend.
    async fn round_trip(mut tx: ReadModelTx<'_>) {
        execute(
            &mut tx,
            "CREATE TABLE bulk_test (k TEXT PRIMARY KEY, name TEXT, n BIGINT, \
             maybe_n BIGINT, flag BOOLEAN, at TIMESTAMPTZ, maybe_at TIMESTAMPTZ)",
            &Args::numbered([]),
        )
        .await
        .expect("table created");
        const COLUMNS: [&str; 7] = ["k", "name", "n", "maybe_n", "flag", "at", "maybe_at"];
        let at = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("valid time");
        // 1,200 rows of 7 values: four statements (1,024 + 128 + 32 + 16 rows).
        let keys: Vec<String> = (0..1200).map(|n| format!("k{n:04}")).collect();
        // Odd rows are stored with every nullable value NULL; even rows too
        // at first (`stale`), until the upsert sets them.
        let row = |index: usize, stale: bool| {
            let n = i64::try_from(index).expect("small");
            let even = index.is_multiple_of(2) && !stale;
            [
                Value::from(keys[index].as_str()),
                Value::from(even.then_some("even")),
                Value::from(n),
                Value::from(even.then_some(n)),
                Value::from(even),
                Value::from(at),
                Value::from(even.then_some(at)),
            ]
        };
        let values = (0..keys.len()).flat_map(|index| row(index, true)).collect();
        insert_rows(&mut tx, "bulk_test", &COLUMNS, "", values)
            .await
            .expect("rows inserted");
        let tail = on_conflict_update(&["k"], &set_excluded(&COLUMNS, &["k"]));
        let values = (0..keys.len())
            .flat_map(|index| row(index, false))
            .collect();
        insert_rows(&mut tx, "bulk_test", &COLUMNS, &tail, values)
            .await
            .expect("rows upserted");

        type Row = (
            String,
            Option<String>,
            i64,
            Option<i64>,
            bool,
            OffsetDateTime,
            Option<OffsetDateTime>,
        );
        let mut stored: Vec<Row> = Vec::new();
        for chunk in in_lists(&keys) {
            let mut args = Args::for_tx(&tx);
            let sql = format!(
                "SELECT {} FROM bulk_test WHERE k IN ({}) ORDER BY k",
                COLUMNS.join(", "),
                args.push_set(chunk.iter().map(String::as_str))
            );
            stored.extend(
                fetch_in_tx::<Row>(&mut tx, &sql, &args)
                    .await
                    .expect("read"),
            );
        }
        assert_eq!(stored.len(), keys.len());
        for (index, (k, name, n, maybe_n, flag, stored_at, maybe_at)) in
            stored.into_iter().enumerate()
        {
            let even = index.is_multiple_of(2);
            assert_eq!(k, keys[index]);
            assert_eq!(name.as_deref(), even.then_some("even"));
            assert_eq!(n, i64::try_from(index).expect("small"));
            assert_eq!(maybe_n, even.then_some(n));
            assert_eq!(flag, even);
            assert_eq!(stored_at, at);
            assert_eq!(maybe_at, even.then_some(at));
        }

        let mut args = Args::for_tx(&tx);
        let sql = format!(
            "DELETE FROM bulk_test WHERE flag = {} AND n < {}",
            args.push(true),
            args.push(100)
        );
        let args = args.planned_each_time();
        assert_eq!(execute(&mut tx, &sql, &args).await.expect("deleted"), 50);
        // More keys than one OR chain may hold on SQLite.
        let doomed: Vec<(&str, i64)> = (100..1100)
            .map(|index| (keys[index].as_str(), i64::try_from(index).expect("small")))
            .collect();
        let mut deleted = 0;
        for chunk in key_chunks(&doomed, 2) {
            let mut args = Args::for_tx(&tx);
            let matches = key_matches(
                &mut args,
                &["k", "n"],
                chunk.iter().map(|(k, n)| [Value::from(*k), (*n).into()]),
            );
            let sql = format!("DELETE FROM bulk_test WHERE {matches}");
            deleted += execute(&mut tx, &sql, &args).await.expect("deleted by key");
        }
        assert_eq!(deleted, 1000);
        let left = Args::numbered([Value::from(2000)]);
        let rows: Vec<(i64,)> = fetch_in_tx(
            &mut tx,
            "SELECT COUNT(*) FROM bulk_test WHERE n < $1",
            &left,
        )
        .await
        .expect("counted");
        assert_eq!(rows, [(150,)]);
    }

    #[tokio::test]
    async fn values_round_trip_on_sqlite() {
        let pool = sqlx::SqlitePool::connect("sqlite::memory:")
            .await
            .expect("in-memory SQLite");
        round_trip(ReadModelTx::Sqlite(
            pool.begin().await.expect("begin"),
            None,
        ))
        .await;
    }

    #[tokio::test]
    async fn values_round_trip_on_postgres() {
        let Some(url) =
            bomizzel_store::testing::fresh_postgres_database("sql_values_round_trip").await
        else {
            return;
        };
        let pool = sqlx::PgPool::connect(&url).await.expect("PostgreSQL");
        round_trip(ReadModelTx::Postgres(pool.begin().await.expect("begin"))).await;
    }
}
