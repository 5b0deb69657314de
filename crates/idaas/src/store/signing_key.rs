//! Signing keys (`signing_keys`): sealed private keys, certificates and rotation states.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::Conn;
use crate::error::{Error, Result};
use crate::signing_key::{KeyAlgorithm, KeyState, StoredKey};

const COLUMNS: &str = "id, instance_id, algorithm, private_key_enc, certificate, state, created_at, activated_at, retired_at";

fn from_row(row: &AnyRow) -> Result<StoredKey> {
    let algorithm: String = row.try_get("algorithm")?;
    let state: String = row.try_get("state")?;
    Ok(StoredKey {
        id: row.try_get("id")?,
        instance_id: row.try_get("instance_id")?,
        algorithm: KeyAlgorithm::parse(&algorithm)
            .ok_or_else(|| Error::Corrupt(format!("signing_keys.algorithm = {algorithm:?}")))?,
        private_key_enc: row.try_get("private_key_enc")?,
        certificate: row.try_get("certificate")?,
        state: KeyState::parse(&state)
            .ok_or_else(|| Error::Corrupt(format!("signing_keys.state = {state:?}")))?,
        created_at: row.try_get("created_at")?,
        activated_at: row.try_get("activated_at")?,
        retired_at: row.try_get("retired_at")?,
    })
}

/// Inserts a key.
pub async fn insert(conn: &mut Conn, key: &StoredKey) -> Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO signing_keys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    )))
    .bind(&key.id)
    .bind(&key.instance_id)
    .bind(key.algorithm.as_str())
    .bind(&key.private_key_enc)
    .bind(&key.certificate)
    .bind(key.state.as_str())
    .bind(key.created_at)
    .bind(key.activated_at)
    .bind(key.retired_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Every key of an instance (all states), oldest first.
pub async fn list(conn: &mut Conn, instance_id: &str) -> Result<Vec<StoredKey>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM signing_keys WHERE instance_id = $1 ORDER BY created_at, id"
    )))
    .bind(instance_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Keys of an instance with `algorithm`, oldest first.
pub async fn list_for_algorithm(
    conn: &mut Conn,
    instance_id: &str,
    algorithm: KeyAlgorithm,
) -> Result<Vec<StoredKey>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM signing_keys WHERE instance_id = $1 AND algorithm = $2 ORDER BY created_at, id"
    )))
    .bind(instance_id)
    .bind(algorithm.as_str())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// One key of an instance.
pub async fn get(conn: &mut Conn, instance_id: &str, id: &str) -> Result<Option<StoredKey>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM signing_keys WHERE instance_id = $1 AND id = $2"
    )))
    .bind(instance_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Makes a key `active` (stamping `activated_at`).
pub async fn activate(conn: &mut Conn, instance_id: &str, id: &str, now: i64) -> Result<()> {
    let r = sqlx::query(
        "UPDATE signing_keys SET state = 'active', activated_at = $1, retired_at = NULL WHERE instance_id = $2 AND id = $3",
    )
    .bind(now)
    .bind(instance_id)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    if r.rows_affected() == 0 {
        return Err(Error::NotFound("signing key"));
    }
    Ok(())
}

/// Makes a key `retired` (stamping `retired_at`).
pub async fn retire(conn: &mut Conn, instance_id: &str, id: &str, now: i64) -> Result<()> {
    let r = sqlx::query("UPDATE signing_keys SET state = 'retired', retired_at = $1 WHERE instance_id = $2 AND id = $3")
        .bind(now)
        .bind(instance_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    if r.rows_affected() == 0 {
        return Err(Error::NotFound("signing key"));
    }
    Ok(())
}

/// Deletes a key.
pub async fn delete(conn: &mut Conn, instance_id: &str, id: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM signing_keys WHERE instance_id = $1 AND id = $2")
        .bind(instance_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}
