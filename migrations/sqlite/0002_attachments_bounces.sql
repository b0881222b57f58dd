-- Attachments (content-addressed files under <data-dir>/attachments/, metadata here) and
-- delivery health of each person's address (bounces). Same intent as migrations/postgres/0002.

CREATE TABLE attachments (
    id           TEXT PRIMARY KEY,
    message_id   TEXT NOT NULL REFERENCES messages(id),
    position     INTEGER NOT NULL,           -- order in the email
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    content_id   TEXT,                       -- for inline cid: images
    inline       INTEGER NOT NULL DEFAULT 0,
    omitted      TEXT,                       -- non-null: not kept, and why (e.g. over the size limit)
    created_at   INTEGER NOT NULL
);
CREATE INDEX attachments_message ON attachments(message_id, position);

-- 'ok' | 'soft_bounce' (recent temporary failures, still mailed) | 'bounced' (suppressed)
ALTER TABLE people ADD COLUMN email_status TEXT NOT NULL DEFAULT 'ok';
ALTER TABLE people ADD COLUMN soft_bounces INTEGER NOT NULL DEFAULT 0;
ALTER TABLE people ADD COLUMN last_bounce_at INTEGER;
ALTER TABLE people ADD COLUMN bounce_detail TEXT;

CREATE INDEX inbound_sender_recent ON inbound(envelope_from, conversation_id, received_at);
