//! Application grants (`app_grants`) and the authorization question "may this user use this app?".
//!
//! A grant names a user, an organizational unit (covering every account in it or in any unit below
//! it) or a group. Org-unit coverage is computed when asked, by walking up from the user's units, so
//! no per-account record is kept (products.md §1.8).

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::Conn;
use crate::error::{Error, Result};

/// What a grant names.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SubjectType {
    /// One account.
    User,
    /// An organizational unit and everything below it.
    OrgUnit,
    /// A group's members.
    Group,
}

impl SubjectType {
    /// Database text.
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectType::User => "user",
            SubjectType::OrgUnit => "org_unit",
            SubjectType::Group => "group",
        }
    }

    /// Parses the database text.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "user" => Some(SubjectType::User),
            "org_unit" => Some(SubjectType::OrgUnit),
            "group" => Some(SubjectType::Group),
            _ => None,
        }
    }

    /// The table holding subjects of this type (to check they exist in the instance).
    fn table(self) -> &'static str {
        match self {
            SubjectType::User => "users",
            SubjectType::OrgUnit => "org_units",
            SubjectType::Group => "groups",
        }
    }
}

/// A stored grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Grant {
    /// Application.
    pub app_id: String,
    /// Subject kind.
    pub subject_type: SubjectType,
    /// Subject id.
    pub subject_id: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// Whether `subject_id` of `subject_type` exists in `instance_id`.
pub async fn subject_exists(
    conn: &mut Conn,
    instance_id: &str,
    subject_type: SubjectType,
    subject_id: &str,
) -> Result<bool> {
    let sql = format!(
        "SELECT 1 AS one FROM {} WHERE id = $1 AND instance_id = $2",
        subject_type.table()
    );
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(subject_id)
        .bind(instance_id)
        .fetch_optional(&mut *conn)
        .await?
        .is_some())
}

/// Adds a grant; returns `false` when it already existed.
pub async fn add(
    conn: &mut Conn,
    app_id: &str,
    subject_type: SubjectType,
    subject_id: &str,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "INSERT INTO app_grants (app_id, subject_type, subject_id, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (app_id, subject_type, subject_id) DO NOTHING",
    )
    .bind(app_id)
    .bind(subject_type.as_str())
    .bind(subject_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Removes a grant; returns `false` when there was none.
pub async fn remove(
    conn: &mut Conn,
    app_id: &str,
    subject_type: SubjectType,
    subject_id: &str,
) -> Result<bool> {
    let r = sqlx::query(
        "DELETE FROM app_grants WHERE app_id = $1 AND subject_type = $2 AND subject_id = $3",
    )
    .bind(app_id)
    .bind(subject_type.as_str())
    .bind(subject_id)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Grants of an application.
pub async fn list(conn: &mut Conn, app_id: &str) -> Result<Vec<Grant>> {
    let rows = sqlx::query(
        "SELECT app_id, subject_type, subject_id, created_at FROM app_grants WHERE app_id = $1 \
         ORDER BY subject_type, subject_id",
    )
    .bind(app_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            let t: String = row.try_get("subject_type")?;
            Ok(Grant {
                app_id: row.try_get("app_id")?,
                subject_type: SubjectType::parse(&t)
                    .ok_or_else(|| Error::Corrupt(format!("app_grants.subject_type = {t:?}")))?,
                subject_id: row.try_get("subject_id")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .collect()
}

/// The user's organizational units and all their ancestors, then the grants matching the user,
/// those units or the user's groups.
const COVERING_GRANTS: &str = "WITH RECURSIVE user_ous (id, parent_id) AS ( \
        SELECT o.id, o.parent_id FROM org_units o JOIN user_org_units m ON m.ou_id = o.id WHERE m.user_id = $1 \
        UNION \
        SELECT o.id, o.parent_id FROM org_units o JOIN users u ON u.primary_ou_id = o.id WHERE u.id = $1 \
        UNION \
        SELECT p.id, p.parent_id FROM org_units p JOIN user_ous c ON p.id = c.parent_id \
    ) \
    SELECT DISTINCT g.app_id AS app_id FROM app_grants g WHERE \
        (g.subject_type = 'user' AND g.subject_id = $1) \
        OR (g.subject_type = 'group' AND g.subject_id IN (SELECT group_id FROM group_members WHERE user_id = $1)) \
        OR (g.subject_type = 'org_unit' AND g.subject_id IN (SELECT id FROM user_ous))";

/// Ids of the applications explicitly granted to `user_id` (directly, by org unit or by group).
pub async fn granted_app_ids(conn: &mut Conn, user_id: &str) -> Result<Vec<String>> {
    let rows = sqlx::query(COVERING_GRANTS)
        .bind(user_id)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| Ok(r.try_get::<String, _>("app_id")?))
        .collect()
}

/// Whether some grant of `app_id` covers `user_id`.
pub async fn covers(conn: &mut Conn, app_id: &str, user_id: &str) -> Result<bool> {
    Ok(granted_app_ids(conn, user_id)
        .await?
        .iter()
        .any(|a| a == app_id))
}
