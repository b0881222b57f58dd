-- Search ranks its candidates itself (src/domain/search_text.rs, SearchQuery::score): FTS5
-- only finds them, newest first, and never computes bm25, which has to visit every match of
-- every term. So the index no longer keeps column sizes, and the documents' words and stems
-- live once, in search_docs, which search_fts indexes as its external content (rowid =
-- doc_id). The index is emptied here and written again at the next start (the analyzer's
-- version is reset). migrations/postgres/0020 changes nothing: the tsvector holds the same.
DROP TABLE search_fts;
DELETE FROM search_docs;
ALTER TABLE search_docs ADD COLUMN words TEXT NOT NULL DEFAULT '';
ALTER TABLE search_docs ADD COLUMN stems TEXT NOT NULL DEFAULT '';
CREATE VIRTUAL TABLE search_fts USING fts5(
    words, stems,
    content = 'search_docs', content_rowid = 'doc_id',
    columnsize = 0,
    tokenize = 'unicode61 remove_diacritics 2'
);
UPDATE search_state SET analyzer_version = 0 WHERE id = 1;
