-- Inbox addresses (support@<domain>): who may start a conversation by email, and the
-- senders refused outright. Same intent as migrations/postgres/0010.

-- The local part of the domain's inbox address (NULL: the domain has none), and what happens
-- to mail from people we do not know yet.
ALTER TABLE domains ADD COLUMN inbox_local TEXT DEFAULT 'support';
ALTER TABLE domains ADD COLUMN stranger_policy TEXT NOT NULL DEFAULT 'verify'
    CHECK (stranger_policy IN ('refuse', 'verify', 'accept'));

-- Sender domains refused at RCPT time (their subdomains too).
CREATE TABLE blocked_domains (
    domain     TEXT PRIMARY KEY,               -- lowercase, no trailing dot
    created_at INTEGER NOT NULL
);

-- The domain whose inbox address started the conversation: a known person's next email to
-- that inbox continues it while it is not closed.
ALTER TABLE conversations ADD COLUMN inbox_domain TEXT;

-- A held email waiting for its sender to confirm their address (stranger policy 'verify'):
-- the From address key. Confirming releases every email waiting on it.
ALTER TABLE inbound ADD COLUMN awaiting TEXT;
CREATE INDEX inbound_awaiting ON inbound(awaiting) WHERE awaiting IS NOT NULL;

-- A retried email that started a conversation must not start a second one.
CREATE INDEX messages_email_message_id ON messages(email_message_id)
    WHERE email_message_id IS NOT NULL;
