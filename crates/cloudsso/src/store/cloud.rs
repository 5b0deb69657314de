//! The built-in cloud: accounts, SAML providers, roles, users, custom policies, attachments, STS
//! credentials and nonces, the assertion replay cache, console sessions, role-SSO keys.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Conn, flag, from_json, to_json, unique_as};
use crate::cloud::resource::{
    CloudAccount, ConsoleSession, CustomPolicy, IdentityType, PolicyRef, PolicyType, RamUser, Role,
    SamlProvider, StoredCredential,
};
use crate::error::{Error, Result};

fn key(name: &str) -> String {
    name.to_ascii_lowercase()
}

// ---- accounts ----

fn account_from_row(row: &AnyRow) -> Result<CloudAccount> {
    Ok(CloudAccount {
        id: row.try_get("id")?,
        directory_id: row.try_get("directory_id")?,
        name: row.try_get("name")?,
        folder: row.try_get("folder")?,
        is_management: row.try_get::<i64, _>("is_management")? != 0,
        created_at: row.try_get("created_at")?,
    })
}

/// Inserts an account.
pub async fn insert_account(conn: &mut Conn, a: &CloudAccount) -> Result<()> {
    sqlx::query(
        "INSERT INTO cloud_accounts (id, directory_id, name, folder, is_management, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&a.id)
    .bind(&a.directory_id)
    .bind(&a.name)
    .bind(&a.folder)
    .bind(flag(a.is_management))
    .bind(a.created_at)
    .execute(&mut *conn)
    .await
    .map_err(unique_as("account", "id"))?;
    Ok(())
}

/// The account with this ID (any directory).
pub async fn get_account(conn: &mut Conn, id: &str) -> Result<Option<CloudAccount>> {
    let row = sqlx::query(
        "SELECT id, directory_id, name, folder, is_management, created_at FROM cloud_accounts WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(account_from_row).transpose()
}

/// The accounts of a directory's resource directory, management account first.
pub async fn list_accounts(conn: &mut Conn, directory_id: &str) -> Result<Vec<CloudAccount>> {
    let rows = sqlx::query(
        "SELECT id, directory_id, name, folder, is_management, created_at FROM cloud_accounts \
         WHERE directory_id = $1 ORDER BY is_management DESC, created_at, id",
    )
    .bind(directory_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(account_from_row).collect()
}

// ---- SAML providers ----

fn provider_from_row(row: &AnyRow) -> Result<SamlProvider> {
    let account_id: String = row.try_get("account_id")?;
    let name: String = row.try_get("name")?;
    let certs: String = row.try_get("certificates")?;
    Ok(SamlProvider {
        arn: format!("acs:ram::{account_id}:saml-provider/{name}"),
        account_id,
        name,
        description: row.try_get("description")?,
        idp_entity_id: row.try_get("idp_entity_id")?,
        certificates: from_json("certificates", &certs)?,
        reserved: row.try_get::<i64, _>("reserved")? != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

const PROVIDER_COLUMNS: &str =
    "account_id, name, description, idp_entity_id, certificates, reserved, created_at, updated_at";

/// Inserts a SAML provider.
pub async fn insert_provider(
    conn: &mut Conn,
    p: &SamlProvider,
    metadata: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO cloud_saml_providers (account_id, name, name_key, description, idp_entity_id, \
         certificates, metadata, reserved, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&p.account_id)
    .bind(&p.name)
    .bind(key(&p.name))
    .bind(&p.description)
    .bind(&p.idp_entity_id)
    .bind(to_json(&p.certificates)?)
    .bind(metadata)
    .bind(flag(p.reserved))
    .bind(p.created_at)
    .bind(p.updated_at)
    .execute(&mut *conn)
    .await
    .map_err(unique_as("SAML provider", "name"))?;
    Ok(())
}

/// Updates a provider's trusted IdP and description.
pub async fn update_provider(
    conn: &mut Conn,
    p: &SamlProvider,
    metadata: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "UPDATE cloud_saml_providers SET description = $1, idp_entity_id = $2, certificates = $3, \
         metadata = $4, updated_at = $5 WHERE account_id = $6 AND name_key = $7",
    )
    .bind(&p.description)
    .bind(&p.idp_entity_id)
    .bind(to_json(&p.certificates)?)
    .bind(metadata)
    .bind(p.updated_at)
    .bind(&p.account_id)
    .bind(key(&p.name))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The provider `name` of an account (case-insensitive).
pub async fn get_provider(
    conn: &mut Conn,
    account_id: &str,
    name: &str,
) -> Result<Option<SamlProvider>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {PROVIDER_COLUMNS} FROM cloud_saml_providers WHERE account_id = $1 AND name_key = $2"
    )))
    .bind(account_id)
    .bind(key(name))
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(provider_from_row).transpose()
}

/// The providers of an account.
pub async fn list_providers(conn: &mut Conn, account_id: &str) -> Result<Vec<SamlProvider>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {PROVIDER_COLUMNS} FROM cloud_saml_providers WHERE account_id = $1 ORDER BY name_key"
    )))
    .bind(account_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(provider_from_row).collect()
}

/// Deletes a provider.
pub async fn delete_provider(conn: &mut Conn, account_id: &str, name: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM cloud_saml_providers WHERE account_id = $1 AND name_key = $2")
        .bind(account_id)
        .bind(key(name))
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

// ---- attachments ----

/// `role` or `user`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    /// A RAM role.
    Role,
    /// A RAM user.
    User,
}

impl PrincipalKind {
    fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::Role => "role",
            PrincipalKind::User => "user",
        }
    }
}

/// Attaches a policy (no-op when already attached).
pub async fn attach(
    conn: &mut Conn,
    account_id: &str,
    kind: PrincipalKind,
    principal: &str,
    policy: &PolicyRef,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO cloud_policy_attachments (account_id, principal_type, principal_key, policy_type, \
         policy_name, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(account_id)
    .bind(kind.as_str())
    .bind(key(principal))
    .bind(policy.policy_type.as_str())
    .bind(&policy.policy_name)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Detaches a policy; false when it was not attached.
pub async fn detach(
    conn: &mut Conn,
    account_id: &str,
    kind: PrincipalKind,
    principal: &str,
    policy: &PolicyRef,
) -> Result<bool> {
    let r = sqlx::query(
        "DELETE FROM cloud_policy_attachments WHERE account_id = $1 AND principal_type = $2 \
         AND principal_key = $3 AND policy_type = $4 AND policy_name = $5",
    )
    .bind(account_id)
    .bind(kind.as_str())
    .bind(key(principal))
    .bind(policy.policy_type.as_str())
    .bind(&policy.policy_name)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Detaches everything from a principal.
pub async fn detach_all(
    conn: &mut Conn,
    account_id: &str,
    kind: PrincipalKind,
    principal: &str,
) -> Result<()> {
    sqlx::query(
        "DELETE FROM cloud_policy_attachments WHERE account_id = $1 AND principal_type = $2 AND principal_key = $3",
    )
    .bind(account_id)
    .bind(kind.as_str())
    .bind(key(principal))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The policies attached to a principal.
pub async fn attached(
    conn: &mut Conn,
    account_id: &str,
    kind: PrincipalKind,
    principal: &str,
) -> Result<Vec<PolicyRef>> {
    let rows = sqlx::query(
        "SELECT policy_type, policy_name FROM cloud_policy_attachments WHERE account_id = $1 \
         AND principal_type = $2 AND principal_key = $3 ORDER BY policy_type DESC, policy_name",
    )
    .bind(account_id)
    .bind(kind.as_str())
    .bind(key(principal))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            let t: String = row.try_get("policy_type")?;
            Ok(PolicyRef {
                policy_type: PolicyType::parse(&t)
                    .ok_or_else(|| Error::Corrupt(format!("policy_type {t:?}")))?,
                policy_name: row.try_get("policy_name")?,
            })
        })
        .collect()
}

/// Whether a custom policy is attached to anything.
pub async fn policy_in_use(conn: &mut Conn, account_id: &str, policy_name: &str) -> Result<bool> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM cloud_policy_attachments WHERE account_id = $1 AND policy_type = 'Custom' \
         AND policy_name = $2",
    )
    .bind(account_id)
    .bind(policy_name)
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get::<i64, _>("n")? > 0)
}

// ---- roles ----

const ROLE_COLUMNS: &str = "account_id, name, role_id, description, trust_policy, max_session_duration, \
    reserved, created_at, updated_at";

fn role_from_row(row: &AnyRow) -> Result<Role> {
    let account_id: String = row.try_get("account_id")?;
    let name: String = row.try_get("name")?;
    Ok(Role {
        arn: format!("acs:ram::{account_id}:role/{name}"),
        account_id,
        name,
        role_id: row.try_get("role_id")?,
        description: row.try_get("description")?,
        trust_policy: row.try_get("trust_policy")?,
        max_session_duration: row.try_get("max_session_duration")?,
        reserved: row.try_get::<i64, _>("reserved")? != 0,
        policies: Vec::new(),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Inserts a role.
pub async fn insert_role(conn: &mut Conn, r: &Role) -> Result<()> {
    sqlx::query(
        "INSERT INTO cloud_roles (account_id, name, name_key, role_id, description, trust_policy, \
         max_session_duration, reserved, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&r.account_id)
    .bind(&r.name)
    .bind(key(&r.name))
    .bind(&r.role_id)
    .bind(&r.description)
    .bind(&r.trust_policy)
    .bind(r.max_session_duration)
    .bind(flag(r.reserved))
    .bind(r.created_at)
    .bind(r.updated_at)
    .execute(&mut *conn)
    .await
    .map_err(unique_as("role", "name"))?;
    Ok(())
}

/// Updates a role's description, trust policy and max session duration.
pub async fn update_role(conn: &mut Conn, r: &Role) -> Result<()> {
    sqlx::query(
        "UPDATE cloud_roles SET description = $1, trust_policy = $2, max_session_duration = $3, updated_at = $4 \
         WHERE account_id = $5 AND name_key = $6",
    )
    .bind(&r.description)
    .bind(&r.trust_policy)
    .bind(r.max_session_duration)
    .bind(r.updated_at)
    .bind(&r.account_id)
    .bind(key(&r.name))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The role `name` of an account (case-insensitive), with its attached policies.
pub async fn get_role(conn: &mut Conn, account_id: &str, name: &str) -> Result<Option<Role>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ROLE_COLUMNS} FROM cloud_roles WHERE account_id = $1 AND name_key = $2"
    )))
    .bind(account_id)
    .bind(key(name))
    .fetch_optional(&mut *conn)
    .await?;
    let Some(mut role) = row.as_ref().map(role_from_row).transpose()? else {
        return Ok(None);
    };
    role.policies = attached(conn, account_id, PrincipalKind::Role, &role.name).await?;
    Ok(Some(role))
}

/// The roles of an account, with their policies.
pub async fn list_roles(conn: &mut Conn, account_id: &str) -> Result<Vec<Role>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ROLE_COLUMNS} FROM cloud_roles WHERE account_id = $1 ORDER BY name_key"
    )))
    .bind(account_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut roles = rows.iter().map(role_from_row).collect::<Result<Vec<_>>>()?;
    for role in &mut roles {
        role.policies = attached(conn, account_id, PrincipalKind::Role, &role.name).await?;
    }
    Ok(roles)
}

/// Deletes a role and its attachments.
pub async fn delete_role(conn: &mut Conn, account_id: &str, name: &str) -> Result<bool> {
    detach_all(conn, account_id, PrincipalKind::Role, name).await?;
    let r = sqlx::query("DELETE FROM cloud_roles WHERE account_id = $1 AND name_key = $2")
        .bind(account_id)
        .bind(key(name))
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

// ---- users ----

const USER_COLUMNS: &str =
    "account_id, name, user_id, display_name, provisioning_id, sso_user_id, created_at";

fn user_from_row(row: &AnyRow) -> Result<RamUser> {
    Ok(RamUser {
        account_id: row.try_get("account_id")?,
        name: row.try_get("name")?,
        user_id: row.try_get("user_id")?,
        display_name: row.try_get("display_name")?,
        provisioning_id: row.try_get("provisioning_id")?,
        sso_user_id: row.try_get("sso_user_id")?,
        policies: Vec::new(),
        created_at: row.try_get("created_at")?,
    })
}

/// Inserts a RAM user.
pub async fn insert_user(conn: &mut Conn, u: &RamUser) -> Result<()> {
    sqlx::query(
        "INSERT INTO cloud_users (account_id, name, name_key, user_id, display_name, provisioning_id, \
         sso_user_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(&u.account_id)
    .bind(&u.name)
    .bind(key(&u.name))
    .bind(&u.user_id)
    .bind(&u.display_name)
    .bind(&u.provisioning_id)
    .bind(&u.sso_user_id)
    .bind(u.created_at)
    .execute(&mut *conn)
    .await
    .map_err(unique_as("RAM user", "name"))?;
    Ok(())
}

/// Sets (or clears) who manages a RAM user.
pub async fn set_user_provisioning(
    conn: &mut Conn,
    account_id: &str,
    name: &str,
    provisioning_id: Option<&str>,
    sso_user_id: Option<&str>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE cloud_users SET provisioning_id = $1, sso_user_id = $2, updated_at = $3 \
         WHERE account_id = $4 AND name_key = $5",
    )
    .bind(provisioning_id)
    .bind(sso_user_id)
    .bind(now)
    .bind(account_id)
    .bind(key(name))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn with_policies(conn: &mut Conn, user: Option<RamUser>) -> Result<Option<RamUser>> {
    let Some(mut user) = user else {
        return Ok(None);
    };
    user.policies = attached(conn, &user.account_id, PrincipalKind::User, &user.name).await?;
    Ok(Some(user))
}

/// The RAM user `name` of an account (case-insensitive).
pub async fn get_user(conn: &mut Conn, account_id: &str, name: &str) -> Result<Option<RamUser>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM cloud_users WHERE account_id = $1 AND name_key = $2"
    )))
    .bind(account_id)
    .bind(key(name))
    .fetch_optional(&mut *conn)
    .await?;
    let user = row.as_ref().map(user_from_row).transpose()?;
    with_policies(conn, user).await
}

/// The RAM user of an account that stands for a Cloud SSO user.
pub async fn get_user_for_sso_user(
    conn: &mut Conn,
    account_id: &str,
    sso_user_id: &str,
) -> Result<Option<RamUser>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM cloud_users WHERE account_id = $1 AND sso_user_id = $2"
    )))
    .bind(account_id)
    .bind(sso_user_id)
    .fetch_optional(&mut *conn)
    .await?;
    let user = row.as_ref().map(user_from_row).transpose()?;
    with_policies(conn, user).await
}

/// The RAM users of an account.
pub async fn list_users(conn: &mut Conn, account_id: &str) -> Result<Vec<RamUser>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM cloud_users WHERE account_id = $1 ORDER BY name_key"
    )))
    .bind(account_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::new();
    for row in &rows {
        if let Some(u) = with_policies(conn, Some(user_from_row(row)?)).await? {
            out.push(u);
        }
    }
    Ok(out)
}

/// The RAM users managed by a provisioning.
pub async fn users_of_provisioning(conn: &mut Conn, provisioning_id: &str) -> Result<Vec<RamUser>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM cloud_users WHERE provisioning_id = $1 ORDER BY name_key"
    )))
    .bind(provisioning_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(user_from_row).collect()
}

/// Deletes a RAM user and its attachments.
pub async fn delete_user(conn: &mut Conn, account_id: &str, name: &str) -> Result<bool> {
    detach_all(conn, account_id, PrincipalKind::User, name).await?;
    let r = sqlx::query("DELETE FROM cloud_users WHERE account_id = $1 AND name_key = $2")
        .bind(account_id)
        .bind(key(name))
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

// ---- custom policies ----

const POLICY_COLUMNS: &str =
    "account_id, name, description, document, reserved, created_at, updated_at";

fn policy_from_row(row: &AnyRow) -> Result<CustomPolicy> {
    Ok(CustomPolicy {
        account_id: row.try_get("account_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        document: row.try_get("document")?,
        reserved: row.try_get::<i64, _>("reserved")? != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Inserts a custom policy.
pub async fn insert_policy(conn: &mut Conn, p: &CustomPolicy) -> Result<()> {
    sqlx::query(
        "INSERT INTO cloud_policies (account_id, name, name_key, description, document, reserved, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&p.account_id)
    .bind(&p.name)
    .bind(key(&p.name))
    .bind(&p.description)
    .bind(&p.document)
    .bind(flag(p.reserved))
    .bind(p.created_at)
    .bind(p.updated_at)
    .execute(&mut *conn)
    .await
    .map_err(unique_as("policy", "name"))?;
    Ok(())
}

/// Replaces a custom policy's document and description.
pub async fn update_policy(conn: &mut Conn, p: &CustomPolicy) -> Result<()> {
    sqlx::query(
        "UPDATE cloud_policies SET description = $1, document = $2, updated_at = $3 \
         WHERE account_id = $4 AND name_key = $5",
    )
    .bind(&p.description)
    .bind(&p.document)
    .bind(p.updated_at)
    .bind(&p.account_id)
    .bind(key(&p.name))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The custom policy `name` of an account.
pub async fn get_policy(
    conn: &mut Conn,
    account_id: &str,
    name: &str,
) -> Result<Option<CustomPolicy>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {POLICY_COLUMNS} FROM cloud_policies WHERE account_id = $1 AND name_key = $2"
    )))
    .bind(account_id)
    .bind(key(name))
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(policy_from_row).transpose()
}

/// The custom policies of an account.
pub async fn list_policies(conn: &mut Conn, account_id: &str) -> Result<Vec<CustomPolicy>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {POLICY_COLUMNS} FROM cloud_policies WHERE account_id = $1 ORDER BY name_key"
    )))
    .bind(account_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(policy_from_row).collect()
}

/// Deletes a custom policy.
pub async fn delete_policy(conn: &mut Conn, account_id: &str, name: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM cloud_policies WHERE account_id = $1 AND name_key = $2")
        .bind(account_id)
        .bind(key(name))
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

// ---- STS ----

/// Stores issued credentials.
pub async fn insert_credential(conn: &mut Conn, c: &StoredCredential) -> Result<()> {
    sqlx::query(
        "INSERT INTO sts_credentials (access_key_id, secret_enc, token_hash, account_id, role_name, role_id, \
         session_name, provider_arn, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&c.access_key_id)
    .bind(&c.secret_enc)
    .bind(&c.token_hash)
    .bind(&c.account_id)
    .bind(&c.role_name)
    .bind(&c.role_id)
    .bind(&c.session_name)
    .bind(&c.provider_arn)
    .bind(c.created_at)
    .bind(c.expires_at)
    .execute(&mut *conn)
    .await
    .map_err(unique_as("credential", "access_key_id"))?;
    Ok(())
}

/// The credential with this AccessKeyId (expired ones included: the caller says why it refuses).
pub async fn get_credential(
    conn: &mut Conn,
    access_key_id: &str,
) -> Result<Option<StoredCredential>> {
    let row = sqlx::query(
        "SELECT access_key_id, secret_enc, token_hash, account_id, role_name, role_id, session_name, \
         provider_arn, created_at, expires_at FROM sts_credentials WHERE access_key_id = $1",
    )
    .bind(access_key_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| {
        Ok(StoredCredential {
            access_key_id: row.try_get("access_key_id")?,
            secret_enc: row.try_get("secret_enc")?,
            token_hash: row.try_get("token_hash")?,
            account_id: row.try_get("account_id")?,
            role_name: row.try_get("role_name")?,
            role_id: row.try_get("role_id")?,
            session_name: row.try_get("session_name")?,
            provider_arn: row.try_get("provider_arn")?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
        })
    })
    .transpose()
}

/// Records a nonce; false when it was already recorded (a replay).
pub async fn record_nonce(
    conn: &mut Conn,
    access_key_id: &str,
    nonce: &str,
    expires_at: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "INSERT INTO sts_nonces (access_key_id, nonce, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(access_key_id)
    .bind(nonce)
    .bind(expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Records a consumed assertion; false when it was already consumed (a replay).
pub async fn record_assertion(
    conn: &mut Conn,
    issuer: &str,
    assertion_id: &str,
    expires_at: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "INSERT INTO cloud_saml_replay (issuer, assertion_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(issuer)
    .bind(assertion_id)
    .bind(expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() > 0)
}

// ---- console sessions ----

/// Stores a console session under the hash of its cookie token.
pub async fn insert_console_session(
    conn: &mut Conn,
    id_hash: &str,
    s: &ConsoleSession,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO cloud_console_sessions (id_hash, account_id, identity_type, principal_name, session_name, \
         created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id_hash)
    .bind(&s.account_id)
    .bind(s.identity_type.as_str())
    .bind(&s.principal_name)
    .bind(&s.session_name)
    .bind(s.created_at)
    .bind(s.expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The unexpired console session with this token hash.
pub async fn get_console_session(
    conn: &mut Conn,
    id_hash: &str,
    now: i64,
) -> Result<Option<ConsoleSession>> {
    let row = sqlx::query(
        "SELECT account_id, identity_type, principal_name, session_name, created_at, expires_at \
         FROM cloud_console_sessions WHERE id_hash = $1 AND expires_at > $2",
    )
    .bind(id_hash)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| {
        let t: String = row.try_get("identity_type")?;
        Ok(ConsoleSession {
            account_id: row.try_get("account_id")?,
            identity_type: IdentityType::parse(&t)
                .ok_or_else(|| Error::Corrupt(format!("identity_type {t:?}")))?,
            principal_name: row.try_get("principal_name")?,
            session_name: row.try_get("session_name")?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
        })
    })
    .transpose()
}

/// Deletes a console session.
pub async fn delete_console_session(conn: &mut Conn, id_hash: &str) -> Result<()> {
    sqlx::query("DELETE FROM cloud_console_sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

// ---- role-SSO signing keys ----

/// A stored role-SSO key: (key id, sealed PKCS#8, certificate base64).
pub async fn get_role_sso_key(
    conn: &mut Conn,
    directory_id: &str,
) -> Result<Option<(String, String, String)>> {
    let row = sqlx::query(
        "SELECT key_id, key_enc, certificate FROM role_sso_keys WHERE directory_id = $1",
    )
    .bind(directory_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| {
        Ok((
            row.try_get("key_id")?,
            row.try_get("key_enc")?,
            row.try_get("certificate")?,
        ))
    })
    .transpose()
}

/// Stores a directory's role-SSO key unless one exists; false when another was stored first.
pub async fn insert_role_sso_key(
    conn: &mut Conn,
    directory_id: &str,
    key_id: &str,
    key_enc: &str,
    certificate: &str,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "INSERT INTO role_sso_keys (directory_id, key_id, key_enc, certificate, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(directory_id)
    .bind(key_id)
    .bind(key_enc)
    .bind(certificate)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Deletes expired credentials, nonces, replay entries and console sessions.
pub async fn delete_expired(conn: &mut Conn, now: i64) -> Result<u64> {
    let mut n = 0;
    for table in [
        "sts_nonces",
        "cloud_saml_replay",
        "cloud_console_sessions",
        "sts_credentials",
    ] {
        n += sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE expires_at <= $1"
        )))
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    Ok(n)
}

// ---- RAM user provisioning events (rows of `tasks` with a payload) ----

/// A RAM user provisioning task as stored: the task, its JSON payload and how often it ran.
#[derive(Debug, Clone)]
pub struct EventTaskRow {
    /// The task.
    pub task: crate::assignment::Task,
    /// The JSON payload (`{}` for tasks without one).
    pub payload: String,
    /// How many times a worker took it.
    pub attempts: i64,
}

const EVENT_TASK_COLUMNS: &str = "id, directory_id, task_type, status, access_configuration_id, \
    account_id, principal_type, principal_id, payload, failure_reason, attempts, created_at, finished_at";

/// The task types that are RAM user provisioning events.
const EVENT_TASK_TYPES: &str = "'StartUserProvisioning', 'DeleteUserProvisioning', 'AddUserToGroup', \
    'RemoveUserFromGroup'";

fn event_task_from_row(row: &AnyRow) -> Result<EventTaskRow> {
    use crate::assignment::{PrincipalType, Task, TaskStatus, TaskType};
    let t: String = row.try_get("task_type")?;
    let s: String = row.try_get("status")?;
    let p: Option<String> = row.try_get("principal_type")?;
    let corrupt = |c: &str, v: &str| Error::Corrupt(format!("{c} {v:?}"));
    Ok(EventTaskRow {
        task: Task {
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
        },
        payload: row.try_get("payload")?,
        attempts: row.try_get("attempts")?,
    })
}

/// Inserts a task (status InProgress) with a JSON payload, in the caller's transaction.
pub async fn insert_event_task(
    conn: &mut Conn,
    t: &crate::assignment::Task,
    payload: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO tasks (id, directory_id, task_type, status, access_configuration_id, account_id, \
         principal_type, principal_id, payload, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&t.id)
    .bind(&t.directory_id)
    .bind(t.task_type.as_str())
    .bind(t.status.as_str())
    .bind(&t.access_configuration_id)
    .bind(&t.account_id)
    .bind(t.principal_type.map(crate::assignment::PrincipalType::as_str))
    .bind(&t.principal_id)
    .bind(payload)
    .bind(t.created_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Replaces the payload of a task (the event records what it did).
pub async fn set_task_payload(conn: &mut Conn, id: &str, payload: &str) -> Result<()> {
    sqlx::query("UPDATE tasks SET payload = $1 WHERE id = $2")
        .bind(payload)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The payload of a task (any directory: the worker does not know it).
pub async fn task_payload(conn: &mut Conn, id: &str) -> Result<Option<String>> {
    let row = sqlx::query("SELECT payload FROM tasks WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| Ok(r.try_get("payload")?)).transpose()
}

/// The RAM user provisioning events of a directory, newest first (at most `limit`).
pub async fn list_event_tasks(
    conn: &mut Conn,
    directory_id: &str,
    limit: i64,
) -> Result<Vec<EventTaskRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {EVENT_TASK_COLUMNS} FROM tasks WHERE directory_id = $1 AND task_type IN ({EVENT_TASK_TYPES}) \
         ORDER BY created_at DESC, id DESC LIMIT $2"
    )))
    .bind(directory_id)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(event_task_from_row).collect()
}

/// The RAM user provisioning event `id` of a directory.
pub async fn get_event_task(
    conn: &mut Conn,
    directory_id: &str,
    id: &str,
) -> Result<Option<EventTaskRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {EVENT_TASK_COLUMNS} FROM tasks WHERE directory_id = $1 AND id = $2 \
         AND task_type IN ({EVENT_TASK_TYPES})"
    )))
    .bind(directory_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(event_task_from_row).transpose()
}

/// Puts a failed task back in the queue (InProgress, no lease, no reason); false unless it was
/// a failed task of this directory.
pub async fn requeue_failed_task(conn: &mut Conn, directory_id: &str, id: &str) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE tasks SET status = 'InProgress', failure_reason = NULL, finished_at = NULL, \
         lease_until = NULL WHERE directory_id = $1 AND id = $2 AND status = 'Failed'",
    )
    .bind(directory_id)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() > 0)
}
