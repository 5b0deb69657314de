//! Sign-in pages: `/i/{iid}/login` (password), `/i/{iid}/login/mfa` (TOTP, or its enrolment when the
//! instance requires MFA), `/i/{iid}/password` (change, also the forced change), `/i/{iid}/logout`.
//!
//! The login form has no session yet, so its CSRF token is a double-submit cookie scoped to the
//! login path. `continue` is only ever a local path (never a redirect to another site).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use serde::Deserialize;

use super::auth::{UserSession, clear_session_cookie, cookie_value, load_session, session_cookie};
use super::{ApiError, ApiResult, AppState, ClientIp, csrf};
use crate::id;
use crate::instance::Instance;
use crate::password::Password;
use crate::sign_in::{SignInOutcome, SignInRefusal};
use crate::store;

/// Routes of this area (merged by [`crate::http::router`]).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/i/{iid}/login", get(login_page).post(login_submit))
        .route("/i/{iid}/login/mfa", get(mfa_page).post(mfa_submit))
        .route(
            "/i/{iid}/password",
            get(password_page).post(password_submit),
        )
        .route("/i/{iid}/logout", axum::routing::post(logout))
}

/// OpenAPI paths of this area (HTML pages only: nothing to document).
#[derive(Debug, utoipa::OpenApi)]
#[openapi()]
pub struct ApiDoc;

// ---- shared page helpers (used by the other H-sso page modules) -------------------------------

/// Renders a template with a status code; template errors become 500.
pub(crate) fn render<T: Template>(status: StatusCode, page: &T) -> Response {
    match page.render() {
        Ok(html) => {
            let mut resp = (status, Html(html)).into_response();
            let h = resp.headers_mut();
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            h.insert("x-frame-options", HeaderValue::from_static("DENY"));
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
            );
            resp
        }
        Err(e) => ApiError::internal(e).into_response(),
    }
}

/// A simple message page.
#[derive(Template)]
#[template(path = "message.html")]
pub(crate) struct MessagePage<'a> {
    pub title: &'a str,
    pub message: &'a str,
    pub back: &'a str,
}

/// Renders a message page.
pub(crate) fn message(status: StatusCode, title: &str, text: &str) -> Response {
    render(
        status,
        &MessagePage {
            title,
            message: text,
            back: "",
        },
    )
}

/// A local path to continue at: must start with one `/` (no scheme, no `//host`, no backslash).
pub(crate) fn safe_continue(instance_id: &str, value: Option<&str>) -> String {
    match value.map(str::trim) {
        Some(v)
            if v.starts_with('/')
                && !v.starts_with("//")
                && !v.contains('\\')
                && !v.chars().any(char::is_control) =>
        {
            v.to_owned()
        }
        _ => format!("/i/{instance_id}/portal"),
    }
}

/// 303 See Other to a local path.
pub(crate) fn see_other(location: &str) -> Response {
    Redirect::to(location).into_response()
}

pub(crate) async fn load_instance(state: &AppState, iid: &str) -> Result<Instance, ApiError> {
    let mut conn = state.store.read().await?;
    store::instance::get(&mut conn, iid)
        .await?
        .ok_or_else(|| ApiError::not_found("instance"))
}

fn login_csrf_cookie_name(iid: &str) -> String {
    format!("gh_login_csrf_{iid}")
}

// ---- login ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    instance_id: &'a str,
    instance_name: &'a str,
    csrf: &'a str,
    continue_to: &'a str,
    username: &'a str,
    error: &'a str,
    step_up: bool,
}

#[derive(Debug, Deserialize)]
struct LoginQuery {
    #[serde(rename = "continue")]
    continue_to: Option<String>,
    force: Option<String>,
    mfa: Option<String>,
}

/// Prefix of login CSRF tokens.
const LOGIN_CSRF_PREFIX: &str = "lcsrf";

/// The login CSRF token already held by the browser, when it is one we could have issued.
///
/// Re-rendering the form (after a wrong password, say) keeps this token instead of rotating it:
/// a rotation would make every other sign-in form of the same browser that is still open or in
/// flight fail with "form expired" (two tabs; parallel submissions).
fn existing_login_csrf<'h>(headers: &'h HeaderMap, iid: &str) -> Option<&'h str> {
    let value = cookie_value(headers, &login_csrf_cookie_name(iid))?;
    let secret = value.strip_prefix(LOGIN_CSRF_PREFIX)?.strip_prefix('_')?;
    (secret.len() == 43
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    .then_some(value)
}

#[allow(clippy::too_many_arguments)]
fn login_form(
    state: &AppState,
    instance: &Instance,
    headers: &HeaderMap,
    continue_to: &str,
    username: &str,
    error: &str,
    step_up: bool,
    status: StatusCode,
) -> Response {
    let token = existing_login_csrf(headers, &instance.id)
        .map_or_else(|| id::new_secret(LOGIN_CSRF_PREFIX), str::to_owned);
    let mut resp = render(
        status,
        &LoginPage {
            instance_id: &instance.id,
            instance_name: &instance.name,
            csrf: &token,
            continue_to,
            username,
            error,
            step_up,
        },
    );
    let cookie = format!(
        "{}={token}; Path=/i/{}/login; Max-Age=3600; HttpOnly; SameSite=Lax{}",
        login_csrf_cookie_name(&instance.id),
        instance.id,
        if state.config.secure_cookies {
            "; Secure"
        } else {
            ""
        }
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

async fn login_page(
    State(state): State<AppState>,
    Path(iid): Path<String>,
    Query(q): Query<LoginQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let instance = load_instance(&state, &iid).await?;
    let continue_to = safe_continue(&iid, q.continue_to.as_deref());
    let force = q.force.is_some();
    let step_up = q.mfa.is_some();
    if !force && let Some(session) = load_session(&state, &headers, &iid).await? {
        if session.mfa_pending {
            return Ok(see_other(&format!(
                "/i/{iid}/login/mfa?continue={}",
                super::auth::query_escape(&continue_to)
            )));
        }
        let already_mfa = crate::saml_idp::AuthnLevel::from_methods(&session.authn_methods)
            == crate::saml_idp::AuthnLevel::Mfa;
        if !step_up || already_mfa {
            return Ok(see_other(&continue_to));
        }
    }
    Ok(login_form(
        &state,
        &instance,
        &headers,
        &continue_to,
        "",
        "",
        step_up,
        StatusCode::OK,
    ))
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(rename = "continue")]
    continue_to: Option<String>,
    mfa: Option<String>,
}

fn with_cookie(mut resp: Response, cookie: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

async fn login_submit(
    State(state): State<AppState>,
    Path(iid): Path<String>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> ApiResult<Response> {
    let instance = load_instance(&state, &iid).await?;
    let continue_to = safe_continue(&iid, form.continue_to.as_deref());
    let step_up = form.mfa.is_some();
    let expected = cookie_value(&headers, &login_csrf_cookie_name(&iid)).unwrap_or_default();
    if csrf::verify(expected, Some(&form.csrf)).is_err() {
        return Ok(login_form(
            &state,
            &instance,
            &headers,
            &continue_to,
            &form.username,
            "Your sign-in form expired. Please try again.",
            step_up,
            StatusCode::FORBIDDEN,
        ));
    }
    let outcome = state
        .sign_in_password(
            &instance,
            &form.username,
            &Password::new(form.password),
            ip.as_deref(),
            step_up,
        )
        .await?;
    let secure = state.config.secure_cookies;
    let ttl = instance.settings.session_ttl_secs;
    Ok(match outcome {
        SignInOutcome::SignedIn {
            session,
            must_change_password,
        } => {
            let next = if must_change_password {
                format!(
                    "/i/{iid}/password?continue={}",
                    super::auth::query_escape(&continue_to)
                )
            } else {
                continue_to
            };
            with_cookie(
                see_other(&next),
                &session_cookie(&iid, &session.token, ttl, secure),
            )
        }
        SignInOutcome::SecondFactor { session, .. } => with_cookie(
            see_other(&format!(
                "/i/{iid}/login/mfa?continue={}",
                super::auth::query_escape(&continue_to)
            )),
            &session_cookie(&iid, &session.token, ttl, secure),
        ),
        SignInOutcome::Refused(r) => {
            let status = match r {
                SignInRefusal::RateLimited => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::UNAUTHORIZED,
            };
            login_form(
                &state,
                &instance,
                &headers,
                &continue_to,
                &form.username,
                &r.to_string(),
                step_up,
                status,
            )
        }
    })
}

// ---- second factor ---------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "mfa.html")]
pub(crate) struct MfaPage<'a> {
    pub action: &'a str,
    pub csrf: &'a str,
    pub continue_to: &'a str,
    pub error: &'a str,
    pub enrol: bool,
    pub secret: &'a str,
    pub otpauth_url: &'a str,
}

#[derive(Debug, Deserialize)]
struct ContinueQuery {
    #[serde(rename = "continue")]
    continue_to: Option<String>,
}

async fn mfa_page(
    State(state): State<AppState>,
    Path(iid): Path<String>,
    Query(q): Query<ContinueQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let instance = load_instance(&state, &iid).await?;
    let continue_to = safe_continue(&iid, q.continue_to.as_deref());
    let Some(session) = load_session(&state, &headers, &iid)
        .await?
        .filter(|s| s.mfa_pending)
    else {
        return Ok(see_other(&format!(
            "/i/{iid}/login?continue={}",
            super::auth::query_escape(&continue_to)
        )));
    };
    let user = {
        let mut conn = state.store.read().await?;
        store::user::get(&mut conn, &iid, &session.user_id)
            .await?
            .ok_or_else(|| ApiError::not_found("user"))?
    };
    let action = format!("/i/{iid}/login/mfa");
    if user.mfa_enabled {
        return Ok(render(
            StatusCode::OK,
            &MfaPage {
                action: &action,
                csrf: &session.csrf_token,
                continue_to: &continue_to,
                error: "",
                enrol: false,
                secret: "",
                otpauth_url: "",
            },
        ));
    }
    let enrolment = state.begin_totp_enrolment(&instance, &user).await?;
    Ok(render(
        StatusCode::OK,
        &MfaPage {
            action: &action,
            csrf: &session.csrf_token,
            continue_to: &continue_to,
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
    #[serde(rename = "continue")]
    continue_to: Option<String>,
    enrol: Option<String>,
}

async fn mfa_submit(
    State(state): State<AppState>,
    Path(iid): Path<String>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> ApiResult<Response> {
    let instance = load_instance(&state, &iid).await?;
    let continue_to = safe_continue(&iid, form.continue_to.as_deref());
    let Some(session) = load_session(&state, &headers, &iid)
        .await?
        .filter(|s| s.mfa_pending)
    else {
        return Ok(see_other(&format!(
            "/i/{iid}/login?continue={}",
            super::auth::query_escape(&continue_to)
        )));
    };
    csrf::verify(&session.csrf_token, Some(&form.csrf))?;
    let enrolling = form.enrol.is_some();
    match state
        .sign_in_second_factor(&instance, &session, &form.code, enrolling, ip.as_deref())
        .await?
    {
        Ok(()) => {
            let must_change = {
                let mut conn = state.store.read().await?;
                store::user::get(&mut conn, &iid, &session.user_id)
                    .await?
                    .is_some_and(|u| u.must_change_password)
            };
            if must_change {
                return Ok(see_other(&format!(
                    "/i/{iid}/password?continue={}",
                    super::auth::query_escape(&continue_to)
                )));
            }
            Ok(see_other(&continue_to))
        }
        Err(refusal) => {
            let action = format!("/i/{iid}/login/mfa");
            let status = if refusal == SignInRefusal::RateLimited {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::UNAUTHORIZED
            };
            // An enrolment that failed keeps the secret shown before; the user retries the code.
            Ok(render(
                status,
                &MfaPage {
                    action: &action,
                    csrf: &session.csrf_token,
                    continue_to: &continue_to,
                    error: &refusal.to_string(),
                    enrol: false,
                    secret: "",
                    otpauth_url: "",
                },
            ))
        }
    }
}

// ---- password change --------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage<'a> {
    instance_id: &'a str,
    csrf: &'a str,
    continue_to: &'a str,
    error: &'a str,
    forced: bool,
    policy: &'a str,
}

fn policy_text(instance: &Instance) -> String {
    let p = &instance.settings.password_policy;
    format!(
        "At least {} characters, mixing at least {} of: lower case, upper case, digits, symbols; not one of your last {} passwords.",
        p.min_length, p.require_classes, p.history
    )
}

async fn password_page(
    State(_state): State<AppState>,
    session: UserSession,
    Query(q): Query<ContinueQuery>,
) -> ApiResult<Response> {
    let continue_to = safe_continue(&session.instance.id, q.continue_to.as_deref());
    let policy = policy_text(&session.instance);
    Ok(render(
        StatusCode::OK,
        &PasswordPage {
            instance_id: &session.instance.id,
            csrf: &session.session.csrf_token,
            continue_to: &continue_to,
            error: "",
            forced: session.user.must_change_password,
            policy: &policy,
        },
    ))
}

#[derive(Debug, Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
    #[serde(default)]
    csrf: String,
    #[serde(rename = "continue")]
    continue_to: Option<String>,
}

async fn password_submit(
    State(state): State<AppState>,
    session: UserSession,
    ClientIp(ip): ClientIp,
    Form(form): Form<PasswordForm>,
) -> ApiResult<Response> {
    csrf::verify(&session.session.csrf_token, Some(&form.csrf))?;
    let instance = &session.instance;
    let continue_to = safe_continue(&instance.id, form.continue_to.as_deref());
    let error = if form.new_password != form.confirm_password {
        Some("The new passwords do not match.".to_owned())
    } else {
        state
            .change_password(
                instance,
                &session.user,
                &Password::new(form.current_password),
                &Password::new(form.new_password),
                ip.as_deref(),
            )
            .await?
            .err()
            .map(|e| e.to_string())
    };
    match error {
        None => Ok(see_other(&continue_to)),
        Some(error) => {
            let policy = policy_text(instance);
            Ok(render(
                StatusCode::BAD_REQUEST,
                &PasswordPage {
                    instance_id: &instance.id,
                    csrf: &session.session.csrf_token,
                    continue_to: &continue_to,
                    error: &error,
                    forced: session.user.must_change_password,
                    policy: &policy,
                },
            ))
        }
    }
}

// ---- logout -----------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    Path(iid): Path<String>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> ApiResult<Response> {
    let instance = load_instance(&state, &iid).await?;
    if let Some(session) = load_session(&state, &headers, &iid).await? {
        csrf::verify(&session.csrf_token, Some(&form.csrf))?;
        state.sign_out(&instance, &session, ip.as_deref()).await?;
    }
    Ok(with_cookie(
        see_other(&format!("/i/{iid}/login")),
        &clear_session_cookie(&iid, state.config.secure_cookies),
    ))
}
