-- The index for a conversation's last inbound time (0002) led with `channel`, like
-- the unique (channel, external_id) index that every dedupe lookup uses. PostgreSQL's
-- generic plans for that lookup could then pick the conversation index and scan a
-- whole channel's messages for each inbound message (ingest fell from about 3,600 to
-- 800-1,500 messages/s). Leading with `conversation` leaves the lookup one index only.

DROP INDEX messages_conversation;
CREATE INDEX messages_conversation ON messages (conversation, channel, direction, created_at);
