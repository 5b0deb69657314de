//! Who is calling: API tokens, sign-in sessions (cookies), and the admin / platform checks.
//!
//! * [`AdminAuth`]: admin API of one instance — a bearer API token of that instance (or a platform
//!   token), or the session cookie of an enabled admin user of that instance (plus CSRF header on
//!   unsafe methods). Anything of another instance answers 404, never revealing existence.
//! * [`PlatformAuth`]: platform-wide bearer token only (instance management).
//! * [`UserSession`]: a fully signed-in user of the instance in the path (`/i/{instance_id}/…`).
//! * [`ConsoleAdmin`]: a [`UserSession`] of an admin, for HTML console pages; the page handler checks
//!   the form's CSRF token with [`ConsoleAdmin::verify_csrf`].

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

pub use web::http::{cookie_value, query_escape};

use super::{ApiError, AppState, ClientIp, csrf};
use crate::api_token::ApiToken;
use crate::audit::Actor;
use crate::id;
use crate::instance::Instance;
use crate::store::{self, session::Session};
use crate::user::{User, UserStatus};

/// Name of the session cookie for an instance (one cookie per instance, path `/`).
pub fn session_cookie_name(instance_id: &str) -> String {
    format!("gh_session_{instance_id}")
}

/// A `Set-Cookie` value carrying a session token (`HttpOnly; SameSite=Lax; Path=/`).
pub fn session_cookie(instance_id: &str, token: &str, max_age_secs: i64, secure: bool) -> String {
    format!(
        "{}={token}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{}",
        session_cookie_name(instance_id),
        max_age_secs.max(0),
        if secure { "; Secure" } else { "" }
    )
}

/// A `Set-Cookie` value that removes the session cookie.
pub fn clear_session_cookie(instance_id: &str, secure: bool) -> String {
    format!(
        "{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{}",
        session_cookie_name(instance_id),
        if secure { "; Secure" } else { "" }
    )
}

/// The unexpired session of `instance_id` named by the request's cookie (including sessions
/// still waiting for a second factor). Records activity.
pub async fn load_session(
    state: &AppState,
    headers: &HeaderMap,
    instance_id: &str,
) -> Result<Option<Session>, ApiError> {
    let Some(token) = cookie_value(headers, &session_cookie_name(instance_id)) else {
        return Ok(None);
    };
    let now = state.now();
    let mut conn = state.store.read().await?;
    let hash = store::session::hash_token(token);
    let session = store::session::get(&mut conn, instance_id, &hash, now).await?;
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

/// The instance id in the path (`{iid}` or `{instance_id}`).
async fn instance_id_from_path(parts: &mut Parts, state: &AppState) -> Result<String, ApiError> {
    let params = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|_| ApiError::not_found("instance"))?;
    path_param(&params, &["iid", "instance_id"]).ok_or_else(|| ApiError::not_found("instance"))
}

/// The bearer token of the request: `Ok(None)` if there is no `Authorization` header, 401 if it is
/// not a valid, unexpired API token.
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
    let now = state.now();
    let mut conn = state.store.read().await?;
    let token = store::api_token::find_valid(&mut conn, &id::hash_secret(secret), now)
        .await?
        .ok_or_else(|| ApiError::unauthenticated("invalid or expired API token"))?;
    store::api_token::touch(&mut conn, &token.id, now).await?;
    Ok(Some(token))
}

/// How an admin request was authenticated.
#[derive(Debug, Clone)]
pub enum AdminVia {
    /// A bearer API token.
    Token(ApiToken),
    /// A console session of an admin user.
    Session {
        /// The session.
        session: Box<Session>,
        /// The admin user.
        user: Box<User>,
    },
}

/// An authenticated administrator of the instance in the path.
#[derive(Debug, Clone)]
pub struct AdminAuth {
    /// The instance (exists; the caller may act on it).
    pub instance: Instance,
    /// Who is acting (for the audit log).
    pub actor: Actor,
    /// How.
    pub via: AdminVia,
}

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let instance_id = instance_id_from_path(parts, state).await?;
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state)
            .await
            .unwrap_or(ClientIp(None));
        let load_instance = |id: String| async move {
            let mut conn = state.store.read().await?;
            store::instance::get(&mut conn, &id)
                .await?
                .ok_or_else(|| ApiError::not_found("instance"))
        };
        if let Some(token) = bearer_token(parts, state).await? {
            if !token.covers(&instance_id) {
                return Err(ApiError::not_found("instance"));
            }
            let instance = load_instance(instance_id).await?;
            return Ok(AdminAuth {
                instance,
                actor: Actor::api_token(token.id.clone(), ip),
                via: AdminVia::Token(token),
            });
        }
        let Some(session) = load_session(state, &parts.headers, &instance_id).await? else {
            return Err(ApiError::unauthenticated(
                "an API token or an administrator session is required",
            ));
        };
        if session.mfa_pending {
            return Err(ApiError::unauthenticated("sign-in is not complete"));
        }
        let user = {
            let mut conn = state.store.read().await?;
            store::user::get(&mut conn, &instance_id, &session.user_id).await?
        };
        let user = match user {
            Some(u) if u.is_admin && u.status == UserStatus::Enabled => u,
            _ => return Err(ApiError::forbidden("administrator rights required")),
        };
        if csrf::is_unsafe(&parts.method) {
            csrf::verify_header(&session.csrf_token, &parts.headers)?;
        }
        let instance = load_instance(instance_id).await?;
        Ok(AdminAuth {
            instance,
            actor: Actor::user(user.id.clone(), ip),
            via: AdminVia::Session {
                session: Box::new(session),
                user: Box::new(user),
            },
        })
    }
}

/// A platform-wide API token (manages instances).
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
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state)
            .await
            .unwrap_or(ClientIp(None));
        match bearer_token(parts, state).await? {
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

/// A fully signed-in (second factor done), enabled user of the instance in the path.
#[derive(Debug, Clone)]
pub struct UserSession {
    /// The instance.
    pub instance: Instance,
    /// The session.
    pub session: Session,
    /// The user.
    pub user: User,
    /// Who is acting.
    pub actor: Actor,
}

/// Rejection of [`UserSession`]/[`ConsoleAdmin`]: GET/HEAD go to the sign-in page (with `continue`),
/// other methods get an error.
#[derive(Debug)]
pub enum SessionRejection {
    /// Redirect to the sign-in page.
    SignIn(String),
    /// An error response.
    Error(ApiError),
}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        match self {
            SessionRejection::SignIn(location) => Redirect::to(&location).into_response(),
            SessionRejection::Error(e) => e.into_response(),
        }
    }
}

impl From<ApiError> for SessionRejection {
    fn from(e: ApiError) -> Self {
        SessionRejection::Error(e)
    }
}

impl FromRequestParts<AppState> for UserSession {
    type Rejection = SessionRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, SessionRejection> {
        let instance_id = instance_id_from_path(parts, state).await?;
        let instance = {
            let mut conn = state.store.read().await.map_err(ApiError::from)?;
            store::instance::get(&mut conn, &instance_id)
                .await
                .map_err(ApiError::from)?
                .ok_or_else(|| ApiError::not_found("instance"))?
        };
        let to_sign_in = || {
            if matches!(
                parts.method,
                axum::http::Method::GET | axum::http::Method::HEAD
            ) {
                let here = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_else(|| "/".to_owned());
                SessionRejection::SignIn(format!(
                    "/i/{instance_id}/login?continue={}",
                    query_escape(&here)
                ))
            } else {
                SessionRejection::Error(ApiError::unauthenticated("sign-in required"))
            }
        };
        let Some(session) = load_session(state, &parts.headers, &instance_id).await? else {
            return Err(to_sign_in());
        };
        if session.mfa_pending {
            return Err(to_sign_in());
        }
        let user = {
            let mut conn = state.store.read().await.map_err(ApiError::from)?;
            store::user::get(&mut conn, &instance_id, &session.user_id)
                .await
                .map_err(ApiError::from)?
        };
        let Some(user) = user.filter(|u| u.status == UserStatus::Enabled) else {
            return Err(to_sign_in());
        };
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state)
            .await
            .unwrap_or(ClientIp(None));
        Ok(UserSession {
            instance,
            actor: Actor::user(user.id.clone(), ip),
            session,
            user,
        })
    }
}

/// A [`UserSession`] of an administrator (HTML console pages).
#[derive(Debug, Clone)]
pub struct ConsoleAdmin(pub UserSession);

impl ConsoleAdmin {
    /// Checks the CSRF token posted by a console form.
    pub fn verify_csrf(&self, presented: Option<&str>) -> Result<(), ApiError> {
        csrf::verify(&self.0.session.csrf_token, presented)
    }
}

impl FromRequestParts<AppState> for ConsoleAdmin {
    type Rejection = SessionRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, SessionRejection> {
        let s = UserSession::from_request_parts(parts, state).await?;
        if !s.user.is_admin {
            return Err(SessionRejection::Error(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "administrator rights required",
            )));
        }
        Ok(ConsoleAdmin(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn cookies_are_found_by_name() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; gh_session_idaas_x=tok; b=2"),
        );
        assert_eq!(cookie_value(&h, "gh_session_idaas_x"), Some("tok"));
        assert_eq!(cookie_value(&h, "gh_session_idaas_y"), None);
        let c = session_cookie("idaas_x", "tok", 60, true);
        assert_eq!(
            c,
            "gh_session_idaas_x=tok; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure"
        );
    }
}
