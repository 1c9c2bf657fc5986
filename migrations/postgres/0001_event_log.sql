-- The append-only event log. `position` is assigned by the writer while it
-- holds a transaction-scoped advisory lock (max + 1), so positions are dense
-- and become visible in commit order: a reader that has seen position P never
-- later finds a new event at a position <= P.
CREATE TABLE events (
    position       BIGINT      PRIMARY KEY,
    stream_id      TEXT        NOT NULL,
    version        BIGINT      NOT NULL CHECK (version >= 1),
    event_type     TEXT        NOT NULL,
    event_version  INTEGER     NOT NULL,
    payload        JSON        NOT NULL,
    metadata       JSON        NOT NULL,
    event_id       UUID        NOT NULL UNIQUE,
    recorded_at    TIMESTAMPTZ NOT NULL,
    CONSTRAINT events_stream_version UNIQUE (stream_id, version)
);

CREATE TABLE idempotency_keys (
    key            TEXT        PRIMARY KEY,
    stream_id      TEXT        NOT NULL,
    first_position BIGINT      NOT NULL,
    last_position  BIGINT      NOT NULL,
    version        BIGINT      NOT NULL,
    recorded_at    TIMESTAMPTZ NOT NULL
);

CREATE FUNCTION events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER events_refuse_update_delete BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();
CREATE TRIGGER events_refuse_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();

-- Takes the append lock, then reads what the writer needs to decide a batch.
-- One call instead of three round trips; the lock comes first so that the
-- reads see every batch committed before it (each statement of a volatile
-- function takes a fresh snapshot). Stream versions are one index probe per
-- stream (newest version first), so their cost does not grow with streams'
-- length.
CREATE FUNCTION events_lock_and_read(p_streams TEXT[], p_keys TEXT[])
RETURNS TABLE (kind TEXT, id TEXT, stream_id TEXT, first_position BIGINT, last_position BIGINT, version BIGINT)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7346021);
    RETURN QUERY
        SELECT 'head'::TEXT, ''::TEXT, ''::TEXT, 0::BIGINT, COALESCE(MAX(e.position), 0)::BIGINT, 0::BIGINT
        FROM events e
        UNION ALL
        SELECT 'stream'::TEXT, s.stream_id, s.stream_id, 0::BIGINT, 0::BIGINT, latest.version
        FROM (SELECT DISTINCT unnest(p_streams) AS stream_id) s
        CROSS JOIN LATERAL (
            SELECT e.version FROM events e WHERE e.stream_id = s.stream_id
            ORDER BY e.version DESC LIMIT 1
        ) latest
        UNION ALL
        SELECT 'key'::TEXT, k.key, k.stream_id, k.first_position, k.last_position, k.version
        FROM idempotency_keys k WHERE k.key = ANY(p_keys);
END;
$$;
