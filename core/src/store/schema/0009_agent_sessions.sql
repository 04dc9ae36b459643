-- Browser sign-ins of agents. The cookie holds a random id; only its SHA-256 is kept,
-- so a copy of the database signs no one in. token_hash is the agent's token at
-- sign-in: rotating the token in the config ends the agent's sessions.

CREATE TABLE agent_sessions (
    id_hash     TEXT PRIMARY KEY,
    agent       TEXT NOT NULL,
    token_hash  TEXT NOT NULL,
    csrf        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    seen_at     BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX agent_sessions_expiry ON agent_sessions (expires_at);
