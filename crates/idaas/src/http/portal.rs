//! The user portal: `/i/{iid}/portal` lists the applications the user may open (with their optional
//! RelayState links), launches them (IdP-initiated SSO), shows the profile and enrols a TOTP.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::auth::UserSession;
use super::signin::{MfaPage, message, render, see_other};
use super::{ApiResult, AppState, ClientIp, csrf};
use crate::application::{InitLoginType, OptionalRelayState};

/// Routes of this area (merged by [`crate::http::router`]).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/i/{iid}/portal", get(portal))
        .route("/i/{iid}/portal/apps/{app_id}/launch", post(launch))
        .route("/i/{iid}/portal/mfa", get(mfa_page).post(mfa_submit))
}

/// OpenAPI paths of this area (HTML pages only).
#[derive(Debug, utoipa::OpenApi)]
#[openapi()]
pub struct ApiDoc;

struct AppCard {
    id: String,
    name: String,
    relay_states: Vec<OptionalRelayState>,
    /// IdP-initiated SSO allowed: the card launches the app from the portal.
    idp_initiated: bool,
    /// Otherwise: the application's own sign-in page (InitLoginUrl), if configured.
    init_login_url: String,
}

#[derive(Template)]
#[template(path = "portal.html")]
struct PortalPage<'a> {
    instance_id: &'a str,
    instance_name: &'a str,
    csrf: &'a str,
    username: &'a str,
    display_name: &'a str,
    email: &'a str,
    mfa_enabled: bool,
    apps: Vec<AppCard>,
}

async fn portal(State(state): State<AppState>, s: UserSession) -> ApiResult<Response> {
    if s.user.must_change_password {
        return Ok(see_other(&format!(
            "/i/{}/password?continue=/i/{}/portal",
            s.instance.id, s.instance.id
        )));
    }
    let apps = state
        .portal_applications(&s.instance.id, &s.user)
        .await?
        .into_iter()
        .map(|a| AppCard {
            id: a.id,
            name: a.name,
            idp_initiated: a.saml.init_login_type == InitLoginType::IdaasOrAppInitSso,
            init_login_url: a.saml.init_login_url.unwrap_or_default(),
            relay_states: a.saml.optional_relay_states,
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        &PortalPage {
            instance_id: &s.instance.id,
            instance_name: &s.instance.name,
            csrf: &s.session.csrf_token,
            username: &s.user.username,
            display_name: &s.user.display_name,
            email: s.user.email.as_deref().unwrap_or(""),
            mfa_enabled: s.user.mfa_enabled,
            apps,
        },
    ))
}

#[derive(Debug, Deserialize)]
struct LaunchForm {
    #[serde(default)]
    csrf: String,
    relay_state: Option<String>,
}

async fn launch(
    State(state): State<AppState>,
    Path((_, app_id)): Path<(String, String)>,
    s: UserSession,
    ClientIp(ip): ClientIp,
    Form(form): Form<LaunchForm>,
) -> ApiResult<Response> {
    csrf::verify(&s.session.csrf_token, Some(&form.csrf))?;
    let outcome = state
        .sso_launch(
            &s.instance,
            s.session.clone(),
            &app_id,
            form.relay_state.as_deref(),
            ip.as_deref(),
        )
        .await?;
    Ok(super::saml::render_outcome(outcome))
}

async fn mfa_page(State(state): State<AppState>, s: UserSession) -> ApiResult<Response> {
    if s.user.mfa_enabled {
        return Ok(message(
            StatusCode::OK,
            "Authenticator app",
            "An authenticator app is already enrolled for your account.",
        ));
    }
    let enrolment = state.begin_totp_enrolment(&s.instance, &s.user).await?;
    let action = format!("/i/{}/portal/mfa", s.instance.id);
    let cont = format!("/i/{}/portal", s.instance.id);
    Ok(render(
        StatusCode::OK,
        &MfaPage {
            action: &action,
            csrf: &s.session.csrf_token,
            continue_to: &cont,
            error: "",
            enrol: true,
            secret: &enrolment.secret_base32,
            otpauth_url: &enrolment.otpauth_url,
        },
    ))
}

#[derive(Debug, Deserialize)]
struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    csrf: String,
}

async fn mfa_submit(
    State(state): State<AppState>,
    s: UserSession,
    ClientIp(ip): ClientIp,
    Form(form): Form<CodeForm>,
) -> ApiResult<Response> {
    csrf::verify(&s.session.csrf_token, Some(&form.csrf))?;
    match state
        .confirm_totp_enrolment(&s.instance, &s.user, &form.code, ip.as_deref())
        .await?
    {
        Ok(()) => Ok(see_other(&format!("/i/{}/portal", s.instance.id))),
        Err(e) => {
            let action = format!("/i/{}/portal/mfa", s.instance.id);
            let cont = format!("/i/{}/portal", s.instance.id);
            Ok(render(
                StatusCode::UNAUTHORIZED,
                &MfaPage {
                    action: &action,
                    csrf: &s.session.csrf_token,
                    continue_to: &cont,
                    error: &e.to_string(),
                    enrol: true,
                    secret: "",
                    otpauth_url: "",
                },
            ))
        }
    }
}
