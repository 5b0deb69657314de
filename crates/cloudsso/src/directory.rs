//! The directory (the Cloud SSO instance): its name (which is the portal URL), the SP identity
//! (entity ID, ACS URL, signing key) and the settings of products.md §2.1, §2.4 and §2.5.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::InvalidInput;
use crate::login_preference::LoginPreference;
use crate::password_logon::{MfaSetting, PasswordPolicy};

/// First URL path segments the server uses itself, so no directory may be named like them.
pub const RESERVED_NAMES: &[&str] = &[
    "api", "saml", "console", "cloud", "scim", "healthz", "readyz", "metrics", "static", "device",
];

/// Default portal session lifetime: 8 hours (products.md §2.5).
pub const DEFAULT_PORTAL_SESSION_SECS: i64 = 8 * 3600;

/// A directory name: 2–64 characters of lower-case letters, digits and `-`, not starting or ending
/// with `-`, no `--`, not starting with `d-`, and not a reserved first path segment. It is the
/// portal URL path (`{base}/{name}`), so renaming changes the portal URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "example-corp")]
pub struct DirectoryName(String);

impl TryFrom<String> for DirectoryName {
    type Error = InvalidInput;
    fn try_from(s: String) -> Result<Self, InvalidInput> {
        let bad = |m: &str| Err(InvalidInput::new("directory_name", m));
        let len = s.chars().count();
        if !(2..=64).contains(&len) {
            return bad("must be 2 to 64 characters");
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return bad("may contain only lower-case letters, digits and '-'");
        }
        if s.starts_with('-') || s.ends_with('-') || s.contains("--") {
            return bad("must not start or end with '-' or contain '--'");
        }
        if s.starts_with("d-") {
            return bad("must not start with 'd-'");
        }
        if RESERVED_NAMES.contains(&s.as_str()) {
            return bad("is reserved");
        }
        Ok(Self(s))
    }
}

impl From<DirectoryName> for String {
    fn from(n: DirectoryName) -> String {
        n.0
    }
}

impl DirectoryName {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How Cloud SSO sends the AuthnRequest to the IdP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub enum BindingType {
    /// HTTP-POST (an auto-submitted form; the request carries an enveloped signature when signed).
    #[default]
    Post,
    /// HTTP-Redirect (a query string; the signature is detached: `SigAlg` + `Signature`).
    Redirect,
}

impl BindingType {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            BindingType::Post => "Post",
            BindingType::Redirect => "Redirect",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Post" => Some(BindingType::Post),
            "Redirect" => Some(BindingType::Redirect),
            _ => None,
        }
    }
}

/// The external IdP as configured (products.md §2.4). Certificates are listed separately.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct IdpConfig {
    /// The IdP entity ID (expected `Issuer`).
    pub entity_id: String,
    /// Where AuthnRequests go.
    pub login_url: String,
    /// Whether the configuration came from an uploaded metadata document.
    pub from_metadata: bool,
    /// When it was last changed.
    pub updated_at: i64,
}

/// The SSO logon settings of a directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SsoSettings {
    /// `SSOStatus`: when on, password logon is off (and the other way round).
    pub enabled: bool,
    /// The IdP, if configured.
    pub idp: Option<IdpConfig>,
    /// Whether we sign AuthnRequests with the directory's SP key.
    pub want_request_signed: bool,
    /// The binding for AuthnRequests.
    pub binding_type: BindingType,
    /// Whether IdP-initiated (unsolicited) Responses are accepted.
    pub allow_unsolicited: bool,
}

/// A directory.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Directory {
    /// `d-…` (12 characters after the dash).
    pub id: String,
    /// The name (portal URL path).
    pub name: String,
    /// The random part of the ACS URL.
    pub acs_uuid: String,
    /// SSO logon settings.
    pub sso: SsoSettings,
    /// Login preferences.
    pub login_preference: LoginPreference,
    /// Password policy.
    pub password_policy: PasswordPolicy,
    /// MFA setting for password logon.
    pub mfa_setting: MfaSetting,
    /// Portal session lifetime in seconds.
    pub portal_session_secs: i64,
    /// Whether SCIM synchronization is on (products.md §2.3): the SCIM server accepts this
    /// directory's credentials and Synchronized users and groups are read-only elsewhere.
    pub scim_enabled: bool,
    /// Our SP signing certificate (PEM).
    pub sp_certificate: String,
    /// Creation time.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
    /// The SP private key, sealed with the master key (never serialized).
    #[serde(skip)]
    pub sp_key_enc: String,
}

impl Directory {
    /// Whether username/password logon is possible (exactly when SSO is off).
    pub fn password_logon_enabled(&self) -> bool {
        !self.sso.enabled
    }

    /// Whether an administrator may not change an object of this provision type: Synchronized
    /// objects are read-only while SCIM synchronization is on (products.md §2.2; password reset
    /// and enabling/disabling logon excepted).
    pub fn synchronized_read_only(&self, provision_type: crate::user::ProvisionType) -> bool {
        self.scim_enabled && provision_type == crate::user::ProvisionType::Synchronized
    }
}

/// The SP identity of a directory as the IdP must know it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SpInfo {
    /// `{base}/saml/sp/{directory_id}`.
    pub entity_id: String,
    /// `{base}/saml/acs/{acs_uuid}`.
    pub acs_url: String,
    /// `{base}/saml/sp/{directory_id}/metadata`.
    pub metadata_url: String,
    /// `{base}/{directory_name}`: the user logon URL.
    pub portal_url: String,
    /// The SP signing certificate (PEM).
    pub certificate: String,
}

/// A new random directory id `d-` + 12 lower-case base32 characters.
pub fn new_directory_id() -> String {
    prefixed_id("d", 12)
}

/// `{prefix}-` followed by `len` random lower-case base32 characters (`len` ≤ 24).
pub fn prefixed_id(prefix: &str, len: usize) -> String {
    let raw = web::id::new_id("x");
    let random = raw.get(2..2 + len.min(24)).unwrap_or_default();
    format!("{prefix}-{random}")
}

/// Settings of a directory an administrator may change together (absent = unchanged).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct DirectorySettingsPatch {
    /// Login preferences (replaced as a whole).
    pub login_preference: Option<LoginPreferenceInput>,
    /// Password policy (replaced as a whole).
    pub password_policy: Option<PasswordPolicy>,
    /// MFA setting.
    pub mfa_setting: Option<MfaSetting>,
    /// Portal session lifetime in seconds (900 s – 24 h).
    pub portal_session_secs: Option<i64>,
}

/// Login preferences as the API receives them.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct LoginPreferenceInput {
    /// `AllowUserToGetCredentials`.
    #[serde(default)]
    pub allow_user_to_get_credentials: bool,
    /// IPv4 addresses/CIDRs (entries may also be `;`-separated).
    #[serde(default)]
    pub login_network_masks: Vec<String>,
}

/// Shortest and longest portal session.
pub const PORTAL_SESSION_RANGE: std::ops::RangeInclusive<i64> = 900..=86_400;

mod service {
    use super::*;
    use crate::audit::{Actor, NewAuditEvent};
    use crate::error::{Error, Result};
    use crate::services::Services;
    use crate::store;

    /// Validity of generated SP certificates.
    const SP_CERT_YEARS: i64 = 10;

    impl Services {
        /// Creates a directory with a fresh SP signing key (RSA-2048, sealed with the master key).
        pub async fn create_directory(
            &self,
            actor: &Actor,
            name: DirectoryName,
        ) -> Result<Directory> {
            let now = self.now();
            let id = new_directory_id();
            let (sp_key_enc, sp_certificate) = self.generate_sp_key(&id, now).await?;
            let d = Directory {
                id: id.clone(),
                name: name.as_str().to_owned(),
                acs_uuid: uuid::Uuid::new_v4().to_string(),
                sso: SsoSettings {
                    enabled: false,
                    idp: None,
                    want_request_signed: false,
                    binding_type: BindingType::Post,
                    allow_unsolicited: false,
                },
                login_preference: LoginPreference::default(),
                password_policy: PasswordPolicy::default(),
                mfa_setting: MfaSetting::default(),
                portal_session_secs: DEFAULT_PORTAL_SESSION_SECS,
                scim_enabled: false,
                sp_certificate,
                created_at: now,
                updated_at: now,
                sp_key_enc,
            };
            let mut tx = self.store.begin_write().await?;
            store::directory::insert(&mut tx, &d).await?;
            let ev = NewAuditEvent::new(Some(&id), actor, "directory", "create")
                .target("directory", &id)
                .detail(serde_json::json!({ "name": d.name }));
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await?;
            Ok(d)
        }

        async fn generate_sp_key(&self, directory_id: &str, now: i64) -> Result<(String, String)> {
            let master = self.master_key.clone_for_blocking();
            let record = directory_id.to_owned();
            tokio::task::spawn_blocking(move || -> Result<(String, String)> {
                let internal = |e: &dyn std::fmt::Display| Error::Internal(format!("SP key: {e}"));
                let key = saml::key::SigningKey::generate_rsa(2048).map_err(|e| internal(&e))?;
                let start = time::OffsetDateTime::from_unix_timestamp(now - 3600)
                    .map_err(|e| internal(&e))?;
                let end = start + time::Duration::days(365 * SP_CERT_YEARS);
                let cert = saml::key::Certificate::self_signed(
                    &key,
                    &format!("Gatehouse Cloud SSO {record}"),
                    start,
                    end,
                )
                .map_err(|e| internal(&e))?;
                let pkcs8 = key.to_pkcs8_der().map_err(|e| internal(&e))?;
                let sealed = master.seal(&record, &pkcs8).map_err(|e| internal(&e))?;
                Ok((sealed, cert.to_pem()))
            })
            .await
            .map_err(|e| Error::Internal(format!("key generation task: {e}")))?
        }

        /// The directory's SP signing key and certificate (signs AuthnRequests; CS-cloud also signs
        /// the role-based SAML Responses of RAM role logon with it).
        pub fn sp_signing_key(
            &self,
            directory: &Directory,
        ) -> Result<(saml::key::SigningKey, saml::key::Certificate)> {
            let pkcs8 = self
                .master_key
                .open(&directory.id, &directory.sp_key_enc)
                .map_err(|e| Error::Internal(format!("SP key: {e}")))?;
            let key = saml::key::SigningKey::from_pkcs8_der(&pkcs8)
                .map_err(|e| Error::Internal(format!("SP key: {e}")))?;
            let cert = saml::key::Certificate::from_pem(&directory.sp_certificate)
                .map_err(|e| Error::Internal(format!("SP certificate: {e}")))?;
            Ok((key, cert))
        }

        /// The directory with this id.
        pub async fn get_directory(&self, id: &str) -> Result<Directory> {
            let mut conn = self.store.read().await?;
            store::directory::get(&mut conn, id)
                .await?
                .ok_or(Error::NotFound("directory"))
        }

        /// The directory with this name (case-insensitive), i.e. the one at `{base}/{name}`.
        pub async fn get_directory_by_name(&self, name: &str) -> Result<Directory> {
            let mut conn = self.store.read().await?;
            store::directory::get_by_name(&mut conn, name)
                .await?
                .ok_or(Error::NotFound("directory"))
        }

        /// All directories.
        pub async fn list_directories(&self) -> Result<Vec<Directory>> {
            let mut conn = self.store.read().await?;
            store::directory::list(&mut conn).await
        }

        /// Renames a directory: the portal URL changes to `{base}/{new name}`.
        pub async fn rename_directory(
            &self,
            actor: &Actor,
            id: &str,
            name: DirectoryName,
        ) -> Result<Directory> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            let old = store::directory::get(&mut tx, id)
                .await?
                .ok_or(Error::NotFound("directory"))?;
            store::directory::rename(&mut tx, id, name.as_str(), now).await?;
            let ev = NewAuditEvent::new(Some(id), actor, "directory", "rename")
                .target("directory", id)
                .detail(serde_json::json!({ "from": old.name, "to": name.as_str() }));
            store::audit::append(&mut tx, &ev, now).await?;
            let d = store::directory::get(&mut tx, id)
                .await?
                .ok_or(Error::NotFound("directory"))?;
            tx.commit().await?;
            Ok(d)
        }

        /// Deletes a directory; it must have no users and no groups left.
        pub async fn delete_directory(&self, actor: &Actor, id: &str) -> Result<()> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            store::directory::get(&mut tx, id)
                .await?
                .ok_or(Error::NotFound("directory"))?;
            if !store::user::list(&mut tx, id, None, 1, None)
                .await?
                .is_empty()
                || !store::group::list(&mut tx, id, None, 1, None)
                    .await?
                    .is_empty()
            {
                return Err(Error::conflict(
                    "delete the directory's users and groups first",
                ));
            }
            store::directory::delete(&mut tx, id).await?;
            let ev = NewAuditEvent::new(None, actor, "directory", "delete").target("directory", id);
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await?;
            Ok(())
        }

        /// Changes login preferences, password policy, MFA setting and/or portal session lifetime.
        pub async fn update_directory_settings(
            &self,
            actor: &Actor,
            id: &str,
            patch: DirectorySettingsPatch,
        ) -> Result<Directory> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            let mut d = store::directory::get(&mut tx, id)
                .await?
                .ok_or(Error::NotFound("directory"))?;
            let mut changed = Vec::new();
            if let Some(lp) = &patch.login_preference {
                d.login_preference = LoginPreference::new(
                    lp.allow_user_to_get_credentials,
                    &lp.login_network_masks,
                )?;
                changed.push("login_preference");
            }
            if let Some(p) = patch.password_policy {
                p.validate()?;
                d.password_policy = p;
                changed.push("password_policy");
            }
            if let Some(m) = patch.mfa_setting {
                d.mfa_setting = m;
                changed.push("mfa_setting");
            }
            if let Some(ttl) = patch.portal_session_secs {
                if !PORTAL_SESSION_RANGE.contains(&ttl) {
                    return Err(Error::invalid(
                        "portal_session_secs",
                        "must be 900 to 86400 seconds",
                    ));
                }
                d.portal_session_secs = ttl;
                changed.push("portal_session_secs");
            }
            store::directory::update_settings(&mut tx, &d, now).await?;
            let ev = NewAuditEvent::new(Some(id), actor, "directory", "update_settings")
                .target("directory", id)
                .detail(serde_json::json!({
                    "changed": changed,
                    "login_preference": d.login_preference,
                    "password_policy": d.password_policy,
                    "mfa_setting": d.mfa_setting,
                    "portal_session_secs": d.portal_session_secs,
                }));
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await?;
            d.updated_at = now;
            Ok(d)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_name_rules() {
        for ok in ["example-corp", "ab", "a1-b2"] {
            assert!(DirectoryName::try_from(ok.to_owned()).is_ok(), "{ok}");
        }
        for bad in [
            "a",
            "-ab",
            "ab-",
            "a--b",
            "d-abc",
            "Upper",
            "has space",
            "saml",
            "api",
            "console",
        ] {
            assert!(DirectoryName::try_from(bad.to_owned()).is_err(), "{bad}");
        }
        assert!(DirectoryName::try_from("a".repeat(65)).is_err());
    }

    #[test]
    fn ids_have_the_documented_form() {
        let id = new_directory_id();
        assert!(id.starts_with("d-") && id.len() == 14, "{id}");
    }
}
