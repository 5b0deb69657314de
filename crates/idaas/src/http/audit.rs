//! `GET /api/v1/instances/{iid}/audit-events`.

use axum::extract::State;

use super::api_types::AuditParams;
use super::auth::AdminAuth;
use super::{ApiJson, ApiQuery, ApiResult, ApiRoutes, AppState, ErrorBody};
use crate::audit::{ActorType, AuditEvent, AuditPage, AuditQuery, AuditResult};

/// Routes of this module.
pub fn routes() -> ApiRoutes {
    ApiRoutes::new().get("/api/v1/instances/{iid}/audit-events", list_events)
}

/// OpenAPI paths of this module.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(list_events),
    components(schemas(AuditEvent, AuditPage, AuditResult, ActorType))
)]
pub struct ApiDoc;

/// Query the audit log of an instance, newest first.
#[utoipa::path(get, path = "/api/v1/instances/{iid}/audit-events", tag = "audit",
    params(("iid" = String, Path, description = "Instance id"), AuditParams),
    responses((status = 200, body = AuditPage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_events(
    State(s): State<AppState>,
    auth: AdminAuth,
    ApiQuery(p): ApiQuery<AuditParams>,
) -> ApiResult<ApiJson<AuditPage>> {
    let q = AuditQuery {
        from: p.from,
        to: p.to,
        actor_id: p.actor,
        action_prefix: p.action,
        target_id: p.target,
        result: p.result,
        cursor: p.cursor,
        limit: p.limit.unwrap_or(100),
    };
    Ok(ApiJson(s.query_audit(Some(&auth.instance.id), &q).await?))
}
