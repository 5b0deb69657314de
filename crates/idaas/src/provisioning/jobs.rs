//! Services behind the sync-record and outbox API: start a full sync (or dry run), read sync
//! records and their items, list the outbox (pending and dead-lettered entries) and retry.

use std::sync::Arc;

use serde_json::json;

use super::full_sync;
use crate::audit::{Actor, NewAuditEvent};
use crate::error::{Error, Result};
use crate::services::Services;
use crate::store::outbox::{self, OutboxEntry, OutboxKey};
use crate::store::sync_job::{self, SyncJob, SyncJobItem};
use crate::store::{self};

/// Largest page of any list here.
pub const MAX_PAGE: i64 = 500;
/// Full-sync records (and dry runs) are kept this many days.
pub const FULL_SYNC_RECORD_RETENTION_DAYS: i64 = 365;

/// A page of sync-job items.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ItemPage {
    /// Items in order.
    pub items: Vec<SyncJobItem>,
    /// Items matching the filters.
    pub total: i64,
}

/// A page of outbox entries.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct OutboxPage {
    /// Entries, oldest first.
    pub items: Vec<OutboxEntry>,
    /// Entries matching the filter.
    pub total: i64,
    /// Pending entries of the application.
    pub pending: i64,
    /// Dead-lettered entries of the application.
    pub dead: i64,
}

fn page(offset: Option<i64>, limit: Option<i64>) -> (i64, i64) {
    (
        offset.unwrap_or(0).max(0),
        limit.unwrap_or(50).clamp(1, MAX_PAGE),
    )
}

async fn audit(
    services: &Services,
    instance_id: &str,
    actor: &Actor,
    verb: &str,
    app_id: &str,
    detail: serde_json::Value,
) -> Result<()> {
    let mut tx = services.store.begin_write().await?;
    store::audit::append(
        &mut tx,
        &NewAuditEvent::new(Some(instance_id), actor, "provisioning", verb)
            .target("application", app_id)
            .detail(detail),
        services.now(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

impl Services {
    /// Deletes sync records past retention (maintenance): incremental records after
    /// `sync_record_retention_days` (0 keeps them), full syncs after
    /// [`FULL_SYNC_RECORD_RETENTION_DAYS`]. Returns how many records were deleted.
    pub async fn delete_old_sync_records(&self, now: i64) -> Result<u64> {
        let days = self.config.sync_record_retention_days;
        let incremental_before = (days > 0).then(|| now - days.saturating_mul(86_400));
        let full_before = Some(now - FULL_SYNC_RECORD_RETENTION_DAYS * 86_400);
        let mut tx = self.store.begin_write().await?;
        let n = sync_job::delete_older_than(&mut tx, incremental_before, full_before).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Starts "Push Now" (or a dry run) for an application of `instance_id`; the job runs in the
    /// background. 409 ([`Error::AlreadyExists`]) while another full sync of the app is active.
    pub async fn start_sync_job(
        self: &Arc<Self>,
        instance_id: &str,
        actor: &Actor,
        app_id: &str,
        dry_run: bool,
    ) -> Result<SyncJob> {
        self.get_application(instance_id, app_id).await?;
        let job = full_sync::start(self, instance_id, app_id, dry_run).await?;
        audit(
            self,
            instance_id,
            actor,
            "sync",
            app_id,
            json!({ "job_id": job.id, "dry_run": dry_run }),
        )
        .await?;
        Ok(job)
    }

    /// Sync records of an application, newest first.
    pub async fn list_sync_jobs(
        &self,
        instance_id: &str,
        app_id: &str,
        offset: Option<i64>,
        limit: Option<i64>,
    ) -> Result<Vec<SyncJob>> {
        self.get_application(instance_id, app_id).await?;
        let (offset, limit) = page(offset, limit);
        let mut conn = self.store.read().await?;
        sync_job::list(&mut conn, app_id, offset, limit).await
    }

    /// One sync record.
    pub async fn get_sync_job(
        &self,
        instance_id: &str,
        app_id: &str,
        job_id: &str,
    ) -> Result<SyncJob> {
        self.get_application(instance_id, app_id).await?;
        let mut conn = self.store.read().await?;
        sync_job::get(&mut conn, app_id, job_id)
            .await?
            .ok_or(Error::NotFound("sync job"))
    }

    /// Per-object results of a sync record (or the plan of a dry run), optionally one action only
    /// or failures only.
    #[allow(clippy::too_many_arguments)]
    pub async fn sync_job_items(
        &self,
        instance_id: &str,
        app_id: &str,
        job_id: &str,
        action: Option<&str>,
        failed_only: bool,
        offset: Option<i64>,
        limit: Option<i64>,
    ) -> Result<ItemPage> {
        self.get_sync_job(instance_id, app_id, job_id).await?;
        let (offset, limit) = page(offset, limit);
        let mut conn = self.store.read().await?;
        Ok(ItemPage {
            items: sync_job::list_items(&mut conn, job_id, action, failed_only, offset, limit)
                .await?,
            total: sync_job::count_items(&mut conn, job_id, action, failed_only).await?,
        })
    }

    /// The outbox of an application (`state` = `pending` or `dead`, or both).
    pub async fn list_outbox(
        &self,
        instance_id: &str,
        app_id: &str,
        state: Option<&str>,
        offset: Option<i64>,
        limit: Option<i64>,
    ) -> Result<OutboxPage> {
        self.get_application(instance_id, app_id).await?;
        if let Some(s) = state
            && s != "pending"
            && s != "dead"
        {
            return Err(Error::invalid("state", "must be pending or dead"));
        }
        let (offset, limit) = page(offset, limit);
        let mut conn = self.store.read().await?;
        Ok(OutboxPage {
            items: outbox::list(&mut conn, app_id, state, offset, limit).await?,
            total: outbox::count(&mut conn, app_id, state).await?,
            pending: outbox::count(&mut conn, app_id, Some("pending")).await?,
            dead: outbox::count(&mut conn, app_id, Some("dead")).await?,
        })
    }

    /// Makes one outbox entry due again with a fresh set of attempts.
    pub async fn retry_outbox_entry(
        &self,
        instance_id: &str,
        actor: &Actor,
        app_id: &str,
        object_type: &str,
        object_id: &str,
    ) -> Result<OutboxEntry> {
        self.get_application(instance_id, app_id).await?;
        if object_type != "user" && object_type != "group" {
            return Err(Error::NotFound("outbox entry"));
        }
        let key = OutboxKey {
            app_id,
            object_type,
            object_id,
        };
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        if !outbox::retry(&mut tx, key, now).await? {
            return Err(Error::NotFound("outbox entry"));
        }
        let entry = outbox::get(&mut tx, key)
            .await?
            .ok_or(Error::NotFound("outbox entry"))?;
        store::audit::append(
            &mut tx,
            &NewAuditEvent::new(Some(instance_id), actor, "provisioning", "retry")
                .target("application", app_id)
                .detail(json!({ "object_type": object_type, "object_id": object_id })),
            now,
        )
        .await?;
        tx.commit().await?;
        self.wake_provisioning();
        Ok(entry)
    }

    /// Makes every dead-lettered entry of an application due again; returns how many.
    pub async fn retry_all_dead(
        &self,
        instance_id: &str,
        actor: &Actor,
        app_id: &str,
    ) -> Result<u64> {
        self.get_application(instance_id, app_id).await?;
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        let n = outbox::retry_all_dead(&mut tx, app_id, now).await?;
        store::audit::append(
            &mut tx,
            &NewAuditEvent::new(Some(instance_id), actor, "provisioning", "retry")
                .target("application", app_id)
                .detail(json!({ "all_dead": true, "count": n })),
            now,
        )
        .await?;
        tx.commit().await?;
        self.wake_provisioning();
        Ok(n)
    }
}
