-- Read model `tickets` (projection "tickets"): each ticket's current state, its
-- tags and its comments. Written only by the projection; see
-- docs/read-models/tickets.md for the meaning of each column.
CREATE TABLE tickets (
    id                     TEXT    PRIMARY KEY,
    title                  TEXT    NOT NULL,
    -- The title lowercased by the projection (Unicode-aware), for the
    -- case-insensitive title search.
    title_folded           TEXT    NOT NULL,
    description            TEXT    NOT NULL,
    company_id             TEXT    NOT NULL,
    requester_id           TEXT    NOT NULL,
    queue_id               TEXT    NOT NULL,
    team_id                TEXT    NOT NULL,
    assignee_id            TEXT,
    -- open | in_progress | waiting | resolved | closed
    status                 TEXT    NOT NULL,
    -- low | medium | high | urgent, and its rank 1..4 for sorting
    priority               TEXT    NOT NULL,
    priority_rank          INTEGER NOT NULL,
    -- JSON array of the normalized tags, in the order given
    tags                   TEXT    NOT NULL,
    public_comment_count   INTEGER NOT NULL,
    internal_comment_count INTEGER NOT NULL,
    version                INTEGER NOT NULL,
    created_position       INTEGER NOT NULL,
    updated_position       INTEGER NOT NULL,
    created_at             TEXT    NOT NULL,
    updated_at             TEXT    NOT NULL,
    first_assigned_at      TEXT,
    resolved_at            TEXT,
    closed_at              TEXT
);
-- Every update moves a ticket in each index whose columns it sets, so only the
-- indexes the main list paths need: the two position sorts (positions are
-- unique per ticket, so they double as tie-breakers and cursors) and the two
-- visibility scopes (agents see their teams, customers their company). Other
-- filters and the priority sort are applied to what these select.
CREATE UNIQUE INDEX tickets_by_created ON tickets (created_position);
CREATE INDEX tickets_by_updated ON tickets (updated_position);
CREATE INDEX tickets_by_team ON tickets (team_id, created_position);
CREATE INDEX tickets_by_company ON tickets (company_id, created_position);

-- One row per tag of a ticket, for the tag filter.
CREATE TABLE ticket_tags (
    ticket_id TEXT NOT NULL,
    tag       TEXT NOT NULL,
    PRIMARY KEY (ticket_id, tag)
) WITHOUT ROWID;
CREATE INDEX ticket_tags_by_tag ON ticket_tags (tag, ticket_id);

-- Comments, keyed by the position of their CommentAdded event.
CREATE TABLE ticket_comments (
    position   INTEGER PRIMARY KEY,
    ticket_id  TEXT    NOT NULL,
    comment_id TEXT    NOT NULL,
    author_id  TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    -- 1 = visible to agents only
    internal   INTEGER NOT NULL,
    created_at TEXT    NOT NULL
);
CREATE INDEX ticket_comments_by_ticket ON ticket_comments (ticket_id, position);
