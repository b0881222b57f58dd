-- Every staff page view lists the conversation's emails from unknown senders, like its held
-- ones: found by index. Same intent as migrations/sqlite/0015.
CREATE INDEX inbound_unknown_sender ON inbound(conversation_id, seq) WHERE outcome = 'unknown_sender';
