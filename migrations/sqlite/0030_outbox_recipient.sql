-- The outbox is asked by recipient (`Store::queued_since`: was this address answered lately?)
-- for every email from an unknown sender and every command not understood: without an index,
-- a scan of every email ever queued — sent ones are kept — on the path of mail anyone can send.
-- The index on Message-ID served no query; each queued email wrote it.
DROP INDEX outbox_message_id;
CREATE INDEX outbox_recipient ON outbox(recipient, created_at);
