-- threadgate initial schema (SQLite). Same numbering and intent as migrations/postgres/.
-- Times are INTEGER milliseconds since the Unix epoch; ids are opaque TEXT.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE people (
    id         TEXT PRIMARY KEY,
    email      TEXT NOT NULL,
    email_key  TEXT NOT NULL UNIQUE,           -- lowercased address, the matching key
    name       TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('internal', 'client')),
    created_at INTEGER NOT NULL
);

CREATE TABLE conversations (
    id         TEXT PRIMARY KEY,
    subject    TEXT NOT NULL,
    created_by TEXT NOT NULL REFERENCES people(id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE participants (
    conversation_id  TEXT NOT NULL REFERENCES conversations(id),
    person_id        TEXT NOT NULL REFERENCES people(id),
    reply_token      TEXT NOT NULL UNIQUE,
    added_at         INTEGER NOT NULL,
    removed_at       INTEGER,                   -- non-null: token revoked
    notified_up_to   INTEGER NOT NULL DEFAULT 0, -- highest messages.seq already emailed (or skipped)
    last_email_id    TEXT,                      -- Message-ID of the last notification sent (threading)
    email_references TEXT NOT NULL DEFAULT '',  -- space-separated recent Message-IDs (References)
    emails_sent      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, person_id)
);
CREATE INDEX participants_person ON participants(person_id);

CREATE TABLE raw_emails (
    sha256      TEXT PRIMARY KEY,               -- content address: identical retransmissions share a row
    data        BLOB NOT NULL,
    size        INTEGER NOT NULL,
    received_at INTEGER NOT NULL
);

CREATE TABLE inbound (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    id                TEXT NOT NULL UNIQUE,
    received_at       INTEGER NOT NULL,
    envelope_from     TEXT NOT NULL,
    recipients        TEXT NOT NULL,            -- JSON array of envelope recipients
    message_id        TEXT,
    outcome           TEXT NOT NULL,
    conversation_id   TEXT REFERENCES conversations(id),
    posted_message_id TEXT,
    detail            TEXT NOT NULL DEFAULT '',
    raw_sha256        TEXT REFERENCES raw_emails(sha256),
    peer              TEXT NOT NULL DEFAULT ''
);

CREATE TABLE messages (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    conversation_id  TEXT NOT NULL REFERENCES conversations(id),
    author_id        TEXT NOT NULL REFERENCES people(id),
    kind             TEXT NOT NULL CHECK (kind IN ('message', 'note')),
    body_text        TEXT NOT NULL,
    body_html        TEXT,
    trimmed_text     TEXT,                      -- quoted history / signature removed from an email reply
    source           TEXT NOT NULL CHECK (source IN ('email', 'web', 'api')),
    email_message_id TEXT,                      -- Message-ID header of the inbound email, for dedup
    inbound_id       TEXT,
    created_at       INTEGER NOT NULL
);
CREATE INDEX messages_conversation ON messages(conversation_id, seq);
-- The same email delivered twice (sender retry) yields one message.
CREATE UNIQUE INDEX messages_email_dedup ON messages(conversation_id, email_message_id)
    WHERE email_message_id IS NOT NULL;

CREATE TABLE outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    created_at      INTEGER NOT NULL,
    conversation_id TEXT REFERENCES conversations(id),
    person_id       TEXT REFERENCES people(id),
    envelope_from   TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    message_id      TEXT NOT NULL,              -- the Message-ID header we generated
    data            BLOB NOT NULL,              -- the complete RFC 5322 message
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    last_error      TEXT,
    sent_at         INTEGER
);
CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
CREATE INDEX outbox_message_id ON outbox(message_id);
