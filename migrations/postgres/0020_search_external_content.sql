-- Search ranks its candidates itself (src/domain/search_text.rs, SearchQuery::score) from the
-- tsvector, which already holds the words in order (weight A) and their stems (weight B): no
-- change of schema here. migrations/sqlite/0020 moves SQLite's documents into search_docs.
-- The index is written again at the next start, with the analyzer's new version.
UPDATE search_state SET analyzer_version = 0 WHERE id = 1;
