//! Test support: every test gets a database of its own.
//!
//! PostgreSQL tests read the server's URL from `BOMIZZEL_TEST_POSTGRES_URL`
//! (for example `postgres://postgres@127.0.0.1:5432/postgres`) and create a
//! fresh database on it. Without the variable they report that they were
//! skipped, unless `BOMIZZEL_REQUIRE_POSTGRES=1` (set by CI) makes that a
//! failure.

use sqlx::{Connection, Executor, PgConnection};

pub const POSTGRES_URL_VARIABLE: &str = "BOMIZZEL_TEST_POSTGRES_URL";
pub const REQUIRE_POSTGRES_VARIABLE: &str = "BOMIZZEL_REQUIRE_POSTGRES";

/// A SQLite database file in a temporary directory that lives as long as
/// this value.
#[derive(Debug)]
pub struct TempSqlite {
    pub url: String,
    _directory: tempfile::TempDir,
}

impl TempSqlite {
    pub fn new() -> Self {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}", directory.path().join("events.db").display());
        Self {
            url,
            _directory: directory,
        }
    }
}

impl Default for TempSqlite {
    fn default() -> Self {
        Self::new()
    }
}

/// Creates an empty PostgreSQL database for one test and returns its URL, or
/// `None` (after saying so) when no server is configured.
///
/// Panics when a server is configured but unreachable, or when
/// `BOMIZZEL_REQUIRE_POSTGRES=1` and none is configured: in CI a skipped
/// PostgreSQL half is a failure.
pub async fn fresh_postgres_database(test_name: &str) -> Option<String> {
    let Ok(server) = std::env::var(POSTGRES_URL_VARIABLE) else {
        assert!(
            std::env::var(REQUIRE_POSTGRES_VARIABLE).as_deref() != Ok("1"),
            "{REQUIRE_POSTGRES_VARIABLE}=1 but {POSTGRES_URL_VARIABLE} is not set"
        );
        eprintln!("skipped {test_name}: set {POSTGRES_URL_VARIABLE} to run it on PostgreSQL");
        return None;
    };
    let name = format!("bomizzel_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&server)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {server}: {e}"));
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap_or_else(|e| panic!("cannot create database {name}: {e}"));
    Some(replace_database(&server, &name))
}

fn replace_database(server: &str, name: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (server, String::new()),
    };
    let without_path = match base.find("://").map(|i| i + 3) {
        Some(authority) => match base[authority..].find('/') {
            Some(slash) => &base[..authority + slash],
            None => base,
        },
        None => base,
    };
    format!("{without_path}/{name}{query}")
}

#[cfg(test)]
mod tests {
    use super::replace_database;

    #[test]
    fn replaces_the_database_name_and_keeps_the_query() {
        assert_eq!(
            replace_database("postgres://u@h:5432/postgres?sslmode=disable", "x"),
            "postgres://u@h:5432/x?sslmode=disable"
        );
        assert_eq!(replace_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
