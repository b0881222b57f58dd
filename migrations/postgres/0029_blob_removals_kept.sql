-- Removing attachment files safely while another process may refer to the same content again
-- (src/blobs/removal.rs): a listed file is `pending` until a remover that `claimed` it (until
-- `claimed_until`) has checked for references and deleted it or kept it; `removed_at` says when
-- it was last deleted and stays an hour, so a writer that committed a reference meanwhile
-- writes the file again. The attachments' content index makes each reference check one lookup.
-- Same intent as migrations/sqlite/0029, plus `blob_contents`.
ALTER TABLE blob_removals ADD COLUMN pending INTEGER NOT NULL DEFAULT 1;
ALTER TABLE blob_removals ADD COLUMN removed_at BIGINT;
ALTER TABLE blob_removals ADD COLUMN claimed_until BIGINT;
CREATE INDEX attachments_content ON attachments(sha256);

-- Attachment files kept in the database itself (`--blob-store postgres`): content-addressed by
-- the SHA-256 of their bytes, written before the email's commit like any blob store. The bytes
-- are stored uncompressed out of line (STORAGE EXTERNAL) so that a download reads them a slice
-- at a time (`substring`) without decompressing the whole value for each slice.
CREATE TABLE blob_contents (
    sha256      TEXT PRIMARY KEY,
    size        BIGINT NOT NULL,
    content     BYTEA NOT NULL,
    created_at  BIGINT NOT NULL
);
ALTER TABLE blob_contents ALTER COLUMN content SET STORAGE EXTERNAL;
