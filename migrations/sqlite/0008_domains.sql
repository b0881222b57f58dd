-- Sending domains: their reply subdomain, DKIM keys, and the last DNS check. Same intent as
-- migrations/postgres/0008.

CREATE TABLE domains (
    name            TEXT PRIMARY KEY,          -- lowercase, no trailing dot
    reply_domain    TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    last_checked_at INTEGER,
    check_results   TEXT NOT NULL DEFAULT '[]'  -- JSON: [{type, host, status, found}] of the last check
);

-- DKIM keys (RFC 6376, RFC 8463). 'pending': published but not signing yet (rotation);
-- 'active': signs; 'retired': kept for the record, never signs.
CREATE TABLE dkim_keys (
    domain      TEXT NOT NULL REFERENCES domains(name),
    selector    TEXT NOT NULL,
    algorithm   TEXT NOT NULL CHECK (algorithm IN ('rsa', 'ed25519')),
    private_key TEXT NOT NULL,                 -- base64 DER: PKCS#1 (RSA) or PKCS#8 (Ed25519)
    public_key  TEXT NOT NULL,                 -- base64, as published in p=
    status      TEXT NOT NULL CHECK (status IN ('pending', 'active', 'retired')),
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (domain, selector)
);
