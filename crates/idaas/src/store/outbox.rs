//! `provisioning_outbox`: one row per (application, object) with pending provisioning work.
//!
//! A change upserts its row ([`enqueue`]) in the same transaction, bumping `change_seq`. The worker
//! claims due rows with a short lease in its own name ([`claim`], `lease_owner`), renews the lease
//! of all the rows it still holds with one statement while it delivers ([`renew`]), pushes the
//! object's current state, and deletes the row only if the lease is still its own and `change_seq`
//! is still the one it read ([`complete`]); a failure is recorded on the same two conditions
//! ([`fail`]: a change that arrived meanwhile keeps its fresh attempts and is due at once);
//! [`release_owned`] drops whatever it still holds at the end. A lease is taken over only once it has expired, and a take-over changes the owner, so a
//! worker that lost a lease can neither renew nor complete (nor fail) that row any more.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::Conn;
use crate::error::Result;

const COLUMNS: &str = "app_id, object_type, object_id, change_seq, state, attempts, next_attempt_at, \
                       last_error, lease_until, lease_owner, created_at, updated_at";

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
    /// The worker that holds (or last held) the lease: a random id per process and batch.
    pub lease_owner: Option<String>,
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
        lease_owner: row.try_get("lease_owner")?,
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

/// Takes the lease on an entry until `lease_until` in the name of `owner` if it is pending and
/// nobody holds a live lease. Returns the entry as claimed (with the `change_seq` to complete
/// against), or `None`.
pub async fn claim(
    conn: &mut Conn,
    key: OutboxKey<'_>,
    now: i64,
    lease_until: i64,
    owner: &str,
) -> Result<Option<OutboxEntry>> {
    let done = sqlx::query(
        "UPDATE provisioning_outbox SET lease_until = $4, lease_owner = $6 \
         WHERE app_id = $1 AND object_type = $2 AND object_id = $3 AND state = 'pending' \
         AND next_attempt_at <= $5 AND (lease_until IS NULL OR lease_until < $5)",
    )
    .bind(key.app_id)
    .bind(key.object_type)
    .bind(key.object_id)
    .bind(lease_until)
    .bind(now)
    .bind(owner)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    get(conn, key).await
}

/// Extends every lease `owner` still holds to `lease_until` (one statement for a whole batch).
/// Returns the keys `(app_id, object_type, object_id)` still held: a row missing from it was
/// finished, or taken over by another worker after the lease expired.
pub async fn renew(
    conn: &mut Conn,
    owner: &str,
    lease_until: i64,
) -> Result<Vec<(String, String, String)>> {
    let rows = sqlx::query(
        "UPDATE provisioning_outbox SET lease_until = $2 WHERE lease_owner = $1 \
         RETURNING app_id, object_type, object_id",
    )
    .bind(owner)
    .bind(lease_until)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("app_id")?,
                r.try_get("object_type")?,
                r.try_get("object_id")?,
            ))
        })
        .collect()
}

/// Drops every lease `owner` still holds (the rows become claimable now); returns how many.
pub async fn release_owned(conn: &mut Conn, owner: &str) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE provisioning_outbox SET lease_until = NULL, lease_owner = NULL WHERE lease_owner = $1",
    )
    .bind(owner)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

/// What [`complete`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// The entry was deleted: the delivered state is the latest.
    Deleted,
    /// The object changed meanwhile: the lease was released and the entry stays due.
    Changed,
    /// The lease is not (or no longer) `owner`'s: nothing was written.
    NotOwner,
}

/// Delivery succeeded: if `owner` still holds the lease, deletes the entry when `change_seq` is
/// unchanged, or else releases the lease (the object changed meanwhile; the entry stays due).
/// A worker that lost its lease changes nothing ([`Completion::NotOwner`]).
pub async fn complete(
    conn: &mut Conn,
    key: OutboxKey<'_>,
    change_seq: i64,
    owner: &str,
) -> Result<Completion> {
    let done = sqlx::query(
        "DELETE FROM provisioning_outbox \
         WHERE app_id = $1 AND object_type = $2 AND object_id = $3 AND change_seq = $4 \
         AND lease_owner = $5",
    )
    .bind(key.app_id)
    .bind(key.object_type)
    .bind(key.object_id)
    .bind(change_seq)
    .bind(owner)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() > 0 {
        return Ok(Completion::Deleted);
    }
    if release(conn, key, owner).await? {
        Ok(Completion::Changed)
    } else {
        Ok(Completion::NotOwner)
    }
}

/// Clears the lease if `owner` holds it (the entry stays as it is); returns whether it did.
pub async fn release(conn: &mut Conn, key: OutboxKey<'_>, owner: &str) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE provisioning_outbox SET lease_until = NULL, lease_owner = NULL \
         WHERE app_id = $1 AND object_type = $2 AND object_id = $3 AND lease_owner = $4",
    )
    .bind(key.app_id)
    .bind(key.object_type)
    .bind(key.object_id)
    .bind(owner)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// What [`fail`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The error, the attempt count and the next attempt (or the dead letter) were recorded.
    Recorded,
    /// The object changed while the failed delivery was in flight: the change already reset the
    /// entry (attempts 0, due now), so only the lease was released and the entry stays due.
    Changed,
    /// The lease is not (or no longer) `owner`'s: nothing was written.
    NotOwner,
}

/// Delivery failed: if `owner` still holds the lease and `change_seq` is still the claimed one,
/// records the error and the attempt count, releases the lease and either schedules the next
/// attempt at `next_attempt_at` or, when `dead`, moves the entry to `dead`. If the object changed
/// meanwhile (a newer `change_seq`: the change reset the attempts and made the entry due now, e.g.
/// an administrator corrected the data a 400 was about), the failure of the old state is not
/// recorded: the lease is released and the new change is delivered promptly.
#[allow(clippy::too_many_arguments)]
pub async fn fail(
    conn: &mut Conn,
    key: OutboxKey<'_>,
    change_seq: i64,
    attempts: i64,
    next_attempt_at: i64,
    error: &str,
    dead: bool,
    now: i64,
    owner: &str,
) -> Result<Failure> {
    let done = sqlx::query(
        "UPDATE provisioning_outbox SET attempts = $4, next_attempt_at = $5, last_error = $6, \
         state = $7, lease_until = NULL, lease_owner = NULL, updated_at = $8 \
         WHERE app_id = $1 AND object_type = $2 AND object_id = $3 AND lease_owner = $9 \
         AND change_seq = $10",
    )
    .bind(key.app_id)
    .bind(key.object_type)
    .bind(key.object_id)
    .bind(attempts)
    .bind(next_attempt_at)
    .bind(error)
    .bind(if dead { "dead" } else { "pending" })
    .bind(now)
    .bind(owner)
    .bind(change_seq)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() > 0 {
        return Ok(Failure::Recorded);
    }
    if release(conn, key, owner).await? {
        Ok(Failure::Changed)
    } else {
        Ok(Failure::NotOwner)
    }
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
