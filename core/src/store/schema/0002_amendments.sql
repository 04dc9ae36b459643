-- Changes to stored inbound messages: a customer's edit (the old text kept here)
-- and the later parts of a grouped message (a Telegram album). Each has the
-- provider's id of its own, deduplicated like a message's.

ALTER TABLE messages ADD COLUMN edited_at BIGINT;
ALTER TABLE messages ADD COLUMN group_key TEXT;
CREATE INDEX messages_group ON messages (channel, conversation, group_key)
    WHERE group_key IS NOT NULL;

CREATE TABLE message_amendments (
    id             INTEGER PRIMARY KEY,
    message_id     BIGINT NOT NULL REFERENCES messages(id),
    channel        TEXT NOT NULL,
    external_id    TEXT NOT NULL,
    -- edit | part
    kind           TEXT NOT NULL,
    -- edit: the text it replaced (none when the original was never seen)
    previous_body  TEXT,
    created_at     BIGINT NOT NULL,
    UNIQUE (channel, external_id)
);
CREATE INDEX message_amendments_message ON message_amendments (message_id, id);

-- How far a send split into several provider messages got (connector-defined), so
-- that a retry continues after the parts already delivered instead of repeating them.
ALTER TABLE outbox ADD COLUMN progress TEXT;

-- When the customer last wrote in a conversation (read for every reply sent).
CREATE INDEX messages_conversation ON messages (channel, conversation, direction, created_at);
