-- The feed has an epoch from the moment it exists, so that every client,
-- even one that connects before the first change, holds a real epoch (a
-- rebuild empties this table and the projection starts a new epoch).
INSERT INTO room_feed_meta (id, epoch, last_offset, trimmed_through)
SELECT 1, lower(hex(randomblob(16))), 0, 0
WHERE NOT EXISTS (SELECT 1 FROM room_feed_meta);
