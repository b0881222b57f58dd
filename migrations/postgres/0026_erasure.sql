-- Erasure (GDPR article 17). An erased person keeps their row, so the conversations they took
-- part in stay readable under a pseudonym, but nothing of them: `erased_at` marks it, and the
-- person is then unknown to every lookup. `erasures` is the one record that an erasure happened
-- (when, by whom), holding none of the person's data. `blob_removals` lists the files an
-- erasure left unreferenced: they are unlinked after its commit, and at the next start if the
-- process died in between. Same intent as migrations/sqlite/0026.
ALTER TABLE people ADD COLUMN erased_at BIGINT;

CREATE TABLE erasures (
    id         TEXT PRIMARY KEY,
    person_id  TEXT NOT NULL REFERENCES people(id),
    erased_by  TEXT NOT NULL,               -- 'admin' (the API's token) or 'command line'
    erased_at  BIGINT NOT NULL
);

CREATE TABLE blob_removals (
    sha256     TEXT PRIMARY KEY,
    queued_at  BIGINT NOT NULL
);
