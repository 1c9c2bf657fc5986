-- Read model `ticket_search` (projection "ticket_search"): the words of
-- every ticket's title and description and of every comment, for the
-- ticket list's full-text search. One row per document: a ticket's own
-- text (rowid = the position of its TicketCreated event, updated in place
-- when its title or description is edited) and each comment (rowid = the
-- position of its CommentAdded event). `internal` comments never match for
-- customers. Stemming: FTS5's porter stemmer over unicode61 tokens, with
-- diacritics folded.
CREATE VIRTUAL TABLE ticket_search USING fts5(
    title,
    body,
    ticket_id UNINDEXED,
    internal UNINDEXED,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
-- Relevance: BM25 with title words counting four times as much as others.
INSERT INTO ticket_search (ticket_search, rank) VALUES ('rank', 'bm25(4.0, 1.0)');

-- The rowid of each ticket's own document, to edit it in place.
CREATE TABLE ticket_search_tickets (
    ticket_id TEXT    PRIMARY KEY,
    position  INTEGER NOT NULL
) WITHOUT ROWID;
