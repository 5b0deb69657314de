//! `instances`.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Conn, from_json, to_json};
use crate::error::Result;
use crate::instance::{Instance, InstanceSettings, InstanceStatus};

const COLUMNS: &str = "id, name, status, base_url, settings, created_at, updated_at";

fn from_row(row: &AnyRow) -> Result<Instance> {
    let settings: String = row.try_get("settings")?;
    Ok(Instance {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        status: InstanceStatus::parse(&row.try_get::<String, _>("status")?)?,
        base_url: row.try_get("base_url")?,
        settings: from_json("settings", &settings)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Inserts an instance.
pub async fn insert(conn: &mut Conn, instance: &Instance) -> Result<()> {
    sqlx::query(
        "INSERT INTO instances (id, name, status, base_url, settings, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&instance.id)
    .bind(&instance.name)
    .bind(instance.status.as_str())
    .bind(&instance.base_url)
    .bind(to_json(&instance.settings)?)
    .bind(instance.created_at)
    .bind(instance.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The instance `id`.
pub async fn get(conn: &mut Conn, id: &str) -> Result<Option<Instance>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM instances WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// All instances, oldest first.
pub async fn list(conn: &mut Conn) -> Result<Vec<Instance>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM instances ORDER BY created_at, id"
    )))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Updates name and base URL.
pub async fn update(
    conn: &mut Conn,
    id: &str,
    name: &str,
    base_url: Option<&str>,
    now: i64,
) -> Result<bool> {
    let r =
        sqlx::query("UPDATE instances SET name = $1, base_url = $2, updated_at = $3 WHERE id = $4")
            .bind(name)
            .bind(base_url.map(str::to_owned))
            .bind(now)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    Ok(r.rows_affected() == 1)
}

/// Replaces the settings.
pub async fn set_settings(
    conn: &mut Conn,
    id: &str,
    settings: &InstanceSettings,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query("UPDATE instances SET settings = $1, updated_at = $2 WHERE id = $3")
        .bind(to_json(settings)?)
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Deletes an instance and (by cascade) everything in it.
pub async fn delete(conn: &mut Conn, id: &str) -> Result<bool> {
    // Grants have no foreign key to their subject; they go with their applications.
    let r = sqlx::query("DELETE FROM instances WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Number of instances.
pub async fn count(conn: &mut Conn) -> Result<i64> {
    Ok(sqlx::query("SELECT COUNT(*) AS n FROM instances")
        .fetch_one(&mut *conn)
        .await?
        .try_get("n")?)
}
