-- Read model `ticket_search` gains each text's scope: words in a column of
-- their own, `scope`, naming the ticket's team, its company and the ticket
-- itself (see projections/src/search/scope.rs), kept in `document` as
-- lexemes as they are (no stemming). A search ANDs the caller's team or
-- company words into its tsquery, so the GIN index yields only the texts
-- the caller may see; the ticket's own word finds its texts when it moves.
-- The projection replays the log into the emptied table.
TRUNCATE read_models.ticket_search, read_models.ticket_search_tickets;
DROP INDEX read_models.ticket_search_document;
ALTER TABLE read_models.ticket_search DROP COLUMN document;
ALTER TABLE read_models.ticket_search ADD COLUMN scope TEXT NOT NULL;
ALTER TABLE read_models.ticket_search ADD COLUMN document tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', title), 'A') ||
    setweight(to_tsvector('english', body), 'B') ||
    array_to_tsvector(string_to_array(scope, ' '))
) STORED;
CREATE INDEX ticket_search_document ON read_models.ticket_search USING GIN (document);
UPDATE read_models.projection_checkpoints
SET position = 0, state = 'rebuilding', generation = generation + 1, error = NULL
WHERE name = 'ticket_search';
