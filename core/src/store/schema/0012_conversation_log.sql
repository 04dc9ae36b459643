-- Channels where the gateway itself is the provider (the web chat) keep each
-- conversation as a numbered log: customer and agent messages in the order they
-- became visible, so that a client that reconnects asks for what came after the
-- last number it saw and gets exactly that. Numbers come from the conversation's
-- head row, whose update serializes writers of one conversation on every store.
CREATE TABLE conversation_heads (
    channel      TEXT NOT NULL,
    conversation TEXT NOT NULL,
    last_seq     BIGINT NOT NULL,
    PRIMARY KEY (channel, conversation)
);
CREATE TABLE conversation_log (
    channel      TEXT NOT NULL,
    conversation TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    message_id   BIGINT NOT NULL UNIQUE REFERENCES messages (id),
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (channel, conversation, seq)
);
