-- Ticket numbers and the columns the ticket list filters and sorts on.
--
-- New tickets draw their number from this sequence before they are opened,
-- and the number is recorded in their TicketCreated event. A sequence is
-- atomic across sessions, so nodes sharing the database never draw the same
-- number. Tickets opened before numbers existed are numbered by the
-- position of their created event (the upcast of TicketCreated version 2),
-- so the sequence starts above every position in the log now: new numbers
-- never meet them.
CREATE SEQUENCE public.ticket_numbers;
SELECT setval('public.ticket_numbers', COALESCE((SELECT MAX(position) FROM public.events), 0) + 1, false);

-- The tickets read model gains the number and unix-second times (range
-- filters and SLA due times compare numbers); it is emptied and replayed
-- from the log, like the room feed, whose changes now carry the number too
-- (new epoch).
ALTER TABLE read_models.tickets ADD COLUMN number BIGINT NOT NULL DEFAULT 0;
ALTER TABLE read_models.tickets ADD COLUMN created_unix BIGINT NOT NULL DEFAULT 0;
ALTER TABLE read_models.tickets ADD COLUMN updated_unix BIGINT NOT NULL DEFAULT 0;
-- When it was first assigned, and the priority rank it had then (the
-- first-response target that applies).
ALTER TABLE read_models.tickets ADD COLUMN first_assigned_unix BIGINT;
ALTER TABLE read_models.tickets ADD COLUMN first_assigned_rank BIGINT;
-- Its standing resolution: resolved, or closed without being resolved;
-- NULL while open or reopened.
ALTER TABLE read_models.tickets ADD COLUMN done_unix BIGINT;
ALTER TABLE read_models.room_feed_tickets ADD COLUMN number BIGINT NOT NULL DEFAULT 0;

DELETE FROM read_models.tickets;
DELETE FROM read_models.ticket_tags;
DELETE FROM read_models.ticket_comments;
DELETE FROM read_models.room_feed_tickets;
DELETE FROM read_models.room_feed_rooms;
DELETE FROM read_models.room_feed;
DELETE FROM read_models.room_feed_meta;
INSERT INTO read_models.room_feed_meta (id, epoch, last_offset, trimmed_through)
VALUES (1, replace(gen_random_uuid()::text, '-', ''), 0, 0);
UPDATE read_models.projection_checkpoints
SET position = 0, state = 'rebuilding', generation = generation + 1, error = NULL
WHERE name IN ('tickets', 'room_feed');

CREATE UNIQUE INDEX tickets_by_number ON read_models.tickets (number);
