-- Search: one document per message (its text and file names), per conversation subject and
-- per conversation's participants (names and addresses, for staff only),
-- written in the transaction that writes what it indexes (src/store/search.rs), folded and
-- stemmed by src/domain/search_text.rs, kept as a tsvector of the 'simple' configuration
-- (words weighted A, stems B). Existing rows are indexed at the first start after this
-- migration (the analyzer's version in search_state). Same intent as migrations/sqlite/0019.
CREATE TABLE search_docs (
    doc_id          BIGSERIAL PRIMARY KEY,
    message_id      TEXT UNIQUE,
    conversation_id TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('message', 'note', 'subject', 'people')),
    document        tsvector NOT NULL
);
CREATE INDEX search_docs_conversation ON search_docs (conversation_id, kind);
CREATE INDEX search_docs_document ON search_docs USING GIN (document);
CREATE TABLE search_state (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    analyzer_version BIGINT NOT NULL
);
INSERT INTO search_state (id, analyzer_version) VALUES (1, 0);
