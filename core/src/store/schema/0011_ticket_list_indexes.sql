-- The ticket list filtered by status, assignee, channel, priority or category reads
-- one index range in its order (last activity), instead of walking all tickets by
-- activity and skipping the others.
DROP INDEX tickets_status;
DROP INDEX tickets_assignee;
CREATE INDEX tickets_status ON tickets (status, last_message_at, id);
CREATE INDEX tickets_assignee ON tickets (assignee, last_message_at, id);
CREATE INDEX tickets_channel ON tickets (channel, last_message_at, id);
CREATE INDEX tickets_priority ON tickets (priority, last_message_at, id);
CREATE INDEX tickets_category ON tickets (category, last_message_at, id);
-- The counts beside the inbox's filters: one pass over this index, not the table.
CREATE INDEX tickets_groups ON tickets (status, channel, priority, category, assignee);
