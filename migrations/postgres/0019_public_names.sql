-- Users whose name customers may see on presence lists ("Bob is
-- replying…" instead of "an agent is replying…"). Kept apart from `users`
-- so that marking a name public touches nothing else of the user.
CREATE TABLE read_models.public_names (
    user_id TEXT PRIMARY KEY REFERENCES read_models.users (id)
);
