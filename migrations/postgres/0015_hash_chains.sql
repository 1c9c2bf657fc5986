-- Tamper evidence (docs/audit.md): every event's links in the two hash
-- chains, `hash` (in position order) and `stream_hash` (in its stream's
-- version order), SHA-256 digests of 32 bytes written by the writer in the
-- batch's own transaction. Events written before this migration get theirs
-- from the store right after it (`EventStore::migrate`), in position order
-- under the append lock, so every node computes the same chain.
ALTER TABLE events ADD COLUMN hash BYTEA, ADD COLUMN stream_hash BYTEA;

-- Events stay append-only. The one update allowed is filling in the links
-- of an event that has none yet, with every other column unchanged.
DROP TRIGGER events_refuse_update_delete ON events;
CREATE TRIGGER events_refuse_delete BEFORE DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();
CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
    FOR EACH ROW
    WHEN (OLD.hash IS NOT NULL OR OLD.stream_hash IS NOT NULL
        OR (OLD.position, OLD.stream_id, OLD.version, OLD.event_type, OLD.event_version,
            OLD.payload::text, OLD.metadata::text, OLD.event_id, OLD.recorded_at)
        IS DISTINCT FROM
           (NEW.position, NEW.stream_id, NEW.version, NEW.event_type, NEW.event_version,
            NEW.payload::text, NEW.metadata::text, NEW.event_id, NEW.recorded_at))
    EXECUTE FUNCTION events_refuse_change();

-- As before, and with the links the batch continues: the head's `hash` and
-- the `stream_hash` of each stream's last event.
DROP FUNCTION events_lock_and_read(TEXT[], TEXT[]);
CREATE FUNCTION events_lock_and_read(p_streams TEXT[], p_keys TEXT[])
RETURNS TABLE (kind TEXT, id TEXT, stream_id TEXT, first_position BIGINT, last_position BIGINT,
               version BIGINT, hash BYTEA)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7346021);
    RETURN QUERY
        (SELECT 'head'::TEXT, ''::TEXT, ''::TEXT, 0::BIGINT, e.position, 0::BIGINT, e.hash
         FROM events e ORDER BY e.position DESC LIMIT 1)
        UNION ALL
        SELECT 'stream'::TEXT, s.stream_id, s.stream_id, 0::BIGINT, 0::BIGINT, latest.version,
               latest.stream_hash
        FROM (SELECT DISTINCT unnest(p_streams) AS stream_id) s
        CROSS JOIN LATERAL (
            SELECT e.version, e.stream_hash FROM events e WHERE e.stream_id = s.stream_id
            ORDER BY e.version DESC LIMIT 1
        ) latest
        UNION ALL
        SELECT 'key'::TEXT, k.key, k.stream_id, k.first_position, k.last_position, k.version,
               NULL::BYTEA
        FROM idempotency_keys k WHERE k.key = ANY(p_keys);
END;
$$;
