//! Test support: every test gets a database of its own.
//!
//! PostgreSQL tests create a fresh database on the server named by
//! `BOMIZZEL_TEST_POSTGRES_URL`. When the variable is unset they try
//! [`DEFAULT_POSTGRES_URL`] once per process and use it if it answers and
//! may create databases; set to `off` (or empty) they never try. Without a
//! server they are skipped and say so ([`suites`]), unless
//! `BOMIZZEL_REQUIRE_POSTGRES=1` (set by CI) makes that a failure.

use std::time::Duration;

use sqlx::{Connection, Executor, PgConnection};
use tokio::sync::OnceCell;

pub mod suites;
pub mod tamper;

use suites::{Skip, Suite};

pub const POSTGRES_URL_VARIABLE: &str = "BOMIZZEL_TEST_POSTGRES_URL";
pub const REQUIRE_POSTGRES_VARIABLE: &str = "BOMIZZEL_REQUIRE_POSTGRES";
/// Where the PostgreSQL tests look for a server when the variable is unset.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

const POSTGRES: Suite = Suite {
    name: "PostgreSQL",
    require_variable: REQUIRE_POSTGRES_VARIABLE,
};

/// Generates, for each `async fn name(url: String)`, one test per backend:
/// `sqlite::name` on a temporary file and `postgres::name` on a fresh
/// database (skipped, and said so, without a server).
#[macro_export]
macro_rules! each_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let database = $crate::testing::TempSqlite::new();
                    super::$name(database.url.clone()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(url) = $crate::testing::fresh_postgres_database(stringify!($name)).await else {
                        return;
                    };
                    super::$name(url).await;
                }
            )*
        }
    };
}

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
/// `None` (after saying so) when there is no server to use.
///
/// Panics when a server is configured but unreachable, or when
/// `BOMIZZEL_REQUIRE_POSTGRES=1` and there is none: in CI a skipped
/// PostgreSQL half is a failure.
pub async fn fresh_postgres_database(test_name: &str) -> Option<String> {
    let server = match postgres_server().await {
        Ok(server) => server,
        Err(why) => {
            suites::skip(&POSTGRES, test_name, &why);
            return None;
        }
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

/// The server to create test databases on, decided once per process.
async fn postgres_server() -> Result<String, Skip> {
    static SERVER: OnceCell<Result<String, Skip>> = OnceCell::const_new();
    SERVER.get_or_init(find_postgres_server).await.clone()
}

async fn find_postgres_server() -> Result<String, Skip> {
    let command = format!("{POSTGRES_URL_VARIABLE}={DEFAULT_POSTGRES_URL} cargo test --workspace");
    match std::env::var(POSTGRES_URL_VARIABLE) {
        Ok(url) if url.is_empty() || url == "off" => Err(Skip::new(
            format!("{POSTGRES_URL_VARIABLE} is {url:?}"),
            command,
        )),
        Ok(url) => Ok(url),
        Err(_) => {
            let found = tokio::time::timeout(Duration::from_secs(3), may_create_databases())
                .await
                .unwrap_or_else(|_| Err("no answer within 3 s".to_owned()));
            match found {
                Ok(()) => Ok(DEFAULT_POSTGRES_URL.to_owned()),
                Err(why) => Err(Skip::new(
                    format!("{POSTGRES_URL_VARIABLE} is unset and {DEFAULT_POSTGRES_URL} {why}"),
                    command.replace(
                        DEFAULT_POSTGRES_URL,
                        "postgres://USER:PASSWORD@HOST:5432/postgres",
                    ),
                )),
            }
        }
    }
}

/// Whether the default server answers and its user may create databases.
async fn may_create_databases() -> Result<(), String> {
    let mut connection = PgConnection::connect(DEFAULT_POSTGRES_URL)
        .await
        .map_err(|e| format!("does not answer ({e})"))?;
    let allowed: bool = sqlx::query_scalar(
        "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(&mut connection)
    .await
    .map_err(|e| format!("answers but cannot say whether it may create databases ({e})"))?;
    let _ = connection.close().await;
    if allowed {
        Ok(())
    } else {
        Err("answers but its user may not create databases".to_owned())
    }
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
