-- Cloud SSO core schema (directory, users, groups, SSO logon settings, sessions, tokens, audit).
-- Portable between SQLite and PostgreSQL: ids and JSON are TEXT, flags are BIGINT 0/1,
-- timestamps are BIGINT unix seconds (UTC).

CREATE TABLE directories (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    acs_uuid TEXT NOT NULL UNIQUE,
    -- SSO logon settings (products.md 2.4)
    sso_enabled BIGINT NOT NULL DEFAULT 0,
    idp_entity_id TEXT NULL,
    idp_login_url TEXT NULL,
    idp_metadata TEXT NULL,
    want_request_signed BIGINT NOT NULL DEFAULT 0,
    binding_type TEXT NOT NULL DEFAULT 'Post',
    allow_unsolicited BIGINT NOT NULL DEFAULT 0,
    idp_updated_at BIGINT NULL,
    -- Our SP key (signs AuthnRequests when WantRequestSigned); sealed with the master key.
    sp_key_enc TEXT NOT NULL,
    sp_certificate TEXT NOT NULL,
    -- Login preferences, password policy, MFA (products.md 2.5)
    allow_user_to_get_credentials BIGINT NOT NULL DEFAULT 0,
    login_network_masks TEXT NOT NULL DEFAULT '[]',
    password_policy TEXT NOT NULL DEFAULT '{}',
    mfa_setting TEXT NOT NULL DEFAULT 'Enabled',
    portal_session_secs BIGINT NOT NULL DEFAULT 28800,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE idp_certificates (
    id TEXT PRIMARY KEY,
    directory_id TEXT NOT NULL REFERENCES directories (id) ON DELETE CASCADE,
    certificate TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX idp_certificates_directory ON idp_certificates (directory_id);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    directory_id TEXT NOT NULL REFERENCES directories (id) ON DELETE CASCADE,
    user_name TEXT NOT NULL,
    user_name_key TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    email TEXT NULL,
    email_key TEXT NULL,
    first_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    provision_type TEXT NOT NULL DEFAULT 'Manual',
    password_hash TEXT NULL,
    password_changed_at BIGINT NULL,
    failed_attempts BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT NULL,
    mfa_required BIGINT NOT NULL DEFAULT 0,
    totp_secret_enc TEXT NULL,
    totp_last_step BIGINT NULL,
    mfa_bound_at BIGINT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_user_name ON users (directory_id, user_name_key);
CREATE UNIQUE INDEX users_email ON users (directory_id, email_key);

CREATE TABLE password_history (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX password_history_user ON password_history (user_id, created_at);

CREATE TABLE groups (
    id TEXT PRIMARY KEY,
    directory_id TEXT NOT NULL REFERENCES directories (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    provision_type TEXT NOT NULL DEFAULT 'Manual',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX groups_name ON groups (directory_id, name_key);

CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

-- Portal sessions (a directory user) and console sessions (an administrator holding an API token).
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    directory_id TEXT NULL REFERENCES directories (id) ON DELETE CASCADE,
    user_id TEXT NULL REFERENCES users (id) ON DELETE CASCADE,
    api_token_id TEXT NULL,
    authn_method TEXT NOT NULL,
    mfa_pending BIGINT NOT NULL DEFAULT 0,
    pending_totp_enc TEXT NULL,
    relay_state TEXT NULL,
    csrf_token TEXT NOT NULL,
    source_ip TEXT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    directory_id TEXT NULL REFERENCES directories (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT NULL,
    expires_at BIGINT NULL
);
CREATE INDEX api_tokens_directory ON api_tokens (directory_id);

CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    directory_id TEXT NULL,
    at BIGINT NOT NULL,
    actor_type TEXT NOT NULL,
    actor_id TEXT NULL,
    action TEXT NOT NULL,
    target_type TEXT NULL,
    target_id TEXT NULL,
    result TEXT NOT NULL,
    source_ip TEXT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_directory_at ON audit_log (directory_id, at);

-- Assertion IDs seen at the ACS, kept until they could no longer be accepted anyway.
CREATE TABLE saml_replay_cache (
    directory_id TEXT NOT NULL REFERENCES directories (id) ON DELETE CASCADE,
    assertion_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (directory_id, assertion_id)
);
CREATE INDEX saml_replay_cache_expires ON saml_replay_cache (expires_at);

-- AuthnRequests we sent and not yet answered (for InResponseTo), with the RelayState to restore.
CREATE TABLE pending_authn_requests (
    id TEXT PRIMARY KEY,
    directory_id TEXT NOT NULL REFERENCES directories (id) ON DELETE CASCADE,
    relay_state TEXT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX pending_authn_requests_expires ON pending_authn_requests (expires_at);

CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    count BIGINT NOT NULL
);
