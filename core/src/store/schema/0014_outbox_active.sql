-- The dispatcher's claim reads only what is still to send: the queue in due order,
-- and for each candidate whether an earlier reply of its conversation waits. Both
-- used to walk every reply ever sent (state 'sent' rows stay), so a claim cost grew
-- with a conversation's history and with the queue: 26 ms at 2,500 queued on
-- PostgreSQL. Partial indexes hold the active rows only.
CREATE INDEX outbox_ready ON outbox (due_at) WHERE state IN ('pending', 'sending');
CREATE INDEX outbox_active_conversation ON outbox (channel, conversation, id)
    WHERE state IN ('pending', 'sending');
