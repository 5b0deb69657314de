//! Writing `provisioning_outbox` rows from the write paths of users, groups, memberships and org
//! units, inside the caller's transaction (the change and its outbox entry commit together).
//!
//! Delivery is state-based: a row says "push the current state of this object to this application";
//! it carries no payload. Each function upserts one row per (enabled provisioning application of
//! the instance, object) in ONE statement; an existing row gets `change_seq + 1` and is made due
//! again (`state = 'pending'`, `attempts = 0`), which also revives a dead-lettered entry. The worker
//! deletes a row only if `change_seq` is unchanged since it read it (see [`super::outbox`]).
//!
//! What enqueues (and what must not): profile and status changes, creation and deletion of users
//! and groups, group and org-unit memberships, org-unit moves and renames, application accounts.
//! Sign-in counters, lockouts, passwords and MFA never enqueue.

use super::Conn;
use crate::error::Result;
use crate::provisioning::config::ProvisioningConfig;

/// The kind of object an outbox row is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectType {
    /// A user (`users.id`).
    User,
    /// A group (`groups.id`).
    Group,
}

impl ObjectType {
    /// The `object_type` column text.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectType::User => "user",
            ObjectType::Group => "group",
        }
    }

    /// Parses the column text.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "user" => Some(ObjectType::User),
            "group" => Some(ObjectType::Group),
            _ => None,
        }
    }
}

const INSERT: &str = "INSERT INTO provisioning_outbox (app_id, object_type, object_id, change_seq, state, \
     attempts, next_attempt_at, created_at, updated_at) ";

/// The upsert tail (portable between SQLite and PostgreSQL). The SELECT before it always has a
/// WHERE clause (SQLite's parser needs one before ON CONFLICT).
const UPSERT: &str = " ON CONFLICT (app_id, object_type, object_id) DO UPDATE SET \
     change_seq = provisioning_outbox.change_seq + 1, state = 'pending', attempts = 0, \
     next_attempt_at = excluded.next_attempt_at, updated_at = excluded.updated_at";

/// Enqueues object `object_id` for every enabled provisioning application of `instance_id`.
/// Returns the number of rows written (0 when no application provisions).
pub async fn enqueue(
    conn: &mut Conn,
    instance_id: &str,
    object_type: ObjectType,
    object_id: &str,
    now: i64,
) -> Result<u64> {
    enqueue_where(
        conn,
        "c.instance_id",
        instance_id,
        object_type,
        object_id,
        now,
    )
    .await
}

/// Enqueues object `object_id` for application `app_id` only, if its provisioning is enabled.
pub async fn enqueue_for_app(
    conn: &mut Conn,
    app_id: &str,
    object_type: ObjectType,
    object_id: &str,
    now: i64,
) -> Result<u64> {
    enqueue_where(conn, "c.app_id", app_id, object_type, object_id, now).await
}

/// Enqueues object `object_id` for every enabled provisioning configuration whose `column`
/// (`c.instance_id` or `c.app_id`) is `key`.
async fn enqueue_where(
    conn: &mut Conn,
    column: &'static str,
    key: &str,
    object_type: ObjectType,
    object_id: &str,
    now: i64,
) -> Result<u64> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{INSERT}SELECT c.app_id, $2, $3, 1, 'pending', 0, $4, $4, $4 FROM provisioning_configs c \
         WHERE {column} = $1 AND c.enabled = 1{UPSERT}"
    )))
    .bind(key)
    .bind(object_type.as_str())
    .bind(object_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected())
}

/// Enqueues every object selected by `sub` (a subquery with an `id` column and placeholders from
/// `$4`, bound to `binds`) for every enabled provisioning application of `instance_id`.
async fn enqueue_selected(
    conn: &mut Conn,
    instance_id: &str,
    object_type: ObjectType,
    sub: &str,
    binds: &[&str],
    now: i64,
) -> Result<u64> {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{INSERT}SELECT c.app_id, $2, x.id, 1, 'pending', 0, $3, $3, $3 FROM provisioning_configs c \
         CROSS JOIN (SELECT DISTINCT s.id AS id FROM ({sub}) s) x \
         WHERE c.instance_id = $1 AND c.enabled = 1{UPSERT}"
    )))
    .bind(instance_id)
    .bind(object_type.as_str())
    .bind(now);
    for b in binds {
        q = q.bind((*b).to_owned());
    }
    Ok(q.execute(&mut *conn).await?.rows_affected())
}

/// Enqueues the groups `user_id` belongs to (their member lists change with the user).
pub async fn enqueue_groups_of_user(
    conn: &mut Conn,
    instance_id: &str,
    user_id: &str,
    now: i64,
) -> Result<u64> {
    enqueue_selected(
        conn,
        instance_id,
        ObjectType::Group,
        "SELECT gm.group_id AS id FROM group_members gm WHERE gm.user_id = $4",
        &[user_id],
        now,
    )
    .await
}

/// Enqueues the members of `group_id` (their scope or `user.groups` may change with the group).
pub async fn enqueue_members_of_group(
    conn: &mut Conn,
    instance_id: &str,
    group_id: &str,
    now: i64,
) -> Result<u64> {
    enqueue_selected(
        conn,
        instance_id,
        ObjectType::User,
        "SELECT gm.user_id AS id FROM group_members gm WHERE gm.group_id = $4",
        &[group_id],
        now,
    )
    .await
}

/// Enqueues the direct members of org unit `ou_id` (their `user.organizationalUnits` changed).
pub async fn enqueue_members_of_org_unit(
    conn: &mut Conn,
    instance_id: &str,
    ou_id: &str,
    now: i64,
) -> Result<u64> {
    enqueue_selected(
        conn,
        instance_id,
        ObjectType::User,
        "SELECT m.user_id AS id FROM user_org_units m WHERE m.ou_id = $4",
        &[ou_id],
        now,
    )
    .await
}

/// Enqueues the members of org unit `ou_id` and of every unit below it (after a move, the scope
/// of all of them may have changed).
pub async fn enqueue_members_below_org_unit(
    conn: &mut Conn,
    instance_id: &str,
    ou_id: &str,
    now: i64,
) -> Result<u64> {
    let sub = format!(
        "SELECT m.user_id AS id FROM user_org_units m WHERE m.ou_id IN ({})",
        super::org_unit::descendants_sql("$4")
    );
    enqueue_selected(conn, instance_id, ObjectType::User, &sub, &[ou_id], now).await
}

/// Enqueues, for the application of `cfg` alone, every user and group in its scope now AND every
/// object it pushed before (`provisioning_objects`), so that leavers are deprovisioned. Used when
/// provisioning is enabled or its scope, mapping or actions change. Two statements; returns the
/// number of rows written.
pub async fn enqueue_app_scope(conn: &mut Conn, cfg: &ProvisioningConfig, now: i64) -> Result<u64> {
    let mut total = 0;
    // Users: $1 app, $2 type, $3 now, then the scope subquery from $4.
    let scope = crate::provisioning::scope::scope_user_ids_sql(cfg, 4);
    let in_scope = match &scope {
        Some((sub, _)) => format!(
            "SELECT u.id AS id FROM users u WHERE u.instance_id = $4 AND u.id IN ({sub}) UNION "
        ),
        None => String::new(),
    };
    let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{INSERT}SELECT $1, $2, x.id, 1, 'pending', 0, $3, $3, $3 FROM ({in_scope}\
         SELECT p.object_id AS id FROM provisioning_objects p WHERE p.app_id = $1 AND p.object_type = $2) x \
         WHERE 1 = 1{UPSERT}"
    )))
    .bind(cfg.app_id.clone())
    .bind(ObjectType::User.as_str())
    .bind(now);
    if let Some((_, binds)) = scope {
        for b in binds {
            q = q.bind(b);
        }
    }
    total += q.execute(&mut *conn).await?.rows_affected();

    // Groups: the configured ones that exist, and those pushed before.
    let mut binds = vec![cfg.instance_id.clone()];
    let ph: Vec<String> = cfg
        .scope
        .group_ids
        .iter()
        .map(|g| {
            binds.push(g.clone());
            format!("${}", binds.len() + 3)
        })
        .collect();
    let configured = if ph.is_empty() {
        String::new()
    } else {
        format!(
            "SELECT g.id AS id FROM groups g WHERE g.instance_id = $4 AND g.id IN ({}) UNION ",
            ph.join(", ")
        )
    };
    let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{INSERT}SELECT $1, $2, x.id, 1, 'pending', 0, $3, $3, $3 FROM ({configured}\
         SELECT p.object_id AS id FROM provisioning_objects p WHERE p.app_id = $1 AND p.object_type = $2) x \
         WHERE 1 = 1{UPSERT}"
    )))
    .bind(cfg.app_id.clone())
    .bind(ObjectType::Group.as_str())
    .bind(now);
    if !ph.is_empty() {
        for b in binds {
            q = q.bind(b);
        }
    }
    total += q.execute(&mut *conn).await?.rows_affected();
    Ok(total)
}

/// Enqueues, for application `app_id` (if it provisions), the user of application account
/// `account_id` (call before deleting the account: `appUser.username` may be mapped).
pub async fn enqueue_app_account_user(
    conn: &mut Conn,
    app_id: &str,
    account_id: &str,
    now: i64,
) -> Result<u64> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{INSERT}SELECT c.app_id, 'user', a.user_id, 1, 'pending', 0, $3, $3, $3 \
         FROM provisioning_configs c JOIN app_accounts a ON a.app_id = c.app_id \
         WHERE c.app_id = $1 AND a.id = $2 AND c.enabled = 1{UPSERT}"
    )))
    .bind(app_id)
    .bind(account_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected())
}
