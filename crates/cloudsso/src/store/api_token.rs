//! `api_tokens`.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Conn, unique_as};
use crate::api_token::ApiToken;
use crate::error::Result;

const COLUMNS: &str = "id, directory_id, name, created_at, last_used_at, expires_at";

fn from_row(row: &AnyRow) -> Result<ApiToken> {
    Ok(ApiToken {
        id: row.try_get("id")?,
        directory_id: row.try_get("directory_id")?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

/// Inserts a token with the hash of its secret.
pub async fn insert(conn: &mut Conn, token: &ApiToken, token_hash: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO api_tokens (id, directory_id, name, token_hash, created_at, last_used_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, NULL, $6)",
    )
    .bind(&token.id)
    .bind(&token.directory_id)
    .bind(&token.name)
    .bind(token_hash)
    .bind(token.created_at)
    .bind(token.expires_at)
    .execute(&mut *conn)
    .await
    .map_err(unique_as("api token", "secret"))?;
    Ok(())
}

/// The unexpired token with this secret hash.
pub async fn find_valid(conn: &mut Conn, token_hash: &str, now: i64) -> Result<Option<ApiToken>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM api_tokens WHERE token_hash = $1 AND (expires_at IS NULL OR expires_at > $2)"
    )))
    .bind(token_hash)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The unexpired token with this id.
pub async fn get_valid(conn: &mut Conn, id: &str, now: i64) -> Result<Option<ApiToken>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM api_tokens WHERE id = $1 AND (expires_at IS NULL OR expires_at > $2)"
    )))
    .bind(id)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Records a use (written at most once a minute per token).
pub async fn touch(conn: &mut Conn, id: &str, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)",
    )
    .bind(now)
    .bind(id)
    .bind(now - 60)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Tokens of a directory (`Some`) or the platform tokens (`None`), oldest first.
pub async fn list(conn: &mut Conn, directory_id: Option<&str>) -> Result<Vec<ApiToken>> {
    let rows = match directory_id {
        Some(d) => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM api_tokens WHERE directory_id = $1 ORDER BY created_at, id"
            )))
            .bind(d)
            .fetch_all(&mut *conn)
            .await?
        }
        None => sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM api_tokens WHERE directory_id IS NULL ORDER BY created_at, id"
        )))
        .fetch_all(&mut *conn)
        .await?,
    };
    rows.iter().map(from_row).collect()
}

/// Deletes a token of the scope; returns whether it existed.
pub async fn delete(conn: &mut Conn, directory_id: Option<&str>, id: &str) -> Result<bool> {
    let r = match directory_id {
        Some(d) => {
            sqlx::query("DELETE FROM api_tokens WHERE id = $1 AND directory_id = $2")
                .bind(id)
                .bind(d)
                .execute(&mut *conn)
                .await?
        }
        None => {
            sqlx::query("DELETE FROM api_tokens WHERE id = $1 AND directory_id IS NULL")
                .bind(id)
                .execute(&mut *conn)
                .await?
        }
    };
    Ok(r.rows_affected() > 0)
}
