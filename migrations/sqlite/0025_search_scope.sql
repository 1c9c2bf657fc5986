-- Read model `ticket_search` gains each text's scope: words in a column of
-- their own, `scope`, naming the ticket's team, its company and the ticket
-- itself (see projections/src/search/scope.rs). A search ANDs the caller's
-- team or company words into its MATCH, so FTS5 walks only the texts the
-- caller may see instead of reading every match and dropping most of them;
-- the ticket's own word finds its texts when it moves to another team.
-- FTS5 tables cannot gain a column: the table is made anew, and the
-- projection replays the log into it.
DROP TABLE ticket_search;
CREATE VIRTUAL TABLE ticket_search USING fts5(
    title,
    body,
    scope,
    ticket_id UNINDEXED,
    internal UNINDEXED,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
DELETE FROM ticket_search_tickets;
UPDATE projection_checkpoints
SET position = 0, state = 'rebuilding', generation = generation + 1, error = NULL
WHERE name = 'ticket_search';
