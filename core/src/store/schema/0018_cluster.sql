-- Several gateway nodes on one store. A lease is a name held by one node until a
-- time, renewed while the node works: the poller of each mailbox and bot (one node at
-- a time may poll it), and each node itself (its lease says it is alive, which is how
-- nodes count each other). A node that dies stops renewing, and another takes the
-- lease once it ran out.

CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    acquired_at BIGINT NOT NULL
);

-- Attachments' bytes, for nodes that share no disk (storage.attachments = "store"),
-- content-addressed as on disk.
CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    size   BIGINT NOT NULL,
    bytes  BYTEA NOT NULL
);
