-- Full-text search over messages: an FTS5 index of each message's subject and body,
-- kept in step with the table by triggers (the text itself stays in `messages`).
-- unicode61 splits words at anything that is not a letter or digit, folds case and
-- diacritics; PostgreSQL's index (0010_search.postgres.sql) splits the same way. No
-- column sizes: they serve ranking, and search orders by time, so every inbound
-- message is spared a write.

CREATE VIRTUAL TABLE messages_search USING fts5(
    subject, body,
    content = 'messages', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2',
    columnsize = 0
);
INSERT INTO messages_search (messages_search) VALUES ('rebuild');

CREATE TRIGGER messages_search_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_search (rowid, subject, body) VALUES (new.id, new.subject, new.body);
END;
CREATE TRIGGER messages_search_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_search (messages_search, rowid, subject, body)
        VALUES ('delete', old.id, old.subject, old.body);
END;
CREATE TRIGGER messages_search_update AFTER UPDATE OF subject, body ON messages BEGIN
    INSERT INTO messages_search (messages_search, rowid, subject, body)
        VALUES ('delete', old.id, old.subject, old.body);
    INSERT INTO messages_search (rowid, subject, body) VALUES (new.id, new.subject, new.body);
END;
