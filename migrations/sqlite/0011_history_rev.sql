-- A counter bumped in the same transaction as every change to what a conversation's history
-- shows (a message, its attachments and inbound link, a deletion, an event): the web view keeps
-- the rendered history and re-renders only when this moved. Same intent as
-- migrations/postgres/0011.
ALTER TABLE conversations ADD COLUMN history_rev INTEGER NOT NULL DEFAULT 0;

-- Every staff page view lists the conversation's held emails: found by index, not by a scan
-- of every inbound email.
CREATE INDEX inbound_held ON inbound(conversation_id, seq) WHERE outcome = 'held';
