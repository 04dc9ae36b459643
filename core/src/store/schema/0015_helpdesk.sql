-- Helpdesk rules (core/src/helpdesk): what triage decided, the team, the customer's
-- language, the secrets the guard removed, and the gateway's own messages sent on
-- the ticket (acknowledgement, warning, satisfaction survey), so that each goes out
-- at most once.
ALTER TABLE tickets ADD COLUMN triage_rule TEXT;
ALTER TABLE tickets ADD COLUMN team TEXT;
ALTER TABLE tickets ADD COLUMN language TEXT;
-- The kinds of secret removed from the ticket's messages, comma-separated.
ALTER TABLE tickets ADD COLUMN sensitive TEXT;
ALTER TABLE tickets ADD COLUMN sensitive_warned_at BIGINT;
ALTER TABLE tickets ADD COLUMN acknowledged_at BIGINT;
ALTER TABLE tickets ADD COLUMN first_response_at BIGINT;
ALTER TABLE tickets ADD COLUMN csat_requested_at BIGINT;
ALTER TABLE tickets ADD COLUMN csat_rating BIGINT;
ALTER TABLE tickets ADD COLUMN csat_at BIGINT;
-- The survey's link token, for email.
ALTER TABLE tickets ADD COLUMN csat_token TEXT;
CREATE UNIQUE INDEX tickets_csat_token ON tickets (csat_token);
-- Answers a message offers as buttons where the channel has them (a survey's 1-5),
-- as JSON [{"id": "csat:5", "label": "5"}].
ALTER TABLE messages ADD COLUMN choices TEXT;
ALTER TABLE contacts ADD COLUMN language TEXT;
CREATE INDEX tickets_team ON tickets (team, id);

-- One row per SLA target of a ticket (first response, next response, resolution).
-- The scheduler fires what is due by `next_check_at`, whatever node it runs on: a
-- row is claimed and updated in the transaction that records what the firing did.
CREATE TABLE ticket_slas (
    ticket_id      BIGINT NOT NULL REFERENCES tickets (id),
    target         TEXT NOT NULL,
    policy         TEXT NOT NULL,
    -- running, paused (waiting on the customer), met, breached.
    state          TEXT NOT NULL,
    -- The start of the current running stretch, and the business time spent in
    -- earlier ones (a target pauses while the ticket waits on the customer).
    started_at     BIGINT NOT NULL,
    spent_ms       BIGINT NOT NULL DEFAULT 0,
    target_ms      BIGINT NOT NULL,
    due_at         BIGINT,
    at_risk_at     BIGINT,
    warned_at      BIGINT,
    breached_at    BIGINT,
    met_at         BIGINT,
    next_check_at  BIGINT,
    PRIMARY KEY (ticket_id, target)
);
CREATE INDEX ticket_slas_due ON ticket_slas (next_check_at) WHERE next_check_at IS NOT NULL;

-- Notifications to the configured webhook (SLA at risk, breached), queued in the
-- transaction of what they report and delivered at least once, in order, each
-- carrying its id so the receiver can drop a repeat.
CREATE TABLE notifications (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    body        TEXT NOT NULL,
    state       TEXT NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 0,
    due_at      BIGINT NOT NULL,
    last_error  TEXT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX notifications_pending ON notifications (due_at) WHERE state = 'pending';

-- When each agent was last at work, for routing: assignment picks agents seen
-- recently, and tickets of agents gone away go back to their team. Written at most
-- every few seconds per agent, from whichever node served them.
CREATE TABLE agent_presence (
    name       TEXT PRIMARY KEY,
    last_seen  BIGINT NOT NULL
);

-- Who changed what on a ticket, and what the helpdesk rules in force were when they
-- changed: append-only.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    ticket_id   BIGINT,
    detail      TEXT NOT NULL
);
CREATE INDEX audit_log_ticket ON audit_log (ticket_id, id);
