-- Switchboard schema, for SQLite and PostgreSQL alike (migrate.rs turns
-- INTEGER PRIMARY KEY into an identity column for PostgreSQL). Times are Unix
-- milliseconds; flags are 0/1; every column is BIGINT or TEXT.

CREATE TABLE contacts (
    id          INTEGER PRIMARY KEY,
    name        TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE identities (
    id                  INTEGER PRIMARY KEY,
    contact_id          BIGINT NOT NULL REFERENCES contacts(id),
    kind                TEXT NOT NULL,
    address             TEXT NOT NULL,
    display_name        TEXT,
    unreachable_reason  TEXT,
    created_at          BIGINT NOT NULL,
    UNIQUE (kind, address)
);
CREATE INDEX identities_contact ON identities (contact_id);

CREATE TABLE tickets (
    id                  INTEGER PRIMARY KEY,
    reference           TEXT NOT NULL UNIQUE,
    status              TEXT NOT NULL,
    priority            TEXT NOT NULL,
    category            TEXT,
    assignee            TEXT,
    subject             TEXT,
    channel             TEXT NOT NULL,
    conversation        TEXT NOT NULL,
    contact_id          BIGINT NOT NULL REFERENCES contacts(id),
    previous_ticket_id  BIGINT REFERENCES tickets(id),
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    resolved_at         BIGINT,
    last_message_at     BIGINT NOT NULL
);
CREATE INDEX tickets_conversation ON tickets (channel, conversation, id);
CREATE INDEX tickets_status ON tickets (status, id);
CREATE INDEX tickets_assignee ON tickets (assignee, id);
CREATE INDEX tickets_contact ON tickets (contact_id, id);
CREATE INDEX tickets_activity ON tickets (last_message_at, id);

CREATE TABLE participants (
    ticket_id   BIGINT NOT NULL REFERENCES tickets(id),
    contact_id  BIGINT NOT NULL REFERENCES contacts(id),
    PRIMARY KEY (ticket_id, contact_id)
);

CREATE TABLE messages (
    id               INTEGER PRIMARY KEY,
    ticket_id        BIGINT NOT NULL REFERENCES tickets(id),
    direction        TEXT NOT NULL,
    channel          TEXT NOT NULL,
    external_id      TEXT,
    conversation     TEXT NOT NULL,
    contact_id       BIGINT REFERENCES contacts(id),
    sender_kind      TEXT,
    sender_address   TEXT,
    author           TEXT NOT NULL,
    subject          TEXT,
    body             TEXT NOT NULL,
    html             TEXT,
    automatic        BIGINT NOT NULL DEFAULT 0,
    delivery_status  TEXT,
    failure_reason   TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    UNIQUE (channel, external_id)
);
CREATE INDEX messages_ticket ON messages (ticket_id, id);
CREATE INDEX messages_external ON messages (external_id);

CREATE TABLE attachments (
    id            INTEGER PRIMARY KEY,
    message_id    BIGINT NOT NULL REFERENCES messages(id),
    filename      TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size          BIGINT NOT NULL,
    sha256        TEXT NOT NULL
);
CREATE INDEX attachments_message ON attachments (message_id);

-- One row per outbound message: the single source of truth for sending it.
CREATE TABLE outbox (
    id             INTEGER PRIMARY KEY,
    message_id     BIGINT NOT NULL UNIQUE REFERENCES messages(id),
    channel        TEXT NOT NULL,
    -- Replies into one conversation go out one at a time, in order.
    conversation   TEXT NOT NULL,
    state          TEXT NOT NULL,
    attempts       BIGINT NOT NULL DEFAULT 0,
    -- pending: when to try next; sending: when the claim's lease runs out.
    due_at         BIGINT NOT NULL,
    -- A token unique to the current claim, so a dispatcher whose lease ran out
    -- cannot overwrite the result of the one that took over.
    claimed_by     TEXT,
    last_error     TEXT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX outbox_due ON outbox (state, due_at);
CREATE INDEX outbox_conversation ON outbox (channel, conversation, id);

-- Pollers' cursors (Telegram offsets, IMAP UIDs), per channel.
CREATE TABLE channel_state (
    channel     TEXT NOT NULL,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (channel, key)
);
