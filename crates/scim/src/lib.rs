//! SCIM 2.0 (RFC 7643 core schema, RFC 7644 protocol), shared by the Cloud SSO SCIM server and the IDaaS
//! provisioning client: resources and schemas, the filter language parsed to a typed AST, PATCH
//! operations with value paths, list/paging types, the error format, and an async client.
#![forbid(unsafe_code)]

pub mod bulk;
pub mod client;
pub mod error;
pub mod filter;
pub mod list;
pub mod patch;
pub mod path;
pub mod projection;
pub mod resource;
pub mod schema;

pub use error::{
    CONTENT_TYPE, SCHEMA_BULK_REQUEST, SCHEMA_BULK_RESPONSE, SCHEMA_ENTERPRISE_USER, SCHEMA_ERROR,
    SCHEMA_GROUP, SCHEMA_LIST_RESPONSE, SCHEMA_PATCH_OP, SCHEMA_RESOURCE_TYPE, SCHEMA_SCHEMA,
    SCHEMA_SEARCH_REQUEST, SCHEMA_SP_CONFIG, SCHEMA_USER, ScimError, ScimType,
};
