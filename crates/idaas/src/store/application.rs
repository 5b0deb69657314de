//! Applications (`applications`), with the SAML configuration as a JSON column.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Conn, from_json, like_escape, to_json};
use crate::application::{Application, AuthorizationType, SourceType, Status};
use crate::error::{Error, Result};

const COLUMNS: &str = "id, instance_id, name, template_id, source_type, sso_type, status, sso_status, \
    authorization_type, saml_config, created_at, updated_at";

fn corrupt(column: &str, value: &str) -> Error {
    Error::Corrupt(format!("applications.{column} = {value:?}"))
}

fn from_row(row: &AnyRow) -> Result<Application> {
    let source: String = row.try_get("source_type")?;
    let status: String = row.try_get("status")?;
    let sso_status: String = row.try_get("sso_status")?;
    let authz: String = row.try_get("authorization_type")?;
    let saml: String = row.try_get("saml_config")?;
    Ok(Application {
        id: row.try_get("id")?,
        instance_id: row.try_get("instance_id")?,
        name: row.try_get("name")?,
        template_id: row.try_get("template_id")?,
        source_type: SourceType::parse(&source).ok_or_else(|| corrupt("source_type", &source))?,
        sso_type: row.try_get("sso_type")?,
        status: Status::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        sso_status: Status::parse(&sso_status).ok_or_else(|| corrupt("sso_status", &sso_status))?,
        authorization_type: AuthorizationType::parse(&authz)
            .ok_or_else(|| corrupt("authorization_type", &authz))?,
        saml: from_json("applications.saml_config", &saml)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Inserts a new application.
pub async fn insert(conn: &mut Conn, app: &Application) -> Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO applications ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    )))
    .bind(&app.id)
    .bind(&app.instance_id)
    .bind(&app.name)
    .bind(&app.template_id)
    .bind(app.source_type.as_str())
    .bind(&app.sso_type)
    .bind(app.status.as_str())
    .bind(app.sso_status.as_str())
    .bind(app.authorization_type.as_str())
    .bind(to_json(&app.saml)?)
    .bind(app.created_at)
    .bind(app.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Writes every mutable column of `app` (name, source, statuses, authorization, SAML config).
pub async fn update(conn: &mut Conn, app: &Application) -> Result<()> {
    let r = sqlx::query(
        "UPDATE applications SET name = $1, source_type = $2, status = $3, sso_status = $4, \
         authorization_type = $5, saml_config = $6, updated_at = $7 WHERE id = $8 AND instance_id = $9",
    )
    .bind(&app.name)
    .bind(app.source_type.as_str())
    .bind(app.status.as_str())
    .bind(app.sso_status.as_str())
    .bind(app.authorization_type.as_str())
    .bind(to_json(&app.saml)?)
    .bind(app.updated_at)
    .bind(&app.id)
    .bind(&app.instance_id)
    .execute(&mut *conn)
    .await?;
    if r.rows_affected() == 0 {
        return Err(Error::NotFound("application"));
    }
    Ok(())
}

/// An application by id, whatever its instance (SAML endpoints are addressed by app id alone).
pub async fn get_any(conn: &mut Conn, id: &str) -> Result<Option<Application>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM applications WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// An application of `instance_id`.
pub async fn get(conn: &mut Conn, instance_id: &str, id: &str) -> Result<Option<Application>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM applications WHERE id = $1 AND instance_id = $2"
    )))
    .bind(id)
    .bind(instance_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Applications of an instance, optionally filtered by a case-insensitive name substring, by name.
pub async fn list(
    conn: &mut Conn,
    instance_id: &str,
    name_contains: Option<&str>,
) -> Result<Vec<Application>> {
    let rows = match name_contains.map(str::trim).filter(|q| !q.is_empty()) {
        Some(q) => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM applications WHERE instance_id = $1 \
                 AND LOWER(name) LIKE $2 ESCAPE '\\' ORDER BY name, id"
            )))
            .bind(instance_id)
            .bind(format!("%{}%", like_escape(&q.to_lowercase())))
            .fetch_all(&mut *conn)
            .await?
        }
        None => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM applications WHERE instance_id = $1 ORDER BY name, id"
            )))
            .bind(instance_id)
            .fetch_all(&mut *conn)
            .await?
        }
    };
    rows.iter().map(from_row).collect()
}

/// Deletes an application (grants, accounts and pending requests go with it).
pub async fn delete(conn: &mut Conn, instance_id: &str, id: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM applications WHERE id = $1 AND instance_id = $2")
        .bind(id)
        .bind(instance_id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}
