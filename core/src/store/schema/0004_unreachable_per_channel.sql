-- Whether a customer can be reached is a matter of one channel: a STOP by SMS does
-- not block the same number on WhatsApp, and blocking one bot does not block
-- another. What was recorded per identity moves to every channel the identity
-- wrote on.

CREATE TABLE unreachable (
    channel   TEXT NOT NULL,
    kind      TEXT NOT NULL,
    address   TEXT NOT NULL,
    reason    TEXT NOT NULL,
    since     BIGINT NOT NULL,
    PRIMARY KEY (channel, kind, address)
);

INSERT INTO unreachable (channel, kind, address, reason, since)
SELECT DISTINCT m.channel, i.kind, i.address, i.unreachable_reason, i.created_at
FROM identities i
JOIN messages m ON m.sender_kind = i.kind AND m.sender_address = i.address
WHERE i.unreachable_reason IS NOT NULL;

ALTER TABLE identities DROP COLUMN unreachable_reason;
