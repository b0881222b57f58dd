-- Search: one document per message (its text and file names), per conversation subject and
-- per conversation's participants (names and addresses, for staff only),
-- written in the transaction that writes what it indexes (src/store/search.rs), folded and
-- stemmed by src/domain/search_text.rs. Existing rows are indexed at the first start after
-- this migration (the analyzer's version in search_state). Same intent as
-- migrations/postgres/0019.
CREATE TABLE search_docs (
    doc_id          INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id      TEXT UNIQUE,             -- NULL for a subject
    conversation_id TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('message', 'note', 'subject', 'people'))
);
CREATE INDEX search_docs_conversation ON search_docs (conversation_id, kind);
-- rowid = search_docs.doc_id; unicode61 over text already folded to [a-z0-9] words.
CREATE VIRTUAL TABLE search_fts USING fts5(words, stems, tokenize = 'unicode61 remove_diacritics 2');
CREATE TABLE search_state (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    analyzer_version INTEGER NOT NULL
);
INSERT INTO search_state (id, analyzer_version) VALUES (1, 0);
