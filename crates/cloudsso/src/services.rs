//! The domain services: one shared object holding configuration, the store and the helpers every
//! operation needs. Operations are `impl Services` blocks in their domain modules; this file builds
//! the object, derives the public URLs and runs background maintenance.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::StartError;
use crate::clock::Clock;
use crate::config::Config;
use crate::directory::{Directory, SpInfo};
use crate::error::Result;
use crate::master_key::MasterKey;
use crate::password_logon::PasswordHasher;
use crate::store::{self, Store};

/// Everything a handler or the seeding code needs (shared as `Arc<Services>`).
#[derive(Debug)]
pub struct Services {
    /// The configuration the server started with.
    pub config: Config,
    /// The effective public base URL (no trailing slash).
    pub base_url: String,
    /// Database access.
    pub store: Store,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// Encrypts secrets at rest.
    pub master_key: MasterKey,
    /// Argon2id hashing on the blocking pool.
    pub passwords: PasswordHasher,
}

impl Services {
    /// Builds the services over a migrated store.
    pub fn new(
        config: Config,
        base_url: String,
        store: Store,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartError> {
        let master_key = MasterKey::new(config.master_key.expose())
            .map_err(|e| StartError::Setup(format!("master key: {e}")))?;
        let passwords = PasswordHasher::new(config.argon2)
            .map_err(|e| StartError::Setup(format!("password hasher: {e}")))?;
        Ok(Self {
            config,
            base_url,
            store,
            clock,
            master_key,
            passwords,
        })
    }

    /// Now, in unix seconds.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The SP entity ID of a directory: `{base}/saml/sp/{directory_id}`.
    pub fn sp_entity_id(&self, directory: &Directory) -> String {
        format!("{}/saml/sp/{}", self.base_url, directory.id)
    }

    /// The ACS URL of a directory: `{base}/saml/acs/{acs_uuid}`.
    pub fn acs_url(&self, directory: &Directory) -> String {
        format!("{}/saml/acs/{}", self.base_url, directory.acs_uuid)
    }

    /// The user logon / portal URL of a directory: `{base}/{DirectoryName}`.
    pub fn portal_url(&self, directory: &Directory) -> String {
        format!("{}/{}", self.base_url, directory.name)
    }

    /// Everything the IdP needs to know about the SP of a directory.
    pub fn sp_info(&self, directory: &Directory) -> SpInfo {
        SpInfo {
            entity_id: self.sp_entity_id(directory),
            acs_url: self.acs_url(directory),
            metadata_url: format!("{}/saml/sp/{}/metadata", self.base_url, directory.id),
            portal_url: self.portal_url(directory),
            certificate: directory.sp_certificate.clone(),
        }
    }

    /// One maintenance pass: expired sessions, pending requests, replay-cache entries, rate counters.
    pub async fn run_maintenance_once(&self) -> Result<u64> {
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        let mut n = store::session::delete_expired(&mut tx, now).await?;
        n += store::saml_state::delete_expired(&mut tx, now).await?;
        n += store::rate_limit::delete_stale(&mut tx, now - 3600).await?;
        n += store::cloud::delete_expired(&mut tx, now).await?;
        tx.commit().await?;
        Ok(n)
    }
}

/// Runs [`Services::run_maintenance_once`] periodically until shutdown.
pub(crate) async fn run_maintenance(services: Arc<Services>, mut shutdown: watch::Receiver<bool>) {
    let period = Duration::from_secs(services.config.maintenance_interval_secs.max(1));
    loop {
        match services.run_maintenance_once().await {
            Ok(n) => tracing::debug!(rows_deleted = n, "cloudsso maintenance pass"),
            Err(e) => tracing::warn!(error = %e, "cloudsso maintenance pass failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}
