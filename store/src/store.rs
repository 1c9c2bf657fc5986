//! [`EventStore`]: the one handle the rest of the system uses to append to
//! and read the log, whichever database is behind it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::{PgPool, SqlitePool};
use tokio::sync::{oneshot, watch};

use crate::error::{Result, StoreError};
use crate::health::Health;
use crate::model::{AppendRequest, Appended, RecordedAnswer, RecordedEvent};
use crate::plan::Chaining;
use crate::write_tx::WriteTx;
use crate::writer::Writer;
use crate::{audit, postgres, sqlite};

/// The database behind a store. Read models live in the same database, so
/// projections use these pools directly.
#[derive(Debug, Clone)]
pub enum Database {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A cheap-to-clone handle to the event log.
#[derive(Debug, Clone)]
pub struct EventStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    database: Database,
    writer: Writer,
    chaining: Chaining,
    head: watch::Sender<i64>,
    health: Health,
    /// Ticket numbers drawn from the counter and not handed out yet.
    pub(crate) numbers: crate::numbers::Drawn,
    /// Write transactions this handle committed ([`EventStore::table_writes`]).
    table_writes: Arc<AtomicU64>,
    /// Dropping them stops the PostgreSQL notification listener and health
    /// monitor.
    _stop_tasks: Vec<oneshot::Sender<()>>,
}

impl EventStore {
    /// Connects to `url` (`sqlite://PATH` or `postgres://…`) and applies any
    /// pending migrations.
    pub async fn open(url: &str) -> Result<Self> {
        Self::open_with(url, Chaining::Hashed).await
    }

    /// [`open`](Self::open), choosing whether appends are hashed; only the
    /// append benchmark writes without ([`Chaining::Unhashed`]).
    pub async fn open_with(url: &str, chaining: Chaining) -> Result<Self> {
        let store = Self::connect_with(url, chaining).await?;
        store.migrate().await?;
        let head = store.head().await?;
        crate::writer::advance(&store.inner.head, head);
        Ok(store)
    }

    /// Connects without migrating.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, Chaining::Hashed).await
    }

    async fn connect_with(url: &str, chaining: Chaining) -> Result<Self> {
        let (head, _) = watch::channel(0);
        let inner = if url.starts_with("sqlite:") {
            let options = sqlite::options(url)?;
            let (pool, committer) = sqlite::connect(&options, chaining).await?;
            Inner {
                database: Database::Sqlite(pool),
                writer: Writer::spawn(committer, head.clone()),
                chaining,
                head,
                health: Health::always_up(),
                numbers: Default::default(),
                table_writes: Default::default(),
                _stop_tasks: Vec::new(),
            }
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let (pool, committer, options) = postgres::connect(url, chaining).await?;
            let (stop_listener, listener_stopped) = oneshot::channel();
            postgres::start_listener(pool.clone(), head.clone(), listener_stopped).await?;
            let (stop_monitor, monitor_stopped) = oneshot::channel();
            Inner {
                database: Database::Postgres(pool),
                writer: Writer::spawn(committer, head.clone()),
                chaining,
                head,
                health: Health::monitor(options, monitor_stopped),
                numbers: Default::default(),
                table_writes: Default::default(),
                _stop_tasks: vec![stop_listener, stop_monitor],
            }
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Applies the migrations of this store's backend, then gives events
    /// written before the hash chains existed their links
    /// ([`audit::fill_missing_links`]).
    pub async fn migrate(&self) -> Result<()> {
        match &self.inner.database {
            Database::Sqlite(pool) => sqlite::MIGRATOR.run(pool).await?,
            Database::Postgres(pool) => postgres::MIGRATOR.run(pool).await?,
        }
        if self.inner.chaining == Chaining::Hashed {
            audit::fill_missing_links(self).await?;
        }
        Ok(())
    }

    /// Ticket numbers this handle drew and has not handed out yet.
    pub(crate) fn drawn_numbers(&self) -> &crate::numbers::Drawn {
        &self.inner.numbers
    }

    /// A write transaction on the log's database that may also append
    /// events ([`WriteTx::append`]): for changes that must be in the log
    /// exactly when they are in their tables, such as the directory's.
    pub async fn begin_write(&self) -> Result<WriteTx> {
        WriteTx::begin(
            &self.inner.database,
            self.inner.head.clone(),
            self.inner.chaining,
            self.inner.table_writes.clone(),
        )
        .await
    }

    /// How many [`WriteTx`] of this handle have committed (or failed at
    /// committing, which may still have committed). The count moves after
    /// the commit, so a value read before reading a table
    /// that is still the count afterwards means no write transaction of
    /// this handle committed in between: what a cache of such tables
    /// checks before keeping a row. Other handles and processes do not
    /// count here.
    pub fn table_writes(&self) -> u64 {
        self.inner.table_writes.load(Ordering::Acquire)
    }

    /// Whether the database answers, as its monitor last found.
    pub fn health(&self) -> &Health {
        &self.inner.health
    }

    pub fn database(&self) -> &Database {
        &self.inner.database
    }

    /// Appends one command's events atomically, batched with whatever other
    /// appends are waiting (group commit).
    pub async fn append(&self, request: AppendRequest) -> Result<Appended> {
        self.inner.writer.append(request).await
    }

    /// The events of `stream_id` with version >= `from_version`, in order.
    pub async fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
    ) -> Result<Vec<RecordedEvent>> {
        match &self.inner.database {
            Database::Sqlite(pool) => sqlite::read_stream(pool, stream_id, from_version).await,
            Database::Postgres(pool) => postgres::read_stream(pool, stream_id, from_version).await,
        }
    }

    /// Up to `limit` events after position `after`, in position order.
    pub async fn read_all(&self, after: i64, limit: u32) -> Result<Vec<RecordedEvent>> {
        match &self.inner.database {
            Database::Sqlite(pool) => sqlite::read_all(pool, after, limit).await,
            Database::Postgres(pool) => postgres::read_all(pool, after, limit).await,
        }
    }

    /// The first answer recorded for idempotency `key`, with the metadata
    /// of the events it appended.
    pub async fn recorded_answer(&self, key: &str) -> Result<Option<RecordedAnswer>> {
        const QUERY: &str = "SELECT k.stream_id, k.first_position, k.last_position, k.version, \
             CAST(e.metadata AS TEXT) FROM idempotency_keys k \
             JOIN events e ON e.position = k.first_position WHERE k.key = $1";
        let row: Option<(String, i64, i64, i64, String)> = match &self.inner.database {
            Database::Sqlite(pool) => sqlx::query_as(QUERY).bind(key).fetch_optional(pool).await?,
            Database::Postgres(pool) => {
                sqlx::query_as(QUERY).bind(key).fetch_optional(pool).await?
            }
        };
        let Some((stream_id, first_position, last_position, version, metadata)) = row else {
            return Ok(None);
        };
        let metadata = serde_json::from_str(&metadata).map_err(|e| StoreError::Corrupt {
            stream_id: stream_id.clone(),
            position: first_position,
            reason: format!("metadata is malformed: {e}"),
        })?;
        Ok(Some(RecordedAnswer {
            stream_id,
            appended: Appended {
                first_position,
                last_position,
                version: version as u64,
                duplicate: true,
            },
            metadata,
        }))
    }

    /// The position of the last committed event (0 when the log is empty).
    pub async fn head(&self) -> Result<i64> {
        match &self.inner.database {
            Database::Sqlite(pool) => sqlite::head(pool).await,
            Database::Postgres(pool) => postgres::head(pool).await,
        }
    }

    /// Wake-ups for tailers: the value is the newest head this process knows
    /// of, from its own appends and, on PostgreSQL, other nodes' NOTIFYs.
    /// Tailers still poll now and then: a wake-up can be missed.
    pub fn wakeups(&self) -> watch::Receiver<i64> {
        self.inner.head.subscribe()
    }
}
