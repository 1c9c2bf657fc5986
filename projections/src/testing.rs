//! Test support: a fresh event log per test, domain commands appended the
//! way the API appends them, projections run to the head, and read-model
//! tables dumped for comparison.

use std::sync::Arc;

use bomizzel_domain::{Ticket, TicketCommand, TicketEvent};
use bomizzel_store::testing::{TempSqlite, fresh_postgres_database};
use bomizzel_store::{
    AppendRequest, Appended, Database, EventStore, ExpectedVersion, Metadata, NewEvent,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Projection, Runner, RunnerSettings};

/// An event store on a database of its own; the SQLite file lives as long
/// as this value.
#[derive(Debug)]
pub struct TestLog {
    pub store: EventStore,
    /// The database's URL, to open more stores on it (other "nodes").
    pub url: String,
    _sqlite: Option<TempSqlite>,
}

impl TestLog {
    pub async fn sqlite() -> Self {
        let file = TempSqlite::new();
        let store = EventStore::open(&file.url)
            .await
            .expect("sqlite store opens");
        Self {
            store,
            url: file.url.clone(),
            _sqlite: Some(file),
        }
    }

    /// `None` (after saying so) when there is no PostgreSQL server to use.
    pub async fn postgres(test_name: &str) -> Option<Self> {
        let url = fresh_postgres_database(test_name).await?;
        let store = EventStore::open(&url).await.expect("postgres store opens");
        Some(Self {
            store,
            url,
            _sqlite: None,
        })
    }

    pub fn database(&self) -> &Database {
        self.store.database()
    }
}

/// Who runs a command in a test, and when.
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: String,
    pub role: String,
    pub at: OffsetDateTime,
}

impl Actor {
    pub fn new(id: &str, role: &str) -> Self {
        Self {
            id: id.into(),
            role: role.into(),
            at: OffsetDateTime::now_utc(),
        }
    }

    /// The same actor acting at another time.
    pub fn at(&self, at: OffsetDateTime) -> Self {
        Self { at, ..self.clone() }
    }
}

/// Runs `command` against ticket `ticket_id` as the API does: load, decide,
/// append at the loaded version. Returns the event, if the command changed
/// anything.
pub async fn execute(
    store: &EventStore,
    ticket_id: Uuid,
    command: TicketCommand,
    actor: &Actor,
) -> Result<Option<(TicketEvent, Appended)>, String> {
    let stream_id = ticket_id.to_string();
    let history = store
        .read_stream(&stream_id, 1)
        .await
        .map_err(|e| e.to_string())?;
    let version = history.len() as u64;
    let events = history
        .into_iter()
        .map(|e| TicketEvent::decode(&e.event_type, e.schema_version, e.payload, e.position))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let ticket: Ticket = bomizzel_domain::fold(events);
    let Some(event) = ticket.decide(command).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let appended = append(store, &event, ExpectedVersion::Exact(version), actor)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Some((event, appended)))
}

/// Appends one domain event as `actor`.
pub async fn append(
    store: &EventStore,
    event: &TicketEvent,
    expected: ExpectedVersion,
    actor: &Actor,
) -> bomizzel_store::Result<Appended> {
    let mut metadata = Metadata::new(actor.id.clone(), actor.role.clone());
    metadata.occurred_at = actor.at;
    store
        .append(AppendRequest {
            stream_id: event.ticket_id().to_string(),
            expected_version: expected,
            events: vec![NewEvent {
                event_type: event.event_type_name().into(),
                schema_version: event.schema_version(),
                payload: event.to_payload(),
            }],
            metadata,
        })
        .await
}

/// Runs `projection` until it has applied everything in the log.
pub async fn project(store: &EventStore, projection: Arc<dyn Projection>) -> i64 {
    Runner::new(store.clone(), projection, RunnerSettings::default())
        .catch_up(|_, _| {})
        .await
        .expect("projection catches up")
}

/// Every row of `table` as JSON text, ordered by `order_by`, to compare a
/// read model with itself after a rebuild.
pub async fn dump_table(database: &Database, table: &str, order_by: &str) -> Vec<String> {
    match database {
        Database::Postgres(pool) => sqlx::query_scalar(&format!(
            "SELECT row_to_json(t)::text FROM {table} t ORDER BY {order_by}"
        ))
        .fetch_all(pool)
        .await
        .expect("table dumps"),
        Database::Sqlite(pool) => {
            let columns: Vec<String> =
                sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')"))
                    .fetch_all(pool)
                    .await
                    .expect("table has columns");
            let fields = columns
                .iter()
                .map(|c| format!("'{c}', {c}"))
                .collect::<Vec<_>>()
                .join(", ");
            sqlx::query_scalar(&format!(
                "SELECT json_object({fields}) FROM {table} ORDER BY {order_by}"
            ))
            .fetch_all(pool)
            .await
            .expect("table dumps")
        }
    }
}

/// Generates a SQLite and a PostgreSQL `#[tokio::test]` for each
/// `async fn name(log: TestLog)` (the PostgreSQL one says it was skipped
/// when there is no server).
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::testing::TestLog::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(log) = $crate::testing::TestLog::postgres(stringify!($name)).await {
                        super::$name(log).await;
                    }
                }
            )*
        }
    };
}
