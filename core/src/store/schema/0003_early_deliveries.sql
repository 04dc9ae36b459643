-- Provider status updates that arrive before the send they are about is recorded:
-- a provider may call back before its API answer reaches the gateway. They wait
-- here and are applied (then deleted) when the message's provider id is stored.
-- Updates about messages the gateway never sent are dropped after a week.

CREATE TABLE early_deliveries (
    channel      TEXT NOT NULL,
    external_id  TEXT NOT NULL,
    status       TEXT NOT NULL,
    reason       TEXT,
    received_at  BIGINT NOT NULL,
    PRIMARY KEY (channel, external_id, status)
);
CREATE INDEX early_deliveries_received ON early_deliveries (received_at);
