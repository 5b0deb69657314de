//! Accounts API: users, organizational units, groups, memberships and CSV import.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{Method, StatusCode};
use axum::routing::post;

use super::api_types::*;
use super::auth::AdminAuth;
use super::{
    ApiError, ApiJson, ApiQuery, ApiResult, ApiRoutes, AppState, ErrorBody, payload_too_large,
};
use crate::account_import::{ImportReport, RowOutcome, RowReport};
use crate::group::{Group, GroupUpdate, NewGroup};
use crate::org_unit::{NewOrgUnit, OrgUnit, OrgUnitUpdate};
use crate::password::Password;
use crate::user::{NewUser, Page, Paged, User, UserFilter, UserStatus, UserUpdate};

/// Routes of this module.
pub fn routes() -> ApiRoutes {
    let base = "/api/v1/instances/{iid}";
    ApiRoutes::new()
        .get(&format!("{base}/users"), list_users)
        .post(&format!("{base}/users"), create_user)
        .route(
            Method::POST,
            &format!("{base}/users:import"),
            post(import_users).layer(DefaultBodyLimit::disable()),
        )
        .get(&format!("{base}/users/{{uid}}"), get_user)
        .patch(&format!("{base}/users/{{uid}}"), update_user)
        .delete(&format!("{base}/users/{{uid}}"), delete_user)
        .post(&format!("{base}/users/{{uid}}/password"), set_password)
        .get(
            &format!("{base}/users/{{uid}}/org-units"),
            list_user_org_units,
        )
        .post(
            &format!("{base}/users/{{uid}}/org-units"),
            add_user_org_unit,
        )
        .delete(
            &format!("{base}/users/{{uid}}/org-units/{{ouid}}"),
            remove_user_org_unit,
        )
        .get(&format!("{base}/users/{{uid}}/groups"), list_user_groups)
        .get(&format!("{base}/org-units"), list_org_units)
        .post(&format!("{base}/org-units"), create_org_unit)
        .get(&format!("{base}/org-units/{{ouid}}"), get_org_unit)
        .patch(&format!("{base}/org-units/{{ouid}}"), update_org_unit)
        .delete(&format!("{base}/org-units/{{ouid}}"), delete_org_unit)
        .get(
            &format!("{base}/org-units/{{ouid}}/descendants"),
            org_unit_descendants,
        )
        .get(&format!("{base}/groups"), list_groups)
        .post(&format!("{base}/groups"), create_group)
        .get(&format!("{base}/groups/{{gid}}"), get_group)
        .patch(&format!("{base}/groups/{{gid}}"), update_group)
        .delete(&format!("{base}/groups/{{gid}}"), delete_group)
        .get(&format!("{base}/groups/{{gid}}/members"), list_members)
        .post(&format!("{base}/groups/{{gid}}/members"), add_member)
        .delete(
            &format!("{base}/groups/{{gid}}/members/{{uid}}"),
            remove_member,
        )
}

/// OpenAPI paths of this module.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(
        list_users, create_user, import_users, get_user, update_user, delete_user, set_password,
        list_user_org_units, add_user_org_unit, remove_user_org_unit, list_user_groups,
        list_org_units, create_org_unit, get_org_unit, update_org_unit, delete_org_unit, org_unit_descendants,
        list_groups, create_group, get_group, update_group, delete_group, list_members, add_member, remove_member
    ),
    components(schemas(
        User, UserStatus, Paged<User>, OrgUnit, Group, ImportReport, RowReport, RowOutcome,
        CreateUserRequest, UpdateUserRequest, SetPasswordRequest, AddOrgUnitRequest,
        CreateOrgUnitRequest, UpdateOrgUnitRequest, CreateGroupRequest, UpdateGroupRequest, AddMemberRequest
    ))
)]
pub struct ApiDoc;

// ---- users ----

/// List users (filters and paging).
#[utoipa::path(get, path = "/api/v1/instances/{iid}/users", tag = "users",
    params(("iid" = String, Path, description = "Instance id"), ListUsersParams),
    responses((status = 200, body = Paged<User>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_users(
    State(s): State<AppState>,
    auth: AdminAuth,
    ApiQuery(p): ApiQuery<ListUsersParams>,
) -> ApiResult<ApiJson<Paged<User>>> {
    let filter = UserFilter {
        query: p.q,
        status: p.status,
        org_unit_id: p.org_unit_id,
        include_descendants: p.include_descendants.unwrap_or(false),
        group_id: p.group_id,
    };
    let page = Page::new(p.offset, p.limit);
    Ok(ApiJson(
        s.list_users(&auth.instance.id, &filter, page).await?,
    ))
}

/// Create a user.
#[utoipa::path(post, path = "/api/v1/instances/{iid}/users", tag = "users", request_body = CreateUserRequest,
    params(("iid" = String, Path, description = "Instance id")),
    responses((status = 201, body = User), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_user(
    State(s): State<AppState>,
    auth: AdminAuth,
    ApiJson(req): ApiJson<CreateUserRequest>,
) -> ApiResult<(StatusCode, ApiJson<User>)> {
    let new = NewUser {
        username: Some(req.username),
        display_name: req.display_name.unwrap_or_default(),
        email: req.email,
        phone: req.phone,
        status: req.status.unwrap_or_default(),
        is_admin: req.is_admin.unwrap_or(false),
        custom_fields: req.custom_fields.unwrap_or_default(),
        external_id: req.external_id.map(|x| x.0),
    };
    let user = s
        .create_user(
            &auth.actor,
            &auth.instance.id,
            new,
            req.password.map(Password::new),
        )
        .await?;
    Ok((StatusCode::CREATED, ApiJson(user)))
}

/// Import users from CSV (`text/csv` body; header `username,display_name,email,phone,password,org_unit,groups`).
#[utoipa::path(post, path = "/api/v1/instances/{iid}/users:import", tag = "users",
    request_body(content = String, content_type = "text/csv"),
    params(("iid" = String, Path, description = "Instance id")),
    responses((status = 200, body = ImportReport), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody)))]
async fn import_users(
    State(s): State<AppState>,
    auth: AdminAuth,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<ApiJson<ImportReport>> {
    let body = body.map_err(|_| payload_too_large())?;
    if body.len() > s.config.max_import_bytes {
        return Err(payload_too_large());
    }
    match s
        .import_accounts(&auth.actor, &auth.instance.id, &body)
        .await?
    {
        Ok(report) => Ok(ApiJson(report)),
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_csv",
            e.to_string(),
        )),
    }
}

/// Get a user.
#[utoipa::path(get, path = "/api/v1/instances/{iid}/users/{uid}", tag = "users",
    params(("iid" = String, Path, description = "Instance id"), ("uid" = String, Path, description = "User id")),
    responses((status = 200, body = User), (status = 404, body = ErrorBody)))]
async fn get_user(
    State(s): State<AppState>,
    auth: AdminAuth,
    Path((_iid, uid)): Path<(String, String)>,
) -> ApiResult<ApiJson<User>> {
    Ok(ApiJson(s.get_user(&auth.instance.id, &uid).await?))
}

/// Update a user (absent fields stay; `null` clears optional ones).
#[utoipa::path(patch, path = "/api/v1/instances/{iid}/users/{uid}", tag = "users", request_body = UpdateUserRequest,
    params(("iid" = String, Path, description = "Instance id"), ("uid" = String, Path, description = "User id")),
    responses((status = 200, body = User), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn update_user(
    State(s): State<AppState>,
    auth: AdminAuth,
    Path((_iid, uid)): Path<(String, String)>,
    ApiJson(req): ApiJson<UpdateUserRequest>,
) -> ApiResult<ApiJson<User>> {
    let update = UserUpdate {
        username: req.username,
        display_name: req.display_name,
        email: req.email,
        phone: req.phone,
        status: req.status,
        is_admin: req.is_admin,
        custom_fields: req.custom_fields,
        external_id: req.external_id.map(|x| x.map(|x| x.0)),
    };
    Ok(ApiJson(
        s.update_user(&auth.actor, &auth.instance.id, &uid, update)
            .await?,
    ))
}

/// Delete a user.
#[utoipa::path(delete, path = "/api/v1/instances/{iid}/users/{uid}", tag = "users",
    params(("iid" = String, Path, description = "Instance id"), ("uid" = String, Path, description = "User id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_user(
    State(s): State<AppState>,
    auth: AdminAuth,
    Path((_iid, uid)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.delete_user(&auth.actor, &auth.instance.id, &uid).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Set a user's password (ends the user's sessions).
#[utoipa::path(post, path = "/api/v1/instances/{iid}/users/{uid}/password", tag = "users", request_body = SetPasswordRequest,
    params(("iid" = String, Path, description = "Instance id"), ("uid" = String, Path, description = "User id")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn set_password(
    State(s): State<AppState>,
    auth: AdminAuth,
    Path((_iid, uid)): Path<(String, String)>,
    ApiJson(req): ApiJson<SetPasswordRequest>,
) -> ApiResult<StatusCode> {
    s.admin_set_password(
        &auth.actor,
        &auth.instance.id,
        &uid,
        Password::new(req.password),
        req.must_change.unwrap_or(true),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The organizational units of a user.
#[utoipa::path(get, path = "/api/v1/instances/{iid}/users/{uid}/org-units", tag = "users",
    params(("iid" = String, Path, description = "Instance id"), ("uid" = String, Path, description = "User id")),
    responses((status = 200, body = Vec<OrgUnit>), (status = 404, body = ErrorBody)))]
async fn list_user_org_units(
    State(s): State<AppState>,
    auth: AdminAuth,
    Path((_iid, uid)): Path<(String, String)>,
) -> ApiResult<ApiJson<Vec<OrgUnit>>> {
    Ok(ApiJson(s.user_org_units(&auth.instance.id, &uid).await?))
}

/// Add a user to an organizational unit (optionally as primary unit).
#[utoipa::path(post, path = "/api/v1/instances/{iid}/users/{uid}/org-units", tag = "users", request_body = AddOrgUnitRequest,
    params(("iid" = String, Path, description = "Instance id"), ("uid" = String, Path, description = "User id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn add_user_org_unit(
    State(s): State<AppState>,
    auth: AdminAuth,
    Path((_iid, uid)): Path<(String, String)>,
    ApiJson(req): ApiJson<AddOrgUnitRequest>,
) -> ApiResult<StatusCode> {
    s.add_user_to_org_unit(
        &auth.actor,
        &auth.instance.id,
        &uid,
        &req.org_unit_id,
        req.primary,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a user from an organizational unit.
#[utoipa::path(delete, path = "/api/v1/instances/{iid}/users/{uid}/org-units/{ouid}", tag = "users",
    params(("iid" = String, Path, description = "Instance id"), ("uid" = String, Path, description = "User id"),
           ("ouid" = String, Path, description = "Unit id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn remove_user_org_unit(
    State(s): State<AppState>,
    auth: AdminAuth,
    Path((_iid, uid, ouid)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    s.remove_user_from_org_unit(&auth.actor, &auth.instance.id, &uid, &ouid)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The groups of a user.
#[utoipa::path(get, path = "/api/v1/instances/{iid}/users/{uid}/groups", tag = "users",
    params(("iid" = String, Path, description = "Instance id"), ("uid" = String, Path, description = "User id")),
    responses((status = 200, body = Vec<Group>), (status = 404, body = ErrorBody)))]
async fn list_user_groups(
    State(s): State<AppState>,
    auth: AdminAuth,
    Path((_iid, uid)): Path<(String, String)>,
) -> ApiResult<ApiJson<Vec<Group>>> {
    Ok(ApiJson(s.user_groups(&auth.instance.id, &uid).await?))
}

// ---- organizational units ----

/// List organizational units (all, roots with `parent=root`, or children of `parent`).
#[utoipa::path(get, path = "/api/v1/instances/{iid}/org-units", tag = "org-units",
    params(("iid" = String, Path, description = "Instance id"), ListOrgUnitsParams),
    responses((status = 200, body = Vec<OrgUnit>), (status = 404, body = ErrorBody)))]
async fn list_org_units(
    State(s): State<AppState>,
    auth: AdminAuth,
    ApiQuery(p): ApiQuery<ListOrgUnitsParams>,
) -> ApiResult<ApiJson<Vec<OrgUnit>>> {
    let iid = &auth.instance.id;
    let units = match p.parent.as_deref() {
        None => s.list_org_units(iid).await?,
        Some("root") => s.org_unit_children(iid, None).await?,
        Some(parent) => s.org_unit_children(iid, Some(parent)).await?,
    };
    Ok(ApiJson(units))
}

/// Create an organizational unit.
#[utoipa::path(post, path = "/api/v1/instances/{iid}/org-units", tag = "org-units", request_body = CreateOrgUnitRequest,
    params(("iid" = String, Path, description = "Instance id")),
    responses((status = 201, body = OrgUnit), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_org_unit(
    State(s): State<AppState>,
    auth: AdminAuth,
    ApiJson(req): ApiJson<CreateOrgUnitRequest>,
) -> ApiResult<(StatusCode, ApiJson<OrgUnit>)> {
    let new = NewOrgUnit {
        parent_id: req.parent_id,
        name: req.name,
        description: req.description.unwrap_or_default().0,
        external_id: req.external_id.map(|x| x.0),
    };
    let ou = s
        .create_org_unit(&auth.actor, &auth.instance.id, new)
        .await?;
    Ok((StatusCode::CREATED, ApiJson(ou)))
}

/// Get an organizational unit.
#[utoipa::path(get, path = "/api/v1/instances/{iid}/org-units/{ouid}", tag = "org-units",
    params(("iid" = String, Path, description = "Instance id"), ("ouid" = String, Path, description = "Unit id")),
    responses((status = 200, body = OrgUnit), (status = 404, body = ErrorBody)))]
async fn get_org_unit(
    State(s): State<AppState>,
    auth: AdminAuth,
    Path((_iid, ouid)): Path<(String, String)>,
) -> ApiResult<ApiJson<OrgUnit>> {
    Ok(ApiJson(s.get_org_unit(&auth.instance.id, &ouid).await?))
}

/// Rename, describe or move an organizational unit.
#[utoipa::path(patch, path = "/api/v1/instances/{iid}/org-units/{ouid}", tag = "org-units", request_body = UpdateOrgUnitRequest,
    params(("iid" = String, Path, description = "Instance id"), ("ouid" = String, Path, description = "Unit id")),
    responses((status = 200, body = OrgUnit), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn update_org_unit(
    State(s): State<AppState>,
    auth: AdminAuth,
    Path((_iid, ouid)): Path<(String, String)>,
    ApiJson(req): ApiJson<UpdateOrgUnitRequest>,
) -> ApiResult<ApiJson<OrgUnit>> {
    let update = OrgUnitUpdate {
        name: req.name,
        description: req.description.map(|d| d.0),
        external_id: req.external_id.map(|x| x.map(|x| x.0)),
        parent_id: req.parent_id,
    };
    Ok(ApiJson(
        s.update_org_unit(&auth.actor, &auth.instance.id, &ouid, update)
            .await?,
    ))
}

/// Delete an organizational unit (only if it has no children and no members).
#[utoipa::path(delete, path = "/api/v1/instances/{iid}/org-units/{ouid}", tag = "org-units",
    params(("iid" = String, Path, description = "Instance id"), ("ouid" = String, Path, description = "Unit id")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delete_org_unit(
    State(s): State<AppState>,
    auth: AdminAuth,
    Path((_iid, ouid)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.delete_org_unit(&auth.actor, &auth.instance.id, &ouid)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An organizational unit and every unit below it.
#[utoipa::path(get, path = "/api/v1/instances/{iid}/org-units/{ouid}/descendants", tag = "org-units",
    params(("iid" = String, Path, description = "Instance id"), ("ouid" = String, Path, description = "Unit id")),
    responses((status = 200, body = Vec<OrgUnit>), (status = 404, body = ErrorBody)))]
async fn org_unit_descendants(
    State(s): State<AppState>,
    auth: AdminAuth,
    Path((_iid, ouid)): Path<(String, String)>,
) -> ApiResult<ApiJson<Vec<OrgUnit>>> {
    Ok(ApiJson(
        s.org_unit_descendants(&auth.instance.id, &ouid).await?,
    ))
}

// ---- groups ----

/// List groups.
#[utoipa::path(get, path = "/api/v1/instances/{iid}/groups", tag = "groups",
    params(("iid" = String, Path, description = "Instance id")),
    responses((status = 200, body = Vec<Group>), (status = 404, body = ErrorBody)))]
async fn list_groups(State(s): State<AppState>, auth: AdminAuth) -> ApiResult<ApiJson<Vec<Group>>> {
    Ok(ApiJson(s.list_groups(&auth.instance.id).await?))
}

/// Create a group.
#[utoipa::path(post, path = "/api/v1/instances/{iid}/groups", tag = "groups", request_body = CreateGroupRequest,
    params(("iid" = String, Path, description = "Instance id")),
    responses((status = 201, body = Group), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_group(
    State(s): State<AppState>,
    auth: AdminAuth,
    ApiJson(req): ApiJson<CreateGroupRequest>,
) -> ApiResult<(StatusCode, ApiJson<Group>)> {
    let new = NewGroup {
        name: req.name,
        description: req.description.unwrap_or_default().0,
        external_id: req.external_id.map(|x| x.0),
    };
    let g = s.create_group(&auth.actor, &auth.instance.id, new).await?;
    Ok((StatusCode::CREATED, ApiJson(g)))
}

/// Get a group.
#[utoipa::path(get, path = "/api/v1/instances/{iid}/groups/{gid}", tag = "groups",
    params(("iid" = String, Path, description = "Instance id"), ("gid" = String, Path, description = "Group id")),
    responses((status = 200, body = Group), (status = 404, body = ErrorBody)))]
async fn get_group(
    State(s): State<AppState>,
    auth: AdminAuth,
    Path((_iid, gid)): Path<(String, String)>,
) -> ApiResult<ApiJson<Group>> {
    Ok(ApiJson(s.get_group(&auth.instance.id, &gid).await?))
}

/// Update a group.
#[utoipa::path(patch, path = "/api/v1/instances/{iid}/groups/{gid}", tag = "groups", request_body = UpdateGroupRequest,
    params(("iid" = String, Path, description = "Instance id"), ("gid" = String, Path, description = "Group id")),
    responses((status = 200, body = Group), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn update_group(
    State(s): State<AppState>,
    auth: AdminAuth,
    Path((_iid, gid)): Path<(String, String)>,
    ApiJson(req): ApiJson<UpdateGroupRequest>,
) -> ApiResult<ApiJson<Group>> {
    let update = GroupUpdate {
        name: req.name,
        description: req.description.map(|d| d.0),
        external_id: req.external_id.map(|x| x.map(|x| x.0)),
    };
    Ok(ApiJson(
        s.update_group(&auth.actor, &auth.instance.id, &gid, update)
            .await?,
    ))
}

/// Delete a group.
#[utoipa::path(delete, path = "/api/v1/instances/{iid}/groups/{gid}", tag = "groups",
    params(("iid" = String, Path, description = "Instance id"), ("gid" = String, Path, description = "Group id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_group(
    State(s): State<AppState>,
    auth: AdminAuth,
    Path((_iid, gid)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.delete_group(&auth.actor, &auth.instance.id, &gid).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Members of a group.
#[utoipa::path(get, path = "/api/v1/instances/{iid}/groups/{gid}/members", tag = "groups",
    params(("iid" = String, Path, description = "Instance id"), ("gid" = String, Path, description = "Group id"), PageParams),
    responses((status = 200, body = Paged<User>), (status = 404, body = ErrorBody)))]
async fn list_members(
    State(s): State<AppState>,
    auth: AdminAuth,
    Path((_iid, gid)): Path<(String, String)>,
    ApiQuery(p): ApiQuery<PageParams>,
) -> ApiResult<ApiJson<Paged<User>>> {
    Ok(ApiJson(
        s.group_members(&auth.instance.id, &gid, Page::new(p.offset, p.limit))
            .await?,
    ))
}

/// Add a member to a group.
#[utoipa::path(post, path = "/api/v1/instances/{iid}/groups/{gid}/members", tag = "groups", request_body = AddMemberRequest,
    params(("iid" = String, Path, description = "Instance id"), ("gid" = String, Path, description = "Group id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn add_member(
    State(s): State<AppState>,
    auth: AdminAuth,
    Path((_iid, gid)): Path<(String, String)>,
    ApiJson(req): ApiJson<AddMemberRequest>,
) -> ApiResult<StatusCode> {
    s.add_group_member(&auth.actor, &auth.instance.id, &gid, &req.user_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a member from a group.
#[utoipa::path(delete, path = "/api/v1/instances/{iid}/groups/{gid}/members/{uid}", tag = "groups",
    params(("iid" = String, Path, description = "Instance id"), ("gid" = String, Path, description = "Group id"),
           ("uid" = String, Path, description = "User id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn remove_member(
    State(s): State<AppState>,
    auth: AdminAuth,
    Path((_iid, gid, uid)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    s.remove_group_member(&auth.actor, &auth.instance.id, &gid, &uid)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
