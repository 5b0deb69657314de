//! AuthnRequests parked while the user signs in (`pending_sso`).
//!
//! The SSO endpoint stores the validated request and redirects to the sign-in page with the row id in
//! `continue`; after sign-in the row is taken (read and deleted in one transaction) and answered.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::Conn;
use crate::error::Result;

/// A parked request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSso {
    /// Random id (`sso_…`), carried in the sign-in `continue` parameter.
    pub id: String,
    /// Instance of the application.
    pub instance_id: String,
    /// Application.
    pub app_id: String,
    /// The validated request, JSON (see `saml_idp::ParkedRequest`).
    pub request: String,
    /// RelayState to echo back.
    pub relay_state: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
}

fn from_row(row: &AnyRow) -> Result<PendingSso> {
    Ok(PendingSso {
        id: row.try_get("id")?,
        instance_id: row.try_get("instance_id")?,
        app_id: row.try_get("app_id")?,
        request: row.try_get("request")?,
        relay_state: row.try_get("relay_state")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

/// Parks a request.
pub async fn insert(conn: &mut Conn, p: &PendingSso) -> Result<()> {
    sqlx::query(
        "INSERT INTO pending_sso (id, instance_id, app_id, request, relay_state, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&p.id)
    .bind(&p.instance_id)
    .bind(&p.app_id)
    .bind(&p.request)
    .bind(&p.relay_state)
    .bind(p.created_at)
    .bind(p.expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The unexpired parked request `id` of `instance_id`.
pub async fn get(
    conn: &mut Conn,
    instance_id: &str,
    id: &str,
    now: i64,
) -> Result<Option<PendingSso>> {
    let row = sqlx::query(
        "SELECT id, instance_id, app_id, request, relay_state, created_at, expires_at FROM pending_sso \
         WHERE id = $1 AND instance_id = $2 AND expires_at > $3",
    )
    .bind(id)
    .bind(instance_id)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Replaces the stored request JSON (ForceAuthn bookkeeping).
pub async fn update_request(conn: &mut Conn, id: &str, request: &str) -> Result<()> {
    sqlx::query("UPDATE pending_sso SET request = $1 WHERE id = $2")
        .bind(request)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Deletes a parked request; `true` if this call deleted it (so only one caller can answer it).
pub async fn delete(conn: &mut Conn, id: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM pending_sso WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Deletes expired parked requests.
pub async fn delete_expired(conn: &mut Conn, now: i64) -> Result<u64> {
    let r = sqlx::query("DELETE FROM pending_sso WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected())
}
