//! Applications admin API (JSON) under `/api/v1/instances/{iid}/…`: marketplace, applications and
//! their SAML configuration, status switches, conversion, SP metadata import, authorization grants,
//! application accounts, IdP metadata and signing keys.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::auth::AdminAuth;
use super::{ApiError, ApiJson, ApiQuery, ApiResult, ApiRoutes, AppState, ErrorBody};
use crate::application::{Application, ApplicationUpdate, MetadataImport, NewApplication, Status};
use crate::marketplace::{self, Template};
use crate::signing_key::{KeyAlgorithm, KeyInfo};
use crate::store::app_account::AppAccount;
use crate::store::grant::{Grant, SubjectType};

/// Routes of this area (merged by [`crate::http::router`]).
pub fn routes() -> ApiRoutes {
    let base = "/api/v1/instances/{iid}";
    let app = format!("{base}/apps/{{app_id}}");
    ApiRoutes::new()
        .get(&format!("{base}/marketplace/templates"), list_templates)
        .get(&format!("{base}/apps"), list_apps)
        .post(&format!("{base}/apps"), create_app)
        .get(&app, get_app)
        .patch(&app, update_app)
        .delete(&app, delete_app)
        .post(&format!("{app}/enable"), enable_app)
        .post(&format!("{app}/disable"), disable_app)
        .post(&format!("{app}/sso/enable"), enable_sso)
        .post(&format!("{app}/sso/disable"), disable_sso)
        .post(&format!("{app}/convert-to-standard"), convert)
        .post(&format!("{app}/sp-metadata"), import_metadata)
        .post(&format!("{app}/sp-metadata/fetch"), fetch_metadata)
        .get(&format!("{app}/idp-metadata"), idp_metadata)
        .get(&format!("{app}/grants"), list_grants)
        .post(&format!("{app}/grants"), add_grant)
        .delete(
            &format!("{app}/grants/{{subject_type}}/{{subject_id}}"),
            remove_grant,
        )
        .get(&format!("{app}/accounts"), list_accounts)
        .put(&format!("{app}/accounts"), set_account)
        .delete(&format!("{app}/accounts/{{account_id}}"), delete_account)
        .get(&format!("{base}/signing-keys"), list_keys)
        .post(&format!("{base}/signing-keys"), create_next_key)
        .post(
            &format!("{base}/signing-keys/{{key_id}}/activate"),
            activate_key,
        )
        .delete(&format!("{base}/signing-keys/{{key_id}}"), remove_key)
}

/// OpenAPI paths and components of this area.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(
        list_templates, list_apps, create_app, get_app, update_app, delete_app,
        enable_app, disable_app, enable_sso, disable_sso, convert,
        import_metadata, fetch_metadata, idp_metadata,
        list_grants, add_grant, remove_grant,
        list_accounts, set_account, delete_account,
        list_keys, create_next_key, activate_key, remove_key
    ),
    components(schemas(
        Application,
        NewApplication,
        ApplicationUpdate,
        MetadataImport,
        crate::application::SamlConfig,
        Template,
        Grant,
        GrantRequest,
        AppAccount,
        AccountRequest,
        KeyInfo,
        NewKeyRequest,
        FetchRequest,
        AppView
    )),
    tags(
        (name = "applications", description = "Applications, their SAML configuration, grants and application accounts."),
        (name = "signing-keys", description = "The instance's SAML signing keys and their rotation.")
    )
)]
pub struct ApiDoc;

/// Query of the searchable lists.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct SearchQuery {
    /// Case-insensitive search words (name; for templates also description and keywords).
    q: Option<String>,
}

/// Search the application marketplace (all templates without `q`).
#[utoipa::path(get, path = "/api/v1/instances/{iid}/marketplace/templates", tag = "applications",
    params(("iid" = String, Path, description = "Instance id"), SearchQuery),
    responses((status = 200, body = Vec<Template>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_templates(
    _auth: AdminAuth,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> ApiJson<Vec<&'static Template>> {
    ApiJson(marketplace::search(q.q.as_deref().unwrap_or("")))
}

/// An application with its derived, read-only endpoints.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AppView {
    /// The application.
    #[serde(flatten)]
    pub application: Application,
    /// IdP metadata URL (also the default IdP entity ID).
    pub metadata_url: String,
    /// SSO endpoint (Redirect and POST bindings).
    pub sso_url: String,
    /// The IdP entity ID in effect.
    pub idp_entity_id: String,
    /// Whether the template's smart configuration is still available.
    pub smart_config_available: bool,
}

fn view(state: &AppState, auth: &AdminAuth, app: Application) -> AppView {
    let base = state.instance_base_url(&auth.instance);
    AppView {
        metadata_url: crate::application::default_idp_entity_id(&base, &app.id),
        sso_url: crate::application::sso_url(&base, &app.id),
        idp_entity_id: app.saml.idp_entity_id_or_default(&base, &app.id),
        smart_config_available: app.smart_config_available(),
        application: app,
    }
}

/// List the applications of the instance (optionally matching `q`).
#[utoipa::path(get, path = "/api/v1/instances/{iid}/apps", tag = "applications",
    params(("iid" = String, Path, description = "Instance id"), SearchQuery),
    responses((status = 200, body = Vec<AppView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_apps(
    State(state): State<AppState>,
    auth: AdminAuth,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> ApiResult<ApiJson<Vec<AppView>>> {
    let apps = state
        .list_applications(&auth.instance.id, q.q.as_deref())
        .await?;
    Ok(ApiJson(
        apps.into_iter().map(|a| view(&state, &auth, a)).collect(),
    ))
}

/// Create an application from a marketplace template.
#[utoipa::path(post, path = "/api/v1/instances/{iid}/apps", tag = "applications", request_body = NewApplication,
    params(("iid" = String, Path, description = "Instance id")),
    responses((status = 201, body = AppView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_app(
    State(state): State<AppState>,
    auth: AdminAuth,
    ApiJson(new): ApiJson<NewApplication>,
) -> ApiResult<(StatusCode, ApiJson<AppView>)> {
    let app = state
        .create_application(&auth.instance, &auth.actor, new)
        .await?;
    Ok((StatusCode::CREATED, ApiJson(view(&state, &auth, app))))
}

/// Get an application with its IdP endpoints.
#[utoipa::path(get, path = "/api/v1/instances/{iid}/apps/{app_id}", tag = "applications",
    params(("iid" = String, Path, description = "Instance id"), ("app_id" = String, Path, description = "Application id (`app_…`)")),
    responses((status = 200, body = AppView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_app(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_iid, app_id)): Path<(String, String)>,
) -> ApiResult<ApiJson<AppView>> {
    let app = state.get_application(&auth.instance.id, &app_id).await?;
    Ok(ApiJson(view(&state, &auth, app)))
}

/// Rename an application, change its authorization scope or merge a partial SAML configuration.
#[utoipa::path(patch, path = "/api/v1/instances/{iid}/apps/{app_id}", tag = "applications", request_body = ApplicationUpdate,
    params(("iid" = String, Path, description = "Instance id"), ("app_id" = String, Path, description = "Application id (`app_…`)")),
    responses((status = 200, body = AppView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn update_app(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_iid, app_id)): Path<(String, String)>,
    ApiJson(update): ApiJson<ApplicationUpdate>,
) -> ApiResult<ApiJson<AppView>> {
    let app = state
        .update_application(&auth.instance, &auth.actor, &app_id, update)
        .await?;
    Ok(ApiJson(view(&state, &auth, app)))
}

/// Delete an application with its grants and application accounts.
#[utoipa::path(delete, path = "/api/v1/instances/{iid}/apps/{app_id}", tag = "applications",
    params(("iid" = String, Path, description = "Instance id"), ("app_id" = String, Path, description = "Application id (`app_…`)")),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_app(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_iid, app_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .delete_application(&auth.instance, &auth.actor, &app_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Enable an application.
#[utoipa::path(post, path = "/api/v1/instances/{iid}/apps/{app_id}/enable", tag = "applications",
    params(("iid" = String, Path, description = "Instance id"), ("app_id" = String, Path, description = "Application id (`app_…`)")),
    responses((status = 200, body = AppView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn enable_app(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_iid, app_id)): Path<(String, String)>,
) -> ApiResult<ApiJson<AppView>> {
    let app = state
        .set_application_status(&auth.instance, &auth.actor, &app_id, Status::Enabled)
        .await?;
    Ok(ApiJson(view(&state, &auth, app)))
}

/// Disable an application (no SSO, hidden from the portal).
#[utoipa::path(post, path = "/api/v1/instances/{iid}/apps/{app_id}/disable", tag = "applications",
    params(("iid" = String, Path, description = "Instance id"), ("app_id" = String, Path, description = "Application id (`app_…`)")),
    responses((status = 200, body = AppView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn disable_app(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_iid, app_id)): Path<(String, String)>,
) -> ApiResult<ApiJson<AppView>> {
    let app = state
        .set_application_status(&auth.instance, &auth.actor, &app_id, Status::Disabled)
        .await?;
    Ok(ApiJson(view(&state, &auth, app)))
}

/// Enable the application's single sign-on.
#[utoipa::path(post, path = "/api/v1/instances/{iid}/apps/{app_id}/sso/enable", tag = "applications",
    params(("iid" = String, Path, description = "Instance id"), ("app_id" = String, Path, description = "Application id (`app_…`)")),
    responses((status = 200, body = AppView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn enable_sso(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_iid, app_id)): Path<(String, String)>,
) -> ApiResult<ApiJson<AppView>> {
    let app = state
        .set_sso_status(&auth.instance, &auth.actor, &app_id, Status::Enabled)
        .await?;
    Ok(ApiJson(view(&state, &auth, app)))
}

/// Disable the application's single sign-on.
#[utoipa::path(post, path = "/api/v1/instances/{iid}/apps/{app_id}/sso/disable", tag = "applications",
    params(("iid" = String, Path, description = "Instance id"), ("app_id" = String, Path, description = "Application id (`app_…`)")),
    responses((status = 200, body = AppView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn disable_sso(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_iid, app_id)): Path<(String, String)>,
) -> ApiResult<ApiJson<AppView>> {
    let app = state
        .set_sso_status(&auth.instance, &auth.actor, &app_id, Status::Disabled)
        .await?;
    Ok(ApiJson(view(&state, &auth, app)))
}

/// Convert a template application to the standard SAML template (ends smart configuration; irreversible).
#[utoipa::path(post, path = "/api/v1/instances/{iid}/apps/{app_id}/convert-to-standard", tag = "applications",
    params(("iid" = String, Path, description = "Instance id"), ("app_id" = String, Path, description = "Application id (`app_…`)")),
    responses((status = 200, body = AppView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn convert(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_iid, app_id)): Path<(String, String)>,
) -> ApiResult<ApiJson<AppView>> {
    let app = state
        .convert_to_standard(&auth.instance, &auth.actor, &app_id)
        .await?;
    Ok(ApiJson(view(&state, &auth, app)))
}

/// Largest uploaded SP metadata document.
const MAX_METADATA_UPLOAD: usize = 1024 * 1024;

/// Import SP metadata (XML body, at most 1 MiB): takes over the SP entity ID, ACS URL and signing certificates.
#[utoipa::path(post, path = "/api/v1/instances/{iid}/apps/{app_id}/sp-metadata", tag = "applications", request_body(content = String, content_type = "application/samlmetadata+xml", description = "SAML 2.0 SP metadata (`EntityDescriptor`), UTF-8"),
    params(("iid" = String, Path, description = "Instance id"), ("app_id" = String, Path, description = "Application id (`app_…`)")),
    responses((status = 200, body = MetadataImport), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody)))]
async fn import_metadata(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_iid, app_id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<ApiJson<MetadataImport>> {
    if body.len() > MAX_METADATA_UPLOAD {
        return Err(super::payload_too_large());
    }
    let xml = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("metadata must be UTF-8 XML"))?;
    let xml = xml.strip_prefix('\u{feff}').unwrap_or(xml);
    Ok(ApiJson(
        state
            .import_sp_metadata(&auth.instance, &auth.actor, &app_id, xml, "upload")
            .await?,
    ))
}

/// Fetch SP metadata from a URL.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct FetchRequest {
    /// `https://…` URL of the SP metadata.
    pub url: String,
}

/// Fetch SP metadata from an `https://` URL and import it.
#[utoipa::path(post, path = "/api/v1/instances/{iid}/apps/{app_id}/sp-metadata/fetch", tag = "applications", request_body = FetchRequest,
    params(("iid" = String, Path, description = "Instance id"), ("app_id" = String, Path, description = "Application id (`app_…`)")),
    responses((status = 200, body = MetadataImport), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn fetch_metadata(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_iid, app_id)): Path<(String, String)>,
    ApiJson(req): ApiJson<FetchRequest>,
) -> ApiResult<ApiJson<MetadataImport>> {
    Ok(ApiJson(
        state
            .import_sp_metadata_url(&auth.instance, &auth.actor, &app_id, &req.url)
            .await?,
    ))
}

/// The application's IdP metadata (XML).
#[utoipa::path(get, path = "/api/v1/instances/{iid}/apps/{app_id}/idp-metadata", tag = "applications",
    params(("iid" = String, Path, description = "Instance id"), ("app_id" = String, Path, description = "Application id (`app_…`)")),
    responses((status = 200, description = "SAML 2.0 IdP metadata", content_type = "application/samlmetadata+xml", body = String), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn idp_metadata(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_iid, app_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    state.get_application(&auth.instance.id, &app_id).await?;
    let xml = state.idp_metadata(&app_id).await?;
    let mut resp = (StatusCode::OK, xml).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/samlmetadata+xml"),
    );
    Ok(resp)
}

/// List the authorization grants of an application.
#[utoipa::path(get, path = "/api/v1/instances/{iid}/apps/{app_id}/grants", tag = "applications",
    params(("iid" = String, Path, description = "Instance id"), ("app_id" = String, Path, description = "Application id (`app_…`)")),
    responses((status = 200, body = Vec<Grant>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_grants(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_iid, app_id)): Path<(String, String)>,
) -> ApiResult<ApiJson<Vec<Grant>>> {
    Ok(ApiJson(
        state.list_grants(&auth.instance.id, &app_id).await?,
    ))
}

/// Grant an application to a user, organizational unit (with everything below it) or group.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct GrantRequest {
    /// `user`, `org_unit` or `group`.
    pub subject_type: SubjectType,
    /// Id of the subject.
    pub subject_id: String,
}

/// Grant the application to a user, organizational unit or group (idempotent).
#[utoipa::path(post, path = "/api/v1/instances/{iid}/apps/{app_id}/grants", tag = "applications", request_body = GrantRequest,
    params(("iid" = String, Path, description = "Instance id"), ("app_id" = String, Path, description = "Application id (`app_…`)")),
    responses((status = 204, description = "Granted"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn add_grant(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_iid, app_id)): Path<(String, String)>,
    ApiJson(req): ApiJson<GrantRequest>,
) -> ApiResult<StatusCode> {
    state
        .set_grant(
            &auth.instance,
            &auth.actor,
            &app_id,
            req.subject_type,
            &req.subject_id,
            true,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a grant.
#[utoipa::path(delete, path = "/api/v1/instances/{iid}/apps/{app_id}/grants/{subject_type}/{subject_id}", tag = "applications",
    params(("iid" = String, Path, description = "Instance id"), ("app_id" = String, Path, description = "Application id (`app_…`)"), ("subject_type" = SubjectType, Path, description = "`user`, `org_unit` or `group`"), ("subject_id" = String, Path, description = "Id of the subject")),
    responses((status = 204, description = "Removed"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn remove_grant(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_iid, app_id, subject_type, subject_id)): Path<(String, String, String, String)>,
) -> ApiResult<StatusCode> {
    let t = SubjectType::parse(&subject_type)
        .ok_or_else(|| ApiError::bad_request("subject_type must be user, org_unit or group"))?;
    state
        .set_grant(&auth.instance, &auth.actor, &app_id, t, &subject_id, false)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List the application accounts (user to application username).
#[utoipa::path(get, path = "/api/v1/instances/{iid}/apps/{app_id}/accounts", tag = "applications",
    params(("iid" = String, Path, description = "Instance id"), ("app_id" = String, Path, description = "Application id (`app_…`)")),
    responses((status = 200, body = Vec<AppAccount>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_accounts(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_iid, app_id)): Path<(String, String)>,
) -> ApiResult<ApiJson<Vec<AppAccount>>> {
    Ok(ApiJson(
        state.list_app_accounts(&auth.instance.id, &app_id).await?,
    ))
}

/// Map an IDaaS account to its application username.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AccountRequest {
    /// IDaaS user id.
    pub user_id: String,
    /// The user's name in the application.
    pub app_username: String,
}

/// Set a user's application username (creates or replaces the mapping).
#[utoipa::path(put, path = "/api/v1/instances/{iid}/apps/{app_id}/accounts", tag = "applications", request_body = AccountRequest,
    params(("iid" = String, Path, description = "Instance id"), ("app_id" = String, Path, description = "Application id (`app_…`)")),
    responses((status = 200, body = AppAccount), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn set_account(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_iid, app_id)): Path<(String, String)>,
    ApiJson(req): ApiJson<AccountRequest>,
) -> ApiResult<ApiJson<AppAccount>> {
    Ok(ApiJson(
        state
            .set_app_account(
                &auth.instance,
                &auth.actor,
                &app_id,
                &req.user_id,
                &req.app_username,
            )
            .await?,
    ))
}

/// Delete an application account.
#[utoipa::path(delete, path = "/api/v1/instances/{iid}/apps/{app_id}/accounts/{account_id}", tag = "applications",
    params(("iid" = String, Path, description = "Instance id"), ("app_id" = String, Path, description = "Application id (`app_…`)"), ("account_id" = String, Path, description = "Application account id (`aac_…`)")),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_account(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_iid, app_id, account_id)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    state
        .delete_app_account(&auth.instance, &auth.actor, &app_id, &account_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List the signing keys of the instance (active, next, retired).
#[utoipa::path(get, path = "/api/v1/instances/{iid}/signing-keys", tag = "signing-keys",
    params(("iid" = String, Path, description = "Instance id")),
    responses((status = 200, body = Vec<KeyInfo>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_keys(
    State(state): State<AppState>,
    auth: AdminAuth,
) -> ApiResult<ApiJson<Vec<KeyInfo>>> {
    Ok(ApiJson(state.list_signing_keys(&auth.instance.id).await?))
}

/// Create the `next` signing key of an algorithm.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewKeyRequest {
    /// `rsa-sha256` (default) or `ecdsa-sha256`.
    #[serde(default = "default_algorithm")]
    pub algorithm: KeyAlgorithm,
}

fn default_algorithm() -> KeyAlgorithm {
    KeyAlgorithm::RsaSha256
}

/// Create the `next` signing key of an algorithm (published in metadata before activation).
#[utoipa::path(post, path = "/api/v1/instances/{iid}/signing-keys", tag = "signing-keys", request_body = NewKeyRequest,
    params(("iid" = String, Path, description = "Instance id")),
    responses((status = 201, body = KeyInfo), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn create_next_key(
    State(state): State<AppState>,
    auth: AdminAuth,
    ApiJson(req): ApiJson<NewKeyRequest>,
) -> ApiResult<(StatusCode, ApiJson<KeyInfo>)> {
    let key = state
        .create_next_signing_key(&auth.instance.id, &auth.actor, req.algorithm)
        .await?;
    Ok((StatusCode::CREATED, ApiJson(key)))
}

/// Query of the promotion call.
#[derive(Debug, Default, Deserialize)]
struct ActivateQuery {
    /// Promote even if the key has not been published for the configured minimum time.
    #[serde(default)]
    force: bool,
}

/// Promote the `next` key to active (the previous active key is retired). The key must have been
/// published in metadata for the configured minimum time (default 24 h) unless `force=true`
/// (audited).
#[utoipa::path(post, path = "/api/v1/instances/{iid}/signing-keys/{key_id}/activate", tag = "signing-keys",
    params(("iid" = String, Path, description = "Instance id"), ("key_id" = String, Path, description = "Signing key id (`key_…`)"),
        ("force" = Option<bool>, Query, description = "Promote before the minimum publication time has passed (audited)")),
    responses((status = 200, body = KeyInfo), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn activate_key(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_iid, key_id)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<ActivateQuery>,
) -> ApiResult<ApiJson<KeyInfo>> {
    Ok(ApiJson(
        state
            .promote_signing_key(&auth.instance.id, &auth.actor, &key_id, q.force)
            .await?,
    ))
}

/// Remove a retired or next signing key.
#[utoipa::path(delete, path = "/api/v1/instances/{iid}/signing-keys/{key_id}", tag = "signing-keys",
    params(("iid" = String, Path, description = "Instance id"), ("key_id" = String, Path, description = "Signing key id (`key_…`)")),
    responses((status = 204, description = "Removed"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn remove_key(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_iid, key_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .remove_signing_key(&auth.instance.id, &auth.actor, &key_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
