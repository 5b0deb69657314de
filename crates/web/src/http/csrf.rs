//! CSRF protection: a synchronizer token stored in the session.
//!
//! Cookie-authenticated unsafe requests must present the session's token: API calls in the
//! `X-CSRF-Token` header (checked by [`super::auth::AdminAuth`]), HTML forms in a hidden field
//! named [`FORM_FIELD`] (checked by the page handler with [`verify`]). Bearer-authenticated calls
//! need no token: browsers do not attach bearer tokens on their own. SAML binding endpoints are
//! exempt by design (they are cross-site POSTs authenticated by the SAML message itself).

use axum::http::{HeaderMap, Method, StatusCode};

use super::ApiError;
use crate::id::constant_time_eq;

/// Header carrying the token for cookie-authenticated API calls.
pub const HEADER: &str = "x-csrf-token";

/// Name of the hidden form field carrying the token.
pub const FORM_FIELD: &str = "csrf";

/// Whether a method changes state (and so needs a CSRF token when cookie-authenticated).
pub fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Checks a presented token against the session's token (constant time).
pub fn verify(expected: &str, presented: Option<&str>) -> Result<(), ApiError> {
    match presented {
        Some(p) if !expected.is_empty() && constant_time_eq(expected, p) => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf",
            "missing or wrong CSRF token",
        )),
    }
}

/// Checks the `X-CSRF-Token` header against the session's token.
pub fn verify_header(expected: &str, headers: &HeaderMap) -> Result<(), ApiError> {
    verify(expected, headers.get(HEADER).and_then(|v| v.to_str().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_tokens() {
        assert!(verify("abc", Some("abc")).is_ok());
        assert!(verify("abc", Some("abd")).is_err());
        assert!(verify("abc", None).is_err());
        assert!(verify("", Some("")).is_err());
        assert!(is_unsafe(&Method::POST));
        assert!(!is_unsafe(&Method::GET));
    }
}
