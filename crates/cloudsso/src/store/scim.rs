//! The SCIM server's SQL (issue 4): users and groups with their SCIM-only columns (`external_id`,
//! `scim_extra`, `email_type`, `version`), filtered lists built from [`crate::scim::filter_sql`],
//! memberships, and the bearer-credential lookup. Every function takes the caller's connection or
//! transaction so that one SCIM request is one transaction.

use std::collections::HashMap;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::Conn;
use crate::error::{Error, Result};
use crate::user::{ProvisionType, UserStatus};

/// A bind value of a dynamically built query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bind {
    /// A text parameter.
    Text(String),
    /// An integer parameter.
    Int(i64),
}

/// A `WHERE` fragment with its parameters (placeholders numbered from the caller's offset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SqlWhere {
    /// The SQL condition (`1=1` when there is no filter).
    pub sql: String,
    /// Its parameters, in placeholder order.
    pub binds: Vec<Bind>,
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    binds: &'q [Bind],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    for b in binds {
        q = match b {
            Bind::Text(s) => q.bind(s.as_str()),
            Bind::Int(i) => q.bind(*i),
        };
    }
    q
}

/// One of the SCIM resource tables ([`USERS`], [`GROUPS`]): its name, qualified columns and row
/// mapping.
#[derive(Debug)]
pub struct Table<T> {
    /// `users` or `groups`.
    name: &'static str,
    /// The qualified columns read into `T`.
    columns: &'static str,
    /// Reads one row.
    from_row: fn(&AnyRow) -> Result<T>,
}

impl<T> Table<T> {
    /// The row of the directory with this id.
    pub async fn get(&self, conn: &mut Conn, directory_id: &str, id: &str) -> Result<Option<T>> {
        let (name, columns) = (self.name, self.columns);
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {columns} FROM {name} WHERE {name}.directory_id = $1 AND {name}.id = $2"
        )))
        .bind(directory_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        row.as_ref().map(self.from_row).transpose()
    }

    /// Deletes the row of the directory with this id; returns whether there was one (a user's
    /// memberships and sessions cascade; callers remove them first to bump the groups).
    pub async fn delete(&self, conn: &mut Conn, directory_id: &str, id: &str) -> Result<bool> {
        let sql = format!(
            "DELETE FROM {} WHERE directory_id = $1 AND id = $2",
            self.name
        );
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(directory_id)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Rows of a directory matching `filter` (placeholders from `$2`), ordered, paged.
    pub async fn list(
        &self,
        conn: &mut Conn,
        directory_id: &str,
        filter: &SqlWhere,
        order_by: &str,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<T>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (name, columns) = (self.name, self.columns);
        let sql = format!(
            "SELECT {columns} FROM {name} WHERE {name}.directory_id = $1 AND ({}) ORDER BY {order_by} \
             LIMIT {} OFFSET {}",
            filter.sql,
            limit.min(10_000),
            offset
        );
        let q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(directory_id);
        let rows = bind_all(q, &filter.binds).fetch_all(&mut *conn).await?;
        rows.iter().map(self.from_row).collect()
    }

    /// How many rows of a directory match `filter`.
    pub async fn count(
        &self,
        conn: &mut Conn,
        directory_id: &str,
        filter: &SqlWhere,
    ) -> Result<u64> {
        let name = self.name;
        let sql = format!(
            "SELECT COUNT(*) AS n FROM {name} WHERE {name}.directory_id = $1 AND ({})",
            filter.sql
        );
        let q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(directory_id);
        let row = bind_all(q, &filter.binds).fetch_one(&mut *conn).await?;
        Ok(u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0))
    }

    /// The rows of a directory with these ids (any order).
    pub async fn by_ids(
        &self,
        conn: &mut Conn,
        directory_id: &str,
        ids: &[String],
    ) -> Result<Vec<T>> {
        let (name, columns) = (self.name, self.columns);
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT {columns} FROM {name} WHERE {name}.directory_id = $1 AND {name}.id IN ({})",
                placeholders(2, chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(directory_id);
            for id in chunk {
                q = q.bind(id.as_str());
            }
            for row in q.fetch_all(&mut *conn).await? {
                out.push((self.from_row)(&row)?);
            }
        }
        Ok(out)
    }
}

/// The SCIM users.
pub const USERS: Table<ScimUserRow> = Table {
    name: "users",
    columns: USER_COLUMNS,
    from_row: user_from_row,
};

/// The SCIM groups.
pub const GROUPS: Table<ScimGroupRow> = Table {
    name: "groups",
    columns: GROUP_COLUMNS,
    from_row: group_from_row,
};

/// A user as the SCIM server reads and writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimUserRow {
    /// `u-…`
    pub id: String,
    /// The directory.
    pub directory_id: String,
    /// The user name as given.
    pub user_name: String,
    /// Display name (`""` = none).
    pub display_name: String,
    /// The mapped e-mail (the primary or first entry of `emails`).
    pub email: Option<String>,
    /// The SCIM `type` of that e-mail.
    pub email_type: Option<String>,
    /// `name.givenName`.
    pub first_name: String,
    /// `name.familyName`.
    pub last_name: String,
    /// `active`.
    pub status: UserStatus,
    /// Manual or Synchronized.
    pub provision_type: ProvisionType,
    /// `externalId`.
    pub external_id: Option<String>,
    /// Every other SCIM attribute, as a JSON object.
    pub extra: serde_json::Value,
    /// The ETag version.
    pub version: i64,
    /// Creation time (unix seconds).
    pub created_at: i64,
    /// Last change (unix seconds).
    pub updated_at: i64,
}

/// The user columns, qualified (for queries that join).
pub const USER_COLUMNS: &str = "users.id, users.directory_id, users.user_name, users.display_name, \
    users.email, users.email_type, users.first_name, users.last_name, users.status, users.provision_type, \
    users.external_id, users.scim_extra, users.version, users.created_at, users.updated_at";

fn user_from_row(row: &AnyRow) -> Result<ScimUserRow> {
    let status: String = row.try_get("status")?;
    let extra: String = row.try_get("scim_extra")?;
    Ok(ScimUserRow {
        id: row.try_get("id")?,
        directory_id: row.try_get("directory_id")?,
        user_name: row.try_get("user_name")?,
        display_name: row.try_get("display_name")?,
        email: row.try_get("email")?,
        email_type: row.try_get("email_type")?,
        first_name: row.try_get("first_name")?,
        last_name: row.try_get("last_name")?,
        status: UserStatus::parse(&status)
            .ok_or_else(|| Error::Corrupt(format!("user status {status:?}")))?,
        provision_type: ProvisionType::parse(&row.try_get::<String, _>("provision_type")?),
        external_id: row.try_get("external_id")?,
        extra: super::from_json("scim_extra", &extra)?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn user_unique_error(e: sqlx::Error) -> Error {
    if db::is_unique_violation(&e) {
        let text = e.to_string();
        let field = if text.contains("email") {
            "email"
        } else {
            "user_name"
        };
        Error::AlreadyExists {
            entity: "user",
            field,
        }
    } else {
        Error::Db(e)
    }
}

/// Inserts a user created over SCIM (no password; `provision_type` as given).
pub async fn insert_user(conn: &mut Conn, u: &ScimUserRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO users (id, directory_id, user_name, user_name_key, display_name, email, email_key, \
         email_type, first_name, last_name, description, status, provision_type, mfa_required, external_id, \
         scim_extra, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, '', $11, $12, 0, $13, $14, $15, $16, $17)",
    )
    .bind(&u.id)
    .bind(&u.directory_id)
    .bind(&u.user_name)
    .bind(u.user_name.to_lowercase())
    .bind(&u.display_name)
    .bind(&u.email)
    .bind(u.email.as_ref().map(|e| e.to_lowercase()))
    .bind(&u.email_type)
    .bind(&u.first_name)
    .bind(&u.last_name)
    .bind(u.status.as_str())
    .bind(u.provision_type.as_str())
    .bind(&u.external_id)
    .bind(super::to_json(&u.extra)?)
    .bind(u.version.max(1))
    .bind(u.created_at)
    .bind(u.updated_at)
    .execute(&mut *conn)
    .await
    .map_err(user_unique_error)?;
    Ok(())
}

/// Writes every SCIM-managed column of a user (the user name only changes in case: its key is
/// unchanged), bumps `version` and returns the new one.
pub async fn update_user(conn: &mut Conn, u: &ScimUserRow) -> Result<i64> {
    let row = sqlx::query(
        "UPDATE users SET user_name = $1, display_name = $2, email = $3, email_key = $4, email_type = $5, \
         first_name = $6, last_name = $7, status = $8, provision_type = $9, external_id = $10, \
         scim_extra = $11, updated_at = $12, version = version + 1 \
         WHERE id = $13 AND directory_id = $14 AND user_name_key = $15 RETURNING version",
    )
    .bind(&u.user_name)
    .bind(&u.display_name)
    .bind(&u.email)
    .bind(u.email.as_ref().map(|e| e.to_lowercase()))
    .bind(&u.email_type)
    .bind(&u.first_name)
    .bind(&u.last_name)
    .bind(u.status.as_str())
    .bind(u.provision_type.as_str())
    .bind(&u.external_id)
    .bind(super::to_json(&u.extra)?)
    .bind(u.updated_at)
    .bind(&u.id)
    .bind(&u.directory_id)
    .bind(u.user_name.to_lowercase())
    .fetch_optional(&mut *conn)
    .await
    .map_err(user_unique_error)?;
    let row = row.ok_or(Error::NotFound("user"))?;
    Ok(row.try_get::<i64, _>("version")?)
}

/// A group as the SCIM server reads and writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimGroupRow {
    /// `g-…`
    pub id: String,
    /// The directory.
    pub directory_id: String,
    /// The name (`displayName`).
    pub name: String,
    /// Manual or Synchronized.
    pub provision_type: ProvisionType,
    /// `externalId`.
    pub external_id: Option<String>,
    /// The ETag version.
    pub version: i64,
    /// Creation time.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
}

/// The group columns, qualified.
pub const GROUP_COLUMNS: &str = "groups.id, groups.directory_id, groups.name, groups.provision_type, \
    groups.external_id, groups.version, groups.created_at, groups.updated_at";

fn group_from_row(row: &AnyRow) -> Result<ScimGroupRow> {
    Ok(ScimGroupRow {
        id: row.try_get("id")?,
        directory_id: row.try_get("directory_id")?,
        name: row.try_get("name")?,
        provision_type: ProvisionType::parse(&row.try_get::<String, _>("provision_type")?),
        external_id: row.try_get("external_id")?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn group_unique_error(e: sqlx::Error) -> Error {
    if db::is_unique_violation(&e) {
        Error::AlreadyExists {
            entity: "group",
            field: "name",
        }
    } else {
        Error::Db(e)
    }
}

/// Inserts a group created over SCIM.
pub async fn insert_group(conn: &mut Conn, g: &ScimGroupRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO groups (id, directory_id, name, name_key, description, provision_type, external_id, \
         version, created_at, updated_at) VALUES ($1, $2, $3, $4, '', $5, $6, $7, $8, $9)",
    )
    .bind(&g.id)
    .bind(&g.directory_id)
    .bind(&g.name)
    .bind(g.name.to_lowercase())
    .bind(g.provision_type.as_str())
    .bind(&g.external_id)
    .bind(g.version.max(1))
    .bind(g.created_at)
    .bind(g.updated_at)
    .execute(&mut *conn)
    .await
    .map_err(group_unique_error)?;
    Ok(())
}

/// Writes a group's name, external id and provision type; bumps `version` and returns the new one.
pub async fn update_group(conn: &mut Conn, g: &ScimGroupRow) -> Result<i64> {
    let row = sqlx::query(
        "UPDATE groups SET name = $1, name_key = $2, provision_type = $3, external_id = $4, updated_at = $5, \
         version = version + 1 WHERE id = $6 AND directory_id = $7 RETURNING version",
    )
    .bind(&g.name)
    .bind(g.name.to_lowercase())
    .bind(g.provision_type.as_str())
    .bind(&g.external_id)
    .bind(g.updated_at)
    .bind(&g.id)
    .bind(&g.directory_id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(group_unique_error)?;
    let row = row.ok_or(Error::NotFound("group"))?;
    Ok(row.try_get::<i64, _>("version")?)
}

/// Bumps the version and last-change time of groups whose members changed.
pub async fn touch_groups(conn: &mut Conn, group_ids: &[String], now: i64) -> Result<()> {
    for g in group_ids {
        sqlx::query("UPDATE groups SET updated_at = $1, version = version + 1 WHERE id = $2")
            .bind(now)
            .bind(g)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// A member of a group, with what the SCIM `members[].display` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRef {
    /// The other side's id (user id for members, group id for a user's groups).
    pub id: String,
    /// Display text (display name, else user name; the group name).
    pub display: String,
}

fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The members of each of `group_ids` (users only), ordered by user id.
pub async fn members_of_groups(
    conn: &mut Conn,
    group_ids: &[String],
) -> Result<HashMap<String, Vec<MemberRef>>> {
    let mut out: HashMap<String, Vec<MemberRef>> = HashMap::new();
    for chunk in group_ids.chunks(500) {
        let sql = format!(
            "SELECT gm.group_id, u.id, u.user_name, u.display_name FROM group_members gm \
             JOIN users u ON u.id = gm.user_id WHERE gm.group_id IN ({}) ORDER BY gm.group_id, u.id",
            placeholders(1, chunk.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for g in chunk {
            q = q.bind(g.as_str());
        }
        for row in q.fetch_all(&mut *conn).await? {
            let display: String = row.try_get("display_name")?;
            let display = if display.is_empty() {
                row.try_get("user_name")?
            } else {
                display
            };
            out.entry(row.try_get("group_id")?)
                .or_default()
                .push(MemberRef {
                    id: row.try_get("id")?,
                    display,
                });
        }
    }
    Ok(out)
}

/// The groups of each of `user_ids`, ordered by group id.
pub async fn groups_of_users(
    conn: &mut Conn,
    user_ids: &[String],
) -> Result<HashMap<String, Vec<MemberRef>>> {
    let mut out: HashMap<String, Vec<MemberRef>> = HashMap::new();
    for chunk in user_ids.chunks(500) {
        let sql = format!(
            "SELECT gm.user_id, g.id, g.name FROM group_members gm JOIN groups g ON g.id = gm.group_id \
             WHERE gm.user_id IN ({}) ORDER BY gm.user_id, g.id",
            placeholders(1, chunk.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for u in chunk {
            q = q.bind(u.as_str());
        }
        for row in q.fetch_all(&mut *conn).await? {
            out.entry(row.try_get("user_id")?)
                .or_default()
                .push(MemberRef {
                    id: row.try_get("id")?,
                    display: row.try_get("name")?,
                });
        }
    }
    Ok(out)
}

/// Which of `ids` are users of the directory.
pub async fn existing_user_ids(
    conn: &mut Conn,
    directory_id: &str,
    ids: &[String],
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT id FROM users WHERE directory_id = $1 AND id IN ({})",
            placeholders(2, chunk.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(directory_id);
        for id in chunk {
            q = q.bind(id.as_str());
        }
        for row in q.fetch_all(&mut *conn).await? {
            out.push(row.try_get("id")?);
        }
    }
    Ok(out)
}

/// Adds a member (no-op if already one); returns whether it was added. An addition bumps the
/// user's `version` and `updated_at` (its read-only `groups` changed); the caller bumps the group.
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
    let added = r.rows_affected() > 0;
    if added {
        super::user::touch(conn, user_id, now).await?;
    }
    Ok(added)
}

/// Removes a member; returns whether it was one. A removal bumps the user's `version` and
/// `updated_at`; the caller bumps the group.
pub async fn remove_member(
    conn: &mut Conn,
    group_id: &str,
    user_id: &str,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
        .bind(group_id)
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    let removed = r.rows_affected() > 0;
    if removed {
        super::user::touch(conn, user_id, now).await?;
    }
    Ok(removed)
}

/// Removes a user from every group; returns the group ids.
pub async fn remove_user_from_groups(conn: &mut Conn, user_id: &str) -> Result<Vec<String>> {
    let rows =
        sqlx::query("SELECT group_id FROM group_members WHERE user_id = $1 ORDER BY group_id")
            .bind(user_id)
            .fetch_all(&mut *conn)
            .await?;
    let ids = rows
        .iter()
        .map(|r| r.try_get::<String, _>("group_id"))
        .collect::<Result<Vec<_>, _>>()?;
    sqlx::query("DELETE FROM group_members WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    Ok(ids)
}

/// Removes every member of a group (bumping each former member's `version` and `updated_at`);
/// returns the user ids.
pub async fn remove_all_members(conn: &mut Conn, group_id: &str, now: i64) -> Result<Vec<String>> {
    super::group::touch_members(conn, group_id, now).await?;
    let rows =
        sqlx::query("SELECT user_id FROM group_members WHERE group_id = $1 ORDER BY user_id")
            .bind(group_id)
            .fetch_all(&mut *conn)
            .await?;
    let ids = rows
        .iter()
        .map(|r| r.try_get::<String, _>("user_id"))
        .collect::<Result<Vec<_>, _>>()?;
    sqlx::query("DELETE FROM group_members WHERE group_id = $1")
        .bind(group_id)
        .execute(&mut *conn)
        .await?;
    Ok(ids)
}

/// One side of a search across resource types: its filter and its sort columns.
#[derive(Debug, Clone, Copy)]
pub struct SearchSide<'a> {
    /// The filter (placeholders numbered after `$1`, the directory, and after the other side's).
    pub filter: &'a SqlWhere,
    /// SQL: 0 when the resource has a value for `sortBy`, else 1 (`"0"` when unsorted).
    pub sort_absent: &'a str,
    /// SQL: the `sortBy` value (`"NULL"` when unsorted or the type has no such attribute).
    pub sort_value: &'a str,
}

/// A page of the users and groups of a directory matching their filters, ordered by
/// `order_by` over the columns `t.r` (0 = user, 1 = group), `t.p` (sort_absent), `t.k`
/// (sort_value), `t.c` (created_at) and `t.id`. Returns `(is_user, id)` in order.
pub async fn search_users_and_groups(
    conn: &mut Conn,
    directory_id: &str,
    users: SearchSide<'_>,
    groups: SearchSide<'_>,
    order_by: &str,
    offset: u64,
    limit: u64,
) -> Result<Vec<(bool, String)>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT t.r, t.id FROM (\
         SELECT CAST(0 AS BIGINT) AS r, users.id AS id, {} AS p, {} AS k, users.created_at AS c FROM users \
         WHERE users.directory_id = $1 AND ({}) \
         UNION ALL \
         SELECT CAST(1 AS BIGINT) AS r, groups.id AS id, {} AS p, {} AS k, groups.created_at AS c FROM groups \
         WHERE groups.directory_id = $1 AND ({})\
         ) t ORDER BY {order_by} LIMIT {} OFFSET {}",
        users.sort_absent,
        users.sort_value,
        users.filter.sql,
        groups.sort_absent,
        groups.sort_value,
        groups.filter.sql,
        limit.min(10_000),
        offset
    );
    let q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(directory_id);
    let q = bind_all(q, &users.filter.binds);
    let rows = bind_all(q, &groups.filter.binds)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|row| {
            let r: i64 = row.try_get("r")?;
            Ok((r == 0, row.try_get("id")?))
        })
        .collect()
}
