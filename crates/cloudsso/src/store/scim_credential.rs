//! `scim_credentials` and the directory's SCIM switch as the SCIM server reads it.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Conn, unique_as};
use crate::error::{Error, Result};
use crate::scim_credential::{ScimCredential, ScimCredentialStatus, ScimCredentialType};

const COLUMNS: &str = "id, directory_id, status, created_at, expires_at, last_used_at";

fn from_row(row: &AnyRow) -> Result<ScimCredential> {
    let status: String = row.try_get("status")?;
    Ok(ScimCredential {
        credential_id: row.try_get("id")?,
        directory_id: row.try_get("directory_id")?,
        credential_type: ScimCredentialType::BearerToken,
        status: ScimCredentialStatus::parse(&status)
            .ok_or_else(|| Error::Corrupt(format!("scim credential status {status:?}")))?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

/// Inserts a credential with the SHA-256 (hex) of its secret.
pub async fn insert(conn: &mut Conn, c: &ScimCredential, secret_hash: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO scim_credentials (id, directory_id, secret_hash, status, created_at, expires_at, \
         last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&c.credential_id)
    .bind(&c.directory_id)
    .bind(secret_hash)
    .bind(c.status.as_str())
    .bind(c.created_at)
    .bind(c.expires_at)
    .bind(c.last_used_at)
    .execute(&mut *conn)
    .await
    .map_err(unique_as("scim credential", "secret"))?;
    Ok(())
}

/// The credentials of a directory, oldest first.
pub async fn list(conn: &mut Conn, directory_id: &str) -> Result<Vec<ScimCredential>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM scim_credentials WHERE directory_id = $1 ORDER BY created_at, id"
    )))
    .bind(directory_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// How many credentials the directory has.
pub async fn count(conn: &mut Conn, directory_id: &str) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM scim_credentials WHERE directory_id = $1")
            .bind(directory_id)
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// The credential of the directory with this id.
pub async fn get(conn: &mut Conn, directory_id: &str, id: &str) -> Result<Option<ScimCredential>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM scim_credentials WHERE directory_id = $1 AND id = $2"
    )))
    .bind(directory_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// A credential found by its secret hash, with what authentication must check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialMatch {
    /// The credential.
    pub credential: ScimCredential,
    /// The stored hash (compared again in constant time by the caller).
    pub secret_hash: String,
    /// Whether the directory's SCIM switch is on.
    pub scim_enabled: bool,
}

/// The credential whose secret hashes to `secret_hash` (whatever its status or expiry), with its
/// directory's SCIM switch.
pub async fn find_by_hash(conn: &mut Conn, secret_hash: &str) -> Result<Option<CredentialMatch>> {
    let row = sqlx::query(
        "SELECT c.id, c.directory_id, c.status, c.created_at, c.expires_at, c.last_used_at, \
         c.secret_hash, d.scim_enabled FROM scim_credentials c \
         JOIN directories d ON d.id = c.directory_id WHERE c.secret_hash = $1",
    )
    .bind(secret_hash)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        Ok(CredentialMatch {
            credential: from_row(&r)?,
            secret_hash: r.try_get("secret_hash")?,
            scim_enabled: r.try_get::<i64, _>("scim_enabled")? != 0,
        })
    })
    .transpose()
}

/// Sets the status; returns whether the credential exists in the directory.
pub async fn set_status(
    conn: &mut Conn,
    directory_id: &str,
    id: &str,
    status: ScimCredentialStatus,
) -> Result<bool> {
    let r =
        sqlx::query("UPDATE scim_credentials SET status = $1 WHERE directory_id = $2 AND id = $3")
            .bind(status.as_str())
            .bind(directory_id)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    Ok(r.rows_affected() > 0)
}

/// Sets the expiry (administrative repair and tests).
pub async fn set_expires_at(conn: &mut Conn, id: &str, expires_at: i64) -> Result<bool> {
    let r = sqlx::query("UPDATE scim_credentials SET expires_at = $1 WHERE id = $2")
        .bind(expires_at)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Deletes a credential of the directory; returns whether it existed.
pub async fn delete(conn: &mut Conn, directory_id: &str, id: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM scim_credentials WHERE directory_id = $1 AND id = $2")
        .bind(directory_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Records a use, written at most once a minute per credential (no write amplification from a
/// busy SCIM client). Returns whether it was written.
pub async fn touch(conn: &mut Conn, id: &str, now: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE scim_credentials SET last_used_at = $1 \
         WHERE id = $2 AND (last_used_at IS NULL OR last_used_at <= $3)",
    )
    .bind(now)
    .bind(id)
    .bind(now - 60)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() > 0)
}
