-- A customer message may say where replies go instead of back the way it came: a web
-- chat message left while nobody was online, with the customer's email address,
-- continues by email. Only such messages have a row.
CREATE TABLE reply_routes (
    message_id BIGINT PRIMARY KEY REFERENCES messages (id),
    channel    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    address    TEXT NOT NULL
);
