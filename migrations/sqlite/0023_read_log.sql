-- When each participant's read mark moved, so staff can see who has seen a message and when
-- ("Seen by Paul Durand, 10:42"): " <seq>@<ms>" appended by the same UPDATE that moves
-- read_up_to (opening the page, writing in the conversation, the read API), so seeing costs no
-- write beyond the read mark. Kept to its last ~1,000 characters; a trimmed log starts with
-- "~" and its first entry is partial. Same intent as migrations/postgres/0023.
ALTER TABLE participants ADD COLUMN read_log TEXT NOT NULL DEFAULT '';
