-- A status's conversations by last activity, with the id that breaks ties: the person-scoped
-- list walks this index newest first (ORDER BY last_activity_at DESC, id DESC) and stops when
-- its page is full. Without the id PostgreSQL sorted a whole status to order the ties (the list
-- of staff following 50 companies: p95 26 → 20 ms). The sweeps (a status's conversations
-- inactive since a time) use it as they used the index it replaces.
CREATE INDEX conversations_by_activity ON conversations(status, last_activity_at, id);
DROP INDEX conversations_inactive;
