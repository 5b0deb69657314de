//! RAM role logon and RAM user logon from the portal: Cloud SSO acts as the IdP of the cloud.
//!
//! Each directory has its own role-SSO signing key (RSA-2048, self-signed certificate, private key
//! sealed with the master key like IDaaS's signing keys), created on first use. For a role logon
//! Cloud SSO builds a Response whose assertion (signed) carries
//! `https://www.aliyun.com/SAML-Role/Attributes/Role` =
//! `acs:ram::{account}:role/AliyunReservedSSO-{ac},acs:ram::{account}:saml-provider/AliyunReservedSSO-{directory_id}`
//! and `…/RoleSessionName` = the user name, addressed to the cloud's role sign-in endpoint; the
//! portal renders it as an auto-POST form. A RAM user logon is the same with the NameID
//! `{ram_user}@{account}.onaliyun.com`, addressed to the account's user-SSO endpoint.

use saml::algorithm::{DigestAlgorithm, SignatureAlgorithm};
use saml::key::{Certificate, SigningKey};
use saml::response::{Attribute, NameId, ResponseParams};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::services::Services;
use crate::store;

/// The Role attribute of role-based SSO.
pub const ROLE_ATTRIBUTE: &str = "https://www.aliyun.com/SAML-Role/Attributes/Role";
/// The RoleSessionName attribute of role-based SSO.
pub const ROLE_SESSION_NAME_ATTRIBUTE: &str =
    "https://www.aliyun.com/SAML-Role/Attributes/RoleSessionName";
/// The SessionDuration attribute (seconds) we add so the console session matches the access configuration.
pub const SESSION_DURATION_ATTRIBUTE: &str =
    "https://www.aliyun.com/SAML-Role/Attributes/SessionDuration";
/// NameID format of the RAM user logon (the RAM user's logon name).
pub const NAME_ID_UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";
/// NameID format of the role logon.
pub const NAME_ID_PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
/// How long the signed Response stays valid.
pub const RESPONSE_LIFETIME_SECONDS: i64 = 300;

/// The loaded role-SSO key of a directory.
#[derive(Debug)]
pub struct RoleSsoKey {
    /// Private key.
    pub key: SigningKey,
    /// Its certificate.
    pub certificate: Certificate,
}

/// What a role or user logon Response says.
#[derive(Debug, Clone)]
pub struct LogonAssertion {
    /// The endpoint it is posted to (Destination, Recipient).
    pub destination: String,
    /// Audience (the cloud's SP entity ID).
    pub audience: String,
    /// NameID.
    pub name_id: NameId,
    /// Attributes.
    pub attributes: Vec<Attribute>,
    /// Session length hint.
    pub session_seconds: i64,
}

fn random_id() -> String {
    format!("_{}", web::id::new_id("r").replace('_', ""))
}

impl Services {
    /// The cloud's role-SSO SP entity ID (the Audience of role assertions).
    pub fn cloud_role_sso_entity_id(&self) -> String {
        format!("{}/cloud/saml-role", self.base_url)
    }

    /// The cloud's role sign-in endpoint (ACS of role-based SSO).
    pub fn cloud_role_acs_url(&self) -> String {
        format!("{}/cloud/signin/saml-role/sso", self.base_url)
    }

    /// The SP entity ID of an account's user-based SSO.
    pub fn cloud_user_sso_entity_id(&self, account_id: &str) -> String {
        format!("{}/cloud/saml/{account_id}", self.base_url)
    }

    /// The ACS of an account's user-based SSO.
    pub fn cloud_user_acs_url(&self, account_id: &str) -> String {
        format!("{}/cloud/signin/saml/{account_id}/sso", self.base_url)
    }

    /// The entity ID Cloud SSO uses as the IdP of the cloud for a directory.
    pub fn role_idp_entity_id(&self, directory_id: &str) -> String {
        format!("{}/saml/role-idp/{directory_id}", self.base_url)
    }

    /// The directory's role-SSO key, created (and stored sealed) on first use.
    pub async fn role_sso_key(&self, directory_id: &str) -> Result<RoleSsoKey> {
        let existing = {
            let mut conn = self.store.read().await?;
            store::cloud::get_role_sso_key(&mut conn, directory_id).await?
        };
        let (key_id, key_enc, certificate) = match existing {
            Some(k) => k,
            None => {
                let master = self.master_key.clone_for_blocking();
                let now = self.now();
                let did = directory_id.to_owned();
                let generated =
                    tokio::task::spawn_blocking(move || -> Result<(String, String, String)> {
                        let key = SigningKey::generate_rsa(2048)
                            .map_err(|e| Error::Internal(e.to_string()))?;
                        let not_before = OffsetDateTime::from_unix_timestamp(now - 300)
                            .map_err(|e| Error::Internal(e.to_string()))?;
                        let cert = Certificate::self_signed(
                            &key,
                            &format!("Gatehouse Cloud SSO role SSO {did}"),
                            not_before,
                            not_before + time::Duration::days(3650),
                        )
                        .map_err(|e| Error::Internal(e.to_string()))?;
                        let key_id = web::id::new_id("rsk");
                        let der = key
                            .to_pkcs8_der()
                            .map_err(|e| Error::Internal(e.to_string()))?;
                        let sealed = master
                            .seal(&key_id, &der)
                            .map_err(|e| Error::Internal(e.to_string()))?;
                        Ok((key_id, sealed, cert.to_base64()))
                    })
                    .await
                    .map_err(|e| Error::Internal(format!("key generation task: {e}")))??;
                let mut tx = self.store.begin_write().await?;
                store::cloud::insert_role_sso_key(
                    &mut tx,
                    directory_id,
                    &generated.0,
                    &generated.1,
                    &generated.2,
                    now,
                )
                .await?;
                // Another request may have stored its key first: use whichever is stored.
                let stored = store::cloud::get_role_sso_key(&mut tx, directory_id)
                    .await?
                    .ok_or_else(|| Error::Internal("role SSO key vanished".into()))?;
                tx.commit().await?;
                stored
            }
        };
        let der = self
            .master_key
            .open(&key_id, &key_enc)
            .map_err(|e| Error::Internal(format!("role SSO key: {e}")))?;
        let key = SigningKey::from_pkcs8_der(&der).map_err(|e| Error::Internal(e.to_string()))?;
        let certificate =
            Certificate::from_base64(&certificate).map_err(|e| Error::Internal(e.to_string()))?;
        Ok(RoleSsoKey { key, certificate })
    }

    /// Builds and signs (assertion and response) a logon Response of the directory's role IdP.
    pub async fn sign_logon_response(
        &self,
        directory_id: &str,
        assertion: &LogonAssertion,
    ) -> Result<String> {
        let key = self.role_sso_key(directory_id).await?;
        let now = self.now();
        let t = |s: i64| {
            OffsetDateTime::from_unix_timestamp(s).map_err(|e| Error::Internal(e.to_string()))
        };
        let params = ResponseParams {
            response_id: random_id(),
            assertion_id: random_id(),
            issue_instant: t(now)?,
            issuer: self.role_idp_entity_id(directory_id),
            destination: assertion.destination.clone(),
            in_response_to: None,
            audience: assertion.audience.clone(),
            name_id: assertion.name_id.clone(),
            subject_not_on_or_after: t(now + RESPONSE_LIFETIME_SECONDS)?,
            not_before: t(now - 30)?,
            not_on_or_after: t(now + RESPONSE_LIFETIME_SECONDS)?,
            authn_instant: t(now)?,
            session_index: random_id(),
            session_not_on_or_after: Some(t(now + assertion.session_seconds)?),
            authn_context_class_ref:
                "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport".into(),
            attributes: assertion.attributes.clone(),
            sign_response: true,
            sign_assertion: true,
        };
        let alg = if key.key.supports(SignatureAlgorithm::RsaSha256) {
            SignatureAlgorithm::RsaSha256
        } else {
            key.key.algorithm()
        };
        saml::response::build_response(
            &params,
            &key.key,
            &key.certificate,
            alg,
            DigestAlgorithm::Sha256,
        )
        .map_err(|e| Error::Internal(format!("signing the logon response: {e}")))
    }
}

/// An account as the portal lists it for a user.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct PortalAccount {
    /// The account.
    pub account: crate::cloud::resource::CloudAccount,
    /// The access configurations the user may use there (directly or through a group).
    pub access_configurations: Vec<PortalAccessConfiguration>,
    /// Whether a RAM user provisioning covers the user in this account.
    pub ram_user_logon: bool,
}

/// An access configuration entry of the portal.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct PortalAccessConfiguration {
    /// `ac-…`.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
}

/// A signed logon Response and where to post it.
#[derive(Debug, Clone)]
pub struct LogonPost {
    /// The sign-in endpoint.
    pub action: String,
    /// The signed Response XML.
    pub xml: String,
    /// RelayState (the console page to land on), if any.
    pub relay_state: Option<String>,
}

mod portal_service {
    use super::*;
    use crate::access_configuration::{AccessConfiguration, relay_state};
    use crate::assignment::PrincipalType;
    use crate::cloud::sts::AssumeRoleResult;
    use crate::directory::Directory;
    use crate::provisioning::{reserved_provider_name, reserved_role_name};
    use crate::user::User;

    impl Services {
        /// The accounts a user may enter, with their access configurations.
        pub async fn portal_accounts(
            &self,
            directory: &Directory,
            user: &User,
        ) -> Result<Vec<PortalAccount>> {
            let mut conn = self.store.read().await?;
            let groups = store::group::group_ids_of_user(&mut conn, &user.id).await?;
            let assignments =
                store::access::assignments_of_user(&mut conn, &directory.id, &user.id, &groups)
                    .await?;
            let provisionings =
                store::access::list_user_provisionings(&mut conn, &directory.id).await?;
            let mut out: Vec<PortalAccount> = Vec::new();
            for account in store::cloud::list_accounts(&mut conn, &directory.id).await? {
                let mut acs = Vec::new();
                for a in assignments.iter().filter(|a| a.account_id == account.id) {
                    if acs
                        .iter()
                        .any(|x: &PortalAccessConfiguration| x.id == a.access_configuration_id)
                    {
                        continue;
                    }
                    if let Some(ac) =
                        store::access::get_ac(&mut conn, &directory.id, &a.access_configuration_id)
                            .await?
                    {
                        acs.push(PortalAccessConfiguration {
                            id: ac.id,
                            name: ac.name,
                            description: ac.description,
                        });
                    }
                }
                let ram_user_logon = provisionings.iter().any(|p| {
                    p.account_id == account.id
                        && match p.principal_type {
                            PrincipalType::User => p.principal_id == user.id,
                            PrincipalType::Group => groups.contains(&p.principal_id),
                        }
                });
                if !acs.is_empty() || ram_user_logon {
                    acs.sort_by(|a, b| a.name.cmp(&b.name));
                    out.push(PortalAccount {
                        account,
                        access_configurations: acs,
                        ram_user_logon,
                    });
                }
            }
            Ok(out)
        }

        /// The access configuration `ac_name` the user may use on `account_id`, or NotFound.
        async fn assigned_access_configuration(
            &self,
            directory: &Directory,
            user: &User,
            account_id: &str,
            ac_name: &str,
        ) -> Result<AccessConfiguration> {
            let accounts = self.portal_accounts(directory, user).await?;
            let entry = accounts
                .iter()
                .find(|a| a.account.id == account_id)
                .and_then(|a| {
                    a.access_configurations
                        .iter()
                        .find(|ac| ac.name.eq_ignore_ascii_case(ac_name))
                })
                .ok_or(Error::NotFound("assignment"))?;
            Ok(self
                .access_configuration(&directory.id, &entry.id)
                .await?
                .access_configuration)
        }

        fn role_assertion(
            &self,
            directory: &Directory,
            user: &User,
            account_id: &str,
            ac: &AccessConfiguration,
        ) -> LogonAssertion {
            let role = format!(
                "acs:ram::{account_id}:role/{}",
                reserved_role_name(&ac.name)
            );
            let provider = format!(
                "acs:ram::{account_id}:saml-provider/{}",
                reserved_provider_name(&directory.id)
            );
            LogonAssertion {
                destination: self.cloud_role_acs_url(),
                audience: self.cloud_role_sso_entity_id(),
                name_id: NameId {
                    format: NAME_ID_PERSISTENT.into(),
                    value: user.id.clone(),
                    sp_name_qualifier: None,
                },
                attributes: vec![
                    Attribute {
                        name: ROLE_ATTRIBUTE.into(),
                        name_format: None,
                        friendly_name: None,
                        values: vec![format!("{role},{provider}")],
                    },
                    Attribute {
                        name: ROLE_SESSION_NAME_ATTRIBUTE.into(),
                        name_format: None,
                        friendly_name: None,
                        values: vec![user.user_name.as_str().to_owned()],
                    },
                    Attribute {
                        name: SESSION_DURATION_ATTRIBUTE.into(),
                        name_format: None,
                        friendly_name: None,
                        values: vec![ac.session_duration.to_string()],
                    },
                ],
                session_seconds: ac.session_duration,
            }
        }

        /// "Log on with a RAM role": the signed role Response for the role sign-in endpoint.
        /// `landing_page` (a cloud console page) overrides the access configuration's relay state.
        pub async fn role_logon(
            &self,
            directory: &Directory,
            user: &User,
            account_id: &str,
            ac_name: &str,
            landing_page: Option<&str>,
        ) -> Result<LogonPost> {
            let ac = self
                .assigned_access_configuration(directory, user, account_id, ac_name)
                .await?;
            let landing = match landing_page.map(str::trim).filter(|l| !l.is_empty()) {
                Some(l) => relay_state(l, &self.base_url)
                    .map_err(|e| Error::invalid("landingPage", e.to_string()))?,
                None => ac.relay_state.clone(),
            };
            let assertion = self.role_assertion(directory, user, account_id, &ac);
            let xml = self.sign_logon_response(&directory.id, &assertion).await?;
            Ok(LogonPost {
                action: assertion.destination,
                xml,
                relay_state: landing,
            })
        }

        /// "Log on with a RAM user": the signed Response for the account's user sign-in endpoint.
        pub async fn ram_user_logon(
            &self,
            directory: &Directory,
            user: &User,
            account_id: &str,
        ) -> Result<LogonPost> {
            self.cloud_account(&directory.id, account_id).await?;
            let ram_user = self.ram_user_for(&directory.id, user, account_id).await?;
            let assertion = LogonAssertion {
                destination: self.cloud_user_acs_url(account_id),
                audience: self.cloud_user_sso_entity_id(account_id),
                name_id: NameId {
                    format: NAME_ID_UNSPECIFIED.into(),
                    value: format!("{}@{account_id}.onaliyun.com", ram_user.name),
                    sp_name_qualifier: None,
                },
                attributes: Vec::new(),
                session_seconds: 6 * 3600,
            };
            let xml = self.sign_logon_response(&directory.id, &assertion).await?;
            Ok(LogonPost {
                action: assertion.destination,
                xml,
                relay_state: None,
            })
        }

        /// STS credentials for the CLI (only with AllowUserToGetCredentials): Cloud SSO signs a role
        /// Response and exchanges it through AssumeRoleWithSAML, like a client would.
        pub async fn portal_sts_credentials(
            &self,
            directory: &Directory,
            user: &User,
            account_id: &str,
            ac_name: &str,
        ) -> Result<AssumeRoleResult> {
            if !directory.login_preference.allow_user_to_get_credentials {
                return Err(Error::Forbidden(
                    "the administrator does not allow users to get STS credentials",
                ));
            }
            let ac = self
                .assigned_access_configuration(directory, user, account_id, ac_name)
                .await?;
            let assertion = self.role_assertion(directory, user, account_id, &ac);
            let xml = self.sign_logon_response(&directory.id, &assertion).await?;
            let role = format!(
                "acs:ram::{account_id}:role/{}",
                reserved_role_name(&ac.name)
            );
            let provider = format!(
                "acs:ram::{account_id}:saml-provider/{}",
                reserved_provider_name(&directory.id)
            );
            self.assume_role_with_saml(
                &saml::binding::encode_post(&xml),
                &role,
                &provider,
                Some(ac.session_duration),
            )
            .await
            .map_err(|e| match e {
                crate::cloud::sts::StsError::Internal(e) => e,
                other => Error::conflict(other.to_string()),
            })
        }
    }
}
