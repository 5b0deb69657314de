//! Access configurations (products.md §2.7): a template of session duration, relay state and
//! permissions (system policies by name and at most one inline policy) that provisioning turns
//! into the reserved role `AliyunReservedSSO-{name}` in each account it is assigned on.
//!
//! This module owns the rules of the fields; storage is in `store::access_configuration`, the
//! lifecycle (edits needing re-provisioning, deletion only when de-provisioned) in
//! `provisioning`.

use serde::Serialize;

use crate::cloud::policy::{PolicyDocument, PolicyError, PolicyKind};
use crate::cloud::system_policy;

/// Longest access configuration name.
pub const MAX_NAME_CHARS: usize = 32;
/// Longest description.
pub const MAX_DESCRIPTION_CHARS: usize = 1024;
/// Shortest session duration (seconds).
pub const MIN_SESSION_DURATION: i64 = 900;
/// Longest session duration (seconds).
pub const MAX_SESSION_DURATION: i64 = 43_200;
/// Session duration when none is given (seconds).
pub const DEFAULT_SESSION_DURATION: i64 = 3600;
/// Most system policies per access configuration (products.md §2.11, example quota).
pub const MAX_SYSTEM_POLICIES: usize = 20;
/// The path every relay state must start with: a page of the built-in cloud console.
pub const CLOUD_PAGE_PREFIX: &str = "/cloud/";

/// Why an access configuration field was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessConfigurationError {
    /// The name breaks the rules.
    #[error("access configuration name {0:?} must be 1 to 32 characters: letters, digits and '-'")]
    BadName(String),
    /// The description is too long.
    #[error("the description has {0} characters; at most 1024 are allowed")]
    DescriptionTooLong(usize),
    /// The session duration is out of range.
    #[error("session duration {0} s is outside 900 to 43200 s")]
    BadSessionDuration(i64),
    /// The relay state is not a page of the cloud console.
    #[error(
        "relay state {0:?} must be a page of the cloud console (a path under /cloud/ or a URL of it)"
    )]
    BadRelayState(String),
    /// A system policy name is not in the catalogue.
    #[error("unknown system policy {0:?}")]
    UnknownSystemPolicy(String),
    /// The same system policy is listed twice.
    #[error("system policy {0:?} is listed twice")]
    DuplicateSystemPolicy(String),
    /// Too many system policies.
    #[error("{0} system policies; at most 20 are allowed")]
    TooManySystemPolicies(usize),
    /// The inline policy is not a valid RAM permission policy.
    #[error("inline policy: {0}")]
    InlinePolicy(#[from] PolicyError),
}

/// A valid access configuration name (letters, digits, `-`, 1–32 characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct AccessConfigurationName(String);

impl AccessConfigurationName {
    /// Parses a name.
    pub fn parse(text: &str) -> Result<Self, AccessConfigurationError> {
        let len = text.chars().count();
        if len == 0
            || len > MAX_NAME_CHARS
            || !text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(AccessConfigurationError::BadName(text.to_owned()));
        }
        Ok(Self(text.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for AccessConfigurationName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a description (≤ 1024 characters).
pub fn check_description(text: &str) -> Result<(), AccessConfigurationError> {
    let len = text.chars().count();
    if len > MAX_DESCRIPTION_CHARS {
        return Err(AccessConfigurationError::DescriptionTooLong(len));
    }
    Ok(())
}

/// A session duration in 900–43200 s.
pub fn session_duration(value: Option<i64>) -> Result<i64, AccessConfigurationError> {
    let value = value.unwrap_or(DEFAULT_SESSION_DURATION);
    if !(MIN_SESSION_DURATION..=MAX_SESSION_DURATION).contains(&value) {
        return Err(AccessConfigurationError::BadSessionDuration(value));
    }
    Ok(value)
}

/// Normalizes a relay state to a cloud console path: empty means the console home (`None`); a
/// path under `/cloud/` or an absolute URL `{cloud_base}/cloud/…` is kept as the path.
pub fn relay_state(
    text: &str,
    cloud_base: &str,
) -> Result<Option<String>, AccessConfigurationError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let bad = || AccessConfigurationError::BadRelayState(text.to_owned());
    let base = cloud_base.trim_end_matches('/');
    let path = match text.strip_prefix(base) {
        Some(rest) if !base.is_empty() => rest,
        _ => text,
    };
    if is_cloud_page(path) {
        Ok(Some(path.to_owned()))
    } else {
        Err(bad())
    }
}

/// Whether `path` is a safe local path of the cloud console: starts with `/cloud/`, no `//`,
/// no `\`, no `..` segment, no control characters or whitespace.
pub fn is_cloud_page(path: &str) -> bool {
    path.starts_with(CLOUD_PAGE_PREFIX)
        && path.len() <= 2048
        && !path.contains("//")
        && !path.contains('\\')
        && !path.split(['/', '?', '#']).any(|seg| seg == "..")
        && !path.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// The permissions of an access configuration, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    /// System policy names (each in the catalogue, no duplicates, ≤ 20).
    pub system_policies: Vec<String>,
    /// The inline policy, if any.
    pub inline_policy: Option<PolicyDocument>,
}

impl Permissions {
    /// Validates system policy names and the inline policy text (empty text means none).
    pub fn parse(
        system_policies: &[String],
        inline_policy: Option<&str>,
    ) -> Result<Self, AccessConfigurationError> {
        if system_policies.len() > MAX_SYSTEM_POLICIES {
            return Err(AccessConfigurationError::TooManySystemPolicies(
                system_policies.len(),
            ));
        }
        let mut seen: Vec<&str> = Vec::new();
        for name in system_policies {
            if system_policy::find(name).is_none() {
                return Err(AccessConfigurationError::UnknownSystemPolicy(name.clone()));
            }
            if seen.contains(&name.as_str()) {
                return Err(AccessConfigurationError::DuplicateSystemPolicy(
                    name.clone(),
                ));
            }
            seen.push(name);
        }
        let inline_policy = match inline_policy.map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(PolicyDocument::parse(text, PolicyKind::Permission)?),
        };
        Ok(Self {
            system_policies: system_policies.to_vec(),
            inline_policy,
        })
    }
}

/// A stored access configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AccessConfiguration {
    /// `ac-…`.
    pub id: String,
    /// The directory.
    pub directory_id: String,
    /// `AccessConfigurationName`.
    pub name: String,
    /// Description.
    pub description: String,
    /// Session duration of the role sessions (seconds).
    pub session_duration: i64,
    /// The console page to land on (a `/cloud/…` path), or `None` for the console home.
    pub relay_state: Option<String>,
    /// System policy names.
    pub system_policies: Vec<String>,
    /// Inline policy (RAM policy JSON), if any.
    pub inline_policy: Option<String>,
    /// Creation time.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
}

/// Where an access configuration is provisioned and whether that copy is current.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub enum ProvisioningStatus {
    /// The account's reserved role matches the access configuration.
    Provisioned,
    /// The access configuration changed since: re-provision it.
    ReprovisionRequired,
}

impl ProvisioningStatus {
    /// Database text.
    pub fn as_str(self) -> &'static str {
        match self {
            ProvisioningStatus::Provisioned => "Provisioned",
            ProvisioningStatus::ReprovisionRequired => "ReprovisionRequired",
        }
    }

    /// Parses the database text.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "Provisioned" => Some(ProvisioningStatus::Provisioned),
            "ReprovisionRequired" => Some(ProvisioningStatus::ReprovisionRequired),
            _ => None,
        }
    }
}

/// One account an access configuration is provisioned to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Provisioning {
    /// The access configuration.
    pub access_configuration_id: String,
    /// The account.
    pub account_id: String,
    /// Current or re-provisioning required.
    pub status: ProvisioningStatus,
    /// When it was last provisioned.
    pub provisioned_at: i64,
}

/// The fields of a new access configuration (`CreateAccessConfiguration`).
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct NewAccessConfiguration {
    /// `AccessConfigurationName`.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Session duration (900–43200 s, default 3600).
    #[serde(default)]
    pub session_duration: Option<i64>,
    /// Relay state: a `/cloud/…` page (or a URL of it); empty for the console home.
    #[serde(default)]
    pub relay_state: Option<String>,
    /// System policy names.
    #[serde(default)]
    pub system_policies: Vec<String>,
    /// Inline policy (RAM policy JSON).
    #[serde(default)]
    pub inline_policy: Option<String>,
}

/// Changes to an access configuration (`UpdateAccessConfiguration`); absent fields stay.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct AccessConfigurationPatch {
    /// New description.
    #[serde(default)]
    pub description: Option<String>,
    /// New session duration.
    #[serde(default)]
    pub session_duration: Option<i64>,
    /// New relay state (empty string clears it).
    #[serde(default)]
    pub relay_state: Option<String>,
    /// New system policy list.
    #[serde(default)]
    pub system_policies: Option<Vec<String>>,
    /// New inline policy (empty string removes it).
    #[serde(default)]
    pub inline_policy: Option<String>,
}

/// An access configuration with where it is provisioned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AccessConfigurationDetail {
    /// The access configuration.
    #[serde(flatten)]
    pub access_configuration: AccessConfiguration,
    /// Its provisionings (status `ReprovisionRequired` after an edit).
    pub provisionings: Vec<Provisioning>,
}

mod service {
    use serde_json::json;

    use super::*;
    use crate::audit::{Actor, NewAuditEvent};
    use crate::directory::Directory;
    use crate::error::{Error, Result};
    use crate::services::Services;
    use crate::store;

    fn invalid(e: AccessConfigurationError) -> Error {
        let field = match &e {
            AccessConfigurationError::BadName(_) => "name",
            AccessConfigurationError::DescriptionTooLong(_) => "description",
            AccessConfigurationError::BadSessionDuration(_) => "session_duration",
            AccessConfigurationError::BadRelayState(_) => "relay_state",
            AccessConfigurationError::InlinePolicy(_) => "inline_policy",
            _ => "system_policies",
        };
        Error::invalid(field, e.to_string())
    }

    impl Services {
        /// Creates an access configuration.
        pub async fn create_access_configuration(
            &self,
            actor: &Actor,
            directory: &Directory,
            input: &NewAccessConfiguration,
        ) -> Result<AccessConfiguration> {
            let name = AccessConfigurationName::parse(input.name.trim()).map_err(invalid)?;
            check_description(&input.description).map_err(invalid)?;
            let session_duration = session_duration(input.session_duration).map_err(invalid)?;
            let relay = relay_state(input.relay_state.as_deref().unwrap_or(""), &self.base_url)
                .map_err(invalid)?;
            let permissions =
                Permissions::parse(&input.system_policies, input.inline_policy.as_deref())
                    .map_err(invalid)?;
            let now = self.now();
            let ac = AccessConfiguration {
                id: crate::directory::prefixed_id("ac", 20),
                directory_id: directory.id.clone(),
                name: name.to_string(),
                description: input.description.clone(),
                session_duration,
                relay_state: relay,
                system_policies: permissions.system_policies,
                inline_policy: permissions.inline_policy.map(|p| p.text().to_owned()),
                created_at: now,
                updated_at: now,
            };
            let mut tx = self.store.begin_write().await?;
            store::access::insert_ac(&mut tx, &ac).await?;
            store::audit::append(
                &mut tx,
                &NewAuditEvent::new(Some(&directory.id), actor, "access_configuration", "create")
                    .target("access_configuration", &ac.id)
                    .detail(json!({ "name": ac.name })),
                now,
            )
            .await?;
            tx.commit().await?;
            Ok(ac)
        }

        /// An access configuration with its provisionings.
        pub async fn access_configuration(
            &self,
            directory_id: &str,
            id: &str,
        ) -> Result<AccessConfigurationDetail> {
            let mut conn = self.store.read().await?;
            let ac = store::access::get_ac(&mut conn, directory_id, id)
                .await?
                .ok_or(Error::NotFound("access configuration"))?;
            let provisionings = store::access::provisionings_of_ac(&mut conn, &ac.id).await?;
            Ok(AccessConfigurationDetail {
                access_configuration: ac,
                provisionings,
            })
        }

        /// The access configurations of a directory.
        pub async fn list_access_configurations(
            &self,
            directory_id: &str,
        ) -> Result<Vec<AccessConfigurationDetail>> {
            let mut conn = self.store.read().await?;
            let mut out = Vec::new();
            for ac in store::access::list_acs(&mut conn, directory_id).await? {
                let provisionings = store::access::provisionings_of_ac(&mut conn, &ac.id).await?;
                out.push(AccessConfigurationDetail {
                    access_configuration: ac,
                    provisionings,
                });
            }
            Ok(out)
        }

        /// Edits an access configuration; every account it is provisioned to then shows
        /// "re-provisioning required" until it is re-provisioned.
        pub async fn update_access_configuration(
            &self,
            actor: &Actor,
            directory: &Directory,
            id: &str,
            patch: &AccessConfigurationPatch,
        ) -> Result<AccessConfigurationDetail> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            let mut ac = store::access::get_ac(&mut tx, &directory.id, id)
                .await?
                .ok_or(Error::NotFound("access configuration"))?;
            if let Some(d) = &patch.description {
                check_description(d).map_err(invalid)?;
                ac.description = d.clone();
            }
            if let Some(s) = patch.session_duration {
                ac.session_duration = session_duration(Some(s)).map_err(invalid)?;
            }
            if let Some(r) = &patch.relay_state {
                ac.relay_state = relay_state(r, &self.base_url).map_err(invalid)?;
            }
            let system = patch
                .system_policies
                .clone()
                .unwrap_or_else(|| ac.system_policies.clone());
            let inline = match &patch.inline_policy {
                Some(text) => Some(text.as_str()),
                None => ac.inline_policy.as_deref(),
            };
            let permissions = Permissions::parse(&system, inline).map_err(invalid)?;
            ac.system_policies = permissions.system_policies;
            ac.inline_policy = permissions.inline_policy.map(|p| p.text().to_owned());
            ac.updated_at = now;
            store::access::update_ac(&mut tx, &ac).await?;
            let marked = store::access::mark_reprovision_required(&mut tx, &ac.id).await?;
            store::audit::append(
                &mut tx,
                &NewAuditEvent::new(Some(&directory.id), actor, "access_configuration", "update")
                    .target("access_configuration", &ac.id)
                    .detail(json!({ "reprovision_required_accounts": marked })),
                now,
            )
            .await?;
            let provisionings = store::access::provisionings_of_ac(&mut tx, &ac.id).await?;
            tx.commit().await?;
            Ok(AccessConfigurationDetail {
                access_configuration: ac,
                provisionings,
            })
        }

        /// Deletes an access configuration: only once it is de-provisioned from every account.
        pub async fn delete_access_configuration(
            &self,
            actor: &Actor,
            directory: &Directory,
            id: &str,
        ) -> Result<()> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            let ac = store::access::get_ac(&mut tx, &directory.id, id)
                .await?
                .ok_or(Error::NotFound("access configuration"))?;
            let provisionings = store::access::provisionings_of_ac(&mut tx, &ac.id).await?;
            if !provisionings.is_empty() {
                let accounts: Vec<&str> = provisionings
                    .iter()
                    .map(|p| p.account_id.as_str())
                    .collect();
                return Err(Error::conflict(format!(
                    "the access configuration is provisioned to {}; de-provision it first",
                    accounts.join(", ")
                )));
            }
            if store::access::has_running_tasks_for_ac(&mut tx, &ac.id).await? {
                return Err(Error::conflict(
                    "the access configuration has tasks in progress",
                ));
            }
            store::access::delete_ac(&mut tx, &ac.id).await?;
            store::audit::append(
                &mut tx,
                &NewAuditEvent::new(Some(&directory.id), actor, "access_configuration", "delete")
                    .target("access_configuration", &ac.id),
                now,
            )
            .await?;
            tx.commit().await?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(AccessConfigurationName::parse("Admin-1").is_ok());
        assert!(AccessConfigurationName::parse(&"a".repeat(32)).is_ok());
        for bad in ["", "a_b", "a b", "Ädmin", &"a".repeat(33)] {
            assert!(AccessConfigurationName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn description_and_duration() {
        assert!(check_description(&"x".repeat(1024)).is_ok());
        assert_eq!(
            check_description(&"x".repeat(1025)),
            Err(AccessConfigurationError::DescriptionTooLong(1025))
        );
        assert_eq!(session_duration(None), Ok(3600));
        assert_eq!(session_duration(Some(900)), Ok(900));
        assert_eq!(session_duration(Some(43_200)), Ok(43_200));
        assert_eq!(
            session_duration(Some(899)),
            Err(AccessConfigurationError::BadSessionDuration(899))
        );
        assert!(session_duration(Some(43_201)).is_err());
    }

    #[test]
    fn relay_states_stay_on_cloud_pages() {
        let base = "https://sso.example.com";
        assert_eq!(relay_state("", base), Ok(None));
        assert_eq!(
            relay_state("/cloud/console", base),
            Ok(Some("/cloud/console".into()))
        );
        assert_eq!(
            relay_state("https://sso.example.com/cloud/console?tab=ram", base),
            Ok(Some("/cloud/console?tab=ram".into()))
        );
        for bad in [
            "https://evil.example/cloud/console",
            "//evil.example/cloud/",
            "/cloud//evil.example",
            "/cloud/../api/v1",
            "/console",
            "https://sso.example.com.evil/cloud/console",
            "/cloud/\\evil",
            "javascript:alert(1)",
        ] {
            assert!(relay_state(bad, base).is_err(), "{bad}");
        }
    }

    #[test]
    fn permissions() {
        let p = Permissions::parse(&["AdministratorAccess".into()], Some("")).unwrap();
        assert!(p.inline_policy.is_none());
        assert_eq!(
            Permissions::parse(&["NoSuchPolicy".into()], None),
            Err(AccessConfigurationError::UnknownSystemPolicy(
                "NoSuchPolicy".into()
            ))
        );
        assert!(matches!(
            Permissions::parse(&["ReadOnlyAccess".into(), "ReadOnlyAccess".into()], None),
            Err(AccessConfigurationError::DuplicateSystemPolicy(_))
        ));
        assert!(matches!(
            Permissions::parse(&[], Some(r#"{"Version":"1"}"#)),
            Err(AccessConfigurationError::InlinePolicy(
                PolicyError::MissingStatement
            ))
        ));
        let too_many: Vec<String> = (0..21).map(|_| "ReadOnlyAccess".to_owned()).collect();
        assert_eq!(
            Permissions::parse(&too_many, None),
            Err(AccessConfigurationError::TooManySystemPolicies(21))
        );
    }
}
