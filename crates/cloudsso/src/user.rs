//! Directory users (products.md §2.2): user name unique and immutable, `[A-Za-z0-9@_.-]`, ≤ 64;
//! e-mail unique ≤ 128; display name ≤ 256; first/last name ≤ 64; description ≤ 1024; status.
//! Deleting a user requires unbinding the MFA device, removing assignments and group memberships first.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::InvalidInput;

/// A user name: 1–64 characters of letters, digits and `@_.-`. Compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "alice@example.com")]
pub struct UserName(String);

impl TryFrom<String> for UserName {
    type Error = InvalidInput;
    fn try_from(s: String) -> Result<Self, InvalidInput> {
        if s.is_empty() || s.chars().count() > 64 {
            return Err(InvalidInput::new("user_name", "must be 1 to 64 characters"));
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '@' | '_' | '.' | '-'))
        {
            return Err(InvalidInput::new(
                "user_name",
                "may contain only letters, digits and @ _ . -",
            ));
        }
        Ok(Self(s))
    }
}

impl From<UserName> for String {
    fn from(n: UserName) -> String {
        n.0
    }
}

impl UserName {
    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The lookup key (lower case).
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// Whether the user may log on to the portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub enum UserStatus {
    /// Logon enabled.
    #[default]
    Enabled,
    /// Logon disabled.
    Disabled,
}

impl UserStatus {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Enabled => "Enabled",
            UserStatus::Disabled => "Disabled",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Enabled" => Some(UserStatus::Enabled),
            "Disabled" => Some(UserStatus::Disabled),
            _ => None,
        }
    }
}

/// How the user or group came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub enum ProvisionType {
    /// Created by an administrator.
    #[default]
    Manual,
    /// Synchronized by SCIM.
    Synchronized,
}

impl ProvisionType {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            ProvisionType::Manual => "Manual",
            ProvisionType::Synchronized => "Synchronized",
        }
    }

    /// Parses the stored form (unknown = Manual).
    pub fn parse(s: &str) -> Self {
        if s == "Synchronized" {
            ProvisionType::Synchronized
        } else {
            ProvisionType::Manual
        }
    }
}

/// Who writes a user or group. The read-only rule for Synchronized objects while the directory's
/// SCIM synchronization is on (products.md §2.2) applies to [`WriteSource::Admin`] (admin API,
/// console, seeding) only; the SCIM server writes with [`WriteSource::Scim`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteSource {
    /// An administrator (admin API, console, in-process seeding).
    Admin,
    /// The directory's SCIM client, through the SCIM server.
    Scim,
}

/// The message of the 409 refusing an administrator's change of a Synchronized object.
pub fn synchronized_read_only_message(kind: &str, name: &str) -> String {
    format!(
        "{kind} {name:?} is synchronized by SCIM and read-only while SCIM synchronization is enabled \
         (only password reset and enabling or disabling logon are allowed); disable SCIM \
         synchronization in Settings > User Settings to edit it"
    )
}

/// A directory user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct User {
    /// `u-…`
    pub id: String,
    /// The directory.
    pub directory_id: String,
    /// The user name (immutable).
    pub user_name: String,
    /// Display name.
    pub display_name: String,
    /// E-mail (unique in the directory).
    pub email: Option<String>,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Description.
    pub description: String,
    /// Logon enabled or disabled.
    pub status: UserStatus,
    /// Manual or Synchronized.
    pub provision_type: ProvisionType,
    /// Whether a password is set.
    pub has_password: bool,
    /// Whether the user must pass MFA when the directory's MFA setting is `Byuser`.
    pub mfa_required: bool,
    /// Whether a TOTP device is bound.
    pub mfa_device_bound: bool,
    /// Locked until (unix seconds) after too many failed logons.
    pub locked_until: Option<i64>,
    /// Creation time.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
    /// The SCIM `externalId` (the client's id of the user), if any.
    pub external_id: Option<String>,
    /// Bumped by every change of the user, whatever its source (the SCIM ETag).
    pub version: i64,
}

/// Fields of a new user.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewUser {
    /// The user name.
    pub user_name: UserName,
    /// Display name (≤ 256).
    #[serde(default)]
    pub display_name: String,
    /// E-mail (≤ 128).
    #[serde(default)]
    pub email: Option<String>,
    /// First name (≤ 64).
    #[serde(default)]
    pub first_name: String,
    /// Last name (≤ 64).
    #[serde(default)]
    pub last_name: String,
    /// Description (≤ 1024).
    #[serde(default)]
    pub description: String,
    /// Status (default Enabled).
    #[serde(default)]
    pub status: UserStatus,
    /// Initial password (checked against the password policy).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub password: Option<String>,
    /// MFA required for this user (MFA setting `Byuser`).
    #[serde(default)]
    pub mfa_required: bool,
}

/// A change to a user (absent fields stay as they are). The user name cannot change: an unknown
/// field such as `user_name` is refused rather than silently ignored.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// Display name.
    pub display_name: Option<String>,
    /// E-mail (`""` clears it).
    pub email: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Status.
    pub status: Option<UserStatus>,
    /// MFA required for this user.
    pub mfa_required: Option<bool>,
}

/// Checks the length of a free-text field.
pub fn check_len(field: &'static str, value: &str, max: usize) -> Result<(), InvalidInput> {
    if value.chars().count() > max || value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(InvalidInput::new(
            field,
            format!("must be at most {max} characters without control characters"),
        ));
    }
    Ok(())
}

/// Checks and normalizes an e-mail (`None` or empty = none).
pub fn check_email(email: Option<&str>) -> Result<Option<String>, InvalidInput> {
    let Some(e) = email.map(str::trim).filter(|e| !e.is_empty()) else {
        return Ok(None);
    };
    check_len("email", e, 128)?;
    let valid = e
        .split_once('@')
        .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.contains('@'))
        && !e.chars().any(char::is_whitespace);
    if !valid {
        return Err(InvalidInput::new("email", "is not an e-mail address"));
    }
    Ok(Some(e.to_owned()))
}

/// `Filter = "UserName eq|sw <value>"` (products.md §2.2), parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameFilter {
    /// `eq` or `sw`.
    pub op: &'static str,
    /// The value (compared case-insensitively).
    pub value: String,
}

impl NameFilter {
    /// Parses `"<attribute> <eq|sw> <value>"` where the attribute must be `attribute` (case-insensitive);
    /// the value may be double-quoted.
    pub fn parse(text: &str, attribute: &str) -> Result<Self, InvalidInput> {
        let bad = || {
            InvalidInput::new(
                "filter",
                format!("expected \"{attribute} eq <value>\" or \"{attribute} sw <value>\""),
            )
        };
        let mut parts = text.trim().splitn(3, char::is_whitespace);
        let (Some(attr), Some(op), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        if !attr.eq_ignore_ascii_case(attribute) {
            return Err(bad());
        }
        let op = match op.to_ascii_lowercase().as_str() {
            "eq" => "eq",
            "sw" => "sw",
            _ => return Err(bad()),
        };
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        Ok(Self {
            op,
            value: value.to_owned(),
        })
    }
}

pub(crate) use service::synchronized_read_only;

mod service {
    use super::*;
    use crate::audit::{Actor, NewAuditEvent};
    use crate::directory::prefixed_id;
    use crate::error::{Error, Result};
    use crate::password_logon::{Password, PolicyViolation};
    use crate::ram_user_provisioning::{MembershipChange, enqueue_membership_events};
    use crate::services::Services;
    use crate::store;

    fn check_profile(
        display_name: &str,
        first_name: &str,
        last_name: &str,
        description: &str,
    ) -> Result<(), InvalidInput> {
        check_len("display_name", display_name, 256)?;
        check_len("first_name", first_name, 64)?;
        check_len("last_name", last_name, 64)?;
        check_len("description", description, 1024)
    }

    /// Whether a change by `source` of an object with `provision_type` in the directory must be
    /// refused: a Synchronized object, written by an administrator, while SCIM is on. Read inside
    /// the caller's write transaction.
    pub(crate) async fn synchronized_read_only(
        conn: &mut store::Conn,
        source: WriteSource,
        directory_id: &str,
        provision_type: ProvisionType,
    ) -> Result<bool> {
        if source == WriteSource::Scim || provision_type != ProvisionType::Synchronized {
            return Ok(false);
        }
        Ok(store::directory::scim_enabled(conn, directory_id)
            .await?
            .unwrap_or(false))
    }

    impl Services {
        /// Creates a user (with an initial password checked against the directory's policy).
        pub async fn create_user(
            &self,
            actor: &Actor,
            directory_id: &str,
            new: NewUser,
        ) -> Result<User> {
            self.create_user_as(WriteSource::Admin, actor, directory_id, new, None)
                .await
        }

        /// [`Services::create_user`] on behalf of `source`: [`WriteSource::Scim`] creates a
        /// Synchronized user with the SCIM `externalId`.
        pub async fn create_user_as(
            &self,
            source: WriteSource,
            actor: &Actor,
            directory_id: &str,
            new: NewUser,
            external_id: Option<String>,
        ) -> Result<User> {
            let now = self.now();
            if let Some(e) = &external_id {
                check_len("external_id", e, 256)?;
            }
            check_profile(
                &new.display_name,
                &new.first_name,
                &new.last_name,
                &new.description,
            )?;
            let email = check_email(new.email.as_deref())?;
            let directory = self.get_directory(directory_id).await?;
            let hash = match &new.password {
                Some(p) => {
                    let p = Password::new(p.clone());
                    directory
                        .password_policy
                        .check(&p, new.user_name.as_str())
                        .map_err(|v| Error::invalid("password", v.to_string()))?;
                    Some(
                        self.passwords
                            .hash(&p)
                            .await
                            .map_err(|e| Error::Internal(e.to_string()))?,
                    )
                }
                None => None,
            };
            let user = User {
                id: prefixed_id("u", 20),
                directory_id: directory_id.to_owned(),
                user_name: new.user_name.as_str().to_owned(),
                display_name: new.display_name,
                email,
                first_name: new.first_name,
                last_name: new.last_name,
                description: new.description,
                status: new.status,
                provision_type: match source {
                    WriteSource::Admin => ProvisionType::Manual,
                    WriteSource::Scim => ProvisionType::Synchronized,
                },
                has_password: hash.is_some(),
                mfa_required: new.mfa_required,
                mfa_device_bound: false,
                locked_until: None,
                created_at: now,
                updated_at: now,
                external_id,
                version: 1,
            };
            let mut tx = self.store.begin_write().await?;
            store::user::insert(&mut tx, &user, hash.as_deref()).await?;
            let ev = NewAuditEvent::new(Some(directory_id), actor, "user", "create")
                .target("user", &user.id)
                .detail(serde_json::json!({ "user_name": user.user_name }));
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await?;
            Ok(user)
        }

        /// The user of the directory with this id.
        pub async fn get_user(&self, directory_id: &str, user_id: &str) -> Result<User> {
            let mut conn = self.store.read().await?;
            store::user::get(&mut conn, directory_id, user_id)
                .await?
                .ok_or(Error::NotFound("user"))
        }

        /// The user of the directory with this user name (case-insensitive).
        pub async fn find_user_by_name(
            &self,
            directory_id: &str,
            user_name: &str,
        ) -> Result<Option<User>> {
            let mut conn = self.store.read().await?;
            store::user::get_by_name(&mut conn, directory_id, user_name).await
        }

        /// Users by user name, optionally filtered, at most `limit` (1–100), after `next_token`.
        pub async fn list_users(
            &self,
            directory_id: &str,
            filter: Option<&NameFilter>,
            limit: i64,
            next_token: Option<&str>,
        ) -> Result<(Vec<User>, Option<String>)> {
            let limit = limit.clamp(1, 100);
            let mut conn = self.store.read().await?;
            let users = store::user::list(
                &mut conn,
                directory_id,
                filter.map(|f| (f.op, f.value.as_str())),
                limit + 1,
                next_token,
            )
            .await?;
            Ok(web::sql::keyset_page(users, limit, |u| {
                u.user_name.to_lowercase()
            }))
        }

        /// Changes profile fields, status or the per-user MFA flag. Disabling ends the user's sessions.
        /// A Synchronized user is read-only while SCIM is on, except for its status (409 otherwise).
        pub async fn update_user(
            &self,
            actor: &Actor,
            directory_id: &str,
            user_id: &str,
            patch: UserPatch,
        ) -> Result<User> {
            self.update_user_as(WriteSource::Admin, actor, directory_id, user_id, patch)
                .await
        }

        /// [`Services::update_user`] on behalf of `source`: with [`WriteSource::Scim`] the
        /// read-only rule for Synchronized users does not apply.
        pub async fn update_user_as(
            &self,
            source: WriteSource,
            actor: &Actor,
            directory_id: &str,
            user_id: &str,
            patch: UserPatch,
        ) -> Result<User> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            let before = store::user::get(&mut tx, directory_id, user_id)
                .await?
                .ok_or(Error::NotFound("user"))?;
            let mut u = before.clone();
            if let Some(v) = patch.display_name {
                u.display_name = v;
            }
            if let Some(v) = patch.email {
                u.email = check_email(Some(&v))?;
            }
            if let Some(v) = patch.first_name {
                u.first_name = v;
            }
            if let Some(v) = patch.last_name {
                u.last_name = v;
            }
            if let Some(v) = patch.description {
                u.description = v;
            }
            if let Some(v) = patch.mfa_required {
                u.mfa_required = v;
            }
            let status_changed = patch.status.is_some_and(|s| s != u.status);
            if let Some(v) = patch.status {
                u.status = v;
            }
            // Enabling or disabling logon stays allowed on a Synchronized user; anything else not.
            let mut other = u.clone();
            other.status = before.status;
            if other != before
                && synchronized_read_only(&mut tx, source, directory_id, before.provision_type)
                    .await?
            {
                return Err(Error::conflict(synchronized_read_only_message(
                    "user",
                    &before.user_name,
                )));
            }
            check_profile(&u.display_name, &u.first_name, &u.last_name, &u.description)?;
            u.updated_at = now;
            u.version = store::user::update(&mut tx, &u).await?;
            if status_changed && u.status == UserStatus::Disabled {
                store::session::delete_for_user(&mut tx, &u.id).await?;
            }
            let ev = NewAuditEvent::new(Some(directory_id), actor, "user", "update")
                .target("user", &u.id)
                .detail(serde_json::json!({ "status": u.status }));
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await?;
            Ok(u)
        }

        /// Deletes a user. Refused while an MFA device is bound, while the user is in a group, or while
        /// access assignments (or other references of CS-cloud) exist (products.md §2.2), and for a
        /// Synchronized user while SCIM is on.
        pub async fn delete_user(
            &self,
            actor: &Actor,
            directory_id: &str,
            user_id: &str,
        ) -> Result<()> {
            self.delete_user_as(WriteSource::Admin, actor, directory_id, user_id)
                .await
        }

        /// [`Services::delete_user`] on behalf of `source`. With [`WriteSource::Scim`] the
        /// read-only rule does not apply, and the user's group memberships and MFA device go with
        /// it (a SCIM DELETE must not fail on them); access assignments still refuse it (409).
        pub async fn delete_user_as(
            &self,
            source: WriteSource,
            actor: &Actor,
            directory_id: &str,
            user_id: &str,
        ) -> Result<()> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            let u = store::user::get(&mut tx, directory_id, user_id)
                .await?
                .ok_or(Error::NotFound("user"))?;
            if synchronized_read_only(&mut tx, source, directory_id, u.provision_type).await? {
                return Err(Error::conflict(synchronized_read_only_message(
                    "user",
                    &u.user_name,
                )));
            }
            if source == WriteSource::Admin {
                if u.mfa_device_bound {
                    return Err(Error::conflict("unbind the user's MFA device first"));
                }
                if !store::group::group_ids_of_user(&mut tx, user_id)
                    .await?
                    .is_empty()
                {
                    return Err(Error::conflict("remove the user from all groups first"));
                }
            }
            let refs = store::principal_references(&mut tx, user_id).await?;
            if !refs.is_empty() {
                return Err(Error::conflict(format!(
                    "remove the user's {} first",
                    refs.join(", ")
                )));
            }
            // SCIM: the memberships go with the user (Admin: there are none, checked above).
            for group_id in store::group::group_ids_of_user(&mut tx, user_id).await? {
                enqueue_membership_events(
                    &mut tx,
                    directory_id,
                    &group_id,
                    user_id,
                    MembershipChange::Removed,
                    now,
                )
                .await?;
            }
            let removed_from = store::group::remove_user_from_all(&mut tx, user_id, now).await?;
            store::user::delete(&mut tx, directory_id, user_id).await?;
            let mut detail = serde_json::json!({ "user_name": u.user_name });
            if !removed_from.is_empty() {
                detail["removed_from_groups"] = serde_json::json!(removed_from);
            }
            let ev = NewAuditEvent::new(Some(directory_id), actor, "user", "delete")
                .target("user", user_id)
                .detail(detail);
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await?;
            Ok(())
        }

        /// Sets a user's password (administrator), checked against the policy and its reuse rule;
        /// clears the lockout and ends the user's sessions.
        pub async fn set_user_password(
            &self,
            actor: &Actor,
            directory_id: &str,
            user_id: &str,
            password: Password,
        ) -> Result<()> {
            let ev = NewAuditEvent::new(Some(directory_id), actor, "user", "set_password")
                .target("user", user_id);
            self.change_password_checked(directory_id, user_id, &password, &ev)
                .await
        }

        /// Checks `password` against the policy and history, then stores it together with its
        /// audit event `ev` in one transaction (shared by the admin and the user's own change).
        pub(crate) async fn change_password_checked(
            &self,
            directory_id: &str,
            user_id: &str,
            password: &Password,
            ev: &NewAuditEvent,
        ) -> Result<()> {
            let now = self.now();
            let directory = self.get_directory(directory_id).await?;
            let user = self.get_user(directory_id, user_id).await?;
            let policy = &directory.password_policy;
            policy
                .check(password, &user.user_name)
                .map_err(|v| Error::invalid("password", v.to_string()))?;
            if policy.password_reuse_prevention > 0 {
                let mut previous = Vec::new();
                {
                    let mut conn = self.store.read().await?;
                    if let Some(c) = store::user::credentials(&mut conn, user_id).await?
                        && let Some(h) = c.password_hash
                    {
                        previous.push(h);
                    }
                    previous.extend(
                        store::user::password_history(
                            &mut conn,
                            user_id,
                            i64::from(policy.password_reuse_prevention),
                        )
                        .await?,
                    );
                }
                previous.truncate(policy.password_reuse_prevention as usize);
                for phc in &previous {
                    if self
                        .passwords
                        .verify(password, phc)
                        .await
                        .map_err(|e| Error::Internal(e.to_string()))?
                    {
                        return Err(Error::invalid(
                            "password",
                            PolicyViolation::RecentlyUsed.to_string(),
                        ));
                    }
                }
            }
            let hash = self
                .passwords
                .hash(password)
                .await
                .map_err(|e| Error::Internal(e.to_string()))?;
            let mut tx = self.store.begin_write().await?;
            store::user::set_password(&mut tx, user_id, &hash, now).await?;
            store::session::delete_for_user(&mut tx, user_id).await?;
            store::audit::append(&mut tx, ev, now).await?;
            tx.commit().await?;
            Ok(())
        }

        /// Unbinds the user's MFA device (the user binds a new one at the next logon).
        pub async fn unbind_user_mfa(
            &self,
            actor: &Actor,
            directory_id: &str,
            user_id: &str,
        ) -> Result<()> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            store::user::get(&mut tx, directory_id, user_id)
                .await?
                .ok_or(Error::NotFound("user"))?;
            store::user::set_totp(&mut tx, user_id, None, None, now).await?;
            let ev = NewAuditEvent::new(Some(directory_id), actor, "user", "unbind_mfa")
                .target("user", user_id);
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await?;
            Ok(())
        }

        /// Lifts a lockout.
        pub async fn unlock_user(
            &self,
            actor: &Actor,
            directory_id: &str,
            user_id: &str,
        ) -> Result<()> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            store::user::get(&mut tx, directory_id, user_id)
                .await?
                .ok_or(Error::NotFound("user"))?;
            store::user::clear_failures(&mut tx, user_id).await?;
            let ev = NewAuditEvent::new(Some(directory_id), actor, "user", "unlock")
                .target("user", user_id);
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_name_rules() {
        for ok in ["alice", "alice@example.com", "a_b-c.d", &"x".repeat(64)] {
            assert!(UserName::try_from(ok.to_owned()).is_ok(), "{ok}");
        }
        for bad in ["", "has space", "ä", "a/b", &"x".repeat(65)] {
            assert!(UserName::try_from(bad.to_owned()).is_err(), "{bad}");
        }
        assert_eq!(
            UserName::try_from("Alice".to_owned()).unwrap().key(),
            "alice"
        );
    }

    #[test]
    fn name_filter() {
        let f = NameFilter::parse("UserName sw \"Al\"", "UserName").unwrap();
        assert_eq!((f.op, f.value.as_str()), ("sw", "Al"));
        assert_eq!(
            NameFilter::parse("username EQ bob", "UserName").unwrap().op,
            "eq"
        );
        assert!(NameFilter::parse("Email eq x", "UserName").is_err());
        assert!(NameFilter::parse("UserName co x", "UserName").is_err());
        assert!(NameFilter::parse("UserName", "UserName").is_err());
    }

    #[test]
    fn email_rules() {
        assert_eq!(
            check_email(Some(" a@b.c ")).unwrap().as_deref(),
            Some("a@b.c")
        );
        assert_eq!(check_email(Some("")).unwrap(), None);
        assert!(check_email(Some("nope")).is_err());
        assert!(check_email(Some(&format!("{}@b.c", "a".repeat(130)))).is_err());
    }
}
