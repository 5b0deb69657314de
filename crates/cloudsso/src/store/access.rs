//! Access configurations, their provisionings, assignments, tasks and RAM user provisionings.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Conn, from_json, to_json, unique_as};
use crate::access_configuration::{AccessConfiguration, Provisioning, ProvisioningStatus};
use crate::assignment::{Assignment, PrincipalType, Task, TaskStatus, TaskType};
use crate::error::{Error, Result};
use crate::ram_user_provisioning::{DeletionStrategy, DuplicationStrategy, UserProvisioning};

fn corrupt(column: &str, value: &str) -> Error {
    Error::Corrupt(format!("{column} {value:?}"))
}

// ---- access configurations ----

const AC_COLUMNS: &str = "id, directory_id, name, description, session_duration, relay_state, system_policies, \
    inline_policy, created_at, updated_at";

fn ac_from_row(row: &AnyRow) -> Result<AccessConfiguration> {
    let policies: String = row.try_get("system_policies")?;
    Ok(AccessConfiguration {
        id: row.try_get("id")?,
        directory_id: row.try_get("directory_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        session_duration: row.try_get("session_duration")?,
        relay_state: row.try_get("relay_state")?,
        system_policies: from_json("system_policies", &policies)?,
        inline_policy: row.try_get("inline_policy")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Inserts an access configuration.
pub async fn insert_ac(conn: &mut Conn, ac: &AccessConfiguration) -> Result<()> {
    sqlx::query(
        "INSERT INTO access_configurations (id, directory_id, name, name_key, description, session_duration, \
         relay_state, system_policies, inline_policy, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&ac.id)
    .bind(&ac.directory_id)
    .bind(&ac.name)
    .bind(ac.name.to_ascii_lowercase())
    .bind(&ac.description)
    .bind(ac.session_duration)
    .bind(&ac.relay_state)
    .bind(to_json(&ac.system_policies)?)
    .bind(&ac.inline_policy)
    .bind(ac.created_at)
    .bind(ac.updated_at)
    .execute(&mut *conn)
    .await
    .map_err(unique_as("access configuration", "name"))?;
    Ok(())
}

/// Updates the editable fields of an access configuration.
pub async fn update_ac(conn: &mut Conn, ac: &AccessConfiguration) -> Result<()> {
    sqlx::query(
        "UPDATE access_configurations SET description = $1, session_duration = $2, relay_state = $3, \
         system_policies = $4, inline_policy = $5, updated_at = $6 WHERE id = $7",
    )
    .bind(&ac.description)
    .bind(ac.session_duration)
    .bind(&ac.relay_state)
    .bind(to_json(&ac.system_policies)?)
    .bind(&ac.inline_policy)
    .bind(ac.updated_at)
    .bind(&ac.id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The access configuration `id` of a directory.
pub async fn get_ac(
    conn: &mut Conn,
    directory_id: &str,
    id: &str,
) -> Result<Option<AccessConfiguration>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {AC_COLUMNS} FROM access_configurations WHERE directory_id = $1 AND id = $2"
    )))
    .bind(directory_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(ac_from_row).transpose()
}

/// The access configuration called `name` in a directory (case-insensitive).
pub async fn get_ac_by_name(
    conn: &mut Conn,
    directory_id: &str,
    name: &str,
) -> Result<Option<AccessConfiguration>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {AC_COLUMNS} FROM access_configurations WHERE directory_id = $1 AND name_key = $2"
    )))
    .bind(directory_id)
    .bind(name.to_ascii_lowercase())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(ac_from_row).transpose()
}

/// The access configurations of a directory.
pub async fn list_acs(conn: &mut Conn, directory_id: &str) -> Result<Vec<AccessConfiguration>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {AC_COLUMNS} FROM access_configurations WHERE directory_id = $1 ORDER BY name_key"
    )))
    .bind(directory_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(ac_from_row).collect()
}

/// Deletes an access configuration.
pub async fn delete_ac(conn: &mut Conn, id: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM access_configurations WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

// ---- provisionings ----

fn provisioning_from_row(row: &AnyRow) -> Result<Provisioning> {
    let status: String = row.try_get("status")?;
    Ok(Provisioning {
        access_configuration_id: row.try_get("access_configuration_id")?,
        account_id: row.try_get("account_id")?,
        status: ProvisioningStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        provisioned_at: row.try_get("provisioned_at")?,
    })
}

/// Marks an access configuration provisioned (current) in an account.
pub async fn set_provisioned(
    conn: &mut Conn,
    ac_id: &str,
    account_id: &str,
    now: i64,
) -> Result<()> {
    sqlx::query("DELETE FROM access_configuration_provisionings WHERE access_configuration_id = $1 AND account_id = $2")
        .bind(ac_id)
        .bind(account_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO access_configuration_provisionings (access_configuration_id, account_id, status, provisioned_at) \
         VALUES ($1, $2, 'Provisioned', $3)",
    )
    .bind(ac_id)
    .bind(account_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Marks every provisioned copy of an access configuration as needing re-provisioning.
pub async fn mark_reprovision_required(conn: &mut Conn, ac_id: &str) -> Result<u64> {
    let r = sqlx::query(
        "UPDATE access_configuration_provisionings SET status = 'ReprovisionRequired' WHERE access_configuration_id = $1",
    )
    .bind(ac_id)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected())
}

/// Removes the provisioning record of an access configuration in an account.
pub async fn delete_provisioning(conn: &mut Conn, ac_id: &str, account_id: &str) -> Result<bool> {
    let r = sqlx::query(
        "DELETE FROM access_configuration_provisionings WHERE access_configuration_id = $1 AND account_id = $2",
    )
    .bind(ac_id)
    .bind(account_id)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Where an access configuration is provisioned.
pub async fn provisionings_of_ac(conn: &mut Conn, ac_id: &str) -> Result<Vec<Provisioning>> {
    let rows = sqlx::query(
        "SELECT access_configuration_id, account_id, status, provisioned_at FROM access_configuration_provisionings \
         WHERE access_configuration_id = $1 ORDER BY account_id",
    )
    .bind(ac_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(provisioning_from_row).collect()
}

/// The provisioning of an access configuration in an account.
pub async fn get_provisioning(
    conn: &mut Conn,
    ac_id: &str,
    account_id: &str,
) -> Result<Option<Provisioning>> {
    let row = sqlx::query(
        "SELECT access_configuration_id, account_id, status, provisioned_at FROM access_configuration_provisionings \
         WHERE access_configuration_id = $1 AND account_id = $2",
    )
    .bind(ac_id)
    .bind(account_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(provisioning_from_row).transpose()
}

/// How many access configurations of a directory are provisioned in an account.
pub async fn provisioned_count_in_account(
    conn: &mut Conn,
    directory_id: &str,
    account_id: &str,
) -> Result<i64> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM access_configuration_provisionings p JOIN access_configurations a \
         ON a.id = p.access_configuration_id WHERE a.directory_id = $1 AND p.account_id = $2",
    )
    .bind(directory_id)
    .bind(account_id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get("n")?)
}

// ---- assignments ----

fn assignment_from_row(row: &AnyRow) -> Result<Assignment> {
    let t: String = row.try_get("principal_type")?;
    Ok(Assignment {
        access_configuration_id: row.try_get("access_configuration_id")?,
        account_id: row.try_get("account_id")?,
        principal_type: PrincipalType::parse(&t).ok_or_else(|| corrupt("principal_type", &t))?,
        principal_id: row.try_get("principal_id")?,
        created_at: row.try_get("created_at")?,
    })
}

const ASSIGNMENT_COLUMNS: &str =
    "access_configuration_id, account_id, principal_type, principal_id, created_at";

/// Stores an assignment (no-op when it exists).
pub async fn insert_assignment(conn: &mut Conn, directory_id: &str, a: &Assignment) -> Result<()> {
    sqlx::query(
        "INSERT INTO access_assignments (directory_id, access_configuration_id, account_id, principal_type, \
         principal_id, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(directory_id)
    .bind(&a.access_configuration_id)
    .bind(&a.account_id)
    .bind(a.principal_type.as_str())
    .bind(&a.principal_id)
    .bind(a.created_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Deletes an assignment.
pub async fn delete_assignment(
    conn: &mut Conn,
    ac_id: &str,
    account_id: &str,
    principal_type: PrincipalType,
    principal_id: &str,
) -> Result<bool> {
    let r = sqlx::query(
        "DELETE FROM access_assignments WHERE access_configuration_id = $1 AND account_id = $2 \
         AND principal_type = $3 AND principal_id = $4",
    )
    .bind(ac_id)
    .bind(account_id)
    .bind(principal_type.as_str())
    .bind(principal_id)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// The assignments of a directory, optionally of one access configuration or account.
pub async fn list_assignments(
    conn: &mut Conn,
    directory_id: &str,
    ac_id: Option<&str>,
    account_id: Option<&str>,
) -> Result<Vec<Assignment>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ASSIGNMENT_COLUMNS} FROM access_assignments WHERE directory_id = $1 \
         AND ($2 = '' OR access_configuration_id = $2) AND ($3 = '' OR account_id = $3) \
         ORDER BY account_id, access_configuration_id, principal_type, principal_id"
    )))
    .bind(directory_id)
    .bind(ac_id.unwrap_or(""))
    .bind(account_id.unwrap_or(""))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(assignment_from_row).collect()
}

/// How many assignments use an access configuration in an account.
pub async fn assignment_count(conn: &mut Conn, ac_id: &str, account_id: &str) -> Result<i64> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM access_assignments WHERE access_configuration_id = $1 AND account_id = $2",
    )
    .bind(ac_id)
    .bind(account_id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get("n")?)
}

/// The assignments of a user: directly, or through any of `group_ids`.
pub async fn assignments_of_user(
    conn: &mut Conn,
    directory_id: &str,
    user_id: &str,
    group_ids: &[String],
) -> Result<Vec<Assignment>> {
    let all = list_assignments(conn, directory_id, None, None).await?;
    Ok(all
        .into_iter()
        .filter(|a| match a.principal_type {
            PrincipalType::User => a.principal_id == user_id,
            PrincipalType::Group => group_ids.contains(&a.principal_id),
        })
        .collect())
}

// ---- tasks ----

const TASK_COLUMNS: &str = "id, directory_id, task_type, status, access_configuration_id, account_id, \
    principal_type, principal_id, failure_reason, created_at, finished_at";

fn task_from_row(row: &AnyRow) -> Result<Task> {
    let t: String = row.try_get("task_type")?;
    let s: String = row.try_get("status")?;
    let p: Option<String> = row.try_get("principal_type")?;
    Ok(Task {
        id: row.try_get("id")?,
        directory_id: row.try_get("directory_id")?,
        task_type: TaskType::parse(&t).ok_or_else(|| corrupt("task_type", &t))?,
        status: TaskStatus::parse(&s).ok_or_else(|| corrupt("status", &s))?,
        access_configuration_id: row.try_get("access_configuration_id")?,
        account_id: row.try_get("account_id")?,
        principal_type: p
            .map(|p| PrincipalType::parse(&p).ok_or_else(|| corrupt("principal_type", &p)))
            .transpose()?,
        principal_id: row.try_get("principal_id")?,
        failure_reason: row.try_get("failure_reason")?,
        created_at: row.try_get("created_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

/// Inserts a task (status InProgress).
pub async fn insert_task(conn: &mut Conn, t: &Task) -> Result<()> {
    sqlx::query(
        "INSERT INTO tasks (id, directory_id, task_type, status, access_configuration_id, account_id, \
         principal_type, principal_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&t.id)
    .bind(&t.directory_id)
    .bind(t.task_type.as_str())
    .bind(t.status.as_str())
    .bind(&t.access_configuration_id)
    .bind(&t.account_id)
    .bind(t.principal_type.map(PrincipalType::as_str))
    .bind(&t.principal_id)
    .bind(t.created_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The task `id` of a directory.
pub async fn get_task(conn: &mut Conn, directory_id: &str, id: &str) -> Result<Option<Task>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {TASK_COLUMNS} FROM tasks WHERE directory_id = $1 AND id = $2"
    )))
    .bind(directory_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(task_from_row).transpose()
}

/// The tasks of a directory, newest first (at most `limit`).
pub async fn list_tasks(conn: &mut Conn, directory_id: &str, limit: i64) -> Result<Vec<Task>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {TASK_COLUMNS} FROM tasks WHERE directory_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
    )))
    .bind(directory_id)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(task_from_row).collect()
}

/// Ids of tasks that are in progress and not leased (or whose lease ran out), oldest first.
pub async fn runnable_task_ids(conn: &mut Conn, now: i64, limit: i64) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT id FROM tasks WHERE status = 'InProgress' AND (lease_until IS NULL OR lease_until < $1) \
         ORDER BY created_at, id LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
}

/// Takes the lease of a runnable task; false when another worker holds it or it is finished.
pub async fn lease_task(conn: &mut Conn, id: &str, now: i64, until: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE tasks SET lease_until = $1, attempts = attempts + 1 WHERE id = $2 AND status = 'InProgress' \
         AND (lease_until IS NULL OR lease_until < $3)",
    )
    .bind(until)
    .bind(id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Records a task's outcome.
pub async fn finish_task(
    conn: &mut Conn,
    id: &str,
    status: TaskStatus,
    reason: Option<&str>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE tasks SET status = $1, failure_reason = $2, finished_at = $3, lease_until = NULL WHERE id = $4",
    )
    .bind(status.as_str())
    .bind(reason)
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Whether an access configuration has unfinished tasks.
pub async fn has_running_tasks_for_ac(conn: &mut Conn, ac_id: &str) -> Result<bool> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM tasks WHERE access_configuration_id = $1 AND status = 'InProgress'",
    )
    .bind(ac_id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get::<i64, _>("n")? > 0)
}

/// Clears the lease of a task whose run was cut short, so the worker retries it.
pub async fn release_task(conn: &mut Conn, id: &str) -> Result<()> {
    sqlx::query("UPDATE tasks SET lease_until = NULL WHERE id = $1 AND status = 'InProgress'")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The raw row of a task by id alone (the worker does not know the directory).
pub async fn get_task_any(conn: &mut Conn, id: &str) -> Result<Option<Task>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(task_from_row).transpose()
}

// ---- RAM user provisionings ----

const UP_COLUMNS: &str = "id, directory_id, principal_type, principal_id, account_id, duplication_strategy, \
    deletion_strategy, description, created_at";

fn up_from_row(row: &AnyRow) -> Result<UserProvisioning> {
    let p: String = row.try_get("principal_type")?;
    let dup: String = row.try_get("duplication_strategy")?;
    let del: String = row.try_get("deletion_strategy")?;
    Ok(UserProvisioning {
        id: row.try_get("id")?,
        directory_id: row.try_get("directory_id")?,
        principal_type: PrincipalType::parse(&p).ok_or_else(|| corrupt("principal_type", &p))?,
        principal_id: row.try_get("principal_id")?,
        account_id: row.try_get("account_id")?,
        duplication_strategy: DuplicationStrategy::parse(&dup)
            .ok_or_else(|| corrupt("duplication_strategy", &dup))?,
        deletion_strategy: DeletionStrategy::parse(&del)
            .ok_or_else(|| corrupt("deletion_strategy", &del))?,
        description: row.try_get("description")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Inserts a RAM user provisioning.
pub async fn insert_user_provisioning(conn: &mut Conn, up: &UserProvisioning) -> Result<()> {
    sqlx::query(
        "INSERT INTO ram_user_provisionings (id, directory_id, principal_type, principal_id, account_id, \
         duplication_strategy, deletion_strategy, description, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&up.id)
    .bind(&up.directory_id)
    .bind(up.principal_type.as_str())
    .bind(&up.principal_id)
    .bind(&up.account_id)
    .bind(up.duplication_strategy.as_str())
    .bind(up.deletion_strategy.as_str())
    .bind(&up.description)
    .bind(up.created_at)
    .execute(&mut *conn)
    .await
    .map_err(unique_as("RAM user provisioning", "principal and account"))?;
    Ok(())
}

/// The RAM user provisioning `id` of a directory.
pub async fn get_user_provisioning(
    conn: &mut Conn,
    directory_id: &str,
    id: &str,
) -> Result<Option<UserProvisioning>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {UP_COLUMNS} FROM ram_user_provisionings WHERE directory_id = $1 AND id = $2"
    )))
    .bind(directory_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(up_from_row).transpose()
}

/// The RAM user provisionings of a directory.
pub async fn list_user_provisionings(
    conn: &mut Conn,
    directory_id: &str,
) -> Result<Vec<UserProvisioning>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {UP_COLUMNS} FROM ram_user_provisionings WHERE directory_id = $1 ORDER BY created_at, id"
    )))
    .bind(directory_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(up_from_row).collect()
}

/// Deletes a RAM user provisioning.
pub async fn delete_user_provisioning(conn: &mut Conn, id: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM ram_user_provisionings WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}
