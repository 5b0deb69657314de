//! Who and what is in an application's provisioning scope.
//!
//! * A **user** is in scope when they are a member of one of the configured org units or of any
//!   unit below one (descendants included), or a member of one of the configured groups. Disabled
//!   users stay in scope (they are pushed with `active: false`); an empty scope holds nobody.
//! * The **groups** pushed are exactly the configured groups (decision: an org-unit scope does not
//!   pull in the groups its users happen to belong to; the admin names the groups to push, as in
//!   the product's "Select Org and Group"). Whether groups are pushed at all is up to the actions
//!   ([`super::config::Actions::groups`]), checked by the engine.
//! * The **members** pushed for a group are its members who are in scope, which for a configured
//!   group is every member (membership puts them in scope).
//!
//! Everything is one SQL statement over the whole instance (a recursive CTE for the unit tree),
//! so a full sync of 10,000 users costs a handful of queries.

use sqlx::Row;

use super::config::ProvisioningConfig;
use crate::error::Result;
use crate::group::Group;
use crate::store::{self, Conn};
use crate::user::User;

/// A SQL subquery selecting the ids of the users in scope, with `$n` placeholders numbered from
/// `first` and the values to bind to them in order; `None` when the scope is empty.
///
/// The instance id is bound too (every object is checked to belong to the instance).
pub(crate) fn scope_user_ids_sql(
    cfg: &ProvisioningConfig,
    first: usize,
) -> Option<(String, Vec<String>)> {
    if cfg.scope.is_empty() {
        return None;
    }
    let mut binds = vec![cfg.instance_id.clone()];
    let inst = format!("${first}");
    let next = |v: &str, binds: &mut Vec<String>| {
        binds.push(v.to_owned());
        format!("${}", first + binds.len() - 1)
    };
    let mut parts = Vec::new();
    if !cfg.scope.org_unit_ids.is_empty() {
        let ph: Vec<String> = cfg
            .scope
            .org_unit_ids
            .iter()
            .map(|id| next(id, &mut binds))
            .collect();
        parts.push(format!(
            "SELECT m.user_id FROM user_org_units m WHERE m.ou_id IN (\
             WITH RECURSIVE d(id) AS (SELECT id FROM org_units WHERE instance_id = {inst} AND id IN ({}) \
             UNION SELECT o.id FROM org_units o JOIN d ON o.parent_id = d.id) SELECT id FROM d)",
            ph.join(", ")
        ));
    }
    if !cfg.scope.group_ids.is_empty() {
        let ph: Vec<String> = cfg
            .scope
            .group_ids
            .iter()
            .map(|id| next(id, &mut binds))
            .collect();
        parts.push(format!(
            "SELECT gm.user_id FROM group_members gm JOIN groups g ON g.id = gm.group_id \
             WHERE g.instance_id = {inst} AND gm.group_id IN ({})",
            ph.join(", ")
        ));
    }
    Some((parts.join(" UNION "), binds))
}

fn query_with(
    sql: String,
    binds: &[String],
) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for b in binds {
        q = q.bind(b.clone());
    }
    q
}

/// Whether user `user_id` (of the configuration's instance) is in scope.
pub async fn user_in_scope(
    conn: &mut Conn,
    cfg: &ProvisioningConfig,
    user_id: &str,
) -> Result<bool> {
    let Some((sub, mut binds)) = scope_user_ids_sql(cfg, 2) else {
        return Ok(false);
    };
    let user_ph = format!("${}", binds.len() + 2);
    binds.insert(0, cfg.instance_id.clone());
    binds.push(user_id.to_owned());
    let row = query_with(
        format!(
            "SELECT 1 AS x FROM users u WHERE u.instance_id = $1 AND u.id = {user_ph} AND u.id IN ({sub})"
        ),
        &binds,
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.is_some())
}

/// Every user in scope, ordered by user name (one query).
pub async fn users_in_scope(conn: &mut Conn, cfg: &ProvisioningConfig) -> Result<Vec<User>> {
    let Some((sub, mut binds)) = scope_user_ids_sql(cfg, 2) else {
        return Ok(Vec::new());
    };
    binds.insert(0, cfg.instance_id.clone());
    let rows = query_with(
        format!(
            "SELECT {} FROM users u WHERE u.instance_id = $1 AND u.id IN ({sub}) \
             ORDER BY u.username_key, u.id",
            store::user::qualified_columns("u")
        ),
        &binds,
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(store::user::from_row).collect()
}

/// The ids of the users in scope (one query; cheaper than [`users_in_scope`]).
pub async fn user_ids_in_scope(conn: &mut Conn, cfg: &ProvisioningConfig) -> Result<Vec<String>> {
    let Some((sub, mut binds)) = scope_user_ids_sql(cfg, 2) else {
        return Ok(Vec::new());
    };
    binds.insert(0, cfg.instance_id.clone());
    let rows = query_with(
        format!("SELECT u.id AS id FROM users u WHERE u.instance_id = $1 AND u.id IN ({sub}) ORDER BY u.id"),
        &binds,
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| r.try_get("id").map_err(Into::into))
        .collect()
}

/// Whether group `group_id` is one of the groups pushed (a configured group).
pub fn group_in_scope(cfg: &ProvisioningConfig, group_id: &str) -> bool {
    cfg.scope.group_ids.iter().any(|g| g == group_id)
}

/// The groups pushed: the configured groups that exist in the instance, ordered by name.
pub async fn groups_in_scope(conn: &mut Conn, cfg: &ProvisioningConfig) -> Result<Vec<Group>> {
    if cfg.scope.group_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut binds = vec![cfg.instance_id.clone()];
    let ph: Vec<String> = cfg
        .scope
        .group_ids
        .iter()
        .map(|id| {
            binds.push(id.clone());
            format!("${}", binds.len())
        })
        .collect();
    let rows = query_with(
        format!(
            "SELECT {} FROM groups g WHERE g.instance_id = $1 AND g.id IN ({}) ORDER BY g.name_key, g.id",
            store::group::qualified_columns("g"),
            ph.join(", ")
        ),
        &binds,
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(store::group::from_row).collect()
}

/// The ids of the members of `group_id` that are pushed as its members (empty unless the group
/// is in scope), ordered by id.
pub async fn group_members_in_scope(
    conn: &mut Conn,
    cfg: &ProvisioningConfig,
    group_id: &str,
) -> Result<Vec<String>> {
    if !group_in_scope(cfg, group_id) {
        return Ok(Vec::new());
    }
    let Some((sub, mut binds)) = scope_user_ids_sql(cfg, 3) else {
        return Ok(Vec::new());
    };
    binds.insert(0, group_id.to_owned());
    binds.insert(0, cfg.instance_id.clone());
    let rows = query_with(
        format!(
            "SELECT gm.user_id AS user_id FROM group_members gm JOIN users u ON u.id = gm.user_id \
             WHERE u.instance_id = $1 AND gm.group_id = $2 AND gm.user_id IN ({sub}) ORDER BY gm.user_id"
        ),
        &binds,
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| r.try_get("user_id").map_err(Into::into))
        .collect()
}

/// Every (group id, user id) pushed as a membership, for all groups in scope (one query), ordered.
pub async fn group_memberships_in_scope(
    conn: &mut Conn,
    cfg: &ProvisioningConfig,
) -> Result<Vec<(String, String)>> {
    if cfg.scope.group_ids.is_empty() {
        return Ok(Vec::new());
    }
    let Some((sub, mut binds)) = scope_user_ids_sql(cfg, 2) else {
        return Ok(Vec::new());
    };
    let mut group_ph = Vec::new();
    for g in &cfg.scope.group_ids {
        binds.push(g.clone());
        group_ph.push(format!("${}", binds.len() + 1));
    }
    binds.insert(0, cfg.instance_id.clone());
    let rows = query_with(
        format!(
            "SELECT gm.group_id AS group_id, gm.user_id AS user_id FROM group_members gm \
             JOIN users u ON u.id = gm.user_id \
             WHERE u.instance_id = $1 AND gm.group_id IN ({}) AND gm.user_id IN ({sub}) \
             ORDER BY gm.group_id, gm.user_id",
            group_ph.join(", ")
        ),
        &binds,
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("group_id")?, r.try_get("user_id")?)))
        .collect()
}
