//! Who is calling: API tokens, console sessions, portal sessions.
//!
//! * [`AdminAuth`]: admin API of the directory in the path (`{directory_id}`): a bearer API token
//!   covering it, or a console session opened with such a token (plus the `X-CSRF-Token` header on
//!   unsafe methods). Anything of another directory answers 404, never revealing existence.
//! * [`PlatformAuth`]: a platform-wide token (or a console session opened with one): creates
//!   directories.
//! * [`PortalSession`]: a fully logged-on, enabled user of the directory named in the path
//!   (`{directory_name}`), for the portal and CS-cloud's logon endpoints.
//! * [`ConsoleSession`]: the console cookie, for HTML admin pages (forms check CSRF themselves).

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Redirect, Response};

pub use web::http::{cookie_value, query_escape};

use super::{ApiError, AppState, ClientIp, csrf};
use crate::api_token::ApiToken;
use crate::audit::Actor;
use crate::directory::Directory;
use crate::store::{self, session::Session, session::SessionKind};
use crate::user::{User, UserStatus};

/// Name of the console session cookie.
pub const CONSOLE_COOKIE: &str = "gh_cs_console";

/// Name of the portal session cookie of a directory (one per directory, path `/`).
pub fn portal_cookie_name(directory_id: &str) -> String {
    format!("gh_cs_portal_{directory_id}")
}

/// A `Set-Cookie` value (`HttpOnly; SameSite=Lax; Path=/`).
pub fn set_cookie(name: &str, token: &str, max_age_secs: i64, secure: bool) -> String {
    format!(
        "{name}={token}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{}",
        max_age_secs.max(0),
        if secure { "; Secure" } else { "" }
    )
}

/// A `Set-Cookie` value that removes a cookie.
pub fn clear_cookie(name: &str, secure: bool) -> String {
    set_cookie(name, "", 0, secure)
}

/// Name of the login CSRF cookie of the console sign-in form.
pub const CONSOLE_LOGIN_CSRF_COOKIE: &str = "gh_cs_console_login_csrf";

/// Name of the login CSRF cookie of a directory's portal logon form.
pub fn portal_login_csrf_cookie_name(directory_id: &str) -> String {
    format!("gh_cs_login_csrf_{directory_id}")
}

/// Prefix of login CSRF tokens.
const LOGIN_CSRF_PREFIX: &str = "lcsrf";

/// The login CSRF token for a sign-in form that has no session yet (a double-submit cookie): the
/// one the browser already holds in cookie `name` when it is one we could have issued (so two open
/// forms keep working), else a new one. Send it back with [`login_csrf_cookie`].
pub fn login_csrf_token(headers: &HeaderMap, name: &str) -> String {
    cookie_value(headers, name)
        .filter(|v| {
            v.strip_prefix(LOGIN_CSRF_PREFIX)
                .and_then(|r| r.strip_prefix('_'))
                .is_some_and(|secret| {
                    secret.len() == 43
                        && secret
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                })
        })
        .map_or_else(|| web::id::new_secret(LOGIN_CSRF_PREFIX), str::to_owned)
}

/// The `Set-Cookie` value carrying a login CSRF token (one hour).
pub fn login_csrf_cookie(name: &str, token: &str, secure: bool) -> String {
    set_cookie(name, token, 3600, secure)
}

/// Checks the token posted by a sign-in form against its login CSRF cookie.
pub fn verify_login_csrf(
    headers: &HeaderMap,
    name: &str,
    presented: Option<&str>,
) -> Result<(), ApiError> {
    csrf::verify(cookie_value(headers, name).unwrap_or_default(), presented)
}

/// The unexpired session named by cookie `name`. Records activity.
pub async fn load_session(
    state: &AppState,
    headers: &HeaderMap,
    name: &str,
) -> Result<Option<Session>, ApiError> {
    let Some(token) = cookie_value(headers, name) else {
        return Ok(None);
    };
    let now = state.now();
    let mut conn = state.store.read().await?;
    let hash = store::session::hash_token(token);
    let session = store::session::get(&mut conn, &hash, now).await?;
    if session.is_some() {
        store::session::touch(&mut conn, &hash, now).await?;
    }
    Ok(session)
}

fn path_param(params: &RawPathParams, names: &[&str]) -> Option<String> {
    params
        .iter()
        .find(|(k, _)| names.contains(k))
        .map(|(_, v)| v.to_owned())
}

async fn client_ip(parts: &mut Parts, state: &AppState) -> Option<String> {
    ClientIp::from_request_parts(parts, state)
        .await
        .map(|c| c.0)
        .unwrap_or(None)
}

/// The bearer token of the request: `Ok(None)` without an `Authorization` header, 401 if it is not a
/// valid, unexpired API token.
async fn bearer_token(parts: &Parts, state: &AppState) -> Result<Option<ApiToken>, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let secret = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::unauthenticated("expected Authorization: Bearer <token>"))?;
    state
        .authenticate_api_token(secret)
        .await?
        .map(Some)
        .ok_or_else(|| ApiError::unauthenticated("invalid or expired API token"))
}

/// The token behind a console session cookie (CSRF checked for unsafe methods).
async fn console_token(
    parts: &Parts,
    state: &AppState,
    check_csrf: bool,
) -> Result<Option<(Session, ApiToken)>, ApiError> {
    let Some(session) = load_session(state, &parts.headers, CONSOLE_COOKIE).await? else {
        return Ok(None);
    };
    if session.kind != SessionKind::Console {
        return Ok(None);
    }
    let Some(token_id) = session.api_token_id.clone() else {
        return Ok(None);
    };
    let token = {
        let mut conn = state.store.read().await?;
        store::api_token::get_valid(&mut conn, &token_id, state.now()).await?
    };
    let Some(token) = token else {
        return Ok(None);
    };
    if check_csrf && csrf::is_unsafe(&parts.method) {
        csrf::verify_header(&session.csrf_token, &parts.headers)?;
    }
    Ok(Some((session, token)))
}

/// An authenticated administrator of the directory in the path.
#[derive(Debug, Clone)]
pub struct AdminAuth {
    /// The directory (exists; the caller may act on it).
    pub directory: Directory,
    /// Who is acting (for the audit log).
    pub actor: Actor,
    /// The token used (directly or through the console session).
    pub token: ApiToken,
}

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found("directory"))?;
        let directory_id = path_param(&params, &["directory_id", "did"])
            .ok_or_else(|| ApiError::not_found("directory"))?;
        let ip = client_ip(parts, state).await;
        let token = match bearer_token(parts, state).await? {
            Some(t) => t,
            None => match console_token(parts, state, true).await? {
                Some((_, t)) => t,
                None => {
                    return Err(ApiError::unauthenticated(
                        "an API token or a console session is required",
                    ));
                }
            },
        };
        if !token.covers(&directory_id) {
            return Err(ApiError::not_found("directory"));
        }
        let directory = {
            let mut conn = state.store.read().await?;
            store::directory::get(&mut conn, &directory_id)
                .await?
                .ok_or_else(|| ApiError::not_found("directory"))?
        };
        Ok(AdminAuth {
            directory,
            actor: Actor::api_token(token.id.clone(), ip),
            token,
        })
    }
}

/// A platform-wide API token (creates and lists directories).
#[derive(Debug, Clone)]
pub struct PlatformAuth {
    /// The token.
    pub token: ApiToken,
    /// Who is acting.
    pub actor: Actor,
}

impl FromRequestParts<AppState> for PlatformAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ip = client_ip(parts, state).await;
        let token = match bearer_token(parts, state).await? {
            Some(t) => Some(t),
            None => console_token(parts, state, true).await?.map(|(_, t)| t),
        };
        match token {
            Some(token) if token.is_platform() => Ok(PlatformAuth {
                actor: Actor::api_token(token.id.clone(), ip),
                token,
            }),
            Some(_) => Err(ApiError::forbidden("a platform API token is required")),
            None => Err(ApiError::unauthenticated(
                "a platform API token is required",
            )),
        }
    }
}

/// Rejection of the session extractors: GET/HEAD go to a logon page, other methods get an error.
#[derive(Debug)]
pub enum SessionRejection {
    /// Redirect to the logon page.
    LogOn(String),
    /// An error response.
    Error(ApiError),
}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        match self {
            SessionRejection::LogOn(location) => Redirect::to(&location).into_response(),
            SessionRejection::Error(e) => e.into_response(),
        }
    }
}

impl From<ApiError> for SessionRejection {
    fn from(e: ApiError) -> Self {
        SessionRejection::Error(e)
    }
}

impl From<crate::error::Error> for SessionRejection {
    fn from(e: crate::error::Error) -> Self {
        SessionRejection::Error(e.into())
    }
}

/// The directory named in the path (`{directory_name}`), case-insensitively.
pub async fn directory_from_path(
    parts: &mut Parts,
    state: &AppState,
) -> Result<Directory, ApiError> {
    let params = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|_| ApiError::not_found("directory"))?;
    let name =
        path_param(&params, &["directory_name"]).ok_or_else(|| ApiError::not_found("directory"))?;
    let mut conn = state.store.read().await?;
    store::directory::get_by_name(&mut conn, &name)
        .await?
        .ok_or_else(|| ApiError::not_found("directory"))
}

/// A fully logged-on (second factor done), enabled user of the directory named in the path.
#[derive(Debug, Clone)]
pub struct PortalSession {
    /// The directory.
    pub directory: Directory,
    /// The user.
    pub user: User,
    /// The session (its `csrf_token` protects the portal's forms).
    pub session: Session,
    /// Who is acting (for the audit log).
    pub actor: Actor,
}

impl PortalSession {
    /// Checks the CSRF token posted by a portal form.
    pub fn verify_csrf(&self, presented: Option<&str>) -> Result<(), ApiError> {
        csrf::verify(&self.session.csrf_token, presented)
    }
}

impl FromRequestParts<AppState> for PortalSession {
    type Rejection = SessionRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, SessionRejection> {
        let directory = directory_from_path(parts, state).await?;
        let to_logon = || {
            if matches!(parts.method, Method::GET | Method::HEAD) {
                let here = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_else(|| "/".to_owned());
                SessionRejection::LogOn(format!(
                    "/{}/login?continue={}",
                    directory.name,
                    query_escape(&here)
                ))
            } else {
                SessionRejection::Error(ApiError::unauthenticated("logon required"))
            }
        };
        let cookie = portal_cookie_name(&directory.id);
        let Some(session) = load_session(state, &parts.headers, &cookie).await? else {
            return Err(to_logon());
        };
        if session.kind != SessionKind::Portal
            || session.mfa_pending
            || session.directory_id.as_deref() != Some(directory.id.as_str())
        {
            return Err(to_logon());
        }
        let user = match &session.user_id {
            Some(uid) => {
                let mut conn = state.store.read().await.map_err(ApiError::from)?;
                store::user::get(&mut conn, &directory.id, uid)
                    .await
                    .map_err(ApiError::from)?
            }
            None => None,
        };
        let Some(user) = user.filter(|u| u.status == UserStatus::Enabled) else {
            return Err(to_logon());
        };
        let ip = client_ip(parts, state).await;
        Ok(PortalSession {
            actor: Actor::user(user.id.clone(), ip),
            directory,
            user,
            session,
        })
    }
}

/// The console session of an administrator (HTML console pages).
#[derive(Debug, Clone)]
pub struct ConsoleSession {
    /// The session (its `csrf_token` protects the console's forms).
    pub session: Session,
    /// The API token the session was opened with.
    pub token: ApiToken,
    /// Who is acting.
    pub actor: Actor,
}

impl ConsoleSession {
    /// Checks the CSRF token posted by a console form.
    pub fn verify_csrf(&self, presented: Option<&str>) -> Result<(), ApiError> {
        csrf::verify(&self.session.csrf_token, presented)
    }
}

impl FromRequestParts<AppState> for ConsoleSession {
    type Rejection = SessionRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, SessionRejection> {
        let Some((session, token)) = console_token(parts, state, false).await? else {
            return Err(if matches!(parts.method, Method::GET | Method::HEAD) {
                SessionRejection::LogOn("/console/login".to_owned())
            } else {
                SessionRejection::Error(ApiError::unauthenticated("console logon required"))
            });
        };
        let ip = client_ip(parts, state).await;
        Ok(ConsoleSession {
            actor: Actor::api_token(token.id.clone(), ip),
            session,
            token,
        })
    }
}
