//! `/api/v1/instances` (platform), instance settings and API tokens.

use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::api_types::{CreateApiTokenRequest, CreateInstanceRequest, UpdateInstanceRequest};
use super::auth::{AdminAuth, PlatformAuth};
use super::{ApiError, ApiJson, ApiResult, ApiRoutes, AppState, ErrorBody};
use crate::api_token::{ApiToken, CreatedApiToken};
use crate::instance::{Instance, InstanceSettings};

/// Routes of this module.
pub fn routes() -> ApiRoutes {
    ApiRoutes::new()
        .get("/api/v1/instances", list_instances)
        .post("/api/v1/instances", create_instance)
        .get("/api/v1/instances/{iid}", get_instance)
        .patch("/api/v1/instances/{iid}", update_instance)
        .delete("/api/v1/instances/{iid}", delete_instance)
        .get("/api/v1/instances/{iid}/settings", get_settings)
        .put("/api/v1/instances/{iid}/settings", put_settings)
        .get("/api/v1/instances/{iid}/api-tokens", list_tokens)
        .post("/api/v1/instances/{iid}/api-tokens", create_token)
        .delete("/api/v1/instances/{iid}/api-tokens/{tid}", delete_token)
        .get("/api/v1/api-tokens", list_platform_tokens)
        .post("/api/v1/api-tokens", create_platform_token)
        .delete("/api/v1/api-tokens/{tid}", delete_platform_token)
}

/// OpenAPI paths of this module.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(
        list_instances,
        create_instance,
        get_instance,
        update_instance,
        delete_instance,
        get_settings,
        put_settings,
        list_tokens,
        create_token,
        delete_token,
        list_platform_tokens,
        create_platform_token,
        delete_platform_token
    ),
    components(schemas(
        Instance,
        InstanceSettings,
        CreateInstanceRequest,
        UpdateInstanceRequest,
        ApiToken,
        CreatedApiToken,
        CreateApiTokenRequest
    ))
)]
pub struct ApiDoc;

/// List all instances (platform token).
#[utoipa::path(get, path = "/api/v1/instances", tag = "instances",
    responses((status = 200, body = Vec<Instance>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_instances(
    State(s): State<AppState>,
    _auth: PlatformAuth,
) -> ApiResult<ApiJson<Vec<Instance>>> {
    Ok(ApiJson(s.list_instances().await?))
}

/// Create an instance (platform token).
#[utoipa::path(post, path = "/api/v1/instances", tag = "instances", request_body = CreateInstanceRequest,
    responses((status = 201, body = Instance), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn create_instance(
    State(s): State<AppState>,
    auth: PlatformAuth,
    ApiJson(req): ApiJson<CreateInstanceRequest>,
) -> ApiResult<(StatusCode, ApiJson<Instance>)> {
    let i = s
        .create_instance(&auth.actor, req.name, req.base_url, req.settings)
        .await?;
    Ok((StatusCode::CREATED, ApiJson(i)))
}

/// Get an instance.
#[utoipa::path(get, path = "/api/v1/instances/{iid}", tag = "instances",
    params(("iid" = String, Path, description = "Instance id")),
    responses((status = 200, body = Instance), (status = 404, body = ErrorBody)))]
async fn get_instance(auth: AdminAuth) -> ApiResult<ApiJson<Instance>> {
    Ok(ApiJson(auth.instance))
}

/// Rename an instance or change its base URL.
#[utoipa::path(patch, path = "/api/v1/instances/{iid}", tag = "instances", request_body = UpdateInstanceRequest,
    params(("iid" = String, Path, description = "Instance id")),
    responses((status = 200, body = Instance), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_instance(
    State(s): State<AppState>,
    auth: AdminAuth,
    ApiJson(req): ApiJson<UpdateInstanceRequest>,
) -> ApiResult<ApiJson<Instance>> {
    let i = s
        .update_instance(&auth.actor, &auth.instance.id, req.name, req.base_url)
        .await?;
    Ok(ApiJson(i))
}

/// Delete an instance and everything in it (platform token).
#[utoipa::path(delete, path = "/api/v1/instances/{iid}", tag = "instances",
    params(("iid" = String, Path, description = "Instance id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_instance(
    State(s): State<AppState>,
    auth: PlatformAuth,
    Path(iid): Path<String>,
) -> ApiResult<StatusCode> {
    s.delete_instance(&auth.actor, &iid).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Get the settings of an instance.
#[utoipa::path(get, path = "/api/v1/instances/{iid}/settings", tag = "instances",
    params(("iid" = String, Path, description = "Instance id")),
    responses((status = 200, body = InstanceSettings), (status = 404, body = ErrorBody)))]
async fn get_settings(auth: AdminAuth) -> ApiResult<ApiJson<InstanceSettings>> {
    Ok(ApiJson(auth.instance.settings))
}

/// Replace the settings of an instance (absent fields take their defaults).
#[utoipa::path(put, path = "/api/v1/instances/{iid}/settings", tag = "instances", request_body = InstanceSettings,
    params(("iid" = String, Path, description = "Instance id")),
    responses((status = 200, body = InstanceSettings), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn put_settings(
    State(s): State<AppState>,
    auth: AdminAuth,
    ApiJson(settings): ApiJson<InstanceSettings>,
) -> ApiResult<ApiJson<InstanceSettings>> {
    Ok(ApiJson(
        s.update_settings(&auth.actor, &auth.instance.id, settings)
            .await?,
    ))
}

/// List the API tokens of an instance.
#[utoipa::path(get, path = "/api/v1/instances/{iid}/api-tokens", tag = "api-tokens",
    params(("iid" = String, Path, description = "Instance id")),
    responses((status = 200, body = Vec<ApiToken>), (status = 404, body = ErrorBody)))]
async fn list_tokens(
    State(s): State<AppState>,
    auth: AdminAuth,
) -> ApiResult<ApiJson<Vec<ApiToken>>> {
    Ok(ApiJson(s.list_api_tokens(Some(&auth.instance.id)).await?))
}

/// Create an API token of an instance; the secret is in the response only.
#[utoipa::path(post, path = "/api/v1/instances/{iid}/api-tokens", tag = "api-tokens", request_body = CreateApiTokenRequest,
    params(("iid" = String, Path, description = "Instance id")),
    responses((status = 201, body = CreatedApiToken), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn create_token(
    State(s): State<AppState>,
    auth: AdminAuth,
    ApiJson(req): ApiJson<CreateApiTokenRequest>,
) -> ApiResult<(StatusCode, ApiJson<CreatedApiToken>)> {
    let t = s
        .create_api_token(
            &auth.actor,
            Some(&auth.instance.id),
            req.name,
            req.expires_at,
        )
        .await?;
    Ok((StatusCode::CREATED, ApiJson(t)))
}

/// Delete an API token of an instance.
#[utoipa::path(delete, path = "/api/v1/instances/{iid}/api-tokens/{tid}", tag = "api-tokens",
    params(("iid" = String, Path, description = "Instance id"), ("tid" = String, Path, description = "Token id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_token(
    State(s): State<AppState>,
    auth: AdminAuth,
    Path((_iid, tid)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.delete_api_token(&auth.actor, Some(&auth.instance.id), &tid)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List the platform API tokens.
#[utoipa::path(get, path = "/api/v1/api-tokens", tag = "api-tokens",
    responses((status = 200, body = Vec<ApiToken>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_platform_tokens(
    State(s): State<AppState>,
    _auth: PlatformAuth,
) -> ApiResult<ApiJson<Vec<ApiToken>>> {
    Ok(ApiJson(s.list_api_tokens(None).await?))
}

/// Create a platform API token; the secret is in the response only.
#[utoipa::path(post, path = "/api/v1/api-tokens", tag = "api-tokens", request_body = CreateApiTokenRequest,
    responses((status = 201, body = CreatedApiToken), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn create_platform_token(
    State(s): State<AppState>,
    auth: PlatformAuth,
    ApiJson(req): ApiJson<CreateApiTokenRequest>,
) -> ApiResult<(StatusCode, ApiJson<CreatedApiToken>)> {
    let t = s
        .create_api_token(&auth.actor, None, req.name, req.expires_at)
        .await?;
    Ok((StatusCode::CREATED, ApiJson(t)))
}

/// Delete a platform API token.
#[utoipa::path(delete, path = "/api/v1/api-tokens/{tid}", tag = "api-tokens",
    params(("tid" = String, Path, description = "Token id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_platform_token(
    State(s): State<AppState>,
    auth: PlatformAuth,
    Path(tid): Path<String>,
) -> ApiResult<StatusCode> {
    if tid == auth.token.id {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "a token cannot delete itself",
        ));
    }
    s.delete_api_token(&auth.actor, None, &tid).await?;
    Ok(StatusCode::NO_CONTENT)
}
