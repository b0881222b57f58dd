-- SPF, DKIM and DMARC results of each inbound email (an Authentication-Results header value,
-- RFC 8601), when the gateway checks them. Same intent as migrations/sqlite/0009.
ALTER TABLE inbound ADD COLUMN auth_results TEXT;
