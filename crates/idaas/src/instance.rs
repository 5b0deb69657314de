//! Instances: the tenant boundary. Every account, group, application and key belongs to one.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{Error, InvalidInput};
use crate::mfa::MfaPolicy;
use crate::password::PasswordPolicy;

/// Lifecycle state of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InstanceStatus {
    /// Being set up.
    Creating,
    /// In service.
    Running,
}

impl InstanceStatus {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceStatus::Creating => "creating",
            InstanceStatus::Running => "running",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Result<Self, Error> {
        match s {
            "creating" => Ok(InstanceStatus::Creating),
            "running" => Ok(InstanceStatus::Running),
            other => Err(Error::Corrupt(format!("instance status {other:?}"))),
        }
    }
}

/// Account lockout after repeated wrong passwords.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LockoutPolicy {
    /// Consecutive failures that lock the account (0 = never lock).
    pub max_failures: i64,
    /// How long the lock lasts, in seconds.
    pub lock_seconds: i64,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            max_failures: 5,
            lock_seconds: 900,
        }
    }
}

/// Per-instance settings (stored as JSON; missing fields take their defaults).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct InstanceSettings {
    /// When users must pass a second factor.
    pub mfa_policy: MfaPolicy,
    /// Password rules.
    pub password_policy: PasswordPolicy,
    /// Lockout after wrong passwords.
    pub lockout: LockoutPolicy,
    /// Lifetime of a sign-in session, in seconds.
    pub session_ttl_secs: i64,
    /// Audit events older than this many days are deleted.
    pub audit_retention_days: i64,
    /// Tolerated clock skew for SAML time checks, in seconds.
    pub clock_skew_secs: i64,
    /// Sign-in attempts allowed per source address and minute.
    pub rate_limit_per_minute: i64,
}

impl Default for InstanceSettings {
    fn default() -> Self {
        Self {
            mfa_policy: MfaPolicy::default(),
            password_policy: PasswordPolicy::default(),
            lockout: LockoutPolicy::default(),
            session_ttl_secs: 8 * 3600,
            audit_retention_days: 180,
            clock_skew_secs: 120,
            rate_limit_per_minute: 30,
        }
    }
}

impl InstanceSettings {
    /// Checks value ranges (the JSON shape is checked by serde).
    pub fn validate(&self) -> Result<(), InvalidInput> {
        fn range(field: &'static str, v: i64, min: i64, max: i64) -> Result<(), InvalidInput> {
            if v < min || v > max {
                return Err(InvalidInput::new(
                    field,
                    format!("must be between {min} and {max}"),
                ));
            }
            Ok(())
        }
        range("session_ttl_secs", self.session_ttl_secs, 60, 30 * 86400)?;
        range("audit_retention_days", self.audit_retention_days, 1, 3650)?;
        range("clock_skew_secs", self.clock_skew_secs, 0, 3600)?;
        range(
            "rate_limit_per_minute",
            self.rate_limit_per_minute,
            1,
            100_000,
        )?;
        range("lockout.max_failures", self.lockout.max_failures, 0, 1000)?;
        range(
            "lockout.lock_seconds",
            self.lockout.lock_seconds,
            1,
            30 * 86400,
        )?;
        let p = &self.password_policy;
        if !(1..=256).contains(&p.min_length) {
            return Err(InvalidInput::new(
                "password_policy.min_length",
                "must be between 1 and 256",
            ));
        }
        if p.require_classes > 4 {
            return Err(InvalidInput::new(
                "password_policy.require_classes",
                "must be between 0 and 4",
            ));
        }
        if p.history > 24 {
            return Err(InvalidInput::new(
                "password_policy.history",
                "must be between 0 and 24",
            ));
        }
        Ok(())
    }
}

/// An instance's name: 1–100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String)]
pub struct InstanceName(String);

impl TryFrom<String> for InstanceName {
    type Error = InvalidInput;
    fn try_from(s: String) -> Result<Self, InvalidInput> {
        let s = s.trim().to_owned();
        if s.is_empty() || s.chars().count() > 100 || s.chars().any(char::is_control) {
            return Err(InvalidInput::new(
                "name",
                "must be 1 to 100 characters without control characters",
            ));
        }
        Ok(Self(s))
    }
}

impl From<InstanceName> for String {
    fn from(n: InstanceName) -> String {
        n.0
    }
}

impl InstanceName {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A base URL: `http(s)://host[:port][/path]`, without query, fragment or trailing slash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "https://login.example.com")]
pub struct BaseUrl(String);

impl TryFrom<String> for BaseUrl {
    type Error = InvalidInput;
    fn try_from(s: String) -> Result<Self, InvalidInput> {
        let bad = |m: &str| InvalidInput::new("base_url", m);
        let parsed = url::Url::parse(s.trim()).map_err(|_| bad("is not a URL"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(bad("must use http or https"));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(bad("must have a host"));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(bad("must not have a query or fragment"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(bad("must not contain credentials"));
        }
        Ok(Self(parsed.as_str().trim_end_matches('/').to_owned()))
    }
}

impl From<BaseUrl> for String {
    fn from(u: BaseUrl) -> String {
        u.0
    }
}

impl BaseUrl {
    /// The URL text (no trailing slash).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An IDaaS instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Instance {
    /// `idaas_…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// Lifecycle state.
    pub status: InstanceStatus,
    /// Custom base URL; `None` means the server's public base URL.
    pub base_url: Option<String>,
    /// Settings.
    pub settings: InstanceSettings,
    /// Creation time (unix seconds).
    pub created_at: i64,
    /// Last change (unix seconds).
    pub updated_at: i64,
}

impl Instance {
    /// The base URL all published URLs of this instance start with.
    pub fn effective_base_url<'a>(&'a self, server_default: &'a str) -> &'a str {
        self.base_url.as_deref().unwrap_or(server_default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_default_from_empty_json_and_reject_unknown() {
        let s: InstanceSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(s, InstanceSettings::default());
        assert!(serde_json::from_str::<InstanceSettings>(r#"{"nope":1}"#).is_err());
        let bad = InstanceSettings {
            session_ttl_secs: 1,
            ..InstanceSettings::default()
        };
        assert_eq!(bad.validate().unwrap_err().field, "session_ttl_secs");
    }

    #[test]
    fn base_url_is_normalised_and_checked() {
        let u = BaseUrl::try_from("https://login.example.com/".to_owned()).unwrap();
        assert_eq!(u.as_str(), "https://login.example.com");
        for bad in ["ftp://x", "not a url", "https://x/?q=1", "https://u:p@x"] {
            assert!(BaseUrl::try_from(bad.to_owned()).is_err(), "{bad}");
        }
    }

    #[test]
    fn instance_name_is_checked() {
        assert!(InstanceName::try_from("  ".to_owned()).is_err());
        assert!(InstanceName::try_from("a\u{7}".to_owned()).is_err());
        assert_eq!(
            InstanceName::try_from(" Acme ".to_owned())
                .unwrap()
                .as_str(),
            "Acme"
        );
    }
}

mod service {
    use super::*;
    use crate::audit::{Actor, NewAuditEvent};
    use crate::error::Result;
    use crate::services::Services;
    use crate::{id, store};

    impl Services {
        /// Creates an instance (settings default when `None`).
        pub async fn create_instance(
            &self,
            actor: &Actor,
            name: InstanceName,
            base_url: Option<BaseUrl>,
            settings: Option<InstanceSettings>,
        ) -> Result<Instance> {
            let settings = settings.unwrap_or_default();
            settings.validate()?;
            let now = self.now();
            let instance = Instance {
                id: id::new_id("idaas"),
                name: name.as_str().to_owned(),
                status: InstanceStatus::Running,
                base_url: base_url.map(String::from),
                settings,
                created_at: now,
                updated_at: now,
            };
            let mut tx = self.store.begin_write().await?;
            store::instance::insert(&mut tx, &instance).await?;
            let ev = NewAuditEvent::new(None, actor, "instance", "create")
                .target("instance", &instance.id)
                .detail(serde_json::json!({ "name": instance.name }));
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await?;
            Ok(instance)
        }

        /// The instance `id`.
        pub async fn get_instance(&self, id: &str) -> Result<Instance> {
            let mut conn = self.store.read().await?;
            store::instance::get(&mut conn, id)
                .await?
                .ok_or(Error::NotFound("instance"))
        }

        /// All instances.
        pub async fn list_instances(&self) -> Result<Vec<Instance>> {
            let mut conn = self.store.read().await?;
            store::instance::list(&mut conn).await
        }

        /// Renames an instance and sets (or clears) its base URL.
        pub async fn update_instance(
            &self,
            actor: &Actor,
            id: &str,
            name: Option<InstanceName>,
            base_url: Option<Option<BaseUrl>>,
        ) -> Result<Instance> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            let cur = store::instance::get(&mut tx, id)
                .await?
                .ok_or(Error::NotFound("instance"))?;
            let name = name.map(String::from).unwrap_or(cur.name);
            let base_url = match base_url {
                Some(b) => b.map(String::from),
                None => cur.base_url,
            };
            store::instance::update(&mut tx, id, &name, base_url.as_deref(), now).await?;
            let ev =
                NewAuditEvent::new(Some(id), actor, "instance", "update").target("instance", id);
            store::audit::append(&mut tx, &ev, now).await?;
            let updated = store::instance::get(&mut tx, id)
                .await?
                .ok_or(Error::NotFound("instance"))?;
            tx.commit().await?;
            Ok(updated)
        }

        /// Replaces the settings of an instance.
        pub async fn update_settings(
            &self,
            actor: &Actor,
            id: &str,
            settings: InstanceSettings,
        ) -> Result<InstanceSettings> {
            settings.validate()?;
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            if !store::instance::set_settings(&mut tx, id, &settings, now).await? {
                return Err(Error::NotFound("instance"));
            }
            let ev = NewAuditEvent::new(Some(id), actor, "instance", "update_settings")
                .target("instance", id);
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await?;
            Ok(settings)
        }

        /// Deletes an instance and everything in it.
        pub async fn delete_instance(&self, actor: &Actor, id: &str) -> Result<()> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            if !store::instance::delete(&mut tx, id).await? {
                return Err(Error::NotFound("instance"));
            }
            let ev = NewAuditEvent::new(None, actor, "instance", "delete").target("instance", id);
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await?;
            Ok(())
        }

        /// The base URL of an instance's published URLs (custom domain or the server's).
        pub fn instance_base_url(&self, instance: &Instance) -> String {
            instance.effective_base_url(&self.base_url).to_owned()
        }
    }
}
