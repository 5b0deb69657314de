//! Operations on the resource directory and RAM: accounts, roles, users, custom policies, SAML
//! providers and attachments. Reserved resources (`AliyunReservedSSO-…`, created by Cloud SSO's
//! provisioning) are refused here: they change only through the access configuration.

use serde_json::json;

use super::arn::{PolicyName, RamUserName, RoleName, SamlProviderName};
use super::policy::{PolicyDocument, PolicyKind};
use super::resource::{
    CloudAccount, CustomPolicy, EffectivePolicy, PolicyRef, PolicyType, RamUser, Role,
    SamlProvider, new_account_id, new_principal_id,
};
use super::system_policy;
use crate::audit::{Actor, NewAuditEvent};
use crate::error::{Error, Result};
use crate::services::Services;
use crate::store::cloud::PrincipalKind;
use crate::store::{self, Conn};

/// Prefix of every resource Cloud SSO reserves in an account.
pub const RESERVED_PREFIX: &str = "AliyunReservedSSO-";

/// Whether `name` is in the reserved namespace (case-insensitive, as RAM compares names).
pub fn is_reserved_name(name: &str) -> bool {
    name.len() >= RESERVED_PREFIX.len()
        && name[..RESERVED_PREFIX.len()].eq_ignore_ascii_case(RESERVED_PREFIX)
}

fn reserved_error(what: &str, name: &str) -> Error {
    Error::conflict(format!(
        "{what} {name:?} is reserved by Cloud SSO and cannot be changed or deleted through RAM"
    ))
}

fn invalid(field: &'static str, e: impl std::fmt::Display) -> Error {
    Error::invalid(field, e.to_string())
}

/// Parses the certificates a SAML provider trusts (PEM or base64 DER), at least one, at most two.
pub fn parse_certificates(certs: &[String]) -> Result<Vec<String>> {
    if certs.is_empty() || certs.len() > 2 {
        return Err(Error::invalid(
            "certificates",
            "give one or two IdP signing certificates",
        ));
    }
    certs
        .iter()
        .map(|c| {
            let text = c.trim();
            let cert = if text.starts_with("-----BEGIN") {
                saml::key::Certificate::from_pem(text)
            } else {
                saml::key::Certificate::from_base64(text)
            };
            cert.map(|c| c.to_base64())
                .map_err(|e| invalid("certificates", format!("not a certificate: {e}")))
        })
        .collect()
}

/// What defines a SAML provider: an IdP metadata document, or its entity ID and certificates.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct SamlProviderSpec {
    /// Description (≤ 256 characters).
    #[serde(default)]
    pub description: String,
    /// IdP metadata XML (`EncodedSAMLMetadataDocument`); fills entity ID and certificates.
    #[serde(default)]
    pub metadata: Option<String>,
    /// The IdP entity ID (when no metadata is given).
    #[serde(default)]
    pub idp_entity_id: Option<String>,
    /// The IdP signing certificates, PEM or base64 DER (when no metadata is given).
    #[serde(default)]
    pub certificates: Vec<String>,
}

impl SamlProviderSpec {
    /// The trusted entity ID and certificates.
    pub fn resolve(&self) -> Result<(String, Vec<String>)> {
        if self.description.chars().count() > 256 {
            return Err(Error::invalid("description", "at most 256 characters"));
        }
        if let Some(xml) = self.metadata.as_deref().filter(|m| !m.trim().is_empty()) {
            let idps =
                saml::metadata::parse_idp_metadata(xml).map_err(|e| invalid("metadata", e))?;
            let [idp] = idps.as_slice() else {
                return Err(Error::invalid(
                    "metadata",
                    "the metadata must describe exactly one IdP",
                ));
            };
            let certs: Vec<String> = idp.signing_certs.iter().map(|c| c.to_base64()).collect();
            if certs.is_empty() {
                return Err(Error::invalid(
                    "metadata",
                    "the IdP has no signing certificate",
                ));
            }
            return Ok((idp.entity_id.clone(), certs));
        }
        let entity_id = self
            .idp_entity_id
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .ok_or_else(|| {
                Error::invalid(
                    "idp_entity_id",
                    "give metadata or an entity ID and certificates",
                )
            })?;
        Ok((
            entity_id.to_owned(),
            parse_certificates(&self.certificates)?,
        ))
    }
}

/// Resolves the documents of attached policies (system ones from the catalogue).
pub async fn effective_policies(
    conn: &mut Conn,
    account_id: &str,
    refs: &[PolicyRef],
) -> Result<Vec<EffectivePolicy>> {
    let mut out = Vec::with_capacity(refs.len());
    for r in refs {
        let document = match r.policy_type {
            PolicyType::System => system_policy::find(&r.policy_name)
                .map(|p| p.document.to_owned())
                .ok_or_else(|| {
                    Error::Corrupt(format!("unknown system policy {}", r.policy_name))
                })?,
            PolicyType::Custom => store::cloud::get_policy(conn, account_id, &r.policy_name)
                .await?
                .map(|p| p.document)
                .ok_or_else(|| {
                    Error::Corrupt(format!("missing custom policy {}", r.policy_name))
                })?,
        };
        out.push(EffectivePolicy {
            policy_type: r.policy_type,
            policy_name: r.policy_name.clone(),
            document,
        });
    }
    Ok(out)
}

impl Services {
    /// Creates an account in a directory's resource directory (the first one may be the management account).
    pub async fn create_cloud_account(
        &self,
        actor: &Actor,
        directory_id: &str,
        name: &str,
        folder: Option<&str>,
        is_management: bool,
    ) -> Result<CloudAccount> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 50 {
            return Err(Error::invalid("name", "1 to 50 characters"));
        }
        let folder = folder
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .unwrap_or("/");
        if !folder.starts_with('/')
            || folder.chars().count() > 256
            || folder.chars().any(char::is_control)
        {
            return Err(Error::invalid("folder", "a path such as / or /Production"));
        }
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        let existing = store::cloud::list_accounts(&mut tx, directory_id).await?;
        if is_management && existing.iter().any(|a| a.is_management) {
            return Err(Error::conflict(
                "the resource directory already has a management account",
            ));
        }
        let account = CloudAccount {
            id: new_account_id(),
            directory_id: directory_id.to_owned(),
            name: name.to_owned(),
            folder: folder.to_owned(),
            is_management,
            created_at: now,
        };
        store::cloud::insert_account(&mut tx, &account).await?;
        store::audit::append(
            &mut tx,
            &NewAuditEvent::new(Some(directory_id), actor, "cloud_account", "create")
                .target("cloud_account", &account.id)
                .detail(json!({ "name": account.name, "management": is_management })),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(account)
    }

    /// The accounts of a directory's resource directory.
    pub async fn list_cloud_accounts(&self, directory_id: &str) -> Result<Vec<CloudAccount>> {
        let mut conn = self.store.read().await?;
        store::cloud::list_accounts(&mut conn, directory_id).await
    }

    /// An account of the directory's resource directory.
    pub async fn cloud_account(
        &self,
        directory_id: &str,
        account_id: &str,
    ) -> Result<CloudAccount> {
        let mut conn = self.store.read().await?;
        store::cloud::get_account(&mut conn, account_id)
            .await?
            .filter(|a| a.directory_id == directory_id)
            .ok_or(Error::NotFound("account"))
    }

    // ---- roles ----

    /// Creates a RAM role with a trust policy.
    pub async fn create_role(
        &self,
        actor: &Actor,
        account: &CloudAccount,
        name: &str,
        description: &str,
        trust_policy: &str,
        max_session_duration: Option<i64>,
    ) -> Result<Role> {
        let name = RoleName::parse(name).map_err(|e| invalid("name", e))?;
        if is_reserved_name(name.as_str()) {
            return Err(reserved_error("role name", name.as_str()));
        }
        PolicyDocument::parse(trust_policy, PolicyKind::Trust)
            .map_err(|e| invalid("trust_policy", e))?;
        let max = max_session_duration.unwrap_or(3600);
        if !(3600..=43_200).contains(&max) {
            return Err(Error::invalid(
                "max_session_duration",
                "3600 to 43200 seconds",
            ));
        }
        let now = self.now();
        let role = Role {
            account_id: account.id.clone(),
            arn: format!("acs:ram::{}:role/{}", account.id, name),
            name: name.to_string(),
            role_id: new_principal_id('3'),
            description: description.to_owned(),
            trust_policy: trust_policy.to_owned(),
            max_session_duration: max,
            reserved: false,
            policies: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store.begin_write().await?;
        store::cloud::insert_role(&mut tx, &role).await?;
        store::audit::append(
            &mut tx,
            &NewAuditEvent::new(Some(&account.directory_id), actor, "ram_role", "create")
                .target("ram_role", &role.arn),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(role)
    }

    /// A role of an account.
    pub async fn role(&self, account: &CloudAccount, name: &str) -> Result<Role> {
        let mut conn = self.store.read().await?;
        store::cloud::get_role(&mut conn, &account.id, name)
            .await?
            .ok_or(Error::NotFound("role"))
    }

    /// The roles of an account.
    pub async fn list_roles(&self, account: &CloudAccount) -> Result<Vec<Role>> {
        let mut conn = self.store.read().await?;
        store::cloud::list_roles(&mut conn, &account.id).await
    }

    /// Replaces a role's trust policy (refused for reserved roles).
    pub async fn update_role_trust_policy(
        &self,
        actor: &Actor,
        account: &CloudAccount,
        name: &str,
        trust_policy: &str,
    ) -> Result<Role> {
        PolicyDocument::parse(trust_policy, PolicyKind::Trust)
            .map_err(|e| invalid("trust_policy", e))?;
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        let mut role = store::cloud::get_role(&mut tx, &account.id, name)
            .await?
            .ok_or(Error::NotFound("role"))?;
        if role.reserved {
            return Err(reserved_error("role", &role.name));
        }
        role.trust_policy = trust_policy.to_owned();
        role.updated_at = now;
        store::cloud::update_role(&mut tx, &role).await?;
        store::audit::append(
            &mut tx,
            &NewAuditEvent::new(Some(&account.directory_id), actor, "ram_role", "update")
                .target("ram_role", &role.arn),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(role)
    }

    /// Deletes a role (refused for reserved roles).
    pub async fn delete_role(
        &self,
        actor: &Actor,
        account: &CloudAccount,
        name: &str,
    ) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        let role = store::cloud::get_role(&mut tx, &account.id, name)
            .await?
            .ok_or(Error::NotFound("role"))?;
        if role.reserved {
            return Err(reserved_error("role", &role.name));
        }
        store::cloud::delete_role(&mut tx, &account.id, &role.name).await?;
        store::audit::append(
            &mut tx,
            &NewAuditEvent::new(Some(&account.directory_id), actor, "ram_role", "delete")
                .target("ram_role", &role.arn),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- attachments ----

    /// Attaches (or detaches) a policy to a role or user; refused on reserved roles and for reserved policies.
    pub async fn set_policy_attachment(
        &self,
        actor: &Actor,
        account: &CloudAccount,
        kind: PrincipalKind,
        principal: &str,
        policy: &PolicyRef,
        attach: bool,
    ) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        let principal_name = match kind {
            PrincipalKind::Role => {
                let role = store::cloud::get_role(&mut tx, &account.id, principal)
                    .await?
                    .ok_or(Error::NotFound("role"))?;
                if role.reserved {
                    return Err(reserved_error("role", &role.name));
                }
                role.name
            }
            PrincipalKind::User => {
                store::cloud::get_user(&mut tx, &account.id, principal)
                    .await?
                    .ok_or(Error::NotFound("RAM user"))?
                    .name
            }
        };
        match policy.policy_type {
            PolicyType::System => {
                if system_policy::find(&policy.policy_name).is_none() {
                    return Err(Error::NotFound("system policy"));
                }
            }
            PolicyType::Custom => {
                let p = store::cloud::get_policy(&mut tx, &account.id, &policy.policy_name)
                    .await?
                    .ok_or(Error::NotFound("policy"))?;
                if p.reserved {
                    return Err(reserved_error("policy", &p.name));
                }
            }
        }
        if attach {
            store::cloud::attach(&mut tx, &account.id, kind, &principal_name, policy, now).await?;
        } else if !store::cloud::detach(&mut tx, &account.id, kind, &principal_name, policy).await?
        {
            return Err(Error::NotFound("policy attachment"));
        }
        store::audit::append(
            &mut tx,
            &NewAuditEvent::new(
                Some(&account.directory_id),
                actor,
                "ram_policy",
                if attach { "attach" } else { "detach" },
            )
            .target("ram_principal", &principal_name)
            .detail(json!({ "policy_type": policy.policy_type.as_str(), "policy_name": policy.policy_name })),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- custom policies ----

    /// Creates a custom policy (RAM policy JSON, validated).
    pub async fn create_custom_policy(
        &self,
        actor: &Actor,
        account: &CloudAccount,
        name: &str,
        description: &str,
        document: &str,
    ) -> Result<CustomPolicy> {
        let name = PolicyName::parse(name).map_err(|e| invalid("name", e))?;
        if is_reserved_name(name.as_str()) {
            return Err(reserved_error("policy name", name.as_str()));
        }
        PolicyDocument::parse(document, PolicyKind::Permission)
            .map_err(|e| invalid("document", e))?;
        let now = self.now();
        let policy = CustomPolicy {
            account_id: account.id.clone(),
            name: name.to_string(),
            description: description.to_owned(),
            document: document.to_owned(),
            reserved: false,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store.begin_write().await?;
        store::cloud::insert_policy(&mut tx, &policy).await?;
        store::audit::append(
            &mut tx,
            &NewAuditEvent::new(Some(&account.directory_id), actor, "ram_policy", "create")
                .target("ram_policy", &policy.name),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(policy)
    }

    /// Replaces a custom policy's document (refused for reserved policies).
    pub async fn update_custom_policy(
        &self,
        actor: &Actor,
        account: &CloudAccount,
        name: &str,
        document: &str,
    ) -> Result<CustomPolicy> {
        PolicyDocument::parse(document, PolicyKind::Permission)
            .map_err(|e| invalid("document", e))?;
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        let mut policy = store::cloud::get_policy(&mut tx, &account.id, name)
            .await?
            .ok_or(Error::NotFound("policy"))?;
        if policy.reserved {
            return Err(reserved_error("policy", &policy.name));
        }
        policy.document = document.to_owned();
        policy.updated_at = now;
        store::cloud::update_policy(&mut tx, &policy).await?;
        store::audit::append(
            &mut tx,
            &NewAuditEvent::new(Some(&account.directory_id), actor, "ram_policy", "update")
                .target("ram_policy", &policy.name),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(policy)
    }

    /// Deletes a custom policy (refused for reserved policies and while attached).
    pub async fn delete_custom_policy(
        &self,
        actor: &Actor,
        account: &CloudAccount,
        name: &str,
    ) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        let policy = store::cloud::get_policy(&mut tx, &account.id, name)
            .await?
            .ok_or(Error::NotFound("policy"))?;
        if policy.reserved {
            return Err(reserved_error("policy", &policy.name));
        }
        if store::cloud::policy_in_use(&mut tx, &account.id, &policy.name).await? {
            return Err(Error::conflict("the policy is attached; detach it first"));
        }
        store::cloud::delete_policy(&mut tx, &account.id, &policy.name).await?;
        store::audit::append(
            &mut tx,
            &NewAuditEvent::new(Some(&account.directory_id), actor, "ram_policy", "delete")
                .target("ram_policy", &policy.name),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The custom policies of an account.
    pub async fn list_custom_policies(&self, account: &CloudAccount) -> Result<Vec<CustomPolicy>> {
        let mut conn = self.store.read().await?;
        store::cloud::list_policies(&mut conn, &account.id).await
    }

    // ---- RAM users ----

    /// Creates a RAM user.
    pub async fn create_ram_user(
        &self,
        actor: &Actor,
        account: &CloudAccount,
        name: &str,
        display_name: &str,
    ) -> Result<RamUser> {
        let name = RamUserName::parse(name).map_err(|e| invalid("name", e))?;
        let now = self.now();
        let user = RamUser {
            account_id: account.id.clone(),
            name: name.to_string(),
            user_id: new_principal_id('2'),
            display_name: display_name.to_owned(),
            provisioning_id: None,
            sso_user_id: None,
            policies: Vec::new(),
            created_at: now,
        };
        let mut tx = self.store.begin_write().await?;
        store::cloud::insert_user(&mut tx, &user).await?;
        store::audit::append(
            &mut tx,
            &NewAuditEvent::new(Some(&account.directory_id), actor, "ram_user", "create")
                .target("ram_user", &user.name),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(user)
    }

    /// The RAM users of an account.
    pub async fn list_ram_users(&self, account: &CloudAccount) -> Result<Vec<RamUser>> {
        let mut conn = self.store.read().await?;
        store::cloud::list_users(&mut conn, &account.id).await
    }

    /// Deletes a RAM user (one managed by a RAM user provisioning only through that provisioning).
    pub async fn delete_ram_user(
        &self,
        actor: &Actor,
        account: &CloudAccount,
        name: &str,
    ) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        let user = store::cloud::get_user(&mut tx, &account.id, name)
            .await?
            .ok_or(Error::NotFound("RAM user"))?;
        if user.provisioning_id.is_some() {
            return Err(Error::conflict(
                "the RAM user is managed by a Cloud SSO RAM user provisioning; delete the provisioning instead",
            ));
        }
        store::cloud::delete_user(&mut tx, &account.id, &user.name).await?;
        store::audit::append(
            &mut tx,
            &NewAuditEvent::new(Some(&account.directory_id), actor, "ram_user", "delete")
                .target("ram_user", &user.name),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- SAML providers ----

    /// Creates a SAML provider.
    pub async fn create_saml_provider(
        &self,
        actor: &Actor,
        account: &CloudAccount,
        name: &str,
        spec: &SamlProviderSpec,
    ) -> Result<SamlProvider> {
        let name = SamlProviderName::parse(name).map_err(|e| invalid("name", e))?;
        if is_reserved_name(name.as_str()) {
            return Err(reserved_error("SAML provider name", name.as_str()));
        }
        let (idp_entity_id, certificates) = spec.resolve()?;
        let now = self.now();
        let provider = SamlProvider {
            account_id: account.id.clone(),
            arn: format!("acs:ram::{}:saml-provider/{}", account.id, name),
            name: name.to_string(),
            description: spec.description.clone(),
            idp_entity_id,
            certificates,
            reserved: false,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store.begin_write().await?;
        store::cloud::insert_provider(&mut tx, &provider, spec.metadata.as_deref()).await?;
        store::audit::append(
            &mut tx,
            &NewAuditEvent::new(
                Some(&account.directory_id),
                actor,
                "saml_provider",
                "create",
            )
            .target("saml_provider", &provider.arn),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(provider)
    }

    /// Replaces a SAML provider's trusted IdP (refused for reserved providers).
    pub async fn update_saml_provider(
        &self,
        actor: &Actor,
        account: &CloudAccount,
        name: &str,
        spec: &SamlProviderSpec,
    ) -> Result<SamlProvider> {
        let (idp_entity_id, certificates) = spec.resolve()?;
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        let mut provider = store::cloud::get_provider(&mut tx, &account.id, name)
            .await?
            .ok_or(Error::NotFound("SAML provider"))?;
        if provider.reserved {
            return Err(reserved_error("SAML provider", &provider.name));
        }
        provider.idp_entity_id = idp_entity_id;
        provider.certificates = certificates;
        provider.description = spec.description.clone();
        provider.updated_at = now;
        store::cloud::update_provider(&mut tx, &provider, spec.metadata.as_deref()).await?;
        store::audit::append(
            &mut tx,
            &NewAuditEvent::new(
                Some(&account.directory_id),
                actor,
                "saml_provider",
                "update",
            )
            .target("saml_provider", &provider.arn),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(provider)
    }

    /// Deletes a SAML provider (refused for reserved providers).
    pub async fn delete_saml_provider(
        &self,
        actor: &Actor,
        account: &CloudAccount,
        name: &str,
    ) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        let provider = store::cloud::get_provider(&mut tx, &account.id, name)
            .await?
            .ok_or(Error::NotFound("SAML provider"))?;
        if provider.reserved {
            return Err(reserved_error("SAML provider", &provider.name));
        }
        store::cloud::delete_provider(&mut tx, &account.id, &provider.name).await?;
        store::audit::append(
            &mut tx,
            &NewAuditEvent::new(
                Some(&account.directory_id),
                actor,
                "saml_provider",
                "delete",
            )
            .target("saml_provider", &provider.arn),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The SAML providers of an account.
    pub async fn list_saml_providers(&self, account: &CloudAccount) -> Result<Vec<SamlProvider>> {
        let mut conn = self.store.read().await?;
        store::cloud::list_providers(&mut conn, &account.id).await
    }
}
