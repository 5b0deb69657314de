//! Bearer authentication of SCIM requests: `Authorization: Bearer <secret>` →
//! [`Services::authenticate_scim`](crate::services::Services::authenticate_scim) → the directory and
//! credential. Missing, malformed, unknown, disabled or expired credentials, and a directory whose SCIM
//! synchronization is off, all get the same `401` with `WWW-Authenticate: Bearer`.

use ::scim::ScimError;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;

use super::ScimErr;
use crate::http::AppState;
use crate::scim_credential::ScimPrincipal;

/// An authenticated SCIM caller.
#[derive(Debug, Clone)]
pub struct ScimAuth {
    /// The directory and credential.
    pub principal: ScimPrincipal,
    /// The TCP peer address.
    pub source_ip: Option<String>,
}

/// The secret of an `Authorization: Bearer …` header (scheme case-insensitive).
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, secret) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(secret.trim())
        .filter(|s| !s.is_empty())
}

impl FromRequestParts<AppState> for ScimAuth {
    type Rejection = ScimErr;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ScimErr> {
        let refused = || {
            ScimErr(ScimError::unauthorized(
                "a valid SCIM bearer credential is required",
            ))
        };
        let secret = bearer(parts).ok_or_else(refused)?;
        let principal = state
            .services
            .authenticate_scim(secret)
            .await
            .map_err(|e| ScimErr(super::scim_error(e)))?
            .ok_or_else(refused)?;
        let source_ip = parts
            .extensions
            .get::<ConnectInfo<std::net::SocketAddr>>()
            .map(|ci| ci.0.ip().to_string());
        Ok(ScimAuth {
            principal,
            source_ip,
        })
    }
}
