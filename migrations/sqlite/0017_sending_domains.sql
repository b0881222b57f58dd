-- Every domain is a sending domain: its notifications' From (display name, local part), the
-- language of people who first write to its inbox, and the domain each conversation's emails
-- go out from (NULL: the default domain, --from-address). Same intent as
-- migrations/postgres/0017.
ALTER TABLE domains ADD COLUMN display_name TEXT;
ALTER TABLE domains ADD COLUMN notifications_local TEXT;
ALTER TABLE domains ADD COLUMN default_locale TEXT;
ALTER TABLE conversations ADD COLUMN domain TEXT;
UPDATE conversations SET domain = inbox_domain WHERE inbox_domain IS NOT NULL;
