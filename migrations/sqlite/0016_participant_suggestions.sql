-- People an email to an inbox conversation copied (To, Cc) who do not take part: offered to
-- staff to add (one click), never added silently. Same intent as migrations/postgres/0016.
CREATE TABLE participant_suggestions (
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    email_key       TEXT NOT NULL,
    email           TEXT NOT NULL,
    name            TEXT,
    suggested_at    INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, email_key)
);
