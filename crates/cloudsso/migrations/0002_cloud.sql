-- The built-in cloud (resource directory, RAM, STS, console) and Cloud SSO's access configurations,
-- assignments, tasks, role-SSO signing keys and RAM user provisioning.
-- Portable between SQLite and PostgreSQL: TEXT ids and JSON, BIGINT flags and unix seconds.

-- Accounts of the resource directory behind a Cloud SSO directory (one management account + members).
CREATE TABLE cloud_accounts (
    id TEXT PRIMARY KEY,
    directory_id TEXT NOT NULL REFERENCES directories (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    folder TEXT NOT NULL DEFAULT '/',
    is_management BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE INDEX cloud_accounts_directory ON cloud_accounts (directory_id);

-- RAM SAML providers (role-based SSO): the IdP they trust.
CREATE TABLE cloud_saml_providers (
    account_id TEXT NOT NULL REFERENCES cloud_accounts (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    idp_entity_id TEXT NOT NULL,
    certificates TEXT NOT NULL,
    metadata TEXT NULL,
    reserved BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, name_key)
);

-- RAM roles with their trust policy.
CREATE TABLE cloud_roles (
    account_id TEXT NOT NULL REFERENCES cloud_accounts (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    role_id TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    trust_policy TEXT NOT NULL,
    max_session_duration BIGINT NOT NULL DEFAULT 3600,
    reserved BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, name_key)
);

-- RAM users (created by hand or by RAM user provisioning).
CREATE TABLE cloud_users (
    account_id TEXT NOT NULL REFERENCES cloud_accounts (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    user_id TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL DEFAULT '',
    provisioning_id TEXT NULL,
    sso_user_id TEXT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, name_key)
);
CREATE INDEX cloud_users_sso_user ON cloud_users (sso_user_id);

-- Custom policies of an account.
CREATE TABLE cloud_policies (
    account_id TEXT NOT NULL REFERENCES cloud_accounts (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    document TEXT NOT NULL,
    reserved BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, name_key)
);

-- Policies attached to roles and users: policy_type 'System' (catalogue) or 'Custom' (cloud_policies).
CREATE TABLE cloud_policy_attachments (
    account_id TEXT NOT NULL REFERENCES cloud_accounts (id) ON DELETE CASCADE,
    principal_type TEXT NOT NULL,
    principal_key TEXT NOT NULL,
    policy_type TEXT NOT NULL,
    policy_name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, principal_type, principal_key, policy_type, policy_name)
);

-- Temporary credentials issued by the STS; the secret is sealed with the master key.
CREATE TABLE sts_credentials (
    access_key_id TEXT PRIMARY KEY,
    secret_enc TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES cloud_accounts (id) ON DELETE CASCADE,
    role_name TEXT NOT NULL,
    role_id TEXT NOT NULL,
    session_name TEXT NOT NULL,
    provider_arn TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sts_credentials_expires ON sts_credentials (expires_at);

-- Signed-request nonces seen, kept until the timestamp alone would refuse a replay.
CREATE TABLE sts_nonces (
    access_key_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (access_key_id, nonce)
);
CREATE INDEX sts_nonces_expires ON sts_nonces (expires_at);

-- Assertion IDs consumed by the cloud's sign-in endpoints and STS (per issuer).
CREATE TABLE cloud_saml_replay (
    issuer TEXT NOT NULL,
    assertion_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, assertion_id)
);
CREATE INDEX cloud_saml_replay_expires ON cloud_saml_replay (expires_at);

-- Console sessions of the built-in cloud (a role session or a RAM user).
CREATE TABLE cloud_console_sessions (
    id_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES cloud_accounts (id) ON DELETE CASCADE,
    identity_type TEXT NOT NULL,
    principal_name TEXT NOT NULL,
    session_name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX cloud_console_sessions_expires ON cloud_console_sessions (expires_at);

-- Cloud SSO's role-SSO signing key per directory (signs the role-based and user-based Responses).
CREATE TABLE role_sso_keys (
    directory_id TEXT PRIMARY KEY REFERENCES directories (id) ON DELETE CASCADE,
    key_id TEXT NOT NULL,
    key_enc TEXT NOT NULL,
    certificate TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE access_configurations (
    id TEXT PRIMARY KEY,
    directory_id TEXT NOT NULL REFERENCES directories (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    session_duration BIGINT NOT NULL,
    relay_state TEXT NULL,
    system_policies TEXT NOT NULL DEFAULT '[]',
    inline_policy TEXT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX access_configurations_name ON access_configurations (directory_id, name_key);

-- Where an access configuration is provisioned; status 'Provisioned' or 'ReprovisionRequired'.
CREATE TABLE access_configuration_provisionings (
    access_configuration_id TEXT NOT NULL REFERENCES access_configurations (id) ON DELETE CASCADE,
    account_id TEXT NOT NULL REFERENCES cloud_accounts (id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    provisioned_at BIGINT NOT NULL,
    PRIMARY KEY (access_configuration_id, account_id)
);

-- Who may use which access configuration on which account.
CREATE TABLE access_assignments (
    directory_id TEXT NOT NULL REFERENCES directories (id) ON DELETE CASCADE,
    access_configuration_id TEXT NOT NULL REFERENCES access_configurations (id) ON DELETE CASCADE,
    account_id TEXT NOT NULL REFERENCES cloud_accounts (id) ON DELETE CASCADE,
    principal_type TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (access_configuration_id, account_id, principal_type, principal_id)
);
CREATE INDEX access_assignments_principal ON access_assignments (principal_id);

-- Asynchronous tasks (assignments, provisioning, RAM user provisioning) with visible status.
CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    directory_id TEXT NOT NULL REFERENCES directories (id) ON DELETE CASCADE,
    task_type TEXT NOT NULL,
    status TEXT NOT NULL,
    access_configuration_id TEXT NULL,
    account_id TEXT NULL,
    principal_type TEXT NULL,
    principal_id TEXT NULL,
    payload TEXT NOT NULL DEFAULT '{}',
    failure_reason TEXT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    lease_until BIGINT NULL,
    created_at BIGINT NOT NULL,
    finished_at BIGINT NULL
);
CREATE INDEX tasks_directory ON tasks (directory_id, created_at);
CREATE INDEX tasks_status ON tasks (status);

-- RAM user provisioning: a Cloud SSO user or group provisioned as RAM users into an account.
CREATE TABLE ram_user_provisionings (
    id TEXT PRIMARY KEY,
    directory_id TEXT NOT NULL REFERENCES directories (id) ON DELETE CASCADE,
    principal_type TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES cloud_accounts (id) ON DELETE CASCADE,
    duplication_strategy TEXT NOT NULL,
    deletion_strategy TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX ram_user_provisionings_target ON ram_user_provisionings (directory_id, principal_type, principal_id, account_id);
