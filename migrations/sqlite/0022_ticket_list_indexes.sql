-- Indexes in the order of each list sort, per visibility scope, so that a
-- page walks an index in its order and stops at its last row instead of
-- sorting every ticket of a team or a queue (with a million tickets, an
-- agent's team holds a hundred thousand). Filters that are not in an index
-- (status, priority, assignee, ...) are checked on the rows walked.
-- `updated_position` changes with every event: each of its indexes costs
-- the tickets projection one index update per event.
CREATE INDEX tickets_by_team_updated ON tickets (team_id, updated_position);
CREATE INDEX tickets_by_queue_updated ON tickets (queue_id, updated_position);
CREATE INDEX tickets_by_team_priority ON tickets (team_id, priority_rank, created_position);
CREATE INDEX tickets_by_priority ON tickets (priority_rank, created_position);
