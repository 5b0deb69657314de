//! `provisioning_objects` (what the target holds for each local object) and
//! `provisioning_memberships` (group memberships as pushed). Both outlive the local objects.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Conn, flag};
use crate::error::Result;

const COLUMNS: &str =
    "app_id, object_type, object_id, remote_id, remote_key, state_hash, active, synced_at";

/// A local object as the target holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedObject {
    /// Application.
    pub app_id: String,
    /// `user` or `group`.
    pub object_type: String,
    /// Local object id.
    pub object_id: String,
    /// The target's `id`.
    pub remote_id: String,
    /// userName (users) or displayName (groups) as pushed.
    pub remote_key: String,
    /// Hash of the last pushed resource.
    pub state_hash: String,
    /// `false` once disabled on the target (deprovision mode `disable`).
    pub active: bool,
    /// When it was last pushed.
    pub synced_at: i64,
}

fn from_row(row: &AnyRow) -> Result<PushedObject> {
    Ok(PushedObject {
        app_id: row.try_get("app_id")?,
        object_type: row.try_get("object_type")?,
        object_id: row.try_get("object_id")?,
        remote_id: row.try_get("remote_id")?,
        remote_key: row.try_get("remote_key")?,
        state_hash: row.try_get("state_hash")?,
        active: row.try_get::<i64, _>("active")? != 0,
        synced_at: row.try_get("synced_at")?,
    })
}

/// The pushed state of one object.
pub async fn get(
    conn: &mut Conn,
    app_id: &str,
    object_type: &str,
    object_id: &str,
) -> Result<Option<PushedObject>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM provisioning_objects \
         WHERE app_id = $1 AND object_type = $2 AND object_id = $3"
    )))
    .bind(app_id)
    .bind(object_type)
    .bind(object_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Every pushed object of one type.
pub async fn list(conn: &mut Conn, app_id: &str, object_type: &str) -> Result<Vec<PushedObject>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM provisioning_objects WHERE app_id = $1 AND object_type = $2 \
         ORDER BY object_id"
    )))
    .bind(app_id)
    .bind(object_type)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Records (or replaces) the pushed state of an object.
pub async fn upsert(conn: &mut Conn, o: &PushedObject) -> Result<()> {
    sqlx::query(
        "INSERT INTO provisioning_objects (app_id, object_type, object_id, remote_id, remote_key, \
         state_hash, active, synced_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (app_id, object_type, object_id) DO UPDATE SET remote_id = excluded.remote_id, \
         remote_key = excluded.remote_key, state_hash = excluded.state_hash, active = excluded.active, \
         synced_at = excluded.synced_at",
    )
    .bind(&o.app_id)
    .bind(&o.object_type)
    .bind(&o.object_id)
    .bind(&o.remote_id)
    .bind(&o.remote_key)
    .bind(&o.state_hash)
    .bind(flag(o.active))
    .bind(o.synced_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Forgets an object (deleted on the target).
pub async fn delete(
    conn: &mut Conn,
    app_id: &str,
    object_type: &str,
    object_id: &str,
) -> Result<()> {
    sqlx::query(
        "DELETE FROM provisioning_objects WHERE app_id = $1 AND object_type = $2 AND object_id = $3",
    )
    .bind(app_id)
    .bind(object_type)
    .bind(object_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Members (user ids) of a group as pushed.
pub async fn group_members(conn: &mut Conn, app_id: &str, group_id: &str) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT user_id FROM provisioning_memberships WHERE app_id = $1 AND group_id = $2 ORDER BY user_id",
    )
    .bind(app_id)
    .bind(group_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| Ok(r.try_get::<String, _>("user_id")?))
        .collect()
}

/// Groups (group ids) a user was pushed into.
pub async fn user_groups(conn: &mut Conn, app_id: &str, user_id: &str) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT group_id FROM provisioning_memberships WHERE app_id = $1 AND user_id = $2 ORDER BY group_id",
    )
    .bind(app_id)
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| Ok(r.try_get::<String, _>("group_id")?))
        .collect()
}

/// Every pushed membership of an application as (group id, user id).
pub async fn all_memberships(conn: &mut Conn, app_id: &str) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query(
        "SELECT group_id, user_id FROM provisioning_memberships WHERE app_id = $1 ORDER BY group_id, user_id",
    )
    .bind(app_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("group_id")?, r.try_get("user_id")?)))
        .collect()
}

/// Records a pushed membership (idempotent).
pub async fn add_membership(
    conn: &mut Conn,
    app_id: &str,
    group_id: &str,
    user_id: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO provisioning_memberships (app_id, group_id, user_id) VALUES ($1, $2, $3) \
         ON CONFLICT (app_id, group_id, user_id) DO NOTHING",
    )
    .bind(app_id)
    .bind(group_id)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Forgets a pushed membership.
pub async fn remove_membership(
    conn: &mut Conn,
    app_id: &str,
    group_id: &str,
    user_id: &str,
) -> Result<()> {
    sqlx::query(
        "DELETE FROM provisioning_memberships WHERE app_id = $1 AND group_id = $2 AND user_id = $3",
    )
    .bind(app_id)
    .bind(group_id)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Forgets every pushed membership of a user.
pub async fn remove_user_memberships(conn: &mut Conn, app_id: &str, user_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM provisioning_memberships WHERE app_id = $1 AND user_id = $2")
        .bind(app_id)
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Forgets every pushed membership of a group.
pub async fn remove_group_memberships(conn: &mut Conn, app_id: &str, group_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM provisioning_memberships WHERE app_id = $1 AND group_id = $2")
        .bind(app_id)
        .bind(group_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
