-- Account sync (issue 4): per-application SCIM provisioning, the transactional outbox, the map of what
-- was pushed, and sync records. Portable between SQLite and PostgreSQL (see 0001_core.sql).

CREATE TABLE provisioning_configs (
    app_id TEXT PRIMARY KEY REFERENCES applications (id) ON DELETE CASCADE,
    instance_id TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    enabled BIGINT NOT NULL DEFAULT 0,
    protocol TEXT NOT NULL DEFAULT 'scim2',
    base_url TEXT NOT NULL,
    -- JSON: {"mode":"bearer_token","access_token_enc":…} or {"mode":"client_credentials",
    -- "token_endpoint":…,"client_id":…,"client_secret_enc":…,"authn_method":"client_secret_basic"}.
    -- Secrets sealed with the master key.
    auth TEXT NOT NULL DEFAULT '{}',
    -- JSON: {"org_unit_ids":[…],"group_ids":[…]}
    scope TEXT NOT NULL DEFAULT '{}',
    -- JSON list of urn:alibaba:idaas:app:scim:{User,Group}:{CREATE,UPDATE,DELETE}
    actions TEXT NOT NULL DEFAULT '[]',
    -- JSON list of {"target": scim attribute path, "expression": attribute expression}
    attribute_mapping TEXT NOT NULL DEFAULT '[]',
    deprovision_mode TEXT NOT NULL DEFAULT 'delete',      -- delete | disable
    compatibility TEXT NOT NULL DEFAULT 'standard',       -- standard | aws_iam_identity_center
    max_attempts BIGINT NOT NULL DEFAULT 8,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX provisioning_configs_instance ON provisioning_configs (instance_id, enabled);

-- One row per (application, object) with pending work; written in the same transaction as the change.
-- Delivery is state-based: the worker pushes the object's current state, then deletes the row only if
-- change_seq is still the one it read (a change during delivery leaves the row for another pass).
CREATE TABLE provisioning_outbox (
    app_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    object_type TEXT NOT NULL,            -- user | group
    object_id TEXT NOT NULL,
    change_seq BIGINT NOT NULL DEFAULT 1,
    state TEXT NOT NULL DEFAULT 'pending', -- pending | dead
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT NULL,
    lease_until BIGINT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (app_id, object_type, object_id)
);
CREATE INDEX provisioning_outbox_due ON provisioning_outbox (state, next_attempt_at);

-- What the target holds for each local object (no foreign key: it outlives a deleted local object).
CREATE TABLE provisioning_objects (
    app_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    remote_id TEXT NOT NULL,
    remote_key TEXT NOT NULL,              -- userName or displayName as pushed
    state_hash TEXT NOT NULL,              -- hash of the last pushed resource
    active BIGINT NOT NULL DEFAULT 1,
    synced_at BIGINT NOT NULL,
    PRIMARY KEY (app_id, object_type, object_id)
);

-- Group memberships as pushed to the target.
CREATE TABLE provisioning_memberships (
    app_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    group_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (app_id, group_id, user_id)
);

-- Sync records.
CREATE TABLE sync_jobs (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    instance_id TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    trigger_type TEXT NOT NULL,            -- manual | auto
    kind TEXT NOT NULL,                    -- full | incremental
    dry_run BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL,                  -- pending | running | failed | partial_success | success
    total BIGINT NOT NULL DEFAULT 0,
    done BIGINT NOT NULL DEFAULT 0,
    counts TEXT NOT NULL DEFAULT '{}',     -- {"user":{"created":…,"updated":…,…},"group":{…},"group_member":{…}}
    error TEXT NULL,
    created_at BIGINT NOT NULL,
    started_at BIGINT NULL,
    finished_at BIGINT NULL,
    -- Refreshed by the node running a pending/running full sync; the outbox workers of every node
    -- hold the application's deliveries back while it is fresh, and a stale one marks the job failed.
    heartbeat_at BIGINT NULL
);
CREATE INDEX sync_jobs_app ON sync_jobs (app_id, created_at);
CREATE INDEX sync_jobs_active ON sync_jobs (status, kind);
CREATE INDEX sync_jobs_retention ON sync_jobs (kind, created_at);

-- Per-object results of a job (and the plan of a dry run).
CREATE TABLE sync_job_items (
    job_id TEXT NOT NULL REFERENCES sync_jobs (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    name TEXT NOT NULL,
    action TEXT NOT NULL,                  -- created | updated | deleted | same | bound | failed | skipped (planned: create …)
    error TEXT NULL,
    PRIMARY KEY (job_id, seq)
);
