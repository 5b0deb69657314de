//! Access assignments (products.md §2.8): a user or group × an account × an access configuration,
//! created and deleted through asynchronous tasks whose status the admin API shows
//! (`GetTask`/`ListTasks`).
//!
//! Creating an assignment records a `CreateAccessAssignment` task; the task worker
//! ([`Services::run_pending_tasks`]) provisions the access configuration into the account if needed
//! (see `provisioning`) and then stores the assignment. Deleting one works the same way. Tasks are
//! leased (`lease_until`) so that each runs once even with several nodes.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `User` or `Group`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum PrincipalType {
    /// A directory user.
    User,
    /// A directory group (all its members).
    Group,
}

impl PrincipalType {
    /// Database text.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalType::User => "User",
            PrincipalType::Group => "Group",
        }
    }

    /// Parses the database / API text.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "User" => Some(PrincipalType::User),
            "Group" => Some(PrincipalType::Group),
            _ => None,
        }
    }
}

/// An access assignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Assignment {
    /// The access configuration.
    pub access_configuration_id: String,
    /// The account (`TargetType` is always `RD-Account`).
    pub account_id: String,
    /// User or group.
    pub principal_type: PrincipalType,
    /// The user or group id.
    pub principal_id: String,
    /// Creation time.
    pub created_at: i64,
}

/// What a task does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum TaskType {
    /// Create an assignment (provisioning first if needed).
    CreateAccessAssignment,
    /// Delete an assignment.
    DeleteAccessAssignment,
    /// (Re-)provision an access configuration into an account.
    ProvisionAccessConfiguration,
    /// Remove an access configuration's reserved resources from an account.
    DeprovisionAccessConfiguration,
    /// Create RAM users for a RAM user provisioning.
    StartUserProvisioning,
    /// Delete a RAM user provisioning (and its users, per its deletion strategy).
    DeleteUserProvisioning,
    /// A user joined a group that a RAM user provisioning covers: create (or adopt) its RAM user.
    AddUserToGroup,
    /// A user left such a group (or was deleted): apply the provisioning's deletion strategy.
    RemoveUserFromGroup,
}

impl TaskType {
    /// Database text.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskType::CreateAccessAssignment => "CreateAccessAssignment",
            TaskType::DeleteAccessAssignment => "DeleteAccessAssignment",
            TaskType::ProvisionAccessConfiguration => "ProvisionAccessConfiguration",
            TaskType::DeprovisionAccessConfiguration => "DeprovisionAccessConfiguration",
            TaskType::StartUserProvisioning => "StartUserProvisioning",
            TaskType::DeleteUserProvisioning => "DeleteUserProvisioning",
            TaskType::AddUserToGroup => "AddUserToGroup",
            TaskType::RemoveUserFromGroup => "RemoveUserFromGroup",
        }
    }

    /// Parses the database text.
    pub fn parse(text: &str) -> Option<Self> {
        [
            TaskType::CreateAccessAssignment,
            TaskType::DeleteAccessAssignment,
            TaskType::ProvisionAccessConfiguration,
            TaskType::DeprovisionAccessConfiguration,
            TaskType::StartUserProvisioning,
            TaskType::DeleteUserProvisioning,
            TaskType::AddUserToGroup,
            TaskType::RemoveUserFromGroup,
        ]
        .into_iter()
        .find(|t| t.as_str() == text)
    }
}

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum TaskStatus {
    /// Waiting for or being run by the worker.
    InProgress,
    /// Done.
    Success,
    /// Gave up; `failure_reason` says why.
    Failed,
}

impl TaskStatus {
    /// Database text.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::InProgress => "InProgress",
            TaskStatus::Success => "Success",
            TaskStatus::Failed => "Failed",
        }
    }

    /// Parses the database text.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "InProgress" => Some(TaskStatus::InProgress),
            "Success" => Some(TaskStatus::Success),
            "Failed" => Some(TaskStatus::Failed),
            _ => None,
        }
    }
}

/// An asynchronous task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Task {
    /// `t-…`.
    pub id: String,
    /// The directory.
    pub directory_id: String,
    /// What it does.
    pub task_type: TaskType,
    /// Where it stands.
    pub status: TaskStatus,
    /// The access configuration concerned, if any.
    pub access_configuration_id: Option<String>,
    /// The account concerned, if any.
    pub account_id: Option<String>,
    /// The principal type concerned, if any.
    pub principal_type: Option<PrincipalType>,
    /// The principal (or RAM user provisioning) id concerned, if any.
    pub principal_id: Option<String>,
    /// Why it failed.
    pub failure_reason: Option<String>,
    /// Creation time.
    pub created_at: i64,
    /// When it finished.
    pub finished_at: Option<i64>,
}

/// How long a worker may hold a task before another may take it over (seconds).
pub const TASK_LEASE_SECONDS: i64 = 120;

/// An assignment to create or delete (`CreateAccessAssignment` / `DeleteAccessAssignment`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct AssignmentRequest {
    /// The access configuration.
    pub access_configuration_id: String,
    /// `RD-Account` (the only target type).
    #[serde(default)]
    pub target_type: Option<String>,
    /// The account.
    pub target_id: String,
    /// User or Group.
    pub principal_type: PrincipalType,
    /// The user or group id.
    pub principal_id: String,
}

mod service {
    use std::sync::Arc;
    use std::time::Duration;

    use serde_json::json;
    use tokio::sync::watch;

    use super::*;
    use crate::audit::{Actor, NewAuditEvent};
    use crate::directory::Directory;
    use crate::error::{Error, Result};
    use crate::services::Services;
    use crate::store;

    impl Services {
        async fn check_principal(
            &self,
            directory_id: &str,
            t: PrincipalType,
            id: &str,
        ) -> Result<()> {
            let mut conn = self.store.read().await?;
            let found = match t {
                PrincipalType::User => store::user::get(&mut conn, directory_id, id)
                    .await?
                    .is_some(),
                PrincipalType::Group => store::group::get(&mut conn, directory_id, id)
                    .await?
                    .is_some(),
            };
            if found {
                Ok(())
            } else {
                Err(Error::NotFound(match t {
                    PrincipalType::User => "user",
                    PrincipalType::Group => "group",
                }))
            }
        }

        /// Records a task (InProgress) and its audit event; the worker runs it.
        pub async fn enqueue_task(
            &self,
            actor: &Actor,
            directory_id: &str,
            task_type: TaskType,
            access_configuration_id: Option<&str>,
            account_id: Option<&str>,
            principal: Option<(PrincipalType, &str)>,
        ) -> Result<Task> {
            let now = self.now();
            let task = Task {
                id: crate::directory::prefixed_id("t", 20),
                directory_id: directory_id.to_owned(),
                task_type,
                status: TaskStatus::InProgress,
                access_configuration_id: access_configuration_id.map(str::to_owned),
                account_id: account_id.map(str::to_owned),
                principal_type: principal.map(|p| p.0),
                principal_id: principal.map(|p| p.1.to_owned()),
                failure_reason: None,
                created_at: now,
                finished_at: None,
            };
            let mut tx = self.store.begin_write().await?;
            store::access::insert_task(&mut tx, &task).await?;
            store::audit::append(
                &mut tx,
                &NewAuditEvent::new(Some(directory_id), actor, "task", "create")
                    .target("task", &task.id)
                    .detail(json!({ "task_type": task_type.as_str() })),
                now,
            )
            .await?;
            tx.commit().await?;
            Ok(task)
        }

        /// `CreateAccessAssignment`: checks the parts exist and enqueues the task.
        pub async fn create_access_assignment(
            &self,
            actor: &Actor,
            directory: &Directory,
            req: &AssignmentRequest,
        ) -> Result<Task> {
            self.check_assignment_request(directory, req).await?;
            self.enqueue_task(
                actor,
                &directory.id,
                TaskType::CreateAccessAssignment,
                Some(&req.access_configuration_id),
                Some(&req.target_id),
                Some((req.principal_type, &req.principal_id)),
            )
            .await
        }

        /// `DeleteAccessAssignment`: enqueues the task. The principal is not looked up: an
        /// assignment of a principal that no longer exists can still be removed.
        pub async fn delete_access_assignment(
            &self,
            actor: &Actor,
            directory: &Directory,
            req: &AssignmentRequest,
        ) -> Result<Task> {
            self.check_assignment_target(directory, req).await?;
            self.enqueue_task(
                actor,
                &directory.id,
                TaskType::DeleteAccessAssignment,
                Some(&req.access_configuration_id),
                Some(&req.target_id),
                Some((req.principal_type, &req.principal_id)),
            )
            .await
        }

        async fn check_assignment_request(
            &self,
            directory: &Directory,
            req: &AssignmentRequest,
        ) -> Result<()> {
            self.check_assignment_target(directory, req).await?;
            self.check_principal(&directory.id, req.principal_type, &req.principal_id)
                .await
        }

        /// Checks the target type, access configuration and account of a request.
        async fn check_assignment_target(
            &self,
            directory: &Directory,
            req: &AssignmentRequest,
        ) -> Result<()> {
            if let Some(t) = &req.target_type
                && t != "RD-Account"
            {
                return Err(Error::invalid("target_type", "must be RD-Account"));
            }
            self.access_configuration(&directory.id, &req.access_configuration_id)
                .await?;
            self.cloud_account(&directory.id, &req.target_id).await?;
            Ok(())
        }

        /// `ProvisionAccessConfiguration` / `DeprovisionAccessConfiguration`: enqueues the task.
        pub async fn enqueue_provisioning(
            &self,
            actor: &Actor,
            directory: &Directory,
            access_configuration_id: &str,
            account_id: &str,
            provision: bool,
        ) -> Result<Task> {
            self.access_configuration(&directory.id, access_configuration_id)
                .await?;
            self.cloud_account(&directory.id, account_id).await?;
            let t = if provision {
                TaskType::ProvisionAccessConfiguration
            } else {
                TaskType::DeprovisionAccessConfiguration
            };
            self.enqueue_task(
                actor,
                &directory.id,
                t,
                Some(access_configuration_id),
                Some(account_id),
                None,
            )
            .await
        }

        /// A task of a directory (`GetTask`).
        pub async fn task(&self, directory_id: &str, id: &str) -> Result<Task> {
            let mut conn = self.store.read().await?;
            store::access::get_task(&mut conn, directory_id, id)
                .await?
                .ok_or(Error::NotFound("task"))
        }

        /// The latest tasks of a directory (`ListTasks`).
        pub async fn list_tasks(&self, directory_id: &str) -> Result<Vec<Task>> {
            let mut conn = self.store.read().await?;
            store::access::list_tasks(&mut conn, directory_id, 200).await
        }

        /// The assignments of a directory (`ListAccessAssignments`).
        pub async fn list_access_assignments(
            &self,
            directory_id: &str,
            access_configuration_id: Option<&str>,
            account_id: Option<&str>,
        ) -> Result<Vec<Assignment>> {
            let mut conn = self.store.read().await?;
            store::access::list_assignments(
                &mut conn,
                directory_id,
                access_configuration_id,
                account_id,
            )
            .await
        }

        /// Runs every runnable task once (leasing each); returns how many ran.
        pub async fn run_pending_tasks(&self) -> Result<usize> {
            let now = self.now();
            let ids = {
                let mut conn = self.store.read().await?;
                store::access::runnable_task_ids(&mut conn, now, 50).await?
            };
            let mut ran = 0;
            for id in ids {
                let leased = {
                    let mut tx = self.store.begin_write().await?;
                    let ok = store::access::lease_task(&mut tx, &id, now, now + TASK_LEASE_SECONDS)
                        .await?;
                    tx.commit().await?;
                    ok
                };
                if !leased {
                    continue;
                }
                let Some(task) = ({
                    let mut conn = self.store.read().await?;
                    store::access::get_task_any(&mut conn, &id).await?
                }) else {
                    continue;
                };
                let outcome = self.execute_task(&task).await;
                let (status, reason) = match &outcome {
                    Ok(()) => (TaskStatus::Success, None),
                    Err(Error::Db(_)) => {
                        // Transient: let the lease run out and try again.
                        tracing::warn!(task = %task.id, "task hit a database error; will retry");
                        let mut tx = self.store.begin_write().await?;
                        store::access::release_task(&mut tx, &task.id).await?;
                        tx.commit().await?;
                        continue;
                    }
                    Err(e) => (TaskStatus::Failed, Some(e.to_string())),
                };
                let mut tx = self.store.begin_write().await?;
                store::access::finish_task(
                    &mut tx,
                    &task.id,
                    status,
                    reason.as_deref(),
                    self.now(),
                )
                .await?;
                tx.commit().await?;
                ran += 1;
            }
            Ok(ran)
        }

        async fn execute_task(&self, task: &Task) -> Result<()> {
            let ac_and_account = || async {
                let ac_id = task
                    .access_configuration_id
                    .as_deref()
                    .ok_or(Error::NotFound("access configuration"))?;
                let account_id = task
                    .account_id
                    .as_deref()
                    .ok_or(Error::NotFound("account"))?;
                let ac = self
                    .access_configuration(&task.directory_id, ac_id)
                    .await?
                    .access_configuration;
                let account = self.cloud_account(&task.directory_id, account_id).await?;
                Ok::<_, Error>((ac, account))
            };
            match task.task_type {
                TaskType::CreateAccessAssignment => {
                    let (ac, account) = ac_and_account().await?;
                    let principal_type = task.principal_type.ok_or(Error::NotFound("principal"))?;
                    let principal_id = task
                        .principal_id
                        .clone()
                        .ok_or(Error::NotFound("principal"))?;
                    let cert = self.provisioning_certificate(&ac).await?;
                    // One transaction: the provisioning (if needed), the principal check and the
                    // assignment commit together or not at all.
                    let mut tx = self.store.begin_write().await?;
                    let principal_exists = match principal_type {
                        PrincipalType::User => {
                            store::user::get(&mut tx, &task.directory_id, &principal_id)
                                .await?
                                .is_some()
                        }
                        PrincipalType::Group => {
                            store::group::get(&mut tx, &task.directory_id, &principal_id)
                                .await?
                                .is_some()
                        }
                    };
                    if !principal_exists {
                        return Err(Error::NotFound(match principal_type {
                            PrincipalType::User => "user",
                            PrincipalType::Group => "group",
                        }));
                    }
                    if store::access::get_provisioning(&mut tx, &ac.id, &account.id)
                        .await?
                        .is_none()
                    {
                        self.provision_in(&mut tx, &ac, &account, &cert).await?;
                    }
                    store::access::insert_assignment(
                        &mut tx,
                        &task.directory_id,
                        &Assignment {
                            access_configuration_id: ac.id,
                            account_id: account.id,
                            principal_type,
                            principal_id,
                            created_at: self.now(),
                        },
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(())
                }
                TaskType::DeleteAccessAssignment => {
                    let (ac, account) = ac_and_account().await?;
                    let principal_type = task.principal_type.ok_or(Error::NotFound("principal"))?;
                    let principal_id = task
                        .principal_id
                        .as_deref()
                        .ok_or(Error::NotFound("principal"))?;
                    let mut tx = self.store.begin_write().await?;
                    let deleted = store::access::delete_assignment(
                        &mut tx,
                        &ac.id,
                        &account.id,
                        principal_type,
                        principal_id,
                    )
                    .await?;
                    tx.commit().await?;
                    if deleted {
                        Ok(())
                    } else {
                        Err(Error::NotFound("assignment"))
                    }
                }
                TaskType::ProvisionAccessConfiguration => {
                    let (ac, account) = ac_and_account().await?;
                    self.provision(&ac, &account).await
                }
                TaskType::DeprovisionAccessConfiguration => {
                    let (ac, account) = ac_and_account().await?;
                    self.deprovision(&ac, &account).await
                }
                TaskType::StartUserProvisioning => {
                    let id = task
                        .principal_id
                        .as_deref()
                        .ok_or(Error::NotFound("RAM user provisioning"))?;
                    self.apply_user_provisioning(&task.directory_id, id)
                        .await
                        .map(|_| ())
                }
                TaskType::DeleteUserProvisioning => {
                    let id = task
                        .principal_id
                        .as_deref()
                        .ok_or(Error::NotFound("RAM user provisioning"))?;
                    self.remove_user_provisioning(&task.directory_id, id).await
                }
                TaskType::AddUserToGroup | TaskType::RemoveUserFromGroup => {
                    self.run_membership_event(task).await
                }
            }
        }
    }

    /// Runs queued tasks now and then until shutdown (tasks created through the API are also
    /// started right away by the handler).
    pub async fn run_task_worker(services: Arc<Services>, mut shutdown: watch::Receiver<bool>) {
        loop {
            if let Err(e) = services.run_pending_tasks().await {
                tracing::warn!(error = %e, "cloudsso task worker pass failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }
}

pub use service::run_task_worker;
