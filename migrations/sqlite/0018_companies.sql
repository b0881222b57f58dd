-- Companies (the client file) and who follows them; the three conversation types. Who may read
-- a conversation is decided in one place (src/store/access.rs). Same intent as
-- migrations/postgres/0018.
CREATE TABLE companies (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX companies_by_name ON companies (name, id);

-- Staff or clients who keep a company among their favourites.
CREATE TABLE company_followers (
    company_id TEXT NOT NULL REFERENCES companies(id),
    person_id  TEXT NOT NULL REFERENCES people(id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (company_id, person_id)
);
CREATE INDEX company_followers_by_person ON company_followers (person_id, company_id);

-- 'private': participants only; 'company': the company's followers (clients while a client
-- follower takes part); 'confidential': the company's staff followers and participants.
ALTER TABLE conversations ADD COLUMN type TEXT NOT NULL DEFAULT 'private'
    CHECK (type IN ('private', 'company', 'confidential'));
ALTER TABLE conversations ADD COLUMN company_id TEXT REFERENCES companies(id);
CREATE INDEX conversations_by_company ON conversations (company_id);
