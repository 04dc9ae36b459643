-- The live feed's log: every event recorded in the transaction of the change it
-- reports, so that a client resuming with Last-Event-ID gets exactly what it missed.
-- Ids are assigned in commit order (SQLite has one writer; PostgreSQL writers take an
-- advisory lock before appending). Old rows are pruned; the newest is always kept so
-- that ids never start again.

CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    created_at  BIGINT NOT NULL,
    ticket_id   BIGINT,
    body        TEXT NOT NULL
);
CREATE INDEX events_created ON events (created_at);
