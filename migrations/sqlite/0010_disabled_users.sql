-- Users an admin disabled: every token of theirs is refused (401
-- `user_disabled`) until an admin enables them again. Kept apart from
-- `users` so that disabling and enabling touch nothing else of the user.
CREATE TABLE disabled_users (
    user_id     TEXT PRIMARY KEY REFERENCES users (id),
    disabled_at TEXT NOT NULL
);
