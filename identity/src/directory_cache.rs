//! The directory facts every request asks for, kept between requests on
//! the embedded database.
//!
//! Every request authenticates (the caller's teams, ended sessions, a
//! disable) and a create asks which team owns its queue: on SQLite those
//! two pooled reads were about a quarter of a create's CPU, each a few
//! hops to SQLite's thread and back. On SQLite this process is the only
//! one that writes the directory, and every directory write is a
//! [`WriteTx`](bomizzel_store::WriteTx), which the store counts once its
//! commit is through ([`EventStore::table_writes`]). A fact is kept only
//! when that count did not move while it was read, and everything kept is
//! dropped when the count moves: a request that starts after a directory
//! write committed reads what it wrote, as it would without the cache.
//!
//! On PostgreSQL other nodes write the directory too, and nothing here
//! would hear of it in time, so every lookup reads the database.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use bomizzel_store::{Database, EventStore};

use crate::directory::{self, CallerFacts};
use crate::error::IdentityResult;

/// Users or queues kept at most; past it the cache starts over.
const MAX_KEPT: usize = 100_000;

/// See the module documentation. Cheap to clone: clones share the cache.
#[derive(Debug, Clone)]
pub struct DirectoryCache {
    store: EventStore,
    /// `None` on PostgreSQL: nothing is kept.
    kept: Option<Arc<Mutex<Kept>>>,
}

#[derive(Debug, Default)]
struct Kept {
    /// The store's count of directory writes these facts were read under.
    table_writes: u64,
    callers: HashMap<String, CallerFacts>,
    queue_teams: HashMap<String, String>,
}

impl Kept {
    /// Forgets everything read before the count moved to `table_writes`.
    fn current(&mut self, table_writes: u64) -> &mut Self {
        if self.table_writes != table_writes {
            self.callers.clear();
            self.queue_teams.clear();
            self.table_writes = table_writes;
        }
        self
    }
}

impl DirectoryCache {
    pub fn new(store: EventStore) -> Self {
        let kept = matches!(store.database(), Database::Sqlite(_)).then(Default::default);
        Self { store, kept }
    }

    /// The caller facts of `user_id` ([`directory::caller_facts`]).
    pub async fn caller_facts(&self, user_id: &str) -> IdentityResult<CallerFacts> {
        self.kept_or_read(
            |kept| kept.callers.get(user_id).cloned(),
            directory::caller_facts(self.store.database(), user_id),
            |kept, facts| keep(&mut kept.callers, user_id, facts),
        )
        .await
    }

    /// The team that owns `queue_id` ([`directory::team_of_queue`]). An
    /// unknown queue is not kept: it may be created next.
    pub async fn team_of_queue(&self, queue_id: &str) -> IdentityResult<Option<String>> {
        self.kept_or_read(
            |kept| kept.queue_teams.get(queue_id).cloned().map(Some),
            directory::team_of_queue(self.store.database(), queue_id),
            |kept, team| {
                if let Some(team) = team {
                    keep(&mut kept.queue_teams, queue_id, team);
                }
            },
        )
        .await
    }

    /// What `find` finds among the facts still current, or else `read`,
    /// kept by `keep` unless a directory write committed meanwhile.
    async fn kept_or_read<T>(
        &self,
        find: impl FnOnce(&Kept) -> Option<T>,
        read: impl Future<Output = IdentityResult<T>>,
        keep: impl FnOnce(&mut Kept, &T),
    ) -> IdentityResult<T> {
        let Some(kept) = &self.kept else {
            return read.await;
        };
        let before = self.store.table_writes();
        if let Some(found) = find(lock(kept).current(before)) {
            return Ok(found);
        }
        let read = read.await?;
        let mut kept = lock(kept);
        if self.store.table_writes() == before {
            keep(kept.current(before), &read);
        }
        Ok(read)
    }
}

fn lock(kept: &Mutex<Kept>) -> MutexGuard<'_, Kept> {
    kept.lock().unwrap_or_else(|e| e.into_inner())
}

fn keep<T: Clone>(map: &mut HashMap<String, T>, key: &str, value: &T) {
    if map.len() >= MAX_KEPT {
        map.clear();
    }
    map.insert(key.to_owned(), value.clone());
}
