-- A removed attachment file's row stays for an hour with `removed_at` set: a writer that
-- committed a reference to the same content while the file was being removed sees it after its
-- commit and writes the file again (src/blobs/removal.rs). Same intent as migrations/sqlite/0029.
ALTER TABLE blob_removals ADD COLUMN removed_at BIGINT;

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
