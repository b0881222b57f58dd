-- One row per item of background work that failed (a participant's notification that could not
-- be composed, a row that could not be read, a conversation the lifecycle step could not move,
-- a domain that could not be re-checked): the loop logs it, records it here and goes on with
-- the others; the API lists these rows. The latest failure of an item replaces the previous
-- one and counts it. Same intent as migrations/sqlite/0012.
CREATE TABLE work_failures (
    job TEXT NOT NULL,
    item TEXT NOT NULL,
    reason TEXT NOT NULL,
    failures BIGINT NOT NULL,
    first_failed_at BIGINT NOT NULL,
    last_failed_at BIGINT NOT NULL,
    PRIMARY KEY (job, item)
);
CREATE INDEX work_failures_recent ON work_failures(last_failed_at);
