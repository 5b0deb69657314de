-- AuthnRequest IDs seen per application, kept until the request would be refused as too old anyway:
-- a replayed request is refused (saml-defense.md). Cleaned by maintenance.
CREATE TABLE authn_request_ids (
    app_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    request_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (app_id, request_id)
);
CREATE INDEX authn_request_ids_expires ON authn_request_ids (expires_at);
