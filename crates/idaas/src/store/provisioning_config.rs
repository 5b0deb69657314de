//! `provisioning_configs`: one SCIM provisioning configuration per application. The `auth` column
//! holds the secrets sealed with the master key (see [`crate::provisioning::config::seal_auth`]).

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Conn, flag, from_json, to_json};
use crate::error::{Error, Result};
use crate::master_key::MasterKey;
use crate::provisioning::config::{
    Actions, Compatibility, DeprovisionMode, Protocol, ProvisioningConfig, open_auth, seal_auth,
};

const COLUMNS: &str = "app_id, instance_id, enabled, protocol, base_url, auth, scope, actions, \
    attribute_mapping, deprovision_mode, compatibility, max_attempts, created_at, updated_at";

fn corrupt(column: &str, value: &str) -> Error {
    Error::Corrupt(format!("provisioning_configs.{column} = {value:?}"))
}

fn from_row(master: &MasterKey, row: &AnyRow) -> Result<ProvisioningConfig> {
    let app_id: String = row.try_get("app_id")?;
    let protocol: String = row.try_get("protocol")?;
    let deprovision: String = row.try_get("deprovision_mode")?;
    let compat: String = row.try_get("compatibility")?;
    let auth: String = row.try_get("auth")?;
    let scope: String = row.try_get("scope")?;
    let actions: String = row.try_get("actions")?;
    let mapping: String = row.try_get("attribute_mapping")?;
    let max_attempts: i64 = row.try_get("max_attempts")?;
    Ok(ProvisioningConfig {
        instance_id: row.try_get("instance_id")?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        protocol: Protocol::parse(&protocol).ok_or_else(|| corrupt("protocol", &protocol))?,
        base_url: row.try_get("base_url")?,
        auth: open_auth(master, &app_id, &auth)?,
        scope: from_json("provisioning_configs.scope", &scope)?,
        actions: from_json::<Actions>("provisioning_configs.actions", &actions)?,
        attribute_mapping: from_json("provisioning_configs.attribute_mapping", &mapping)?,
        deprovision_mode: DeprovisionMode::parse(&deprovision)
            .ok_or_else(|| corrupt("deprovision_mode", &deprovision))?,
        compatibility: Compatibility::parse(&compat)
            .ok_or_else(|| corrupt("compatibility", &compat))?,
        max_attempts: u32::try_from(max_attempts)
            .map_err(|_| corrupt("max_attempts", &max_attempts.to_string()))?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        app_id,
    })
}

/// The configuration of application `app_id` (secrets opened with `master`).
pub async fn get(
    conn: &mut Conn,
    master: &MasterKey,
    app_id: &str,
) -> Result<Option<ProvisioningConfig>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM provisioning_configs WHERE app_id = $1"
    )))
    .bind(app_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(|r| from_row(master, r)).transpose()
}

/// Every enabled configuration (all instances), ordered by application id (for the worker).
pub async fn list_enabled(conn: &mut Conn, master: &MasterKey) -> Result<Vec<ProvisioningConfig>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM provisioning_configs WHERE enabled = 1 ORDER BY app_id"
    )))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| from_row(master, r)).collect()
}

/// Every configuration of an instance, ordered by application id.
pub async fn list_for_instance(
    conn: &mut Conn,
    master: &MasterKey,
    instance_id: &str,
) -> Result<Vec<ProvisioningConfig>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM provisioning_configs WHERE instance_id = $1 ORDER BY app_id"
    )))
    .bind(instance_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| from_row(master, r)).collect()
}

/// Inserts or replaces the configuration of `cfg.app_id` (secrets sealed with `master`).
pub async fn upsert(conn: &mut Conn, master: &MasterKey, cfg: &ProvisioningConfig) -> Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO provisioning_configs ({COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
         ON CONFLICT (app_id) DO UPDATE SET enabled = excluded.enabled, protocol = excluded.protocol, \
         base_url = excluded.base_url, auth = excluded.auth, scope = excluded.scope, \
         actions = excluded.actions, attribute_mapping = excluded.attribute_mapping, \
         deprovision_mode = excluded.deprovision_mode, compatibility = excluded.compatibility, \
         max_attempts = excluded.max_attempts, updated_at = excluded.updated_at"
    )))
    .bind(&cfg.app_id)
    .bind(&cfg.instance_id)
    .bind(flag(cfg.enabled))
    .bind(cfg.protocol.as_str())
    .bind(&cfg.base_url)
    .bind(seal_auth(master, &cfg.app_id, cfg.auth.as_ref())?)
    .bind(to_json(&cfg.scope)?)
    .bind(to_json(&cfg.actions)?)
    .bind(to_json(&cfg.attribute_mapping)?)
    .bind(cfg.deprovision_mode.as_str())
    .bind(cfg.compatibility.as_str())
    .bind(i64::from(cfg.max_attempts))
    .bind(cfg.created_at)
    .bind(cfg.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
