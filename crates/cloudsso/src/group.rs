//! Directory groups (products.md §2.2): name unique, ≤ 128 characters of letters, digits and `_-.`;
//! memberships. Deleting a group requires removing its members and access assignments first.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::InvalidInput;
use crate::user::ProvisionType;

/// A group name: 1–128 characters of letters, digits and `_-.`. Compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "admins")]
pub struct GroupName(String);

impl TryFrom<String> for GroupName {
    type Error = InvalidInput;
    fn try_from(s: String) -> Result<Self, InvalidInput> {
        if s.is_empty() || s.chars().count() > 128 {
            return Err(InvalidInput::new(
                "group_name",
                "must be 1 to 128 characters",
            ));
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err(InvalidInput::new(
                "group_name",
                "may contain only letters, digits and _ . -",
            ));
        }
        Ok(Self(s))
    }
}

impl From<GroupName> for String {
    fn from(n: GroupName) -> String {
        n.0
    }
}

impl GroupName {
    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The lookup key (lower case).
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Group {
    /// `g-…`
    pub id: String,
    /// The directory.
    pub directory_id: String,
    /// The name.
    pub name: String,
    /// Description (≤ 1024).
    pub description: String,
    /// Manual or Synchronized.
    pub provision_type: ProvisionType,
    /// Creation time.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
    /// The SCIM `externalId` (the client's id of the group), if any.
    pub external_id: Option<String>,
    /// Bumped by every change of the group or its members, whatever its source (the SCIM ETag).
    pub version: i64,
}

/// Fields of a new group.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewGroup {
    /// The name.
    pub group_name: GroupName,
    /// Description (≤ 1024).
    #[serde(default)]
    pub description: String,
}

/// A change to a group.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct GroupPatch {
    /// New name.
    pub group_name: Option<GroupName>,
    /// New description.
    pub description: Option<String>,
}

mod service {
    use super::*;
    use crate::audit::{Actor, NewAuditEvent};
    use crate::directory::prefixed_id;
    use crate::error::{Error, Result};
    use crate::ram_user_provisioning::{MembershipChange, enqueue_membership_events};
    use crate::services::Services;
    use crate::store;
    use crate::user::{
        NameFilter, User, WriteSource, check_len, synchronized_read_only,
        synchronized_read_only_message,
    };

    /// 409 when an administrator would change a Synchronized group while SCIM is on.
    async fn refuse_if_read_only(
        conn: &mut store::Conn,
        source: WriteSource,
        g: &Group,
    ) -> Result<()> {
        if synchronized_read_only(conn, source, &g.directory_id, g.provision_type).await? {
            return Err(Error::conflict(synchronized_read_only_message(
                "group", &g.name,
            )));
        }
        Ok(())
    }

    impl Services {
        /// Creates a group.
        pub async fn create_group(
            &self,
            actor: &Actor,
            directory_id: &str,
            new: NewGroup,
        ) -> Result<Group> {
            self.create_group_as(WriteSource::Admin, actor, directory_id, new, None)
                .await
        }

        /// [`Services::create_group`] on behalf of `source`: [`WriteSource::Scim`] creates a
        /// Synchronized group with the SCIM `externalId`.
        pub async fn create_group_as(
            &self,
            source: WriteSource,
            actor: &Actor,
            directory_id: &str,
            new: NewGroup,
            external_id: Option<String>,
        ) -> Result<Group> {
            let now = self.now();
            if let Some(e) = &external_id {
                check_len("external_id", e, 256)?;
            }
            check_len("description", &new.description, 1024)?;
            let g = Group {
                id: prefixed_id("g", 20),
                directory_id: directory_id.to_owned(),
                name: new.group_name.as_str().to_owned(),
                description: new.description,
                provision_type: match source {
                    WriteSource::Admin => ProvisionType::Manual,
                    WriteSource::Scim => ProvisionType::Synchronized,
                },
                created_at: now,
                updated_at: now,
                external_id,
                version: 1,
            };
            let mut tx = self.store.begin_write().await?;
            store::directory::get(&mut tx, directory_id)
                .await?
                .ok_or(Error::NotFound("directory"))?;
            store::group::insert(&mut tx, &g).await?;
            let ev = NewAuditEvent::new(Some(directory_id), actor, "group", "create")
                .target("group", &g.id)
                .detail(serde_json::json!({ "group_name": g.name }));
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await?;
            Ok(g)
        }

        /// The group of the directory with this id.
        pub async fn get_group(&self, directory_id: &str, group_id: &str) -> Result<Group> {
            let mut conn = self.store.read().await?;
            store::group::get(&mut conn, directory_id, group_id)
                .await?
                .ok_or(Error::NotFound("group"))
        }

        /// Groups by name, optionally filtered, at most `limit` (1–100), after `next_token`.
        pub async fn list_groups(
            &self,
            directory_id: &str,
            filter: Option<&NameFilter>,
            limit: i64,
            next_token: Option<&str>,
        ) -> Result<(Vec<Group>, Option<String>)> {
            let limit = limit.clamp(1, 100);
            let mut conn = self.store.read().await?;
            let groups = store::group::list(
                &mut conn,
                directory_id,
                filter.map(|f| (f.op, f.value.as_str())),
                limit + 1,
                next_token,
            )
            .await?;
            Ok(web::sql::keyset_page(groups, limit, |g| {
                g.name.to_lowercase()
            }))
        }

        /// Renames or re-describes a group (409 for a Synchronized group while SCIM is on).
        pub async fn update_group(
            &self,
            actor: &Actor,
            directory_id: &str,
            group_id: &str,
            patch: GroupPatch,
        ) -> Result<Group> {
            self.update_group_as(WriteSource::Admin, actor, directory_id, group_id, patch)
                .await
        }

        /// [`Services::update_group`] on behalf of `source` (the SCIM server passes
        /// [`WriteSource::Scim`]).
        pub async fn update_group_as(
            &self,
            source: WriteSource,
            actor: &Actor,
            directory_id: &str,
            group_id: &str,
            patch: GroupPatch,
        ) -> Result<Group> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            let mut g = store::group::get(&mut tx, directory_id, group_id)
                .await?
                .ok_or(Error::NotFound("group"))?;
            refuse_if_read_only(&mut tx, source, &g).await?;
            if let Some(n) = patch.group_name {
                g.name = n.as_str().to_owned();
            }
            if let Some(d) = patch.description {
                check_len("description", &d, 1024)?;
                g.description = d;
            }
            g.updated_at = now;
            g.version = store::group::update(&mut tx, &g).await?;
            let ev = NewAuditEvent::new(Some(directory_id), actor, "group", "update")
                .target("group", group_id)
                .detail(serde_json::json!({ "group_name": g.name }));
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await?;
            Ok(g)
        }

        /// Deletes a group; refused while it has members or access assignments (products.md §2.2),
        /// and for a Synchronized group while SCIM is on.
        pub async fn delete_group(
            &self,
            actor: &Actor,
            directory_id: &str,
            group_id: &str,
        ) -> Result<()> {
            self.delete_group_as(WriteSource::Admin, actor, directory_id, group_id)
                .await
        }

        /// [`Services::delete_group`] on behalf of `source`. With [`WriteSource::Scim`] the
        /// read-only rule does not apply and the members go with the group (a SCIM DELETE must not
        /// fail on them); access assignments still refuse it (409).
        pub async fn delete_group_as(
            &self,
            source: WriteSource,
            actor: &Actor,
            directory_id: &str,
            group_id: &str,
        ) -> Result<()> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            let g = store::group::get(&mut tx, directory_id, group_id)
                .await?
                .ok_or(Error::NotFound("group"))?;
            refuse_if_read_only(&mut tx, source, &g).await?;
            if source == WriteSource::Admin
                && !store::group::member_ids(&mut tx, group_id)
                    .await?
                    .is_empty()
            {
                return Err(Error::conflict("remove the group's members first"));
            }
            let refs = store::principal_references(&mut tx, group_id).await?;
            if !refs.is_empty() {
                return Err(Error::conflict(format!(
                    "remove the group's {} first",
                    refs.join(", ")
                )));
            }
            for uid in store::group::member_ids(&mut tx, group_id).await? {
                enqueue_membership_events(
                    &mut tx,
                    directory_id,
                    group_id,
                    &uid,
                    MembershipChange::Removed,
                    now,
                )
                .await?;
            }
            let members = store::group::remove_all_members(&mut tx, group_id, now).await?;
            store::group::delete(&mut tx, directory_id, group_id).await?;
            let mut detail = serde_json::json!({ "group_name": g.name });
            if members > 0 {
                detail["removed_members"] = serde_json::json!(members);
            }
            let ev = NewAuditEvent::new(Some(directory_id), actor, "group", "delete")
                .target("group", group_id)
                .detail(detail);
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await?;
            Ok(())
        }

        /// Adds a user to a group (idempotent); refused (409) for a Synchronized group while SCIM
        /// is on.
        pub async fn add_group_member(
            &self,
            actor: &Actor,
            directory_id: &str,
            group_id: &str,
            user_id: &str,
        ) -> Result<()> {
            self.add_group_member_as(WriteSource::Admin, actor, directory_id, group_id, user_id)
                .await
        }

        /// [`Services::add_group_member`] on behalf of `source`.
        pub async fn add_group_member_as(
            &self,
            source: WriteSource,
            actor: &Actor,
            directory_id: &str,
            group_id: &str,
            user_id: &str,
        ) -> Result<()> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            let g = store::group::get(&mut tx, directory_id, group_id)
                .await?
                .ok_or(Error::NotFound("group"))?;
            store::user::get(&mut tx, directory_id, user_id)
                .await?
                .ok_or(Error::NotFound("user"))?;
            refuse_if_read_only(&mut tx, source, &g).await?;
            if store::group::add_member(&mut tx, group_id, user_id, now).await? {
                enqueue_membership_events(
                    &mut tx,
                    directory_id,
                    group_id,
                    user_id,
                    MembershipChange::Added,
                    now,
                )
                .await?;
                let ev = NewAuditEvent::new(Some(directory_id), actor, "group", "add_member")
                    .target("group", group_id)
                    .detail(serde_json::json!({ "user_id": user_id }));
                store::audit::append(&mut tx, &ev, now).await?;
            }
            tx.commit().await?;
            Ok(())
        }

        /// Removes a user from a group; refused (409) for a Synchronized group while SCIM is on.
        pub async fn remove_group_member(
            &self,
            actor: &Actor,
            directory_id: &str,
            group_id: &str,
            user_id: &str,
        ) -> Result<()> {
            self.remove_group_member_as(WriteSource::Admin, actor, directory_id, group_id, user_id)
                .await
        }

        /// [`Services::remove_group_member`] on behalf of `source`.
        pub async fn remove_group_member_as(
            &self,
            source: WriteSource,
            actor: &Actor,
            directory_id: &str,
            group_id: &str,
            user_id: &str,
        ) -> Result<()> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            let g = store::group::get(&mut tx, directory_id, group_id)
                .await?
                .ok_or(Error::NotFound("group"))?;
            refuse_if_read_only(&mut tx, source, &g).await?;
            if !store::group::remove_member(&mut tx, group_id, user_id, now).await? {
                return Err(Error::NotFound("group member"));
            }
            enqueue_membership_events(
                &mut tx,
                directory_id,
                group_id,
                user_id,
                MembershipChange::Removed,
                now,
            )
            .await?;
            let ev = NewAuditEvent::new(Some(directory_id), actor, "group", "remove_member")
                .target("group", group_id)
                .detail(serde_json::json!({ "user_id": user_id }));
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await?;
            Ok(())
        }

        /// The members of a group.
        pub async fn list_group_members(
            &self,
            directory_id: &str,
            group_id: &str,
        ) -> Result<Vec<User>> {
            let mut conn = self.store.read().await?;
            store::group::get(&mut conn, directory_id, group_id)
                .await?
                .ok_or(Error::NotFound("group"))?;
            let mut users = Vec::new();
            for uid in store::group::member_ids(&mut conn, group_id).await? {
                if let Some(u) = store::user::get(&mut conn, directory_id, &uid).await? {
                    users.push(u);
                }
            }
            Ok(users)
        }

        /// The ids of the groups a user belongs to (CS-cloud: assignments through a group).
        pub async fn group_ids_of_user(&self, user_id: &str) -> Result<Vec<String>> {
            let mut conn = self.store.read().await?;
            store::group::group_ids_of_user(&mut conn, user_id).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_name_rules() {
        assert!(GroupName::try_from("dev-ops_1.x".to_owned()).is_ok());
        assert!(GroupName::try_from("x".repeat(128)).is_ok());
        assert!(GroupName::try_from("x".repeat(129)).is_err());
        assert!(GroupName::try_from("a b".to_owned()).is_err());
        assert!(GroupName::try_from(String::new()).is_err());
    }
}
