//! HTTP edge: router assembly, shared state, the one error type, JSON/auth extractors.
//!
//! Handlers parse, call the domain (`Services`), and render. Each area has its own module with a
//! `router()`; [`router`] merges them.

pub mod accounts;
pub mod api_types;
pub mod audit;
pub mod auth;
pub mod csrf;
pub mod health;
pub mod instances;
pub mod openapi;

// Sign-in, portal, applications, SAML and console pages (H-sso).
pub mod apps;
pub mod console;
pub mod portal;
pub mod saml;
pub mod signin;

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, FromRequestParts, Request};
use axum::handler::Handler;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::Error;
use crate::services::Services;

/// State shared by all handlers.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The domain services.
    pub services: Arc<Services>,
}

impl AppState {
    /// Wraps the services.
    pub fn new(services: Arc<Services>) -> Self {
        Self { services }
    }
}

impl Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.services
    }
}

/// Builds the whole router.
pub fn router(state: AppState) -> Router {
    let max_body = state.config.max_body_bytes;
    let metrics_state = state.clone();
    Router::new()
        .merge(health::router())
        .merge(openapi::router())
        .merge(instances::routes().into_router())
        .merge(accounts::routes().into_router())
        .merge(audit::routes().into_router())
        // ---- H-sso's routers: sign-in, portal, applications, SAML, console ----
        .merge(signin::router())
        .merge(portal::router())
        .merge(apps::routes().into_router())
        .merge(saml::router())
        .merge(console::router())
        // ----------------------------------------------------------------------
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(
            metrics_state,
            count_requests,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Every admin API route (`/api/v1/…`) the router serves, as (method, path template) pairs in
/// registration order. Each must be documented in [`openapi::document`] (a test checks it).
pub fn admin_routes() -> Vec<(Method, String)> {
    [
        instances::routes(),
        accounts::routes(),
        audit::routes(),
        apps::routes(),
    ]
    .into_iter()
    .flat_map(|r| r.routes)
    .collect()
}

/// Admin API routes of one area: the axum router plus the list of (method, path) pairs it serves,
/// so that [`admin_routes`] lists exactly what is routed. Each call registers ONE method.
#[derive(Debug, Default)]
pub struct ApiRoutes {
    router: Router<AppState>,
    routes: Vec<(Method, String)>,
}

impl ApiRoutes {
    /// No routes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `method_router`, which must serve only `method`, at `path` (e.g. to add a layer).
    pub fn route(
        mut self,
        method: Method,
        path: &str,
        method_router: MethodRouter<AppState>,
    ) -> Self {
        self.router = self.router.route(path, method_router);
        self.routes.push((method, path.to_owned()));
        self
    }

    /// `GET path`.
    pub fn get<H: Handler<T, AppState>, T: 'static>(self, path: &str, handler: H) -> Self {
        self.route(Method::GET, path, axum::routing::get(handler))
    }

    /// `POST path`.
    pub fn post<H: Handler<T, AppState>, T: 'static>(self, path: &str, handler: H) -> Self {
        self.route(Method::POST, path, axum::routing::post(handler))
    }

    /// `PUT path`.
    pub fn put<H: Handler<T, AppState>, T: 'static>(self, path: &str, handler: H) -> Self {
        self.route(Method::PUT, path, axum::routing::put(handler))
    }

    /// `PATCH path`.
    pub fn patch<H: Handler<T, AppState>, T: 'static>(self, path: &str, handler: H) -> Self {
        self.route(Method::PATCH, path, axum::routing::patch(handler))
    }

    /// `DELETE path`.
    pub fn delete<H: Handler<T, AppState>, T: 'static>(self, path: &str, handler: H) -> Self {
        self.route(Method::DELETE, path, axum::routing::delete(handler))
    }

    /// The (method, path) pairs registered so far.
    pub fn list(&self) -> &[(Method, String)] {
        &self.routes
    }

    /// The axum router.
    pub fn into_router(self) -> Router<AppState> {
        self.router
    }
}

async fn count_requests(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let resp = next.run(req).await;
    state.metrics.http_request(resp.status().as_u16());
    resp
}

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

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound(what) => ApiError::not_found(what),
            Error::AlreadyExists { .. } => {
                ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            Error::Invalid(i) => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", i.to_string())
            }
            Error::OrgUnitNotEmpty | Error::OrgUnitCycle => {
                ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            Error::Unauthenticated => ApiError::unauthenticated("authentication required"),
            Error::Forbidden(m) => ApiError::forbidden(m),
            Error::Db(_) | Error::Corrupt(_) | Error::Internal(_) => ApiError::internal(e),
        }
    }
}

impl From<crate::error::InvalidInput> for ApiError {
    fn from(i: crate::error::InvalidInput) -> Self {
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

/// The client address of the request: the TCP peer (from `into_make_service_with_connect_info`),
/// or, when the peer is one of [`crate::Config::trusted_proxies`], the rightmost
/// `X-Forwarded-For` hop that is not a trusted proxy (see [`crate::net::client_address`]).
#[derive(Debug, Clone)]
pub struct ClientIp(pub Option<String>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(peer) = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ci| ci.0.ip())
        else {
            return Ok(ClientIp(None));
        };
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        let ip = crate::net::client_address(peer, forwarded, &state.config.trusted_proxies);
        Ok(ClientIp(Some(ip.to_string())))
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
