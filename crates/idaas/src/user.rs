//! Accounts (users) of an instance, and the parsed values they are made of.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{Error, InvalidInput};

/// A user name: 1–64 characters of `A-Z a-z 0-9 . _ - @ +`, starting with a letter or digit.
///
/// Unique per instance regardless of case (see [`UserName::key`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "alice")]
pub struct UserName(String);

impl UserName {
    /// Parses a user name.
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        let bad = || {
            InvalidInput::new(
                "username",
                "must be 1 to 64 characters of letters, digits, '.', '_', '-', '@', '+', starting with a letter or digit",
            )
        };
        let len = s.chars().count();
        if len == 0 || len > 64 {
            return Err(bad());
        }
        let mut chars = s.chars();
        if !chars.next().is_some_and(|c| c.is_ascii_alphanumeric()) {
            return Err(bad());
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+'))
        {
            return Err(bad());
        }
        Ok(Self(s.to_owned()))
    }

    /// The name as entered.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-insensitive uniqueness key (lower case).
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl TryFrom<String> for UserName {
    type Error = InvalidInput;
    fn try_from(s: String) -> Result<Self, InvalidInput> {
        Self::parse(&s)
    }
}

impl From<UserName> for String {
    fn from(u: UserName) -> String {
        u.0
    }
}

/// An e-mail address `local@domain.tld` (at most 254 characters; pragmatic, not full RFC 5322).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "alice@example.com")]
pub struct Email(String);

impl Email {
    /// Parses an e-mail address.
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        let bad = || InvalidInput::new("email", "is not a valid e-mail address");
        if s.len() > 254 {
            return Err(bad());
        }
        let (local, domain) = s.split_once('@').ok_or_else(bad)?;
        if local.is_empty()
            || local.len() > 64
            || local.starts_with('.')
            || local.ends_with('.')
            || local.contains("..")
            || !local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c))
        {
            return Err(bad());
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2
            || labels.iter().any(|l| {
                l.is_empty()
                    || l.len() > 63
                    || l.starts_with('-')
                    || l.ends_with('-')
                    || !l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
        {
            return Err(bad());
        }
        Ok(Self(s.to_owned()))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = InvalidInput;
    fn try_from(s: String) -> Result<Self, InvalidInput> {
        Self::parse(&s)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

/// A phone number: optional `+`, then 3–20 digits with optional spaces, `-`, `(`, `)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "+86 571 0000 0000")]
pub struct Phone(String);

impl Phone {
    /// Parses a phone number.
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        let bad = || InvalidInput::new("phone", "is not a valid phone number");
        let rest = s.strip_prefix('+').unwrap_or(s);
        let digits = rest.chars().filter(char::is_ascii_digit).count();
        if !(3..=20).contains(&digits)
            || s.len() > 32
            || !rest
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')'))
        {
            return Err(bad());
        }
        Ok(Self(s.to_owned()))
    }

    /// The number as entered.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Phone {
    type Error = InvalidInput;
    fn try_from(s: String) -> Result<Self, InvalidInput> {
        Self::parse(&s)
    }
}

impl From<Phone> for String {
    fn from(p: Phone) -> String {
        p.0
    }
}

/// A display name: at most 128 characters, no control characters (may be empty).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "Alice Liddell")]
pub struct DisplayName(String);

impl DisplayName {
    /// Parses a display name (surrounding whitespace is trimmed).
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        let s = s.trim();
        if s.chars().count() > 128 || s.chars().any(char::is_control) {
            return Err(InvalidInput::new(
                "display_name",
                "must be at most 128 characters without control characters",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DisplayName {
    type Error = InvalidInput;
    fn try_from(s: String) -> Result<Self, InvalidInput> {
        Self::parse(&s)
    }
}

impl From<DisplayName> for String {
    fn from(d: DisplayName) -> String {
        d.0
    }
}

/// Whether a user may sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    /// May sign in.
    #[default]
    Enabled,
    /// May not sign in.
    Disabled,
}

impl UserStatus {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Enabled => "enabled",
            UserStatus::Disabled => "disabled",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Result<Self, Error> {
        match s {
            "enabled" => Ok(UserStatus::Enabled),
            "disabled" => Ok(UserStatus::Disabled),
            other => Err(Error::Corrupt(format!("user status {other:?}"))),
        }
    }
}

/// Custom fields: a JSON object of at most 50 keys (1–64 chars) with string, number, bool or null values.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(
    try_from = "serde_json::Map<String, serde_json::Value>",
    into = "serde_json::Map<String, serde_json::Value>"
)]
#[schema(value_type = Object)]
pub struct CustomFields(serde_json::Map<String, serde_json::Value>);

impl TryFrom<serde_json::Map<String, serde_json::Value>> for CustomFields {
    type Error = InvalidInput;
    fn try_from(m: serde_json::Map<String, serde_json::Value>) -> Result<Self, InvalidInput> {
        if m.len() > 50 {
            return Err(InvalidInput::new("custom_fields", "at most 50 fields"));
        }
        for (k, v) in &m {
            if k.is_empty() || k.len() > 64 || k.chars().any(char::is_control) {
                return Err(InvalidInput::new(
                    "custom_fields",
                    "field names must be 1 to 64 characters",
                ));
            }
            let ok = match v {
                serde_json::Value::String(s) => s.len() <= 1024,
                serde_json::Value::Number(_)
                | serde_json::Value::Bool(_)
                | serde_json::Value::Null => true,
                _ => false,
            };
            if !ok {
                return Err(InvalidInput::new(
                    "custom_fields",
                    "values must be strings (at most 1024 bytes), numbers, booleans or null",
                ));
            }
        }
        Ok(Self(m))
    }
}

impl From<CustomFields> for serde_json::Map<String, serde_json::Value> {
    fn from(c: CustomFields) -> Self {
        c.0
    }
}

impl CustomFields {
    /// The fields.
    pub fn as_map(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.0
    }
}

/// A user as the API and the rest of the crate see it (no credentials).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct User {
    /// `user_…`
    pub id: String,
    /// Owning instance.
    pub instance_id: String,
    /// User name (unique per instance, case-insensitively).
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// E-mail address.
    pub email: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// Enabled or disabled.
    pub status: UserStatus,
    /// Administrator of the instance (console and admin API access).
    pub is_admin: bool,
    /// Custom fields.
    #[schema(value_type = Object)]
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    /// Primary organizational unit.
    pub primary_ou_id: Option<String>,
    /// Identifier in an external source (e.g. an HR system).
    pub external_id: Option<String>,
    /// Whether a TOTP is enrolled.
    pub mfa_enabled: bool,
    /// Must choose a new password at the next sign-in.
    pub must_change_password: bool,
    /// Whether a password is set.
    pub has_password: bool,
    /// Locked until (unix seconds), after too many wrong passwords.
    pub locked_until: Option<i64>,
    /// Creation time.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
}

/// What is needed to create a user (already parsed).
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    /// User name.
    pub username: Option<UserName>,
    /// Display name (defaults to the user name when empty).
    pub display_name: DisplayName,
    /// E-mail.
    pub email: Option<Email>,
    /// Phone.
    pub phone: Option<Phone>,
    /// Status.
    pub status: UserStatus,
    /// Administrator flag.
    pub is_admin: bool,
    /// Custom fields.
    pub custom_fields: CustomFields,
    /// External id.
    pub external_id: Option<String>,
}

/// A partial update; `None` leaves a field unchanged, `Some(None)` clears an optional field.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    /// New user name.
    pub username: Option<UserName>,
    /// New display name.
    pub display_name: Option<DisplayName>,
    /// New e-mail.
    pub email: Option<Option<Email>>,
    /// New phone.
    pub phone: Option<Option<Phone>>,
    /// New status.
    pub status: Option<UserStatus>,
    /// New administrator flag.
    pub is_admin: Option<bool>,
    /// New custom fields (replaces all).
    pub custom_fields: Option<CustomFields>,
    /// New external id.
    pub external_id: Option<Option<String>>,
}

/// Filters for listing users.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Substring of user name, display name or e-mail (case-insensitive).
    pub query: Option<String>,
    /// Only this status.
    pub status: Option<UserStatus>,
    /// Only members of this organizational unit (directly, or anywhere below with `include_descendants`).
    pub org_unit_id: Option<String>,
    /// With `org_unit_id`: include members of descendant units.
    pub include_descendants: bool,
    /// Only members of this group.
    pub group_id: Option<String>,
}

/// Paging: `offset` into the ordered result, at most `limit` items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Items to skip.
    pub offset: i64,
    /// Maximum number of items (1–500).
    pub limit: i64,
}

impl Default for Page {
    fn default() -> Self {
        Self {
            offset: 0,
            limit: 100,
        }
    }
}

impl Page {
    /// Builds a page, clamping `limit` to 1–500 and `offset` to ≥ 0.
    pub fn new(offset: Option<i64>, limit: Option<i64>) -> Self {
        Self {
            offset: offset.unwrap_or(0).max(0),
            limit: limit.unwrap_or(100).clamp(1, 500),
        }
    }
}

/// One page of results and the total count.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Paged<T> {
    /// Items of this page.
    pub items: Vec<T>,
    /// Total number of matching items.
    pub total: i64,
    /// Offset to request the next page with, if there is one.
    pub next_offset: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["alice", "a", "Bob.Smith", "x_1-2@corp+tag", &"a".repeat(64)] {
            assert!(UserName::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".alice",
            "al ice",
            "al/ice",
            "ali\u{e9}",
            "-a",
            &"a".repeat(65),
            "a\n",
        ] {
            assert!(UserName::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(UserName::parse("Alice").unwrap().key(), "alice");
    }

    #[test]
    fn emails() {
        for ok in ["a@b.co", "first.last+tag@mail.example.com"] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a",
            "a@b",
            "@b.co",
            "a@@b.co",
            "a b@c.de",
            "a@-b.co",
            "a..b@c.de",
            "a@b..co",
            "a@b.co\n",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn phones_and_display_names() {
        assert!(Phone::parse("+86 (571) 000-000").is_ok());
        assert!(Phone::parse("12").is_err());
        assert!(Phone::parse("call me").is_err());
        assert!(DisplayName::parse("Alice").is_ok());
        assert!(DisplayName::parse("a\u{0}b").is_err());
        assert!(DisplayName::parse(&"x".repeat(129)).is_err());
    }

    #[test]
    fn custom_fields() {
        let ok: CustomFields =
            serde_json::from_str(r#"{"dept":"R&D","level":3,"x":null}"#).unwrap();
        assert_eq!(ok.as_map().len(), 3);
        assert!(serde_json::from_str::<CustomFields>(r#"{"nested":{"a":1}}"#).is_err());
        assert!(serde_json::from_str::<CustomFields>(r#"[1]"#).is_err());
    }
}

mod service {
    use super::*;
    use crate::audit::{Actor, NewAuditEvent};
    use crate::error::Result;
    use crate::password::Password;
    use crate::services::Services;
    use crate::store::outbox_enqueue::ObjectType;
    use crate::store::{self, Conn};
    use crate::{id, org_unit::OrgUnit};

    impl Services {
        /// Checks `password` against the instance policy and hashes it.
        pub async fn hash_new_password(
            &self,
            policy: &crate::password::PasswordPolicy,
            username: &str,
            password: &Password,
        ) -> Result<String> {
            policy
                .check(password, username)
                .map_err(|v| Error::invalid("password", v.to_string()))?;
            self.passwords
                .hash(password)
                .await
                .map_err(|e| Error::Internal(format!("password hashing: {e}")))
        }

        /// Creates a user, optionally with an initial password (checked against the policy; the
        /// user must change it at first sign-in if the policy says so).
        pub async fn create_user(
            &self,
            actor: &Actor,
            instance_id: &str,
            new: NewUser,
            password: Option<Password>,
        ) -> Result<User> {
            let instance = self.get_instance(instance_id).await?;
            let username = new
                .username
                .clone()
                .ok_or_else(|| Error::invalid("username", "is required"))?;
            let hash = match &password {
                Some(p) => Some(
                    self.hash_new_password(
                        &instance.settings.password_policy,
                        username.as_str(),
                        p,
                    )
                    .await?,
                ),
                None => None,
            };
            let must_change = instance
                .settings
                .password_policy
                .force_change_on_first_signin;
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            let user = insert_user_tx(
                &mut tx,
                actor,
                instance_id,
                &new,
                hash.as_deref(),
                must_change,
                now,
            )
            .await?;
            tx.commit().await?;
            self.provisioning_wake.notify_one();
            Ok(user)
        }

        /// The user `user_id` of `instance_id`.
        pub async fn get_user(&self, instance_id: &str, user_id: &str) -> Result<User> {
            let mut conn = self.store.read().await?;
            store::user::get(&mut conn, instance_id, user_id)
                .await?
                .ok_or(Error::NotFound("user"))
        }

        /// The user called `username` (case-insensitive) in `instance_id`.
        pub async fn find_user_by_username(
            &self,
            instance_id: &str,
            username: &str,
        ) -> Result<Option<User>> {
            let mut conn = self.store.read().await?;
            store::user::get_by_username(&mut conn, instance_id, username).await
        }

        /// Lists users.
        pub async fn list_users(
            &self,
            instance_id: &str,
            filter: &UserFilter,
            page: Page,
        ) -> Result<Paged<User>> {
            let mut conn = self.store.read().await?;
            store::user::list(&mut conn, instance_id, filter, page).await
        }

        /// Updates a user; disabling a user ends their sessions.
        pub async fn update_user(
            &self,
            actor: &Actor,
            instance_id: &str,
            user_id: &str,
            update: UserUpdate,
        ) -> Result<User> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            let user = update_user_tx(&mut tx, actor, instance_id, user_id, &update, now).await?;
            tx.commit().await?;
            self.provisioning_wake.notify_one();
            Ok(user)
        }

        /// Deletes a user.
        pub async fn delete_user(
            &self,
            actor: &Actor,
            instance_id: &str,
            user_id: &str,
        ) -> Result<()> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            // Before the delete: the memberships go with the user (cascade).
            store::outbox_enqueue::enqueue_groups_of_user(&mut tx, instance_id, user_id, now)
                .await?;
            store::outbox_enqueue::enqueue(&mut tx, instance_id, ObjectType::User, user_id, now)
                .await?;
            if !store::user::delete(&mut tx, instance_id, user_id).await? {
                return Err(Error::NotFound("user"));
            }
            let ev = NewAuditEvent::new(Some(instance_id), actor, "user", "delete")
                .target("user", user_id);
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await?;
            self.provisioning_wake.notify_one();
            Ok(())
        }

        /// Sets a user's password as an administrator (policy checked; history recorded; sessions ended).
        pub async fn admin_set_password(
            &self,
            actor: &Actor,
            instance_id: &str,
            user_id: &str,
            password: Password,
            must_change: bool,
        ) -> Result<()> {
            let instance = self.get_instance(instance_id).await?;
            let user = self.get_user(instance_id, user_id).await?;
            let hash = self
                .hash_new_password(
                    &instance.settings.password_policy,
                    &user.username,
                    &password,
                )
                .await?;
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            store::user::set_password(
                &mut tx,
                user_id,
                &hash,
                must_change,
                instance.settings.password_policy.history,
                now,
            )
            .await?;
            store::session::delete_for_user(&mut tx, user_id).await?;
            let ev = NewAuditEvent::new(Some(instance_id), actor, "user", "reset_password")
                .target("user", user_id);
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await?;
            Ok(())
        }

        /// The organizational units of a user.
        pub async fn user_org_units(
            &self,
            instance_id: &str,
            user_id: &str,
        ) -> Result<Vec<OrgUnit>> {
            let mut conn = self.store.read().await?;
            if store::user::get(&mut conn, instance_id, user_id)
                .await?
                .is_none()
            {
                return Err(Error::NotFound("user"));
            }
            store::org_unit::units_of_user(&mut conn, user_id).await
        }

        /// Adds a user to a unit; `primary` also makes it the primary unit.
        pub async fn add_user_to_org_unit(
            &self,
            actor: &Actor,
            instance_id: &str,
            user_id: &str,
            ou_id: &str,
            primary: bool,
        ) -> Result<()> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            add_user_to_org_unit_tx(&mut tx, actor, instance_id, user_id, ou_id, primary, now)
                .await?;
            tx.commit().await?;
            self.provisioning_wake.notify_one();
            Ok(())
        }

        /// Removes a user from a unit.
        pub async fn remove_user_from_org_unit(
            &self,
            actor: &Actor,
            instance_id: &str,
            user_id: &str,
            ou_id: &str,
        ) -> Result<()> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            if store::user::get(&mut tx, instance_id, user_id)
                .await?
                .is_none()
            {
                return Err(Error::NotFound("user"));
            }
            if store::org_unit::get(&mut tx, instance_id, ou_id)
                .await?
                .is_none()
            {
                return Err(Error::NotFound("organizational unit"));
            }
            if !store::org_unit::remove_member(&mut tx, ou_id, user_id).await? {
                return Err(Error::NotFound("membership"));
            }
            store::outbox_enqueue::enqueue(&mut tx, instance_id, ObjectType::User, user_id, now)
                .await?;
            let ev = NewAuditEvent::new(Some(instance_id), actor, "user", "remove_org_unit")
                .target("user", user_id)
                .detail(serde_json::json!({ "org_unit_id": ou_id }));
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await?;
            self.provisioning_wake.notify_one();
            Ok(())
        }
    }

    /// Inserts a user and its audit event inside `tx`.
    pub(crate) async fn insert_user_tx(
        tx: &mut Conn,
        actor: &Actor,
        instance_id: &str,
        new: &NewUser,
        password_hash: Option<&str>,
        must_change: bool,
        now: i64,
    ) -> Result<User> {
        let user_id = id::new_id("user");
        let user = store::user::insert(
            tx,
            &user_id,
            instance_id,
            new,
            password_hash,
            must_change,
            now,
        )
        .await?;
        if let Some(hash) = password_hash {
            // Start the password history with the initial password.
            store::user::set_password(tx, &user.id, hash, user.must_change_password, 24, now)
                .await?;
        }
        let ev = NewAuditEvent::new(Some(instance_id), actor, "user", "create")
            .target("user", &user.id)
            .detail(serde_json::json!({ "username": user.username }));
        store::audit::append(tx, &ev, now).await?;
        Ok(user)
    }

    /// Updates a user and records the event inside `tx`.
    pub(crate) async fn update_user_tx(
        tx: &mut Conn,
        actor: &Actor,
        instance_id: &str,
        user_id: &str,
        update: &UserUpdate,
        now: i64,
    ) -> Result<User> {
        let user = store::user::update(tx, instance_id, user_id, update, now)
            .await?
            .ok_or(Error::NotFound("user"))?;
        if user.status == UserStatus::Disabled {
            store::session::delete_for_user(tx, user_id).await?;
        }
        let mut changed = Vec::new();
        for (name, set) in [
            ("username", update.username.is_some()),
            ("display_name", update.display_name.is_some()),
            ("email", update.email.is_some()),
            ("phone", update.phone.is_some()),
            ("status", update.status.is_some()),
            ("is_admin", update.is_admin.is_some()),
            ("custom_fields", update.custom_fields.is_some()),
            ("external_id", update.external_id.is_some()),
        ] {
            if set {
                changed.push(name);
            }
        }
        let ev = NewAuditEvent::new(Some(instance_id), actor, "user", "update")
            .target("user", user_id)
            .detail(serde_json::json!({ "fields": changed }));
        store::audit::append(tx, &ev, now).await?;
        Ok(user)
    }

    /// Adds a user to a unit inside `tx` (both must belong to `instance_id`).
    pub(crate) async fn add_user_to_org_unit_tx(
        tx: &mut Conn,
        actor: &Actor,
        instance_id: &str,
        user_id: &str,
        ou_id: &str,
        primary: bool,
        now: i64,
    ) -> Result<()> {
        if store::user::get(tx, instance_id, user_id).await?.is_none() {
            return Err(Error::NotFound("user"));
        }
        if store::org_unit::get(tx, instance_id, ou_id)
            .await?
            .is_none()
        {
            return Err(Error::NotFound("organizational unit"));
        }
        let added = store::org_unit::add_member(tx, ou_id, user_id, now).await?;
        if primary {
            store::user::set_primary_ou(tx, user_id, Some(ou_id), now).await?;
        }
        if added || primary {
            store::outbox_enqueue::enqueue(tx, instance_id, ObjectType::User, user_id, now).await?;
            let ev = NewAuditEvent::new(Some(instance_id), actor, "user", "add_org_unit")
                .target("user", user_id)
                .detail(serde_json::json!({ "org_unit_id": ou_id, "primary": primary }));
            store::audit::append(tx, &ev, now).await?;
        }
        Ok(())
    }
}

pub(crate) use service::{add_user_to_org_unit_tx, insert_user_tx, update_user_tx};
