//! `provisioning_outbox`: one row per (application, object) with pending provisioning work.
//!
//! A change upserts its row ([`enqueue`]) in the same transaction, bumping `change_seq`. The worker
//! claims due rows with a lease ([`claim`]), pushes the object's current state, and deletes the row
//! only if `change_seq` is still the one it read ([`complete`]).

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::Conn;
use crate::error::Result;

const COLUMNS: &str = "app_id, object_type, object_id, change_seq, state, attempts, next_attempt_at, \
                       last_error, lease_until, created_at, updated_at";

/// A pending (or dead-lettered) provisioning entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OutboxEntry {
    /// Application the object is pushed to.
    pub app_id: String,
    /// `user` or `group`.
    pub object_type: String,
    /// Local object id.
    pub object_id: String,
    /// Bumped by every change of the object.
    pub change_seq: i64,
    /// `pending` or `dead`.
    pub state: String,
    /// Failed delivery attempts so far.
    pub attempts: i64,
    /// Earliest time of the next attempt (unix seconds).
    pub next_attempt_at: i64,
    /// The last delivery error (SCIM status and detail).
    pub last_error: Option<String>,
    /// While set and in the future, a worker is delivering this entry.
    pub lease_until: Option<i64>,
    /// When the entry was first written.
    pub created_at: i64,
    /// When the entry last changed.
    pub updated_at: i64,
}

impl OutboxEntry {
    /// The key of the entry.
    pub fn key(&self) -> OutboxKey<'_> {
        OutboxKey {
            app_id: &self.app_id,
            object_type: &self.object_type,
            object_id: &self.object_id,
        }
    }
}

/// The primary key of an outbox row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxKey<'a> {
    /// Application.
    pub app_id: &'a str,
    /// `user` or `group`.
    pub object_type: &'a str,
    /// Local object id.
    pub object_id: &'a str,
}

fn from_row(row: &AnyRow) -> Result<OutboxEntry> {
    Ok(OutboxEntry {
        app_id: row.try_get("app_id")?,
        object_type: row.try_get("object_type")?,
        object_id: row.try_get("object_id")?,
        change_seq: row.try_get("change_seq")?,
        state: row.try_get("state")?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_error: row.try_get("last_error")?,
        lease_until: row.try_get("lease_until")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Records a change of an object for an application: inserts the row or bumps `change_seq`, makes it
/// pending and due now (a new change gives a dead entry a fresh set of attempts).
pub async fn enqueue(conn: &mut Conn, key: OutboxKey<'_>, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO provisioning_outbox (app_id, object_type, object_id, change_seq, state, attempts, \
         next_attempt_at, last_error, lease_until, created_at, updated_at) \
         VALUES ($1, $2, $3, 1, 'pending', 0, $4, NULL, NULL, $4, $4) \
         ON CONFLICT (app_id, object_type, object_id) DO UPDATE SET \
         change_seq = provisioning_outbox.change_seq + 1, state = 'pending', attempts = 0, \
         next_attempt_at = excluded.next_attempt_at, updated_at = excluded.updated_at",
    )
    .bind(key.app_id)
    .bind(key.object_type)
    .bind(key.object_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One entry.
pub async fn get(conn: &mut Conn, key: OutboxKey<'_>) -> Result<Option<OutboxEntry>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM provisioning_outbox \
         WHERE app_id = $1 AND object_type = $2 AND object_id = $3"
    )))
    .bind(key.app_id)
    .bind(key.object_type)
    .bind(key.object_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Pending entries that are due and not leased, of applications whose provisioning is enabled and
/// that no full sync is pushing (a pending/running full sync, not a dry run, with a heartbeat at or
/// after `sync_fresh_since`, on any node), oldest first (candidates for [`claim`]).
pub async fn due(
    conn: &mut Conn,
    now: i64,
    sync_fresh_since: i64,
    limit: i64,
) -> Result<Vec<OutboxEntry>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM provisioning_outbox o \
         JOIN provisioning_configs c ON c.app_id = o.app_id AND c.enabled = 1 \
         WHERE o.state = 'pending' AND o.next_attempt_at <= $1 \
         AND (o.lease_until IS NULL OR o.lease_until < $1) \
         AND NOT EXISTS (SELECT 1 FROM sync_jobs j WHERE j.app_id = o.app_id AND j.kind = 'full' \
             AND j.dry_run = 0 AND j.status IN ('pending', 'running') \
             AND COALESCE(j.heartbeat_at, j.created_at) >= $3) \
         ORDER BY o.next_attempt_at, o.updated_at LIMIT $2",
        COLUMNS
            .split(", ")
            .map(|c| format!("o.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ")
    )))
    .bind(now)
    .bind(limit)
    .bind(sync_fresh_since)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// The earliest `next_attempt_at` of a pending entry of an enabled application (to sleep until).
pub async fn next_due_at(conn: &mut Conn) -> Result<Option<i64>> {
    let row = sqlx::query(
        "SELECT MIN(o.next_attempt_at) AS t FROM provisioning_outbox o \
         JOIN provisioning_configs c ON c.app_id = o.app_id AND c.enabled = 1 \
         WHERE o.state = 'pending'",
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get("t")?)
}

/// Takes the lease on an entry until `lease_until` if it is pending and nobody else holds a live
/// lease. Returns the entry as claimed (with the `change_seq` to complete against), or `None`.
pub async fn claim(
    conn: &mut Conn,
    key: OutboxKey<'_>,
    now: i64,
    lease_until: i64,
) -> Result<Option<OutboxEntry>> {
    let done = sqlx::query(
        "UPDATE provisioning_outbox SET lease_until = $4 \
         WHERE app_id = $1 AND object_type = $2 AND object_id = $3 AND state = 'pending' \
         AND next_attempt_at <= $5 AND (lease_until IS NULL OR lease_until < $5)",
    )
    .bind(key.app_id)
    .bind(key.object_type)
    .bind(key.object_id)
    .bind(lease_until)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    get(conn, key).await
}

/// Delivery succeeded: deletes the entry if `change_seq` is unchanged (returns `true`); otherwise
/// the object changed meanwhile, so the lease is released and the entry stays due.
pub async fn complete(conn: &mut Conn, key: OutboxKey<'_>, change_seq: i64) -> Result<bool> {
    let done = sqlx::query(
        "DELETE FROM provisioning_outbox \
         WHERE app_id = $1 AND object_type = $2 AND object_id = $3 AND change_seq = $4",
    )
    .bind(key.app_id)
    .bind(key.object_type)
    .bind(key.object_id)
    .bind(change_seq)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() > 0 {
        return Ok(true);
    }
    release(conn, key).await?;
    Ok(false)
}

/// Clears the lease (the entry stays as it is).
pub async fn release(conn: &mut Conn, key: OutboxKey<'_>) -> Result<()> {
    sqlx::query(
        "UPDATE provisioning_outbox SET lease_until = NULL \
         WHERE app_id = $1 AND object_type = $2 AND object_id = $3",
    )
    .bind(key.app_id)
    .bind(key.object_type)
    .bind(key.object_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Delivery failed: records the error and the attempt count, releases the lease and either
/// schedules the next attempt at `next_attempt_at` or, when `dead`, moves the entry to `dead`.
pub async fn fail(
    conn: &mut Conn,
    key: OutboxKey<'_>,
    attempts: i64,
    next_attempt_at: i64,
    error: &str,
    dead: bool,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE provisioning_outbox SET attempts = $4, next_attempt_at = $5, last_error = $6, \
         state = $7, lease_until = NULL, updated_at = $8 \
         WHERE app_id = $1 AND object_type = $2 AND object_id = $3",
    )
    .bind(key.app_id)
    .bind(key.object_type)
    .bind(key.object_id)
    .bind(attempts)
    .bind(next_attempt_at)
    .bind(error)
    .bind(if dead { "dead" } else { "pending" })
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Entries of an application, optionally only those in `state`, oldest first.
pub async fn list(
    conn: &mut Conn,
    app_id: &str,
    state: Option<&str>,
    offset: i64,
    limit: i64,
) -> Result<Vec<OutboxEntry>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM provisioning_outbox WHERE app_id = $1 AND ($2 = '' OR state = $2) \
         ORDER BY created_at, object_type, object_id LIMIT $3 OFFSET $4"
    )))
    .bind(app_id)
    .bind(state.unwrap_or(""))
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Number of entries of an application in `state` (all states when `None`).
pub async fn count(conn: &mut Conn, app_id: &str, state: Option<&str>) -> Result<i64> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM provisioning_outbox WHERE app_id = $1 AND ($2 = '' OR state = $2)",
    )
    .bind(app_id)
    .bind(state.unwrap_or(""))
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get("n")?)
}

/// Makes one entry pending again with a fresh set of attempts, due now. `false` if absent.
pub async fn retry(conn: &mut Conn, key: OutboxKey<'_>, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE provisioning_outbox SET state = 'pending', attempts = 0, next_attempt_at = $4, \
         lease_until = NULL, updated_at = $4 \
         WHERE app_id = $1 AND object_type = $2 AND object_id = $3",
    )
    .bind(key.app_id)
    .bind(key.object_type)
    .bind(key.object_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Makes every dead entry of an application pending again; returns how many.
pub async fn retry_all_dead(conn: &mut Conn, app_id: &str, now: i64) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE provisioning_outbox SET state = 'pending', attempts = 0, next_attempt_at = $2, \
         lease_until = NULL, updated_at = $2 WHERE app_id = $1 AND state = 'dead'",
    )
    .bind(app_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}
