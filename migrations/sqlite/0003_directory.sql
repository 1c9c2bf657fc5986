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
    created_at TEXT NOT NULL
);

CREATE TABLE team_members (
    team_id TEXT NOT NULL REFERENCES teams (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_by_user ON team_members (user_id);

-- Logout: tokens of this user issued (iat) before `not_before_unix` are refused. Kept
-- apart from `users` so that it works for any token subject.
CREATE TABLE revoked_sessions (
    user_id    TEXT PRIMARY KEY,
    not_before_unix BIGINT NOT NULL
);
