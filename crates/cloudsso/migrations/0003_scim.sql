-- SCIM 2.0 server (issue 4): the per-directory sync switch, bearer credentials, and the SCIM-only
-- attributes of users and groups. Portable between SQLite and PostgreSQL (see 0001_core.sql).

ALTER TABLE directories ADD COLUMN scim_enabled BIGINT NOT NULL DEFAULT 0;

-- At most two per directory (enforced in the service, inside the write transaction).
-- The secret is shown once at creation; only its SHA-256 (hex) is stored.
CREATE TABLE scim_credentials (
    id TEXT PRIMARY KEY,                 -- scimcred-…
    directory_id TEXT NOT NULL REFERENCES directories (id) ON DELETE CASCADE,
    secret_hash TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,                -- Enabled | Disabled
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,          -- created_at + 1 year
    last_used_at BIGINT NULL
);
CREATE INDEX scim_credentials_directory ON scim_credentials (directory_id);

-- SCIM attributes of users: externalId, the name sub-attributes we keep beyond first/last name,
-- and the ETag version (bumped on every change of the user, whatever its source).
ALTER TABLE users ADD COLUMN external_id TEXT NULL;
ALTER TABLE users ADD COLUMN scim_extra TEXT NOT NULL DEFAULT '{}';
ALTER TABLE users ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
CREATE INDEX users_external_id ON users (directory_id, external_id);

ALTER TABLE groups ADD COLUMN external_id TEXT NULL;
ALTER TABLE groups ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
CREATE INDEX groups_external_id ON groups (directory_id, external_id);

-- CS-SCIM (server): the SCIM `type` of the e-mail kept in users.email (the primary or first entry of
-- `emails`; the whole array round-trips in scim_extra), so that `emails[type eq "work"]` filters in SQL.
ALTER TABLE users ADD COLUMN email_type TEXT NULL;
