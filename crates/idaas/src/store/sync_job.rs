//! `sync_jobs` and `sync_job_items`: the sync records of provisioning (full syncs, dry runs and the
//! aggregated incremental deliveries).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Conn, flag, from_json, to_json};
use crate::error::Result;

const COLUMNS: &str = "id, app_id, instance_id, trigger_type, kind, dry_run, status, total, done, counts, \
                       error, created_at, started_at, finished_at, heartbeat_at";

/// Per-kind result counters of a job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KindCounts {
    /// Objects created on the target.
    #[serde(default)]
    pub created: i64,
    /// Objects updated.
    #[serde(default)]
    pub updated: i64,
    /// Objects deleted (or disabled).
    #[serde(default)]
    pub deleted: i64,
    /// Objects already up to date.
    #[serde(default)]
    pub same: i64,
    /// Existing remote objects adopted (matched by userName/displayName or externalId).
    #[serde(default)]
    pub bound: i64,
    /// Objects that failed.
    #[serde(default)]
    pub failed: i64,
    /// Objects skipped (action not enabled, nothing to push).
    #[serde(default)]
    pub skipped: i64,
}

impl KindCounts {
    /// Adds one result named like a `sync_job_items.action` (`created`, …; planned actions map to
    /// the result they would have).
    pub fn add(&mut self, action: &str) {
        match action {
            "created" | "create" | "add" | "added" => self.created += 1,
            "updated" | "update" => self.updated += 1,
            "deleted" | "delete" | "disabled" | "disable" | "remove" | "removed" => {
                self.deleted += 1
            }
            "same" => self.same += 1,
            "bound" | "bind" => self.bound += 1,
            "failed" => self.failed += 1,
            _ => self.skipped += 1,
        }
    }

    /// Sum of every counter.
    pub fn total(&self) -> i64 {
        self.created
            + self.updated
            + self.deleted
            + self.same
            + self.bound
            + self.failed
            + self.skipped
    }
}

/// Counters per object kind: `user`, `group`, `group_member`.
pub type Counts = BTreeMap<String, KindCounts>;

/// A sync record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SyncJob {
    /// `sjob_…` (time-ordered).
    pub id: String,
    /// Application.
    pub app_id: String,
    /// Instance.
    pub instance_id: String,
    /// `manual` (Push Now) or `auto` (incremental delivery).
    pub trigger_type: String,
    /// `full` or `incremental`.
    pub kind: String,
    /// A dry run computes the plan without applying it.
    pub dry_run: bool,
    /// `pending`, `running`, `failed`, `partial_success` or `success`.
    pub status: String,
    /// Number of planned operations.
    pub total: i64,
    /// Operations done so far.
    pub done: i64,
    /// Result counters per kind (`user`, `group`, `group_member`).
    #[schema(value_type = Object)]
    pub counts: Counts,
    /// Why the job failed as a whole.
    pub error: Option<String>,
    /// When the job was requested.
    pub created_at: i64,
    /// When it started running.
    pub started_at: Option<i64>,
    /// When it ended.
    pub finished_at: Option<i64>,
    /// Last sign of life of a pending or running full sync from the node running it.
    pub heartbeat_at: Option<i64>,
}

fn from_row(row: &AnyRow) -> Result<SyncJob> {
    let counts: String = row.try_get("counts")?;
    Ok(SyncJob {
        id: row.try_get("id")?,
        app_id: row.try_get("app_id")?,
        instance_id: row.try_get("instance_id")?,
        trigger_type: row.try_get("trigger_type")?,
        kind: row.try_get("kind")?,
        dry_run: row.try_get::<i64, _>("dry_run")? != 0,
        status: row.try_get("status")?,
        total: row.try_get("total")?,
        done: row.try_get("done")?,
        counts: from_json("sync_jobs.counts", &counts)?,
        error: row.try_get("error")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        heartbeat_at: row.try_get("heartbeat_at")?,
    })
}

/// Inserts a job.
pub async fn insert(conn: &mut Conn, j: &SyncJob) -> Result<()> {
    sqlx::query(
        "INSERT INTO sync_jobs (id, app_id, instance_id, trigger_type, kind, dry_run, status, total, done, \
         counts, error, created_at, started_at, finished_at, heartbeat_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(&j.id)
    .bind(&j.app_id)
    .bind(&j.instance_id)
    .bind(&j.trigger_type)
    .bind(&j.kind)
    .bind(flag(j.dry_run))
    .bind(&j.status)
    .bind(j.total)
    .bind(j.done)
    .bind(to_json(&j.counts)?)
    .bind(&j.error)
    .bind(j.created_at)
    .bind(j.started_at)
    .bind(j.finished_at)
    .bind(j.heartbeat_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One job of an application.
pub async fn get(conn: &mut Conn, app_id: &str, id: &str) -> Result<Option<SyncJob>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM sync_jobs WHERE app_id = $1 AND id = $2"
    )))
    .bind(app_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Jobs of an application, newest first.
pub async fn list(conn: &mut Conn, app_id: &str, offset: i64, limit: i64) -> Result<Vec<SyncJob>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM sync_jobs WHERE app_id = $1 ORDER BY created_at DESC, id DESC \
         LIMIT $2 OFFSET $3"
    )))
    .bind(app_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// The pending or running full sync of an application, if any.
pub async fn active_full(conn: &mut Conn, app_id: &str) -> Result<Option<SyncJob>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM sync_jobs WHERE app_id = $1 AND kind = 'full' \
         AND status IN ('pending', 'running') ORDER BY created_at DESC LIMIT 1"
    )))
    .bind(app_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The error of a full sync whose node stopped refreshing its heartbeat.
pub const STALE_ERROR: &str = "interrupted: the node running this sync stopped reporting progress \
                               (the server stopped or lost the database)";

/// Marks full syncs that are still `pending`/`running` but whose heartbeat (or, lacking one,
/// creation) is older than `before` as failed: the node running them is gone. Returns how many.
pub async fn fail_stale(conn: &mut Conn, before: i64, now: i64) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE sync_jobs SET status = 'failed', error = $3, finished_at = $2, heartbeat_at = NULL \
         WHERE kind = 'full' AND status IN ('pending', 'running') \
         AND COALESCE(heartbeat_at, created_at) < $1",
    )
    .bind(before)
    .bind(now)
    .bind(STALE_ERROR)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

/// Refreshes the heartbeat of a job that is still pending or running; `false` when it is not
/// (it ended, or another node marked it failed as stale).
pub async fn heartbeat(conn: &mut Conn, id: &str, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE sync_jobs SET heartbeat_at = $2 WHERE id = $1 AND status IN ('pending', 'running')",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Marks a job running with its number of planned operations (and refreshes its heartbeat).
pub async fn start(conn: &mut Conn, id: &str, total: i64, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE sync_jobs SET status = 'running', total = $2, started_at = $3, heartbeat_at = $3 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(total)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records progress: operations done and the counters so far (and refreshes the heartbeat).
pub async fn progress(
    conn: &mut Conn,
    id: &str,
    done: i64,
    counts: &Counts,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE sync_jobs SET done = $2, counts = $3, heartbeat_at = $4 \
         WHERE id = $1 AND status IN ('pending', 'running')",
    )
    .bind(id)
    .bind(done)
    .bind(to_json(counts)?)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Deletes sync records (and their items) past retention: incremental records created before
/// `incremental_before`, finished full syncs and dry runs created before `full_before`. Pending
/// and running jobs are never deleted. Returns how many records were deleted.
pub async fn delete_older_than(
    conn: &mut Conn,
    incremental_before: Option<i64>,
    full_before: Option<i64>,
) -> Result<u64> {
    // `sync_job_items` cascades on PostgreSQL and on SQLite with foreign keys on; deleting the
    // items first keeps it independent of that.
    const OLD: &str = "(kind = 'incremental' AND created_at < $1) \
                       OR (kind = 'full' AND status NOT IN ('pending', 'running') AND created_at < $2)";
    let inc = incremental_before.unwrap_or(i64::MIN);
    let full = full_before.unwrap_or(i64::MIN);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM sync_job_items WHERE job_id IN (SELECT id FROM sync_jobs WHERE {OLD})"
    )))
    .bind(inc)
    .bind(full)
    .execute(&mut *conn)
    .await?;
    let done = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM sync_jobs WHERE {OLD}"
    )))
    .bind(inc)
    .bind(full)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

/// Ends a job.
pub async fn finish(
    conn: &mut Conn,
    id: &str,
    status: &str,
    done: i64,
    counts: &Counts,
    error: Option<&str>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE sync_jobs SET status = $2, done = $3, counts = $4, error = $5, finished_at = $6, \
         heartbeat_at = NULL WHERE id = $1",
    )
    .bind(id)
    .bind(status)
    .bind(done)
    .bind(to_json(counts)?)
    .bind(error)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One per-object result (or planned action) of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SyncJobItem {
    /// Order within the job.
    pub seq: i64,
    /// `user`, `group` or `group_member`.
    pub object_type: String,
    /// Local object id (`group_id/user_id` for memberships; the remote id for remote-only objects).
    pub object_id: String,
    /// userName / displayName (`group / user` for memberships).
    pub name: String,
    /// Result: created, updated, deleted, disabled, same, bound, failed, skipped; in a dry run the
    /// planned action: create, update, delete, disable, same, bind, skip, add, remove.
    pub action: String,
    /// The error of a failed object, or a note on another result (why it was skipped, a remote
    /// account replaced after a userName change).
    pub error: Option<String>,
}

/// Appends items to a job.
pub async fn insert_items(conn: &mut Conn, job_id: &str, items: &[SyncJobItem]) -> Result<()> {
    for it in items {
        sqlx::query(
            "INSERT INTO sync_job_items (job_id, seq, object_type, object_id, name, action, error) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(job_id)
        .bind(it.seq)
        .bind(&it.object_type)
        .bind(&it.object_id)
        .bind(&it.name)
        .bind(&it.action)
        .bind(&it.error)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

fn item_from_row(row: &AnyRow) -> Result<SyncJobItem> {
    Ok(SyncJobItem {
        seq: row.try_get("seq")?,
        object_type: row.try_get("object_type")?,
        object_id: row.try_get("object_id")?,
        name: row.try_get("name")?,
        action: row.try_get("action")?,
        error: row.try_get("error")?,
    })
}

/// Items of a job in order, optionally only one action or only failures.
pub async fn list_items(
    conn: &mut Conn,
    job_id: &str,
    action: Option<&str>,
    failed_only: bool,
    offset: i64,
    limit: i64,
) -> Result<Vec<SyncJobItem>> {
    let rows = sqlx::query(
        "SELECT seq, object_type, object_id, name, action, error FROM sync_job_items \
         WHERE job_id = $1 AND ($2 = '' OR action = $2) AND ($3 = 0 OR action = 'failed') \
         ORDER BY seq LIMIT $4 OFFSET $5",
    )
    .bind(job_id)
    .bind(action.unwrap_or(""))
    .bind(flag(failed_only))
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(item_from_row).collect()
}

/// Number of items of a job matching the same filters as [`list_items`].
pub async fn count_items(
    conn: &mut Conn,
    job_id: &str,
    action: Option<&str>,
    failed_only: bool,
) -> Result<i64> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM sync_job_items \
         WHERE job_id = $1 AND ($2 = '' OR action = $2) AND ($3 = 0 OR action = 'failed')",
    )
    .bind(job_id)
    .bind(action.unwrap_or(""))
    .bind(flag(failed_only))
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get("n")?)
}
