//! The user portal at `{base}/{DirectoryName}`: logon (password + TOTP, or a redirect to the IdP when
//! SSO is on, keeping the deep link), the page shell whose account list CS-cloud renders, logout.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use serde::Deserialize;

use super::auth::{self, PortalSession, portal_cookie_name};
use super::page::{esc, page, see_other, set_cookie_on, with_security_headers};
use super::{ApiError, AppState, ClientIp};
use crate::directory::Directory;
use crate::password_logon::{LogonError, LogonStep, Password};
use crate::saml_sp::{SsoStart, safe_portal_target};
use crate::store::session::SessionKind;

/// The portal routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{directory_name}", get(portal_page))
        .route(
            "/{directory_name}/login",
            get(login_page).post(login_submit),
        )
        .route(
            "/{directory_name}/login/mfa",
            get(mfa_page).post(mfa_submit),
        )
        .route(
            "/{directory_name}/logout",
            get(logout_page).post(logout_submit),
        )
}

fn not_found() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Not found",
        "<p>There is no Cloud SSO directory here.</p>",
    )
}

async fn directory(state: &AppState, name: &str) -> Result<Directory, Response> {
    match state.get_directory_by_name(name).await {
        Ok(d) => Ok(d),
        Err(crate::error::Error::NotFound(_)) => Err(not_found()),
        Err(e) => Err(ApiError::from(e).into_response()),
    }
}

/// Where to go after logon: the `continue` path or the quickLogin deep link, if it is a path of
/// this portal; otherwise the portal home.
fn after_logon(d: &Directory, query: Option<&str>) -> String {
    let q = query.unwrap_or_default();
    let params: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect();
    if let Some((_, c)) = params.iter().find(|(k, _)| k == "continue")
        && let Some(t) = safe_portal_target(d, Some(c))
    {
        return t;
    }
    if params.iter().any(|(k, v)| k == "quickLogin" && v == "true") {
        return format!("/{}?{q}", d.name);
    }
    format!("/{}", d.name)
}

async fn portal_page(
    State(state): State<AppState>,
    portal: PortalSession,
    RawQuery(query): RawQuery,
) -> Response {
    let accounts = match super::portal_accounts::section(
        &state,
        &portal,
        query.as_deref().unwrap_or(""),
    )
    .await
    {
        Ok(html) => html,
        Err(e) => return e.into_response(),
    };
    let u = &portal.user;
    let body = format!(
        "<p>Signed in as <strong>{user}</strong>{display} · directory <code>{dir}</code></p>\n\
         <form method=\"post\" action=\"/{dir}/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button type=\"submit\">Log out</button></form>\n<h2>Accounts</h2>\n{accounts}",
        user = esc(&u.user_name),
        display = if u.display_name.is_empty() {
            String::new()
        } else {
            format!(" ({})", esc(&u.display_name))
        },
        dir = esc(&portal.directory.name),
        csrf = esc(&portal.session.csrf_token),
    );
    page(StatusCode::OK, "Cloud SSO user portal", &body)
}

/// The password logon form, with its login CSRF token (a double-submit cookie: the form has no
/// session yet). `status` is 200 for a fresh form, else the status of the refusal shown.
fn login_form(
    state: &AppState,
    d: &Directory,
    headers: &HeaderMap,
    query: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let csrf_cookie = auth::portal_login_csrf_cookie_name(&d.id);
    let csrf = auth::login_csrf_token(headers, &csrf_cookie);
    let target = after_logon(d, query);
    let err = error
        .map(|e| format!("<p class=\"err\" role=\"alert\">{}</p>", esc(e)))
        .unwrap_or_default();
    let body = format!(
        "{err}<form method=\"post\" action=\"/{dir}/login\">\n\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n\
         <input type=\"hidden\" name=\"continue\" value=\"{target}\">\n\
         <label>User name<br><input id=\"username\" name=\"username\" autocomplete=\"username\" required></label><br>\n\
         <label>Password<br><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label><br>\n\
         <button type=\"submit\">Log on</button></form>",
        dir = esc(&d.name),
        target = esc(&target),
        csrf = esc(&csrf),
    );
    set_cookie_on(
        page(status, &format!("Log on to {}", d.name), &body),
        &auth::login_csrf_cookie(&csrf_cookie, &csrf, state.config.secure_cookies),
    )
}

async fn login_page(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let d = match directory(&state, &name).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    // Already logged on: go where the link points.
    if let Ok(Some(s)) = auth::load_session(&state, &headers, &portal_cookie_name(&d.id)).await
        && s.kind == SessionKind::Portal
        && !s.mfa_pending
    {
        return see_other(&after_logon(&d, query.as_deref()), &[]);
    }
    if !d.sso.enabled {
        return login_form(&state, &d, &headers, query.as_deref(), None, StatusCode::OK);
    }
    // SSO: straight to the IdP (SP-initiated), keeping the deep link for after the logon.
    let target = after_logon(&d, query.as_deref());
    match state.start_sso(&d, Some(&target)).await {
        Ok(SsoStart::Redirect(location)) => see_other(&location, &[]),
        Ok(SsoStart::Post {
            html,
            csp_nonce,
            action,
        }) => {
            let origin = url::Url::parse(&action)
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_else(|_| "'none'".to_owned());
            let csp = format!(
                "default-src 'none'; script-src 'nonce-{csp_nonce}'; form-action {origin}; frame-ancestors 'none'; base-uri 'none'"
            );
            with_security_headers(
                (StatusCode::OK, axum::response::Html(html)).into_response(),
                &csp,
            )
        }
        Err(e) => page(
            StatusCode::SERVICE_UNAVAILABLE,
            "SSO logon",
            &format!(
                "<p class=\"err\">SSO logon cannot start: {}</p>",
                esc(&e.to_string())
            ),
        ),
    }
}

/// The password logon form.
#[derive(Debug, Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default, rename = "continue")]
    continue_to: Option<String>,
}

async fn login_submit(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let d = match directory(&state, &name).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let target = safe_portal_target(&d, form.continue_to.as_deref())
        .unwrap_or_else(|| format!("/{}", d.name));
    let query = format!("continue={}", auth::query_escape(&target));
    // Login CSRF: the form must come from our own page. With SSO on, no password logon can
    // succeed whatever is posted, so the refusal below needs no token.
    if !d.sso.enabled
        && auth::verify_login_csrf(
            &headers,
            &auth::portal_login_csrf_cookie_name(&d.id),
            form.csrf.as_deref(),
        )
        .is_err()
    {
        return login_form(
            &state,
            &d,
            &headers,
            Some(&query),
            Some("Your logon form expired. Please try again."),
            StatusCode::FORBIDDEN,
        );
    }
    let password = Password::new(form.password);
    match state
        .password_logon(
            &d,
            form.username.trim(),
            &password,
            ip.as_deref(),
            Some(&target),
        )
        .await
    {
        Ok(logon) => {
            let cookie_ttl = if logon.session.session.mfa_pending {
                600
            } else {
                d.portal_session_secs
            };
            let cookie = auth::set_cookie(
                &portal_cookie_name(&d.id),
                &logon.session.token,
                cookie_ttl,
                state.config.secure_cookies,
            );
            match logon.step {
                LogonStep::Done => see_other(&target, &[cookie]),
                LogonStep::Mfa => see_other(&format!("/{}/login/mfa", d.name), &[cookie]),
                LogonStep::BindMfa {
                    otpauth_url,
                    secret_base32,
                } => {
                    let body = format!(
                        "<p>Multi-factor authentication is required. Add this account to your authenticator app \
                         (TOTP, 6 digits, 30 s), then enter the code it shows.</p>\n\
                         <p>Secret: <code>{secret}</code></p><p class=\"note\"><code>{url}</code></p>\n{form}",
                        secret = esc(&secret_base32),
                        url = esc(&otpauth_url),
                        form = mfa_form(&d, &logon.session.session.csrf_token),
                    );
                    set_cookie_on(page(StatusCode::OK, "Bind an MFA device", &body), &cookie)
                }
            }
        }
        Err(e) => {
            if matches!(e, LogonError::Service(_)) {
                tracing::error!(error = %e, "password logon failed");
            }
            login_form(
                &state,
                &d,
                &headers,
                Some(&query),
                Some(&e.user_message()),
                StatusCode::UNAUTHORIZED,
            )
        }
    }
}

fn mfa_form(d: &Directory, csrf: &str) -> String {
    format!(
        "<form method=\"post\" action=\"/{dir}/login/mfa\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n\
         <label>Verification code<br><input name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" required></label><br>\n\
         <button type=\"submit\">Verify</button></form>",
        dir = esc(&d.name),
        csrf = esc(csrf),
    )
}

async fn pending_session(
    state: &AppState,
    d: &Directory,
    headers: &HeaderMap,
) -> Option<crate::store::session::Session> {
    auth::load_session(state, headers, &portal_cookie_name(&d.id))
        .await
        .ok()
        .flatten()
        .filter(|s| {
            s.kind == SessionKind::Portal
                && s.mfa_pending
                && s.directory_id.as_deref() == Some(d.id.as_str())
        })
}

async fn mfa_page(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let d = match directory(&state, &name).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    match pending_session(&state, &d, &headers).await {
        Some(s) => page(
            StatusCode::OK,
            "Verification code",
            &mfa_form(&d, &s.csrf_token),
        ),
        None => see_other(&format!("/{}/login", d.name), &[]),
    }
}

/// The TOTP form.
#[derive(Debug, Deserialize)]
struct MfaForm {
    code: String,
    #[serde(default)]
    csrf: Option<String>,
}

async fn mfa_submit(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Form(form): Form<MfaForm>,
) -> Response {
    let d = match directory(&state, &name).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let Some(session) = pending_session(&state, &d, &headers).await else {
        return see_other(&format!("/{}/login", d.name), &[]);
    };
    if let Err(e) = super::csrf::verify(&session.csrf_token, form.csrf.as_deref()) {
        return e.into_response();
    }
    match state
        .verify_logon_mfa(&d, &session, &form.code, ip.as_deref())
        .await
    {
        Ok(()) => {
            let target = session
                .relay_state
                .clone()
                .and_then(|t| safe_portal_target(&d, Some(&t)))
                .unwrap_or_else(|| format!("/{}", d.name));
            // Re-issue the cookie with the full portal session lifetime.
            let token = auth::cookie_value(&headers, &portal_cookie_name(&d.id))
                .unwrap_or_default()
                .to_owned();
            let cookie = auth::set_cookie(
                &portal_cookie_name(&d.id),
                &token,
                d.portal_session_secs,
                state.config.secure_cookies,
            );
            see_other(&target, &[cookie])
        }
        Err(e) => {
            let body = format!(
                "<p class=\"err\" role=\"alert\">{}</p>{}",
                esc(&e.user_message()),
                mfa_form(&d, &session.csrf_token)
            );
            page(StatusCode::UNAUTHORIZED, "Verification code", &body)
        }
    }
}

async fn logout_page(portal: PortalSession) -> Response {
    let body = format!(
        "<form method=\"post\" action=\"/{dir}/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button type=\"submit\">Log out</button></form>",
        dir = esc(&portal.directory.name),
        csrf = esc(&portal.session.csrf_token),
    );
    page(StatusCode::OK, "Log out", &body)
}

/// The logout form.
#[derive(Debug, Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: Option<String>,
}

async fn logout_submit(
    State(state): State<AppState>,
    portal: PortalSession,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(e) = portal.verify_csrf(form.csrf.as_deref()) {
        return e.into_response();
    }
    if let Err(e) = state.logout(&portal.session, &portal.actor).await {
        return ApiError::from(e).into_response();
    }
    let clear = auth::clear_cookie(
        &portal_cookie_name(&portal.directory.id),
        state.config.secure_cookies,
    );
    see_other(&format!("/{}/login", portal.directory.name), &[clear])
}
