//! HTTP edge: router assembly, shared state, the one error type, JSON/auth extractors.
//!
//! Handlers parse, call the domain (`Services`), and render. Each area has its own module with a
//! `router()`; [`router`] merges them.

pub mod accounts;
pub mod api_types;
pub mod audit;
pub mod auth;
pub mod health;
pub mod instances;
pub mod openapi;

// Sign-in, portal, applications, SAML and console pages (H-sso).
pub mod apps;
pub mod console;
pub mod portal;
pub mod provisioning_config;
pub mod saml;
pub mod signin;

// Sync records and the provisioning outbox (IDAAS-PROV-ENGINE).
pub mod provisioning_jobs;

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

pub use web::http::{ApiError, ApiJson, ApiQuery, ApiResult, ErrorBody, csrf, payload_too_large};

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
        .merge(provisioning_jobs::routes().into_router())
        .merge(provisioning_jobs::router())
        .merge(provisioning_config::routes().into_router())
        .merge(provisioning_config::console_router())
        // ----------------------------------------------------------------------
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn(
            web::http::close_after_payload_too_large,
        ))
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
        provisioning_config::routes(),
        provisioning_jobs::routes(),
    ]
    .into_iter()
    .flat_map(|r| r.list().to_vec())
    .collect()
}

/// Admin API routes of one area (see [`web::http::ApiRoutes`]); [`admin_routes`] lists them.
pub type ApiRoutes = web::http::ApiRoutes<AppState>;

async fn count_requests(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let resp = next.run(req).await;
    state.metrics.http_request(resp.status().as_u16());
    resp
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
