//! Application accounts (`app_accounts`): the per-user application username of one application.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Conn, unique_as};
use crate::error::Result;

/// A mapping of an IDaaS account to an application username.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct AppAccount {
    /// `aac_…`.
    pub id: String,
    /// Application.
    pub app_id: String,
    /// IDaaS account.
    pub user_id: String,
    /// The user's name in the application.
    pub app_username: String,
    /// Unix seconds.
    pub created_at: i64,
}

fn from_row(row: &AnyRow) -> Result<AppAccount> {
    Ok(AppAccount {
        id: row.try_get("id")?,
        app_id: row.try_get("app_id")?,
        user_id: row.try_get("user_id")?,
        app_username: row.try_get("app_username")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Creates the mapping, or replaces the application username of an existing one.
pub async fn upsert(conn: &mut Conn, account: &AppAccount) -> Result<AppAccount> {
    sqlx::query(
        "INSERT INTO app_accounts (id, app_id, user_id, app_username, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (app_id, user_id) DO UPDATE SET app_username = excluded.app_username",
    )
    .bind(&account.id)
    .bind(&account.app_id)
    .bind(&account.user_id)
    .bind(&account.app_username)
    .bind(account.created_at)
    .execute(&mut *conn)
    .await
    .map_err(unique_as("application account", "user"))?;
    let stored = get(conn, &account.app_id, &account.user_id).await?;
    Ok(stored.unwrap_or_else(|| account.clone()))
}

/// The mapping of `user_id` for `app_id`.
pub async fn get(conn: &mut Conn, app_id: &str, user_id: &str) -> Result<Option<AppAccount>> {
    let row = sqlx::query(
        "SELECT id, app_id, user_id, app_username, created_at FROM app_accounts WHERE app_id = $1 AND user_id = $2",
    )
    .bind(app_id)
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Mappings of an application.
pub async fn list(conn: &mut Conn, app_id: &str) -> Result<Vec<AppAccount>> {
    let rows = sqlx::query(
        "SELECT id, app_id, user_id, app_username, created_at FROM app_accounts WHERE app_id = $1 ORDER BY app_username, id",
    )
    .bind(app_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Removes a mapping by id; `false` when it did not exist.
pub async fn delete(conn: &mut Conn, app_id: &str, id: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM app_accounts WHERE id = $1 AND app_id = $2")
        .bind(id)
        .bind(app_id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}
