-- Sign-in links already used to open a session: each works once (a replay after use, from a
-- forwarded email or a leaked URL, signs no one in; src/store/used_links.rs). Holds a SHA-256
-- of the link's token, nothing that names a person; rows go once the link has expired anyway.
-- Same intent as migrations/sqlite/0028.
CREATE TABLE used_links (
    digest     TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL,
    -- SHA-256 of the form token of the browser that used it: a double tap or a lost answer
    -- in that browser may press again for a few minutes; any other browser is refused.
    browser    TEXT NOT NULL,
    used_at    BIGINT NOT NULL
);
CREATE INDEX used_links_expiry ON used_links (expires_at);
