//! The databases a benchmark runs against, one fresh database per run so
//! that runs do not see each other's events: a SQLite file in a temporary
//! directory, or a `bomizzel_bench_<uuid>` database created on the
//! PostgreSQL server for the run and dropped (`WITH (FORCE)`) afterwards.
//!
//! A data set that takes long to build (the `finding` benchmark's million
//! tickets) can instead be kept under a name between runs
//! ([`FreshDatabase::kept`]): `target/bench/data/NAME.db`, or the database
//! `bomizzel_bench_NAME`, left in place until [`remove_kept`] deletes it.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use bomizzel_store::Database;
use clap::{Args, ValueEnum};
use serde::Serialize;
use sqlx::{Connection, PgConnection};
use tempfile::TempDir;

/// `--backend` and `--postgres-url`, shared by every subcommand.
#[derive(Debug, Clone, Args)]
pub struct BackendArgs {
    /// Which database(s) to benchmark.
    #[arg(long, value_enum, default_value_t = BackendChoice::Both)]
    pub backend: BackendChoice,
    /// A PostgreSQL server URL whose user may CREATE and DROP DATABASE; each
    /// run gets its own database on that server.
    #[arg(
        long,
        env = "BOMIZZEL_BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres",
        hide_env_values = true
    )]
    pub postgres_url: String,
}

impl BackendArgs {
    pub fn backends(&self) -> Vec<Backend> {
        match self.backend {
            BackendChoice::Sqlite => vec![Backend::Sqlite],
            BackendChoice::Postgres => vec![Backend::Postgres],
            BackendChoice::Both => vec![Backend::Sqlite, Backend::Postgres],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    Sqlite,
    Postgres,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// A database that exists only for one run. Call [`FreshDatabase::remove`]
/// when done: a PostgreSQL database is not dropped otherwise.
#[derive(Debug)]
pub struct FreshDatabase {
    url: String,
    place: Place,
}

#[derive(Debug)]
enum Place {
    Sqlite(TempDir),
    Postgres {
        server_url: String,
        name: String,
    },
    /// Kept between runs: removing it leaves it in place.
    Kept,
}

/// Where the SQLite file of the data set kept as `name` lives.
fn kept_sqlite_path(name: &str) -> PathBuf {
    Path::new("target/bench/data").join(format!("{name}.db"))
}

/// The PostgreSQL database of the data set kept as `name`.
fn kept_postgres_name(name: &str) -> String {
    format!("bomizzel_bench_{name}")
}

/// Deletes the data set kept as `name` on `backend`, if there is one.
pub async fn remove_kept(backend: Backend, postgres_url: &str, name: &str) -> Result<()> {
    match backend {
        Backend::Sqlite => {
            let path = kept_sqlite_path(name);
            for suffix in ["", "-wal", "-shm"] {
                let file = PathBuf::from(format!("{}{suffix}", path.display()));
                if file.exists() {
                    std::fs::remove_file(&file)
                        .with_context(|| format!("cannot remove {}", file.display()))?;
                }
            }
            Ok(())
        }
        Backend::Postgres => drop_database(postgres_url, &kept_postgres_name(name)).await,
    }
}

async fn drop_database(server_url: &str, name: &str) -> Result<()> {
    let mut server = PgConnection::connect(server_url).await?;
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut server)
        .await
        .with_context(|| format!("cannot DROP DATABASE {name}"))?;
    server.close().await.ok();
    Ok(())
}

impl FreshDatabase {
    pub async fn create(backend: Backend, postgres_url: &str) -> Result<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::Builder::new()
                    .prefix("bomizzel-bench-")
                    .tempdir()
                    .context("cannot create a temporary directory for SQLite")?;
                let url = format!("sqlite://{}", dir.path().join("events.db").display());
                Ok(Self {
                    url,
                    place: Place::Sqlite(dir),
                })
            }
            Backend::Postgres => {
                let name = format!("bomizzel_bench_{}", uuid::Uuid::new_v4().simple());
                let mut server = PgConnection::connect(postgres_url)
                    .await
                    .context("cannot connect to the PostgreSQL server (see --postgres-url)")?;
                sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
                    .execute(&mut server)
                    .await
                    .with_context(|| format!("cannot CREATE DATABASE {name}"))?;
                server.close().await.ok();
                Ok(Self {
                    url: with_database(postgres_url, &name)?,
                    place: Place::Postgres {
                        server_url: postgres_url.to_owned(),
                        name,
                    },
                })
            }
        }
    }

    /// The data set kept as `name` (created empty when there is none yet):
    /// what an earlier run left in it is still there.
    pub async fn kept(backend: Backend, postgres_url: &str, name: &str) -> Result<Self> {
        let url = match backend {
            Backend::Sqlite => {
                let path = kept_sqlite_path(name);
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("cannot create {}", dir.display()))?;
                }
                format!("sqlite://{}", path.display())
            }
            Backend::Postgres => {
                let name = kept_postgres_name(name);
                let mut server = PgConnection::connect(postgres_url)
                    .await
                    .context("cannot connect to the PostgreSQL server (see --postgres-url)")?;
                let exists: Option<i32> =
                    sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
                        .bind(&name)
                        .fetch_optional(&mut server)
                        .await?;
                if exists.is_none() {
                    sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
                        .execute(&mut server)
                        .await
                        .with_context(|| format!("cannot CREATE DATABASE {name}"))?;
                }
                server.close().await.ok();
                with_database(postgres_url, &name)?
            }
        };
        Ok(Self {
            url,
            place: Place::Kept,
        })
    }

    /// The URL to give `EventStore::open`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Deletes the database. Close the stores using it first; PostgreSQL
    /// connections still open are terminated.
    pub async fn remove(self) -> Result<()> {
        match self.place {
            Place::Sqlite(dir) => dir.close().context("cannot remove the SQLite directory"),
            Place::Postgres { server_url, name } => drop_database(&server_url, &name).await,
            Place::Kept => Ok(()),
        }
    }
}

/// The database engine's version string, for the report.
pub async fn engine_version(database: &Database) -> Result<String> {
    Ok(match database {
        Database::Sqlite(pool) => {
            let version: String = sqlx::query_scalar("SELECT sqlite_version()")
                .fetch_one(pool)
                .await?;
            format!("SQLite {version}")
        }
        Database::Postgres(pool) => {
            let version: String = sqlx::query_scalar("SHOW server_version")
                .fetch_one(pool)
                .await?;
            format!("PostgreSQL {version}")
        }
    })
}

/// `url` with its database (the path) replaced by `name`, query kept.
fn with_database(url: &str, name: &str) -> Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority = base
        .find("://")
        .map(|i| i + 3)
        .with_context(|| "the PostgreSQL URL has no scheme: use postgres://…".to_owned())?;
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    let mut out = format!("{}/{name}", &base[..path]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_of_a_url() {
        let cases = [
            ("postgres://u@h:5432/postgres", "postgres://u@h:5432/x"),
            ("postgres://u@h:5432", "postgres://u@h:5432/x"),
            (
                "postgres://u:p@h/db?sslmode=disable",
                "postgres://u:p@h/x?sslmode=disable",
            ),
            (
                "postgresql://h/?application_name=a",
                "postgresql://h/x?application_name=a",
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(with_database(url, "x").unwrap(), expected, "{url}");
        }
        assert!(with_database("h:5432/db", "x").is_err());
    }
}
