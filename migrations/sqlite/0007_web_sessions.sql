-- The web view: sign-in sessions and read marks. Same intent as migrations/postgres/0007.

-- A session is a random cookie value; only its SHA-256 is stored, so a database leak does not
-- hand out live sessions. person_id NULL: an admin session (opened with the admin token).
CREATE TABLE web_sessions (
    id         TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    person_id  TEXT REFERENCES people(id),
    csrf       TEXT NOT NULL,                 -- the synchronizer token every form carries
    via        TEXT NOT NULL CHECK (via IN ('magic_link', 'code', 'admin_token')),
    admin_key  TEXT,                          -- admin sessions: a hash of the admin token they were opened with
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER                       -- non-null: signed out (server-side revocation)
);
CREATE INDEX web_sessions_person ON web_sessions(person_id);

-- The highest messages.seq this participant has seen in the web view (or written): the list's
-- unread counts. Distinct from notified_up_to, which says what was emailed.
ALTER TABLE participants ADD COLUMN read_up_to INTEGER NOT NULL DEFAULT 0;

-- Sign-in links issued before this time no longer work (sign out everywhere, blocking): links
-- are stateless, so this is how they are revoked.
ALTER TABLE people ADD COLUMN sessions_valid_after INTEGER NOT NULL DEFAULT 0;
