-- Conversation lifecycle: status, assignment, snoozing, the auto-close clock, soft-deleted
-- messages, and each conversation's history of changes (events). Same intent as
-- migrations/postgres/0003.

-- 'open' (waiting on the team), 'pending' (waiting on the client), 'closed', 'snoozed' (until
-- snoozed_until, then back to wake_status).
ALTER TABLE conversations ADD COLUMN status TEXT NOT NULL DEFAULT 'open'
    CHECK (status IN ('open', 'pending', 'closed', 'snoozed'));
ALTER TABLE conversations ADD COLUMN assignee_id TEXT REFERENCES people(id);
ALTER TABLE conversations ADD COLUMN snoozed_until INTEGER;
ALTER TABLE conversations ADD COLUMN wake_status TEXT
    CHECK (wake_status IN ('open', 'pending', 'closed'));
-- The auto-close clock: the last message (or note), reopening, or waking up; creation at first.
ALTER TABLE conversations ADD COLUMN last_activity_at INTEGER NOT NULL DEFAULT 0;
UPDATE conversations SET last_activity_at = COALESCE(
    (SELECT MAX(m.created_at) FROM messages m WHERE m.conversation_id = conversations.id),
    created_at);
CREATE INDEX conversations_inactive ON conversations(status, last_activity_at);
CREATE INDEX conversations_snoozed ON conversations(snoozed_until) WHERE status = 'snoozed';
CREATE INDEX conversations_assignee ON conversations(assignee_id) WHERE assignee_id IS NOT NULL;

-- Soft delete: the row stays (history, threading, notifications already sent).
ALTER TABLE messages ADD COLUMN deleted_at INTEGER;
ALTER TABLE messages ADD COLUMN deleted_by TEXT REFERENCES people(id);

CREATE TABLE conversation_events (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT, -- the order of the history
    id              TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    kind            TEXT NOT NULL,                     -- status_changed, assigned, auto_closed…
    actor_id        TEXT REFERENCES people(id),        -- NULL: the system or an admin
    data            TEXT NOT NULL DEFAULT '{}',        -- JSON object, by kind
    created_at      INTEGER NOT NULL
);
CREATE INDEX conversation_events_conversation ON conversation_events(conversation_id, seq);
