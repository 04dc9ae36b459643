-- Full-text search over messages: each message's words (runs of letters and digits,
-- lowercased), as SQLite's unicode61 splits them (0010_search.sqlite.sql), kept by the
-- table itself in a stored generated column under a GIN index. The words are split
-- here rather than by to_tsvector's parser, which reads `021e3c44` (a transaction
-- hash) as the number 021e3 and the word c44, and `ana@example.com` as one token. No
-- stemming: support text comes in many languages. Runs of 255 characters or more
-- (encoded blobs, not words) are left out.

ALTER TABLE messages ADD COLUMN search tsvector GENERATED ALWAYS AS (
    array_to_tsvector(array_remove(regexp_split_to_array(
        lower(regexp_replace(coalesce(subject, '') || ' ' || body, '[[:alnum:]]{255}[[:alnum:]]*', ' ', 'g')),
        '[^[:alnum:]]+'), ''))
) STORED;
CREATE INDEX messages_search ON messages USING GIN (search);
