-- Tamper evidence (docs/audit.md): every event's links in the two hash
-- chains, `hash` (in position order) and `stream_hash` (in its stream's
-- version order), SHA-256 digests of 32 bytes written by the writer in the
-- batch's own transaction. Events written before this migration get theirs
-- from the store right after it (`EventStore::migrate`), in position order
-- under the write lock, so every node computes the same chain.
ALTER TABLE events ADD COLUMN hash BLOB;
ALTER TABLE events ADD COLUMN stream_hash BLOB;

-- Events stay append-only. The one update allowed is filling in the links
-- of an event that has none yet, with every other column unchanged.
DROP TRIGGER events_refuse_update;
CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
WHEN OLD.hash IS NOT NULL OR OLD.stream_hash IS NOT NULL
    OR NEW.position IS NOT OLD.position OR NEW.stream_id IS NOT OLD.stream_id
    OR NEW.version IS NOT OLD.version OR NEW.event_type IS NOT OLD.event_type
    OR NEW.event_version IS NOT OLD.event_version OR NEW.payload IS NOT OLD.payload
    OR NEW.metadata IS NOT OLD.metadata OR NEW.event_id IS NOT OLD.event_id
    OR NEW.recorded_at IS NOT OLD.recorded_at
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: UPDATE refused');
END;
