-- Queue metrics read model (projection `queue_metrics`), for dashboards and
-- analysts. Times are unix seconds (UTC) taken from the events' metadata, so
-- durations are plain integer arithmetic on both backends.

-- One row per ticket, in the queue it is in now (a move carries the row over).
CREATE TABLE read_models.queue_ticket_facts (
    ticket_id               TEXT    PRIMARY KEY,
    queue_id                TEXT    NOT NULL,
    -- open | in_progress | waiting | resolved | closed
    status                  TEXT    NOT NULL,
    -- low | medium | high | urgent (current)
    priority                TEXT    NOT NULL,
    assignee_id             TEXT,
    created_at_unix         BIGINT  NOT NULL,
    -- The first assignment ever; later reassignments do not change it.
    first_assigned_at_unix  BIGINT,
    -- The priority when first assigned: the SLA target that assignment is held to.
    first_assigned_priority TEXT,
    -- The standing resolution: set by resolve (or by close when not resolved),
    -- cleared by a reopen.
    resolved_at_unix        BIGINT,
    reopen_count            BIGINT  NOT NULL,
    -- Log position of the last event that changed this row.
    updated_position        BIGINT  NOT NULL
);
-- Open tickets of a queue.
CREATE INDEX queue_ticket_facts_by_status ON read_models.queue_ticket_facts (queue_id, status);

-- The durations of queue_ticket_facts, one row per ticket and kind while the
-- ticket has one. Kept apart so that their index changes only when a duration
-- does, not with every status change.
CREATE TABLE read_models.queue_ticket_durations (
    ticket_id    TEXT    NOT NULL,
    -- first_assignment (creation to first assignment)
    -- | resolution (creation to the standing resolution)
    kind         TEXT    NOT NULL,
    queue_id     TEXT    NOT NULL,
    secs         BIGINT  NOT NULL,
    -- first_assignment: the priority whose SLA target applies; resolution: NULL.
    sla_priority TEXT,
    PRIMARY KEY (ticket_id, kind)
);
-- Count, sum, median (ORDER BY secs ... OFFSET) and SLA lateness from the index alone.
CREATE INDEX queue_ticket_durations_by_queue
    ON read_models.queue_ticket_durations (queue_id, kind, secs, sla_priority);

-- queue_ticket_facts rolled up per UTC hour: how many of the queue's tickets
-- were created, first assigned and resolved in each hour. Hours with nothing
-- have no row.
CREATE TABLE read_models.queue_hourly (
    queue_id       TEXT    NOT NULL,
    -- Start of the UTC hour, unix seconds.
    hour_unix      BIGINT  NOT NULL,
    created        BIGINT  NOT NULL,
    first_assigned BIGINT  NOT NULL,
    resolved       BIGINT  NOT NULL,
    PRIMARY KEY (queue_id, hour_unix)
);
