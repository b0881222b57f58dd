-- An assignment not yet told to its assignee: who assigned them ('' for an admin or the API).
-- Set with the assignment, in its transaction; cleared by the notification planner when it
-- queues the email (compared-and-set, so it goes once), or when the conversation is unassigned
-- or assigned to someone else first. Same intent as migrations/postgres/0013.
ALTER TABLE participants ADD COLUMN assigned_by TEXT;

-- The subject of the first email a participant got about the conversation: every later email
-- to them keeps it, so a subject changed by staff never splits their thread in clients that
-- thread by subject (Gmail).
ALTER TABLE participants ADD COLUMN thread_subject TEXT;
