//! The OpenAPI 3 document of the admin API, generated from the handlers, at `/api/openapi.json`.
//!
//! Each HTTP module declares its own `ApiDoc` (`#[derive(utoipa::OpenApi)]` listing its
//! `#[utoipa::path]` handlers and schemas); [`document`] merges them all. Admin routes are
//! registered through [`super::ApiRoutes`], so [`super::admin_routes`] lists every one of them and
//! the integration tests check each is documented.

use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use super::AppState;

/// The top-level document (title, security scheme); paths come from the module docs.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Gatehouse IDaaS admin API", description = "Instances, accounts, organizational units, groups, API tokens, audit log, applications."),
    security(("bearer" = [])),
    components(schemas(super::ErrorBody))
)]
pub struct BaseDoc;

/// The complete OpenAPI document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = BaseDoc::openapi();
    doc.merge(super::instances::ApiDoc::openapi());
    doc.merge(super::accounts::ApiDoc::openapi());
    doc.merge(super::audit::ApiDoc::openapi());
    // H-sso's areas.
    doc.merge(super::signin::ApiDoc::openapi());
    doc.merge(super::portal::ApiDoc::openapi());
    doc.merge(super::apps::ApiDoc::openapi());
    doc.merge(super::saml::ApiDoc::openapi());
    doc.merge(super::console::ApiDoc::openapi());
    doc.merge(super::provisioning_jobs::ApiDoc::openapi());
    doc.merge(super::provisioning_config::ApiDoc::openapi());
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "An API token (`ght_…`) of the instance, or a platform token.",
                ))
                .build(),
        ),
    );
    doc
}

/// `GET /api/openapi.json`.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/openapi.json", get(|| async { Json(document()) }))
}
