//! PATCH (RFC 7644 §3.5.2): the PatchOp request body and its application to a JSON resource.
//!
//! `apply_patch` works on a clone and commits only when every operation succeeded, so a failed request
//! leaves the resource untouched. Attribute names match case-insensitively; the result uses the
//! schema's canonical names. Accepted client quirks (Azure AD / Entra ID): `"op":"Replace"`, boolean
//! values sent as the strings `"True"`/`"False"`, path-less values with dotted (`name.givenName`) or
//! URN-qualified keys, and `remove` of `members` with a `value` array naming the members to drop.

use crate::error::{SCHEMA_PATCH_OP, ScimError, ScimType};
use crate::filter::{AttrPath, CompValue, CompareOp, Filter, matches_value, validate_value_filter};
use crate::path::PatchPath;
use crate::schema::{AttrType, AttributeDef, Mutability, ResourceSchema, SchemaDef, get_ci};
use serde_json::{Map, Value, json};

/// Maximum number of operations in one PATCH request.
pub const MAX_PATCH_OPERATIONS: usize = 1000;

/// The kind of a PATCH operation (parsed case-insensitively).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PatchOpKind {
    /// `add`.
    Add,
    /// `remove`.
    Remove,
    /// `replace`.
    Replace,
}

impl PatchOpKind {
    /// The RFC keyword in lowercase.
    pub fn as_str(self) -> &'static str {
        match self {
            PatchOpKind::Add => "add",
            PatchOpKind::Remove => "remove",
            PatchOpKind::Replace => "replace",
        }
    }

    /// Parses `add`/`remove`/`replace` in any case.
    pub fn parse(s: &str) -> Option<PatchOpKind> {
        match s.to_ascii_lowercase().as_str() {
            "add" => Some(PatchOpKind::Add),
            "remove" => Some(PatchOpKind::Remove),
            "replace" => Some(PatchOpKind::Replace),
            _ => None,
        }
    }
}

/// One PATCH operation.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOp {
    /// What to do.
    pub op: PatchOpKind,
    /// Where (absent = the resource itself).
    pub path: Option<PatchPath>,
    /// The value (required for add/replace).
    pub value: Option<Value>,
}

impl PatchOp {
    /// The JSON form of this operation.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("op".into(), json!(self.op.as_str()));
        if let Some(path) = &self.path {
            m.insert("path".into(), json!(path.to_string()));
        }
        if let Some(value) = &self.value {
            m.insert("value".into(), value.clone());
        }
        Value::Object(m)
    }
}

/// A PATCH request body (`urn:ietf:params:scim:api:messages:2.0:PatchOp`).
#[derive(Debug, Clone, PartialEq)]
pub struct PatchRequest {
    /// The operations, applied in order.
    pub operations: Vec<PatchOp>,
}

fn invalid_syntax(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::InvalidSyntax, detail)
}

fn invalid_value(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::InvalidValue, detail)
}

fn invalid_path(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::InvalidPath, detail)
}

fn no_target(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::NoTarget, detail)
}

fn mutability(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::Mutability, detail)
}

impl PatchRequest {
    /// Parses and checks a PATCH body: `schemas` must be exactly the PatchOp URN, `Operations` a non-empty
    /// array of at most [`MAX_PATCH_OPERATIONS`]; `op` is case-insensitive; add/replace need a `value`
    /// (400 invalidValue), remove needs a `path` (400 noTarget); a bad path is 400 invalidPath.
    pub fn from_json(body: &Value) -> Result<PatchRequest, ScimError> {
        let obj = body
            .as_object()
            .ok_or_else(|| invalid_syntax("the PATCH body must be a JSON object"))?;
        let schemas = get_ci(obj, "schemas")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid_syntax(format!("'schemas' must be [\"{SCHEMA_PATCH_OP}\"]")))?;
        let only_patch_op = !schemas.is_empty()
            && schemas.iter().all(|s| {
                s.as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(SCHEMA_PATCH_OP))
            });
        if !only_patch_op {
            return Err(invalid_syntax(format!(
                "'schemas' must be [\"{SCHEMA_PATCH_OP}\"]"
            )));
        }
        let ops = get_ci(obj, "Operations")
            .ok_or_else(|| invalid_syntax("'Operations' is missing"))?
            .as_array()
            .ok_or_else(|| invalid_syntax("'Operations' must be an array"))?;
        if ops.is_empty() {
            return Err(invalid_syntax("'Operations' must not be empty"));
        }
        if ops.len() > MAX_PATCH_OPERATIONS {
            return Err(invalid_syntax(format!(
                "'Operations' has {} entries; at most {MAX_PATCH_OPERATIONS} are accepted",
                ops.len()
            )));
        }
        let mut operations = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            operations.push(parse_op(op).map_err(|e| prefix(e, i))?);
        }
        Ok(PatchRequest { operations })
    }

    /// The JSON form of this request.
    pub fn to_json(&self) -> Value {
        let ops: Vec<Value> = self.operations.iter().map(PatchOp::to_json).collect();
        json!({ "schemas": [SCHEMA_PATCH_OP], "Operations": ops })
    }
}

fn prefix(mut e: ScimError, i: usize) -> ScimError {
    e.detail = format!("Operations[{i}]: {}", e.detail);
    e
}

fn parse_op(op: &Value) -> Result<PatchOp, ScimError> {
    let obj = op
        .as_object()
        .ok_or_else(|| invalid_syntax("an operation must be a JSON object"))?;
    for key in obj.keys() {
        if !["op", "path", "value"]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(key))
        {
            return Err(invalid_syntax(format!(
                "unknown member '{key}' in an operation"
            )));
        }
    }
    let op_str = get_ci(obj, "op")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid_syntax("'op' is missing or not a string"))?;
    let kind = PatchOpKind::parse(op_str)
        .ok_or_else(|| invalid_syntax(format!("unknown op '{op_str}' (add, remove or replace)")))?;
    let path = match get_ci(obj, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(PatchPath::parse(s)?),
        Some(_) => return Err(invalid_path("'path' must be a string")),
    };
    let value = get_ci(obj, "value").cloned();
    match kind {
        PatchOpKind::Remove if path.is_none() => {
            return Err(no_target("'remove' requires a 'path'"));
        }
        PatchOpKind::Add | PatchOpKind::Replace if value.is_none() => {
            return Err(invalid_value(format!(
                "'{}' requires a 'value'",
                kind.as_str()
            )));
        }
        PatchOpKind::Add | PatchOpKind::Replace
            if path.is_none() && !value.as_ref().is_some_and(Value::is_object) =>
        {
            return Err(invalid_value(format!(
                "'{}' without a 'path' needs an object 'value' of attributes",
                kind.as_str()
            )));
        }
        _ => {}
    }
    Ok(PatchOp {
        op: kind,
        path,
        value,
    })
}

/// Applies the operations in order (RFC 7644 §3.5.2). On error `resource` is left unchanged.
///
/// Values are type-checked per attribute, but resource-level rules (required attributes, `schemas`) are
/// the caller's: run `schema::validate_resource(.., ValidateMode::PatchResult { existing })` on the result.
///
/// Errors: unknown attribute 400 invalidPath; readOnly target or a changed immutable value 400
/// mutability; replace/remove whose value filter matches nothing 400 noTarget; values of the wrong type
/// 400 invalidValue; an invalid value filter 400 invalidFilter. Setting `primary` true on one value of a
/// multi-valued attribute clears it on the others.
pub fn apply_patch(
    resource: &mut Value,
    ops: &[PatchOp],
    rs: &ResourceSchema,
) -> Result<(), ScimError> {
    let mut work = resource.clone();
    if !work.is_object() {
        return Err(invalid_syntax("the resource must be a JSON object"));
    }
    for (i, op) in ops.iter().enumerate() {
        apply_op(&mut work, op, rs).map_err(|e| prefix(e, i))?;
    }
    *resource = work;
    Ok(())
}

fn apply_op(work: &mut Value, op: &PatchOp, rs: &ResourceSchema) -> Result<(), ScimError> {
    match &op.path {
        Some(path) => apply_path(work, op.op, path, op.value.as_ref(), rs),
        None => {
            if op.op == PatchOpKind::Remove {
                return Err(no_target("'remove' requires a 'path'"));
            }
            let obj = op
                .value
                .as_ref()
                .and_then(Value::as_object)
                .ok_or_else(|| {
                    invalid_value("without a 'path' the 'value' must be an object of attributes")
                })?;
            for (key, v) in obj {
                apply_key(work, op.op, None, key, v, rs)?;
            }
            Ok(())
        }
    }
}

/// One member of a path-less add/replace value (or of a value addressed to a whole extension).
fn apply_key(
    work: &mut Value,
    kind: PatchOpKind,
    ext_uri: Option<&str>,
    key: &str,
    v: &Value,
    rs: &ResourceSchema,
) -> Result<(), ScimError> {
    // `schemas` is not an attribute: clients echo it at the top level and inside extension values.
    if key.eq_ignore_ascii_case("schemas") {
        return Ok(());
    }
    if ext_uri.is_none()
        && let Some(ext) = rs.extension(key)
    {
        return apply_extension(work, kind, ext, Some(v), rs);
    }
    if ext_uri.is_none() && key.eq_ignore_ascii_case(rs.core.id) {
        // `{"urn:…:core:2.0:User": {"displayName": …}}`: the core schema's attributes, qualified.
        let obj = v.as_object().ok_or_else(|| {
            invalid_value(format!(
                "the value for '{key}' must be an object of its attributes"
            ))
        })?;
        for (k, sv) in obj {
            apply_key(work, kind, Some(rs.core.id), k, sv, rs)?;
        }
        return Ok(());
    }
    let mut path = PatchPath::parse(key).map_err(|e| invalid_path(e.detail))?;
    if path.value_filter.is_some() {
        return Err(invalid_path(format!(
            "'{key}': value filters are not allowed in attribute names"
        )));
    }
    if let Some(uri) = ext_uri {
        if path.attr.uri.is_some() {
            return Err(invalid_path(format!(
                "'{key}' inside '{uri}' must not carry a schema URN"
            )));
        }
        path.attr.uri = Some(uri.to_string());
    }
    // readOnly attributes echoed back unchanged (e.g. `id`) are ignored rather than refused.
    if let Target::Attr { ext, def, sub } = resolve_lenient(&path, rs)?
        && is_read_only(def, sub)
    {
        let current = container(work, ext)
            .and_then(|m| get_ci(m, def.name))
            .and_then(|c| match sub {
                Some(s) => c.as_object().and_then(|o| get_ci(o, s.name)),
                None => Some(c),
            });
        if current == Some(v) {
            return Ok(());
        }
    }
    apply_path(work, kind, &path, Some(v), rs)
}

enum Target {
    Extension(&'static SchemaDef),
    Attr {
        ext: Option<&'static SchemaDef>,
        def: &'static AttributeDef,
        sub: Option<&'static AttributeDef>,
    },
}

/// Finds what a path addresses (unknown attribute: 400 invalidPath; bad value filter: 400 invalidFilter).
fn resolve_lenient(path: &PatchPath, rs: &ResourceSchema) -> Result<Target, ScimError> {
    let a = &path.attr;
    if a.sub.is_none()
        && path.value_filter.is_none()
        && path.sub_attr.is_none()
        && let Some(uri) = &a.uri
        && let Some(ext) = rs.extension(&format!("{uri}:{}", a.name))
    {
        return Ok(Target::Extension(ext));
    }
    if let Some(uri) = &a.uri
        && !uri.eq_ignore_ascii_case(rs.core.id)
        && rs.extension(uri).is_none()
    {
        return Err(invalid_path(format!(
            "'{path}': unknown schema '{uri}' for {}",
            rs.name
        )));
    }
    let (schema, def) = rs.resolve(a.uri.as_deref(), &a.name).ok_or_else(|| {
        invalid_path(format!(
            "'{path}': no attribute '{}' in {}",
            a.name, rs.name
        ))
    })?;
    let ext = schema.and_then(|s| rs.extension(s.id));
    let sub_name = a.sub.as_deref().or(path.sub_attr.as_deref());
    let sub = match sub_name {
        Some(s) => Some(def.sub(s).ok_or_else(|| {
            invalid_path(format!(
                "'{path}': '{}' has no sub-attribute '{s}'",
                def.name
            ))
        })?),
        None => None,
    };
    if let Some(filter) = &path.value_filter {
        if !(def.multi_valued && def.attr_type == AttrType::Complex) {
            return Err(invalid_path(format!(
                "'{path}': a value filter needs a multi-valued complex attribute"
            )));
        }
        validate_value_filter(filter, def)?;
    }
    Ok(Target::Attr { ext, def, sub })
}

/// [`resolve_lenient`] plus the readOnly check (400 mutability).
fn resolve(path: &PatchPath, rs: &ResourceSchema) -> Result<Target, ScimError> {
    let target = resolve_lenient(path, rs)?;
    if let Target::Attr { def, sub, .. } = &target
        && is_read_only(def, *sub)
    {
        return Err(mutability(format!("'{path}' is readOnly")));
    }
    Ok(target)
}

fn is_read_only(def: &AttributeDef, sub: Option<&AttributeDef>) -> bool {
    def.mutability == Mutability::ReadOnly
        || sub.is_some_and(|s| s.mutability == Mutability::ReadOnly)
}

/// The object holding the attribute: the resource, or its extension object.
fn container<'v>(work: &'v Value, ext: Option<&SchemaDef>) -> Option<&'v Map<String, Value>> {
    let root = work.as_object()?;
    match ext {
        None => Some(root),
        Some(ext) => get_ci(root, ext.id).and_then(Value::as_object),
    }
}

fn key_ci(m: &Map<String, Value>, name: &str) -> Option<String> {
    m.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

/// Removes every key equal to `name` ignoring case and returns the (last) value.
fn take_ci(m: &mut Map<String, Value>, name: &str) -> Option<Value> {
    let mut out = None;
    while let Some(k) = key_ci(m, name) {
        out = m.remove(&k);
    }
    out
}

fn schemas_edit(root: &mut Map<String, Value>, urn: &str, present: bool) {
    let list = root
        .entry("schemas")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(items) = list {
        let has = items
            .iter()
            .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn)));
        if present && !has {
            items.push(Value::String(urn.to_string()));
        } else if !present {
            items.retain(|s| !s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn)));
        }
    }
}

/// The container as a mutable map, creating the extension object (and its `schemas` entry) if asked.
fn container_mut<'v>(
    work: &'v mut Value,
    ext: Option<&SchemaDef>,
    create: bool,
) -> Option<&'v mut Map<String, Value>> {
    let root = work.as_object_mut()?;
    let Some(ext) = ext else { return Some(root) };
    let existing = key_ci(root, ext.id);
    let key = match existing {
        Some(k) if root.get(&k).is_some_and(Value::is_object) => k,
        _ if create => {
            take_ci(root, ext.id);
            root.insert(ext.id.to_string(), Value::Object(Map::new()));
            schemas_edit(root, ext.id, true);
            ext.id.to_string()
        }
        _ => return None,
    };
    root.get_mut(&key).and_then(Value::as_object_mut)
}

/// Drops an extension object that became empty, with its `schemas` entry.
fn tidy_extension(work: &mut Value, ext: Option<&SchemaDef>) {
    let (Some(ext), Some(root)) = (ext, work.as_object_mut()) else {
        return;
    };
    if let Some(k) = key_ci(root, ext.id)
        && root
            .get(&k)
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty)
    {
        root.remove(&k);
        schemas_edit(root, ext.id, false);
    }
}

fn apply_extension(
    work: &mut Value,
    kind: PatchOpKind,
    ext: &'static SchemaDef,
    value: Option<&Value>,
    rs: &ResourceSchema,
) -> Result<(), ScimError> {
    if kind == PatchOpKind::Remove {
        if let Some(root) = work.as_object_mut() {
            take_ci(root, ext.id);
            schemas_edit(root, ext.id, false);
        }
        return Ok(());
    }
    let obj = value.and_then(Value::as_object).ok_or_else(|| {
        invalid_value(format!(
            "the value for '{}' must be an object of its attributes",
            ext.id
        ))
    })?;
    for (k, v) in obj {
        apply_key(work, kind, Some(ext.id), k, v, rs)?;
    }
    Ok(())
}

fn apply_path(
    work: &mut Value,
    kind: PatchOpKind,
    path: &PatchPath,
    value: Option<&Value>,
    rs: &ResourceSchema,
) -> Result<(), ScimError> {
    let (ext, def, sub) = match resolve(path, rs)? {
        Target::Extension(ext) => return apply_extension(work, kind, ext, value, rs),
        Target::Attr { ext, def, sub } => (ext, def, sub),
    };
    let where_ = path.to_string();
    let result = {
        let create = kind != PatchOpKind::Remove;
        match container_mut(work, ext, create) {
            None => Ok(()), // remove from an absent extension: nothing to do
            Some(m) => match (&path.value_filter, kind) {
                (Some(filter), PatchOpKind::Remove) => {
                    remove_filtered(m, def, filter, sub, &where_)
                }
                (Some(filter), _) => {
                    write_filtered(m, kind, def, filter, sub, need(value, kind)?, &where_)
                }
                (None, PatchOpKind::Remove) => remove_plain(m, def, sub, value, &where_),
                (None, _) => write_plain(m, kind, def, sub, need(value, kind)?, &where_),
            },
        }
    };
    tidy_extension(work, ext);
    result
}

fn need(value: Option<&Value>, kind: PatchOpKind) -> Result<&Value, ScimError> {
    value.ok_or_else(|| invalid_value(format!("'{}' requires a 'value'", kind.as_str())))
}

// ---------------------------------------------------------------------------------------------------
// Values

/// Type-checks a value for `def` (one element when multi-valued) and returns it with canonical
/// sub-attribute names; readOnly sub-attributes and nulls inside complex values are dropped.
fn normalize(def: &AttributeDef, v: &Value, where_: &str) -> Result<Value, ScimError> {
    let wrong = |what: &str| invalid_value(format!("'{where_}' must be {what}, got {v}"));
    match def.attr_type {
        AttrType::String | AttrType::Reference => v
            .as_str()
            .map(|_| v.clone())
            .ok_or_else(|| wrong("a string")),
        AttrType::Binary => {
            use base64::Engine as _;
            let s = v.as_str().ok_or_else(|| wrong("a base64 string"))?;
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|_| wrong("a base64 string"))?;
            Ok(v.clone())
        }
        AttrType::DateTime => {
            let s = v.as_str().ok_or_else(|| wrong("an RFC 3339 date-time"))?;
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map_err(|_| wrong("an RFC 3339 date-time"))?;
            Ok(v.clone())
        }
        AttrType::Boolean => match v {
            Value::Bool(_) => Ok(v.clone()),
            // Azure AD sends "True"/"False".
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            _ => Err(wrong("a boolean")),
        },
        AttrType::Integer => {
            if v.is_i64() || v.is_u64() {
                Ok(v.clone())
            } else {
                Err(wrong("an integer"))
            }
        }
        AttrType::Decimal => v
            .is_number()
            .then(|| v.clone())
            .ok_or_else(|| wrong("a number")),
        AttrType::Complex => {
            // Azure AD sends `"manager": "<id>"`: a bare string stands for `{"value": …}`.
            if v.is_string()
                && let Some(vdef) = def.sub("value")
            {
                let n = normalize(vdef, v, &format!("{where_}.value"))?;
                return Ok(json!({ vdef.name: n }));
            }
            let obj = v.as_object().ok_or_else(|| wrong("an object"))?;
            let mut out = Map::new();
            for (k, sv) in obj {
                let sdef = def.sub(k).ok_or_else(|| {
                    invalid_path(format!("'{where_}' has no sub-attribute '{k}'"))
                })?;
                if sv.is_null() || sdef.mutability == Mutability::ReadOnly {
                    continue;
                }
                let n = normalize(sdef, sv, &format!("{where_}.{}", sdef.name))?;
                out.insert(sdef.name.to_string(), n);
            }
            Ok(Value::Object(out))
        }
    }
}

/// The values for a multi-valued attribute: an array, or a single value taken as a one-element array.
fn normalize_multi(def: &AttributeDef, v: &Value, where_: &str) -> Result<Vec<Value>, ScimError> {
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().filter(|x| !x.is_null()).collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    };
    items
        .into_iter()
        .map(|x| normalize(def, x, where_))
        .collect()
}

fn same(def: &AttributeDef, a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y))
            if !def.case_exact && def.attr_type != AttrType::Complex =>
        {
            x.to_lowercase() == y.to_lowercase()
        }
        _ => a == b,
    }
}

/// 400 mutability if `def` is immutable, already has a value, and `new` differs from it.
fn check_immutable(
    def: &AttributeDef,
    old: Option<&Value>,
    new: Option<&Value>,
    where_: &str,
) -> Result<(), ScimError> {
    if def.mutability != Mutability::Immutable {
        return Ok(());
    }
    match (old.filter(|o| !o.is_null()), new) {
        (Some(o), Some(n)) if same(def, o, n) => Ok(()),
        (Some(_), _) => Err(mutability(format!(
            "'{where_}' is immutable and already set"
        ))),
        (None, _) => Ok(()),
    }
}

/// Sets (or, for a null `new`, removes) a sub-attribute of a complex value, checking immutability.
fn set_sub(
    obj: &mut Map<String, Value>,
    sdef: &AttributeDef,
    new: Value,
    where_: &str,
) -> Result<(), ScimError> {
    let old = get_ci(obj, sdef.name).cloned();
    if new.is_null() {
        check_immutable(sdef, old.as_ref(), None, where_)?;
        take_ci(obj, sdef.name);
    } else {
        check_immutable(sdef, old.as_ref(), Some(&new), where_)?;
        take_ci(obj, sdef.name);
        obj.insert(sdef.name.to_string(), new);
    }
    Ok(())
}

/// Merges the sub-attributes of `new` into `obj`.
fn merge_into(
    obj: &mut Map<String, Value>,
    def: &AttributeDef,
    new: &Value,
    where_: &str,
) -> Result<(), ScimError> {
    if let Value::Object(n) = new {
        for (k, v) in n {
            if let Some(sdef) = def.sub(k) {
                set_sub(obj, sdef, v.clone(), &format!("{where_}.{}", sdef.name))?;
            }
        }
    }
    Ok(())
}

/// Takes the values of a multi-valued attribute out of the container (see [`put_array`]). A failed
/// operation may leave the container without them: `apply_patch` discards the working copy then.
fn take_array(m: &mut Map<String, Value>, def: &AttributeDef) -> Vec<Value> {
    match take_ci(m, def.name) {
        Some(Value::Array(a)) => a,
        Some(Value::Null) | None => Vec::new(),
        Some(other) => vec![other],
    }
}

/// Puts the values back under the canonical name; an empty list removes the attribute.
fn put_array(m: &mut Map<String, Value>, def: &AttributeDef, arr: Vec<Value>) {
    if !arr.is_empty() {
        m.insert(def.name.to_string(), Value::Array(arr));
    }
}

fn drop_if_empty(m: &mut Map<String, Value>, def: &AttributeDef) {
    let empty = match m.get(def.name) {
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        Some(Value::Null) => true,
        _ => false,
    };
    if empty {
        m.remove(def.name);
    }
}

fn is_primary(v: &Value) -> bool {
    v.as_object().and_then(|o| get_ci(o, "primary")) == Some(&Value::Bool(true))
}

/// At most one value may be primary: the ones just written win and the others are cleared; several
/// primaries written at once are 400 invalidValue.
fn enforce_primary(
    arr: &mut [Value],
    def: &AttributeDef,
    written: &[usize],
    where_: &str,
) -> Result<(), ScimError> {
    if def.sub("primary").is_none() {
        return Ok(());
    }
    let trues: Vec<usize> = (0..arr.len()).filter(|&i| is_primary(&arr[i])).collect();
    if trues.len() <= 1 {
        return Ok(());
    }
    let winners: Vec<usize> = trues
        .iter()
        .copied()
        .filter(|i| written.contains(i))
        .collect();
    if winners.len() != 1 {
        return Err(invalid_value(format!(
            "'{where_}': at most one value may be primary"
        )));
    }
    for i in trues.into_iter().filter(|i| *i != winners[0]) {
        if let Some(obj) = arr[i].as_object_mut() {
            take_ci(obj, "primary");
            obj.insert("primary".into(), Value::Bool(false));
        }
    }
    Ok(())
}

/// Whether two values of a multi-valued complex attribute denote the same item (same `value`, and the
/// same `type` when both carry one).
fn same_item(def: &AttributeDef, a: &Value, b: &Value) -> bool {
    let (Some(ao), Some(bo)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    let Some(vdef) = def.sub("value") else {
        return a == b;
    };
    let (Some(av), Some(bv)) = (get_ci(ao, "value"), get_ci(bo, "value")) else {
        return a == b;
    };
    if !same(vdef, av, bv) {
        return false;
    }
    match (get_ci(ao, "type"), get_ci(bo, "type")) {
        (Some(x), Some(y)) => def.sub("type").is_some_and(|t| same(t, x, y)),
        _ => true,
    }
}

// ---------------------------------------------------------------------------------------------------
// Operations without a value filter

fn write_plain(
    m: &mut Map<String, Value>,
    kind: PatchOpKind,
    def: &'static AttributeDef,
    sub: Option<&'static AttributeDef>,
    value: &Value,
    where_: &str,
) -> Result<(), ScimError> {
    match (def.multi_valued, sub) {
        (false, None) if def.attr_type == AttrType::Complex => {
            // RFC 7644 §3.5.2.1/3: the given sub-attributes are set, the others are left unchanged.
            if value.is_null() {
                return remove_plain(m, def, None, None, where_);
            }
            let new = normalize(def, value, where_)?;
            let key = key_ci(m, def.name);
            let mut obj = key
                .and_then(|k| m.remove(&k))
                .and_then(|v| v.as_object().cloned())
                .unwrap_or_default();
            merge_into(&mut obj, def, &new, where_)?;
            m.insert(def.name.to_string(), Value::Object(obj));
            drop_if_empty(m, def);
            Ok(())
        }
        (false, None) => {
            let old = get_ci(m, def.name).cloned();
            if value.is_null() {
                if def.required {
                    return Err(invalid_value(format!("'{where_}' is required")));
                }
                check_immutable(def, old.as_ref(), None, where_)?;
                take_ci(m, def.name);
                return Ok(());
            }
            let new = normalize(def, value, where_)?;
            check_immutable(def, old.as_ref(), Some(&new), where_)?;
            take_ci(m, def.name);
            m.insert(def.name.to_string(), new);
            Ok(())
        }
        (false, Some(sdef)) => {
            let new = if value.is_null() {
                Value::Null
            } else {
                normalize(sdef, value, where_)?
            };
            let key = key_ci(m, def.name);
            let mut obj = key
                .and_then(|k| m.remove(&k))
                .and_then(|v| v.as_object().cloned())
                .unwrap_or_default();
            set_sub(&mut obj, sdef, new, where_)?;
            m.insert(def.name.to_string(), Value::Object(obj));
            drop_if_empty(m, def);
            Ok(())
        }
        (true, None) => {
            let items = normalize_multi(def, value, where_)?;
            let mut arr = take_array(m, def);
            let mut written = Vec::new();
            match kind {
                PatchOpKind::Replace => {
                    arr = items;
                    written = (0..arr.len()).collect();
                }
                _ => {
                    for item in items {
                        match arr.iter().position(|e| same_item(def, e, &item)) {
                            Some(i) => {
                                if let Some(obj) = arr[i].as_object_mut() {
                                    merge_into(obj, def, &item, where_)?;
                                }
                                written.push(i);
                            }
                            None => {
                                arr.push(item);
                                written.push(arr.len() - 1);
                            }
                        }
                    }
                }
            }
            enforce_primary(&mut arr, def, &written, where_)?;
            put_array(m, def, arr);
            Ok(())
        }
        (true, Some(sdef)) => {
            // `emails.type` without a filter addresses that sub-attribute of every value.
            let new = if value.is_null() {
                Value::Null
            } else {
                normalize(sdef, value, where_)?
            };
            let mut arr = take_array(m, def);
            if arr.is_empty() {
                if !new.is_null() {
                    arr.push(json!({ sdef.name: new }));
                }
            } else {
                for elem in arr.iter_mut() {
                    if let Some(obj) = elem.as_object_mut() {
                        set_sub(obj, sdef, new.clone(), where_)?;
                    }
                }
            }
            let all: Vec<usize> = (0..arr.len()).collect();
            enforce_primary(&mut arr, def, &all, where_)?;
            put_array(m, def, arr);
            Ok(())
        }
    }
}

fn remove_plain(
    m: &mut Map<String, Value>,
    def: &'static AttributeDef,
    sub: Option<&'static AttributeDef>,
    value: Option<&Value>,
    where_: &str,
) -> Result<(), ScimError> {
    match (def.multi_valued, sub) {
        (true, None) if value.is_some_and(|v| !v.is_null()) => {
            // Azure AD: {"op":"remove","path":"members","value":[{"value":"id"}]} removes those values.
            let victims = normalize_multi(def, value.unwrap_or(&Value::Null), where_)?;
            let mut arr = take_array(m, def);
            arr.retain(|e| !victims.iter().any(|v| same_item(def, e, v)));
            put_array(m, def, arr);
            Ok(())
        }
        (_, None) => {
            let old = get_ci(m, def.name).cloned();
            if old.is_some() && def.required {
                return Err(invalid_value(format!(
                    "'{where_}' is required and cannot be removed"
                )));
            }
            if !def.multi_valued {
                check_immutable(def, old.as_ref(), None, where_)?;
            }
            take_ci(m, def.name);
            Ok(())
        }
        (false, Some(sdef)) => {
            if let Some(k) = key_ci(m, def.name)
                && let Some(obj) = m.get_mut(&k).and_then(Value::as_object_mut)
            {
                if sdef.required && get_ci(obj, sdef.name).is_some() {
                    return Err(invalid_value(format!(
                        "'{where_}' is required and cannot be removed"
                    )));
                }
                set_sub(obj, sdef, Value::Null, where_)?;
                if obj.is_empty() {
                    m.remove(&k);
                }
            }
            Ok(())
        }
        (true, Some(sdef)) => {
            let mut arr = take_array(m, def);
            for elem in arr.iter_mut() {
                if let Some(obj) = elem.as_object_mut() {
                    set_sub(obj, sdef, Value::Null, where_)?;
                }
            }
            arr.retain(|e| e.as_object().is_none_or(|o| !o.is_empty()));
            put_array(m, def, arr);
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Operations with a value filter (`emails[type eq "work"]`, `members[value eq "…"]`)

fn matching(arr: &[Value], def: &'static AttributeDef, filter: &Filter) -> Vec<usize> {
    (0..arr.len())
        .filter(|&i| matches_value(filter, &arr[i], def))
        .collect()
}

/// For an `add` whose filter matches nothing: the value implied by a filter made of `eq` comparisons
/// joined by `and` (`emails[type eq "work"]` → `{"type":"work"}`), if it is one.
fn seed_from_filter(filter: &Filter, def: &AttributeDef, out: &mut Map<String, Value>) -> bool {
    match filter {
        Filter::And(l, r) => seed_from_filter(l, def, out) && seed_from_filter(r, def, out),
        Filter::Compare {
            path:
                AttrPath {
                    uri: None,
                    name,
                    sub: None,
                },
            op: CompareOp::Eq,
            value,
        } if *value != CompValue::Null => match def.sub(name) {
            Some(sdef) if sdef.mutability != Mutability::ReadOnly => {
                out.insert(sdef.name.to_string(), value.to_json());
                true
            }
            _ => false,
        },
        _ => false,
    }
}

fn write_filtered(
    m: &mut Map<String, Value>,
    kind: PatchOpKind,
    def: &'static AttributeDef,
    filter: &Filter,
    sub: Option<&'static AttributeDef>,
    value: &Value,
    where_: &str,
) -> Result<(), ScimError> {
    let new = match sub {
        Some(_) if value.is_null() => Value::Null,
        Some(sdef) => normalize(sdef, value, where_)?,
        None => normalize(def, value, where_)?,
    };
    let mut arr = take_array(m, def);
    let hits = matching(&arr, def, filter);
    let mut written = Vec::new();
    if hits.is_empty() {
        if kind == PatchOpKind::Replace {
            return Err(no_target(format!(
                "'{where_}': the value filter matches no value"
            )));
        }
        let mut seed = Map::new();
        if !seed_from_filter(filter, def, &mut seed) {
            return Err(no_target(format!(
                "'{where_}': the value filter matches no value and does not describe a new one"
            )));
        }
        match sub {
            Some(sdef) => {
                if !new.is_null() {
                    seed.insert(sdef.name.to_string(), new);
                }
            }
            None => {
                if let Value::Object(n) = new {
                    seed.extend(n);
                }
            }
        }
        arr.push(Value::Object(seed));
        written.push(arr.len() - 1);
    } else {
        for &i in &hits {
            let Some(obj) = arr[i].as_object_mut() else {
                continue;
            };
            match (sub, kind) {
                (Some(sdef), _) => set_sub(obj, sdef, new.clone(), where_)?,
                (None, PatchOpKind::Replace) => {
                    // The matched value is replaced; its immutable sub-attributes must stay as they are.
                    for sdef in def
                        .sub_attributes
                        .iter()
                        .filter(|s| s.mutability == Mutability::Immutable)
                    {
                        let n = new.as_object().and_then(|o| get_ci(o, sdef.name));
                        if let Some(old) = get_ci(obj, sdef.name)
                            && !n.is_some_and(|n| same(sdef, old, n))
                        {
                            return Err(mutability(format!(
                                "'{where_}.{}' is immutable",
                                sdef.name
                            )));
                        }
                    }
                    let read_only: Vec<(String, Value)> = def
                        .sub_attributes
                        .iter()
                        .filter(|s| s.mutability == Mutability::ReadOnly)
                        .filter_map(|s| {
                            get_ci(obj, s.name).map(|v| (s.name.to_string(), v.clone()))
                        })
                        .collect();
                    let mut replaced = new.as_object().cloned().unwrap_or_default();
                    replaced.extend(read_only);
                    *obj = replaced;
                }
                (None, _) => merge_into(obj, def, &new, where_)?,
            }
            written.push(i);
        }
        arr.retain(|e| e.as_object().is_none_or(|o| !o.is_empty()));
    }
    enforce_primary(&mut arr, def, &written, where_)?;
    put_array(m, def, arr);
    Ok(())
}

fn remove_filtered(
    m: &mut Map<String, Value>,
    def: &'static AttributeDef,
    filter: &Filter,
    sub: Option<&'static AttributeDef>,
    where_: &str,
) -> Result<(), ScimError> {
    let mut arr = take_array(m, def);
    let hits = matching(&arr, def, filter);
    if hits.is_empty() {
        return Err(no_target(format!(
            "'{where_}': the value filter matches no value"
        )));
    }
    match sub {
        None => {
            let mut i = 0;
            arr.retain(|_| {
                let keep = !hits.contains(&i);
                i += 1;
                keep
            });
        }
        Some(sdef) => {
            for &i in &hits {
                if let Some(obj) = arr[i].as_object_mut() {
                    set_sub(obj, sdef, Value::Null, where_)?;
                }
            }
            arr.retain(|e| e.as_object().is_none_or(|o| !o.is_empty()));
        }
    }
    put_array(m, def, arr);
    Ok(())
}
