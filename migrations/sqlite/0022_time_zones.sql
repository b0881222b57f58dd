-- A person's time zone, an IANA name (`Europe/Paris`), validated by the application against
-- the tz database it carries. NULL: the gateway's default (--default-time-zone). Every time on
-- their pages and in their emails is shown in it. Same intent as migrations/postgres/0022.
ALTER TABLE people ADD COLUMN time_zone TEXT;
