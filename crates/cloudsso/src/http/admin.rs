//! The admin REST API (`/api/v1/…`, JSON, bearer API tokens or console sessions): directories and
//! their settings, users, groups, memberships, the SSO logon settings (Step 2 of the seed), audit
//! log and API tokens. The OpenAPI document at `/api/openapi.json` is built from the same route list.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{AdminAuth, PlatformAuth};
use super::{ApiError, ApiJson, ApiQuery, ApiResult, ApiRoutes, AppState};
use crate::api_token::{ApiToken, CreatedApiToken, TokenName};
use crate::audit::AuditPage;
use crate::directory::{Directory, DirectoryName, DirectorySettingsPatch, SpInfo};
use crate::group::{Group, GroupPatch, NewGroup};
use crate::password_logon::Password;
use crate::sso_settings::{IdpInfo, ManualIdpConfig, SsoSettingsPatch};
use crate::store::directory::IdpCertificate;
use crate::user::{NameFilter, NewUser, User, UserPatch};

const D: &str = "/api/v1/directories/{directory_id}";

/// The admin API routes.
pub fn routes() -> ApiRoutes {
    ApiRoutes::new()
        .post("/api/v1/directories", create_directory)
        .get("/api/v1/directories", list_directories)
        .get(D, get_directory)
        .patch(D, rename_directory)
        .delete(D, delete_directory)
        .put(&format!("{D}/settings"), update_settings)
        .get(&format!("{D}/saml/sp"), get_sp)
        .get(&format!("{D}/saml/idp"), get_idp)
        .put(&format!("{D}/saml/idp"), configure_idp_manual)
        .delete(&format!("{D}/saml/idp"), clear_idp)
        .post(&format!("{D}/saml/idp/metadata"), upload_metadata)
        .post(&format!("{D}/saml/idp/certificates"), add_certificate)
        .delete(
            &format!("{D}/saml/idp/certificates/{{certificate_id}}"),
            remove_certificate,
        )
        .patch(&format!("{D}/sso"), update_sso)
        .post(&format!("{D}/users"), create_user)
        .get(&format!("{D}/users"), list_users)
        .get(&format!("{D}/users/{{user_id}}"), get_user)
        .patch(&format!("{D}/users/{{user_id}}"), update_user)
        .delete(&format!("{D}/users/{{user_id}}"), delete_user)
        .put(&format!("{D}/users/{{user_id}}/password"), set_password)
        .delete(&format!("{D}/users/{{user_id}}/mfa-device"), unbind_mfa)
        .post(&format!("{D}/users/{{user_id}}/unlock"), unlock_user)
        .post(&format!("{D}/groups"), create_group)
        .get(&format!("{D}/groups"), list_groups)
        .get(&format!("{D}/groups/{{group_id}}"), get_group)
        .patch(&format!("{D}/groups/{{group_id}}"), update_group)
        .delete(&format!("{D}/groups/{{group_id}}"), delete_group)
        .get(&format!("{D}/groups/{{group_id}}/members"), list_members)
        .put(
            &format!("{D}/groups/{{group_id}}/members/{{user_id}}"),
            add_member,
        )
        .delete(
            &format!("{D}/groups/{{group_id}}/members/{{user_id}}"),
            remove_member,
        )
        .get(&format!("{D}/audit"), audit)
        .post(&format!("{D}/api-tokens"), create_token)
        .get(&format!("{D}/api-tokens"), list_tokens)
        .delete(&format!("{D}/api-tokens/{{token_id}}"), delete_token)
}

/// A directory with its SP information (what the IdP must be told).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DirectoryView {
    /// The directory.
    #[serde(flatten)]
    pub directory: Directory,
    /// SP entity ID, ACS URL, metadata URL, portal URL, certificate.
    pub sp: SpInfo,
}

fn view(state: &AppState, d: Directory) -> DirectoryView {
    DirectoryView {
        sp: state.sp_info(&d),
        directory: d,
    }
}

/// `{"name": …}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NameBody {
    /// The directory name.
    pub name: DirectoryName,
}

async fn create_directory(
    State(state): State<AppState>,
    auth: PlatformAuth,
    ApiJson(b): ApiJson<NameBody>,
) -> ApiResult<Response> {
    let d = state.create_directory(&auth.actor, b.name).await?;
    Ok((StatusCode::CREATED, ApiJson(view(&state, d))).into_response())
}

async fn list_directories(
    State(state): State<AppState>,
    _auth: PlatformAuth,
) -> ApiResult<ApiJson<Vec<DirectoryView>>> {
    let all = state.list_directories().await?;
    Ok(ApiJson(all.into_iter().map(|d| view(&state, d)).collect()))
}

async fn get_directory(State(state): State<AppState>, auth: AdminAuth) -> ApiJson<DirectoryView> {
    ApiJson(view(&state, auth.directory))
}

async fn rename_directory(
    State(state): State<AppState>,
    auth: AdminAuth,
    ApiJson(b): ApiJson<NameBody>,
) -> ApiResult<ApiJson<DirectoryView>> {
    let d = state
        .rename_directory(&auth.actor, &auth.directory.id, b.name)
        .await?;
    Ok(ApiJson(view(&state, d)))
}

async fn delete_directory(State(state): State<AppState>, auth: AdminAuth) -> ApiResult<StatusCode> {
    state
        .delete_directory(&auth.actor, &auth.directory.id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn update_settings(
    State(state): State<AppState>,
    auth: AdminAuth,
    ApiJson(p): ApiJson<DirectorySettingsPatch>,
) -> ApiResult<ApiJson<DirectoryView>> {
    let d = state
        .update_directory_settings(&auth.actor, &auth.directory.id, p)
        .await?;
    Ok(ApiJson(view(&state, d)))
}

/// SP information with the metadata document.
#[derive(Debug, Serialize, ToSchema)]
pub struct SpView {
    /// URLs and certificate.
    #[serde(flatten)]
    pub info: SpInfo,
    /// `EncodedMetadataDocument`: the SP metadata, base64.
    pub encoded_metadata_document: String,
}

async fn get_sp(State(state): State<AppState>, auth: AdminAuth) -> ApiResult<ApiJson<SpView>> {
    let xml = state.sp_metadata(&auth.directory)?;
    Ok(ApiJson(SpView {
        info: state.sp_info(&auth.directory),
        encoded_metadata_document: base64::engine::general_purpose::STANDARD.encode(xml),
    }))
}

async fn get_idp(State(state): State<AppState>, auth: AdminAuth) -> ApiResult<ApiJson<IdpInfo>> {
    Ok(ApiJson(state.get_idp_info(&auth.directory.id).await?))
}

async fn configure_idp_manual(
    State(state): State<AppState>,
    auth: AdminAuth,
    ApiJson(c): ApiJson<ManualIdpConfig>,
) -> ApiResult<ApiJson<IdpInfo>> {
    Ok(ApiJson(
        state
            .configure_idp_manually(&auth.actor, &auth.directory.id, c)
            .await?,
    ))
}

async fn clear_idp(State(state): State<AppState>, auth: AdminAuth) -> ApiResult<StatusCode> {
    state.clear_idp(&auth.actor, &auth.directory.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An uploaded IdP metadata document: `metadata` (XML text) or `encoded_metadata_document` (base64),
/// and `entity_id` to pick one IdP of a file with several (409 `choose_identity_provider` lists them).
#[derive(Debug, Deserialize, ToSchema)]
pub struct MetadataUpload {
    /// The metadata XML.
    #[serde(default)]
    pub metadata: Option<String>,
    /// The metadata, base64 (`EncodedMetadataDocument`).
    #[serde(default)]
    pub encoded_metadata_document: Option<String>,
    /// Which IdP of a multi-IdP document.
    #[serde(default)]
    pub entity_id: Option<String>,
}

/// Decodes an upload to the XML text.
pub fn metadata_text(u: &MetadataUpload) -> ApiResult<String> {
    match (&u.metadata, &u.encoded_metadata_document) {
        (Some(x), _) => Ok(x.clone()),
        (None, Some(b)) => {
            let clean: String = b.chars().filter(|c| !c.is_whitespace()).collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(clean)
                .map_err(|_| ApiError::bad_request("encoded_metadata_document is not base64"))?;
            String::from_utf8(bytes).map_err(|_| ApiError::bad_request("metadata is not UTF-8"))
        }
        (None, None) => Err(ApiError::bad_request(
            "metadata or encoded_metadata_document is required",
        )),
    }
}

async fn upload_metadata(
    State(state): State<AppState>,
    auth: AdminAuth,
    ApiJson(u): ApiJson<MetadataUpload>,
) -> ApiResult<ApiJson<IdpInfo>> {
    let xml = metadata_text(&u)?;
    Ok(ApiJson(
        state
            .configure_idp_from_metadata(
                &auth.actor,
                &auth.directory.id,
                &xml,
                u.entity_id.as_deref(),
            )
            .await?,
    ))
}

/// `{"x509_certificate": PEM}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CertificateBody {
    /// PEM.
    pub x509_certificate: String,
}

async fn add_certificate(
    State(state): State<AppState>,
    auth: AdminAuth,
    ApiJson(b): ApiJson<CertificateBody>,
) -> ApiResult<Response> {
    let c: IdpCertificate = state
        .add_idp_certificate(&auth.actor, &auth.directory.id, &b.x509_certificate)
        .await?;
    Ok((StatusCode::CREATED, ApiJson(c)).into_response())
}

async fn remove_certificate(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_, cid)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .remove_idp_certificate(&auth.actor, &auth.directory.id, &cid)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn update_sso(
    State(state): State<AppState>,
    auth: AdminAuth,
    ApiJson(p): ApiJson<SsoSettingsPatch>,
) -> ApiResult<ApiJson<IdpInfo>> {
    Ok(ApiJson(
        state
            .update_sso_settings(&auth.actor, &auth.directory.id, p)
            .await?,
    ))
}

async fn create_user(
    State(state): State<AppState>,
    auth: AdminAuth,
    ApiJson(u): ApiJson<NewUser>,
) -> ApiResult<Response> {
    let u = state
        .create_user(&auth.actor, &auth.directory.id, u)
        .await?;
    Ok((StatusCode::CREATED, ApiJson(u)).into_response())
}

/// List parameters: `filter` (`UserName eq|sw x` / `GroupName eq|sw x`), `max_results` (1–100,
/// default 10), `next_token`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ListQuery {
    /// Filter expression.
    #[serde(default)]
    pub filter: Option<String>,
    /// Page size.
    #[serde(default)]
    pub max_results: Option<i64>,
    /// Continue after this token.
    #[serde(default)]
    pub next_token: Option<String>,
}

/// A page of results.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `next_token` for the next page.
    pub next_token: Option<String>,
}

async fn list_users(
    State(state): State<AppState>,
    auth: AdminAuth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<ApiJson<Page<User>>> {
    let filter = q
        .filter
        .as_deref()
        .map(|f| NameFilter::parse(f, "UserName"))
        .transpose()?;
    let (items, next_token) = state
        .list_users(
            &auth.directory.id,
            filter.as_ref(),
            q.max_results.unwrap_or(10),
            q.next_token.as_deref(),
        )
        .await?;
    Ok(ApiJson(Page { items, next_token }))
}

async fn get_user(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_, uid)): Path<(String, String)>,
) -> ApiResult<ApiJson<User>> {
    Ok(ApiJson(state.get_user(&auth.directory.id, &uid).await?))
}

async fn update_user(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_, uid)): Path<(String, String)>,
    ApiJson(p): ApiJson<UserPatch>,
) -> ApiResult<ApiJson<User>> {
    Ok(ApiJson(
        state
            .update_user(&auth.actor, &auth.directory.id, &uid, p)
            .await?,
    ))
}

async fn delete_user(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_, uid)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .delete_user(&auth.actor, &auth.directory.id, &uid)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `{"password": …}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordBody {
    /// The new password.
    pub password: String,
}

async fn set_password(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_, uid)): Path<(String, String)>,
    ApiJson(b): ApiJson<PasswordBody>,
) -> ApiResult<StatusCode> {
    state
        .set_user_password(
            &auth.actor,
            &auth.directory.id,
            &uid,
            Password::new(b.password),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn unbind_mfa(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_, uid)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .unbind_user_mfa(&auth.actor, &auth.directory.id, &uid)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn unlock_user(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_, uid)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .unlock_user(&auth.actor, &auth.directory.id, &uid)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn create_group(
    State(state): State<AppState>,
    auth: AdminAuth,
    ApiJson(g): ApiJson<NewGroup>,
) -> ApiResult<Response> {
    let g = state
        .create_group(&auth.actor, &auth.directory.id, g)
        .await?;
    Ok((StatusCode::CREATED, ApiJson(g)).into_response())
}

async fn list_groups(
    State(state): State<AppState>,
    auth: AdminAuth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<ApiJson<Page<Group>>> {
    let filter = q
        .filter
        .as_deref()
        .map(|f| NameFilter::parse(f, "GroupName"))
        .transpose()?;
    let (items, next_token) = state
        .list_groups(
            &auth.directory.id,
            filter.as_ref(),
            q.max_results.unwrap_or(10),
            q.next_token.as_deref(),
        )
        .await?;
    Ok(ApiJson(Page { items, next_token }))
}

async fn get_group(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_, gid)): Path<(String, String)>,
) -> ApiResult<ApiJson<Group>> {
    Ok(ApiJson(state.get_group(&auth.directory.id, &gid).await?))
}

async fn update_group(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_, gid)): Path<(String, String)>,
    ApiJson(p): ApiJson<GroupPatch>,
) -> ApiResult<ApiJson<Group>> {
    Ok(ApiJson(
        state
            .update_group(&auth.actor, &auth.directory.id, &gid, p)
            .await?,
    ))
}

async fn delete_group(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_, gid)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .delete_group(&auth.actor, &auth.directory.id, &gid)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_members(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_, gid)): Path<(String, String)>,
) -> ApiResult<ApiJson<Vec<User>>> {
    Ok(ApiJson(
        state.list_group_members(&auth.directory.id, &gid).await?,
    ))
}

async fn add_member(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_, gid, uid)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    state
        .add_group_member(&auth.actor, &auth.directory.id, &gid, &uid)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_member(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_, gid, uid)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    state
        .remove_group_member(&auth.actor, &auth.directory.id, &gid, &uid)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Audit query: `action` prefix (`sso:` or a full URN), `cursor`, `limit` (1–500, default 100).
#[derive(Debug, Deserialize, ToSchema)]
pub struct AuditQuery {
    /// Action prefix.
    #[serde(default)]
    pub action: Option<String>,
    /// From `next_cursor`.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Page size.
    #[serde(default)]
    pub limit: Option<i64>,
}

async fn audit(
    State(state): State<AppState>,
    auth: AdminAuth,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<ApiJson<AuditPage>> {
    Ok(ApiJson(
        state
            .query_audit(
                &auth.directory.id,
                q.action.as_deref(),
                q.cursor.as_deref(),
                q.limit.unwrap_or(100),
            )
            .await?,
    ))
}

/// `{"name": …, "expires_at": …}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenBody {
    /// What it is for.
    pub name: TokenName,
    /// Expiry (unix seconds).
    #[serde(default)]
    pub expires_at: Option<i64>,
}

async fn create_token(
    State(state): State<AppState>,
    auth: AdminAuth,
    ApiJson(b): ApiJson<TokenBody>,
) -> ApiResult<Response> {
    let t: CreatedApiToken = state
        .create_api_token(&auth.actor, Some(&auth.directory.id), b.name, b.expires_at)
        .await?;
    Ok((StatusCode::CREATED, ApiJson(t)).into_response())
}

async fn list_tokens(
    State(state): State<AppState>,
    auth: AdminAuth,
) -> ApiResult<ApiJson<Vec<ApiToken>>> {
    Ok(ApiJson(
        state.list_api_tokens(Some(&auth.directory.id)).await?,
    ))
}

async fn delete_token(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_, tid)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .delete_api_token(&auth.actor, Some(&auth.directory.id), &tid)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The OpenAPI document: every route of [`super::admin_routes`] with its parameters, bearer
/// security and the JSON error body.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    use utoipa::openapi::path::{
        HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
    };
    use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
    use utoipa::openapi::{
        ComponentsBuilder, InfoBuilder, OpenApiBuilder, PathsBuilder, Required, ResponseBuilder,
    };

    let mut paths = PathsBuilder::new();
    for (method, path) in super::admin_routes() {
        let http = match method {
            Method::GET => HttpMethod::Get,
            Method::POST => HttpMethod::Post,
            Method::PUT => HttpMethod::Put,
            Method::PATCH => HttpMethod::Patch,
            _ => HttpMethod::Delete,
        };
        let mut op = OperationBuilder::new()
            .operation_id(Some(format!(
                "{}_{}",
                method.as_str().to_lowercase(),
                path.trim_start_matches("/api/v1/")
                    .replace(['/', '{', '}', '-'], "_")
            )))
            .tag(path.split('/').nth(5).unwrap_or("directories"))
            .response(
                "200",
                ResponseBuilder::new().description("Success (201 on creation, 204 without body)"),
            )
            .response(
                "400",
                ResponseBuilder::new().description("invalid_request (ErrorBody)"),
            )
            .response(
                "401",
                ResponseBuilder::new().description("unauthenticated (ErrorBody)"),
            )
            .response(
                "404",
                ResponseBuilder::new().description("not_found (ErrorBody)"),
            )
            .response(
                "409",
                ResponseBuilder::new().description(
                    "conflict / limit_exceeded / choose_identity_provider (ErrorBody)",
                ),
            );
        for seg in path.split('/') {
            if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                op = op.parameter(
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Path)
                        .required(Required::True),
                );
            }
        }
        paths = paths.path(path.clone(), PathItem::new(http, op.build()));
    }
    let components = ComponentsBuilder::new()
        .security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        )
        .schema_from::<super::ErrorBody>()
        .schema_from::<DirectoryView>()
        .schema_from::<SpView>()
        .schema_from::<IdpInfo>()
        .schema_from::<IdpCertificate>()
        .schema_from::<ManualIdpConfig>()
        .schema_from::<MetadataUpload>()
        .schema_from::<SsoSettingsPatch>()
        .schema_from::<DirectorySettingsPatch>()
        .schema_from::<User>()
        .schema_from::<NewUser>()
        .schema_from::<UserPatch>()
        .schema_from::<Group>()
        .schema_from::<NewGroup>()
        .schema_from::<GroupPatch>()
        .schema_from::<AuditPage>()
        .schema_from::<ApiToken>()
        .schema_from::<CreatedApiToken>()
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Gatehouse Cloud SSO admin API")
                .version(env!("CARGO_PKG_VERSION"))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components))
        .build()
}

/// `GET /api/openapi.json`.
pub fn openapi_router() -> Router<AppState> {
    Router::new().route(
        "/api/openapi.json",
        axum::routing::get(|| async { axum::Json(openapi_document()) }),
    )
}
