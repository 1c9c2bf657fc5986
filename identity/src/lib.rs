//! The layer below Bomizzel's two front doors, `api` (HTTP) and `gateway`
//! (`/ws` and Socket.IO): who a token belongs to ([`auth`]), what the
//! directory says about them ([`directory`]), how directory changes reach
//! every node ([`directory_changes`]) and a ticket as its stream tells it
//! ([`ticket`]), for permission checks. Both doors ask the same code, so a
//! token, a membership or a disabled user means the same on every
//! protocol. Nothing here speaks HTTP: [`IdentityError`] says what went
//! wrong, and each door decides how to answer it. What a caller may see is
//! the domain's visibility policy, asked through [`Caller::viewer`].

pub mod auth;
pub mod directory;
pub mod directory_changes;
mod error;
mod last_known;
pub mod ticket;

use bomizzel_projections::metrics::SlaTargets;
use bomizzel_store::EventStore;

pub use auth::{Caller, Role, TokenKeys};
pub use directory_changes::{DirectoryChange, DirectoryChanges};
pub use error::{IdentityError, IdentityResult};
pub use last_known::LastKnownFacts;

/// What both front doors need: the store, the token keys, this node's
/// directory changes and the SLA targets queue metrics are computed with.
#[derive(Debug, Clone)]
pub struct Shared {
    pub store: EventStore,
    pub keys: TokenKeys,
    /// Users whose memberships or sessions changed, on any node: the
    /// gateway re-checks their connections.
    pub directory_changes: DirectoryChanges,
    /// First-assignment targets for queue metrics.
    pub sla: SlaTargets,
    /// Directory facts to authenticate with while the database is away.
    pub last_known: LastKnownFacts,
}

impl Shared {
    pub fn new(store: EventStore, keys: TokenKeys, sla: SlaTargets) -> Self {
        Self {
            directory_changes: DirectoryChanges::new(store.database().clone()),
            store,
            keys,
            sla,
            last_known: LastKnownFacts::default(),
        }
    }
}
