//! `groups`, `group_members`.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::outbox_enqueue::ObjectType;
use super::{Conn, unique_as};
use crate::error::Result;
use crate::group::Group;

const COLUMNS: &str = "id, instance_id, name, description, external_id, created_at, updated_at";

/// The group columns qualified with table alias `alias` (`g.id, g.instance_id, …`).
pub(crate) fn qualified_columns(alias: &str) -> String {
    COLUMNS
        .split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Decodes a row selected with [`COLUMNS`].
pub(crate) fn from_row(row: &AnyRow) -> Result<Group> {
    Ok(Group {
        id: row.try_get("id")?,
        instance_id: row.try_get("instance_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        external_id: row.try_get("external_id")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Inserts a group (and enqueues it for provisioning).
pub async fn insert(conn: &mut Conn, g: &Group) -> Result<()> {
    sqlx::query(
        "INSERT INTO groups (id, instance_id, name, name_key, description, external_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&g.id)
    .bind(&g.instance_id)
    .bind(&g.name)
    .bind(g.name.to_lowercase())
    .bind(&g.description)
    .bind(&g.external_id)
    .bind(g.created_at)
    .bind(g.updated_at)
    .execute(&mut *conn)
    .await
    .map_err(unique_as("group", "name or external_id"))?;
    super::outbox_enqueue::enqueue(conn, &g.instance_id, ObjectType::Group, &g.id, g.updated_at)
        .await?;
    Ok(())
}

/// The group `id` of `instance_id`.
pub async fn get(conn: &mut Conn, instance_id: &str, id: &str) -> Result<Option<Group>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM groups WHERE instance_id = $1 AND id = $2"
    )))
    .bind(instance_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The group called `name` (case-insensitive).
pub async fn get_by_name(conn: &mut Conn, instance_id: &str, name: &str) -> Result<Option<Group>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM groups WHERE instance_id = $1 AND name_key = $2"
    )))
    .bind(instance_id)
    .bind(name.to_lowercase())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// All groups of an instance, ordered by name.
pub async fn list(conn: &mut Conn, instance_id: &str) -> Result<Vec<Group>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM groups WHERE instance_id = $1 ORDER BY name_key, id"
    )))
    .bind(instance_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Updates name, description and external id (and enqueues the group and its members).
pub async fn update(
    conn: &mut Conn,
    instance_id: &str,
    id: &str,
    name: &str,
    description: &str,
    external_id: Option<&str>,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE groups SET name = $1, name_key = $2, description = $3, external_id = $4, updated_at = $5 \
         WHERE instance_id = $6 AND id = $7",
    )
    .bind(name)
    .bind(name.to_lowercase())
    .bind(description)
    .bind(external_id.map(str::to_owned))
    .bind(now)
    .bind(instance_id)
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(unique_as("group", "name or external_id"))?;
    if r.rows_affected() == 1 {
        // Members see the group's name in `user.groups`, which a mapping may use.
        super::outbox_enqueue::enqueue(conn, instance_id, ObjectType::Group, id, now).await?;
        super::outbox_enqueue::enqueue_members_of_group(conn, instance_id, id, now).await?;
    }
    Ok(r.rows_affected() == 1)
}

/// Deletes a group (memberships by cascade, grants explicitly). The caller enqueues the group and
/// its members for provisioning first ([`crate::group`]'s `delete_group`).
pub async fn delete(conn: &mut Conn, instance_id: &str, id: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM groups WHERE instance_id = $1 AND id = $2")
        .bind(instance_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    if r.rows_affected() == 1 {
        sqlx::query("DELETE FROM app_grants WHERE subject_type = 'group' AND subject_id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(r.rows_affected() == 1)
}

/// Adds a member (no-op if present). Returns whether it was added.
pub async fn add_member(conn: &mut Conn, group_id: &str, user_id: &str, now: i64) -> Result<bool> {
    let exists =
        sqlx::query("SELECT 1 AS x FROM group_members WHERE group_id = $1 AND user_id = $2")
            .bind(group_id)
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await?
            .is_some();
    if exists {
        return Ok(false);
    }
    sqlx::query("INSERT INTO group_members (group_id, user_id, created_at) VALUES ($1, $2, $3)")
        .bind(group_id)
        .bind(user_id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(true)
}

/// Removes a member. Returns whether it was a member.
pub async fn remove_member(conn: &mut Conn, group_id: &str, user_id: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
        .bind(group_id)
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// The groups a user belongs to, ordered by name.
pub async fn groups_of_user(conn: &mut Conn, user_id: &str) -> Result<Vec<Group>> {
    let cols = COLUMNS
        .split(", ")
        .map(|c| format!("g.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {cols} FROM groups g JOIN group_members m ON m.group_id = g.id \
         WHERE m.user_id = $1 ORDER BY g.name_key, g.id"
    )))
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}
