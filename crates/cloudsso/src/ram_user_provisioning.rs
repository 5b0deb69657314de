//! RAM user provisioning (products.md §2.9): a Cloud SSO user, or every member of a group,
//! provisioned as a RAM user with the same user name into an account, so that it can log on to
//! that account as a RAM user (user-based SSO). When the name is taken, `KeepBoth` creates
//! `{name}_sso` and `TakeOver` adopts the existing RAM user; when the provisioning is deleted,
//! `Delete` removes the RAM users it manages and `Keep` leaves them (unmanaged).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::assignment::PrincipalType;

/// What to do when a RAM user with the same name exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum DuplicationStrategy {
    /// Create `{name}_sso` beside it.
    KeepBoth,
    /// Manage the existing RAM user.
    TakeOver,
}

impl DuplicationStrategy {
    /// Database text.
    pub fn as_str(self) -> &'static str {
        match self {
            DuplicationStrategy::KeepBoth => "KeepBoth",
            DuplicationStrategy::TakeOver => "TakeOver",
        }
    }

    /// Parses the database text.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "KeepBoth" => Some(DuplicationStrategy::KeepBoth),
            "TakeOver" => Some(DuplicationStrategy::TakeOver),
            _ => None,
        }
    }
}

/// What to do with the RAM users when the provisioning is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum DeletionStrategy {
    /// Delete them.
    Delete,
    /// Keep them (no longer managed).
    Keep,
}

impl DeletionStrategy {
    /// Database text.
    pub fn as_str(self) -> &'static str {
        match self {
            DeletionStrategy::Delete => "Delete",
            DeletionStrategy::Keep => "Keep",
        }
    }

    /// Parses the database text.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "Delete" => Some(DeletionStrategy::Delete),
            "Keep" => Some(DeletionStrategy::Keep),
            _ => None,
        }
    }
}

/// A RAM user provisioning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct UserProvisioning {
    /// `up-…`.
    pub id: String,
    /// The directory.
    pub directory_id: String,
    /// User or group.
    pub principal_type: PrincipalType,
    /// The user or group id.
    pub principal_id: String,
    /// The target account.
    pub account_id: String,
    /// On a name clash.
    pub duplication_strategy: DuplicationStrategy,
    /// On deletion.
    pub deletion_strategy: DeletionStrategy,
    /// Description.
    pub description: String,
    /// Creation time.
    pub created_at: i64,
}

/// The RAM user name for a Cloud SSO user under `KeepBoth` when `name` is taken.
pub fn keep_both_name(name: &str) -> String {
    format!("{name}_sso")
}

/// A new RAM user provisioning (`CreateUserProvisioning`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewUserProvisioning {
    /// User or Group.
    pub principal_type: PrincipalType,
    /// The user or group id.
    pub principal_id: String,
    /// `RD-Account` (the only target type).
    #[serde(default)]
    pub target_type: Option<String>,
    /// The account.
    pub target_id: String,
    /// On a name clash (default KeepBoth).
    #[serde(default)]
    pub duplication_strategy: Option<DuplicationStrategy>,
    /// On deletion (default Delete).
    #[serde(default)]
    pub deletion_strategy: Option<DeletionStrategy>,
    /// Description.
    #[serde(default)]
    pub description: String,
}

mod service {
    use serde_json::json;

    use super::*;
    use crate::assignment::{Task, TaskType};
    use crate::audit::{Actor, NewAuditEvent};
    use crate::cloud::arn::RamUserName;
    use crate::cloud::resource::{RamUser, new_principal_id};
    use crate::directory::Directory;
    use crate::error::{Error, Result};
    use crate::services::Services;
    use crate::store;
    use crate::user::User;

    impl Services {
        /// Records a RAM user provisioning and enqueues the task that creates the RAM users.
        pub async fn create_user_provisioning(
            &self,
            actor: &Actor,
            directory: &Directory,
            input: &NewUserProvisioning,
        ) -> Result<(UserProvisioning, Task)> {
            if let Some(t) = &input.target_type
                && t != "RD-Account"
            {
                return Err(Error::invalid("target_type", "must be RD-Account"));
            }
            if input.description.chars().count() > 1024 {
                return Err(Error::invalid("description", "at most 1024 characters"));
            }
            let account = self.cloud_account(&directory.id, &input.target_id).await?;
            let now = self.now();
            let up = UserProvisioning {
                id: crate::directory::prefixed_id("up", 20),
                directory_id: directory.id.clone(),
                principal_type: input.principal_type,
                principal_id: input.principal_id.clone(),
                account_id: account.id.clone(),
                duplication_strategy: input
                    .duplication_strategy
                    .unwrap_or(DuplicationStrategy::KeepBoth),
                deletion_strategy: input.deletion_strategy.unwrap_or(DeletionStrategy::Delete),
                description: input.description.clone(),
                created_at: now,
            };
            {
                let mut conn = self.store.read().await?;
                let exists = match up.principal_type {
                    PrincipalType::User => {
                        store::user::get(&mut conn, &directory.id, &up.principal_id)
                            .await?
                            .is_some()
                    }
                    PrincipalType::Group => {
                        store::group::get(&mut conn, &directory.id, &up.principal_id)
                            .await?
                            .is_some()
                    }
                };
                if !exists {
                    return Err(Error::NotFound("principal"));
                }
            }
            let mut tx = self.store.begin_write().await?;
            store::access::insert_user_provisioning(&mut tx, &up).await?;
            store::audit::append(
                &mut tx,
                &NewAuditEvent::new(Some(&directory.id), actor, "user_provisioning", "create")
                    .target("user_provisioning", &up.id)
                    .detail(json!({ "account_id": up.account_id })),
                now,
            )
            .await?;
            tx.commit().await?;
            let task = self
                .enqueue_task(
                    actor,
                    &directory.id,
                    TaskType::StartUserProvisioning,
                    None,
                    Some(&account.id),
                    Some((up.principal_type, &up.id)),
                )
                .await?;
            Ok((up, task))
        }

        /// Enqueues the deletion of a RAM user provisioning.
        pub async fn delete_user_provisioning(
            &self,
            actor: &Actor,
            directory: &Directory,
            id: &str,
        ) -> Result<Task> {
            let up = self.user_provisioning(&directory.id, id).await?;
            self.enqueue_task(
                actor,
                &directory.id,
                TaskType::DeleteUserProvisioning,
                None,
                Some(&up.account_id),
                Some((up.principal_type, &up.id)),
            )
            .await
        }

        /// A RAM user provisioning.
        pub async fn user_provisioning(
            &self,
            directory_id: &str,
            id: &str,
        ) -> Result<UserProvisioning> {
            let mut conn = self.store.read().await?;
            store::access::get_user_provisioning(&mut conn, directory_id, id)
                .await?
                .ok_or(Error::NotFound("RAM user provisioning"))
        }

        /// The RAM user provisionings of a directory.
        pub async fn list_user_provisionings(
            &self,
            directory_id: &str,
        ) -> Result<Vec<UserProvisioning>> {
            let mut conn = self.store.read().await?;
            store::access::list_user_provisionings(&mut conn, directory_id).await
        }

        async fn covered_users(&self, up: &UserProvisioning) -> Result<Vec<User>> {
            let mut conn = self.store.read().await?;
            let ids = match up.principal_type {
                PrincipalType::User => vec![up.principal_id.clone()],
                PrincipalType::Group => {
                    store::group::member_ids(&mut conn, &up.principal_id).await?
                }
            };
            let mut users = Vec::new();
            for id in ids {
                if let Some(u) = store::user::get(&mut conn, &up.directory_id, &id).await? {
                    users.push(u);
                }
            }
            Ok(users)
        }

        /// Creates (or adopts) the RAM users of a provisioning; idempotent. Returns them.
        pub async fn apply_user_provisioning(
            &self,
            directory_id: &str,
            id: &str,
        ) -> Result<Vec<RamUser>> {
            let up = self.user_provisioning(directory_id, id).await?;
            let users = self.covered_users(&up).await?;
            let now = self.now();
            let mut out = Vec::new();
            let mut tx = self.store.begin_write().await?;
            for user in users {
                if let Some(existing) =
                    store::cloud::get_user_for_sso_user(&mut tx, &up.account_id, &user.id).await?
                {
                    out.push(existing);
                    continue;
                }
                let name = user.user_name.as_str().to_owned();
                let clash = store::cloud::get_user(&mut tx, &up.account_id, &name).await?;
                let target = match (clash, up.duplication_strategy) {
                    (None, _) => name,
                    (Some(existing), DuplicationStrategy::TakeOver) => {
                        if existing.provisioning_id.is_some() {
                            return Err(Error::conflict(format!(
                                "RAM user {} is already managed by another provisioning",
                                existing.name
                            )));
                        }
                        store::cloud::set_user_provisioning(
                            &mut tx,
                            &up.account_id,
                            &existing.name,
                            Some(&up.id),
                            Some(&user.id),
                            now,
                        )
                        .await?;
                        out.extend(
                            store::cloud::get_user(&mut tx, &up.account_id, &existing.name).await?,
                        );
                        continue;
                    }
                    (Some(_), DuplicationStrategy::KeepBoth) => keep_both_name(&name),
                };
                let ram_name = RamUserName::parse(&target)
                    .map_err(|e| Error::conflict(format!("cannot provision {target:?}: {e}")))?;
                if store::cloud::get_user(&mut tx, &up.account_id, ram_name.as_str())
                    .await?
                    .is_some()
                {
                    return Err(Error::conflict(format!(
                        "OperationConflict.UserProvisioning.Process.fail.ImsUserExists: {ram_name}"
                    )));
                }
                let ram_user = RamUser {
                    account_id: up.account_id.clone(),
                    name: ram_name.to_string(),
                    user_id: new_principal_id('2'),
                    display_name: user.display_name.clone(),
                    provisioning_id: Some(up.id.clone()),
                    sso_user_id: Some(user.id.clone()),
                    policies: Vec::new(),
                    created_at: now,
                };
                store::cloud::insert_user(&mut tx, &ram_user).await?;
                out.push(ram_user);
            }
            tx.commit().await?;
            Ok(out)
        }

        /// Deletes a provisioning, deleting (`Delete`) or releasing (`Keep`) its RAM users.
        pub async fn remove_user_provisioning(&self, directory_id: &str, id: &str) -> Result<()> {
            let up = self.user_provisioning(directory_id, id).await?;
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            for user in store::cloud::users_of_provisioning(&mut tx, &up.id).await? {
                match up.deletion_strategy {
                    DeletionStrategy::Delete => {
                        store::cloud::delete_user(&mut tx, &user.account_id, &user.name).await?;
                    }
                    DeletionStrategy::Keep => {
                        store::cloud::set_user_provisioning(
                            &mut tx,
                            &user.account_id,
                            &user.name,
                            None,
                            None,
                            now,
                        )
                        .await?;
                    }
                }
            }
            store::access::delete_user_provisioning(&mut tx, &up.id).await?;
            tx.commit().await?;
            Ok(())
        }

        /// The RAM user a directory user logs on as in an account (provisioning it now if a
        /// provisioning covers the user but has not created it yet). Refused unless a
        /// provisioning of the account still covers the user, directly or through a group the
        /// user is still a member of: leaving the group revokes the logon.
        pub async fn ram_user_for(
            &self,
            directory_id: &str,
            user: &User,
            account_id: &str,
        ) -> Result<RamUser> {
            let groups = {
                let mut conn = self.store.read().await?;
                store::group::group_ids_of_user(&mut conn, &user.id).await?
            };
            let covering: Vec<UserProvisioning> = self
                .list_user_provisionings(directory_id)
                .await?
                .into_iter()
                .filter(|up| {
                    up.account_id == account_id
                        && match up.principal_type {
                            PrincipalType::User => up.principal_id == user.id,
                            PrincipalType::Group => groups.contains(&up.principal_id),
                        }
                })
                .collect();
            if covering.is_empty() {
                return Err(Error::NotFound(
                    "RAM user provisioning for this user and account",
                ));
            }
            {
                let mut conn = self.store.read().await?;
                if let Some(u) =
                    store::cloud::get_user_for_sso_user(&mut conn, account_id, &user.id).await?
                {
                    return Ok(u);
                }
            }
            for up in covering {
                if let Some(u) = self
                    .apply_user_provisioning(directory_id, &up.id)
                    .await?
                    .into_iter()
                    .find(|u| u.sso_user_id.as_deref() == Some(user.id.as_str()))
                {
                    return Ok(u);
                }
            }
            Err(Error::NotFound(
                "RAM user provisioning for this user and account",
            ))
        }
    }
}
