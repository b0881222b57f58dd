-- Archived conversations leave every list but the archived one (staff put them away); NULL:
-- in the inbox. Any new message clears it (a reply brings the conversation back). Search and
-- reply addresses ignore it. Same intent as migrations/sqlite/0024.
ALTER TABLE conversations ADD COLUMN archived_at BIGINT;
