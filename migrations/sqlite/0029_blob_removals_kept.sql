-- Removing attachment files safely while another process may refer to the same content again
-- (src/blobs/removal.rs): a listed file is `pending` until a remover that `claimed` it (until
-- `claimed_until`) has checked for references and deleted it or kept it; `removed_at` says when
-- it was last deleted and stays an hour, so a writer that committed a reference meanwhile
-- writes the file again. The attachments' content index makes each reference check one lookup.
-- `blob_contents`, the files kept in the database, exists on PostgreSQL only
-- (migrations/postgres/0029).
ALTER TABLE blob_removals ADD COLUMN pending INTEGER NOT NULL DEFAULT 1;
ALTER TABLE blob_removals ADD COLUMN removed_at INTEGER;
ALTER TABLE blob_removals ADD COLUMN claimed_until INTEGER;
CREATE INDEX attachments_content ON attachments(sha256);
