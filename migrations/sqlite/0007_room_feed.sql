-- Room feed (projection "room_feed"): the changes the gateway sends to
-- clients' rooms, with their own dense sequence `offset`.
CREATE TABLE room_feed (
    "offset"     INTEGER PRIMARY KEY,
    -- The position of the event the change comes from.
    position     INTEGER NOT NULL,
    -- ticket:created | ticket:assigned | ticket:status_changed |
    -- ticket:priority_changed | ticket:updated | ticket:commented |
    -- user:ticket_assigned | notification:created
    event        TEXT    NOT NULL,
    -- JSON array of rooms, e.g. ["ticket:…","queue:q1","team:t1","company:c1"].
    rooms        TEXT    NOT NULL,
    -- staff | customer | all
    audience     TEXT    NOT NULL,
    -- JSON object: ticket_id, version and the changed fields.
    payload      TEXT    NOT NULL,
    -- When the event happened, as a time and as unix seconds (for retention).
    created_at   TEXT    NOT NULL,
    created_unix INTEGER NOT NULL
);

-- Each change once per room it goes to: per-room replay in offset order.
CREATE TABLE room_feed_rooms (
    room     TEXT    NOT NULL,
    "offset" INTEGER NOT NULL,
    PRIMARY KEY (room, "offset")
) WITHOUT ROWID;

-- The feed's single row: its epoch (a new random id each time the feed
-- starts over), the last offset given and the last offset trimmed away.
CREATE TABLE room_feed_meta (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    epoch           TEXT    NOT NULL,
    last_offset     INTEGER NOT NULL,
    trimmed_through INTEGER NOT NULL
);
