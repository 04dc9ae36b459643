-- How many SMS segments a sent reply took (what the carrier bills), when the
-- channel counts them.
ALTER TABLE messages ADD COLUMN segments INTEGER;
