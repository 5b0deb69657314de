//! SAML endpoints: the ACS (`POST /saml/acs/{acs_uuid}`, a cross-site POST authenticated by the
//! signed Response itself, so no CSRF token) and the SP metadata download.

use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
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

/// The ACS. A form axum cannot read (a body above `max_body_bytes`, a wrong content type, no
/// `SAMLResponse`) is refused with its own status and audited like every other refusal.
async fn acs(
    State(state): State<AppState>,
    Path(acs_uuid): Path<String>,
    ClientIp(ip): ClientIp,
    form: Result<Form<AcsForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(form)) => form,
        Err(rejection) => {
            let status = rejection.status();
            let reason = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!(
                    "request body above the {} byte limit",
                    state.config.max_body_bytes
                )
            } else {
                format!("unreadable form: {}", rejection.body_text())
            };
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
