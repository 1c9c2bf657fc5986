//! The walk that proves a log intact, or names the first position where it
//! is not and why: a position or a stream version missing, a stream's
//! versions out of order, or an event whose links do not match what it
//! holds (changed). `bomizzel audit verify` runs it.
//!
//! Each event's links are recomputed from the event and the *stored* link
//! before it, so every event's check is independent of the others and runs
//! in parallel; the order checks are one cheap sequential pass. Pages of
//! positions are read ahead on several connections at once. A whole
//! rewritten suffix (every link recomputed by whoever rewrote it) passes
//! these checks; it is caught by an anchor, a `(position, hash)` taken
//! earlier and kept elsewhere, which the recomputed chain must reach.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::str::FromStr;

use crate::audit::{AuditEvent, StreamHeads};
use crate::chain::{GENESIS, Hash, from_hex, to_hex};
use crate::error::{Result, StoreError};
use crate::store::EventStore;

/// Events read and checked per round.
const PAGE: i64 = 16_384;
/// Pages read at once, on connections of their own, while one is checked.
const READ_AHEAD: usize = 4;

/// A `(position, hash)` an auditor kept: the chain must reach `hash` at `position`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    pub position: i64,
    pub hash: Hash,
}

impl FromStr for Anchor {
    type Err = String;

    /// `POSITION:HASH`, the hash in 64 hexadecimal digits.
    fn from_str(value: &str) -> Result<Self, String> {
        let (position, hash) = value
            .split_once(':')
            .ok_or_else(|| format!("expected POSITION:HASH, got {value:?}"))?;
        let position = position
            .parse::<i64>()
            .ok()
            .filter(|p| *p >= 1)
            .ok_or_else(|| format!("{position:?} is not a position (1 or more)"))?;
        let hash = from_hex(hash)
            .ok_or_else(|| format!("{hash:?} is not a hash (64 hexadecimal digits)"))?;
        Ok(Self { position, hash })
    }
}

/// What is wrong at a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// An event that should be there is not.
    Missing,
    /// A stream's events are not in version order.
    Reordered,
    /// The event is not what was hashed (or has no link).
    Changed,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fault::Missing => "missing",
            Fault::Reordered => "reordered",
            Fault::Changed => "changed",
        })
    }
}

/// The first position that fails, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub position: i64,
    pub fault: Fault,
    pub detail: String,
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "position {}: {}: {}",
            self.position, self.fault, self.detail
        )
    }
}

/// A walk that found nothing wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intact {
    /// Events checked.
    pub checked: u64,
    /// The last event checked and its hash; `None` when there was none.
    pub head: Option<(i64, Hash)>,
}

/// The sequential state of a walk: where it is in the log and in each stream.
#[derive(Debug)]
pub struct Checker {
    next_position: i64,
    previous: Hash,
    streams: StreamHeads,
    anchor: Option<Anchor>,
    checked: u64,
}

impl Checker {
    /// A walk that starts at `from`, after `previous` (the stored hash of
    /// `from - 1`, or [`GENESIS`]) and the streams as they were before it.
    pub fn new(from: i64, previous: Hash, streams: StreamHeads, anchor: Option<Anchor>) -> Self {
        Self {
            next_position: from,
            previous,
            streams,
            anchor,
            checked: 0,
        }
    }

    /// Checks the next events of the walk, in position order.
    pub fn check(&mut self, events: &[AuditEvent]) -> Result<(), Broken> {
        let (previous_links, order) = self.follow(events);
        let linked = &events[..previous_links.len()];
        if let Some(broken) = first_broken_link(linked, &previous_links) {
            return Err(broken);
        }
        if let Some(broken) = self.anchor_broken(linked) {
            return Err(broken);
        }
        self.checked += linked.len() as u64;
        order.map_or(Ok(()), Err)
    }

    /// Events checked so far.
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// Walks `events` in order, checking positions and stream versions,
    /// and gives each event the stored links before it, up to the first
    /// that fails (returned too).
    fn follow(&mut self, events: &[AuditEvent]) -> (Vec<(Hash, Hash)>, Option<Broken>) {
        let mut links = Vec::with_capacity(events.len());
        for (index, event) in events.iter().enumerate() {
            if let Err(broken) = self.order(event, &events[index + 1..]) {
                return (links, Some(broken));
            }
            let (Some(hash), Some(stream_hash)) = (event.hash, event.stream_hash) else {
                let detail = "the event has no link in the hash chains".to_owned();
                return (links, Some(changed(event, detail)));
            };
            let in_stream = match self.streams.get_mut(&event.stream_id) {
                Some(head) => std::mem::replace(head, (event.version, Some(stream_hash))).1,
                None => {
                    self.streams
                        .insert(event.stream_id.clone(), (event.version, Some(stream_hash)));
                    Some(GENESIS)
                }
            };
            let previous = std::mem::replace(&mut self.previous, hash);
            links.push((previous, in_stream.unwrap_or(GENESIS)));
            self.next_position += 1;
        }
        (links, None)
    }

    /// The event is at the next position and the next version of its
    /// stream. A skipped version that comes later (among `later`, the rest
    /// of the page) is a reordering; one that does not, a missing event.
    fn order(&self, event: &AuditEvent, later: &[AuditEvent]) -> Result<(), Broken> {
        if event.position != self.next_position {
            return Err(Broken {
                position: self.next_position,
                fault: Fault::Missing,
                detail: format!(
                    "no event at this position; the next one is at {}",
                    event.position
                ),
            });
        }
        let last = self.streams.get(&event.stream_id).map_or(0, |head| head.0);
        let skipped_comes_later = || {
            later
                .iter()
                .any(|e| e.stream_id == event.stream_id && e.version == last + 1)
        };
        let fault = match event.version {
            version if version == last + 1 => return Ok(()),
            version if version <= last => Fault::Reordered,
            _ if skipped_comes_later() => Fault::Reordered,
            _ => Fault::Missing,
        };
        Err(Broken {
            position: event.position,
            fault,
            detail: format!(
                "version {} of stream {} follows its version {last}",
                event.version, event.stream_id
            ),
        })
    }

    fn anchor_broken(&self, events: &[AuditEvent]) -> Option<Broken> {
        let anchor = self.anchor?;
        let event = events.iter().find(|e| e.position == anchor.position)?;
        let hash = event.hash?;
        (hash != anchor.hash).then(|| {
            changed(
                event,
                format!(
                    "the chain reaches {} here, not the anchor's {}: an event at or before it was rewritten",
                    to_hex(&hash),
                    to_hex(&anchor.hash)
                ),
            )
        })
    }
}

fn changed(event: &AuditEvent, detail: String) -> Broken {
    Broken {
        position: event.position,
        fault: Fault::Changed,
        detail,
    }
}

/// The first event whose stored links are not its links after the stored
/// links before it; checked on every core.
fn first_broken_link(events: &[AuditEvent], previous: &[(Hash, Hash)]) -> Option<Broken> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = events.len().div_ceil(threads).max(1024);
    std::thread::scope(|scope| {
        let checks: Vec<_> = events
            .chunks(chunk)
            .zip(previous.chunks(chunk))
            .map(|(events, previous)| {
                scope.spawn(move || {
                    events
                        .iter()
                        .zip(previous)
                        .find_map(|(event, links)| broken_link(event, links))
                })
            })
            .collect();
        checks
            .into_iter()
            .find_map(|check| check.join().unwrap_or(None))
    })
}

fn broken_link(event: &AuditEvent, (previous, in_stream): &(Hash, Hash)) -> Option<Broken> {
    let encoded = event.encoded();
    if Some(encoded.link(previous)) != event.hash {
        return Some(changed(
            event,
            "its hash does not match the event and the link before it".to_owned(),
        ));
    }
    if Some(encoded.link(in_stream)) != event.stream_hash {
        return Some(changed(
            event,
            format!(
                "its stream hash does not match the event and version {} of stream {}",
                event.version - 1,
                event.stream_id
            ),
        ));
    }
    None
}

/// Walks the log from position `from` to its head (see the module
/// documentation), calling `progress` with the events checked so far and
/// the total to check. `Ok(Err(_))` is a log that fails; `Err(_)` is a
/// walk that could not be made.
pub async fn verify(
    store: &EventStore,
    from: i64,
    anchor: Option<Anchor>,
    mut progress: impl FnMut(u64, u64),
) -> Result<Result<Intact, Broken>> {
    let from = from.max(1);
    let head = store
        .chain_head()
        .await?
        .map_or(0, |(position, _)| position);
    if let Some(anchor) = anchor.filter(|a| a.position > head) {
        return Ok(Err(Broken {
            position: head + 1,
            fault: Fault::Missing,
            detail: format!(
                "the log ends here, before the anchor at {}",
                anchor.position
            ),
        }));
    }
    let previous = match from {
        1 => GENESIS,
        _ => store
            .hashes_at(&[from - 1])
            .await?
            .remove(&(from - 1))
            .unwrap_or(GENESIS),
    };
    let streams = match from {
        1 => HashMap::new(),
        _ => store.stream_heads_before(from).await?,
    };
    let total = u64::try_from(head - from + 1).unwrap_or(0);
    let mut checker = Checker::new(from, previous, streams, anchor);
    let mut last_hash = None;
    let mut pages = (from..=head).step_by(PAGE as usize);
    let mut reading: VecDeque<_> = pages
        .by_ref()
        .take(READ_AHEAD)
        .map(|start| read_page(store, start))
        .collect();
    while let Some(next) = reading.pop_front() {
        if let Some(start) = pages.next() {
            reading.push_back(read_page(store, start));
        }
        let page = match next.await.map_err(|_| StoreError::Closed)? {
            Ok(page) => page,
            Err(StoreError::Corrupt {
                position, reason, ..
            }) => {
                return Ok(Err(Broken {
                    position,
                    fault: Fault::Changed,
                    detail: format!("the event cannot be read: {reason}"),
                }));
            }
            Err(error) => return Err(error),
        };
        // A page of removed events is empty; the next one's first
        // position then says what is missing.
        let Some(last) = page.last() else { continue };
        last_hash = last.hash.map(|hash| (last.position, hash));
        let (returned, outcome) = tokio::task::spawn_blocking(move || {
            let outcome = checker.check(&page);
            (checker, outcome)
        })
        .await
        .map_err(|_| StoreError::Closed)?;
        checker = returned;
        if let Err(broken) = outcome {
            return Ok(Err(broken));
        }
        progress(checker.checked(), total);
    }
    Ok(Ok(Intact {
        checked: checker.checked(),
        head: last_hash,
    }))
}

fn read_page(store: &EventStore, from: i64) -> tokio::task::JoinHandle<Result<Vec<AuditEvent>>> {
    let store = store.clone();
    tokio::spawn(async move { store.audit_range(from, from + PAGE - 1).await })
}
