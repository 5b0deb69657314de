//! The outbox worker: one loop per IDaaS process that claims due `provisioning_outbox` rows with a
//! short lease in its own name (so two nodes never deliver the same object at once), pushes each
//! object's current state
//! (users first, then groups; different objects concurrently, bounded), and records the outcome:
//! success deletes the row if `change_seq` is unchanged; failure schedules a retry with exponential
//! backoff and full jitter (or the target's `Retry-After`), or dead-letters the row. Each batch
//! leaves one `auto`/`incremental` sync record per application.
//!
//! Leases: `provisioning_lease_secs` (15 by default). While a batch is being delivered, a task
//! renews the lease of every row the batch still holds every third of the lease (one UPDATE per
//! batch), so a slow request (up to the HTTP time-out, or several of them for one object) never
//! lets the lease lapse on a live node; at the end the batch drops what it still holds. After a
//! crash (kill -9) nothing renews, and the rows are claimable again within one lease. The owner
//! id is random per process and per batch: a row is completed, failed or released only while its
//! lease is still the batch's own (a worker that stalled past its lease and was taken over writes
//! nothing), see [`outbox`].
//!
//! Disabling and deleting. Switching an application's provisioning off stops new claims at once
//! (only enabled configurations are served); deliveries already in flight finish and are
//! recorded; pending entries wait in the outbox, and changes keep being recorded. Nothing is
//! removed or disabled on the target: re-enabling delivers what waited, and a "Push Now" full
//! sync reconciles everything. Deleting the application drops its configuration, outbox, pushed
//! state and sync records with it (ON DELETE CASCADE) and likewise removes nothing remotely (to
//! deprovision the target first, take the users and groups out of the scope and let the
//! deliveries or a full sync run before deleting); a delivery in flight at that moment is
//! dropped quietly when it ends (no foreign-key failures, no warnings per row).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::deliver::{self, Cx, DeliverError, DeliveryReport, Target};
use super::full_sync;
use super::plan;
use crate::error::Result;
use crate::id;
use crate::services::Services;
use crate::store::outbox::{self, Completion, Failure, OutboxEntry};
use crate::store::sync_job::{self, Counts, SyncJob, SyncJobItem};

/// Most rows claimed per pass.
const BATCH: i64 = 64;
/// Shortest lease on a claimed row, in seconds (renewed every third of it).
const MIN_LEASE_SECS: u64 = 3;

/// This process's random node id (the prefix of every lease owner it writes).
static NODE_ID: LazyLock<String> = LazyLock::new(|| {
    let bytes: [u8; 8] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
});
static BATCH_SEQ: AtomicU64 = AtomicU64::new(0);

/// A fresh lease owner id for one batch: `<random node id>-<batch number>`.
pub fn new_lease_owner() -> String {
    let n = BATCH_SEQ.fetch_add(1, Ordering::Relaxed);
    format!("{}-{n}", *NODE_ID)
}

/// The lease on claimed rows, in seconds.
pub fn lease_secs(services: &Services) -> i64 {
    i64::try_from(services.config.provisioning_lease_secs.max(MIN_LEASE_SECS)).unwrap_or(15)
}

/// Aborts the renewal task when the batch ends, however it ends.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Renews every lease `owner` holds, every third of the lease, until aborted.
fn spawn_renewal(services: &Arc<Services>, owner: &str, claimed: usize) -> AbortOnDrop {
    let services = Arc::clone(services);
    let owner = owner.to_owned();
    let lease = lease_secs(&services);
    let every = Duration::from_millis(u64::try_from(lease).unwrap_or(15) * 1000 / 3);
    AbortOnDrop(tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let now = services.now();
            let held = match services.store.read().await {
                Ok(mut conn) => outbox::renew(&mut conn, &owner, now + lease).await,
                Err(e) => Err(e),
            };
            match held {
                Ok(held) => tracing::debug!(
                    owner = %owner,
                    held = held.len(),
                    claimed,
                    "provisioning leases renewed"
                ),
                // The next renewal retries well within the lease.
                Err(e) => tracing::warn!(error = %e, "cannot renew provisioning leases"),
            }
        }
    }))
}

/// How often the worker looks for full syncs whose heartbeat stopped.
const STALE_CHECK_EVERY: Duration = Duration::from_secs(60);
/// Longest honoured `Retry-After`, in seconds.
const MAX_RETRY_AFTER_SECS: u64 = 3600;

impl Services {
    /// Wakes the provisioning worker now (call after committing a transaction that enqueued).
    pub fn wake_provisioning(&self) {
        self.provisioning_wake.notify_one();
    }
}

/// The delay before attempt `attempts + 1`: uniformly random in `[0, min(cap, base·2^(attempts-1))]`
/// milliseconds ("full jitter"), rounded up to whole seconds (timestamps are unix seconds).
pub fn backoff_secs(base_ms: u64, cap_ms: u64, attempts: i64) -> i64 {
    let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 40)).unwrap_or(40);
    let ceiling = base_ms.saturating_mul(1u64 << exp.min(40)).min(cap_ms);
    let ms = if ceiling == 0 {
        0
    } else {
        rand::random_range(0..=ceiling)
    };
    i64::try_from(ms.div_ceil(1000)).unwrap_or(i64::MAX)
}

/// Runs the worker until shutdown.
pub(crate) async fn run(services: Arc<Services>, mut shutdown: watch::Receiver<bool>) {
    // Full syncs whose heartbeat stopped belong to a node that is gone.
    if let Err(e) = full_sync::fail_stale(&services).await {
        tracing::warn!(error = %e, "cannot close stale sync jobs");
    }
    let poll = Duration::from_millis(services.config.provisioning_poll_ms.max(10));
    let mut last_stale_check = std::time::Instant::now();
    loop {
        // A full sync whose node died shows as failed within minutes, not at the next start.
        if last_stale_check.elapsed() >= STALE_CHECK_EVERY {
            last_stale_check = std::time::Instant::now();
            if let Err(e) = full_sync::fail_stale(&services).await {
                tracing::warn!(error = %e, "cannot close stale sync jobs");
            }
        }
        let processed = tokio::select! {
            r = pass(&services) => r,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        let busy = match processed {
            Ok(n) => n >= BATCH as usize,
            Err(e) => {
                tracing::warn!(error = %e, "provisioning pass failed");
                false
            }
        };
        if busy {
            continue;
        }
        tokio::select! {
            _ = services.provisioning_wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

/// The result of one claimed row.
struct Done {
    entry: OutboxEntry,
    result: std::result::Result<DeliveryReport, DeliverError>,
}

/// One pass: claims up to [`BATCH`] due rows and delivers them. Returns how many were claimed.
pub async fn pass(services: &Arc<Services>) -> Result<usize> {
    let now = services.now();
    let due = {
        let mut conn = services.store.read().await?;
        // Applications with a full sync running (on any node) are left out: it pushes their
        // current state anyway, and their entries are delivered afterwards.
        outbox::due(&mut conn, now, now - full_sync::STALE_SECS, BATCH).await?
    };
    if due.is_empty() {
        return Ok(0);
    }
    let lease = lease_secs(services);
    let owner = new_lease_owner();
    let mut profiles: HashMap<String, Option<Cx>> = HashMap::new();
    let mut claimed: Vec<(OutboxEntry, Cx)> = Vec::new();
    for e in due {
        if !profiles.contains_key(&e.app_id) {
            let cx = match plan::load_profile(services, &e.app_id).await? {
                Some(p) if p.enabled => Target::for_profile(services, &p).map(|target| Cx {
                    services: Arc::clone(services),
                    profile: Arc::new(p),
                    target,
                }),
                _ => None,
            };
            profiles.insert(e.app_id.clone(), cx);
        }
        let Some(Some(cx)) = profiles.get(&e.app_id) else {
            continue;
        };
        let got = {
            let mut conn = services.store.read().await?;
            outbox::claim(&mut conn, e.key(), now, now + lease, &owner).await?
        };
        if let Some(entry) = got {
            claimed.push((entry, cx.clone()));
        }
    }
    let n = claimed.len();
    if n == 0 {
        return Ok(0);
    }
    // Renewed while this batch works on its rows; stopped when it returns.
    let _renewal = spawn_renewal(services, &owner, n);
    let started = now;
    // Users first, so that a group delivered in the same batch finds its new members pushed.
    let (users, groups): (Vec<_>, Vec<_>) = claimed
        .into_iter()
        .partition(|(e, _)| e.object_type == "user");
    let mut results = Vec::with_capacity(n);
    for phase in [users, groups] {
        results.extend(deliver_all(services, phase).await);
    }
    // Applications deleted (or whose provisioning configuration went) while their rows were in
    // flight: their outbox rows, pushed state and sync records went with them (ON DELETE
    // CASCADE), so their results are dropped quietly instead of failing on foreign keys.
    let mut gone: HashSet<String> = HashSet::new();
    for (app_id, cx) in &profiles {
        if cx.is_some() && !config_exists(services, app_id).await? {
            tracing::info!(app_id = %app_id, "application or provisioning configuration removed during delivery; results dropped");
            gone.insert(app_id.clone());
        }
    }
    let mut by_app: BTreeMap<String, Vec<SyncJobItem>> = BTreeMap::new();
    let mut counts_by_app: BTreeMap<String, Counts> = BTreeMap::new();
    for d in results {
        if gone.contains(&d.entry.app_id) {
            continue;
        }
        let (item, members) = finish(services, &d, &owner).await?;
        let counts = counts_by_app.entry(d.entry.app_id.clone()).or_default();
        counts
            .entry(d.entry.object_type.clone())
            .or_default()
            .add(&item.action);
        if let Some((added, removed)) = members {
            let m = counts.entry("group_member".to_owned()).or_default();
            m.created += added;
            m.deleted += removed;
        }
        by_app.entry(d.entry.app_id.clone()).or_default().push(item);
    }
    // Rows without an outcome (a delivery task that panicked) are claimable again now.
    {
        let mut conn = services.store.read().await?;
        outbox::release_owned(&mut conn, &owner).await?;
    }
    for (app_id, items) in by_app {
        let counts = counts_by_app.remove(&app_id).unwrap_or_default();
        let instance_id = profiles
            .get(&app_id)
            .and_then(|c| c.as_ref())
            .map(|c| c.profile.instance_id.clone())
            .unwrap_or_default();
        record_batch(services, &app_id, &instance_id, items, counts, started).await?;
    }
    Ok(n)
}

async fn deliver_all(services: &Arc<Services>, rows: Vec<(OutboxEntry, Cx)>) -> Vec<Done> {
    let sem = Arc::new(Semaphore::new(
        services.config.provisioning_concurrency.max(1),
    ));
    let mut set = JoinSet::new();
    for (entry, cx) in rows {
        let sem = Arc::clone(&sem);
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            let result = if entry.object_type == "group" {
                deliver::deliver_group(&cx, &entry.object_id).await
            } else {
                deliver::deliver_user(&cx, &entry.object_id).await
            };
            Done { entry, result }
        });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        match r {
            Ok(d) => out.push(d),
            Err(e) => tracing::error!(error = %e, "provisioning delivery task failed"),
        }
    }
    out
}

/// Records the outcome of one row; returns its sync item and the membership changes.
async fn finish(
    services: &Services,
    d: &Done,
    owner: &str,
) -> Result<(SyncJobItem, Option<(i64, i64)>)> {
    let e = &d.entry;
    let now = services.now();
    match &d.result {
        Ok(report) => {
            let mut tx = services.store.begin_write().await?;
            let completion = outbox::complete(&mut tx, e.key(), e.change_seq, owner).await?;
            tx.commit().await?;
            if completion == Completion::NotOwner {
                // The lease lapsed and another worker holds the row: it delivers again.
                tracing::warn!(app_id = %e.app_id, object = %e.object_id, "provisioning lease lost; the row is left to its new holder");
            }
            let r = report.delivered;
            let members = (r.members_added > 0 || r.members_removed > 0)
                .then_some((r.members_added, r.members_removed));
            Ok((
                item(e, &report.name, r.outcome.as_str(), report.note.clone()),
                members,
            ))
        }
        Err(err) => {
            let attempts = e.attempts + 1;
            let max = plan::load_profile(services, &e.app_id)
                .await?
                .map(|p| p.max_attempts)
                .unwrap_or(1);
            let dead = !err.retryable() || attempts >= max;
            let delay = match &err {
                DeliverError::Target(t) => t
                    .retry_after()
                    .map(|s| i64::try_from(s.min(MAX_RETRY_AFTER_SECS)).unwrap_or(0)),
                DeliverError::Local(_) => None,
            }
            .unwrap_or_else(|| {
                backoff_secs(
                    services.config.provisioning_backoff_base_ms,
                    services.config.provisioning_backoff_cap_ms,
                    attempts,
                )
            });
            let next = now + delay;
            let message = err.to_string();
            let mut tx = services.store.begin_write().await?;
            let recorded = outbox::fail(
                &mut tx,
                e.key(),
                e.change_seq,
                attempts,
                next,
                &message,
                dead,
                now,
                owner,
            )
            .await?;
            tx.commit().await?;
            let note = if recorded == Failure::NotOwner {
                format!("{message} (lease lost; the row is left to its new holder)")
            } else if recorded == Failure::Changed {
                format!("{message} (the object changed meanwhile; its new state is delivered now)")
            } else if dead {
                format!("{message} (attempt {attempts} of {max}; dead-lettered)")
            } else {
                format!("{message} (attempt {attempts} of {max}; next attempt in {delay}s)")
            };
            tracing::info!(app_id = %e.app_id, object = %e.object_id, dead, "provisioning delivery failed: {message}");
            Ok((item(e, &e.object_id, "failed", Some(note)), None))
        }
    }
}

fn item(e: &OutboxEntry, name: &str, action: &str, error: Option<String>) -> SyncJobItem {
    SyncJobItem {
        seq: 0,
        object_type: e.object_type.clone(),
        object_id: e.object_id.clone(),
        name: name.to_owned(),
        action: action.to_owned(),
        error,
    }
}

/// Writes the sync record of one batch for one application.
async fn record_batch(
    services: &Services,
    app_id: &str,
    instance_id: &str,
    mut items: Vec<SyncJobItem>,
    counts: Counts,
    started: i64,
) -> Result<()> {
    let now = services.now();
    let failed = items.iter().filter(|i| i.action == "failed").count();
    let status = if failed == 0 {
        "success"
    } else if failed == items.len() {
        "failed"
    } else {
        "partial_success"
    };
    for (i, it) in items.iter_mut().enumerate() {
        it.seq = i as i64 + 1;
    }
    let n = items.len() as i64;
    let job = SyncJob {
        id: id::new_time_ordered_id("sjob", now),
        app_id: app_id.to_owned(),
        instance_id: instance_id.to_owned(),
        trigger_type: "auto".into(),
        kind: "incremental".into(),
        dry_run: false,
        status: status.into(),
        total: n,
        done: n,
        counts,
        error: None,
        created_at: started,
        started_at: Some(started),
        finished_at: Some(now),
        heartbeat_at: None,
    };
    let written = async {
        let mut tx = services.store.begin_write().await?;
        sync_job::insert(&mut tx, &job).await?;
        sync_job::insert_items(&mut tx, &job.id, &items).await?;
        tx.commit().await?;
        Ok::<(), crate::error::Error>(())
    }
    .await;
    match written {
        // Deleted between the check in `pass` and now: nothing to record it against.
        Err(_) if !config_exists(services, app_id).await? => {
            tracing::info!(app_id = %app_id, "application removed during delivery; sync record dropped");
            Ok(())
        }
        other => other,
    }
}

/// Whether the application still has a provisioning configuration (it goes with the application).
async fn config_exists(services: &Services, app_id: &str) -> Result<bool> {
    let mut conn = services.store.read().await?;
    let row = sqlx::query("SELECT 1 AS one FROM provisioning_configs WHERE app_id = $1")
        .bind(app_id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.is_some())
}
