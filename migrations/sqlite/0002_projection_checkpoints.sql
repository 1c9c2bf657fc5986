-- Where each projection is in the event log. Written in the same transaction
-- as the projection's read-model changes, so a crash never applies an event
-- twice or skips one.
CREATE TABLE projection_checkpoints (
    name        TEXT    PRIMARY KEY,
    position    INTEGER NOT NULL DEFAULT 0,
    -- catching_up | live | rebuilding | failed
    state       TEXT    NOT NULL,
    -- Bumped by every rebuild; a runner holding an older generation stops.
    generation  INTEGER NOT NULL DEFAULT 1,
    error       TEXT,
    updated_at  TEXT    NOT NULL
);
