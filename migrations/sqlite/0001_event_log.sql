-- The append-only event log. `position` is assigned by the writer inside its
-- write transaction (max + 1), so positions are dense and in commit order.
CREATE TABLE events (
    position       INTEGER PRIMARY KEY,
    stream_id      TEXT    NOT NULL,
    version        INTEGER NOT NULL CHECK (version >= 1),
    event_type     TEXT    NOT NULL,
    event_version  INTEGER NOT NULL,
    payload        TEXT    NOT NULL,
    metadata       TEXT    NOT NULL,
    event_id       TEXT    NOT NULL UNIQUE,
    recorded_at    TEXT    NOT NULL,
    CONSTRAINT events_stream_version UNIQUE (stream_id, version)
);

-- The first answer to a command carrying an idempotency key, written in the
-- same transaction as its events.
CREATE TABLE idempotency_keys (
    key            TEXT    PRIMARY KEY,
    stream_id      TEXT    NOT NULL,
    first_position INTEGER NOT NULL,
    last_position  INTEGER NOT NULL,
    version        INTEGER NOT NULL,
    recorded_at    TEXT    NOT NULL
);

CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: UPDATE refused');
END;

CREATE TRIGGER events_refuse_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: DELETE refused');
END;
