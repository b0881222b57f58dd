-- The last transcript of a conversation emailed to a person: at most one every 10 minutes
-- (the rate limit is this row, compared and set in the transaction that queues the email).
-- Same intent as migrations/sqlite/0025.
CREATE TABLE transcript_requests (
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    person_id TEXT NOT NULL REFERENCES people(id),
    requested_at BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, person_id)
);
