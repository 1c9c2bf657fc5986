//! The layer below Bomizzel's two front doors, `api` (HTTP) and `gateway`
//! (`/ws` and Socket.IO): who a token belongs to ([`auth`]), what the
//! directory says about them ([`directory`], read through
//! [`DirectoryCache`]), how directory changes reach every node
//! ([`directory_changes`]) and a ticket as its stream tells it
//! ([`ticket`]), for permission checks. Both doors ask the same code, so a
//! token, a membership or a disabled user means the same on every
//! protocol. Who is present on a ticket or team ([`presence`]) lives here
//! too, since both doors show it. Nothing here speaks HTTP: [`IdentityError`] says what went
//! wrong, and each door decides how to answer it. What a caller may see is
//! the domain's visibility policy, asked through [`Caller::viewer`].

pub mod auth;
pub mod directory;
mod directory_cache;
pub mod directory_changes;
mod error;
mod last_known;
mod listen;
pub mod presence;
mod presence_relay;
pub mod ticket;

use bomizzel_projections::metrics::SlaTargets;
use bomizzel_store::EventStore;

pub use auth::{Caller, Role, TokenKeys};
pub use directory_cache::DirectoryCache;
pub use directory_changes::{DirectoryChange, DirectoryChanges};
pub use error::{IdentityError, IdentityResult};
pub use last_known::LastKnownFacts;
pub use presence::{Presence, PresenceSettings};
pub use ticket::Tickets;

/// What both front doors need: the store, the token keys, this node's
/// directory changes, the SLA targets queue metrics are computed with and
/// presence.
#[derive(Debug, Clone)]
pub struct Shared {
    pub store: EventStore,
    /// The tickets this node's commands folded last (see [`Tickets`]).
    pub tickets: Tickets,
    pub keys: TokenKeys,
    /// The directory facts requests ask for: teams of a caller, team of a
    /// queue (kept between requests on SQLite).
    pub directory: DirectoryCache,
    /// Users whose memberships or sessions changed, on any node: the
    /// gateway re-checks their connections.
    pub directory_changes: DirectoryChanges,
    /// First-assignment targets for queue metrics.
    pub sla: SlaTargets,
    /// Directory facts to authenticate with while the database is away.
    pub last_known: LastKnownFacts,
    /// Who is viewing or replying on tickets, and online in teams.
    pub presence: Presence,
}

impl Shared {
    /// With presence lasting as [`PresenceSettings::default`] says (replace
    /// `presence` before sharing to change that).
    pub fn new(store: EventStore, keys: TokenKeys, sla: SlaTargets) -> Self {
        Self {
            presence: Presence::new(PresenceSettings::default()),
            directory: DirectoryCache::new(store.clone()),
            directory_changes: DirectoryChanges::new(store.database().clone()),
            tickets: Tickets::new(store.clone()),
            store,
            keys,
            sla,
            last_known: LastKnownFacts::default(),
        }
    }
}
