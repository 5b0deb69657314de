//! Server configuration (filled by the `gatehouse` binary from TOML, environment and secret files).

use std::net::SocketAddr;

pub use web::master_key::MasterKeyMaterial;
pub use web::password::Argon2Params;

/// Everything the Cloud SSO server needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Public base URL (scheme, host, optional port and path prefix; no trailing slash).
    /// Empty: `http://{local_addr}`.
    pub public_base_url: String,
    /// `sqlite://path?mode=rwc` or `postgres://…` (its own database, not the IDaaS one).
    pub database_url: String,
    /// Master key for secrets at rest (SP signing keys, TOTP seeds).
    pub master_key: MasterKeyMaterial,
    /// Argon2id cost parameters for password hashing.
    pub argon2: Argon2Params,
    /// Mark cookies `Secure` (off only for the localhost demo over plain HTTP).
    pub secure_cookies: bool,
    /// Emit JSON logs (read by the binary when it installs the subscriber).
    pub log_json: bool,
    /// Maximum request body size in bytes (metadata uploads included).
    pub max_body_bytes: usize,
    /// Allowed clock skew for SAML time checks, in seconds.
    pub saml_clock_skew_secs: i64,
    /// How long an AuthnRequest we sent stays answerable, in seconds.
    pub authn_request_ttl_secs: i64,
    /// How often background maintenance (expired sessions, replay cache) runs, in seconds.
    pub maintenance_interval_secs: u64,
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
            log_json: false,
            max_body_bytes: 1024 * 1024,
            saml_clock_skew_secs: 120,
            authn_request_ttl_secs: 600,
            maintenance_interval_secs: 3600,
        }
    }

    /// A configuration for tests: 127.0.0.1:0, cheap Argon2 parameters, insecure cookies.
    /// `public_base_url` is filled in by [`crate::Server::start`] when empty.
    pub fn for_tests(database_url: impl Into<String>) -> Self {
        let mut c = Self::new(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            "",
            database_url,
            MasterKeyMaterial::new([0x24; 32]),
        );
        c.argon2 = Argon2Params::for_tests();
        c.secure_cookies = false;
        c
    }
}
