-- Who may see what, and what is kept: agents' tokens, stored hashed, revocable
-- without a restart; where each audited action came from; the counts beside the
-- inbox's filters per team, so an agent counts only the tickets they may see; and
-- when retention deleted a ticket's contents or a contact was erased.

-- Every token an agent may present: the ones in the config (recorded at start, so
-- that one can be revoked) and the ones issued through the API. Only the SHA-256 of a
-- token is kept; a revoked token stays here, so it is never accepted again.
CREATE TABLE agent_tokens (
    id           INTEGER PRIMARY KEY,
    agent        TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    -- config or issued.
    source       TEXT NOT NULL,
    label        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    created_by   TEXT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT,
    revoked_by   TEXT
);
CREATE INDEX agent_tokens_agent ON agent_tokens (agent, id);

ALTER TABLE audit_log ADD COLUMN origin TEXT;
CREATE INDEX audit_log_action ON audit_log (action, id);

DROP INDEX tickets_groups;
CREATE INDEX tickets_groups ON tickets (status, channel, priority, category, assignee, team);

-- When the retention policy (or an erasure) deleted the ticket's message bodies and
-- files; its metadata stays.
ALTER TABLE tickets ADD COLUMN purged_at BIGINT;
CREATE INDEX tickets_retention ON tickets (status, purged_at, resolved_at);
-- When the contact was erased on request: identities, names and contents gone.
ALTER TABLE contacts ADD COLUMN erased_at BIGINT;
