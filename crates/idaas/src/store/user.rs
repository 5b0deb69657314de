//! `users`, `password_history`: accounts and their credentials.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::outbox_enqueue::ObjectType;
use super::{Bind, Conn, Filter, flag, from_json, like_escape, to_json, unique_as};
use crate::error::{Error, Result};
use crate::user::{NewUser, Page, Paged, User, UserFilter, UserStatus, UserUpdate};

const COLUMNS: &str = "id, instance_id, username, display_name, email, phone, status, is_admin, \
    custom_fields, primary_ou_id, external_id, mfa_enabled, must_change_password, password_hash, \
    locked_until, created_at, updated_at";

/// The user columns qualified with table alias `alias` (`u.id, u.instance_id, …`).
pub(crate) fn qualified_columns(alias: &str) -> String {
    COLUMNS
        .split(", ")
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Decodes a row selected with [`COLUMNS`].
pub(crate) fn from_row(row: &AnyRow) -> Result<User> {
    let custom: String = row.try_get("custom_fields")?;
    let hash: Option<String> = row.try_get("password_hash")?;
    Ok(User {
        id: row.try_get("id")?,
        instance_id: row.try_get("instance_id")?,
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        email: row.try_get("email")?,
        phone: row.try_get("phone")?,
        status: UserStatus::parse(&row.try_get::<String, _>("status")?)?,
        is_admin: row.try_get::<i64, _>("is_admin")? != 0,
        custom_fields: from_json("custom_fields", &custom)?,
        primary_ou_id: row.try_get("primary_ou_id")?,
        external_id: row.try_get("external_id")?,
        mfa_enabled: row.try_get::<i64, _>("mfa_enabled")? != 0,
        must_change_password: row.try_get::<i64, _>("must_change_password")? != 0,
        has_password: hash.is_some(),
        locked_until: row.try_get("locked_until")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Inserts a user (and enqueues it for provisioning). `password_hash` (already hashed) may be set
/// at creation.
pub async fn insert(
    conn: &mut Conn,
    id: &str,
    instance_id: &str,
    new: &NewUser,
    password_hash: Option<&str>,
    must_change_password: bool,
    now: i64,
) -> Result<User> {
    let username = new
        .username
        .as_ref()
        .ok_or_else(|| Error::invalid("username", "is required"))?;
    let display = if new.display_name.as_str().is_empty() {
        username.as_str().to_owned()
    } else {
        new.display_name.as_str().to_owned()
    };
    sqlx::query(
        "INSERT INTO users (id, instance_id, username, username_key, display_name, email, phone, status, \
         is_admin, custom_fields, external_id, password_hash, password_changed_at, must_change_password, \
         created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)",
    )
    .bind(id)
    .bind(instance_id)
    .bind(username.as_str())
    .bind(username.key())
    .bind(display)
    .bind(new.email.as_ref().map(|e| e.as_str().to_owned()))
    .bind(new.phone.as_ref().map(|p| p.as_str().to_owned()))
    .bind(new.status.as_str())
    .bind(flag(new.is_admin))
    .bind(to_json(&new.custom_fields)?)
    .bind(new.external_id.clone())
    .bind(password_hash.map(str::to_owned))
    .bind(password_hash.map(|_| now))
    .bind(flag(must_change_password && password_hash.is_some()))
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(unique_as("user", "username"))?;
    super::outbox_enqueue::enqueue(conn, instance_id, ObjectType::User, id, now).await?;
    get(conn, instance_id, id)
        .await?
        .ok_or(Error::NotFound("user"))
}

/// The user `id` of `instance_id`.
pub async fn get(conn: &mut Conn, instance_id: &str, id: &str) -> Result<Option<User>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM users WHERE instance_id = $1 AND id = $2"
    )))
    .bind(instance_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The user with this user name (case-insensitive) in `instance_id`.
pub async fn get_by_username(
    conn: &mut Conn,
    instance_id: &str,
    username: &str,
) -> Result<Option<User>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM users WHERE instance_id = $1 AND username_key = $2"
    )))
    .bind(instance_id)
    .bind(username.to_ascii_lowercase())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Applies a partial update (and enqueues the user for provisioning); `None` when the user does
/// not exist in the instance.
pub async fn update(
    conn: &mut Conn,
    instance_id: &str,
    id: &str,
    upd: &UserUpdate,
    now: i64,
) -> Result<Option<User>> {
    let Some(cur) = get(conn, instance_id, id).await? else {
        return Ok(None);
    };
    let username = upd
        .username
        .as_ref()
        .map(|u| u.as_str().to_owned())
        .unwrap_or(cur.username);
    let display = upd
        .display_name
        .as_ref()
        .map(|d| d.as_str().to_owned())
        .unwrap_or(cur.display_name);
    let email = match &upd.email {
        Some(e) => e.as_ref().map(|e| e.as_str().to_owned()),
        None => cur.email,
    };
    let phone = match &upd.phone {
        Some(p) => p.as_ref().map(|p| p.as_str().to_owned()),
        None => cur.phone,
    };
    let custom = match &upd.custom_fields {
        Some(c) => to_json(c)?,
        None => to_json(&cur.custom_fields)?,
    };
    let external = match &upd.external_id {
        Some(x) => x.clone(),
        None => cur.external_id,
    };
    sqlx::query(
        "UPDATE users SET username = $1, username_key = $2, display_name = $3, email = $4, phone = $5, \
         status = $6, is_admin = $7, custom_fields = $8, external_id = $9, updated_at = $10 \
         WHERE instance_id = $11 AND id = $12",
    )
    .bind(&username)
    .bind(username.to_ascii_lowercase())
    .bind(display)
    .bind(email)
    .bind(phone)
    .bind(upd.status.unwrap_or(cur.status).as_str())
    .bind(flag(upd.is_admin.unwrap_or(cur.is_admin)))
    .bind(custom)
    .bind(external)
    .bind(now)
    .bind(instance_id)
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(unique_as("user", "username"))?;
    super::outbox_enqueue::enqueue(conn, instance_id, ObjectType::User, id, now).await?;
    get(conn, instance_id, id).await
}

/// Deletes a user (memberships, sessions, grants follow by cascade). The caller enqueues the user
/// and its groups for provisioning first ([`crate::user`]'s `delete_user`).
pub async fn delete(conn: &mut Conn, instance_id: &str, id: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM users WHERE instance_id = $1 AND id = $2")
        .bind(instance_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    if r.rows_affected() == 1 {
        // Grants are polymorphic (no foreign key), so remove the user's own grants explicitly.
        sqlx::query("DELETE FROM app_grants WHERE subject_type = 'user' AND subject_id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(r.rows_affected() == 1)
}

/// Lists users of an instance ordered by user name.
pub async fn list(
    conn: &mut Conn,
    instance_id: &str,
    f: &UserFilter,
    page: Page,
) -> Result<Paged<User>> {
    let mut w = Filter::default();
    let p = w.bind(Bind::Text(instance_id.to_owned()));
    w.clause(format!("u.instance_id = {p}"));
    if let Some(q) = f.query.as_deref().filter(|q| !q.is_empty()) {
        let p = w.bind(Bind::Text(format!("%{}%", like_escape(&q.to_lowercase()))));
        w.clause(format!(
            "(u.username_key LIKE {p} ESCAPE '\\' OR LOWER(u.display_name) LIKE {p} ESCAPE '\\' \
             OR LOWER(COALESCE(u.email, '')) LIKE {p} ESCAPE '\\')"
        ));
    }
    if let Some(s) = f.status {
        let p = w.bind(Bind::Text(s.as_str().to_owned()));
        w.clause(format!("u.status = {p}"));
    }
    if let Some(ou) = &f.org_unit_id {
        let p = w.bind(Bind::Text(ou.clone()));
        if f.include_descendants {
            w.clause(format!(
                "u.id IN (SELECT m.user_id FROM user_org_units m WHERE m.ou_id IN ({}))",
                super::org_unit::descendants_sql(&p)
            ));
        } else {
            w.clause(format!(
                "u.id IN (SELECT m.user_id FROM user_org_units m WHERE m.ou_id = {p})"
            ));
        }
    }
    if let Some(g) = &f.group_id {
        let p = w.bind(Bind::Text(g.clone()));
        w.clause(format!(
            "u.id IN (SELECT gm.user_id FROM group_members gm WHERE gm.group_id = {p})"
        ));
    }
    let where_sql = w.where_sql();
    let total: i64 = w
        .query(format!("SELECT COUNT(*) AS n FROM users u{where_sql}"))
        .fetch_one(&mut *conn)
        .await?
        .try_get("n")?;
    let cols = COLUMNS
        .split(", ")
        .map(|c| format!("u.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = w
        .query(format!(
            "SELECT {cols} FROM users u{where_sql} ORDER BY u.username_key, u.id LIMIT {} OFFSET {}",
            page.limit, page.offset
        ))
        .fetch_all(&mut *conn)
        .await?;
    let items = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
    let next = page.offset + items.len() as i64;
    Ok(Paged {
        next_offset: (next < total && !items.is_empty()).then_some(next),
        items,
        total,
    })
}

/// Sets the primary organizational unit (which must be one of the user's units; checked by the caller).
pub async fn set_primary_ou(
    conn: &mut Conn,
    user_id: &str,
    ou_id: Option<&str>,
    now: i64,
) -> Result<()> {
    sqlx::query("UPDATE users SET primary_ou_id = $1, updated_at = $2 WHERE id = $3")
        .bind(ou_id.map(str::to_owned))
        .bind(now)
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The sign-in relevant state of a user.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The user.
    pub user: User,
    /// PHC string of the password, if set.
    pub password_hash: Option<String>,
    /// When the password was last set.
    pub password_changed_at: Option<i64>,
    /// Consecutive failures (including attempts in flight).
    pub failed_attempts: i64,
    /// Encrypted TOTP secret.
    pub totp_secret_enc: Option<String>,
    /// Last accepted TOTP step (replay protection).
    pub totp_last_step: Option<i64>,
}

/// Loads the credentials of the user with this user name (case-insensitive).
pub async fn credentials_by_username(
    conn: &mut Conn,
    instance_id: &str,
    username: &str,
) -> Result<Option<Credentials>> {
    let Some(user) = get_by_username(conn, instance_id, username).await? else {
        return Ok(None);
    };
    credentials_of(conn, user).await.map(Some)
}

/// Loads the credentials of user `id`.
pub async fn credentials(
    conn: &mut Conn,
    instance_id: &str,
    id: &str,
) -> Result<Option<Credentials>> {
    let Some(user) = get(conn, instance_id, id).await? else {
        return Ok(None);
    };
    credentials_of(conn, user).await.map(Some)
}

async fn credentials_of(conn: &mut Conn, user: User) -> Result<Credentials> {
    let row = sqlx::query(
        "SELECT password_hash, password_changed_at, failed_attempts, totp_secret_enc, totp_last_step \
         FROM users WHERE id = $1",
    )
    .bind(&user.id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Credentials {
        password_hash: row.try_get("password_hash")?,
        password_changed_at: row.try_get("password_changed_at")?,
        failed_attempts: row.try_get("failed_attempts")?,
        totp_secret_enc: row.try_get("totp_secret_enc")?,
        totp_last_step: row.try_get("totp_last_step")?,
        user,
    })
}

/// Atomically reserves one sign-in attempt: counts it as a failure up front and refuses when the
/// account is locked or already has `max_failures` (in flight or failed). `max_failures == 0`
/// disables lockout. Returns whether the attempt may proceed.
///
/// One statement: an expired lock restarts the count at this attempt (reset and increment cannot
/// be separated by another writer). When the attempt is refused because the count is used up but
/// no lock time is set (a crash after reserving, or an administrator lowered `max_failures`), the
/// account is locked until `lock_until` so that it cannot stay locked forever. Call inside a write
/// transaction and commit before checking the password.
pub async fn reserve_signin_attempt(
    conn: &mut Conn,
    user_id: &str,
    max_failures: i64,
    now: i64,
    lock_until: i64,
) -> Result<bool> {
    let limit = if max_failures <= 0 {
        i64::MAX
    } else {
        max_failures
    };
    let r = sqlx::query(
        "UPDATE users SET \
           failed_attempts = CASE WHEN locked_until IS NOT NULL AND locked_until <= $3 \
                                  THEN 1 ELSE failed_attempts + 1 END, \
           locked_until = CASE WHEN locked_until IS NOT NULL AND locked_until <= $3 \
                               THEN NULL ELSE locked_until END \
         WHERE id = $1 AND ( \
           (locked_until IS NOT NULL AND locked_until <= $3) \
           OR (locked_until IS NULL AND failed_attempts < $2))",
    )
    .bind(user_id)
    .bind(limit)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if r.rows_affected() == 1 {
        return Ok(true);
    }
    if max_failures > 0 {
        sqlx::query(
            "UPDATE users SET locked_until = $1 \
             WHERE id = $2 AND locked_until IS NULL AND failed_attempts >= $3",
        )
        .bind(lock_until)
        .bind(user_id)
        .bind(max_failures)
        .execute(&mut *conn)
        .await?;
    }
    Ok(false)
}

/// A reserved attempt succeeded: clears the failure count and any lock.
pub async fn record_signin_success(conn: &mut Conn, user_id: &str) -> Result<()> {
    sqlx::query("UPDATE users SET failed_attempts = 0, locked_until = NULL WHERE id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A reserved attempt failed: locks the account until `lock_until` when the count reached
/// `max_failures` (> 0). Returns whether the account is now locked.
pub async fn record_signin_failure(
    conn: &mut Conn,
    user_id: &str,
    max_failures: i64,
    lock_until: i64,
) -> Result<bool> {
    if max_failures <= 0 {
        return Ok(false);
    }
    let r = sqlx::query(
        "UPDATE users SET locked_until = $1 WHERE id = $2 AND failed_attempts >= $3 AND locked_until IS NULL",
    )
    .bind(lock_until)
    .bind(user_id)
    .bind(max_failures)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Sets a new password hash, records it in the history and keeps the newest `keep_history` entries.
pub async fn set_password(
    conn: &mut Conn,
    user_id: &str,
    password_hash: &str,
    must_change: bool,
    keep_history: usize,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE users SET password_hash = $1, password_changed_at = $2, must_change_password = $3, \
         failed_attempts = 0, locked_until = NULL, updated_at = $2 WHERE id = $4",
    )
    .bind(password_hash)
    .bind(now)
    .bind(flag(must_change))
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO password_history (user_id, password_hash, created_at) VALUES ($1, $2, $3)",
    )
    .bind(user_id)
    .bind(password_hash)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let old: Vec<(String, i64)> = sqlx::query(
        "SELECT password_hash, created_at FROM password_history WHERE user_id = $1 ORDER BY created_at DESC",
    )
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .skip(keep_history.max(1))
    .map(|r| Ok((r.try_get("password_hash")?, r.try_get("created_at")?)))
    .collect::<Result<_>>()?;
    for (hash, at) in old {
        sqlx::query("DELETE FROM password_history WHERE user_id = $1 AND password_hash = $2 AND created_at = $3")
            .bind(user_id)
            .bind(hash)
            .bind(at)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The newest `n` password hashes of a user (for the history rule), newest first.
pub async fn recent_password_hashes(
    conn: &mut Conn,
    user_id: &str,
    n: usize,
) -> Result<Vec<String>> {
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    let rows = sqlx::query(
        "SELECT password_hash FROM password_history WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2",
    )
    .bind(user_id)
    .bind(n)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| r.try_get("password_hash").map_err(Error::from))
        .collect()
}

/// Stores (or clears) the encrypted TOTP secret and the MFA flag; resets the replay step.
pub async fn set_totp(
    conn: &mut Conn,
    user_id: &str,
    totp_secret_enc: Option<&str>,
    mfa_enabled: bool,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE users SET totp_secret_enc = $1, mfa_enabled = $2, totp_last_step = NULL, updated_at = $3 WHERE id = $4",
    )
    .bind(totp_secret_enc.map(str::to_owned))
    .bind(flag(mfa_enabled))
    .bind(now)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Atomically accepts TOTP step `step` only if it is newer than the last accepted one (replay guard).
pub async fn advance_totp_step(conn: &mut Conn, user_id: &str, step: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE users SET totp_last_step = $1 WHERE id = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)",
    )
    .bind(step)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}
