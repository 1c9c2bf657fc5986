-- A search in relevance order on PostgreSQL ranks the newest texts of a
-- window of positions (projections/src/search/query.rs, `Windows`). The
-- primary key gave the window's range as a bitmap of every key in it
-- (~55 ns a key: 600,000 keys cost more than the GIN match itself); this
-- index gives it as ranges of pages, a few thousand summaries at a million
-- tickets, and the GIN match's texts outside them are never read. Texts
-- are appended in position order, so the pages of a range hold neighbouring
-- positions. New ranges are summarized by autovacuum as they fill.
--
-- It indexes `position + 0`, which only a window's bound is written as:
-- the planner prices a BRIN scan without its lossy ranges and took it for
-- a page's list of keys too (50 keys: half a million rows rechecked),
-- which the primary key answers in a millisecond.
CREATE INDEX ticket_search_window ON read_models.ticket_search
    USING BRIN ((position + 0)) WITH (autosummarize = on);
-- Statistics of the new expression, without which the planner guesses a
-- third of the table for any window and reads the GIN match whole.
ANALYZE read_models.ticket_search;
