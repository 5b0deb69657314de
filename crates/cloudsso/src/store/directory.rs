//! `directories` and `idp_certificates`.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Conn, flag, from_json, to_json, unique_as};
use crate::directory::{BindingType, Directory, IdpConfig, SsoSettings};
use crate::error::{Error, Result};
use crate::login_preference::LoginPreference;
use crate::password_logon::MfaSetting;

const COLUMNS: &str = "id, name, acs_uuid, sso_enabled, idp_entity_id, idp_login_url, idp_metadata, \
    want_request_signed, binding_type, allow_unsolicited, idp_updated_at, sp_key_enc, sp_certificate, \
    allow_user_to_get_credentials, login_network_masks, password_policy, mfa_setting, \
    portal_session_secs, created_at, updated_at";

/// What the getters select: the inserted [`COLUMNS`] plus those with a default (0003_scim.sql).
const SELECT_COLUMNS: &str = "id, name, acs_uuid, sso_enabled, idp_entity_id, idp_login_url, idp_metadata, \
    want_request_signed, binding_type, allow_unsolicited, idp_updated_at, sp_key_enc, sp_certificate, \
    allow_user_to_get_credentials, login_network_masks, password_policy, mfa_setting, \
    portal_session_secs, created_at, updated_at, scim_enabled";

fn from_row(row: &AnyRow) -> Result<Directory> {
    let entity_id: Option<String> = row.try_get("idp_entity_id")?;
    let login_url: Option<String> = row.try_get("idp_login_url")?;
    let metadata: Option<String> = row.try_get("idp_metadata")?;
    let idp = match (entity_id, login_url) {
        (Some(entity_id), Some(login_url)) => Some(IdpConfig {
            entity_id,
            login_url,
            from_metadata: metadata.is_some(),
            updated_at: row
                .try_get::<Option<i64>, _>("idp_updated_at")?
                .unwrap_or(0),
        }),
        _ => None,
    };
    let binding: String = row.try_get("binding_type")?;
    let mfa: String = row.try_get("mfa_setting")?;
    let masks: String = row.try_get("login_network_masks")?;
    let policy: String = row.try_get("password_policy")?;
    Ok(Directory {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        acs_uuid: row.try_get("acs_uuid")?,
        sso: SsoSettings {
            enabled: row.try_get::<i64, _>("sso_enabled")? != 0,
            idp,
            want_request_signed: row.try_get::<i64, _>("want_request_signed")? != 0,
            binding_type: BindingType::parse(&binding)
                .ok_or_else(|| Error::Corrupt(format!("binding_type {binding:?}")))?,
            allow_unsolicited: row.try_get::<i64, _>("allow_unsolicited")? != 0,
        },
        login_preference: LoginPreference {
            allow_user_to_get_credentials: row
                .try_get::<i64, _>("allow_user_to_get_credentials")?
                != 0,
            login_network_masks: from_json("login_network_masks", &masks)?,
        },
        password_policy: from_json("password_policy", &policy)?,
        mfa_setting: MfaSetting::parse(&mfa)
            .ok_or_else(|| Error::Corrupt(format!("mfa_setting {mfa:?}")))?,
        portal_session_secs: row.try_get("portal_session_secs")?,
        scim_enabled: row.try_get::<i64, _>("scim_enabled")? != 0,
        sp_certificate: row.try_get("sp_certificate")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        sp_key_enc: row.try_get("sp_key_enc")?,
    })
}

/// Inserts a new directory.
pub async fn insert(conn: &mut Conn, d: &Directory) -> Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO directories ({COLUMNS}, name_key) VALUES \
         ($1, $2, $3, $4, NULL, NULL, NULL, $5, $6, $7, NULL, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
    )))
    .bind(&d.id)
    .bind(&d.name)
    .bind(&d.acs_uuid)
    .bind(flag(d.sso.enabled))
    .bind(flag(d.sso.want_request_signed))
    .bind(d.sso.binding_type.as_str())
    .bind(flag(d.sso.allow_unsolicited))
    .bind(&d.sp_key_enc)
    .bind(&d.sp_certificate)
    .bind(flag(d.login_preference.allow_user_to_get_credentials))
    .bind(to_json(&d.login_preference.login_network_masks)?)
    .bind(to_json(&d.password_policy)?)
    .bind(d.mfa_setting.as_str())
    .bind(d.portal_session_secs)
    .bind(d.created_at)
    .bind(d.updated_at)
    .bind(d.name.to_lowercase())
    .execute(&mut *conn)
    .await
    .map_err(unique_as("directory", "name"))?;
    Ok(())
}

async fn get_where(conn: &mut Conn, column: &str, value: &str) -> Result<Option<Directory>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {SELECT_COLUMNS} FROM directories WHERE {column} = $1"
    )))
    .bind(value)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The directory with this id.
pub async fn get(conn: &mut Conn, id: &str) -> Result<Option<Directory>> {
    get_where(conn, "id", id).await
}

/// The directory with this name (case-insensitive).
pub async fn get_by_name(conn: &mut Conn, name: &str) -> Result<Option<Directory>> {
    get_where(conn, "name_key", &name.to_lowercase()).await
}

/// The directory whose ACS URL ends with this uuid.
pub async fn get_by_acs_uuid(conn: &mut Conn, acs_uuid: &str) -> Result<Option<Directory>> {
    get_where(conn, "acs_uuid", acs_uuid).await
}

/// All directories, oldest first.
pub async fn list(conn: &mut Conn) -> Result<Vec<Directory>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {SELECT_COLUMNS} FROM directories ORDER BY created_at, id"
    )))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Renames a directory.
pub async fn rename(conn: &mut Conn, id: &str, name: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE directories SET name = $1, name_key = $2, updated_at = $3 WHERE id = $4")
        .bind(name)
        .bind(name.to_lowercase())
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(unique_as("directory", "name"))?;
    Ok(())
}

/// Writes the SSO switches (status, request signing, binding, unsolicited).
pub async fn update_sso_flags(
    conn: &mut Conn,
    id: &str,
    sso: &SsoSettings,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE directories SET sso_enabled = $1, want_request_signed = $2, binding_type = $3, \
         allow_unsolicited = $4, updated_at = $5 WHERE id = $6",
    )
    .bind(flag(sso.enabled))
    .bind(flag(sso.want_request_signed))
    .bind(sso.binding_type.as_str())
    .bind(flag(sso.allow_unsolicited))
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Writes the IdP entity ID, logon URL and (for uploads) the metadata document; `None`s clear it.
pub async fn set_idp(
    conn: &mut Conn,
    id: &str,
    entity_id: Option<&str>,
    login_url: Option<&str>,
    metadata: Option<&str>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE directories SET idp_entity_id = $1, idp_login_url = $2, idp_metadata = $3, \
         idp_updated_at = $4, updated_at = $4 WHERE id = $5",
    )
    .bind(entity_id)
    .bind(login_url)
    .bind(metadata)
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Writes login preferences, password policy, MFA setting and portal session lifetime.
pub async fn update_settings(conn: &mut Conn, d: &Directory, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE directories SET allow_user_to_get_credentials = $1, login_network_masks = $2, \
         password_policy = $3, mfa_setting = $4, portal_session_secs = $5, updated_at = $6 WHERE id = $7",
    )
    .bind(flag(d.login_preference.allow_user_to_get_credentials))
    .bind(to_json(&d.login_preference.login_network_masks)?)
    .bind(to_json(&d.password_policy)?)
    .bind(d.mfa_setting.as_str())
    .bind(d.portal_session_secs)
    .bind(now)
    .bind(&d.id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Turns SCIM synchronization on or off.
pub async fn set_scim_enabled(conn: &mut Conn, id: &str, enabled: bool, now: i64) -> Result<bool> {
    let r = sqlx::query("UPDATE directories SET scim_enabled = $1, updated_at = $2 WHERE id = $3")
        .bind(flag(enabled))
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Whether SCIM synchronization is on for the directory (`None`: no such directory).
pub async fn scim_enabled(conn: &mut Conn, id: &str) -> Result<Option<bool>> {
    let v: Option<i64> = sqlx::query_scalar("SELECT scim_enabled FROM directories WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(v.map(|v| v != 0))
}

/// Takes the directory's row lock for the rest of the transaction (a no-op update: PostgreSQL
/// locks the row; SQLite's `BEGIN IMMEDIATE` already serializes writers). Use it before
/// check-then-insert rules such as "at most two SCIM credentials". Returns whether it exists.
pub async fn lock(conn: &mut Conn, id: &str) -> Result<bool> {
    let r = sqlx::query("UPDATE directories SET updated_at = updated_at WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Deletes a directory (everything of it cascades).
pub async fn delete(conn: &mut Conn, id: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM directories WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// A stored IdP signing certificate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct IdpCertificate {
    /// `cert-…`
    pub id: String,
    /// PEM.
    pub certificate: String,
    /// SHA-256 fingerprint (hex, colon-separated as `saml` formats it).
    pub fingerprint: String,
    /// When it was added.
    pub created_at: i64,
}

/// The IdP certificates of a directory, oldest first.
pub async fn list_certs(conn: &mut Conn, directory_id: &str) -> Result<Vec<IdpCertificate>> {
    let rows = sqlx::query(
        "SELECT id, certificate, fingerprint, created_at FROM idp_certificates \
         WHERE directory_id = $1 ORDER BY created_at, id",
    )
    .bind(directory_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(IdpCertificate {
                id: r.try_get("id")?,
                certificate: r.try_get("certificate")?,
                fingerprint: r.try_get("fingerprint")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

/// Adds an IdP certificate.
pub async fn add_cert(conn: &mut Conn, directory_id: &str, cert: &IdpCertificate) -> Result<()> {
    sqlx::query(
        "INSERT INTO idp_certificates (id, directory_id, certificate, fingerprint, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&cert.id)
    .bind(directory_id)
    .bind(&cert.certificate)
    .bind(&cert.fingerprint)
    .bind(cert.created_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Removes one IdP certificate.
pub async fn remove_cert(conn: &mut Conn, directory_id: &str, cert_id: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM idp_certificates WHERE directory_id = $1 AND id = $2")
        .bind(directory_id)
        .bind(cert_id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Removes all IdP certificates of a directory.
pub async fn clear_certs(conn: &mut Conn, directory_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM idp_certificates WHERE directory_id = $1")
        .bind(directory_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
