-- A removed attachment file's row stays for an hour with `removed_at` set: a writer that
-- committed a reference to the same content while the file was being removed sees it after its
-- commit and writes the file again (src/blobs/removal.rs). `blob_contents`, the files kept in
-- the database, exists on PostgreSQL only (migrations/postgres/0029).
ALTER TABLE blob_removals ADD COLUMN removed_at INTEGER;
