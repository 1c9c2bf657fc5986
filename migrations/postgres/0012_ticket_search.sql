-- Read model `ticket_search` (projection "ticket_search"): the words of
-- every ticket's title and description and of every comment, for the
-- ticket list's full-text search. One row per document: a ticket's own
-- text (position = its TicketCreated event's, updated in place when its
-- title or description is edited) and each comment (position = its
-- CommentAdded event's). `internal` comments never match for customers.
-- Stemming: the `english` text search configuration; title words weigh
-- more (A) than the rest (B).
CREATE TABLE read_models.ticket_search (
    position  BIGINT  PRIMARY KEY,
    ticket_id TEXT    NOT NULL,
    internal  BOOLEAN NOT NULL,
    title     TEXT    NOT NULL,
    body      TEXT    NOT NULL,
    document  tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', title), 'A') ||
        setweight(to_tsvector('english', body), 'B')
    ) STORED
);
CREATE INDEX ticket_search_document ON read_models.ticket_search USING GIN (document);
-- The snippets of a page of hits are read per ticket.
CREATE INDEX ticket_search_by_ticket ON read_models.ticket_search (ticket_id);

-- The position of each ticket's own document, to edit it in place.
CREATE TABLE read_models.ticket_search_tickets (
    ticket_id TEXT   PRIMARY KEY,
    position  BIGINT NOT NULL
);
