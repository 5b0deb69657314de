//! `org_units`, `user_org_units`.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Conn, unique_as};
use crate::error::{Error, Result};
use crate::org_unit::OrgUnit;

const COLUMNS: &str =
    "id, instance_id, parent_id, name, description, external_id, created_at, updated_at";

fn from_row(row: &AnyRow) -> Result<OrgUnit> {
    Ok(OrgUnit {
        id: row.try_get("id")?,
        instance_id: row.try_get("instance_id")?,
        parent_id: row.try_get("parent_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        external_id: row.try_get("external_id")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// A subquery selecting the ids of unit `{placeholder}` and all units below it.
pub(crate) fn descendants_sql(placeholder: &str) -> String {
    format!(
        "WITH RECURSIVE d(id) AS (SELECT id FROM org_units WHERE id = {placeholder} \
         UNION SELECT o.id FROM org_units o JOIN d ON o.parent_id = d.id) SELECT id FROM d"
    )
}

/// Inserts a unit.
pub async fn insert(conn: &mut Conn, ou: &OrgUnit) -> Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO org_units ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    )))
    .bind(&ou.id)
    .bind(&ou.instance_id)
    .bind(&ou.parent_id)
    .bind(&ou.name)
    .bind(&ou.description)
    .bind(&ou.external_id)
    .bind(ou.created_at)
    .bind(ou.updated_at)
    .execute(&mut *conn)
    .await
    .map_err(unique_as("organizational unit", "name or external_id"))?;
    Ok(())
}

/// The unit `id` of `instance_id`.
pub async fn get(conn: &mut Conn, instance_id: &str, id: &str) -> Result<Option<OrgUnit>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM org_units WHERE instance_id = $1 AND id = $2"
    )))
    .bind(instance_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The child of `parent_id` (`None` = a root) called `name`.
pub async fn find_child(
    conn: &mut Conn,
    instance_id: &str,
    parent_id: Option<&str>,
    name: &str,
) -> Result<Option<OrgUnit>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM org_units WHERE instance_id = $1 AND COALESCE(parent_id, '') = $2 AND name = $3"
    )))
    .bind(instance_id)
    .bind(parent_id.unwrap_or(""))
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// All units of an instance, ordered by name.
pub async fn list(conn: &mut Conn, instance_id: &str) -> Result<Vec<OrgUnit>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM org_units WHERE instance_id = $1 ORDER BY name, id"
    )))
    .bind(instance_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// The direct children of `parent_id` (`None` = roots), ordered by name.
pub async fn children(
    conn: &mut Conn,
    instance_id: &str,
    parent_id: Option<&str>,
) -> Result<Vec<OrgUnit>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM org_units WHERE instance_id = $1 AND COALESCE(parent_id, '') = $2 ORDER BY name, id"
    )))
    .bind(instance_id)
    .bind(parent_id.unwrap_or(""))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// The unit `id` and every unit below it (the unit itself first, then by name).
pub async fn descendants(conn: &mut Conn, instance_id: &str, id: &str) -> Result<Vec<OrgUnit>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM org_units WHERE instance_id = $1 AND id IN ({}) \
         ORDER BY CASE WHEN id = $2 THEN 0 ELSE 1 END, name, id",
        descendants_sql("$2")
    )))
    .bind(instance_id)
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// The ids of unit `id` and all its ancestors (for "a grant on a unit covers everyone below it").
pub async fn ancestor_ids(conn: &mut Conn, id: &str) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "WITH RECURSIVE a(id, parent_id) AS (SELECT id, parent_id FROM org_units WHERE id = $1 \
         UNION SELECT o.id, o.parent_id FROM org_units o JOIN a ON o.id = a.parent_id) SELECT id FROM a",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| r.try_get("id").map_err(Error::from))
        .collect()
}

/// Updates name, description and external id (and enqueues the unit's direct members).
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
        "UPDATE org_units SET name = $1, description = $2, external_id = $3, updated_at = $4 \
         WHERE instance_id = $5 AND id = $6",
    )
    .bind(name)
    .bind(description)
    .bind(external_id.map(str::to_owned))
    .bind(now)
    .bind(instance_id)
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(unique_as("organizational unit", "name or external_id"))?;
    if r.rows_affected() == 1 {
        // Direct members see the unit in `user.organizationalUnits`, which a mapping may use.
        super::outbox_enqueue::enqueue_members_of_org_unit(conn, instance_id, id, now).await?;
    }
    Ok(r.rows_affected() == 1)
}

/// Serializes moves of units of `instance_id` until the end of the caller's transaction.
///
/// Two concurrent moves (A below B, B below A) would each pass the cycle check under READ
/// COMMITTED and together create a cycle. On PostgreSQL the instance row is locked `FOR UPDATE`;
/// on SQLite the write transaction (`BEGIN IMMEDIATE`) already serializes all writers.
pub async fn lock_tree(conn: &mut Conn, instance_id: &str) -> Result<()> {
    if conn.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT id FROM instances WHERE id = $1 FOR UPDATE")
            .bind(instance_id)
            .fetch_optional(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Moves unit `id` below `new_parent` (`None` = make it a root). Refuses cycles. Enqueues every
/// member at or below the unit for provisioning.
///
/// Call inside a write transaction: the tree of the instance is locked ([`lock_tree`]) before the
/// cycle check, so the check sees every move committed before this one.
pub async fn move_to(
    conn: &mut Conn,
    instance_id: &str,
    id: &str,
    new_parent: Option<&str>,
    now: i64,
) -> Result<()> {
    lock_tree(conn, instance_id).await?;
    if let Some(p) = new_parent {
        let below = descendants(conn, instance_id, id).await?;
        if below.iter().any(|o| o.id == p) {
            return Err(Error::OrgUnitCycle);
        }
    }
    sqlx::query(
        "UPDATE org_units SET parent_id = $1, updated_at = $2 WHERE instance_id = $3 AND id = $4",
    )
    .bind(new_parent.map(str::to_owned))
    .bind(now)
    .bind(instance_id)
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(unique_as("organizational unit", "name"))?;
    // Everyone at or below the unit may have entered or left a provisioning scope.
    super::outbox_enqueue::enqueue_members_below_org_unit(conn, instance_id, id, now).await?;
    Ok(())
}

/// Deletes unit `id` if it has neither child units nor members.
pub async fn delete_if_empty(conn: &mut Conn, instance_id: &str, id: &str) -> Result<bool> {
    let children: i64 = sqlx::query("SELECT COUNT(*) AS n FROM org_units WHERE parent_id = $1")
        .bind(id)
        .fetch_one(&mut *conn)
        .await?
        .try_get("n")?;
    let members: i64 = sqlx::query("SELECT COUNT(*) AS n FROM user_org_units WHERE ou_id = $1")
        .bind(id)
        .fetch_one(&mut *conn)
        .await?
        .try_get("n")?;
    if children > 0 || members > 0 {
        return Err(Error::OrgUnitNotEmpty);
    }
    let r = sqlx::query("DELETE FROM org_units WHERE instance_id = $1 AND id = $2")
        .bind(instance_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    if r.rows_affected() == 1 {
        sqlx::query("DELETE FROM app_grants WHERE subject_type = 'org_unit' AND subject_id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(r.rows_affected() == 1)
}

/// Adds a user to a unit (no-op if already a member). Returns whether it was added.
pub async fn add_member(conn: &mut Conn, ou_id: &str, user_id: &str, now: i64) -> Result<bool> {
    let exists = sqlx::query("SELECT 1 AS x FROM user_org_units WHERE user_id = $1 AND ou_id = $2")
        .bind(user_id)
        .bind(ou_id)
        .fetch_optional(&mut *conn)
        .await?
        .is_some();
    if exists {
        return Ok(false);
    }
    sqlx::query("INSERT INTO user_org_units (user_id, ou_id, created_at) VALUES ($1, $2, $3)")
        .bind(user_id)
        .bind(ou_id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(true)
}

/// Removes a user from a unit (and clears it as primary unit).
pub async fn remove_member(conn: &mut Conn, ou_id: &str, user_id: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM user_org_units WHERE user_id = $1 AND ou_id = $2")
        .bind(user_id)
        .bind(ou_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE users SET primary_ou_id = NULL WHERE id = $1 AND primary_ou_id = $2")
        .bind(user_id)
        .bind(ou_id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// The units a user belongs to, ordered by name.
pub async fn units_of_user(conn: &mut Conn, user_id: &str) -> Result<Vec<OrgUnit>> {
    let cols = COLUMNS
        .split(", ")
        .map(|c| format!("o.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {cols} FROM org_units o JOIN user_org_units m ON m.ou_id = o.id \
         WHERE m.user_id = $1 ORDER BY o.name, o.id"
    )))
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}
