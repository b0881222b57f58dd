-- Digests, notification settings, verification codes, outbox priority.
-- Same intent as migrations/postgres/0004.

-- 'digest' (first unseen message at once, then at most one email per --digest-interval),
-- 'immediate' (every message at the next tick), 'off' (nothing).
ALTER TABLE people ADD COLUMN notifications TEXT NOT NULL DEFAULT 'digest';
ALTER TABLE people ADD COLUMN locale TEXT NOT NULL DEFAULT 'en';
ALTER TABLE people ADD COLUMN blocked INTEGER NOT NULL DEFAULT 0;
ALTER TABLE people ADD COLUMN verified_at INTEGER;

-- When this participant was last emailed about this conversation; NULL once they are caught
-- up (read or replied), so the next new message goes out at the next tick.
ALTER TABLE participants ADD COLUMN last_emailed_at INTEGER;
ALTER TABLE participants ADD COLUMN muted INTEGER NOT NULL DEFAULT 0;

CREATE TABLE verification_codes (
    id          TEXT PRIMARY KEY,
    person_id   TEXT NOT NULL REFERENCES people(id),
    email_key   TEXT NOT NULL,
    code_hash   TEXT NOT NULL,                -- HMAC of the code: the code itself is never stored
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    used_at     INTEGER,
    client_ip   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX verification_codes_email ON verification_codes(email_key, created_at);
CREATE INDEX verification_codes_ip ON verification_codes(client_ip, created_at);

-- Lower first: verification codes (0) go out ahead of notifications (1).
ALTER TABLE outbox ADD COLUMN priority INTEGER NOT NULL DEFAULT 1;
CREATE INDEX outbox_claim ON outbox(status, priority, next_attempt_at);
