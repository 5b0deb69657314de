//! `authn_request_ids`: the replay cache of AuthnRequest IDs per application.

use super::Conn;
use crate::error::Result;

/// Remembers `request_id` of `app_id` until `expires_at`; `false` when it was already seen (a
/// replay). One statement, so two parallel deliveries of one request cannot both pass.
pub async fn remember(
    conn: &mut Conn,
    app_id: &str,
    request_id: &str,
    expires_at: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "INSERT INTO authn_request_ids (app_id, request_id, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (app_id, request_id) DO NOTHING",
    )
    .bind(app_id)
    .bind(request_id)
    .bind(expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Forgets IDs whose requests would now be refused as too old anyway.
pub async fn delete_expired(conn: &mut Conn, now: i64) -> Result<u64> {
    let r = sqlx::query("DELETE FROM authn_request_ids WHERE expires_at < $1")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected())
}
