-- A search's candidates are each looked up in `tickets` to check the
-- list's visibility (team or company) and status until enough pass: up to
-- a thousand lookups scattered over every ticket. This index holds what
-- those checks read, so a lookup reads the index alone (an index-only scan
-- where autovacuum has marked the pages visible) instead of the primary
-- key's and then the table's pages, most of them descriptions: 433 lookups
-- read 419 pages instead of ~900 at a million tickets. It also holds the
-- tie-break a page of ranked tickets is chosen by (`created_position`), so
-- that only the page's rows are read whole. SQLite has the same index but
-- that column (its migration 0026).
CREATE INDEX tickets_search_lookup ON read_models.tickets (id)
    INCLUDE (status, team_id, company_id, created_position);
