//! What someone with write access to the database can do behind the
//! store's back: drop the triggers that keep events append-only, run their
//! own statements, and put the triggers back as they were. The audit tests
//! use it to rewrite, delete and reorder stored events.

use sqlx::{Executor, Pool};

use crate::store::{Database, EventStore};

/// Runs `statements` against `store`'s database with the event log's
/// triggers dropped, then creates the triggers again from their own
/// definitions, all in one transaction. Panics on any failure: it is for
/// tests.
pub async fn behind_dropped_triggers(store: &EventStore, statements: &[String]) {
    match store.database() {
        Database::Sqlite(pool) => {
            let triggers: Vec<(String, String)> = sqlx::query_as(
                "SELECT 'DROP TRIGGER ' || name, sql FROM sqlite_master \
                 WHERE type = 'trigger' AND tbl_name = 'events'",
            )
            .fetch_all(pool)
            .await
            .expect("the triggers are listed");
            run_all(pool, around(&triggers, statements)).await;
        }
        Database::Postgres(pool) => {
            let triggers: Vec<(String, String)> = sqlx::query_as(
                "SELECT 'DROP TRIGGER ' || tgname || ' ON events', pg_get_triggerdef(oid) \
                 FROM pg_trigger WHERE tgrelid = 'events'::regclass AND NOT tgisinternal",
            )
            .fetch_all(pool)
            .await
            .expect("the triggers are listed");
            run_all(pool, around(&triggers, statements)).await;
        }
    }
}

/// The drops, `statements`, then the definitions again.
fn around(triggers: &[(String, String)], statements: &[String]) -> Vec<String> {
    let drops = triggers.iter().map(|(drop, _)| drop.clone());
    let definitions = triggers.iter().map(|(_, definition)| definition.clone());
    drops
        .chain(statements.iter().cloned())
        .chain(definitions)
        .collect()
}

async fn run_all<DB: sqlx::Database>(pool: &Pool<DB>, statements: Vec<String>)
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let mut tx = pool.begin().await.expect("a transaction");
    for statement in &statements {
        tx.execute(statement.as_str())
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    tx.commit().await.expect("the tampering commits");
}
