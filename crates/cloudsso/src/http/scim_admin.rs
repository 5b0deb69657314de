//! The admin REST API of SCIM synchronization (products.md §2.3), like [`super::admin`]:
//! `/api/v1/directories/{directory_id}/scim-synchronization` (the switch and the SCIM endpoint)
//! and `/api/v1/directories/{directory_id}/scim-credentials` (at most two bearer credentials:
//! generate, list, get, enable/disable, delete, rotate). The secret is in the 201 body of the
//! generate and rotate calls only (with `Cache-Control: no-store`); every change is audited by the
//! service it calls. Each handler carries `#[utoipa::path]`; [`with_area_docs`] merges them into the
//! served `/api/openapi.json`.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{OpenApi, ToSchema};

use super::auth::AdminAuth;
use super::{ApiJson, ApiResult, ApiRoutes, AppState, ErrorBody};
use crate::scim_credential::{
    CreatedScimCredential, RotatedScimCredential, ScimCredential, ScimCredentialStatus,
    ScimCredentialType, ScimSynchronization, ScimSynchronizationStatus,
};

const D: &str = "/api/v1/directories/{directory_id}";

/// The admin API routes of this area.
pub fn routes() -> ApiRoutes {
    ApiRoutes::new()
        .get(&format!("{D}/scim-synchronization"), get_synchronization)
        .put(&format!("{D}/scim-synchronization"), set_synchronization)
        .post(&format!("{D}/scim-credentials"), create_credential)
        .get(&format!("{D}/scim-credentials"), list_credentials)
        .get(
            &format!("{D}/scim-credentials/{{credential_id}}"),
            get_credential,
        )
        .patch(
            &format!("{D}/scim-credentials/{{credential_id}}"),
            update_credential,
        )
        .delete(
            &format!("{D}/scim-credentials/{{credential_id}}"),
            delete_credential,
        )
        .post(
            &format!("{D}/scim-credentials/{{credential_id}}/rotate"),
            rotate_credential,
        )
}

/// OpenAPI paths and components of this area.
#[derive(Debug, OpenApi)]
#[openapi(
    paths(
        get_synchronization, set_synchronization,
        create_credential, list_credentials, get_credential, update_credential,
        delete_credential, rotate_credential
    ),
    components(schemas(
        ErrorBody, ScimSynchronization, ScimSynchronizationStatus, ScimSynchronizationBody,
        ScimCredential, ScimCredentialType, ScimCredentialStatus, ScimCredentialPatch,
        CreatedScimCredential, RotatedScimCredential
    )),
    tags(
        (name = "scim", description = "SCIM synchronization: the switch, the SCIM endpoint and the bearer credentials of the directory's SCIM server.")
    )
)]
pub struct ApiDoc;

/// `generated` with this area's paths replaced by their handler documentation and its schemas
/// added.
pub fn with_area_docs(mut generated: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let mut mine = ApiDoc::openapi();
    for (path, item) in std::mem::take(&mut mine.paths.paths) {
        generated.paths.paths.insert(path, item);
    }
    generated.merge(mine);
    generated
}

/// A response carrying a secret: never cached.
fn no_store(status: StatusCode, body: impl serde::Serialize) -> Response {
    let mut resp = (status, ApiJson(body)).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `{"enabled": true|false}`: `SetSCIMSynchronizationStatus`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScimSynchronizationBody {
    /// Turn SCIM synchronization on (`true`) or off (`false`).
    pub enabled: bool,
}

/// `{"status": "Enabled"|"Disabled"}`: enables or disables a credential.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScimCredentialPatch {
    /// The new status.
    pub status: ScimCredentialStatus,
}

#[utoipa::path(get, path = "/api/v1/directories/{directory_id}/scim-synchronization", tag = "scim",
    params(("directory_id" = String, Path, description = "Directory id")),
    security(("bearer" = [])),
    responses((status = 200, description = "The switch and the SCIM endpoint", body = ScimSynchronization),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_synchronization(
    State(state): State<AppState>,
    auth: AdminAuth,
) -> ApiResult<ApiJson<ScimSynchronization>> {
    Ok(ApiJson(
        state.get_scim_synchronization(&auth.directory.id).await?,
    ))
}

#[utoipa::path(put, path = "/api/v1/directories/{directory_id}/scim-synchronization", tag = "scim",
    request_body = ScimSynchronizationBody,
    params(("directory_id" = String, Path, description = "Directory id")),
    security(("bearer" = [])),
    responses((status = 200, description = "The new state", body = ScimSynchronization),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn set_synchronization(
    State(state): State<AppState>,
    auth: AdminAuth,
    ApiJson(b): ApiJson<ScimSynchronizationBody>,
) -> ApiResult<ApiJson<ScimSynchronization>> {
    Ok(ApiJson(
        state
            .set_scim_synchronization(&auth.actor, &auth.directory.id, b.enabled)
            .await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/directories/{directory_id}/scim-credentials", tag = "scim",
    params(("directory_id" = String, Path, description = "Directory id")),
    security(("bearer" = [])),
    responses((status = 201, description = "The credential with its secret (shown only here)", body = CreatedScimCredential),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "limit_exceeded: the directory has two credentials", body = ErrorBody)))]
async fn create_credential(State(state): State<AppState>, auth: AdminAuth) -> ApiResult<Response> {
    let c = state
        .create_scim_credential(&auth.actor, &auth.directory.id)
        .await?;
    Ok(no_store(StatusCode::CREATED, c))
}

#[utoipa::path(get, path = "/api/v1/directories/{directory_id}/scim-credentials", tag = "scim",
    params(("directory_id" = String, Path, description = "Directory id")),
    security(("bearer" = [])),
    responses((status = 200, description = "The credentials, oldest first, without secrets", body = Vec<ScimCredential>),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_credentials(
    State(state): State<AppState>,
    auth: AdminAuth,
) -> ApiResult<ApiJson<Vec<ScimCredential>>> {
    Ok(ApiJson(
        state.list_scim_credentials(&auth.directory.id).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/directories/{directory_id}/scim-credentials/{credential_id}", tag = "scim",
    params(("directory_id" = String, Path, description = "Directory id"),
        ("credential_id" = String, Path, description = "scimcred-…")),
    security(("bearer" = [])),
    responses((status = 200, description = "The credential, without its secret", body = ScimCredential),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_credential(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, cid)): Path<(String, String)>,
) -> ApiResult<ApiJson<ScimCredential>> {
    Ok(ApiJson(
        state.get_scim_credential(&auth.directory.id, &cid).await?,
    ))
}

#[utoipa::path(patch, path = "/api/v1/directories/{directory_id}/scim-credentials/{credential_id}", tag = "scim",
    request_body = ScimCredentialPatch,
    params(("directory_id" = String, Path, description = "Directory id"),
        ("credential_id" = String, Path, description = "scimcred-…")),
    security(("bearer" = [])),
    responses((status = 200, description = "Enabled or disabled", body = ScimCredential),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_credential(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, cid)): Path<(String, String)>,
    ApiJson(p): ApiJson<ScimCredentialPatch>,
) -> ApiResult<ApiJson<ScimCredential>> {
    Ok(ApiJson(
        state
            .set_scim_credential_status(&auth.actor, &auth.directory.id, &cid, p.status)
            .await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/directories/{directory_id}/scim-credentials/{credential_id}", tag = "scim",
    params(("directory_id" = String, Path, description = "Directory id"),
        ("credential_id" = String, Path, description = "scimcred-…")),
    security(("bearer" = [])),
    responses((status = 204, description = "Deleted"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_credential(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, cid)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .delete_scim_credential(&auth.actor, &auth.directory.id, &cid)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/directories/{directory_id}/scim-credentials/{credential_id}/rotate", tag = "scim",
    params(("directory_id" = String, Path, description = "Directory id"),
        ("credential_id" = String, Path, description = "The credential to replace")),
    security(("bearer" = [])),
    responses((status = 201, description = "The replacement with its secret (shown only here) and the old credential, now disabled", body = RotatedScimCredential),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "limit_exceeded: the directory has two credentials already", body = ErrorBody)))]
async fn rotate_credential(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_did, cid)): Path<(String, String)>,
) -> ApiResult<Response> {
    let r = state
        .rotate_scim_credential(&auth.actor, &auth.directory.id, &cid)
        .await?;
    Ok(no_store(StatusCode::CREATED, r))
}
