-- A search's candidates are texts walked newest first, each looked up in
-- `tickets` to check the list's visibility (team or company) and status
-- until enough pass: hundreds of lookups scattered over every ticket for
-- a rare pair of words. This index holds what those checks read, so a
-- lookup reads one small index (about 70 MB at a million tickets) instead
-- of the primary key's and then the table's pages (about 500 MB, most of
-- them descriptions).
CREATE INDEX tickets_search_lookup ON tickets (id, status, team_id, company_id);
