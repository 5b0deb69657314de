-- IDaaS core schema. Portable between SQLite and PostgreSQL:
-- ids and JSON are TEXT, flags are BIGINT 0/1, timestamps are BIGINT unix seconds (UTC).

CREATE TABLE instances (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    base_url TEXT NULL,
    settings TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE org_units (
    id TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    parent_id TEXT NULL REFERENCES org_units (id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    external_id TEXT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX org_units_parent ON org_units (instance_id, parent_id);
CREATE UNIQUE INDEX org_units_sibling_name ON org_units (instance_id, COALESCE(parent_id, ''), name);
CREATE UNIQUE INDEX org_units_external_id ON org_units (instance_id, external_id);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    username TEXT NOT NULL,
    username_key TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    email TEXT NULL,
    phone TEXT NULL,
    status TEXT NOT NULL,
    is_admin BIGINT NOT NULL DEFAULT 0,
    custom_fields TEXT NOT NULL DEFAULT '{}',
    primary_ou_id TEXT NULL REFERENCES org_units (id) ON DELETE SET NULL,
    external_id TEXT NULL,
    password_hash TEXT NULL,
    password_changed_at BIGINT NULL,
    must_change_password BIGINT NOT NULL DEFAULT 0,
    failed_attempts BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT NULL,
    mfa_enabled BIGINT NOT NULL DEFAULT 0,
    totp_secret_enc TEXT NULL,
    totp_last_step BIGINT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_username ON users (instance_id, username_key);
CREATE INDEX users_email ON users (instance_id, email);

CREATE TABLE password_history (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX password_history_user ON password_history (user_id, created_at);

CREATE TABLE user_org_units (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    ou_id TEXT NOT NULL REFERENCES org_units (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, ou_id)
);
CREATE INDEX user_org_units_ou ON user_org_units (ou_id);

CREATE TABLE groups (
    id TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    external_id TEXT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX groups_name ON groups (instance_id, name_key);
CREATE UNIQUE INDEX groups_external_id ON groups (instance_id, external_id);

CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

CREATE TABLE applications (
    id TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    template_id TEXT NULL,
    source_type TEXT NOT NULL,
    sso_type TEXT NOT NULL,
    status TEXT NOT NULL,
    sso_status TEXT NOT NULL,
    authorization_type TEXT NOT NULL,
    saml_config TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX applications_instance ON applications (instance_id);

CREATE TABLE app_grants (
    app_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    subject_type TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (app_id, subject_type, subject_id)
);
CREATE INDEX app_grants_subject ON app_grants (subject_type, subject_id);

CREATE TABLE app_accounts (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    app_username TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (app_id, user_id)
);

CREATE TABLE signing_keys (
    id TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    algorithm TEXT NOT NULL,
    private_key_enc TEXT NOT NULL,
    certificate TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    activated_at BIGINT NULL,
    retired_at BIGINT NULL
);
CREATE INDEX signing_keys_instance ON signing_keys (instance_id, state);

CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    authn_instant BIGINT NOT NULL,
    authn_methods TEXT NOT NULL,
    mfa_pending BIGINT NOT NULL DEFAULT 0,
    csrf_token TEXT NOT NULL,
    source_ip TEXT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE pending_sso (
    id TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    app_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    request TEXT NOT NULL,
    relay_state TEXT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX pending_sso_expires ON pending_sso (expires_at);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    instance_id TEXT NULL REFERENCES instances (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT NULL,
    expires_at BIGINT NULL
);
CREATE INDEX api_tokens_instance ON api_tokens (instance_id);

CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    instance_id TEXT NULL,
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
CREATE INDEX audit_log_instance_at ON audit_log (instance_id, at);

CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    count BIGINT NOT NULL
);
