//! `sessions`: portal sessions of directory users and console sessions of administrators.
//! The cookie carries a random token; the table holds its SHA-256.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Conn, flag};
use crate::error::{Error, Result};

/// Which kind of session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// A directory user in the portal.
    Portal,
    /// An administrator in the console (holds an API token id).
    Console,
}

impl SessionKind {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Portal => "portal",
            SessionKind::Console => "console",
        }
    }
}

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 (hex) of the cookie token.
    pub id_hash: String,
    /// Portal or console.
    pub kind: SessionKind,
    /// The directory (portal sessions; console sessions of a directory-scoped token).
    pub directory_id: Option<String>,
    /// The user (portal sessions).
    pub user_id: Option<String>,
    /// The API token the console session was opened with.
    pub api_token_id: Option<String>,
    /// `password`, `password+totp`, `saml` or `api_token`.
    pub authn_method: String,
    /// Password accepted but the second factor (or device binding) is still missing.
    pub mfa_pending: bool,
    /// A TOTP secret being bound (sealed), during first-logon enrolment.
    pub pending_totp_enc: Option<String>,
    /// Where to go after logon (a portal deep link or the SAML RelayState).
    pub relay_state: Option<String>,
    /// Synchronizer token for forms and cookie-authenticated API calls.
    pub csrf_token: String,
    /// Source address at logon.
    pub source_ip: Option<String>,
    /// Creation time.
    pub created_at: i64,
    /// Absolute expiry.
    pub expires_at: i64,
}

/// A freshly created session and the secret token for its cookie.
#[derive(Debug)]
pub struct NewSession {
    /// The stored session.
    pub session: Session,
    /// The cookie value (never stored).
    pub token: String,
}

const COLUMNS: &str = "id_hash, kind, directory_id, user_id, api_token_id, authn_method, mfa_pending, \
    pending_totp_enc, relay_state, csrf_token, source_ip, created_at, expires_at";

fn from_row(row: &AnyRow) -> Result<Session> {
    let kind: String = row.try_get("kind")?;
    Ok(Session {
        id_hash: row.try_get("id_hash")?,
        kind: match kind.as_str() {
            "portal" => SessionKind::Portal,
            "console" => SessionKind::Console,
            other => return Err(Error::Corrupt(format!("session kind {other:?}"))),
        },
        directory_id: row.try_get("directory_id")?,
        user_id: row.try_get("user_id")?,
        api_token_id: row.try_get("api_token_id")?,
        authn_method: row.try_get("authn_method")?,
        mfa_pending: row.try_get::<i64, _>("mfa_pending")? != 0,
        pending_totp_enc: row.try_get("pending_totp_enc")?,
        relay_state: row.try_get("relay_state")?,
        csrf_token: row.try_get("csrf_token")?,
        source_ip: row.try_get("source_ip")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

/// SHA-256 of a cookie token.
pub fn hash_token(token: &str) -> String {
    web::id::hash_secret(token)
}

/// Creates a session from a template (its `id_hash` and `csrf_token` are generated here).
pub async fn create(conn: &mut Conn, mut s: Session) -> Result<NewSession> {
    let token = web::id::new_secret("ghs");
    s.id_hash = hash_token(&token);
    s.csrf_token = web::id::new_secret("csrf");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO sessions ({COLUMNS}, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $12)"
    )))
    .bind(&s.id_hash)
    .bind(s.kind.as_str())
    .bind(&s.directory_id)
    .bind(&s.user_id)
    .bind(&s.api_token_id)
    .bind(&s.authn_method)
    .bind(flag(s.mfa_pending))
    .bind(&s.pending_totp_enc)
    .bind(&s.relay_state)
    .bind(&s.csrf_token)
    .bind(&s.source_ip)
    .bind(s.created_at)
    .bind(s.expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(NewSession { session: s, token })
}

/// The unexpired session with this hash.
pub async fn get(conn: &mut Conn, id_hash: &str, now: i64) -> Result<Option<Session>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM sessions WHERE id_hash = $1 AND expires_at > $2"
    )))
    .bind(id_hash)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Marks the second factor done (and clears any pending enrolment secret).
pub async fn complete_mfa(conn: &mut Conn, id_hash: &str, method: &str) -> Result<()> {
    sqlx::query(
        "UPDATE sessions SET mfa_pending = 0, pending_totp_enc = NULL, authn_method = $1 WHERE id_hash = $2",
    )
    .bind(method)
    .bind(id_hash)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Stores a TOTP secret being bound during first-logon enrolment.
pub async fn set_pending_totp(conn: &mut Conn, id_hash: &str, sealed: &str) -> Result<()> {
    sqlx::query("UPDATE sessions SET pending_totp_enc = $1 WHERE id_hash = $2")
        .bind(sealed)
        .bind(id_hash)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Records activity.
pub async fn touch(conn: &mut Conn, id_hash: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2 AND last_seen_at < $3")
        .bind(now)
        .bind(id_hash)
        .bind(now - 60)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Deletes one session.
pub async fn delete(conn: &mut Conn, id_hash: &str) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Deletes every session of a user (disabled, deleted, password changed).
pub async fn delete_for_user(conn: &mut Conn, user_id: &str) -> Result<u64> {
    let r = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected())
}

/// Deletes every portal session of a directory (e.g. when the logon method changes).
pub async fn delete_portal_sessions_of_directory(
    conn: &mut Conn,
    directory_id: &str,
) -> Result<u64> {
    let r = sqlx::query("DELETE FROM sessions WHERE directory_id = $1 AND kind = 'portal'")
        .bind(directory_id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected())
}

/// Deletes expired sessions.
pub async fn delete_expired(conn: &mut Conn, now: i64) -> Result<u64> {
    let r = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected())
}
