//! What someone with write access to the database can do behind the
//! store's back: drop the triggers that keep events append-only, run their
//! own statements, and put the triggers back as they were. The audit tests
//! use it to rewrite, delete and reorder stored events.

use crate::store::{Database, EventStore};

/// Runs `statements` against `store`'s database with the event log's
/// triggers dropped, then creates the triggers again from their own
/// definitions. Panics on any failure: it is for tests.
pub async fn behind_dropped_triggers(store: &EventStore, statements: &[String]) {
    match store.database() {
        Database::Sqlite(pool) => {
            let triggers: Vec<(String, String)> = sqlx::query_as(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events'",
            )
            .fetch_all(pool)
            .await
            .expect("the triggers are listed");
            let mut tx = pool.begin().await.expect("a transaction");
            for (name, _) in &triggers {
                run(&mut *tx, &format!("DROP TRIGGER {name}")).await;
            }
            for statement in statements {
                run(&mut *tx, statement).await;
            }
            for (_, definition) in &triggers {
                run(&mut *tx, definition).await;
            }
            tx.commit().await.expect("the tampering commits");
        }
        Database::Postgres(pool) => {
            let triggers: Vec<(String, String)> = sqlx::query_as(
                "SELECT tgname::text, pg_get_triggerdef(oid) FROM pg_trigger \
                 WHERE tgrelid = 'events'::regclass AND NOT tgisinternal",
            )
            .fetch_all(pool)
            .await
            .expect("the triggers are listed");
            let mut tx = pool.begin().await.expect("a transaction");
            for (name, _) in &triggers {
                run(&mut *tx, &format!("DROP TRIGGER {name} ON events")).await;
            }
            for statement in statements {
                run(&mut *tx, statement).await;
            }
            for (_, definition) in &triggers {
                run(&mut *tx, definition).await;
            }
            tx.commit().await.expect("the tampering commits");
        }
    }
}

async fn run<'e, E>(executor: E, statement: &str)
where
    E: sqlx::Executor<'e>,
{
    executor
        .execute(statement)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}
