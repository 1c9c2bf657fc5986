-- Ticket numbers and the columns the ticket list filters and sorts on.
--
-- New tickets draw their number from this counter (one row) before they are
-- opened, and the number is recorded in their TicketCreated event. Tickets
-- opened before numbers existed are numbered by the position of their
-- created event (the upcast of TicketCreated version 2), so the counter
-- starts above every position in the log now: new numbers never meet them.
CREATE TABLE ticket_number_counter (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    last INTEGER NOT NULL
);
INSERT INTO ticket_number_counter (id, last)
SELECT 1, COALESCE(MAX(position), 0) FROM events;

-- The tickets read model gains the number and unix-second times (range
-- filters and SLA due times compare numbers, whatever the text format of
-- the RFC 3339 columns); it is emptied and replayed from the log, like
-- the room feed, whose changes now carry the number too (new epoch).
ALTER TABLE tickets ADD COLUMN number INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tickets ADD COLUMN created_unix INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tickets ADD COLUMN updated_unix INTEGER NOT NULL DEFAULT 0;
-- When it was first assigned, and the priority rank it had then (the
-- first-response target that applies).
ALTER TABLE tickets ADD COLUMN first_assigned_unix INTEGER;
ALTER TABLE tickets ADD COLUMN first_assigned_rank INTEGER;
-- Its standing resolution: resolved, or closed without being resolved;
-- NULL while open or reopened.
ALTER TABLE tickets ADD COLUMN done_unix INTEGER;
ALTER TABLE room_feed_tickets ADD COLUMN number INTEGER NOT NULL DEFAULT 0;

DELETE FROM tickets;
DELETE FROM ticket_tags;
DELETE FROM ticket_comments;
DELETE FROM room_feed_tickets;
DELETE FROM room_feed_rooms;
DELETE FROM room_feed;
DELETE FROM room_feed_meta;
INSERT INTO room_feed_meta (id, epoch, last_offset, trimmed_through)
VALUES (1, lower(hex(randomblob(16))), 0, 0);
UPDATE projection_checkpoints
SET position = 0, state = 'rebuilding', generation = generation + 1, error = NULL
WHERE name IN ('tickets', 'room_feed');

CREATE UNIQUE INDEX tickets_by_number ON tickets (number);
