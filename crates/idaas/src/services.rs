//! The domain services: one shared object holding configuration, the store and the helpers every
//! operation needs. Operations are `impl Services` blocks in their domain modules
//! (`user.rs`, `group.rs`, …); this file builds the object and runs background maintenance.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::StartError;
use crate::clock::Clock;
use crate::config::Config;
use crate::error::Result;
use crate::master_key::MasterKey;
use crate::metrics::Metrics;
use crate::password::PasswordHasher;
use crate::store::{self, Store};

/// Everything a handler or the seeding code needs (shared as `Arc<Services>`).
#[derive(Debug)]
pub struct Services {
    /// The configuration the server started with.
    pub config: Config,
    /// The effective public base URL (default base URL of every instance; no trailing slash).
    pub base_url: String,
    /// Database access.
    pub store: Store,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// Process counters.
    pub metrics: Metrics,
    /// Encrypts secrets at rest.
    pub master_key: MasterKey,
    /// Argon2id hashing on the blocking pool.
    pub passwords: PasswordHasher,
    /// Wakes the provisioning worker (notified after a commit that wrote outbox rows).
    pub provisioning_wake: Arc<tokio::sync::Notify>,
    /// One SCIM client per provisioned application (reuses OAuth 2.0 access tokens).
    pub provisioning_clients: crate::provisioning::deliver::ClientCache,
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
            metrics: Metrics::default(),
            master_key,
            passwords,
            provisioning_wake: Arc::new(tokio::sync::Notify::new()),
            provisioning_clients: crate::provisioning::deliver::ClientCache::default(),
        })
    }

    /// Now, in unix seconds.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// One maintenance pass: audit retention per instance, expired sessions, expired parked SSO
    /// requests, remembered AuthnRequest IDs past their replay window and rate-limit counters of
    /// past windows.
    pub async fn run_maintenance_once(&self) -> Result<MaintenanceReport> {
        let now = self.now();
        let mut report = MaintenanceReport::default();
        let instances = {
            let mut conn = self.store.read().await?;
            store::instance::list(&mut conn).await?
        };
        for inst in instances {
            let before = now - inst.settings.audit_retention_days * 86_400;
            let mut tx = self.store.begin_write().await?;
            report.audit_events_deleted +=
                store::audit::delete_older_than(&mut tx, Some(&inst.id), before).await?;
            tx.commit().await?;
        }
        let default_before =
            now - crate::instance::InstanceSettings::default().audit_retention_days * 86_400;
        let mut tx = self.store.begin_write().await?;
        report.audit_events_deleted +=
            store::audit::delete_older_than(&mut tx, None, default_before).await?;
        report.audit_events_deleted +=
            store::audit::delete_orphans_older_than(&mut tx, default_before).await?;
        report.sessions_deleted = store::session::delete_expired(&mut tx, now).await?;
        report.pending_sso_deleted = store::pending_sso::delete_expired(&mut tx, now).await?;
        report.authn_request_ids_deleted =
            store::authn_request_id::delete_expired(&mut tx, now).await?;
        // A counter whose window ended is never read again (the next hit restarts it at 1).
        report.rate_limits_deleted =
            store::rate_limit::delete_stale(&mut tx, now - crate::sign_in::RATE_WINDOW_SECS)
                .await?;
        tx.commit().await?;
        // Provisioning: full syncs whose node stopped, and sync records past retention.
        report.sync_jobs_interrupted = crate::provisioning::full_sync::fail_stale(self).await?;
        report.sync_records_deleted = self.delete_old_sync_records(now).await?;
        Ok(report)
    }
}

/// What a maintenance pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MaintenanceReport {
    /// Audit events past retention.
    pub audit_events_deleted: u64,
    /// Expired sessions.
    pub sessions_deleted: u64,
    /// Expired parked SSO requests (sign-in never finished).
    pub pending_sso_deleted: u64,
    /// Rate-limit counters of past windows.
    pub rate_limits_deleted: u64,
    /// Remembered AuthnRequest IDs past their replay window.
    pub authn_request_ids_deleted: u64,
    /// Full syncs marked failed because their heartbeat stopped.
    pub sync_jobs_interrupted: u64,
    /// Provisioning sync records past retention.
    pub sync_records_deleted: u64,
}

/// Runs [`Services::run_maintenance_once`] periodically until shutdown.
pub(crate) async fn run_maintenance(services: Arc<Services>, mut shutdown: watch::Receiver<bool>) {
    let period = Duration::from_secs(services.config.maintenance_interval_secs.max(1));
    loop {
        match services.run_maintenance_once().await {
            Ok(r) => tracing::debug!(
                audit_events_deleted = r.audit_events_deleted,
                sessions_deleted = r.sessions_deleted,
                pending_sso_deleted = r.pending_sso_deleted,
                rate_limits_deleted = r.rate_limits_deleted,
                sync_jobs_interrupted = r.sync_jobs_interrupted,
                sync_records_deleted = r.sync_records_deleted,
                "maintenance pass"
            ),
            Err(e) => tracing::warn!(error = %e, "maintenance pass failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}
