//! `groups` and `group_members`.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Conn, like_escape, unique_as};
use crate::error::{Error, Result};
use crate::group::Group;
use crate::user::ProvisionType;

const COLUMNS: &str = "id, directory_id, name, description, provision_type, created_at, updated_at, \
    external_id, version";

fn from_row(row: &AnyRow) -> Result<Group> {
    Ok(Group {
        id: row.try_get("id")?,
        directory_id: row.try_get("directory_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        provision_type: ProvisionType::parse(&row.try_get::<String, _>("provision_type")?),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        external_id: row.try_get("external_id")?,
        version: row.try_get("version")?,
    })
}

/// Inserts a group.
pub async fn insert(conn: &mut Conn, g: &Group) -> Result<()> {
    sqlx::query(
        "INSERT INTO groups (id, directory_id, name, name_key, description, provision_type, created_at, \
         updated_at, external_id, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&g.id)
    .bind(&g.directory_id)
    .bind(&g.name)
    .bind(g.name.to_lowercase())
    .bind(&g.description)
    .bind(g.provision_type.as_str())
    .bind(g.created_at)
    .bind(g.updated_at)
    .bind(&g.external_id)
    .bind(g.version.max(1))
    .execute(&mut *conn)
    .await
    .map_err(unique_as("group", "name"))?;
    Ok(())
}

/// The group of the directory with this id.
pub async fn get(conn: &mut Conn, directory_id: &str, id: &str) -> Result<Option<Group>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM groups WHERE directory_id = $1 AND id = $2"
    )))
    .bind(directory_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Groups of a directory, optionally filtered by name (`eq` / `sw`), by name.
pub async fn list(
    conn: &mut Conn,
    directory_id: &str,
    filter: Option<(&str, &str)>,
    limit: i64,
    after_name_key: Option<&str>,
) -> Result<Vec<Group>> {
    let mut sql = format!("SELECT {COLUMNS} FROM groups WHERE directory_id = $1");
    let mut binds: Vec<String> = vec![directory_id.to_owned()];
    if let Some((op, value)) = filter {
        let v = value.to_lowercase();
        if op == "eq" {
            binds.push(v);
            sql.push_str(&format!(" AND name_key = ${}", binds.len()));
        } else {
            binds.push(format!("{}%", like_escape(&v)));
            sql.push_str(&format!(" AND name_key LIKE ${} ESCAPE '\\'", binds.len()));
        }
    }
    if let Some(after) = after_name_key {
        binds.push(after.to_owned());
        sql.push_str(&format!(" AND name_key > ${}", binds.len()));
    }
    sql.push_str(&format!(
        " ORDER BY name_key LIMIT {}",
        limit.clamp(1, 1000)
    ));
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for b in binds {
        q = q.bind(b);
    }
    let rows = q.fetch_all(&mut *conn).await?;
    rows.iter().map(from_row).collect()
}

/// Renames / re-describes a group and writes its external id; bumps `version`. Returns the new
/// version.
pub async fn update(conn: &mut Conn, g: &Group) -> Result<i64> {
    update_checked(conn, g, None)
        .await?
        .ok_or(Error::NotFound("group"))
}

/// Like [`update`], but only if the stored `version` is `if_version` (when given): the SCIM
/// `If-Match` rule inside a transaction. `None` = no such group or the version differs.
pub async fn update_checked(
    conn: &mut Conn,
    g: &Group,
    if_version: Option<i64>,
) -> Result<Option<i64>> {
    // A user's SCIM `groups[].display` shows the group name: a rename bumps the members.
    let old_name: Option<String> =
        sqlx::query_scalar("SELECT name FROM groups WHERE id = $1 AND directory_id = $2")
            .bind(&g.id)
            .bind(&g.directory_id)
            .fetch_optional(&mut *conn)
            .await?;
    let row = sqlx::query(
        "UPDATE groups SET name = $1, name_key = $2, description = $3, updated_at = $4, external_id = $5, \
         version = version + 1 \
         WHERE id = $6 AND directory_id = $7 AND ($8 < 0 OR version = $8) RETURNING version",
    )
    .bind(&g.name)
    .bind(g.name.to_lowercase())
    .bind(&g.description)
    .bind(g.updated_at)
    .bind(&g.external_id)
    .bind(&g.id)
    .bind(&g.directory_id)
    .bind(if_version.unwrap_or(-1))
    .fetch_optional(&mut *conn)
    .await
    .map_err(unique_as("group", "name"))?;
    let version = row.map(|r| r.try_get::<i64, _>("version")).transpose()?;
    if version.is_some() && old_name.is_some_and(|n| n != g.name) {
        touch_members(conn, &g.id, g.updated_at).await?;
    }
    Ok(version)
}

/// Bumps the `version` and `updated_at` of every member of a group: a user's SCIM `groups`
/// attribute (read-only) lists its groups, so a membership change or a group rename changes the
/// user's representation and its ETag.
pub async fn touch_members(conn: &mut Conn, group_id: &str, now: i64) -> Result<u64> {
    let r = sqlx::query(
        "UPDATE users SET updated_at = $1, version = version + 1 \
         WHERE id IN (SELECT user_id FROM group_members WHERE group_id = $2)",
    )
    .bind(now)
    .bind(group_id)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected())
}

/// Sets how the group came to be (e.g. a SCIM client adopting a manual group); bumps `version`.
pub async fn set_provision_type(
    conn: &mut Conn,
    group_id: &str,
    provision_type: ProvisionType,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE groups SET provision_type = $1, updated_at = $2, version = version + 1 WHERE id = $3",
    )
    .bind(provision_type.as_str())
    .bind(now)
    .bind(group_id)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Bumps the group's `version` and `updated_at` (its members changed).
pub async fn touch(conn: &mut Conn, group_id: &str, now: i64) -> Result<bool> {
    let r = sqlx::query("UPDATE groups SET updated_at = $1, version = version + 1 WHERE id = $2")
        .bind(now)
        .bind(group_id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Deletes a group.
pub async fn delete(conn: &mut Conn, directory_id: &str, id: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM groups WHERE directory_id = $1 AND id = $2")
        .bind(directory_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Adds a member (no-op if already one); returns whether it was added. An addition bumps the
/// `version` and `updated_at` of the group and of the user (members are part of the SCIM Group,
/// groups part of the SCIM User).
pub async fn add_member(conn: &mut Conn, group_id: &str, user_id: &str, now: i64) -> Result<bool> {
    let added = super::scim::add_member(conn, group_id, user_id, now).await?;
    if added {
        touch(conn, group_id, now).await?;
    }
    Ok(added)
}

/// Removes a member; returns whether it was one. A removal bumps the `version` and `updated_at`
/// of the group and of the user.
pub async fn remove_member(
    conn: &mut Conn,
    group_id: &str,
    user_id: &str,
    now: i64,
) -> Result<bool> {
    let removed = super::scim::remove_member(conn, group_id, user_id, now).await?;
    if removed {
        touch(conn, group_id, now).await?;
    }
    Ok(removed)
}

/// Removes every member of a group (bumping it once if it had any, and each former member);
/// returns how many.
pub async fn remove_all_members(conn: &mut Conn, group_id: &str, now: i64) -> Result<u64> {
    touch_members(conn, group_id, now).await?;
    let r = sqlx::query("DELETE FROM group_members WHERE group_id = $1")
        .bind(group_id)
        .execute(&mut *conn)
        .await?;
    if r.rows_affected() > 0 {
        touch(conn, group_id, now).await?;
    }
    Ok(r.rows_affected())
}

/// Removes a user from all its groups (bumping each of them); returns the group ids.
pub async fn remove_user_from_all(conn: &mut Conn, user_id: &str, now: i64) -> Result<Vec<String>> {
    let groups = group_ids_of_user(conn, user_id).await?;
    for g in &groups {
        remove_member(conn, g, user_id, now).await?;
    }
    Ok(groups)
}

/// Ids of a group's members.
pub async fn member_ids(conn: &mut Conn, group_id: &str) -> Result<Vec<String>> {
    let rows =
        sqlx::query("SELECT user_id FROM group_members WHERE group_id = $1 ORDER BY user_id")
            .bind(group_id)
            .fetch_all(&mut *conn)
            .await?;
    rows.iter().map(|r| Ok(r.try_get("user_id")?)).collect()
}

/// Ids of the groups a user belongs to.
pub async fn group_ids_of_user(conn: &mut Conn, user_id: &str) -> Result<Vec<String>> {
    let rows =
        sqlx::query("SELECT group_id FROM group_members WHERE user_id = $1 ORDER BY group_id")
            .bind(user_id)
            .fetch_all(&mut *conn)
            .await?;
    rows.iter().map(|r| Ok(r.try_get("group_id")?)).collect()
}
