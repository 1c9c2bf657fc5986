-- The directory: who exists and who belongs where. Not event-sourced: it is
-- reference data kept by admins; projections that need memberships read it.
CREATE TABLE companies (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE teams (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE queues (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    team_id    TEXT NOT NULL REFERENCES teams (id),
    created_at TEXT NOT NULL
);

CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    -- customer | agent | admin | analyst
    role       TEXT NOT NULL,
    company_id TEXT REFERENCES companies (id),
    -- Tokens issued before this instant are refused (logout).
    not_before TEXT,
    created_at TEXT NOT NULL
);

CREATE TABLE team_members (
    team_id TEXT NOT NULL REFERENCES teams (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_by_user ON team_members (user_id);
