//! Groups of users (flat, unique names per instance), used for authorization and provisioning.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::InvalidInput;

/// A group name: 1–128 characters without control characters; unique per instance, case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "admins")]
pub struct GroupName(String);

impl GroupName {
    /// Parses a group name (surrounding whitespace is trimmed).
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        let s = s.trim();
        if s.is_empty() || s.chars().count() > 128 || s.chars().any(char::is_control) {
            return Err(InvalidInput::new(
                "name",
                "must be 1 to 128 characters without control characters",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-insensitive uniqueness key.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl TryFrom<String> for GroupName {
    type Error = InvalidInput;
    fn try_from(s: String) -> Result<Self, InvalidInput> {
        Self::parse(&s)
    }
}

impl From<GroupName> for String {
    fn from(n: GroupName) -> String {
        n.0
    }
}

/// A group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Group {
    /// `group_…`
    pub id: String,
    /// Owning instance.
    pub instance_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Identifier in an external source.
    pub external_id: Option<String>,
    /// Creation time.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
}

/// What is needed to create a group (already parsed).
#[derive(Debug, Clone)]
pub struct NewGroup {
    /// Name.
    pub name: GroupName,
    /// Description.
    pub description: String,
    /// External id.
    pub external_id: Option<String>,
}

/// A partial update of a group.
#[derive(Debug, Clone, Default)]
pub struct GroupUpdate {
    /// New name.
    pub name: Option<GroupName>,
    /// New description.
    pub description: Option<String>,
    /// New external id (`Some(None)` clears it).
    pub external_id: Option<Option<String>>,
}

mod service {
    use super::*;
    use crate::audit::{Actor, NewAuditEvent};
    use crate::error::{Error, Result};
    use crate::id;
    use crate::org_unit::free_text;
    use crate::services::Services;
    use crate::store::outbox_enqueue::ObjectType;
    use crate::store::{self, Conn};
    use crate::user::{Page, Paged, User, UserFilter};

    impl Services {
        /// Creates a group.
        pub async fn create_group(
            &self,
            actor: &Actor,
            instance_id: &str,
            new: NewGroup,
        ) -> Result<Group> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            if store::instance::get(&mut tx, instance_id).await?.is_none() {
                return Err(Error::NotFound("instance"));
            }
            let g = Group {
                id: id::new_id("group"),
                instance_id: instance_id.to_owned(),
                name: new.name.as_str().to_owned(),
                description: free_text("description", &new.description, 1024)?,
                external_id: new.external_id.clone(),
                created_at: now,
                updated_at: now,
            };
            store::group::insert(&mut tx, &g).await?;
            let ev = NewAuditEvent::new(Some(instance_id), actor, "group", "create")
                .target("group", &g.id)
                .detail(serde_json::json!({ "name": g.name }));
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await?;
            self.provisioning_wake.notify_one();
            Ok(g)
        }

        /// The group `id`.
        pub async fn get_group(&self, instance_id: &str, id: &str) -> Result<Group> {
            let mut conn = self.store.read().await?;
            store::group::get(&mut conn, instance_id, id)
                .await?
                .ok_or(Error::NotFound("group"))
        }

        /// All groups of an instance.
        pub async fn list_groups(&self, instance_id: &str) -> Result<Vec<Group>> {
            let mut conn = self.store.read().await?;
            store::group::list(&mut conn, instance_id).await
        }

        /// Updates a group.
        pub async fn update_group(
            &self,
            actor: &Actor,
            instance_id: &str,
            id: &str,
            update: GroupUpdate,
        ) -> Result<Group> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            let cur = store::group::get(&mut tx, instance_id, id)
                .await?
                .ok_or(Error::NotFound("group"))?;
            let name = update
                .name
                .as_ref()
                .map(|n| n.as_str().to_owned())
                .unwrap_or(cur.name);
            let description = match &update.description {
                Some(d) => free_text("description", d, 1024)?,
                None => cur.description,
            };
            let external_id = match &update.external_id {
                Some(x) => x.clone(),
                None => cur.external_id,
            };
            store::group::update(
                &mut tx,
                instance_id,
                id,
                &name,
                &description,
                external_id.as_deref(),
                now,
            )
            .await?;
            let ev =
                NewAuditEvent::new(Some(instance_id), actor, "group", "update").target("group", id);
            store::audit::append(&mut tx, &ev, now).await?;
            let g = store::group::get(&mut tx, instance_id, id)
                .await?
                .ok_or(Error::NotFound("group"))?;
            tx.commit().await?;
            self.provisioning_wake.notify_one();
            Ok(g)
        }

        /// Deletes a group.
        pub async fn delete_group(&self, actor: &Actor, instance_id: &str, id: &str) -> Result<()> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            // Before the delete: the memberships go with the group (cascade).
            store::outbox_enqueue::enqueue_members_of_group(&mut tx, instance_id, id, now).await?;
            store::outbox_enqueue::enqueue(&mut tx, instance_id, ObjectType::Group, id, now)
                .await?;
            if !store::group::delete(&mut tx, instance_id, id).await? {
                return Err(Error::NotFound("group"));
            }
            let ev =
                NewAuditEvent::new(Some(instance_id), actor, "group", "delete").target("group", id);
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await?;
            self.provisioning_wake.notify_one();
            Ok(())
        }

        /// Adds a user to a group (both of `instance_id`).
        pub async fn add_group_member(
            &self,
            actor: &Actor,
            instance_id: &str,
            group_id: &str,
            user_id: &str,
        ) -> Result<()> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            add_group_member_tx(&mut tx, actor, instance_id, group_id, user_id, now).await?;
            tx.commit().await?;
            self.provisioning_wake.notify_one();
            Ok(())
        }

        /// Removes a user from a group.
        pub async fn remove_group_member(
            &self,
            actor: &Actor,
            instance_id: &str,
            group_id: &str,
            user_id: &str,
        ) -> Result<()> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            if store::group::get(&mut tx, instance_id, group_id)
                .await?
                .is_none()
            {
                return Err(Error::NotFound("group"));
            }
            if store::user::get(&mut tx, instance_id, user_id)
                .await?
                .is_none()
            {
                return Err(Error::NotFound("user"));
            }
            if !store::group::remove_member(&mut tx, group_id, user_id).await? {
                return Err(Error::NotFound("membership"));
            }
            enqueue_membership(&mut tx, instance_id, group_id, user_id, now).await?;
            let ev = NewAuditEvent::new(Some(instance_id), actor, "group", "remove_member")
                .target("group", group_id)
                .detail(serde_json::json!({ "user_id": user_id }));
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await?;
            self.provisioning_wake.notify_one();
            Ok(())
        }

        /// Members of a group.
        pub async fn group_members(
            &self,
            instance_id: &str,
            group_id: &str,
            page: Page,
        ) -> Result<Paged<User>> {
            let mut conn = self.store.read().await?;
            if store::group::get(&mut conn, instance_id, group_id)
                .await?
                .is_none()
            {
                return Err(Error::NotFound("group"));
            }
            let filter = UserFilter {
                group_id: Some(group_id.to_owned()),
                ..UserFilter::default()
            };
            store::user::list(&mut conn, instance_id, &filter, page).await
        }

        /// The groups of a user.
        pub async fn user_groups(&self, instance_id: &str, user_id: &str) -> Result<Vec<Group>> {
            let mut conn = self.store.read().await?;
            if store::user::get(&mut conn, instance_id, user_id)
                .await?
                .is_none()
            {
                return Err(Error::NotFound("user"));
            }
            store::group::groups_of_user(&mut conn, user_id).await
        }
    }

    /// A membership changed: the group's member list and the user's scope may both change.
    async fn enqueue_membership(
        tx: &mut Conn,
        instance_id: &str,
        group_id: &str,
        user_id: &str,
        now: i64,
    ) -> Result<()> {
        store::outbox_enqueue::enqueue(tx, instance_id, ObjectType::Group, group_id, now).await?;
        store::outbox_enqueue::enqueue(tx, instance_id, ObjectType::User, user_id, now).await?;
        Ok(())
    }

    /// Adds a member inside `tx` (group and user must belong to `instance_id`).
    pub(crate) async fn add_group_member_tx(
        tx: &mut Conn,
        actor: &Actor,
        instance_id: &str,
        group_id: &str,
        user_id: &str,
        now: i64,
    ) -> Result<()> {
        if store::group::get(tx, instance_id, group_id)
            .await?
            .is_none()
        {
            return Err(Error::NotFound("group"));
        }
        if store::user::get(tx, instance_id, user_id).await?.is_none() {
            return Err(Error::NotFound("user"));
        }
        if store::group::add_member(tx, group_id, user_id, now).await? {
            enqueue_membership(tx, instance_id, group_id, user_id, now).await?;
            let ev = NewAuditEvent::new(Some(instance_id), actor, "group", "add_member")
                .target("group", group_id)
                .detail(serde_json::json!({ "user_id": user_id }));
            store::audit::append(tx, &ev, now).await?;
        }
        Ok(())
    }
}

pub(crate) use service::add_group_member_tx;
