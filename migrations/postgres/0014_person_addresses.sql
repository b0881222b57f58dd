-- A person's other addresses (the primary one stays in people.email): usable once verified,
-- by a link emailed to the address (verified_by 'link') or vouched for by staff (verified_by:
-- their person id, or 'admin' for the API). An address belongs to one person at most: the key
-- is unique here, and checked against people.email_key in the transaction that adds it. Same
-- intent as migrations/sqlite/0014.
CREATE TABLE person_addresses (
    id          TEXT PRIMARY KEY,
    person_id   TEXT NOT NULL REFERENCES people(id),
    email       TEXT NOT NULL,
    email_key   TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    verified_at BIGINT,
    verified_by TEXT
);
CREATE INDEX person_addresses_person ON person_addresses(person_id);
