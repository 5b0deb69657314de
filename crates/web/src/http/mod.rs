//! HTTP plumbing shared by the services: the one API error type, JSON and query extractors whose
//! rejections are API errors, CSRF checks, and cookie/query helpers.

pub mod csrf;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::handler::Handler;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::InvalidInput;

/// The JSON error body of every API error.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Machine-readable code, e.g. `not_found`, `invalid_request`, `conflict`.
    pub error: String,
    /// Human-readable message.
    pub message: String,
}

/// An error at the HTTP edge: status code plus `{"error": code, "message": …}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable code.
    pub code: &'static str,
    /// Human-readable message (never secrets or internals).
    pub message: String,
}

impl ApiError {
    /// An error with the given status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 404 `not_found`.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    /// 401 `unauthenticated`.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 400 `invalid_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// 500 `internal` (the detail is logged, not returned).
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal server error",
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code.to_owned(),
            message: self.message,
        };
        let mut resp = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        resp
    }
}

impl From<InvalidInput> for ApiError {
    fn from(i: InvalidInput) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", i.to_string())
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

/// `Json<T>` whose rejections are [`ApiError`]s (400 `invalid_json`, 413, 415).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    match r {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected Content-Type: application/json",
        ),
        JsonRejection::BytesRejection(b) if b.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            payload_too_large()
        }
        JsonRejection::JsonDataError(e) => {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", e.body_text())
        }
        other => ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", other.body_text()),
    }
}

/// 413 `payload_too_large`.
pub fn payload_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "request body is too large",
    )
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}

/// Query string extractor whose rejection is a 400 [`ApiError`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e| ApiError::bad_request(e.body_text()))
    }
}

/// The value of cookie `name` in the request headers.
pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Percent-encodes a string for a query parameter value.
pub fn query_escape(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Admin API routes of one area: the axum router plus the list of (method, path) pairs it serves,
/// so that a service's route list is exactly what is routed. Each call registers ONE method.
pub struct ApiRoutes<S> {
    router: Router<S>,
    routes: Vec<(Method, String)>,
}

impl<S: Clone + Send + Sync + 'static> Default for ApiRoutes<S> {
    fn default() -> Self {
        Self {
            router: Router::new(),
            routes: Vec::new(),
        }
    }
}

impl<S> std::fmt::Debug for ApiRoutes<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiRoutes")
            .field("routes", &self.routes)
            .finish_non_exhaustive()
    }
}

impl<S: Clone + Send + Sync + 'static> ApiRoutes<S> {
    /// No routes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `method_router`, which must serve only `method`, at `path` (e.g. to add a layer).
    pub fn route(mut self, method: Method, path: &str, method_router: MethodRouter<S>) -> Self {
        self.router = self.router.route(path, method_router);
        self.routes.push((method, path.to_owned()));
        self
    }

    /// `GET path`.
    pub fn get<H: Handler<T, S>, T: 'static>(self, path: &str, handler: H) -> Self {
        self.route(Method::GET, path, axum::routing::get(handler))
    }

    /// `POST path`.
    pub fn post<H: Handler<T, S>, T: 'static>(self, path: &str, handler: H) -> Self {
        self.route(Method::POST, path, axum::routing::post(handler))
    }

    /// `PUT path`.
    pub fn put<H: Handler<T, S>, T: 'static>(self, path: &str, handler: H) -> Self {
        self.route(Method::PUT, path, axum::routing::put(handler))
    }

    /// `PATCH path`.
    pub fn patch<H: Handler<T, S>, T: 'static>(self, path: &str, handler: H) -> Self {
        self.route(Method::PATCH, path, axum::routing::patch(handler))
    }

    /// `DELETE path`.
    pub fn delete<H: Handler<T, S>, T: 'static>(self, path: &str, handler: H) -> Self {
        self.route(Method::DELETE, path, axum::routing::delete(handler))
    }

    /// The (method, path) pairs registered so far.
    pub fn list(&self) -> &[(Method, String)] {
        &self.routes
    }

    /// The axum router.
    pub fn into_router(self) -> Router<S> {
        self.router
    }
}

/// Middleware: a 413 answer ends the connection (`Connection: close`). The server refused the
/// body without reading it, so the rest of it may still be on the wire; a client that reused the
/// connection would have its next request fail (a broken pipe) instead of getting an answer.
pub async fn close_after_payload_too_large(req: Request, next: axum::middleware::Next) -> Response {
    let mut resp = next.run(req).await;
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE {
        resp.headers_mut().insert(
            header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    resp
}

/// Why [`read_body_limited`] gave up.
#[derive(Debug, thiserror::Error)]
pub enum BodyReadError {
    /// The body is larger than the limit (it was drained as far as allowed).
    #[error("the request body exceeds {0} bytes")]
    TooLarge(usize),
    /// The connection failed while reading.
    #[error("the request body could not be read: {0}")]
    Read(String),
}

/// Most bytes of an oversized body read and thrown away before refusing it.
pub const DRAIN_MAX_BYTES: usize = 16 * 1024 * 1024;
/// Longest time spent draining an oversized body.
pub const DRAIN_FOR: std::time::Duration = std::time::Duration::from_secs(5);

/// Reads a request body of at most `limit` bytes. A larger body is refused, but the rest of it is
/// first read and thrown away (at most [`DRAIN_MAX_BYTES`], for at most [`DRAIN_FOR`]): a client
/// still sending it would otherwise see a broken pipe instead of the refusal. Bodies announced
/// (Content-Length) beyond the drain bound are refused at once.
pub async fn read_body_limited(
    headers: &HeaderMap,
    body: axum::body::Body,
    limit: usize,
) -> Result<axum::body::Bytes, BodyReadError> {
    use http_body_util::BodyExt;
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|len| len > DRAIN_MAX_BYTES as u64) {
        return Err(BodyReadError::TooLarge(limit));
    }
    let mut body = body;
    let mut kept: Vec<u8> = Vec::new();
    let mut seen: usize = 0;
    let mut too_large = announced.is_some_and(|len| len > limit as u64);
    let deadline = tokio::time::Instant::now() + DRAIN_FOR;
    loop {
        let frame = if too_large {
            match tokio::time::timeout_at(deadline, body.frame()).await {
                Ok(f) => f,
                Err(_) => break,
            }
        } else {
            body.frame().await
        };
        let Some(frame) = frame else { break };
        let frame = frame.map_err(|e| BodyReadError::Read(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if !too_large && seen > limit {
            too_large = true;
            kept = Vec::new();
        }
        if too_large {
            if seen > DRAIN_MAX_BYTES {
                break;
            }
        } else {
            kept.extend_from_slice(&data);
        }
    }
    if too_large {
        Err(BodyReadError::TooLarge(limit))
    } else {
        Ok(axum::body::Bytes::from(kept))
    }
}

#[cfg(test)]
mod body_tests {
    use super::*;

    fn len_header(n: usize) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_LENGTH, n.to_string().parse().unwrap());
        h
    }

    #[tokio::test]
    async fn bodies_within_the_limit_are_returned_whole() {
        let body = axum::body::Body::from(vec![b'a'; 1000]);
        let got = read_body_limited(&HeaderMap::new(), body, 1000)
            .await
            .unwrap();
        assert_eq!(got.len(), 1000);
    }

    #[tokio::test]
    async fn oversized_bodies_are_refused_announced_or_not() {
        let body = axum::body::Body::from(vec![b'a'; 1001]);
        let err = read_body_limited(&HeaderMap::new(), body, 1000)
            .await
            .unwrap_err();
        assert!(matches!(err, BodyReadError::TooLarge(1000)), "{err:?}");
        let body = axum::body::Body::from(vec![b'a'; 5000]);
        let err = read_body_limited(&len_header(5000), body, 1000)
            .await
            .unwrap_err();
        assert!(matches!(err, BodyReadError::TooLarge(1000)), "{err:?}");
        // Announced beyond the drain bound: refused without reading.
        let body = axum::body::Body::from(vec![b'a'; 10]);
        let err = read_body_limited(&len_header(DRAIN_MAX_BYTES + 1), body, 1000)
            .await
            .unwrap_err();
        assert!(matches!(err, BodyReadError::TooLarge(1000)), "{err:?}");
    }
}
