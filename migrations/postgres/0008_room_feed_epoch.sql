-- The feed has an epoch from the moment it exists, so that every client,
-- even one that connects before the first change, holds a real epoch (a
-- rebuild empties this table and the projection starts a new epoch).
INSERT INTO read_models.room_feed_meta (id, epoch, last_offset, trimmed_through)
VALUES (1, replace(gen_random_uuid()::text, '-', ''), 0, 0)
ON CONFLICT (id) DO NOTHING;
