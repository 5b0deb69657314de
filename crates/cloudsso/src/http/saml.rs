//! SAML endpoints: the ACS (`POST /saml/acs/{acs_uuid}`, a cross-site POST authenticated by the
//! signed Response itself, so no CSRF token) and the SP metadata download.

use axum::body::Body;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::auth;
use super::page::{esc, page, see_other};
use super::{ApiError, AppState, ClientIp};
use crate::saml_sp::AcsError;

/// The SAML routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/saml/acs/{acs_uuid}", post(acs))
        .route("/saml/sp/{directory_id}/metadata", get(sp_metadata))
}

/// The HTTP-POST binding form.
#[derive(Debug, Deserialize)]
struct AcsForm {
    #[serde(rename = "SAMLResponse")]
    saml_response: String,
    #[serde(rename = "RelayState", default)]
    relay_state: Option<String>,
}

/// The ACS. A form that cannot be read (a body above `max_body_bytes`, a wrong content type, no
/// `SAMLResponse`) is refused with its own status and audited like every other refusal. An
/// oversized body is drained (bounded) first, so the browser gets the refusal page.
async fn acs(
    State(state): State<AppState>,
    Path(acs_uuid): Path<String>,
    ClientIp(ip): ClientIp,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let limit = state.config.max_body_bytes;
    let read: Result<AcsForm, (StatusCode, String)> =
        match web::http::read_body_limited(&parts.headers, body, limit).await {
            Ok(bytes) => {
                match Form::<AcsForm>::from_request(
                    Request::from_parts(parts, Body::from(bytes)),
                    &(),
                )
                .await
                {
                    Ok(Form(form)) => Ok(form),
                    Err(rejection) => Err((
                        rejection.status(),
                        format!("unreadable form: {}", rejection.body_text()),
                    )),
                }
            }
            Err(web::http::BodyReadError::TooLarge(_)) => Err((
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body above the {limit} byte limit"),
            )),
            Err(e @ web::http::BodyReadError::Read(_)) => {
                Err((StatusCode::BAD_REQUEST, e.to_string()))
            }
        };
    let form = match read {
        Ok(form) => form,
        Err((status, reason)) => {
            tracing::info!(%reason, "ACS refused a request");
            state
                .audit_acs_refusal(&acs_uuid, ip.as_deref(), &reason)
                .await;
            return refusal(
                status,
                "The sign-in request could not be read. Start again from the logon page.",
            );
        }
    };
    match state
        .consume_saml_response(
            &acs_uuid,
            &form.saml_response,
            form.relay_state.as_deref(),
            ip.as_deref(),
        )
        .await
    {
        Ok(logon) => {
            let cookie = auth::set_cookie(
                &auth::portal_cookie_name(&logon.directory.id),
                &logon.session.token,
                logon.session.session.expires_at - state.now(),
                state.config.secure_cookies,
            );
            see_other(&logon.redirect_to, &[cookie])
        }
        Err(e) => {
            let status = match &e {
                AcsError::UnknownAcs => StatusCode::NOT_FOUND,
                AcsError::UnknownUser(_)
                | AcsError::UserDisabled(_)
                | AcsError::AddressNotAllowed => StatusCode::FORBIDDEN,
                AcsError::Service(_) => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::BAD_REQUEST,
            };
            tracing::info!(reason = %e, "ACS refused a response");
            refusal(status, &e.user_message())
        }
    }
}

/// The "Logon failed" page with `message`.
fn refusal(status: StatusCode, message: &str) -> Response {
    page(
        status,
        "Logon failed",
        &format!("<p class=\"err\" role=\"alert\">{}</p>", esc(message)),
    )
}

async fn sp_metadata(State(state): State<AppState>, Path(directory_id): Path<String>) -> Response {
    let d = match state.get_directory(&directory_id).await {
        Ok(d) => d,
        Err(e) => return ApiError::from(e).into_response(),
    };
    match state.sp_metadata(&d) {
        Ok(xml) => (
            StatusCode::OK,
            [
                (
                    header::CONTENT_TYPE,
                    "application/samlmetadata+xml".to_owned(),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"cloudsso-{}-sp-metadata.xml\"", d.id),
                ),
            ],
            xml,
        )
            .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}
