//! `/ServiceProviderConfig`, `/Schemas`, `/Schemas/{id}`, `/ResourceTypes`, `/ResourceTypes/{name}`
//! (RFC 7644 §4), built by the `scim` crate from the schemas this server stores.

use ::scim::ScimError;
use ::scim::schema::{
    SpConfig, resource_type_json, resource_types_json, schema_json, schemas_json,
    service_provider_config_json,
};
use axum::http::StatusCode;
use serde_json::Value;

use super::{BULK_MAX_OPERATIONS, BULK_MAX_PAYLOAD, MAX_PAGE_SIZE, Outcome, ScimAuth, ScimErr, St};
use crate::services::Services;

fn ok(body: Value) -> Outcome {
    Outcome {
        status: StatusCode::OK,
        body: Some(body),
        etag: None,
        location: None,
    }
}

fn scim_base(services: &Services) -> String {
    format!("{}{}", services.base_url, super::mapping::BASE_PATH)
}

/// What this server supports, as advertised.
pub fn sp_config(scim_base: &str) -> SpConfig {
    SpConfig {
        patch: true,
        bulk: Some((BULK_MAX_OPERATIONS as u32, BULK_MAX_PAYLOAD as u64)),
        filter_max_results: MAX_PAGE_SIZE as u32,
        change_password: false,
        sort: true,
        etag: true,
        documentation_uri: None,
        location: Some(format!("{scim_base}/ServiceProviderConfig")),
    }
}

/// Handler: GET /ServiceProviderConfig.
pub async fn http_service_provider_config(st: St, _auth: ScimAuth) -> Outcome {
    ok(service_provider_config_json(&sp_config(&scim_base(
        &st.0.services,
    ))))
}

/// Handler: GET /Schemas.
pub async fn http_schemas(st: St, _auth: ScimAuth) -> Outcome {
    ok(schemas_json(&scim_base(&st.0.services)))
}

/// Handler: GET /Schemas/{id}.
pub async fn http_schema(st: St, _auth: ScimAuth, id: super::IdPath) -> Result<Outcome, ScimErr> {
    schema_json(&scim_base(&st.0.services), &id.0)
        .map(ok)
        .ok_or_else(|| ScimErr(ScimError::not_found(format!("no schema {:?}", id.0))))
}

/// Handler: GET /ResourceTypes.
pub async fn http_resource_types(st: St, _auth: ScimAuth) -> Outcome {
    ok(resource_types_json(&scim_base(&st.0.services)))
}

/// Handler: GET /ResourceTypes/{name}.
pub async fn http_resource_type(
    st: St,
    _auth: ScimAuth,
    name: super::IdPath,
) -> Result<Outcome, ScimErr> {
    resource_type_json(&scim_base(&st.0.services), &name.0)
        .map(ok)
        .ok_or_else(|| {
            ScimErr(ScimError::not_found(format!(
                "no resource type {:?}",
                name.0
            )))
        })
}
