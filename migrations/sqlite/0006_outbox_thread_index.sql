-- The inbound pipeline looks up the last notification sent to a person in a conversation (to
-- cut it where a reply quotes it) for every reply: index that lookup.
-- Same intent as migrations/postgres/0006.
CREATE INDEX outbox_thread ON outbox(conversation_id, person_id, seq);
