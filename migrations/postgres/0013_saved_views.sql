-- Saved views: a user's named ticket-list question (filters, search and
-- order, as the list's query parameters in a JSON object), optionally
-- shared with one of their teams. Written by users through /api/views, not
-- by a projection: rebuilds leave it alone.
CREATE TABLE read_models.saved_views (
    id         TEXT        PRIMARY KEY,
    owner_id   TEXT        NOT NULL,
    -- Members of this team see and use the view too; NULL = the owner only.
    team_id    TEXT,
    name       TEXT        NOT NULL,
    query      TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX saved_views_by_owner ON read_models.saved_views (owner_id);
CREATE INDEX saved_views_by_team ON read_models.saved_views (team_id);
