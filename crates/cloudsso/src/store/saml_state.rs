//! SAML SP state: the AuthnRequests we sent (for `InResponseTo` and the RelayState) and the replay
//! cache of assertion IDs.

use sqlx::Row;

use super::Conn;
use crate::error::Result;

/// Remembers an AuthnRequest we sent.
pub async fn insert_pending(
    conn: &mut Conn,
    request_id: &str,
    directory_id: &str,
    relay_state: Option<&str>,
    now: i64,
    expires_at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO pending_authn_requests (id, directory_id, relay_state, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(request_id)
    .bind(directory_id)
    .bind(relay_state)
    .bind(now)
    .bind(expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// An unexpired pending request of the directory: `Some(relay_state)` if it exists.
pub async fn get_pending(
    conn: &mut Conn,
    request_id: &str,
    directory_id: &str,
    now: i64,
) -> Result<Option<Option<String>>> {
    let row = sqlx::query(
        "SELECT relay_state FROM pending_authn_requests WHERE id = $1 AND directory_id = $2 AND expires_at > $3",
    )
    .bind(request_id)
    .bind(directory_id)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| Ok(r.try_get::<Option<String>, _>("relay_state")?))
        .transpose()
}

/// Consumes a pending request; returns whether it was still there (each is answered once).
pub async fn take_pending(conn: &mut Conn, request_id: &str, directory_id: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM pending_authn_requests WHERE id = $1 AND directory_id = $2")
        .bind(request_id)
        .bind(directory_id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Records an assertion ID; `false` if it was already seen (a replay). Atomic through the primary key.
pub async fn remember_assertion(
    conn: &mut Conn,
    directory_id: &str,
    assertion_id: &str,
    expires_at: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "INSERT INTO saml_replay_cache (directory_id, assertion_id, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (directory_id, assertion_id) DO NOTHING",
    )
    .bind(directory_id)
    .bind(assertion_id)
    .bind(expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Deletes expired pending requests and replay-cache entries.
pub async fn delete_expired(conn: &mut Conn, now: i64) -> Result<u64> {
    let a = sqlx::query("DELETE FROM pending_authn_requests WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    let b = sqlx::query("DELETE FROM saml_replay_cache WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(a.rows_affected() + b.rows_affected())
}
