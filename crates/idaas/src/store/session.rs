//! Sign-in sessions (`sessions`): the cookie carries a random token, the table its SHA-256.
//!
//! The sign-in flow (H-sso) creates them; the `UserSession`/`AdminAuth` extractors read them.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Conn, flag};
use crate::error::Result;
use crate::id;

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 (hex) of the cookie token.
    pub id_hash: String,
    /// Instance the session belongs to.
    pub instance_id: String,
    /// The signed-in user.
    pub user_id: String,
    /// Creation time.
    pub created_at: i64,
    /// Absolute expiry.
    pub expires_at: i64,
    /// Last request seen.
    pub last_seen_at: i64,
    /// When the user authenticated (SAML `AuthnInstant`).
    pub authn_instant: i64,
    /// `password` or `password+totp`.
    pub authn_methods: String,
    /// Password was accepted but the second factor is still missing.
    pub mfa_pending: bool,
    /// Synchronizer token for forms and cookie-authenticated API calls.
    pub csrf_token: String,
    /// Source address at sign-in.
    pub source_ip: Option<String>,
}

/// A freshly created session and the secret token for its cookie.
#[derive(Debug)]
pub struct NewSession {
    /// The stored session.
    pub session: Session,
    /// The cookie value (never stored).
    pub token: String,
}

/// What the sign-in flow knows when it creates a session.
#[derive(Debug, Clone)]
pub struct SessionParams<'a> {
    /// Instance.
    pub instance_id: &'a str,
    /// User.
    pub user_id: &'a str,
    /// Now (unix seconds).
    pub now: i64,
    /// Lifetime in seconds (the instance's `session_ttl_secs`).
    pub ttl_secs: i64,
    /// `password` or `password+totp`.
    pub authn_methods: &'a str,
    /// Whether the second factor is still missing.
    pub mfa_pending: bool,
    /// Source address.
    pub source_ip: Option<&'a str>,
}

const COLUMNS: &str = "id_hash, instance_id, user_id, created_at, expires_at, last_seen_at, \
    authn_instant, authn_methods, mfa_pending, csrf_token, source_ip";

fn from_row(row: &AnyRow) -> Result<Session> {
    Ok(Session {
        id_hash: row.try_get("id_hash")?,
        instance_id: row.try_get("instance_id")?,
        user_id: row.try_get("user_id")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
        authn_instant: row.try_get("authn_instant")?,
        authn_methods: row.try_get("authn_methods")?,
        mfa_pending: row.try_get::<i64, _>("mfa_pending")? != 0,
        csrf_token: row.try_get("csrf_token")?,
        source_ip: row.try_get("source_ip")?,
    })
}

/// The stored id of a cookie token.
pub fn hash_token(token: &str) -> String {
    id::hash_secret(token)
}

/// Creates a session with a fresh random token and CSRF token.
pub async fn create(conn: &mut Conn, p: SessionParams<'_>) -> Result<NewSession> {
    let token = id::new_secret("ghs");
    let session = Session {
        id_hash: hash_token(&token),
        instance_id: p.instance_id.to_owned(),
        user_id: p.user_id.to_owned(),
        created_at: p.now,
        expires_at: p.now + p.ttl_secs,
        last_seen_at: p.now,
        authn_instant: p.now,
        authn_methods: p.authn_methods.to_owned(),
        mfa_pending: p.mfa_pending,
        csrf_token: id::new_secret("csrf"),
        source_ip: p.source_ip.map(str::to_owned),
    };
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO sessions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    )))
    .bind(&session.id_hash)
    .bind(&session.instance_id)
    .bind(&session.user_id)
    .bind(session.created_at)
    .bind(session.expires_at)
    .bind(session.last_seen_at)
    .bind(session.authn_instant)
    .bind(&session.authn_methods)
    .bind(flag(session.mfa_pending))
    .bind(&session.csrf_token)
    .bind(&session.source_ip)
    .execute(&mut *conn)
    .await?;
    Ok(NewSession { session, token })
}

/// The unexpired session of `instance_id` with this id hash.
pub async fn get(
    conn: &mut Conn,
    instance_id: &str,
    id_hash: &str,
    now: i64,
) -> Result<Option<Session>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM sessions WHERE id_hash = $1 AND instance_id = $2 AND expires_at > $3"
    )))
    .bind(id_hash)
    .bind(instance_id)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Records activity (only written when the stored value is older than a minute).
pub async fn touch(conn: &mut Conn, id_hash: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2 AND last_seen_at < $3")
        .bind(now)
        .bind(id_hash)
        .bind(now - 60)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Marks the second factor as done (or changes the methods) and restarts the authentication instant.
pub async fn complete_authn(
    conn: &mut Conn,
    id_hash: &str,
    authn_methods: &str,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE sessions SET mfa_pending = 0, authn_methods = $1, authn_instant = $2, last_seen_at = $2 \
         WHERE id_hash = $3",
    )
    .bind(authn_methods)
    .bind(now)
    .bind(id_hash)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Deletes one session (logout).
pub async fn delete(conn: &mut Conn, id_hash: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Deletes every session of a user (password change, disable, delete).
pub async fn delete_for_user(conn: &mut Conn, user_id: &str) -> Result<u64> {
    let r = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected())
}

/// Deletes expired sessions; returns how many.
pub async fn delete_expired(conn: &mut Conn, now: i64) -> Result<u64> {
    let r = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected())
}
