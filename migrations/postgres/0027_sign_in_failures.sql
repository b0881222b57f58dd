-- Failed attempts at the admin token on /admin, by client IP: after a few, each further
-- attempt waits twice as long as the one before (src/store/sign_in_failures.rs). Kept in the
-- database so that several gateway processes count them together. Same intent as
-- migrations/sqlite/0027.
CREATE TABLE sign_in_failures (
    client_ip TEXT NOT NULL,
    at        BIGINT NOT NULL
);
CREATE INDEX sign_in_failures_ip ON sign_in_failures (client_ip, at);
CREATE INDEX sign_in_failures_at ON sign_in_failures (at);
