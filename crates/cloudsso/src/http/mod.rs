//! HTTP edge: router assembly, shared state, the error type, JSON/auth extractors.
//!
//! Handlers parse, call the domain (`Services`), and render. Each area has its own module with a
//! `router()` (or `routes()` for the documented admin API); [`router`] merges them. The generic
//! pieces (ApiError, ApiJson, ApiQuery, ApiRoutes, CSRF) live in the shared `web` crate.

pub mod admin;
pub mod auth;
pub mod console;
pub mod page;
pub mod portal;
pub mod saml;

// SCIM synchronization settings and credentials (issue 4).
pub mod scim_admin;

// CS-cloud's areas: the built-in cloud, access configurations/assignments, the portal's account list.
pub mod access;
pub mod cloud;
pub mod portal_accounts;

use std::ops::Deref;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode};

pub use web::http::{ApiError, ApiJson, ApiQuery, ApiResult, ErrorBody, csrf, payload_too_large};

/// The TCP peer address of the request (from `into_make_service_with_connect_info`). IDaaS's
/// extractor of the same name now reads its own trusted-proxy configuration, so Cloud SSO has its
/// own (Cloud SSO has no trusted proxies yet).
#[derive(Debug, Clone)]
pub struct ClientIp(pub Option<String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|ci| ci.0.ip().to_string()),
        ))
    }
}

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
    Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .merge(admin::routes().into_router())
        .merge(scim_admin::routes().into_router())
        .merge(openapi_router()) // admin::openapi_document() + the areas' handler docs
        .merge(saml::router())
        .merge(console::router())
        .merge(portal::router())
        // ---- CS-cloud's routers ----
        .merge(cloud::router())
        .merge(access::router())
        .merge(portal_accounts::router())
        // ----------------------------
        .merge(crate::scim::router()) // SCIM 2.0 server at /scim/v2 (own body limits)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn(
            web::http::close_after_payload_too_large,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Every admin API route (`/api/v1/…`) the router serves, as (method, path template) pairs.
/// Each must be documented in the OpenAPI document (a test checks it).
pub fn admin_routes() -> Vec<(Method, String)> {
    let mut all = admin::routes().list().to_vec();
    all.extend_from_slice(access::routes().list());
    all.extend_from_slice(scim_admin::routes().list());
    all
}

/// The served OpenAPI document: every admin route ([`admin::openapi_document`]) with the handler
/// documentation of the access and SCIM areas.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    scim_admin::with_area_docs(access::openapi_document())
}

/// `GET /api/openapi.json`.
pub fn openapi_router() -> Router<AppState> {
    Router::new().route(
        "/api/openapi.json",
        axum::routing::get(|| async { axum::Json(openapi_document()) }),
    )
}

/// Admin API routes of one area (see [`web::http::ApiRoutes`]); [`admin_routes`] lists them.
pub type ApiRoutes = web::http::ApiRoutes<AppState>;

/// Maps a domain error to the HTTP error (the one place that decides status codes).
pub fn api_error(e: Error) -> ApiError {
    match e {
        Error::NotFound(what) => ApiError::not_found(what),
        Error::AlreadyExists { .. } | Error::Conflict(_) => {
            ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
        }
        Error::ChooseIdentityProvider(ref ids) => ApiError::new(
            StatusCode::CONFLICT,
            "choose_identity_provider",
            format!("{e}: {}", ids.join(", ")),
        ),
        Error::LimitExceeded(_) => {
            ApiError::new(StatusCode::CONFLICT, "limit_exceeded", e.to_string())
        }
        Error::Invalid(i) => {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", i.to_string())
        }
        Error::Unauthenticated => ApiError::unauthenticated("authentication required"),
        Error::Forbidden(m) => ApiError::forbidden(m),
        Error::Db(_) | Error::Corrupt(_) | Error::Internal(_) => ApiError::internal(e),
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        api_error(e)
    }
}
