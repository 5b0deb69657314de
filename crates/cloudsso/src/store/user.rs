//! `users` and `password_history`.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Conn, flag, like_escape, unique_as};
use crate::error::{Error, Result};
use crate::user::{ProvisionType, User, UserStatus};

const COLUMNS: &str = "id, directory_id, user_name, display_name, email, first_name, last_name, \
    description, status, provision_type, password_hash, mfa_required, totp_secret_enc, locked_until, \
    created_at, updated_at, external_id, version";

fn from_row(row: &AnyRow) -> Result<User> {
    let status: String = row.try_get("status")?;
    Ok(User {
        id: row.try_get("id")?,
        directory_id: row.try_get("directory_id")?,
        user_name: row.try_get("user_name")?,
        display_name: row.try_get("display_name")?,
        email: row.try_get("email")?,
        first_name: row.try_get("first_name")?,
        last_name: row.try_get("last_name")?,
        description: row.try_get("description")?,
        status: UserStatus::parse(&status)
            .ok_or_else(|| Error::Corrupt(format!("user status {status:?}")))?,
        provision_type: ProvisionType::parse(&row.try_get::<String, _>("provision_type")?),
        has_password: row.try_get::<Option<String>, _>("password_hash")?.is_some(),
        mfa_required: row.try_get::<i64, _>("mfa_required")? != 0,
        mfa_device_bound: row
            .try_get::<Option<String>, _>("totp_secret_enc")?
            .is_some(),
        locked_until: row.try_get("locked_until")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        external_id: row.try_get("external_id")?,
        version: row.try_get("version")?,
    })
}

/// Inserts a user (password hash optional).
pub async fn insert(conn: &mut Conn, u: &User, password_hash: Option<&str>) -> Result<()> {
    sqlx::query(
        "INSERT INTO users (id, directory_id, user_name, user_name_key, display_name, email, email_key, \
         first_name, last_name, description, status, provision_type, password_hash, password_changed_at, \
         mfa_required, created_at, updated_at, external_id, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
    )
    .bind(&u.id)
    .bind(&u.directory_id)
    .bind(&u.user_name)
    .bind(u.user_name.to_lowercase())
    .bind(&u.display_name)
    .bind(&u.email)
    .bind(u.email.as_ref().map(|e| e.to_lowercase()))
    .bind(&u.first_name)
    .bind(&u.last_name)
    .bind(&u.description)
    .bind(u.status.as_str())
    .bind(u.provision_type.as_str())
    .bind(password_hash)
    .bind(password_hash.map(|_| u.created_at))
    .bind(flag(u.mfa_required))
    .bind(u.created_at)
    .bind(u.updated_at)
    .bind(&u.external_id)
    .bind(u.version.max(1))
    .execute(&mut *conn)
    .await
    .map_err(|e| {
        if db::is_unique_violation(&e) {
            // Tell which of the two unique properties clashed.
            let text = e.to_string();
            if text.contains("email") {
                Error::AlreadyExists {
                    entity: "user",
                    field: "email",
                }
            } else {
                Error::AlreadyExists {
                    entity: "user",
                    field: "user_name",
                }
            }
        } else {
            Error::Db(e)
        }
    })?;
    Ok(())
}

/// The user of the directory with this id.
pub async fn get(conn: &mut Conn, directory_id: &str, id: &str) -> Result<Option<User>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM users WHERE directory_id = $1 AND id = $2"
    )))
    .bind(directory_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The user of the directory with this user name (case-insensitive).
pub async fn get_by_name(conn: &mut Conn, directory_id: &str, name: &str) -> Result<Option<User>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM users WHERE directory_id = $1 AND user_name_key = $2"
    )))
    .bind(directory_id)
    .bind(name.to_lowercase())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Users of a directory whose user name equals (`eq`) or starts with (`sw`) the value, by name.
pub async fn list(
    conn: &mut Conn,
    directory_id: &str,
    filter: Option<(&str, &str)>,
    limit: i64,
    after_name_key: Option<&str>,
) -> Result<Vec<User>> {
    let mut sql = format!("SELECT {COLUMNS} FROM users WHERE directory_id = $1");
    let mut binds: Vec<String> = vec![directory_id.to_owned()];
    if let Some((op, value)) = filter {
        let v = value.to_lowercase();
        if op == "eq" {
            binds.push(v);
            sql.push_str(&format!(" AND user_name_key = ${}", binds.len()));
        } else {
            binds.push(format!("{}%", like_escape(&v)));
            sql.push_str(&format!(
                " AND user_name_key LIKE ${} ESCAPE '\\'",
                binds.len()
            ));
        }
    }
    if let Some(after) = after_name_key {
        binds.push(after.to_owned());
        sql.push_str(&format!(" AND user_name_key > ${}", binds.len()));
    }
    sql.push_str(&format!(
        " ORDER BY user_name_key LIMIT {}",
        limit.clamp(1, 1000)
    ));
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for b in binds {
        q = q.bind(b);
    }
    let rows = q.fetch_all(&mut *conn).await?;
    rows.iter().map(from_row).collect()
}

/// Writes the editable profile fields, status and external id; bumps `version`. Returns the new
/// version.
pub async fn update(conn: &mut Conn, u: &User) -> Result<i64> {
    update_checked(conn, u, None)
        .await?
        .ok_or(Error::NotFound("user"))
}

/// Like [`update`], but only if the stored `version` is `if_version` (when given): the SCIM
/// `If-Match` rule inside a transaction. `None` = no such user or the version differs.
pub async fn update_checked(
    conn: &mut Conn,
    u: &User,
    if_version: Option<i64>,
) -> Result<Option<i64>> {
    // A group's SCIM `members[].display` shows the display name: a change bumps its groups.
    let old_display: Option<String> =
        sqlx::query_scalar("SELECT display_name FROM users WHERE id = $1 AND directory_id = $2")
            .bind(&u.id)
            .bind(&u.directory_id)
            .fetch_optional(&mut *conn)
            .await?;
    let row = sqlx::query(
        "UPDATE users SET display_name = $1, email = $2, email_key = $3, first_name = $4, last_name = $5, \
         description = $6, status = $7, mfa_required = $8, updated_at = $9, external_id = $10, \
         version = version + 1 \
         WHERE id = $11 AND directory_id = $12 AND ($13 < 0 OR version = $13) RETURNING version",
    )
    .bind(&u.display_name)
    .bind(&u.email)
    .bind(u.email.as_ref().map(|e| e.to_lowercase()))
    .bind(&u.first_name)
    .bind(&u.last_name)
    .bind(&u.description)
    .bind(u.status.as_str())
    .bind(flag(u.mfa_required))
    .bind(u.updated_at)
    .bind(&u.external_id)
    .bind(&u.id)
    .bind(&u.directory_id)
    .bind(if_version.unwrap_or(-1))
    .fetch_optional(&mut *conn)
    .await
    .map_err(unique_as("user", "email"))?;
    let version = row.map(|r| r.try_get::<i64, _>("version")).transpose()?;
    if version.is_some() && old_display.is_some_and(|d| d != u.display_name) {
        touch_groups_of(conn, &u.id, u.updated_at).await?;
    }
    Ok(version)
}

/// Bumps the `version` and `updated_at` of every group the user belongs to (their SCIM
/// `members[].display` shows the user).
pub async fn touch_groups_of(conn: &mut Conn, user_id: &str, now: i64) -> Result<u64> {
    let r = sqlx::query(
        "UPDATE groups SET updated_at = $1, version = version + 1 \
         WHERE id IN (SELECT group_id FROM group_members WHERE user_id = $2)",
    )
    .bind(now)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected())
}

/// Sets how the user came to be (e.g. a SCIM client adopting a manual user); bumps `version`.
pub async fn set_provision_type(
    conn: &mut Conn,
    user_id: &str,
    provision_type: ProvisionType,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE users SET provision_type = $1, updated_at = $2, version = version + 1 WHERE id = $3",
    )
    .bind(provision_type.as_str())
    .bind(now)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Bumps the user's `version` and `updated_at` (a change stored elsewhere, e.g. `scim_extra`).
pub async fn touch(conn: &mut Conn, user_id: &str, now: i64) -> Result<bool> {
    let r = sqlx::query("UPDATE users SET updated_at = $1, version = version + 1 WHERE id = $2")
        .bind(now)
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Deletes a user.
pub async fn delete(conn: &mut Conn, directory_id: &str, id: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM users WHERE directory_id = $1 AND id = $2")
        .bind(directory_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// The secret logon state of a user (never leaves the crate's services).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Argon2id PHC string.
    pub password_hash: Option<String>,
    /// When the password was set.
    pub password_changed_at: Option<i64>,
    /// Consecutive failures.
    pub failed_attempts: i64,
    /// Locked until.
    pub locked_until: Option<i64>,
    /// Sealed TOTP secret.
    pub totp_secret_enc: Option<String>,
    /// Last accepted TOTP step.
    pub totp_last_step: Option<i64>,
}

/// The logon state of a user.
pub async fn credentials(conn: &mut Conn, user_id: &str) -> Result<Option<Credentials>> {
    let row = sqlx::query(
        "SELECT password_hash, password_changed_at, failed_attempts, locked_until, totp_secret_enc, \
         totp_last_step FROM users WHERE id = $1",
    )
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        Ok(Credentials {
            password_hash: r.try_get("password_hash")?,
            password_changed_at: r.try_get("password_changed_at")?,
            failed_attempts: r.try_get("failed_attempts")?,
            locked_until: r.try_get("locked_until")?,
            totp_secret_enc: r.try_get("totp_secret_enc")?,
            totp_last_step: r.try_get("totp_last_step")?,
        })
    })
    .transpose()
}

/// Sets a new password hash (keeping the old one in the history) and clears the lockout.
pub async fn set_password(conn: &mut Conn, user_id: &str, hash: &str, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO password_history (user_id, password_hash, created_at) \
         SELECT id, password_hash, $1 FROM users WHERE id = $2 AND password_hash IS NOT NULL",
    )
    .bind(now)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE users SET password_hash = $1, password_changed_at = $2, failed_attempts = 0, \
         locked_until = NULL, updated_at = $2, version = version + 1 WHERE id = $3",
    )
    .bind(hash)
    .bind(now)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The previous password hashes, newest first.
pub async fn password_history(conn: &mut Conn, user_id: &str, limit: i64) -> Result<Vec<String>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT password_hash FROM password_history WHERE user_id = $1 \
         ORDER BY created_at DESC LIMIT {}",
        limit.clamp(0, 100)
    )))
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| Ok(r.try_get::<String, _>("password_hash")?))
        .collect()
}

/// Counts a failed logon atomically; locks the account until `lock_until` when the count reaches
/// `max_attempts` (0 = never). Returns the new count.
pub async fn record_failure(
    conn: &mut Conn,
    user_id: &str,
    max_attempts: i64,
    lock_until: i64,
) -> Result<i64> {
    let row = sqlx::query(
        "UPDATE users SET failed_attempts = failed_attempts + 1, \
         locked_until = CASE WHEN $1 > 0 AND failed_attempts + 1 >= $1 THEN $2 ELSE locked_until END \
         WHERE id = $3 RETURNING failed_attempts",
    )
    .bind(max_attempts)
    .bind(lock_until)
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row
        .map(|r| r.try_get::<i64, _>("failed_attempts"))
        .transpose()?
        .unwrap_or(0))
}

/// Reserves one logon attempt before the (slow) secret check (saml-defense rule 11): counts it
/// atomically unless `max_attempts` (> 0) attempts are already counted or the user is locked. An
/// expired lock starts a fresh count. Returns the count including this attempt, or `None` when
/// refused. Commit before verifying so that parallel attempts see each other.
pub async fn reserve_attempt(
    conn: &mut Conn,
    user_id: &str,
    max_attempts: i64,
    now: i64,
) -> Result<Option<i64>> {
    let row = sqlx::query(
        "UPDATE users SET          failed_attempts = CASE WHEN locked_until IS NOT NULL AND locked_until <= $1 THEN 1                                 ELSE failed_attempts + 1 END,          locked_until = CASE WHEN locked_until IS NOT NULL AND locked_until <= $1 THEN NULL                              ELSE locked_until END          WHERE id = $2 AND ((locked_until IS NOT NULL AND locked_until <= $1)                             OR (locked_until IS NULL AND failed_attempts < $3))          RETURNING failed_attempts",
    )
    .bind(now)
    .bind(user_id)
    .bind(max_attempts)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row
        .map(|r| r.try_get::<i64, _>("failed_attempts"))
        .transpose()?)
}

/// Confirms a reserved attempt as a failure: locks the user until `lock_until` once
/// `max_attempts` (> 0) failures are counted. Returns whether the user is now locked.
pub async fn confirm_failure(
    conn: &mut Conn,
    user_id: &str,
    max_attempts: i64,
    lock_until: i64,
    now: i64,
) -> Result<bool> {
    sqlx::query(
        "UPDATE users SET locked_until = $1          WHERE id = $2 AND $3 > 0 AND failed_attempts >= $3          AND (locked_until IS NULL OR locked_until <= $4)",
    )
    .bind(lock_until)
    .bind(user_id)
    .bind(max_attempts)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let locked: Option<Option<i64>> =
        sqlx::query_scalar("SELECT locked_until FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(locked.flatten().is_some_and(|u| u > now))
}

/// Gives back a reserved attempt that was not a wrong secret (e.g. a disabled user).
pub async fn release_attempt(conn: &mut Conn, user_id: &str) -> Result<()> {
    sqlx::query(
        "UPDATE users SET failed_attempts = failed_attempts - 1          WHERE id = $1 AND failed_attempts > 0 AND locked_until IS NULL",
    )
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Resets the failure counter after a successful logon, unless the user is locked (a parallel
/// wrong attempt may have locked it while the secret was checked). Returns whether it was reset;
/// `false` means the logon must be refused.
pub async fn clear_failures_unless_locked(
    conn: &mut Conn,
    user_id: &str,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE users SET failed_attempts = 0, locked_until = NULL          WHERE id = $1 AND (locked_until IS NULL OR locked_until <= $2)",
    )
    .bind(user_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Resets the failure counter and lock (successful logon or an admin unlock).
pub async fn clear_failures(conn: &mut Conn, user_id: &str) -> Result<()> {
    sqlx::query("UPDATE users SET failed_attempts = 0, locked_until = NULL WHERE id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Binds (or with `None` unbinds) the TOTP device.
pub async fn set_totp(
    conn: &mut Conn,
    user_id: &str,
    secret_enc: Option<&str>,
    last_step: Option<i64>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE users SET totp_secret_enc = $1, totp_last_step = $2, mfa_bound_at = $3, updated_at = $4, \
         version = version + 1 WHERE id = $5",
    )
    .bind(secret_enc)
    .bind(last_step)
    .bind(secret_enc.map(|_| now))
    .bind(now)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Advances the last accepted TOTP step if `step` is newer (atomic: a replayed code loses the race).
pub async fn advance_totp_step(conn: &mut Conn, user_id: &str, step: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE users SET totp_last_step = $1 WHERE id = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)",
    )
    .bind(step)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() > 0)
}
