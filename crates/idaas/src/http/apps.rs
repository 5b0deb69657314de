//! Applications admin API (JSON) under `/api/v1/instances/{iid}/…`: marketplace, applications and
//! their SAML configuration, status switches, conversion, SP metadata import, authorization grants,
//! application accounts, IdP metadata and signing keys.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::{Deserialize, Serialize};

use super::auth::AdminAuth;
use super::{ApiError, ApiJson, ApiQuery, ApiResult, AppState};
use crate::application::{Application, ApplicationUpdate, MetadataImport, NewApplication, Status};
use crate::marketplace::{self, Template};
use crate::signing_key::{KeyAlgorithm, KeyInfo};
use crate::store::app_account::AppAccount;
use crate::store::grant::{Grant, SubjectType};

/// Routes of this area (merged by [`crate::http::router`]).
pub fn router() -> Router<AppState> {
    let base = "/api/v1/instances/{iid}";
    Router::new()
        .route(
            &format!("{base}/marketplace/templates"),
            get(list_templates),
        )
        .route(&format!("{base}/apps"), get(list_apps).post(create_app))
        .route(
            &format!("{base}/apps/{{app_id}}"),
            get(get_app).patch(update_app).delete(delete_app),
        )
        .route(&format!("{base}/apps/{{app_id}}/enable"), post(enable_app))
        .route(
            &format!("{base}/apps/{{app_id}}/disable"),
            post(disable_app),
        )
        .route(
            &format!("{base}/apps/{{app_id}}/sso/enable"),
            post(enable_sso),
        )
        .route(
            &format!("{base}/apps/{{app_id}}/sso/disable"),
            post(disable_sso),
        )
        .route(
            &format!("{base}/apps/{{app_id}}/convert-to-standard"),
            post(convert),
        )
        .route(
            &format!("{base}/apps/{{app_id}}/sp-metadata"),
            post(import_metadata),
        )
        .route(
            &format!("{base}/apps/{{app_id}}/sp-metadata/fetch"),
            post(fetch_metadata),
        )
        .route(
            &format!("{base}/apps/{{app_id}}/idp-metadata"),
            get(idp_metadata),
        )
        .route(
            &format!("{base}/apps/{{app_id}}/grants"),
            get(list_grants).post(add_grant),
        )
        .route(
            &format!("{base}/apps/{{app_id}}/grants/{{subject_type}}/{{subject_id}}"),
            delete(remove_grant),
        )
        .route(
            &format!("{base}/apps/{{app_id}}/accounts"),
            get(list_accounts).put(set_account),
        )
        .route(
            &format!("{base}/apps/{{app_id}}/accounts/{{account_id}}"),
            delete(delete_account),
        )
        .route(
            &format!("{base}/signing-keys"),
            get(list_keys).post(create_next_key),
        )
        .route(
            &format!("{base}/signing-keys/{{key_id}}/activate"),
            post(activate_key),
        )
        .route(
            &format!("{base}/signing-keys/{{key_id}}"),
            delete(remove_key),
        )
}

/// OpenAPI components of this area.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(components(schemas(
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
)))]
pub struct ApiDoc;

#[derive(Debug, Deserialize)]
struct SearchQuery {
    q: Option<String>,
}

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

async fn get_app(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_, app_id)): Path<(String, String)>,
) -> ApiResult<ApiJson<AppView>> {
    let app = state.get_application(&auth.instance.id, &app_id).await?;
    Ok(ApiJson(view(&state, &auth, app)))
}

async fn update_app(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_, app_id)): Path<(String, String)>,
    ApiJson(update): ApiJson<ApplicationUpdate>,
) -> ApiResult<ApiJson<AppView>> {
    let app = state
        .update_application(&auth.instance, &auth.actor, &app_id, update)
        .await?;
    Ok(ApiJson(view(&state, &auth, app)))
}

async fn delete_app(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_, app_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .delete_application(&auth.instance, &auth.actor, &app_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

macro_rules! switch {
    ($name:ident, $method:ident, $status:expr) => {
        async fn $name(
            State(state): State<AppState>,
            auth: AdminAuth,
            Path((_, app_id)): Path<(String, String)>,
        ) -> ApiResult<ApiJson<AppView>> {
            let app = state
                .$method(&auth.instance, &auth.actor, &app_id, $status)
                .await?;
            Ok(ApiJson(view(&state, &auth, app)))
        }
    };
}
switch!(enable_app, set_application_status, Status::Enabled);
switch!(disable_app, set_application_status, Status::Disabled);
switch!(enable_sso, set_sso_status, Status::Enabled);
switch!(disable_sso, set_sso_status, Status::Disabled);

async fn convert(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_, app_id)): Path<(String, String)>,
) -> ApiResult<ApiJson<AppView>> {
    let app = state
        .convert_to_standard(&auth.instance, &auth.actor, &app_id)
        .await?;
    Ok(ApiJson(view(&state, &auth, app)))
}

/// Largest uploaded SP metadata document.
const MAX_METADATA_UPLOAD: usize = 1024 * 1024;

async fn import_metadata(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_, app_id)): Path<(String, String)>,
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

async fn fetch_metadata(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_, app_id)): Path<(String, String)>,
    ApiJson(req): ApiJson<FetchRequest>,
) -> ApiResult<ApiJson<MetadataImport>> {
    Ok(ApiJson(
        state
            .import_sp_metadata_url(&auth.instance, &auth.actor, &app_id, &req.url)
            .await?,
    ))
}

async fn idp_metadata(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_, app_id)): Path<(String, String)>,
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

async fn list_grants(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_, app_id)): Path<(String, String)>,
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

async fn add_grant(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_, app_id)): Path<(String, String)>,
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

async fn remove_grant(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_, app_id, subject_type, subject_id)): Path<(String, String, String, String)>,
) -> ApiResult<StatusCode> {
    let t = SubjectType::parse(&subject_type)
        .ok_or_else(|| ApiError::bad_request("subject_type must be user, org_unit or group"))?;
    state
        .set_grant(&auth.instance, &auth.actor, &app_id, t, &subject_id, false)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_accounts(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_, app_id)): Path<(String, String)>,
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

async fn set_account(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_, app_id)): Path<(String, String)>,
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

async fn delete_account(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_, app_id, account_id)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    state
        .delete_app_account(&auth.instance, &auth.actor, &app_id, &account_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

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

async fn activate_key(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_, key_id)): Path<(String, String)>,
) -> ApiResult<ApiJson<KeyInfo>> {
    Ok(ApiJson(
        state
            .promote_signing_key(&auth.instance.id, &auth.actor, &key_id)
            .await?,
    ))
}

async fn remove_key(
    State(state): State<AppState>,
    auth: AdminAuth,
    Path((_, key_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .remove_signing_key(&auth.instance.id, &auth.actor, &key_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
