-- Notifications inbox (projection "notifications"): one row per user told
-- about an event. Owned by the projection: emptied and refilled by a rebuild.
-- Rows are appended in position order; the key serves each user's inbox.
CREATE TABLE read_models.notifications (
    user_id    TEXT        NOT NULL,
    -- The event's position in the log: the inbox's order and page cursor.
    position   BIGINT      NOT NULL,
    -- "<position>-<user_id>": what the API calls it; the same after a rebuild.
    id         TEXT        NOT NULL,
    -- high | medium | low
    level      TEXT        NOT NULL,
    -- ticket_assigned | ticket_urgent | status_changed | priority_changed |
    -- ticket_created | ticket_updated | ticket_commented | ticket_moved |
    -- ticket_unassigned
    kind       TEXT        NOT NULL,
    ticket_id  TEXT        NOT NULL,
    title      TEXT        NOT NULL,
    -- When the event happened.
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, position)
);

-- Which notifications their user has read. Written by users, not by events,
-- so the projection does not own it and a rebuild keeps it (the ids and keys
-- of notifications do not change).
CREATE TABLE read_models.notification_reads (
    user_id  TEXT        NOT NULL,
    position BIGINT      NOT NULL,
    id       TEXT        NOT NULL,
    read_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, position)
);
