//! Server configuration (filled by the `gatehouse` binary from TOML, environment and secret files).

use std::net::SocketAddr;

pub use crate::password::Argon2Params;
pub use web::master_key::{MasterKeyMaterial, MasterKeyParseError};

/// Everything the IDaaS server needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Public base URL of the server (scheme, host, optional port and path prefix; no trailing slash),
    /// the default base URL of every instance.
    pub public_base_url: String,
    /// `sqlite://path?mode=rwc` or `postgres://…`.
    pub database_url: String,
    /// Master key for secrets at rest.
    pub master_key: MasterKeyMaterial,
    /// Argon2id cost parameters for password hashing.
    pub argon2: Argon2Params,
    /// Mark cookies `Secure` (off only for the localhost demo over plain HTTP).
    pub secure_cookies: bool,
    /// "Allow private network targets": outgoing requests (SP metadata fetches, SCIM provisioning
    /// and its OAuth 2.0 token requests) may reach loopback, private, link-local and other
    /// non-public addresses, and use plain http. Tests and local demos only; off by default, when
    /// every such request connects to public addresses only ([`crate::net`]). The field keeps its
    /// historical name for compatibility.
    pub metadata_fetch_allow_private: bool,
    /// Emit JSON logs (read by the binary when it installs the subscriber).
    pub log_json: bool,
    /// Maximum request body size in bytes for ordinary endpoints.
    pub max_body_bytes: usize,
    /// Maximum request body size in bytes for bulk imports (CSV).
    pub max_import_bytes: usize,
    /// How often background maintenance (audit retention, expired sessions) runs, in seconds.
    pub maintenance_interval_secs: u64,
    /// Reverse proxies whose `X-Forwarded-For` is believed (CIDRs). Empty (the default): the client
    /// address is always the TCP peer, and a forged header changes nothing.
    pub trusted_proxies: Vec<crate::net::IpNet>,
    /// How long a `next` signing key must have been published in metadata before it may be
    /// promoted (SPs need time to fetch it), in seconds; an administrator may force it (audited).
    pub key_publish_min_secs: i64,
    /// Provisioning retries: base of the exponential backoff, in milliseconds (full jitter).
    pub provisioning_backoff_base_ms: u64,
    /// Provisioning retries: longest backoff, in milliseconds.
    pub provisioning_backoff_cap_ms: u64,
    /// Provisioning: time-out of one SCIM request, in milliseconds.
    pub provisioning_http_timeout_ms: u64,
    /// Provisioning: how often the outbox is polled when nothing wakes the worker, in milliseconds.
    pub provisioning_poll_ms: u64,
    /// Provisioning: objects delivered (or synced) concurrently per worker.
    pub provisioning_concurrency: usize,
    /// Provisioning: lease on claimed outbox rows, in seconds (at least 3). The worker renews it
    /// every third of this while it delivers; a crashed node's rows are claimable again after it.
    pub provisioning_lease_secs: u64,
    /// Provisioning: sync records of incremental deliveries older than this many days are deleted
    /// by the maintenance pass (0 keeps them); full-sync records are kept a year.
    pub sync_record_retention_days: i64,
}

impl Config {
    /// A configuration with production defaults for the given database, base URL and key.
    pub fn new(
        listen: SocketAddr,
        public_base_url: impl Into<String>,
        database_url: impl Into<String>,
        master_key: MasterKeyMaterial,
    ) -> Self {
        Self {
            listen,
            public_base_url: public_base_url.into().trim_end_matches('/').to_owned(),
            database_url: database_url.into(),
            master_key,
            argon2: Argon2Params::default(),
            secure_cookies: true,
            metadata_fetch_allow_private: false,
            log_json: false,
            max_body_bytes: 1024 * 1024,
            max_import_bytes: 8 * 1024 * 1024,
            maintenance_interval_secs: 3600,
            trusted_proxies: Vec::new(),
            key_publish_min_secs: 24 * 3600,
            provisioning_backoff_base_ms: 2_000,
            provisioning_backoff_cap_ms: 300_000,
            provisioning_http_timeout_ms: 30_000,
            provisioning_poll_ms: 1_000,
            provisioning_concurrency: 8,
            provisioning_lease_secs: 15,
            sync_record_retention_days: 30,
        }
    }

    /// A configuration for tests: 127.0.0.1:0, cheap Argon2 parameters, insecure cookies, private
    /// network targets allowed (metadata fetches and provisioning to loopback test servers). `public_base_url` is filled in by [`crate::Server::start`] when empty.
    pub fn for_tests(database_url: impl Into<String>) -> Self {
        let mut c = Self::new(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            "",
            database_url,
            MasterKeyMaterial::new([0x42; 32]),
        );
        c.argon2 = Argon2Params::for_tests();
        c.secure_cookies = false;
        c.metadata_fetch_allow_private = true;
        c
    }
}
