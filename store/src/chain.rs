//! The two hash chains that make the log tamper-evident, and the canonical
//! encoding of an event they hash (specified for other implementations in
//! `docs/audit.md`; `tools/audit_verify.py` re-computes it).
//!
//! Every event carries `hash`, SHA-256 over the previous event's `hash` (in
//! position order) and the event's encoding, and `stream_hash`, the same
//! over the previous `stream_hash` of its stream (in version order). The
//! first link of either chain hashes over [`GENESIS`]. Rewriting, removing
//! or reordering any stored event breaks the link at that event; rewriting
//! the rest of the chain to match is caught by comparing with a head an
//! auditor kept elsewhere (an anchor).
//!
//! The encoding is over the event's stored text (payload and metadata JSON
//! exactly as stored, never re-serialised), so a verifier needs no JSON
//! canonicalisation, only these bytes.

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// What the first event of the log and of each stream links to.
pub const GENESIS: Hash = [0; 32];

/// The fields of an event that the chains cover, as stored.
#[derive(Debug, Clone, Copy)]
pub struct Encoded<'a> {
    pub position: i64,
    pub stream_id: &'a str,
    pub version: i64,
    pub event_type: &'a str,
    pub schema_version: i32,
    pub event_id: &'a str,
    /// `recorded_at` in nanoseconds since the Unix epoch.
    pub recorded_at_ns: i64,
    /// The payload's JSON text exactly as stored.
    pub payload: &'a str,
    /// The metadata's JSON text exactly as stored.
    pub metadata: &'a str,
}

impl Encoded<'_> {
    /// The link after `previous`: SHA-256(previous || encoding).
    pub fn link(&self, previous: &Hash) -> Hash {
        let mut hasher = Sha256::new();
        hasher.update(previous);
        hasher.update(self.position.to_be_bytes());
        text(&mut hasher, self.stream_id);
        hasher.update(self.version.to_be_bytes());
        text(&mut hasher, self.event_type);
        hasher.update(i64::from(self.schema_version).to_be_bytes());
        text(&mut hasher, self.event_id);
        hasher.update(self.recorded_at_ns.to_be_bytes());
        text(&mut hasher, self.payload);
        text(&mut hasher, self.metadata);
        hasher.finalize().into()
    }
}

/// A text field: its UTF-8 length as 4 bytes big-endian, then the bytes.
fn text(hasher: &mut Sha256, value: &str) {
    hasher.update((value.len() as u32).to_be_bytes());
    hasher.update(value.as_bytes());
}

/// `at` in nanoseconds since the Unix epoch, as the encoding wants it.
pub fn nanos(at: OffsetDateTime) -> i64 {
    // Fits in i64 until the year 2262.
    at.unix_timestamp_nanos() as i64
}

/// A hash as 64 lowercase hexadecimal digits.
pub fn to_hex(hash: &Hash) -> String {
    hash.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A hash from 64 hexadecimal digits.
pub fn from_hex(hex: &str) -> Option<Hash> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut hash = GENESIS;
    for (byte, pair) in hash.iter_mut().zip(hex.as_bytes().chunks(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(hash)
}

/// A stored hash column (32 bytes), or `None` when it is missing or not 32 bytes long.
pub(crate) fn stored(bytes: Option<Vec<u8>>) -> Option<Hash> {
    bytes.and_then(|bytes| bytes.try_into().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of docs/audit.md; the Python verifier's test
    /// checks the same digest.
    fn example() -> Encoded<'static> {
        Encoded {
            position: 1,
            stream_id: "0190a0c4-0000-7000-8000-000000000001",
            version: 1,
            event_type: "CommentAdded",
            schema_version: 1,
            event_id: "0190a0c4-0000-7000-8000-0000000000e1",
            recorded_at_ns: 1_700_000_000_123_456_000,
            payload: r#"{"body":"hello","internal":false}"#,
            metadata: r#"{"actor":"u1","role":"agent","occurred_at":"2023-11-14T22:13:20.123456Z"}"#,
        }
    }

    #[test]
    fn the_documented_example_hashes_to_the_documented_digest() {
        assert_eq!(
            to_hex(&example().link(&GENESIS)),
            "343e51c2ce2fd4ef2bd83cd4926d5193160d0ebf7461b985abe9643f15646c5a"
        );
    }

    #[test]
    fn every_field_and_the_previous_link_change_the_hash() {
        let base = example().link(&GENESIS);
        let mut changed = example();
        changed.payload = r#"{"body":"hellO","internal":false}"#;
        assert_ne!(changed.link(&GENESIS), base);
        let mut moved = example();
        moved.position = 2;
        assert_ne!(moved.link(&GENESIS), base);
        assert_ne!(example().link(&[1; 32]), base);
        // Length prefixes: moving a byte from one text field to the next
        // is a different encoding.
        let mut shifted = example();
        shifted.event_type = "CommentAdde";
        shifted.event_id = "d0190a0c4-0000-7000-8000-0000000000e1";
        assert_ne!(shifted.link(&GENESIS), base);
    }

    #[test]
    fn hex_round_trips() {
        let hash = example().link(&GENESIS);
        assert_eq!(from_hex(&to_hex(&hash)), Some(hash));
        assert_eq!(from_hex("zz"), None);
    }
}
