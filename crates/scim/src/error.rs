//! The SCIM error format (RFC 7644 §3.12), `scimType` keywords, and the schema URNs shared by every module.

use serde_json::{Value, json};
use std::fmt;

/// Core User schema URN (RFC 7643 §4.1).
pub const SCHEMA_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// Enterprise User extension schema URN (RFC 7643 §4.3).
pub const SCHEMA_ENTERPRISE_USER: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// Core Group schema URN (RFC 7643 §4.2).
pub const SCHEMA_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// List response message URN (RFC 7644 §3.4.2).
pub const SCHEMA_LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// PATCH request message URN (RFC 7644 §3.5.2).
pub const SCHEMA_PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// Bulk request message URN (RFC 7644 §3.7).
pub const SCHEMA_BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
/// Bulk response message URN (RFC 7644 §3.7).
pub const SCHEMA_BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
/// Error message URN (RFC 7644 §3.12).
pub const SCHEMA_ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// Service provider configuration schema URN (RFC 7643 §5).
pub const SCHEMA_SP_CONFIG: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
/// Resource type schema URN (RFC 7643 §6).
pub const SCHEMA_RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
/// Schema definition schema URN (RFC 7643 §7).
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
/// Search request message URN (RFC 7644 §3.4.3).
pub const SCHEMA_SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// The SCIM media type (RFC 7644 §8.1).
pub const CONTENT_TYPE: &str = "application/scim+json";

/// The `scimType` error keywords of RFC 7644 §3.12, table 9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScimType {
    /// The filter syntax was invalid or the attribute/comparison is not supported.
    InvalidFilter,
    /// The filter yields too many results to process.
    TooMany,
    /// One or more attribute values are already in use or reserved.
    Uniqueness,
    /// The modification is incompatible with the attribute's mutability.
    Mutability,
    /// The request body structure was invalid or did not conform to the schema.
    InvalidSyntax,
    /// The PATCH path attribute was invalid or malformed.
    InvalidPath,
    /// The PATCH path did not yield an attribute or value that could be operated on.
    NoTarget,
    /// A required value was missing or the value was not compatible with the attribute type.
    InvalidValue,
    /// The protocol version is not supported.
    InvalidVers,
    /// The request cannot be completed because of sensitive information in the URI.
    Sensitive,
}

impl ScimType {
    /// The wire keyword, e.g. `"invalidFilter"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::TooMany => "tooMany",
            ScimType::Uniqueness => "uniqueness",
            ScimType::Mutability => "mutability",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::InvalidPath => "invalidPath",
            ScimType::NoTarget => "noTarget",
            ScimType::InvalidValue => "invalidValue",
            ScimType::InvalidVers => "invalidVers",
            ScimType::Sensitive => "sensitive",
        }
    }

    /// Parses a wire keyword (case-insensitively, as some services vary the case).
    pub fn parse(s: &str) -> Option<ScimType> {
        const ALL: [ScimType; 10] = [
            ScimType::InvalidFilter,
            ScimType::TooMany,
            ScimType::Uniqueness,
            ScimType::Mutability,
            ScimType::InvalidSyntax,
            ScimType::InvalidPath,
            ScimType::NoTarget,
            ScimType::InvalidValue,
            ScimType::InvalidVers,
            ScimType::Sensitive,
        ];
        ALL.into_iter().find(|t| t.as_str().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for ScimType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A SCIM protocol error: HTTP status, optional `scimType`, and a human-readable detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimError {
    /// HTTP status code.
    pub status: u16,
    /// The `scimType` keyword, when one applies (mostly 400 and 409).
    pub scim_type: Option<ScimType>,
    /// Human-readable detail.
    pub detail: String,
}

impl ScimError {
    /// Builds an error with any status.
    pub fn new(status: u16, scim_type: Option<ScimType>, detail: impl Into<String>) -> Self {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
        }
    }

    /// 400 Bad Request with a `scimType`.
    pub fn bad_request(scim_type: ScimType, detail: impl Into<String>) -> Self {
        Self::new(400, Some(scim_type), detail)
    }

    /// 401 Unauthorized.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(401, None, detail)
    }

    /// 403 Forbidden.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(403, None, detail)
    }

    /// 404 Not Found.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, None, detail)
    }

    /// 409 Conflict with a `scimType` (usually `Uniqueness`).
    pub fn conflict(scim_type: ScimType, detail: impl Into<String>) -> Self {
        Self::new(409, Some(scim_type), detail)
    }

    /// 412 Precondition Failed (ETag mismatch).
    pub fn precondition_failed(detail: impl Into<String>) -> Self {
        Self::new(412, None, detail)
    }

    /// 413 Payload Too Large.
    pub fn payload_too_large(detail: impl Into<String>) -> Self {
        Self::new(413, None, detail)
    }

    /// 500 Internal Server Error.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(500, None, detail)
    }

    /// 501 Not Implemented.
    pub fn not_implemented(detail: impl Into<String>) -> Self {
        Self::new(501, None, detail)
    }

    /// The RFC 7644 §3.12 JSON body (`status` is a string, as the RFC's examples show).
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "schemas": [SCHEMA_ERROR],
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let (Some(t), Some(obj)) = (self.scim_type, v.as_object_mut()) {
            obj.insert("scimType".into(), Value::String(t.as_str().into()));
        }
        v
    }

    /// Reads an error body; `status` may be a string or a number. `None` if it is not a SCIM error.
    pub fn from_json(value: &Value) -> Option<ScimError> {
        let obj = value.as_object()?;
        let status = match obj.get("status")? {
            Value::String(s) => s.trim().parse::<u16>().ok()?,
            Value::Number(n) => u16::try_from(n.as_u64()?).ok()?,
            _ => return None,
        };
        let scim_type = obj
            .get("scimType")
            .and_then(Value::as_str)
            .and_then(ScimType::parse);
        let detail = obj
            .get("detail")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        Some(ScimError {
            status,
            scim_type,
            detail,
        })
    }
}

impl fmt::Display for ScimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.scim_type {
            Some(t) => write!(f, "SCIM error {} ({}): {}", self.status, t, self.detail),
            None => write!(f, "SCIM error {}: {}", self.status, self.detail),
        }
    }
}

impl std::error::Error for ScimError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_json_round_trip() {
        let e = ScimError::conflict(ScimType::Uniqueness, "userName taken");
        let v = e.to_json();
        assert_eq!(v["status"], "409");
        assert_eq!(v["scimType"], "uniqueness");
        assert_eq!(v["schemas"][0], SCHEMA_ERROR);
        assert_eq!(ScimError::from_json(&v), Some(e));
    }

    #[test]
    fn error_from_json_numeric_status_and_garbage() {
        let e = ScimError::from_json(&json!({"status": 404, "detail": "x"})).unwrap();
        assert_eq!(e.status, 404);
        assert_eq!(e.scim_type, None);
        assert!(ScimError::from_json(&json!({"detail": "x"})).is_none());
        assert!(ScimError::from_json(&json!({"status": "abc"})).is_none());
        assert!(ScimError::from_json(&json!({"status": 70000})).is_none());
        assert!(ScimError::from_json(&json!([1])).is_none());
    }
}
