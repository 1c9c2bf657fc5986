//! `bomizzel serve` and `bomizzel migrate` as a newcomer runs them.

mod common;

use std::process::Command;

use bomizzel_store::testing::{TempSqlite, fresh_postgres_database};
use common::Server;

#[tokio::test]
async fn serve_starts_with_no_configuration_on_sqlite_in_the_data_directory() {
    let workdir = tempfile::tempdir().unwrap();
    let server = Server::start(workdir.path(), &[]);

    let health: serde_json::Value = reqwest::get(server.url("/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let ready = reqwest::get(server.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    assert!(
        workdir.path().join("data/bomizzel.db").exists(),
        "the default database is a SQLite file under ./data"
    );
    assert!(server.terminate().success(), "SIGTERM shuts down cleanly");
}

fn migrate(database_url: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_bomizzel"))
        .args(["migrate", "--database-url", database_url])
        .output()
        .unwrap()
}

#[tokio::test]
async fn migrate_applies_migrations_to_a_sqlite_url() {
    let database = TempSqlite::new();
    let output = migrate(&database.url);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let store = bomizzel_store::EventStore::connect(&database.url)
        .await
        .unwrap();
    assert_eq!(store.head().await.unwrap(), 0, "the events table exists");
}

#[tokio::test]
async fn migrate_applies_migrations_to_a_postgres_url() {
    let Some(url) = fresh_postgres_database("migrate_applies_migrations_to_a_postgres_url").await
    else {
        return;
    };
    let output = migrate(&url);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let store = bomizzel_store::EventStore::connect(&url).await.unwrap();
    assert_eq!(store.head().await.unwrap(), 0, "the events table exists");
}

#[test]
fn an_unsupported_database_url_is_a_clear_error() {
    let output = migrate("mysql://localhost/x");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unsupported database url"), "{stderr}");
}
