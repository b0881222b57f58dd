-- The seq of each conversation's latest message, kept with the message insert, so the
-- notification planner finds participants with unseen messages without an aggregate per row.
-- Same intent as migrations/sqlite/0005.
ALTER TABLE conversations ADD COLUMN last_seq BIGINT NOT NULL DEFAULT 0;
UPDATE conversations
   SET last_seq = COALESCE((SELECT MAX(m.seq) FROM messages m WHERE m.conversation_id = conversations.id), 0);
