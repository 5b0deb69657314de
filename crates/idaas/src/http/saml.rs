//! SAML endpoints: IdP metadata (`/api/v2/{app_id}/saml2/meta`), SSO (`/login/app/{app_id}/saml2/sso`,
//! HTTP-Redirect and HTTP-POST bindings) and the same-site continuation of a parked request
//! (`/i/{iid}/sso/{pending_id}`). Responses leave as an auto-submitting HTTP-POST form whose script
//! runs only with the page's CSP nonce.

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use serde::Deserialize;

use super::auth::load_session;
use super::signin::{load_instance, message, see_other};
use super::{ApiResult, AppState, ClientIp};
use crate::error::Error;
use crate::saml_idp::{InboundMessage, SsoOutcome};
use crate::store;

/// Routes of this area (merged by [`crate::http::router`]).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v2/{app_id}/saml2/meta", get(metadata))
        .route(
            "/login/app/{app_id}/saml2/sso",
            get(sso_redirect).post(sso_post),
        )
        .route("/i/{iid}/sso/{pending_id}", get(sso_continue))
}

/// OpenAPI paths of this area (protocol endpoints, documented by the SAML specifications).
#[derive(Debug, utoipa::OpenApi)]
#[openapi()]
pub struct ApiDoc;

#[derive(Debug, Deserialize)]
struct DownloadQuery {
    download: Option<String>,
}

async fn metadata(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    Query(q): Query<DownloadQuery>,
) -> ApiResult<Response> {
    let xml = match state.idp_metadata(&app_id).await {
        Ok(xml) => xml,
        Err(Error::NotFound(_)) => {
            return Ok(message(
                StatusCode::NOT_FOUND,
                "Unknown application",
                "No application has this metadata address.",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let mut resp = (StatusCode::OK, xml).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/samlmetadata+xml"),
    );
    if q.download.is_some()
        && let Ok(v) = HeaderValue::from_str(&format!(
            "attachment; filename=\"idaas-{app_id}-metadata.xml\""
        ))
    {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// Turns an SSO outcome into the browser response.
pub(crate) fn render_outcome(outcome: SsoOutcome) -> Response {
    match outcome {
        SsoOutcome::Redirect { location } => see_other(&location),
        SsoOutcome::Page {
            status,
            title,
            message: text,
        } => message(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            title,
            &text,
        ),
        SsoOutcome::Post {
            acs_url,
            xml,
            relay_state,
        } => {
            let nonce = crate::id::new_secret("n");
            let html = saml::binding::render_post_form(&saml::binding::PostForm {
                action: &acs_url,
                param: saml::binding::MessageParam::Response,
                xml: &xml,
                relay_state: relay_state.as_deref(),
                csp_nonce: &nonce,
            });
            let origin = url::Url::parse(&acs_url)
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_default();
            let csp = format!(
                "default-src 'none'; script-src 'nonce-{nonce}'; form-action {origin}; frame-ancestors 'none'; base-uri 'none'"
            );
            let mut resp = (StatusCode::OK, axum::response::Html(html)).into_response();
            let h = resp.headers_mut();
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
            if let Ok(v) = HeaderValue::from_str(&csp) {
                h.insert(header::CONTENT_SECURITY_POLICY, v);
            }
            resp
        }
    }
}

async fn app_instance_id(state: &AppState, app_id: &str) -> ApiResult<Option<String>> {
    let mut conn = state.store.read().await?;
    Ok(store::application::get_any(&mut conn, app_id)
        .await?
        .map(|a| a.instance_id))
}

async fn sso_redirect(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    RawQuery(query): RawQuery,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let session = match app_instance_id(&state, &app_id).await? {
        Some(iid) => load_session(&state, &headers, &iid).await?,
        None => None,
    };
    let outcome = state
        .sso_receive(
            &app_id,
            InboundMessage::Redirect {
                raw_query: query.unwrap_or_default(),
            },
            session,
            ip.as_deref(),
        )
        .await?;
    Ok(render_outcome(outcome))
}

#[derive(Debug, Deserialize)]
struct SsoForm {
    #[serde(rename = "SAMLRequest", default)]
    saml_request: String,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

async fn sso_post(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    ClientIp(ip): ClientIp,
    Form(form): Form<SsoForm>,
) -> ApiResult<Response> {
    // The SameSite=Lax session cookie does not come with a cross-site POST; the request is parked
    // and answered on a same-site GET (see `sso_continue`).
    let outcome = state
        .sso_receive(
            &app_id,
            InboundMessage::Post {
                saml_request: form.saml_request,
                relay_state: form.relay_state,
            },
            None,
            ip.as_deref(),
        )
        .await?;
    Ok(render_outcome(outcome))
}

async fn sso_continue(
    State(state): State<AppState>,
    Path((iid, pending_id)): Path<(String, String)>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let instance = load_instance(&state, &iid).await?;
    let session = load_session(&state, &headers, &iid).await?;
    let outcome = state
        .sso_continue(&instance, &pending_id, session, ip.as_deref())
        .await?;
    Ok(render_outcome(outcome))
}
