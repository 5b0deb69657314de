//! The admin REST API of the built-in cloud and of access management (`/api/v1/directories/{directory_id}/…`,
//! JSON, bearer API tokens or console sessions, like [`super::admin`]):
//!
//! * the resource directory: cloud accounts and folders; per account RAM roles, RAM users, custom
//!   policies and SAML providers (reserved `AliyunReservedSSO-…` resources are listed but refused
//!   for change with 409 `reserved_resource`); the system policy catalogue;
//! * access configurations (with their provisioning status, `ReprovisionRequired` after an edit);
//! * provisioning / de-provisioning an access configuration on an account, access assignments and
//!   RAM user provisionings, all as asynchronous tasks (202 + the task; `GET …/tasks/{task_id}`).
//!
//! Every change is audited by the service it calls. Each handler carries `#[utoipa::path]`; the
//! area's [`ApiDoc`] is merged into the served `/api/openapi.json` by [`openapi_document`].

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::auth::AdminAuth;
use super::{ApiError, ApiJson, ApiQuery, ApiResult, ApiRoutes, AppState, ErrorBody};
use crate::access_configuration::{
    AccessConfiguration, AccessConfigurationDetail, AccessConfigurationPatch,
    NewAccessConfiguration, Provisioning, ProvisioningStatus,
};
use crate::assignment::{Assignment, AssignmentRequest, PrincipalType, Task, TaskStatus, TaskType};
use crate::cloud::ram::{SamlProviderSpec, is_reserved_name};
use crate::cloud::resource::{
    CloudAccount, CustomPolicy, PolicyRef, PolicyType, RamUser, Role, SamlProvider,
};
use crate::cloud::system_policy;
use crate::ram_user_provisioning::{
    DeletionStrategy, DuplicationStrategy, NewUserProvisioning, RetryUserProvisioningEvent,
    UserProvisioning, UserProvisioningEvent, UserProvisioningEventFilter,
    UserProvisioningEventSource,
};
use crate::store::cloud::PrincipalKind;

const D: &str = "/api/v1/directories/{directory_id}";
const A: &str = "/api/v1/directories/{directory_id}/cloud/accounts/{account_id}";

/// The admin API routes of this area.
pub fn routes() -> ApiRoutes {
    ApiRoutes::new()
        // Resource directory.
        .get(&format!("{D}/cloud/accounts"), list_accounts)
        .post(&format!("{D}/cloud/accounts"), create_account)
        .get(A, get_account)
        .get(&format!("{D}/cloud/folders"), list_folders)
        .get(&format!("{D}/cloud/system-policies"), list_system_policies)
        .get(
            &format!("{D}/cloud/system-policies/{{policy_name}}"),
            get_system_policy,
        )
        // RAM roles.
        .get(&format!("{A}/roles"), list_roles)
        .post(&format!("{A}/roles"), create_role)
        .get(&format!("{A}/roles/{{role_name}}"), get_role)
        .delete(&format!("{A}/roles/{{role_name}}"), delete_role)
        .put(
            &format!("{A}/roles/{{role_name}}/trust-policy"),
            update_trust_policy,
        )
        .put(
            &format!("{A}/roles/{{role_name}}/policies/{{policy_type}}/{{policy_name}}"),
            attach_role_policy,
        )
        .delete(
            &format!("{A}/roles/{{role_name}}/policies/{{policy_type}}/{{policy_name}}"),
            detach_role_policy,
        )
        // RAM users.
        .get(&format!("{A}/users"), list_ram_users)
        .post(&format!("{A}/users"), create_ram_user)
        .get(&format!("{A}/users/{{user_name}}"), get_ram_user)
        .delete(&format!("{A}/users/{{user_name}}"), delete_ram_user)
        .put(
            &format!("{A}/users/{{user_name}}/policies/{{policy_type}}/{{policy_name}}"),
            attach_user_policy,
        )
        .delete(
            &format!("{A}/users/{{user_name}}/policies/{{policy_type}}/{{policy_name}}"),
            detach_user_policy,
        )
        // Custom policies.
        .get(&format!("{A}/policies"), list_policies)
        .post(&format!("{A}/policies"), create_policy)
        .get(&format!("{A}/policies/{{policy_name}}"), get_policy)
        .put(&format!("{A}/policies/{{policy_name}}"), update_policy)
        .delete(&format!("{A}/policies/{{policy_name}}"), delete_policy)
        // SAML providers.
        .get(&format!("{A}/saml-providers"), list_providers)
        .post(&format!("{A}/saml-providers"), create_provider)
        .get(
            &format!("{A}/saml-providers/{{provider_name}}"),
            get_provider,
        )
        .put(
            &format!("{A}/saml-providers/{{provider_name}}"),
            update_provider,
        )
        .delete(
            &format!("{A}/saml-providers/{{provider_name}}"),
            delete_provider,
        )
        // Access configurations and their provisioning.
        .get(&format!("{D}/access-configurations"), list_acs)
        .post(&format!("{D}/access-configurations"), create_ac)
        .get(
            &format!("{D}/access-configurations/{{access_configuration_id}}"),
            get_ac,
        )
        .patch(
            &format!("{D}/access-configurations/{{access_configuration_id}}"),
            update_ac,
        )
        .delete(
            &format!("{D}/access-configurations/{{access_configuration_id}}"),
            delete_ac,
        )
        .get(
            &format!("{D}/access-configurations/{{access_configuration_id}}/provisionings"),
            list_provisionings,
        )
        .post(
            &format!("{D}/access-configurations/{{access_configuration_id}}/provisionings"),
            provision,
        )
        .delete(
            &format!(
                "{D}/access-configurations/{{access_configuration_id}}/provisionings/{{account_id}}"
            ),
            deprovision,
        )
        // Assignments.
        .get(&format!("{D}/access-assignments"), list_assignments)
        .post(&format!("{D}/access-assignments"), create_assignment)
        .delete(&format!("{D}/access-assignments"), delete_assignment)
        // Tasks.
        .get(&format!("{D}/tasks"), list_tasks)
        .get(&format!("{D}/tasks/{{task_id}}"), get_task)
        // RAM user provisioning.
        .get(&format!("{D}/user-provisionings"), list_user_provisionings)
        .post(&format!("{D}/user-provisionings"), create_user_provisioning)
        .get(
            &format!("{D}/user-provisionings/{{user_provisioning_id}}"),
            get_user_provisioning,
        )
        .delete(
            &format!("{D}/user-provisionings/{{user_provisioning_id}}"),
            delete_user_provisioning,
        )
        .get(
            &format!("{D}/user-provisioning-events"),
            list_user_provisioning_events,
        )
        .get(
            &format!("{D}/user-provisioning-events/{{event_id}}"),
            get_user_provisioning_event,
        )
        .post(
            &format!("{D}/user-provisioning-events/{{event_id}}/retry"),
            retry_user_provisioning_event,
        )
}

/// The routes of this area (merged into the main router by [`super::router`]).
pub fn router() -> Router<AppState> {
    routes().into_router()
}

/// OpenAPI paths and components of this area.
#[derive(Debug, OpenApi)]
#[openapi(
    paths(
        list_accounts, create_account, get_account, list_folders,
        list_system_policies, get_system_policy,
        list_roles, create_role, get_role, delete_role, update_trust_policy,
        attach_role_policy, detach_role_policy,
        list_ram_users, create_ram_user, get_ram_user, delete_ram_user,
        attach_user_policy, detach_user_policy,
        list_policies, create_policy, get_policy, update_policy, delete_policy,
        list_providers, create_provider, get_provider, update_provider, delete_provider,
        list_acs, create_ac, get_ac, update_ac, delete_ac,
        list_provisionings, provision, deprovision,
        list_assignments, create_assignment, delete_assignment,
        list_tasks, get_task,
        list_user_provisionings, create_user_provisioning, get_user_provisioning,
        delete_user_provisioning,
        list_user_provisioning_events, get_user_provisioning_event, retry_user_provisioning_event
    ),
    components(schemas(
        ErrorBody,
        CloudAccount, NewCloudAccount, Folder, SystemPolicyView,
        Role, NewRole, TrustPolicyBody, PolicyRef, PolicyType,
        RamUser, NewRamUser,
        CustomPolicy, NewCustomPolicy, PolicyDocumentBody,
        SamlProvider, NewSamlProvider, SamlProviderSpec,
        AccessConfiguration, AccessConfigurationDetail, NewAccessConfiguration,
        AccessConfigurationPatch, Provisioning, ProvisioningStatus, ProvisionBody,
        Assignment, AssignmentRequest, PrincipalType,
        Task, TaskType, TaskStatus,
        UserProvisioning, NewUserProvisioning, DuplicationStrategy, DeletionStrategy,
        CreatedUserProvisioning, UserProvisioningEvent, UserProvisioningEventSource,
        RetryUserProvisioningEvent
    )),
    tags(
        (name = "cloud", description = "The built-in resource directory: accounts, folders, RAM roles, users, policies, SAML providers, system policies."),
        (name = "access", description = "Access configurations, their provisioning, access assignments, RAM user provisioning and the asynchronous tasks behind them.")
    )
)]
pub struct ApiDoc;

/// `generated` (the document built from the route list) with this area's paths replaced by their
/// handler documentation and its schemas added.
pub fn with_area_docs(mut generated: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let mut mine = ApiDoc::openapi();
    for (path, item) in std::mem::take(&mut mine.paths.paths) {
        generated.paths.paths.insert(path, item);
    }
    generated.merge(mine);
    generated
}

/// The served OpenAPI document: the admin document plus this area's handler documentation.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    with_area_docs(super::admin::openapi_document())
}

/// `GET /api/openapi.json` (the whole admin API, this area included).
pub fn openapi_router() -> Router<AppState> {
    Router::new().route(
        "/api/openapi.json",
        axum::routing::get(|| async { axum::Json(openapi_document()) }),
    )
}

// ---- helpers ----

/// 409 `reserved_resource`: Cloud SSO's own resources change only through access configurations.
fn reserved(what: &str, name: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "reserved_resource",
        format!(
            "{what} {name:?} is reserved by Cloud SSO (AliyunReservedSSO-…): it cannot be changed or \
             deleted through RAM; edit, re-provision or de-provision the access configuration instead"
        ),
    )
}

fn refuse_reserved_name(what: &str, name: &str) -> ApiResult<()> {
    if is_reserved_name(name.trim()) {
        return Err(reserved(what, name.trim()));
    }
    Ok(())
}

/// Starts the task worker now (it also polls), so that tasks created here run at once.
fn kick_tasks(state: &AppState) {
    let services = state.services.clone();
    tokio::spawn(async move {
        if let Err(e) = services.run_pending_tasks().await {
            tracing::warn!(error = %e, "running tasks after an API call failed");
        }
    });
}

async fn account(state: &AppState, auth: &AdminAuth, account_id: &str) -> ApiResult<CloudAccount> {
    Ok(state.cloud_account(&auth.directory.id, account_id).await?)
}

fn policy_ref(policy_type: &str, policy_name: String) -> ApiResult<PolicyRef> {
    let policy_type = PolicyType::parse(policy_type)
        .ok_or_else(|| ApiError::bad_request("policy_type must be System or Custom"))?;
    Ok(PolicyRef {
        policy_type,
        policy_name,
    })
}

// ---- accounts and folders ----

/// A new account (`name`, `folder`, `is_management`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewCloudAccount {
    /// Display name (1–50 characters).
    pub name: String,
    /// Folder path, e.g. `/Production` (default `/`).
    #[serde(default)]
    pub folder: Option<String>,
    /// Whether this is the management account (at most one).
    #[serde(default)]
    pub is_management: bool,
}

/// Account filter.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountQuery {
    /// Only accounts in this folder (exact path).
    #[serde(default)]
    pub folder: Option<String>,
}

/// List the accounts of the resource directory.
#[utoipa::path(get, path = "/api/v1/directories/{directory_id}/cloud/accounts", tag = "cloud",
    params(("directory_id" = String, Path, description = "Directory id"), AccountQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<CloudAccount>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_accounts(
    State(state): State<AppState>,
    auth: AdminAuth,
    ApiQuery(q): ApiQuery<AccountQuery>,
) -> ApiResult<ApiJson<Vec<CloudAccount>>> {
    let mut accounts = state.list_cloud_accounts(&auth.directory.id).await?;
    if let Some(folder) = q.folder.as_deref() {
        accounts.retain(|a| a.folder == folder);
    }
    Ok(ApiJson(accounts))
}

/// Create an account (the management account or a member).
#[utoipa::path(post, path = "/api/v1/directories/{directory_id}/cloud/accounts", tag = "cloud",
    request_body = NewCloudAccount,
    params(("directory_id" = String, Path, description = "Directory id")),
    security(("bearer" = [])),
    responses((status = 201, body = CloudAccount), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_account(
    State(state): State<AppState>,
    auth: AdminAuth,
    ApiJson(b): ApiJson<NewCloudAccount>,
) -> ApiResult<(StatusCode, ApiJson<CloudAccount>)> {
    let a = state
        .create_cloud_account(
            &auth.actor,
            &auth.directory.id,
            &b.name,
            b.folder.as_deref(),
            b.is_management,
        )
        .await?;
    Ok((StatusCode::CREATED, ApiJson(a)))
}

/// Get an account.
#[utoipa::path(get, path = "/api/v1/directories/{directory_id}/cloud/accounts/{account_id}", tag = "cloud",
    params(("directory_id" = String, Path, description = "Directory id"), ("account_id" = String, Path, description = "16-digit account id")),
    security(("bearer" = [])),
    responses((status = 200, body = CloudAccount), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_account(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, account_id)): Path<(String, String)>,
) -> ApiResult<ApiJson<CloudAccount>> {
    Ok(ApiJson(account(&state, &auth, &account_id).await?))
}

/// A folder of the resource directory with the accounts in it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Folder {
    /// Path, e.g. `/` or `/Production`.
    pub path: String,
    /// The ids of its accounts.
    pub account_ids: Vec<String>,
}

/// List the folders of the resource directory (every folder holding an account, and `/`).
#[utoipa::path(get, path = "/api/v1/directories/{directory_id}/cloud/folders", tag = "cloud",
    params(("directory_id" = String, Path, description = "Directory id")),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<Folder>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_folders(
    State(state): State<AppState>,
    auth: AdminAuth,
) -> ApiResult<ApiJson<Vec<Folder>>> {
    let mut folders: BTreeMap<String, Vec<String>> = BTreeMap::new();
    folders.insert("/".to_owned(), Vec::new());
    for a in state.list_cloud_accounts(&auth.directory.id).await? {
        folders.entry(a.folder).or_default().push(a.id);
    }
    Ok(ApiJson(
        folders
            .into_iter()
            .map(|(path, account_ids)| Folder { path, account_ids })
            .collect(),
    ))
}

/// A system policy of the catalogue.
#[derive(Debug, Serialize, ToSchema)]
pub struct SystemPolicyView {
    /// Always `System`.
    pub policy_type: PolicyType,
    /// Name, e.g. `AdministratorAccess`.
    pub policy_name: String,
    /// Description.
    pub description: String,
    /// RAM policy JSON.
    pub document: String,
}

fn system_view(p: &system_policy::SystemPolicy) -> SystemPolicyView {
    SystemPolicyView {
        policy_type: PolicyType::System,
        policy_name: p.name.to_owned(),
        description: p.description.to_owned(),
        document: p.document.to_owned(),
    }
}

/// List the system policy catalogue (what access configurations may attach by name).
#[utoipa::path(get, path = "/api/v1/directories/{directory_id}/cloud/system-policies", tag = "cloud",
    params(("directory_id" = String, Path, description = "Directory id")),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<SystemPolicyView>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_system_policies(_auth: AdminAuth) -> ApiJson<Vec<SystemPolicyView>> {
    ApiJson(system_policy::CATALOGUE.iter().map(system_view).collect())
}

/// Get a system policy with its document.
#[utoipa::path(get, path = "/api/v1/directories/{directory_id}/cloud/system-policies/{policy_name}", tag = "cloud",
    params(("directory_id" = String, Path, description = "Directory id"), ("policy_name" = String, Path, description = "System policy name (exact)")),
    security(("bearer" = [])),
    responses((status = 200, body = SystemPolicyView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_system_policy(
    _auth: AdminAuth,
    Path((_did, name)): Path<(String, String)>,
) -> ApiResult<ApiJson<SystemPolicyView>> {
    system_policy::find(&name)
        .map(|p| ApiJson(system_view(p)))
        .ok_or_else(|| ApiError::not_found("system policy"))
}

// ---- RAM roles ----

/// A new RAM role.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewRole {
    /// Role name (not `AliyunReservedSSO-…`).
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Trust policy (RAM policy JSON, `sts:AssumeRole`).
    pub trust_policy: String,
    /// Longest session (3600–43200 s, default 3600).
    #[serde(default)]
    pub max_session_duration: Option<i64>,
}

/// `{"trust_policy": …}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TrustPolicyBody {
    /// The new trust policy.
    pub trust_policy: String,
}

/// List the RAM roles of an account (reserved ones included, with `reserved: true`).
#[utoipa::path(get, path = "/api/v1/directories/{directory_id}/cloud/accounts/{account_id}/roles", tag = "cloud",
    params(("directory_id" = String, Path, description = "Directory id"), ("account_id" = String, Path, description = "Account id")),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<Role>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_roles(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, account_id)): Path<(String, String)>,
) -> ApiResult<ApiJson<Vec<Role>>> {
    let a = account(&state, &auth, &account_id).await?;
    Ok(ApiJson(state.list_roles(&a).await?))
}

/// Create a RAM role.
#[utoipa::path(post, path = "/api/v1/directories/{directory_id}/cloud/accounts/{account_id}/roles", tag = "cloud",
    request_body = NewRole,
    params(("directory_id" = String, Path, description = "Directory id"), ("account_id" = String, Path, description = "Account id")),
    security(("bearer" = [])),
    responses((status = 201, body = Role), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "conflict (name taken) or reserved_resource")))]
async fn create_role(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, account_id)): Path<(String, String)>,
    ApiJson(b): ApiJson<NewRole>,
) -> ApiResult<(StatusCode, ApiJson<Role>)> {
    let a = account(&state, &auth, &account_id).await?;
    refuse_reserved_name("role", &b.name)?;
    let r = state
        .create_role(
            &auth.actor,
            &a,
            &b.name,
            &b.description,
            &b.trust_policy,
            b.max_session_duration,
        )
        .await?;
    Ok((StatusCode::CREATED, ApiJson(r)))
}

/// Get a RAM role with its attached policies.
#[utoipa::path(get, path = "/api/v1/directories/{directory_id}/cloud/accounts/{account_id}/roles/{role_name}", tag = "cloud",
    params(("directory_id" = String, Path, description = "Directory id"), ("account_id" = String, Path, description = "Account id"), ("role_name" = String, Path, description = "Role name")),
    security(("bearer" = [])),
    responses((status = 200, body = Role), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_role(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, account_id, name)): Path<(String, String, String)>,
) -> ApiResult<ApiJson<Role>> {
    let a = account(&state, &auth, &account_id).await?;
    Ok(ApiJson(state.role(&a, &name).await?))
}

/// Delete a RAM role (409 `reserved_resource` for Cloud SSO's roles).
#[utoipa::path(delete, path = "/api/v1/directories/{directory_id}/cloud/accounts/{account_id}/roles/{role_name}", tag = "cloud",
    params(("directory_id" = String, Path, description = "Directory id"), ("account_id" = String, Path, description = "Account id"), ("role_name" = String, Path, description = "Role name")),
    security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "reserved_resource")))]
async fn delete_role(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, account_id, name)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let a = account(&state, &auth, &account_id).await?;
    let role = state.role(&a, &name).await?;
    if role.reserved {
        return Err(reserved("role", &role.name));
    }
    state.delete_role(&auth.actor, &a, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace a RAM role's trust policy (409 `reserved_resource` for Cloud SSO's roles).
#[utoipa::path(put, path = "/api/v1/directories/{directory_id}/cloud/accounts/{account_id}/roles/{role_name}/trust-policy", tag = "cloud",
    request_body = TrustPolicyBody,
    params(("directory_id" = String, Path, description = "Directory id"), ("account_id" = String, Path, description = "Account id"), ("role_name" = String, Path, description = "Role name")),
    security(("bearer" = [])),
    responses((status = 200, body = Role), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "reserved_resource")))]
async fn update_trust_policy(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, account_id, name)): Path<(String, String, String)>,
    ApiJson(b): ApiJson<TrustPolicyBody>,
) -> ApiResult<ApiJson<Role>> {
    let a = account(&state, &auth, &account_id).await?;
    let role = state.role(&a, &name).await?;
    if role.reserved {
        return Err(reserved("role", &role.name));
    }
    Ok(ApiJson(
        state
            .update_role_trust_policy(&auth.actor, &a, &name, &b.trust_policy)
            .await?,
    ))
}

async fn set_attachment(
    state: &AppState,
    auth: &AdminAuth,
    kind: PrincipalKind,
    (account_id, principal, policy_type, policy_name): (String, String, String, String),
    attach: bool,
) -> ApiResult<StatusCode> {
    let a = account(state, auth, &account_id).await?;
    let policy = policy_ref(&policy_type, policy_name)?;
    if kind == PrincipalKind::Role {
        let role = state.role(&a, &principal).await?;
        if role.reserved {
            return Err(reserved("role", &role.name));
        }
    }
    if policy.policy_type == PolicyType::Custom && is_reserved_name(&policy.policy_name) {
        return Err(reserved("policy", &policy.policy_name));
    }
    state
        .set_policy_attachment(&auth.actor, &a, kind, &principal, &policy, attach)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Attach a policy (`System` or `Custom`) to a RAM role.
#[utoipa::path(put, path = "/api/v1/directories/{directory_id}/cloud/accounts/{account_id}/roles/{role_name}/policies/{policy_type}/{policy_name}", tag = "cloud",
    params(("directory_id" = String, Path, description = "Directory id"), ("account_id" = String, Path, description = "Account id"), ("role_name" = String, Path, description = "Role name"), ("policy_type" = PolicyType, Path, description = "System or Custom"), ("policy_name" = String, Path, description = "Policy name")),
    security(("bearer" = [])),
    responses((status = 204, description = "Attached"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "reserved_resource")))]
async fn attach_role_policy(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, account_id, role, policy_type, policy)): Path<(
        String,
        String,
        String,
        String,
        String,
    )>,
) -> ApiResult<StatusCode> {
    let parts = (account_id, role, policy_type, policy);
    set_attachment(&state, &auth, PrincipalKind::Role, parts, true).await
}

/// Detach a policy from a RAM role.
#[utoipa::path(delete, path = "/api/v1/directories/{directory_id}/cloud/accounts/{account_id}/roles/{role_name}/policies/{policy_type}/{policy_name}", tag = "cloud",
    params(("directory_id" = String, Path, description = "Directory id"), ("account_id" = String, Path, description = "Account id"), ("role_name" = String, Path, description = "Role name"), ("policy_type" = PolicyType, Path, description = "System or Custom"), ("policy_name" = String, Path, description = "Policy name")),
    security(("bearer" = [])),
    responses((status = 204, description = "Detached"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "reserved_resource")))]
async fn detach_role_policy(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, account_id, role, policy_type, policy)): Path<(
        String,
        String,
        String,
        String,
        String,
    )>,
) -> ApiResult<StatusCode> {
    let parts = (account_id, role, policy_type, policy);
    set_attachment(&state, &auth, PrincipalKind::Role, parts, false).await
}

// ---- RAM users ----

/// A new RAM user.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewRamUser {
    /// User name.
    pub name: String,
    /// Display name.
    #[serde(default)]
    pub display_name: String,
}

/// List the RAM users of an account (provisioned ones carry `provisioning_id`).
#[utoipa::path(get, path = "/api/v1/directories/{directory_id}/cloud/accounts/{account_id}/users", tag = "cloud",
    params(("directory_id" = String, Path, description = "Directory id"), ("account_id" = String, Path, description = "Account id")),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<RamUser>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_ram_users(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, account_id)): Path<(String, String)>,
) -> ApiResult<ApiJson<Vec<RamUser>>> {
    let a = account(&state, &auth, &account_id).await?;
    Ok(ApiJson(state.list_ram_users(&a).await?))
}

/// Create a RAM user.
#[utoipa::path(post, path = "/api/v1/directories/{directory_id}/cloud/accounts/{account_id}/users", tag = "cloud",
    request_body = NewRamUser,
    params(("directory_id" = String, Path, description = "Directory id"), ("account_id" = String, Path, description = "Account id")),
    security(("bearer" = [])),
    responses((status = 201, body = RamUser), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_ram_user(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, account_id)): Path<(String, String)>,
    ApiJson(b): ApiJson<NewRamUser>,
) -> ApiResult<(StatusCode, ApiJson<RamUser>)> {
    let a = account(&state, &auth, &account_id).await?;
    let u = state
        .create_ram_user(&auth.actor, &a, &b.name, &b.display_name)
        .await?;
    Ok((StatusCode::CREATED, ApiJson(u)))
}

async fn find_ram_user(state: &AppState, a: &CloudAccount, name: &str) -> ApiResult<RamUser> {
    state
        .list_ram_users(a)
        .await?
        .into_iter()
        .find(|u| u.name == name)
        .ok_or_else(|| ApiError::not_found("RAM user"))
}

/// Get a RAM user.
#[utoipa::path(get, path = "/api/v1/directories/{directory_id}/cloud/accounts/{account_id}/users/{user_name}", tag = "cloud",
    params(("directory_id" = String, Path, description = "Directory id"), ("account_id" = String, Path, description = "Account id"), ("user_name" = String, Path, description = "RAM user name")),
    security(("bearer" = [])),
    responses((status = 200, body = RamUser), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_ram_user(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, account_id, name)): Path<(String, String, String)>,
) -> ApiResult<ApiJson<RamUser>> {
    let a = account(&state, &auth, &account_id).await?;
    Ok(ApiJson(find_ram_user(&state, &a, &name).await?))
}

/// Delete a RAM user (409 if a RAM user provisioning manages it: delete the provisioning).
#[utoipa::path(delete, path = "/api/v1/directories/{directory_id}/cloud/accounts/{account_id}/users/{user_name}", tag = "cloud",
    params(("directory_id" = String, Path, description = "Directory id"), ("account_id" = String, Path, description = "Account id"), ("user_name" = String, Path, description = "RAM user name")),
    security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delete_ram_user(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, account_id, name)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let a = account(&state, &auth, &account_id).await?;
    state.delete_ram_user(&auth.actor, &a, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Attach a policy to a RAM user.
#[utoipa::path(put, path = "/api/v1/directories/{directory_id}/cloud/accounts/{account_id}/users/{user_name}/policies/{policy_type}/{policy_name}", tag = "cloud",
    params(("directory_id" = String, Path, description = "Directory id"), ("account_id" = String, Path, description = "Account id"), ("user_name" = String, Path, description = "RAM user name"), ("policy_type" = PolicyType, Path, description = "System or Custom"), ("policy_name" = String, Path, description = "Policy name")),
    security(("bearer" = [])),
    responses((status = 204, description = "Attached"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "reserved_resource")))]
async fn attach_user_policy(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, account_id, user, policy_type, policy)): Path<(
        String,
        String,
        String,
        String,
        String,
    )>,
) -> ApiResult<StatusCode> {
    let parts = (account_id, user, policy_type, policy);
    set_attachment(&state, &auth, PrincipalKind::User, parts, true).await
}

/// Detach a policy from a RAM user.
#[utoipa::path(delete, path = "/api/v1/directories/{directory_id}/cloud/accounts/{account_id}/users/{user_name}/policies/{policy_type}/{policy_name}", tag = "cloud",
    params(("directory_id" = String, Path, description = "Directory id"), ("account_id" = String, Path, description = "Account id"), ("user_name" = String, Path, description = "RAM user name"), ("policy_type" = PolicyType, Path, description = "System or Custom"), ("policy_name" = String, Path, description = "Policy name")),
    security(("bearer" = [])),
    responses((status = 204, description = "Detached"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "reserved_resource")))]
async fn detach_user_policy(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, account_id, user, policy_type, policy)): Path<(
        String,
        String,
        String,
        String,
        String,
    )>,
) -> ApiResult<StatusCode> {
    let parts = (account_id, user, policy_type, policy);
    set_attachment(&state, &auth, PrincipalKind::User, parts, false).await
}

// ---- custom policies ----

/// A new custom policy.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewCustomPolicy {
    /// Policy name (not `AliyunReservedSSO-…`).
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// RAM policy JSON (≤ 4096 characters, validated).
    pub document: String,
}

/// `{"document": …}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PolicyDocumentBody {
    /// RAM policy JSON (≤ 4096 characters, validated).
    pub document: String,
}

/// List the custom policies of an account.
#[utoipa::path(get, path = "/api/v1/directories/{directory_id}/cloud/accounts/{account_id}/policies", tag = "cloud",
    params(("directory_id" = String, Path, description = "Directory id"), ("account_id" = String, Path, description = "Account id")),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<CustomPolicy>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_policies(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, account_id)): Path<(String, String)>,
) -> ApiResult<ApiJson<Vec<CustomPolicy>>> {
    let a = account(&state, &auth, &account_id).await?;
    Ok(ApiJson(state.list_custom_policies(&a).await?))
}

/// Create a custom policy.
#[utoipa::path(post, path = "/api/v1/directories/{directory_id}/cloud/accounts/{account_id}/policies", tag = "cloud",
    request_body = NewCustomPolicy,
    params(("directory_id" = String, Path, description = "Directory id"), ("account_id" = String, Path, description = "Account id")),
    security(("bearer" = [])),
    responses((status = 201, body = CustomPolicy), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "conflict or reserved_resource")))]
async fn create_policy(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, account_id)): Path<(String, String)>,
    ApiJson(b): ApiJson<NewCustomPolicy>,
) -> ApiResult<(StatusCode, ApiJson<CustomPolicy>)> {
    let a = account(&state, &auth, &account_id).await?;
    refuse_reserved_name("policy", &b.name)?;
    let p = state
        .create_custom_policy(&auth.actor, &a, &b.name, &b.description, &b.document)
        .await?;
    Ok((StatusCode::CREATED, ApiJson(p)))
}

async fn find_policy(state: &AppState, a: &CloudAccount, name: &str) -> ApiResult<CustomPolicy> {
    state
        .list_custom_policies(a)
        .await?
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| ApiError::not_found("policy"))
}

/// Get a custom policy.
#[utoipa::path(get, path = "/api/v1/directories/{directory_id}/cloud/accounts/{account_id}/policies/{policy_name}", tag = "cloud",
    params(("directory_id" = String, Path, description = "Directory id"), ("account_id" = String, Path, description = "Account id"), ("policy_name" = String, Path, description = "Policy name")),
    security(("bearer" = [])),
    responses((status = 200, body = CustomPolicy), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_policy(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, account_id, name)): Path<(String, String, String)>,
) -> ApiResult<ApiJson<CustomPolicy>> {
    let a = account(&state, &auth, &account_id).await?;
    Ok(ApiJson(find_policy(&state, &a, &name).await?))
}

/// Replace a custom policy's document (409 `reserved_resource` for Cloud SSO's inline policies).
#[utoipa::path(put, path = "/api/v1/directories/{directory_id}/cloud/accounts/{account_id}/policies/{policy_name}", tag = "cloud",
    request_body = PolicyDocumentBody,
    params(("directory_id" = String, Path, description = "Directory id"), ("account_id" = String, Path, description = "Account id"), ("policy_name" = String, Path, description = "Policy name")),
    security(("bearer" = [])),
    responses((status = 200, body = CustomPolicy), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "reserved_resource")))]
async fn update_policy(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, account_id, name)): Path<(String, String, String)>,
    ApiJson(b): ApiJson<PolicyDocumentBody>,
) -> ApiResult<ApiJson<CustomPolicy>> {
    let a = account(&state, &auth, &account_id).await?;
    let p = find_policy(&state, &a, &name).await?;
    if p.reserved {
        return Err(reserved("policy", &p.name));
    }
    Ok(ApiJson(
        state
            .update_custom_policy(&auth.actor, &a, &name, &b.document)
            .await?,
    ))
}

/// Delete a custom policy (409 while attached; 409 `reserved_resource` for Cloud SSO's).
#[utoipa::path(delete, path = "/api/v1/directories/{directory_id}/cloud/accounts/{account_id}/policies/{policy_name}", tag = "cloud",
    params(("directory_id" = String, Path, description = "Directory id"), ("account_id" = String, Path, description = "Account id"), ("policy_name" = String, Path, description = "Policy name")),
    security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "conflict or reserved_resource")))]
async fn delete_policy(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, account_id, name)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let a = account(&state, &auth, &account_id).await?;
    let p = find_policy(&state, &a, &name).await?;
    if p.reserved {
        return Err(reserved("policy", &p.name));
    }
    state.delete_custom_policy(&auth.actor, &a, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- SAML providers ----

/// A new SAML provider: its name plus the IdP (metadata, or entity ID and certificates).
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewSamlProvider {
    /// Provider name (not `AliyunReservedSSO-…`).
    pub name: String,
    /// The trusted IdP.
    #[serde(flatten)]
    pub spec: SamlProviderSpec,
}

/// List the SAML providers of an account.
#[utoipa::path(get, path = "/api/v1/directories/{directory_id}/cloud/accounts/{account_id}/saml-providers", tag = "cloud",
    params(("directory_id" = String, Path, description = "Directory id"), ("account_id" = String, Path, description = "Account id")),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<SamlProvider>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_providers(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, account_id)): Path<(String, String)>,
) -> ApiResult<ApiJson<Vec<SamlProvider>>> {
    let a = account(&state, &auth, &account_id).await?;
    Ok(ApiJson(state.list_saml_providers(&a).await?))
}

/// Create a SAML provider.
#[utoipa::path(post, path = "/api/v1/directories/{directory_id}/cloud/accounts/{account_id}/saml-providers", tag = "cloud",
    request_body = NewSamlProvider,
    params(("directory_id" = String, Path, description = "Directory id"), ("account_id" = String, Path, description = "Account id")),
    security(("bearer" = [])),
    responses((status = 201, body = SamlProvider), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "conflict or reserved_resource")))]
async fn create_provider(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, account_id)): Path<(String, String)>,
    ApiJson(b): ApiJson<NewSamlProvider>,
) -> ApiResult<(StatusCode, ApiJson<SamlProvider>)> {
    let a = account(&state, &auth, &account_id).await?;
    refuse_reserved_name("SAML provider", &b.name)?;
    let p = state
        .create_saml_provider(&auth.actor, &a, &b.name, &b.spec)
        .await?;
    Ok((StatusCode::CREATED, ApiJson(p)))
}

async fn find_provider(state: &AppState, a: &CloudAccount, name: &str) -> ApiResult<SamlProvider> {
    state
        .list_saml_providers(a)
        .await?
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| ApiError::not_found("SAML provider"))
}

/// Get a SAML provider.
#[utoipa::path(get, path = "/api/v1/directories/{directory_id}/cloud/accounts/{account_id}/saml-providers/{provider_name}", tag = "cloud",
    params(("directory_id" = String, Path, description = "Directory id"), ("account_id" = String, Path, description = "Account id"), ("provider_name" = String, Path, description = "Provider name")),
    security(("bearer" = [])),
    responses((status = 200, body = SamlProvider), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_provider(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, account_id, name)): Path<(String, String, String)>,
) -> ApiResult<ApiJson<SamlProvider>> {
    let a = account(&state, &auth, &account_id).await?;
    Ok(ApiJson(find_provider(&state, &a, &name).await?))
}

/// Replace a SAML provider's trusted IdP (409 `reserved_resource` for Cloud SSO's provider).
#[utoipa::path(put, path = "/api/v1/directories/{directory_id}/cloud/accounts/{account_id}/saml-providers/{provider_name}", tag = "cloud",
    request_body = SamlProviderSpec,
    params(("directory_id" = String, Path, description = "Directory id"), ("account_id" = String, Path, description = "Account id"), ("provider_name" = String, Path, description = "Provider name")),
    security(("bearer" = [])),
    responses((status = 200, body = SamlProvider), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "reserved_resource")))]
async fn update_provider(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, account_id, name)): Path<(String, String, String)>,
    ApiJson(spec): ApiJson<SamlProviderSpec>,
) -> ApiResult<ApiJson<SamlProvider>> {
    let a = account(&state, &auth, &account_id).await?;
    let p = find_provider(&state, &a, &name).await?;
    if p.reserved {
        return Err(reserved("SAML provider", &p.name));
    }
    Ok(ApiJson(
        state
            .update_saml_provider(&auth.actor, &a, &name, &spec)
            .await?,
    ))
}

/// Delete a SAML provider (409 `reserved_resource` for Cloud SSO's provider).
#[utoipa::path(delete, path = "/api/v1/directories/{directory_id}/cloud/accounts/{account_id}/saml-providers/{provider_name}", tag = "cloud",
    params(("directory_id" = String, Path, description = "Directory id"), ("account_id" = String, Path, description = "Account id"), ("provider_name" = String, Path, description = "Provider name")),
    security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "reserved_resource")))]
async fn delete_provider(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, account_id, name)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let a = account(&state, &auth, &account_id).await?;
    let p = find_provider(&state, &a, &name).await?;
    if p.reserved {
        return Err(reserved("SAML provider", &p.name));
    }
    state.delete_saml_provider(&auth.actor, &a, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- access configurations ----

/// List the access configurations with their provisioning status.
#[utoipa::path(get, path = "/api/v1/directories/{directory_id}/access-configurations", tag = "access",
    params(("directory_id" = String, Path, description = "Directory id")),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<AccessConfigurationDetail>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_acs(
    State(state): State<AppState>,
    auth: AdminAuth,
) -> ApiResult<ApiJson<Vec<AccessConfigurationDetail>>> {
    Ok(ApiJson(
        state.list_access_configurations(&auth.directory.id).await?,
    ))
}

/// Create an access configuration (name, description, session duration 900–43200 s, relay
/// state, system policies, inline policy).
#[utoipa::path(post, path = "/api/v1/directories/{directory_id}/access-configurations", tag = "access",
    request_body = NewAccessConfiguration,
    params(("directory_id" = String, Path, description = "Directory id")),
    security(("bearer" = [])),
    responses((status = 201, body = AccessConfiguration), (status = 400, body = ErrorBody, description = "invalid_request (e.g. an invalid inline policy)"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_ac(
    State(state): State<AppState>,
    auth: AdminAuth,
    ApiJson(b): ApiJson<NewAccessConfiguration>,
) -> ApiResult<(StatusCode, ApiJson<AccessConfiguration>)> {
    let ac = state
        .create_access_configuration(&auth.actor, &auth.directory, &b)
        .await?;
    Ok((StatusCode::CREATED, ApiJson(ac)))
}

/// Get an access configuration with its provisionings (`ReprovisionRequired` after an edit).
#[utoipa::path(get, path = "/api/v1/directories/{directory_id}/access-configurations/{access_configuration_id}", tag = "access",
    params(("directory_id" = String, Path, description = "Directory id"), ("access_configuration_id" = String, Path, description = "Access configuration id (`ac-…`)")),
    security(("bearer" = [])),
    responses((status = 200, body = AccessConfigurationDetail), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_ac(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, id)): Path<(String, String)>,
) -> ApiResult<ApiJson<AccessConfigurationDetail>> {
    Ok(ApiJson(
        state.access_configuration(&auth.directory.id, &id).await?,
    ))
}

/// Edit an access configuration; every account it is provisioned to becomes
/// `ReprovisionRequired` until re-provisioned.
#[utoipa::path(patch, path = "/api/v1/directories/{directory_id}/access-configurations/{access_configuration_id}", tag = "access",
    request_body = AccessConfigurationPatch,
    params(("directory_id" = String, Path, description = "Directory id"), ("access_configuration_id" = String, Path, description = "Access configuration id")),
    security(("bearer" = [])),
    responses((status = 200, body = AccessConfigurationDetail), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_ac(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, id)): Path<(String, String)>,
    ApiJson(p): ApiJson<AccessConfigurationPatch>,
) -> ApiResult<ApiJson<AccessConfigurationDetail>> {
    Ok(ApiJson(
        state
            .update_access_configuration(&auth.actor, &auth.directory, &id, &p)
            .await?,
    ))
}

/// Delete an access configuration (409 while it is provisioned anywhere: de-provision first).
#[utoipa::path(delete, path = "/api/v1/directories/{directory_id}/access-configurations/{access_configuration_id}", tag = "access",
    params(("directory_id" = String, Path, description = "Directory id"), ("access_configuration_id" = String, Path, description = "Access configuration id")),
    security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "still provisioned or tasks in progress")))]
async fn delete_ac(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .delete_access_configuration(&auth.actor, &auth.directory, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Where an access configuration is provisioned, with each copy's status.
#[utoipa::path(get, path = "/api/v1/directories/{directory_id}/access-configurations/{access_configuration_id}/provisionings", tag = "access",
    params(("directory_id" = String, Path, description = "Directory id"), ("access_configuration_id" = String, Path, description = "Access configuration id")),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<Provisioning>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_provisionings(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, id)): Path<(String, String)>,
) -> ApiResult<ApiJson<Vec<Provisioning>>> {
    Ok(ApiJson(
        state
            .access_configuration(&auth.directory.id, &id)
            .await?
            .provisionings,
    ))
}

/// `{"target_id": account id}` (`TargetType` is always `RD-Account`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct ProvisionBody {
    /// The account.
    pub target_id: String,
    /// `RD-Account` (the only target type).
    #[serde(default)]
    pub target_type: Option<String>,
}

/// Provision (or re-provision) an access configuration on an account: an asynchronous task.
#[utoipa::path(post, path = "/api/v1/directories/{directory_id}/access-configurations/{access_configuration_id}/provisionings", tag = "access",
    request_body = ProvisionBody,
    params(("directory_id" = String, Path, description = "Directory id"), ("access_configuration_id" = String, Path, description = "Access configuration id")),
    security(("bearer" = [])),
    responses((status = 202, body = Task, description = "The task (poll GET …/tasks/{task_id})"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn provision(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, id)): Path<(String, String)>,
    ApiJson(b): ApiJson<ProvisionBody>,
) -> ApiResult<(StatusCode, ApiJson<Task>)> {
    if b.target_type.as_deref().is_some_and(|t| t != "RD-Account") {
        return Err(ApiError::bad_request("target_type must be RD-Account"));
    }
    let task = state
        .enqueue_provisioning(&auth.actor, &auth.directory, &id, &b.target_id, true)
        .await?;
    kick_tasks(&state);
    Ok((StatusCode::ACCEPTED, ApiJson(task)))
}

/// De-provision an access configuration from an account (removes its reserved role and inline
/// policy; fails while assignments remain): an asynchronous task.
#[utoipa::path(delete, path = "/api/v1/directories/{directory_id}/access-configurations/{access_configuration_id}/provisionings/{account_id}", tag = "access",
    params(("directory_id" = String, Path, description = "Directory id"), ("access_configuration_id" = String, Path, description = "Access configuration id"), ("account_id" = String, Path, description = "Account id")),
    security(("bearer" = [])),
    responses((status = 202, body = Task, description = "The task"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn deprovision(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, id, account_id)): Path<(String, String, String)>,
) -> ApiResult<(StatusCode, ApiJson<Task>)> {
    let task = state
        .enqueue_provisioning(&auth.actor, &auth.directory, &id, &account_id, false)
        .await?;
    kick_tasks(&state);
    Ok((StatusCode::ACCEPTED, ApiJson(task)))
}

// ---- assignments ----

/// Assignment filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AssignmentFilter {
    /// Only this access configuration.
    #[serde(default)]
    pub access_configuration_id: Option<String>,
    /// Only this account.
    #[serde(default)]
    pub account_id: Option<String>,
    /// Only this principal type.
    #[serde(default)]
    pub principal_type: Option<PrincipalType>,
    /// Only this principal.
    #[serde(default)]
    pub principal_id: Option<String>,
}

/// The assignment to delete (query parameters).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AssignmentKey {
    /// The access configuration.
    pub access_configuration_id: String,
    /// `RD-Account`.
    #[serde(default)]
    pub target_type: Option<String>,
    /// The account.
    pub target_id: String,
    /// User or Group.
    pub principal_type: PrincipalType,
    /// The user or group id.
    pub principal_id: String,
}

/// List access assignments.
#[utoipa::path(get, path = "/api/v1/directories/{directory_id}/access-assignments", tag = "access",
    params(("directory_id" = String, Path, description = "Directory id"), AssignmentFilter),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<Assignment>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_assignments(
    State(state): State<AppState>,
    auth: AdminAuth,
    ApiQuery(q): ApiQuery<AssignmentFilter>,
) -> ApiResult<ApiJson<Vec<Assignment>>> {
    let mut items = state
        .list_access_assignments(
            &auth.directory.id,
            q.access_configuration_id.as_deref(),
            q.account_id.as_deref(),
        )
        .await?;
    items.retain(|a| {
        q.principal_type.is_none_or(|t| a.principal_type == t)
            && q.principal_id
                .as_deref()
                .is_none_or(|p| a.principal_id == p)
    });
    Ok(ApiJson(items))
}

/// Assign a user or group an access configuration on an account (provisioning it there first if
/// needed): an asynchronous task.
#[utoipa::path(post, path = "/api/v1/directories/{directory_id}/access-assignments", tag = "access",
    request_body = AssignmentRequest,
    params(("directory_id" = String, Path, description = "Directory id")),
    security(("bearer" = [])),
    responses((status = 202, body = Task, description = "The task"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn create_assignment(
    State(state): State<AppState>,
    auth: AdminAuth,
    ApiJson(b): ApiJson<AssignmentRequest>,
) -> ApiResult<(StatusCode, ApiJson<Task>)> {
    let task = state
        .create_access_assignment(&auth.actor, &auth.directory, &b)
        .await?;
    kick_tasks(&state);
    Ok((StatusCode::ACCEPTED, ApiJson(task)))
}

/// Remove an access assignment (named by query parameters): an asynchronous task.
#[utoipa::path(delete, path = "/api/v1/directories/{directory_id}/access-assignments", tag = "access",
    params(("directory_id" = String, Path, description = "Directory id"), AssignmentKey),
    security(("bearer" = [])),
    responses((status = 202, body = Task, description = "The task"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_assignment(
    State(state): State<AppState>,
    auth: AdminAuth,
    ApiQuery(k): ApiQuery<AssignmentKey>,
) -> ApiResult<(StatusCode, ApiJson<Task>)> {
    let req = AssignmentRequest {
        access_configuration_id: k.access_configuration_id,
        target_type: k.target_type,
        target_id: k.target_id,
        principal_type: k.principal_type,
        principal_id: k.principal_id,
    };
    let task = state
        .delete_access_assignment(&auth.actor, &auth.directory, &req)
        .await?;
    kick_tasks(&state);
    Ok((StatusCode::ACCEPTED, ApiJson(task)))
}

// ---- tasks ----

/// Task filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskFilter {
    /// Only tasks with this status.
    #[serde(default)]
    pub status: Option<TaskStatus>,
    /// Only tasks of this type.
    #[serde(default)]
    pub task_type: Option<TaskType>,
    /// Only tasks concerning this access configuration.
    #[serde(default)]
    pub access_configuration_id: Option<String>,
}

/// List the latest tasks (`ListTasks`, newest first).
#[utoipa::path(get, path = "/api/v1/directories/{directory_id}/tasks", tag = "access",
    params(("directory_id" = String, Path, description = "Directory id"), TaskFilter),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<Task>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_tasks(
    State(state): State<AppState>,
    auth: AdminAuth,
    ApiQuery(q): ApiQuery<TaskFilter>,
) -> ApiResult<ApiJson<Vec<Task>>> {
    let mut tasks = state.list_tasks(&auth.directory.id).await?;
    tasks.retain(|t| {
        q.status.is_none_or(|s| t.status == s)
            && q.task_type.is_none_or(|y| t.task_type == y)
            && q.access_configuration_id
                .as_deref()
                .is_none_or(|a| t.access_configuration_id.as_deref() == Some(a))
    });
    Ok(ApiJson(tasks))
}

/// Get a task (`GetTask`): `InProgress`, `Success` or `Failed` with `failure_reason`.
#[utoipa::path(get, path = "/api/v1/directories/{directory_id}/tasks/{task_id}", tag = "access",
    params(("directory_id" = String, Path, description = "Directory id"), ("task_id" = String, Path, description = "Task id (`t-…`)")),
    security(("bearer" = [])),
    responses((status = 200, body = Task), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_task(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, id)): Path<(String, String)>,
) -> ApiResult<ApiJson<Task>> {
    Ok(ApiJson(state.task(&auth.directory.id, &id).await?))
}

// ---- RAM user provisioning ----

/// A created RAM user provisioning and the task that creates its RAM users.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedUserProvisioning {
    /// The provisioning.
    pub user_provisioning: UserProvisioning,
    /// The task.
    pub task: Task,
}

/// List the RAM user provisionings.
#[utoipa::path(get, path = "/api/v1/directories/{directory_id}/user-provisionings", tag = "access",
    params(("directory_id" = String, Path, description = "Directory id")),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<UserProvisioning>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_user_provisionings(
    State(state): State<AppState>,
    auth: AdminAuth,
) -> ApiResult<ApiJson<Vec<UserProvisioning>>> {
    Ok(ApiJson(
        state.list_user_provisionings(&auth.directory.id).await?,
    ))
}

/// Provision a user (or every member of a group) as RAM users of an account
/// (`DuplicationStrategy` KeepBoth → `{name}_sso` | TakeOver; `DeletionStrategy` Delete | Keep):
/// an asynchronous task.
#[utoipa::path(post, path = "/api/v1/directories/{directory_id}/user-provisionings", tag = "access",
    request_body = NewUserProvisioning,
    params(("directory_id" = String, Path, description = "Directory id")),
    security(("bearer" = [])),
    responses((status = 202, body = CreatedUserProvisioning), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_user_provisioning(
    State(state): State<AppState>,
    auth: AdminAuth,
    ApiJson(b): ApiJson<NewUserProvisioning>,
) -> ApiResult<(StatusCode, ApiJson<CreatedUserProvisioning>)> {
    let (user_provisioning, task) = state
        .create_user_provisioning(&auth.actor, &auth.directory, &b)
        .await?;
    kick_tasks(&state);
    Ok((
        StatusCode::ACCEPTED,
        ApiJson(CreatedUserProvisioning {
            user_provisioning,
            task,
        }),
    ))
}

/// Get a RAM user provisioning.
#[utoipa::path(get, path = "/api/v1/directories/{directory_id}/user-provisionings/{user_provisioning_id}", tag = "access",
    params(("directory_id" = String, Path, description = "Directory id"), ("user_provisioning_id" = String, Path, description = "Provisioning id (`up-…`)")),
    security(("bearer" = [])),
    responses((status = 200, body = UserProvisioning), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_user_provisioning(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, id)): Path<(String, String)>,
) -> ApiResult<ApiJson<UserProvisioning>> {
    Ok(ApiJson(
        state.user_provisioning(&auth.directory.id, &id).await?,
    ))
}

/// Delete a RAM user provisioning (its RAM users are deleted or kept per its
/// `DeletionStrategy`): an asynchronous task.
#[utoipa::path(delete, path = "/api/v1/directories/{directory_id}/user-provisionings/{user_provisioning_id}", tag = "access",
    params(("directory_id" = String, Path, description = "Directory id"), ("user_provisioning_id" = String, Path, description = "Provisioning id")),
    security(("bearer" = [])),
    responses((status = 202, body = Task, description = "The task"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_user_provisioning(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, id)): Path<(String, String)>,
) -> ApiResult<(StatusCode, ApiJson<Task>)> {
    let task = state
        .delete_user_provisioning(&auth.actor, &auth.directory, &id)
        .await?;
    kick_tasks(&state);
    Ok((StatusCode::ACCEPTED, ApiJson(task)))
}

// ---- RAM user provisioning events ----

/// List RAM user provisioning events (`ListUserProvisioningEvents`, newest first): the
/// `StartProvisioning` / `DeleteProvisioning` tasks of the provisionings and the `AddUserToGroup` /
/// `RemoveUserFromGroup` events enqueued with every membership change of a provisioned group.
#[utoipa::path(get, path = "/api/v1/directories/{directory_id}/user-provisioning-events", tag = "access",
    params(("directory_id" = String, Path, description = "Directory id"), UserProvisioningEventFilter),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<UserProvisioningEvent>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_user_provisioning_events(
    State(state): State<AppState>,
    auth: AdminAuth,
    ApiQuery(q): ApiQuery<UserProvisioningEventFilter>,
) -> ApiResult<ApiJson<Vec<UserProvisioningEvent>>> {
    Ok(ApiJson(
        state
            .list_user_provisioning_events(&auth.directory.id, &q)
            .await?,
    ))
}

/// Get a RAM user provisioning event: `InProgress`, `Success` (with `outcome`) or `Failed` (with
/// `failure_reason`).
#[utoipa::path(get, path = "/api/v1/directories/{directory_id}/user-provisioning-events/{event_id}", tag = "access",
    params(("directory_id" = String, Path, description = "Directory id"), ("event_id" = String, Path, description = "Event id (`t-…`)")),
    security(("bearer" = [])),
    responses((status = 200, body = UserProvisioningEvent), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_user_provisioning_event(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, id)): Path<(String, String)>,
) -> ApiResult<ApiJson<UserProvisioningEvent>> {
    Ok(ApiJson(
        state
            .user_provisioning_event(&auth.directory.id, &id)
            .await?,
    ))
}

/// Retry a failed RAM user provisioning event (`RetryUserProvisioningEvent`): it is queued again
/// and runs against the current state (409 unless it failed). The body is `{}` or overrides the
/// duplication strategy for this event (`{"duplication_strategy": "KeepBoth"}`).
#[utoipa::path(post, path = "/api/v1/directories/{directory_id}/user-provisioning-events/{event_id}/retry", tag = "access",
    request_body = RetryUserProvisioningEvent,
    params(("directory_id" = String, Path, description = "Directory id"), ("event_id" = String, Path, description = "Event id (`t-…`)")),
    security(("bearer" = [])),
    responses((status = 202, body = UserProvisioningEvent, description = "Queued again"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "the event has not failed")))]
async fn retry_user_provisioning_event(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, id)): Path<(String, String)>,
    ApiJson(b): ApiJson<RetryUserProvisioningEvent>,
) -> ApiResult<(StatusCode, ApiJson<UserProvisioningEvent>)> {
    let event = state
        .retry_user_provisioning_event(&auth.actor, &auth.directory, &id, &b)
        .await?;
    kick_tasks(&state);
    Ok((StatusCode::ACCEPTED, ApiJson(event)))
}
