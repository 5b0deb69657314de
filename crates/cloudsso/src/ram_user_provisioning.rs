//! RAM user provisioning (products.md §2.9): a Cloud SSO user, or every member of a group,
//! provisioned as a RAM user with the same user name into an account, so that it can log on to
//! that account as a RAM user (user-based SSO). When the name is taken, `KeepBoth` creates
//! `{name}_sso` and `TakeOver` adopts the existing RAM user; when the provisioning is deleted,
//! `Delete` removes the RAM users it manages and `Keep` leaves them (unmanaged).
//!
//! **Group membership events.** A provisioning whose principal is a group follows the group:
//! every membership change (admin API or console, SCIM PATCH/PUT/Bulk on the group, a user
//! deleted with its memberships) enqueues, in the same transaction as the change, one
//! `AddUserToGroup` or `RemoveUserFromGroup` task per such provisioning
//! ([`enqueue_membership_events`]). The task worker runs them like every other task; they are
//! listed with the provisioning's own `StartProvisioning` / `DeleteProvisioning` tasks as
//! [`UserProvisioningEvent`]s, and a failed one can be retried (`RetryUserProvisioningEvent`).
//!
//! An event reconciles rather than replays: when it runs it looks at the membership *now*, so
//! events that run out of order (same-second tasks) or late still converge. A member gets a RAM
//! user (or keeps the one it has, whoever manages it); a user who is no longer a member loses the
//! RAM user this provisioning manages per its `DeletionStrategy`, **except** when another
//! provisioning into the same account still covers the user (directly or through another
//! group): the RAM user is then handed over to that provisioning (the oldest one), so the user
//! keeps the RAM user and its permissions, and the new owner's `DeletionStrategy` applies later.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::assignment::{PrincipalType, TaskStatus, TaskType};

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

/// Where a RAM user provisioning event comes from (`SourceType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum UserProvisioningEventSource {
    /// The provisioning was created (its users are provisioned).
    StartProvisioning,
    /// The provisioning was deleted (its users are deleted or kept).
    DeleteProvisioning,
    /// A user joined the provisioning's group.
    AddUserToGroup,
    /// A user left the provisioning's group (or was deleted).
    RemoveUserFromGroup,
}

impl UserProvisioningEventSource {
    /// The event source of a task type (`None` for tasks that are not RAM user provisioning).
    pub fn of_task_type(t: TaskType) -> Option<Self> {
        match t {
            TaskType::StartUserProvisioning => Some(Self::StartProvisioning),
            TaskType::DeleteUserProvisioning => Some(Self::DeleteProvisioning),
            TaskType::AddUserToGroup => Some(Self::AddUserToGroup),
            TaskType::RemoveUserFromGroup => Some(Self::RemoveUserFromGroup),
            _ => None,
        }
    }
}

/// A change of a group's membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipChange {
    /// The user joined the group.
    Added,
    /// The user left the group (or was deleted).
    Removed,
}

/// A RAM user provisioning event: one asynchronous task of a provisioning, with its status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct UserProvisioningEvent {
    /// The event (= task) id, `t-…`; also visible through `GET …/tasks/{id}`.
    pub id: String,
    /// The directory.
    pub directory_id: String,
    /// The RAM user provisioning.
    pub user_provisioning_id: String,
    /// What caused it.
    pub source_type: UserProvisioningEventSource,
    /// The account.
    pub account_id: Option<String>,
    /// The Cloud SSO user concerned (membership events).
    pub user_id: Option<String>,
    /// That user's name when the event was recorded.
    pub user_name: Option<String>,
    /// The group whose membership changed (membership events).
    pub group_id: Option<String>,
    /// `InProgress`, `Success` or `Failed`.
    pub status: TaskStatus,
    /// Why it failed.
    pub failure_reason: Option<String>,
    /// What it did, once it succeeded (membership events).
    pub outcome: Option<String>,
    /// How many times the worker ran it.
    pub attempts: i64,
    /// When it was recorded.
    pub created_at: i64,
    /// When it finished.
    pub finished_at: Option<i64>,
}

/// The stored payload of a membership event.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct EventPayload {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_provisioning_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    group_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outcome: Option<String>,
    /// Set by a retry that overrides the provisioning's strategy for this event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    duplication_strategy: Option<DuplicationStrategy>,
}

/// `RetryUserProvisioningEvent`: what to change for the retry (`{}` for nothing).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct RetryUserProvisioningEvent {
    /// Use this strategy instead of the provisioning's for this event's name clash (e.g. retry a
    /// failed `TakeOver` as `KeepBoth`). Membership events only.
    #[serde(default)]
    pub duplication_strategy: Option<DuplicationStrategy>,
}

fn event_from_row(row: crate::store::cloud::EventTaskRow) -> Option<UserProvisioningEvent> {
    let source_type = UserProvisioningEventSource::of_task_type(row.task.task_type)?;
    // Payloads are written by us; a payload we cannot read still shows the task.
    let payload: EventPayload = serde_json::from_str(&row.payload).unwrap_or_default();
    let t = row.task;
    let user_provisioning_id = match source_type {
        UserProvisioningEventSource::StartProvisioning
        | UserProvisioningEventSource::DeleteProvisioning => t.principal_id.clone(),
        _ => payload.user_provisioning_id.clone(),
    }
    .unwrap_or_default();
    let user_id = match source_type {
        UserProvisioningEventSource::AddUserToGroup
        | UserProvisioningEventSource::RemoveUserFromGroup => {
            payload.user_id.clone().or(t.principal_id.clone())
        }
        _ => None,
    };
    Some(UserProvisioningEvent {
        id: t.id,
        directory_id: t.directory_id,
        user_provisioning_id,
        source_type,
        account_id: t.account_id,
        user_id,
        user_name: payload.user_name,
        group_id: payload.group_id,
        status: t.status,
        failure_reason: t.failure_reason,
        outcome: payload.outcome,
        attempts: row.attempts,
        created_at: t.created_at,
        finished_at: t.finished_at,
    })
}

/// Filters of the event list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserProvisioningEventFilter {
    /// Only events of this provisioning.
    #[serde(default)]
    pub user_provisioning_id: Option<String>,
    /// Only events with this status.
    #[serde(default)]
    pub status: Option<TaskStatus>,
    /// Only events of this source type.
    #[serde(default)]
    pub source_type: Option<UserProvisioningEventSource>,
    /// Only events concerning this user.
    #[serde(default)]
    pub user_id: Option<String>,
}

impl UserProvisioningEventFilter {
    fn accepts(&self, e: &UserProvisioningEvent) -> bool {
        self.user_provisioning_id
            .as_deref()
            .is_none_or(|id| e.user_provisioning_id == id)
            && self.status.is_none_or(|s| e.status == s)
            && self.source_type.is_none_or(|s| e.source_type == s)
            && self
                .user_id
                .as_deref()
                .is_none_or(|id| e.user_id.as_deref() == Some(id))
    }
}

/// Enqueues, in the caller's transaction (the one that changes the membership, so that a crash
/// loses neither), one `AddUserToGroup` / `RemoveUserFromGroup` task per RAM user provisioning
/// whose principal is `group_id`. Call it before the user row is deleted (for the user name).
/// Returns how many were enqueued.
pub async fn enqueue_membership_events(
    conn: &mut crate::store::Conn,
    directory_id: &str,
    group_id: &str,
    user_id: &str,
    change: MembershipChange,
    now: i64,
) -> crate::error::Result<usize> {
    use crate::assignment::Task;
    use crate::store;
    let ups: Vec<UserProvisioning> = store::access::list_user_provisionings(conn, directory_id)
        .await?
        .into_iter()
        .filter(|up| up.principal_type == PrincipalType::Group && up.principal_id == group_id)
        .collect();
    if ups.is_empty() {
        return Ok(0);
    }
    let user_name = store::user::get(conn, directory_id, user_id)
        .await?
        .map(|u| u.user_name.as_str().to_owned());
    let task_type = match change {
        MembershipChange::Added => TaskType::AddUserToGroup,
        MembershipChange::Removed => TaskType::RemoveUserFromGroup,
    };
    for up in &ups {
        let task = Task {
            id: crate::directory::prefixed_id("t", 20),
            directory_id: directory_id.to_owned(),
            task_type,
            status: TaskStatus::InProgress,
            access_configuration_id: None,
            account_id: Some(up.account_id.clone()),
            principal_type: Some(PrincipalType::User),
            principal_id: Some(user_id.to_owned()),
            failure_reason: None,
            created_at: now,
            finished_at: None,
        };
        let payload = EventPayload {
            user_provisioning_id: Some(up.id.clone()),
            user_id: Some(user_id.to_owned()),
            user_name: user_name.clone(),
            group_id: Some(group_id.to_owned()),
            outcome: None,
            duplication_strategy: None,
        };
        let payload = serde_json::to_string(&payload)
            .map_err(|e| crate::error::Error::Internal(format!("event payload: {e}")))?;
        store::cloud::insert_event_task(conn, &task, &payload).await?;
    }
    Ok(ups.len())
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
    use crate::store::{self, Conn};
    use crate::user::User;

    /// Creates or adopts the RAM user of `user` for `up` inside the caller's transaction; returns
    /// it and what was done. A user who already has a RAM user in the account (whoever manages
    /// it) keeps it.
    async fn provision_user_in(
        conn: &mut Conn,
        up: &UserProvisioning,
        user: &User,
        now: i64,
    ) -> Result<(RamUser, String)> {
        if let Some(existing) =
            store::cloud::get_user_for_sso_user(conn, &up.account_id, &user.id).await?
        {
            let by = match existing.provisioning_id.as_deref() {
                Some(p) if p != up.id => format!(" (managed by {p})"),
                _ => String::new(),
            };
            let outcome = format!("RAM user {} already exists{by}", existing.name);
            return Ok((existing, outcome));
        }
        let name = user.user_name.as_str().to_owned();
        let clash = store::cloud::get_user(conn, &up.account_id, &name).await?;
        let target = match (clash, up.duplication_strategy) {
            (None, _) => name,
            (Some(existing), DuplicationStrategy::TakeOver) => {
                if let Some(other) = &existing.provisioning_id {
                    return Err(Error::conflict(format!(
                        "OperationConflict.UserProvisioning.Process.fail.ImsUserManaged: RAM user {} \
                         is already managed by another provisioning ({other})",
                        existing.name
                    )));
                }
                store::cloud::set_user_provisioning(
                    conn,
                    &up.account_id,
                    &existing.name,
                    Some(&up.id),
                    Some(&user.id),
                    now,
                )
                .await?;
                let adopted = store::cloud::get_user(conn, &up.account_id, &existing.name)
                    .await?
                    .ok_or(Error::NotFound("RAM user"))?;
                let outcome = format!("took over RAM user {}", adopted.name);
                return Ok((adopted, outcome));
            }
            (Some(_), DuplicationStrategy::KeepBoth) => keep_both_name(&name),
        };
        let ram_name = RamUserName::parse(&target)
            .map_err(|e| Error::conflict(format!("cannot provision {target:?}: {e}")))?;
        if store::cloud::get_user(conn, &up.account_id, ram_name.as_str())
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
        store::cloud::insert_user(conn, &ram_user).await?;
        let outcome = format!("created RAM user {}", ram_user.name);
        Ok((ram_user, outcome))
    }

    /// The user `user_id` is no longer covered by `up`: hands its RAM user over to another
    /// provisioning into the same account that still covers the user (the oldest), or else
    /// applies `up`'s deletion strategy. RAM users `up` does not manage are left alone.
    async fn release_user_in(
        conn: &mut Conn,
        up: &UserProvisioning,
        user_id: &str,
        now: i64,
    ) -> Result<String> {
        let Some(ram) = store::cloud::get_user_for_sso_user(conn, &up.account_id, user_id).await?
        else {
            return Ok("no RAM user to remove".to_owned());
        };
        if ram.provisioning_id.as_deref() != Some(up.id.as_str()) {
            return Ok(format!(
                "RAM user {} is not managed by this provisioning; left as is",
                ram.name
            ));
        }
        let groups = store::group::group_ids_of_user(conn, user_id).await?;
        let user_exists = store::user::get(conn, &up.directory_id, user_id)
            .await?
            .is_some();
        let heir = store::access::list_user_provisionings(conn, &up.directory_id)
            .await?
            .into_iter()
            .find(|other| {
                user_exists
                    && other.id != up.id
                    && other.account_id == up.account_id
                    && match other.principal_type {
                        PrincipalType::User => other.principal_id == user_id,
                        PrincipalType::Group => groups.contains(&other.principal_id),
                    }
            });
        if let Some(heir) = heir {
            store::cloud::set_user_provisioning(
                conn,
                &up.account_id,
                &ram.name,
                Some(&heir.id),
                Some(user_id),
                now,
            )
            .await?;
            return Ok(format!(
                "RAM user {} handed over to {}, which still covers the user",
                ram.name, heir.id
            ));
        }
        match up.deletion_strategy {
            DeletionStrategy::Delete => {
                store::cloud::delete_user(conn, &up.account_id, &ram.name).await?;
                Ok(format!("deleted RAM user {}", ram.name))
            }
            DeletionStrategy::Keep => {
                store::cloud::set_user_provisioning(
                    conn,
                    &up.account_id,
                    &ram.name,
                    None,
                    None,
                    now,
                )
                .await?;
                Ok(format!("released RAM user {} (kept, unmanaged)", ram.name))
            }
        }
    }

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
                out.push(provision_user_in(&mut tx, &up, &user, now).await?.0);
            }
            tx.commit().await?;
            Ok(out)
        }

        /// Runs an `AddUserToGroup` / `RemoveUserFromGroup` task (see the module documentation:
        /// it reconciles the user's RAM user with the group membership as it is now) and records
        /// what it did in the event.
        pub(crate) async fn run_membership_event(&self, task: &Task) -> Result<()> {
            let mut tx = self.store.begin_write().await?;
            let raw = store::cloud::task_payload(&mut tx, &task.id)
                .await?
                .ok_or(Error::NotFound("task"))?;
            let mut payload: EventPayload = serde_json::from_str(&raw)
                .map_err(|e| Error::Corrupt(format!("event payload: {e}")))?;
            let up_id = payload
                .user_provisioning_id
                .clone()
                .ok_or(Error::NotFound("RAM user provisioning"))?;
            let user_id = payload
                .user_id
                .clone()
                .or_else(|| task.principal_id.clone())
                .ok_or(Error::NotFound("user"))?;
            let up =
                store::access::get_user_provisioning(&mut tx, &task.directory_id, &up_id).await?;
            let outcome = match up {
                // Deleting the provisioning already dealt with its RAM users.
                None => "the RAM user provisioning no longer exists; nothing to do".to_owned(),
                Some(mut up) => {
                    if let Some(d) = payload.duplication_strategy {
                        up.duplication_strategy = d;
                    }
                    let user = store::user::get(&mut tx, &task.directory_id, &user_id).await?;
                    let groups = store::group::group_ids_of_user(&mut tx, &user_id).await?;
                    match user {
                        Some(user) if groups.contains(&up.principal_id) => {
                            provision_user_in(&mut tx, &up, &user, self.now()).await?.1
                        }
                        _ => release_user_in(&mut tx, &up, &user_id, self.now()).await?,
                    }
                }
            };
            payload.outcome = Some(outcome);
            let text = serde_json::to_string(&payload)
                .map_err(|e| Error::Internal(format!("event payload: {e}")))?;
            store::cloud::set_task_payload(&mut tx, &task.id, &text).await?;
            tx.commit().await?;
            Ok(())
        }

        /// The RAM user provisioning events of a directory (`ListUserProvisioningEvents`),
        /// newest first: the provisionings' own tasks and the group membership events.
        pub async fn list_user_provisioning_events(
            &self,
            directory_id: &str,
            filter: &UserProvisioningEventFilter,
        ) -> Result<Vec<UserProvisioningEvent>> {
            let mut conn = self.store.read().await?;
            Ok(store::cloud::list_event_tasks(&mut conn, directory_id, 500)
                .await?
                .into_iter()
                .filter_map(event_from_row)
                .filter(|e| filter.accepts(e))
                .collect())
        }

        /// A RAM user provisioning event (`GetUserProvisioningEvent`).
        pub async fn user_provisioning_event(
            &self,
            directory_id: &str,
            id: &str,
        ) -> Result<UserProvisioningEvent> {
            let mut conn = self.store.read().await?;
            store::cloud::get_event_task(&mut conn, directory_id, id)
                .await?
                .and_then(event_from_row)
                .ok_or(Error::NotFound("RAM user provisioning event"))
        }

        /// `RetryUserProvisioningEvent`: puts a failed event back in the queue (409 unless it
        /// failed), optionally with another duplication strategy; the worker runs it again
        /// against the current state.
        pub async fn retry_user_provisioning_event(
            &self,
            actor: &Actor,
            directory: &Directory,
            id: &str,
            input: &RetryUserProvisioningEvent,
        ) -> Result<UserProvisioningEvent> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            let row = store::cloud::get_event_task(&mut tx, &directory.id, id)
                .await?
                .ok_or(Error::NotFound("RAM user provisioning event"))?;
            if let Some(d) = input.duplication_strategy {
                if !matches!(
                    row.task.task_type,
                    TaskType::AddUserToGroup | TaskType::RemoveUserFromGroup
                ) {
                    return Err(Error::invalid(
                        "duplication_strategy",
                        "applies to AddUserToGroup / RemoveUserFromGroup events only",
                    ));
                }
                let mut payload: EventPayload = serde_json::from_str(&row.payload)
                    .map_err(|e| Error::Corrupt(format!("event payload: {e}")))?;
                payload.duplication_strategy = Some(d);
                let text = serde_json::to_string(&payload)
                    .map_err(|e| Error::Internal(format!("event payload: {e}")))?;
                store::cloud::set_task_payload(&mut tx, id, &text).await?;
            }
            if !store::cloud::requeue_failed_task(&mut tx, &directory.id, id).await? {
                return Err(Error::conflict(format!(
                    "only a failed event can be retried; this one is {}",
                    row.task.status.as_str()
                )));
            }
            store::audit::append(
                &mut tx,
                &NewAuditEvent::new(
                    Some(&directory.id),
                    actor,
                    "user_provisioning_event",
                    "retry",
                )
                .target("task", id)
                .detail(json!({
                        "task_type": row.task.task_type.as_str(),
                        "duplication_strategy": input.duplication_strategy.map(DuplicationStrategy::as_str),
                    })),
                now,
            )
            .await?;
            let row = store::cloud::get_event_task(&mut tx, &directory.id, id)
                .await?
                .ok_or(Error::NotFound("RAM user provisioning event"))?;
            tx.commit().await?;
            event_from_row(row).ok_or(Error::NotFound("RAM user provisioning event"))
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
