//! `groups` and `group_members`.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Conn, like_escape, unique_as};
use crate::error::Result;
use crate::group::Group;
use crate::user::ProvisionType;

const COLUMNS: &str = "id, directory_id, name, description, provision_type, created_at, updated_at";

fn from_row(row: &AnyRow) -> Result<Group> {
    Ok(Group {
        id: row.try_get("id")?,
        directory_id: row.try_get("directory_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        provision_type: ProvisionType::parse(&row.try_get::<String, _>("provision_type")?),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Inserts a group.
pub async fn insert(conn: &mut Conn, g: &Group) -> Result<()> {
    sqlx::query(
        "INSERT INTO groups (id, directory_id, name, name_key, description, provision_type, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&g.id)
    .bind(&g.directory_id)
    .bind(&g.name)
    .bind(g.name.to_lowercase())
    .bind(&g.description)
    .bind(g.provision_type.as_str())
    .bind(g.created_at)
    .bind(g.updated_at)
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

/// Renames / re-describes a group.
pub async fn update(conn: &mut Conn, g: &Group) -> Result<()> {
    sqlx::query(
        "UPDATE groups SET name = $1, name_key = $2, description = $3, updated_at = $4 WHERE id = $5",
    )
    .bind(&g.name)
    .bind(g.name.to_lowercase())
    .bind(&g.description)
    .bind(g.updated_at)
    .bind(&g.id)
    .execute(&mut *conn)
    .await
    .map_err(unique_as("group", "name"))?;
    Ok(())
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

/// Adds a member (no-op if already one); returns whether it was added.
pub async fn add_member(conn: &mut Conn, group_id: &str, user_id: &str, now: i64) -> Result<bool> {
    let r = sqlx::query(
        "INSERT INTO group_members (group_id, user_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (group_id, user_id) DO NOTHING",
    )
    .bind(group_id)
    .bind(user_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Removes a member; returns whether it was one.
pub async fn remove_member(conn: &mut Conn, group_id: &str, user_id: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
        .bind(group_id)
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
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
