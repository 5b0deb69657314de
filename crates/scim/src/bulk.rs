//! Bulk requests and responses (RFC 7644 §3.7) and `bulkId:` reference resolution.

use crate::error::{SCHEMA_BULK_REQUEST, SCHEMA_BULK_RESPONSE, ScimError, ScimType};
use crate::schema::get_ci;
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};

/// The prefix of a reference to a resource created earlier in the same bulk request.
pub const BULK_ID_PREFIX: &str = "bulkId:";

/// A bulk request.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkRequest {
    /// Stop after this many errors (absent = process everything).
    pub fail_on_errors: Option<u32>,
    /// The operations, in order.
    pub operations: Vec<BulkOperation>,
}

/// One operation of a bulk request.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkOperation {
    /// `POST`, `PUT`, `PATCH` or `DELETE` (upper-cased).
    pub method: String,
    /// Client-chosen id of a resource created by a POST (required for POST).
    pub bulk_id: Option<String>,
    /// ETag the target must match.
    pub version: Option<String>,
    /// Path relative to the base URL: `/Users` for POST, `/Users/{id}` (or `/Users/bulkId:x`) otherwise.
    pub path: String,
    /// Request body (required for POST, PUT and PATCH).
    pub data: Option<Value>,
}

fn syntax(detail: String) -> ScimError {
    ScimError::bad_request(ScimType::InvalidSyntax, detail)
}

fn value_err(detail: String) -> ScimError {
    ScimError::bad_request(ScimType::InvalidValue, detail)
}

fn opt_string(obj: &Map<String, Value>, key: &str, ctx: &str) -> Result<Option<String>, ScimError> {
    match get_ci(obj, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(syntax(format!("{ctx}: '{key}' must be a string"))),
    }
}

impl BulkOperation {
    fn from_json(v: &Value, index: usize) -> Result<Self, ScimError> {
        let ctx = format!("operation {index}");
        let obj = v
            .as_object()
            .ok_or_else(|| syntax(format!("{ctx} must be a JSON object")))?;
        let method = opt_string(obj, "method", &ctx)?
            .ok_or_else(|| syntax(format!("{ctx}: 'method' is missing")))?
            .to_ascii_uppercase();
        if !matches!(method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE") {
            return Err(value_err(format!("{ctx}: unsupported method {method:?}")));
        }
        let path = opt_string(obj, "path", &ctx)?
            .ok_or_else(|| syntax(format!("{ctx}: 'path' is missing")))?;
        let segments: Vec<&str> = path
            .strip_prefix('/')
            .map(|p| p.split('/').collect())
            .unwrap_or_default();
        let shape_ok = match method.as_str() {
            "POST" => segments.len() == 1 && !segments[0].is_empty(),
            _ => segments.len() == 2 && segments.iter().all(|s| !s.is_empty()),
        };
        if !shape_ok {
            return Err(value_err(format!(
                "{ctx}: path {path:?} must be {} for {method}",
                if method == "POST" {
                    "a resource endpoint such as /Users"
                } else {
                    "/<endpoint>/<id>"
                }
            )));
        }
        let bulk_id = opt_string(obj, "bulkId", &ctx)?;
        if method == "POST" && bulk_id.as_deref().is_none_or(str::is_empty) {
            return Err(value_err(format!("{ctx}: 'bulkId' is required for POST")));
        }
        let version = opt_string(obj, "version", &ctx)?;
        let data = match get_ci(obj, "data") {
            None | Some(Value::Null) => None,
            Some(d @ Value::Object(_)) => Some(d.clone()),
            Some(_) => return Err(syntax(format!("{ctx}: 'data' must be a JSON object"))),
        };
        if method != "DELETE" && data.is_none() {
            return Err(value_err(format!("{ctx}: 'data' is required for {method}")));
        }
        Ok(BulkOperation {
            method,
            bulk_id,
            version,
            path,
            data,
        })
    }

    /// The JSON form of the operation.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("method".into(), json!(self.method));
        if let Some(b) = &self.bulk_id {
            m.insert("bulkId".into(), json!(b));
        }
        if let Some(v) = &self.version {
            m.insert("version".into(), json!(v));
        }
        m.insert("path".into(), json!(self.path));
        if let Some(d) = &self.data {
            m.insert("data".into(), d.clone());
        }
        Value::Object(m)
    }

    /// The endpoint (`/Users`) and, except for POST, the resource id of the path.
    pub fn target(&self) -> (&str, Option<&str>) {
        let rest = self.path.strip_prefix('/').unwrap_or(&self.path);
        match rest.split_once('/') {
            Some((endpoint, id)) => (&self.path[..endpoint.len() + 1], Some(id)),
            None => (self.path.as_str(), None),
        }
    }
}

impl BulkRequest {
    /// Parses a bulk request: `schemas` must contain the BulkRequest URN, `Operations` must be a non-empty
    /// array, `bulkId`s must be unique. Structural errors → 400 invalidSyntax, bad values → 400 invalidValue.
    pub fn from_json(v: &Value) -> Result<Self, ScimError> {
        let obj = v
            .as_object()
            .ok_or_else(|| syntax("a bulk request must be a JSON object".into()))?;
        let schemas_ok = get_ci(obj, "schemas")
            .and_then(Value::as_array)
            .is_some_and(|a| {
                a.iter().any(|s| {
                    s.as_str()
                        .is_some_and(|s| s.eq_ignore_ascii_case(SCHEMA_BULK_REQUEST))
                })
            });
        if !schemas_ok {
            return Err(syntax(format!(
                "'schemas' must contain {SCHEMA_BULK_REQUEST}"
            )));
        }
        let fail_on_errors = match get_ci(obj, "failOnErrors") {
            None | Some(Value::Null) => None,
            Some(n) => Some(
                n.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| value_err("'failOnErrors' must be a positive integer".into()))?,
            ),
        };
        let ops = get_ci(obj, "Operations")
            .ok_or_else(|| syntax("'Operations' is missing".into()))?
            .as_array()
            .ok_or_else(|| syntax("'Operations' must be an array".into()))?;
        if ops.is_empty() {
            return Err(value_err("'Operations' must not be empty".into()));
        }
        let operations = ops
            .iter()
            .enumerate()
            .map(|(i, op)| BulkOperation::from_json(op, i))
            .collect::<Result<Vec<_>, _>>()?;
        let mut ids = HashSet::new();
        for op in &operations {
            if let Some(b) = &op.bulk_id
                && !ids.insert(b.as_str())
            {
                return Err(value_err(format!(
                    "bulkId {b:?} is used by more than one operation"
                )));
            }
        }
        Ok(BulkRequest {
            fail_on_errors,
            operations,
        })
    }

    /// Like [`BulkRequest::from_json`], refusing more than `max_operations` operations with 413.
    pub fn from_json_limited(v: &Value, max_operations: usize) -> Result<Self, ScimError> {
        let n = v
            .as_object()
            .and_then(|o| get_ci(o, "Operations"))
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if n > max_operations {
            return Err(ScimError::payload_too_large(format!(
                "the bulk request has {n} operations; the maximum is {max_operations}"
            )));
        }
        BulkRequest::from_json(v)
    }

    /// The JSON form of the request.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "schemas": [SCHEMA_BULK_REQUEST],
            "Operations": self.operations.iter().map(BulkOperation::to_json).collect::<Vec<_>>(),
        });
        if let (Some(n), Some(o)) = (self.fail_on_errors, v.as_object_mut()) {
            o.insert("failOnErrors".into(), json!(n));
        }
        v
    }
}

/// The result of one bulk operation.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkOperationResult {
    /// The operation's method.
    pub method: String,
    /// The operation's bulkId.
    pub bulk_id: Option<String>,
    /// The resource's new ETag.
    pub version: Option<String>,
    /// The resource's URL.
    pub location: Option<String>,
    /// HTTP status as a string (`"201"`).
    pub status: String,
    /// Response body (the SCIM error on failure).
    pub response: Option<Value>,
}

impl BulkOperationResult {
    /// A failed operation: status and SCIM error body from `err`.
    pub fn error(method: &str, bulk_id: Option<String>, err: &ScimError) -> Self {
        BulkOperationResult {
            method: method.to_string(),
            bulk_id,
            version: None,
            location: None,
            status: err.status.to_string(),
            response: Some(err.to_json()),
        }
    }

    /// The JSON form.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("method".into(), json!(self.method));
        if let Some(b) = &self.bulk_id {
            m.insert("bulkId".into(), json!(b));
        }
        if let Some(v) = &self.version {
            m.insert("version".into(), json!(v));
        }
        if let Some(l) = &self.location {
            m.insert("location".into(), json!(l));
        }
        m.insert("status".into(), json!(self.status));
        if let Some(r) = &self.response {
            m.insert("response".into(), r.clone());
        }
        Value::Object(m)
    }
}

/// A bulk response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BulkResponse {
    /// Results in processing order.
    pub operations: Vec<BulkOperationResult>,
}

impl BulkResponse {
    /// The JSON form.
    pub fn to_json(&self) -> Value {
        json!({
            "schemas": [SCHEMA_BULK_RESPONSE],
            "Operations": self.operations.iter().map(BulkOperationResult::to_json).collect::<Vec<_>>(),
        })
    }

    /// Reads a bulk response (`status` accepted as string or number).
    pub fn from_json(v: &Value) -> Result<Self, ScimError> {
        let obj = v
            .as_object()
            .ok_or_else(|| syntax("a bulk response must be a JSON object".into()))?;
        let ops = get_ci(obj, "Operations")
            .and_then(Value::as_array)
            .ok_or_else(|| syntax("'Operations' must be an array".into()))?;
        let mut operations = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            let ctx = format!("result {i}");
            let o = op
                .as_object()
                .ok_or_else(|| syntax(format!("{ctx} must be a JSON object")))?;
            let status = match get_ci(o, "status") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => return Err(syntax(format!("{ctx}: 'status' is missing"))),
            };
            operations.push(BulkOperationResult {
                method: opt_string(o, "method", &ctx)?.unwrap_or_default(),
                bulk_id: opt_string(o, "bulkId", &ctx)?,
                version: opt_string(o, "version", &ctx)?,
                location: opt_string(o, "location", &ctx)?,
                status,
                response: get_ci(o, "response").filter(|r| !r.is_null()).cloned(),
            });
        }
        Ok(BulkResponse { operations })
    }
}

fn unresolved(id: &str) -> ScimError {
    ScimError::conflict(
        ScimType::InvalidValue,
        format!("bulkId {id:?} could not be resolved"),
    )
}

/// Replaces every string `"bulkId:<id>"` anywhere in `value` with the id the server assigned to the resource
/// created with that bulkId. Unknown bulkIds → 409 invalidValue (RFC 7644 §3.7.2); `value` is unchanged
/// on error.
pub fn resolve_bulk_ids(value: &mut Value, ids: &HashMap<String, String>) -> Result<(), ScimError> {
    if let Some(missing) = bulk_id_refs(value)
        .into_iter()
        .find(|r| !ids.contains_key(r))
    {
        return Err(unresolved(&missing));
    }
    replace_refs(value, ids);
    Ok(())
}

fn replace_refs(value: &mut Value, ids: &HashMap<String, String>) {
    match value {
        Value::String(s) => {
            if let Some(real) = s.strip_prefix(BULK_ID_PREFIX).and_then(|r| ids.get(r)) {
                *s = real.clone();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| replace_refs(i, ids)),
        Value::Object(m) => m.values_mut().for_each(|v| replace_refs(v, ids)),
        _ => {}
    }
}

/// Resolves a `bulkId:` reference in an operation path (`/Users/bulkId:x` → `/Users/<id>`).
pub fn resolve_bulk_path(path: &str, ids: &HashMap<String, String>) -> Result<String, ScimError> {
    match path.rsplit_once('/') {
        Some((head, last)) => match last.strip_prefix(BULK_ID_PREFIX) {
            Some(r) => ids
                .get(r)
                .map(|real| format!("{head}/{real}"))
                .ok_or_else(|| unresolved(r)),
            None => Ok(path.to_string()),
        },
        None => Ok(path.to_string()),
    }
}

/// The bulkIds referred to (as `"bulkId:<id>"` strings) anywhere in `value`, in document order.
pub fn bulk_id_refs(value: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => {
                if let Some(r) = s.strip_prefix(BULK_ID_PREFIX)
                    && !out.iter().any(|o| o == r)
                {
                    out.push(r.to_string());
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            Value::Object(m) => m.values().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, &mut out);
    out
}
