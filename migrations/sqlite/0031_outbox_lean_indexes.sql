-- Every queued email writes each of the outbox's indexes; a digest to 100,000 people writes
-- 100,000 rows in one pass. Two indexes wrote more than they served:
-- - `outbox_due (status, next_attempt_at)` repeats the start of `outbox_claim (status,
--   priority, next_attempt_at)`, which serves the claim and the readiness summary as well;
-- - `outbox_recipient` is asked only about emails the gateway answers on its own (waiting
--   answers to strangers, help for commands not understood: `Store::queued_since`), all of
--   priority 0; notifications (priority 1), nearly every row, no longer enter it.
DROP INDEX outbox_due;
DROP INDEX outbox_recipient;
CREATE INDEX outbox_recipient ON outbox(recipient, created_at) WHERE priority = 0;
