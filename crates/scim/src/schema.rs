//! Schema definitions as data (RFC 7643 §2, §4, §7): the attributes a server built on this crate stores,
//! their characteristics, resource-level validation of create/replace bodies, and the discovery
//! documents (/Schemas, /ResourceTypes, /ServiceProviderConfig).

use crate::error::{
    SCHEMA_ENTERPRISE_USER, SCHEMA_GROUP, SCHEMA_LIST_RESPONSE, SCHEMA_RESOURCE_TYPE,
    SCHEMA_SCHEMA, SCHEMA_SP_CONFIG, SCHEMA_USER, ScimError, ScimType,
};
use serde_json::{Map, Value, json};
use std::sync::LazyLock;

/// The data type of an attribute (RFC 7643 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttrType {
    /// A JSON string.
    String,
    /// `true` / `false`.
    Boolean,
    /// A JSON number with an optional fraction.
    Decimal,
    /// A JSON number without a fraction.
    Integer,
    /// An RFC 3339 date-time string.
    DateTime,
    /// Base64-encoded binary string.
    Binary,
    /// A URI string referring to a resource.
    Reference,
    /// An object of sub-attributes.
    Complex,
}

impl AttrType {
    /// The RFC 7643 §7 keyword, e.g. `"dateTime"`.
    pub fn as_str(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Boolean => "boolean",
            AttrType::Decimal => "decimal",
            AttrType::Integer => "integer",
            AttrType::DateTime => "dateTime",
            AttrType::Binary => "binary",
            AttrType::Reference => "reference",
            AttrType::Complex => "complex",
        }
    }
}

/// Whether and when an attribute may be written (RFC 7643 §7 "mutability").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mutability {
    /// Set by the service provider only; client input is ignored.
    ReadOnly,
    /// Freely writable.
    ReadWrite,
    /// Writable on creation (or when unset), never changed afterwards.
    Immutable,
    /// Writable but never returned (e.g. passwords).
    WriteOnly,
}

impl Mutability {
    /// The RFC 7643 §7 keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        }
    }
}

/// When an attribute is returned (RFC 7643 §7 "returned").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Returned {
    /// Always returned, regardless of `attributes`/`excludedAttributes`.
    Always,
    /// Never returned.
    Never,
    /// Returned unless excluded, or unless `attributes` names others.
    Default,
    /// Returned only when named in `attributes`.
    Request,
}

impl Returned {
    /// The RFC 7643 §7 keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
            Returned::Request => "request",
        }
    }
}

/// The uniqueness scope of an attribute's value (RFC 7643 §7 "uniqueness").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Uniqueness {
    /// No uniqueness.
    None,
    /// Unique within the service provider's tenant.
    Server,
    /// Globally unique.
    Global,
}

impl Uniqueness {
    /// The RFC 7643 §7 keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Uniqueness::None => "none",
            Uniqueness::Server => "server",
            Uniqueness::Global => "global",
        }
    }
}

/// One attribute definition with its characteristics (RFC 7643 §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeDef {
    /// Canonical attribute name (case as in the RFC).
    pub name: &'static str,
    /// Data type.
    pub attr_type: AttrType,
    /// Whether the attribute is an array of values.
    pub multi_valued: bool,
    /// Whether a create/replace must carry it.
    pub required: bool,
    /// Whether string comparisons are case-sensitive.
    pub case_exact: bool,
    /// Mutability.
    pub mutability: Mutability,
    /// Returned characteristic.
    pub returned: Returned,
    /// Uniqueness scope.
    pub uniqueness: Uniqueness,
    /// Suggested values (not enforced).
    pub canonical_values: &'static [&'static str],
    /// For `reference` attributes: the resource types referred to (`User`, `Group`, `external`, `uri`).
    pub reference_types: &'static [&'static str],
    /// Human-readable description.
    pub description: &'static str,
    /// Sub-attributes of a complex attribute.
    pub sub_attributes: Vec<AttributeDef>,
}

impl AttributeDef {
    /// A single-valued, optional, case-insensitive, readWrite, returned-by-default, non-unique attribute.
    pub fn new(name: &'static str, attr_type: AttrType) -> Self {
        AttributeDef {
            name,
            attr_type,
            multi_valued: false,
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            canonical_values: &[],
            reference_types: &[],
            description: "",
            sub_attributes: Vec::new(),
        }
    }

    /// Marks the attribute multi-valued.
    pub fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }

    /// Marks the attribute required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Marks string comparisons case-sensitive.
    pub fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }

    /// Sets the mutability.
    pub fn mutability(mut self, m: Mutability) -> Self {
        self.mutability = m;
        self
    }

    /// Sets the returned characteristic.
    pub fn returned(mut self, r: Returned) -> Self {
        self.returned = r;
        self
    }

    /// Sets the uniqueness.
    pub fn uniqueness(mut self, u: Uniqueness) -> Self {
        self.uniqueness = u;
        self
    }

    /// Sets the canonical values.
    pub fn canonical(mut self, values: &'static [&'static str]) -> Self {
        self.canonical_values = values;
        self
    }

    /// Sets the reference types.
    pub fn refs(mut self, types: &'static [&'static str]) -> Self {
        self.reference_types = types;
        self
    }

    /// Sets the description.
    pub fn desc(mut self, d: &'static str) -> Self {
        self.description = d;
        self
    }

    /// Sets the sub-attributes (makes sense for `Complex` only).
    pub fn subs(mut self, subs: Vec<AttributeDef>) -> Self {
        self.sub_attributes = subs;
        self
    }

    /// Finds a sub-attribute by name, case-insensitively.
    pub fn sub(&self, name: &str) -> Option<&AttributeDef> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The RFC 7643 §7 JSON representation of this attribute.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        m.insert("type".into(), json!(self.attr_type.as_str()));
        m.insert("multiValued".into(), json!(self.multi_valued));
        m.insert("description".into(), json!(self.description));
        m.insert("required".into(), json!(self.required));
        if matches!(
            self.attr_type,
            AttrType::String | AttrType::Reference | AttrType::Binary
        ) {
            m.insert("caseExact".into(), json!(self.case_exact));
        }
        if !self.canonical_values.is_empty() {
            m.insert("canonicalValues".into(), json!(self.canonical_values));
        }
        if !self.reference_types.is_empty() {
            m.insert("referenceTypes".into(), json!(self.reference_types));
        }
        m.insert("mutability".into(), json!(self.mutability.as_str()));
        m.insert("returned".into(), json!(self.returned.as_str()));
        if self.attr_type != AttrType::Complex {
            m.insert("uniqueness".into(), json!(self.uniqueness.as_str()));
        }
        if !self.sub_attributes.is_empty() {
            let subs: Vec<Value> = self
                .sub_attributes
                .iter()
                .map(AttributeDef::to_json)
                .collect();
            m.insert("subAttributes".into(), Value::Array(subs));
        }
        Value::Object(m)
    }
}

/// A schema: URN, name, description and attribute definitions (RFC 7643 §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaDef {
    /// Schema URN.
    pub id: &'static str,
    /// Short name (`User`, `Group`, `EnterpriseUser`).
    pub name: &'static str,
    /// Human-readable description.
    pub description: &'static str,
    /// Attribute definitions (the common attributes id/externalId/meta are not listed, see [`common_attributes`]).
    pub attributes: Vec<AttributeDef>,
}

impl SchemaDef {
    /// Finds a top-level attribute by name, case-insensitively.
    pub fn attr(&self, name: &str) -> Option<&AttributeDef> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The RFC 7643 §7 JSON representation, with `meta.location` under `base_url`.
    pub fn to_json(&self, base_url: &str) -> Value {
        let attrs: Vec<Value> = self.attributes.iter().map(AttributeDef::to_json).collect();
        json!({
            "schemas": [SCHEMA_SCHEMA],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": attrs,
            "meta": {
                "resourceType": "Schema",
                "location": format!("{}/Schemas/{}", base_url.trim_end_matches('/'), self.id),
            },
        })
    }
}

fn s(name: &'static str) -> AttributeDef {
    AttributeDef::new(name, AttrType::String)
}

fn multi_value_subs(types: &'static [&'static str]) -> Vec<AttributeDef> {
    vec![
        s("value"),
        s("display"),
        s("type").canonical(types),
        AttributeDef::new("primary", AttrType::Boolean),
    ]
}

static COMMON: LazyLock<Vec<AttributeDef>> = LazyLock::new(|| {
    let ro = |a: AttributeDef| a.mutability(Mutability::ReadOnly);
    vec![
        s("id")
            .case_exact()
            .mutability(Mutability::ReadOnly)
            .returned(Returned::Always)
            .uniqueness(Uniqueness::Server)
            .desc("Unique identifier assigned by the service provider."),
        s("externalId")
            .case_exact()
            .desc("Identifier assigned by the provisioning client."),
        AttributeDef::new("meta", AttrType::Complex)
            .mutability(Mutability::ReadOnly)
            .desc("Resource metadata.")
            .subs(vec![
                ro(s("resourceType").case_exact()),
                ro(AttributeDef::new("created", AttrType::DateTime)),
                ro(AttributeDef::new("lastModified", AttrType::DateTime)),
                ro(AttributeDef::new("location", AttrType::Reference)
                    .case_exact()
                    .refs(&["uri"])),
                ro(s("version").case_exact()),
            ]),
    ]
});

/// The common attributes of every resource (RFC 7643 §3.1): `id`, `externalId`, `meta`.
pub fn common_attributes() -> &'static [AttributeDef] {
    &COMMON
}

static USER: LazyLock<SchemaDef> = LazyLock::new(|| SchemaDef {
    id: SCHEMA_USER,
    name: "User",
    description: "User Account",
    attributes: vec![
        s("userName")
            .required()
            .mutability(Mutability::Immutable)
            .uniqueness(Uniqueness::Server)
            .desc("Unique identifier for the User, used to sign in."),
        AttributeDef::new("name", AttrType::Complex)
            .desc("The components of the user's name.")
            .subs(vec![
                s("formatted"),
                s("familyName"),
                s("givenName"),
                s("middleName"),
                s("honorificPrefix"),
                s("honorificSuffix"),
            ]),
        s("displayName").desc("The name of the User, suitable for display."),
        s("nickName").desc("The casual way to address the user."),
        s("title").desc("The user's title, such as \"Vice President\"."),
        s("userType").desc("The relationship between the organization and the user."),
        s("preferredLanguage").desc("The user's preferred written or spoken language (RFC 7231)."),
        s("locale").desc("The user's default location (language tag)."),
        s("timezone").desc("The user's time zone in IANA Time Zone database format."),
        AttributeDef::new("active", AttrType::Boolean).desc("The user's administrative status."),
        AttributeDef::new("emails", AttrType::Complex)
            .multi()
            .desc("Email addresses for the user.")
            .subs(multi_value_subs(&["work", "home", "other"])),
        AttributeDef::new("phoneNumbers", AttrType::Complex)
            .multi()
            .desc("Phone numbers for the user.")
            .subs(multi_value_subs(&[
                "work", "home", "mobile", "fax", "pager", "other",
            ])),
        AttributeDef::new("groups", AttrType::Complex)
            .multi()
            .mutability(Mutability::ReadOnly)
            .desc("Groups the user belongs to.")
            .subs(vec![
                s("value").mutability(Mutability::ReadOnly),
                AttributeDef::new("$ref", AttrType::Reference)
                    .refs(&["User", "Group"])
                    .mutability(Mutability::ReadOnly),
                s("display").mutability(Mutability::ReadOnly),
                s("type")
                    .canonical(&["direct", "indirect"])
                    .mutability(Mutability::ReadOnly),
            ]),
    ],
});

static ENTERPRISE: LazyLock<SchemaDef> = LazyLock::new(|| SchemaDef {
    id: SCHEMA_ENTERPRISE_USER,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: vec![
        s("employeeNumber").desc("Numeric or alphanumeric identifier assigned to a person."),
        s("costCenter").desc("Identifies the name of a cost center."),
        s("organization").desc("Identifies the name of an organization."),
        s("division").desc("Identifies the name of a division."),
        s("department").desc("Identifies the name of a department."),
        AttributeDef::new("manager", AttrType::Complex)
            .desc("The user's manager.")
            .subs(vec![
                s("value").desc("The id of the SCIM resource representing the manager."),
                AttributeDef::new("$ref", AttrType::Reference).refs(&["User"]),
                s("displayName").mutability(Mutability::ReadOnly),
            ]),
    ],
});

static GROUP: LazyLock<SchemaDef> = LazyLock::new(|| SchemaDef {
    id: SCHEMA_GROUP,
    name: "Group",
    description: "Group",
    attributes: vec![
        s("displayName")
            .required()
            .desc("A human-readable name for the Group."),
        AttributeDef::new("members", AttrType::Complex)
            .multi()
            .desc("A list of members of the Group.")
            .subs(vec![
                s("value")
                    .case_exact()
                    .mutability(Mutability::Immutable)
                    .desc("Identifier of the member."),
                AttributeDef::new("$ref", AttrType::Reference)
                    .refs(&["User", "Group"])
                    .mutability(Mutability::Immutable),
                s("display").mutability(Mutability::ReadOnly),
                s("type")
                    .canonical(&["User", "Group"])
                    .mutability(Mutability::Immutable),
            ]),
    ],
});

/// The core User schema as stored by a server built on this crate.
pub fn user_schema() -> &'static SchemaDef {
    &USER
}

/// The enterprise User extension schema.
pub fn enterprise_user_schema() -> &'static SchemaDef {
    &ENTERPRISE
}

/// The core Group schema.
pub fn group_schema() -> &'static SchemaDef {
    &GROUP
}

/// A resource type: its name, endpoint, core schema and schema extensions (RFC 7643 §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceSchema {
    /// Resource type name (`User`, `Group`).
    pub name: &'static str,
    /// Endpoint relative to the base URL (`/Users`).
    pub endpoint: &'static str,
    /// Core schema.
    pub core: &'static SchemaDef,
    /// Schema extensions (all optional).
    pub extensions: Vec<&'static SchemaDef>,
}

impl ResourceSchema {
    /// The User resource type with the enterprise extension.
    pub fn user() -> Self {
        ResourceSchema {
            name: "User",
            endpoint: "/Users",
            core: user_schema(),
            extensions: vec![enterprise_user_schema()],
        }
    }

    /// The Group resource type.
    pub fn group() -> Self {
        ResourceSchema {
            name: "Group",
            endpoint: "/Groups",
            core: group_schema(),
            extensions: Vec::new(),
        }
    }

    /// The extension schema with this URN (case-insensitive).
    pub fn extension(&self, urn: &str) -> Option<&'static SchemaDef> {
        self.extensions
            .iter()
            .copied()
            .find(|e| e.id.eq_ignore_ascii_case(urn))
    }

    /// Finds a top-level attribute and the schema that holds it (`None` for the common attributes).
    ///
    /// `uri` may name the core schema or an extension; unqualified names are looked up in the common
    /// attributes, then the core schema, then the extensions.
    pub fn resolve(
        &self,
        uri: Option<&str>,
        name: &str,
    ) -> Option<(Option<&'static SchemaDef>, &'static AttributeDef)> {
        let common = || {
            common_attributes()
                .iter()
                .find(|a| a.name.eq_ignore_ascii_case(name))
                .map(|a| (None, a))
        };
        match uri {
            Some(u) if u.eq_ignore_ascii_case(self.core.id) => {
                common().or_else(|| self.core.attr(name).map(|a| (Some(self.core), a)))
            }
            Some(u) => {
                let ext = self.extension(u)?;
                ext.attr(name).map(|a| (Some(ext), a))
            }
            None => common()
                .or_else(|| self.core.attr(name).map(|a| (Some(self.core), a)))
                .or_else(|| {
                    self.extensions
                        .iter()
                        .find_map(|e| e.attr(name).map(|a| (Some(*e), a)))
                }),
        }
    }

    /// Finds an attribute (or sub-attribute) definition; names are case-insensitive, `uri` optional.
    pub fn find_attr(
        &self,
        uri: Option<&str>,
        name: &str,
        sub: Option<&str>,
    ) -> Option<&'static AttributeDef> {
        let (_, attr) = self.resolve(uri, name)?;
        match sub {
            None => Some(attr),
            Some(sub) => attr.sub(sub),
        }
    }

    /// Finds the definition an [`AttrPath`](crate::filter::AttrPath) refers to.
    pub fn find_path(&self, path: &crate::filter::AttrPath) -> Option<&'static AttributeDef> {
        self.find_attr(path.uri.as_deref(), &path.name, path.sub.as_deref())
    }
}

/// What a validated body is used for; decides the immutability and readOnly handling.
#[derive(Debug, Clone, Copy)]
pub enum ValidateMode<'a> {
    /// POST: readOnly input dropped, immutable attributes may be set.
    Create,
    /// PUT: readOnly input dropped; immutable attributes already set on `existing` must not change.
    Replace {
        /// The stored resource being replaced.
        existing: &'a Value,
    },
    /// The result of applying PATCH to `existing`: readOnly attributes are kept as they are (PATCH itself
    /// refuses to target them), immutable attributes already set must not change.
    PatchResult {
        /// The stored resource before the PATCH.
        existing: &'a Value,
    },
}

impl<'a> ValidateMode<'a> {
    fn existing(self) -> Option<&'a Value> {
        match self {
            ValidateMode::Create => None,
            ValidateMode::Replace { existing } | ValidateMode::PatchResult { existing } => {
                Some(existing)
            }
        }
    }

    fn keeps_read_only(self) -> bool {
        matches!(self, ValidateMode::PatchResult { .. })
    }
}

fn invalid_syntax(detail: String) -> ScimError {
    ScimError::bad_request(ScimType::InvalidSyntax, detail)
}

fn invalid_value(detail: String) -> ScimError {
    ScimError::bad_request(ScimType::InvalidValue, detail)
}

/// Case-insensitive lookup of a key in a JSON object.
pub fn get_ci<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// Validates a create/replace body (or a PATCH result) against a resource type and returns the normalized
/// value: canonical attribute names, nulls removed, readOnly input dropped (except in `PatchResult` mode).
pub fn validate_resource(
    value: &Value,
    rs: &ResourceSchema,
    mode: ValidateMode<'_>,
) -> Result<Value, ScimError> {
    let obj = value
        .as_object()
        .ok_or_else(|| invalid_syntax("the resource must be a JSON object".into()))?;
    let existing = mode.existing().and_then(Value::as_object);

    // `schemas`: an array of strings naming the core schema and only known extensions.
    let schemas = get_ci(obj, "schemas").ok_or_else(|| {
        invalid_syntax(format!("'schemas' is missing; it must list {}", rs.core.id))
    })?;
    let listed = schemas
        .as_array()
        .ok_or_else(|| invalid_syntax("'schemas' must be an array of strings".into()))?;
    let mut has_core = false;
    let mut listed_ext: Vec<&'static SchemaDef> = Vec::new();
    for urn in listed {
        let urn = urn
            .as_str()
            .ok_or_else(|| invalid_syntax("'schemas' must be an array of strings".into()))?;
        if urn.eq_ignore_ascii_case(rs.core.id) {
            has_core = true;
        } else if let Some(ext) = rs.extension(urn) {
            if !listed_ext.contains(&ext) {
                listed_ext.push(ext);
            }
        } else {
            return Err(invalid_syntax(format!(
                "unknown schema '{urn}' in 'schemas'"
            )));
        }
    }
    if !has_core {
        return Err(invalid_syntax(format!(
            "'schemas' must contain {}",
            rs.core.id
        )));
    }

    let mut out = Map::new();
    let mut seen: Vec<String> = Vec::new();
    let mut used_ext: Vec<&'static SchemaDef> = Vec::new();
    for (key, v) in obj {
        let lower = key.to_ascii_lowercase();
        if seen.contains(&lower) {
            return Err(invalid_syntax(format!(
                "attribute '{key}' appears more than once"
            )));
        }
        seen.push(lower);
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some(ext) = rs.extension(key) {
            if v.is_null() {
                continue;
            }
            let ext_obj = v.as_object().ok_or_else(|| {
                invalid_syntax(format!("extension '{}' must be a JSON object", ext.id))
            })?;
            if !listed_ext.contains(&ext) {
                return Err(invalid_syntax(format!(
                    "'schemas' must list {} when its attributes are present",
                    ext.id
                )));
            }
            let ext_existing = existing
                .and_then(|e| get_ci(e, ext.id))
                .and_then(Value::as_object);
            let normalized = validate_attrs(ext_obj, &ext.attributes, ext_existing, mode, "")?;
            if !normalized.is_empty() {
                used_ext.push(ext);
                out.insert(ext.id.to_string(), Value::Object(normalized));
            }
            continue;
        }
        let def = common_attributes()
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(key))
            .or_else(|| rs.core.attr(key))
            .ok_or_else(|| {
                invalid_syntax(format!(
                    "unknown attribute '{key}' for resource type {}",
                    rs.name
                ))
            })?;
        if let Some(n) = validate_one(def, v, existing, mode, "")? {
            out.insert(def.name.to_string(), n);
        }
    }
    // Required attributes of the core schema (extensions are optional as a whole).
    check_required(&rs.core.attributes, &out, "")?;
    for ext in &used_ext {
        if let Some(Value::Object(ext_out)) = out.get(ext.id) {
            check_required(&ext.attributes, ext_out, "")?;
        }
    }
    // Immutable attributes present before must not disappear on replace.
    if let Some(existing) = existing {
        check_immutable_kept(&rs.core.attributes, existing, &out, "")?;
    }

    let mut schemas_out = vec![Value::String(rs.core.id.to_string())];
    for ext in listed_ext {
        if used_ext.contains(&ext) || mode.keeps_read_only() {
            schemas_out.push(Value::String(ext.id.to_string()));
        }
    }
    out.insert("schemas".into(), Value::Array(schemas_out));
    Ok(Value::Object(out))
}

fn check_required(
    defs: &[AttributeDef],
    out: &Map<String, Value>,
    prefix: &str,
) -> Result<(), ScimError> {
    for def in defs
        .iter()
        .filter(|d| d.required && d.mutability != Mutability::ReadOnly)
    {
        let present = match out.get(def.name) {
            None | Some(Value::Null) => false,
            Some(Value::Array(a)) => !a.is_empty(),
            Some(Value::String(s)) => !s.is_empty(),
            Some(_) => true,
        };
        if !present {
            return Err(invalid_value(format!(
                "required attribute '{prefix}{}' is missing",
                def.name
            )));
        }
    }
    Ok(())
}

fn check_immutable_kept(
    defs: &[AttributeDef],
    existing: &Map<String, Value>,
    out: &Map<String, Value>,
    prefix: &str,
) -> Result<(), ScimError> {
    for def in defs
        .iter()
        .filter(|d| d.mutability == Mutability::Immutable && !d.multi_valued)
    {
        let before = get_ci(existing, def.name).filter(|v| !v.is_null());
        if before.is_some() && out.get(def.name).is_none() {
            return Err(ScimError::bad_request(
                ScimType::Mutability,
                format!(
                    "immutable attribute '{prefix}{}' cannot be removed",
                    def.name
                ),
            ));
        }
    }
    Ok(())
}

fn validate_attrs(
    obj: &Map<String, Value>,
    defs: &[AttributeDef],
    existing: Option<&Map<String, Value>>,
    mode: ValidateMode<'_>,
    prefix: &str,
) -> Result<Map<String, Value>, ScimError> {
    let mut out = Map::new();
    let mut seen: Vec<String> = Vec::new();
    for (key, v) in obj {
        let lower = key.to_ascii_lowercase();
        if seen.contains(&lower) {
            return Err(invalid_syntax(format!(
                "attribute '{prefix}{key}' appears more than once"
            )));
        }
        seen.push(lower);
        let def = defs
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(key))
            .ok_or_else(|| invalid_syntax(format!("unknown attribute '{prefix}{key}'")))?;
        if let Some(n) = validate_one(def, v, existing, mode, prefix)? {
            out.insert(def.name.to_string(), n);
        }
    }
    check_required(defs, &out, prefix)?;
    if let Some(existing) = existing {
        check_immutable_kept(defs, existing, &out, prefix)?;
    }
    Ok(out)
}

/// Validates one attribute value; `Ok(None)` means "drop it" (null, or readOnly input).
fn validate_one(
    def: &AttributeDef,
    v: &Value,
    existing_parent: Option<&Map<String, Value>>,
    mode: ValidateMode<'_>,
    prefix: &str,
) -> Result<Option<Value>, ScimError> {
    let path = format!("{prefix}{}", def.name);
    if v.is_null() {
        return Ok(None);
    }
    if def.mutability == Mutability::ReadOnly {
        return Ok(if mode.keeps_read_only() {
            Some(v.clone())
        } else {
            None
        });
    }
    let existing = existing_parent
        .and_then(|e| get_ci(e, def.name))
        .filter(|e| !e.is_null());
    let normalized = if def.multi_valued {
        let items = v.as_array().ok_or_else(|| {
            invalid_value(format!(
                "attribute '{path}' is multi-valued and must be an array"
            ))
        })?;
        let mut out = Vec::with_capacity(items.len());
        let mut primaries = 0;
        for item in items {
            if item.is_null() {
                continue;
            }
            // Elements of a multi-valued attribute cannot be correlated with the stored ones, so their
            // immutable sub-attributes are checked by PATCH, not here.
            let n = validate_single(def, item, None, mode, &path)?;
            if n.get("primary") == Some(&Value::Bool(true)) {
                primaries += 1;
            }
            out.push(n);
        }
        if primaries > 1 {
            return Err(invalid_value(format!(
                "at most one value of '{path}' may be primary"
            )));
        }
        Value::Array(out)
    } else {
        validate_single(def, v, existing, mode, &path)?
    };
    if def.mutability == Mutability::Immutable
        && let Some(before) = existing
        && !same_value(def, before, &normalized)
    {
        return Err(ScimError::bad_request(
            ScimType::Mutability,
            format!("immutable attribute '{path}' cannot be changed"),
        ));
    }
    Ok(Some(normalized))
}

fn same_value(def: &AttributeDef, a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) if !def.case_exact => x.eq_ignore_ascii_case(y),
        _ => a == b,
    }
}

fn validate_single(
    def: &AttributeDef,
    v: &Value,
    existing: Option<&Value>,
    mode: ValidateMode<'_>,
    path: &str,
) -> Result<Value, ScimError> {
    let wrong = |expected: &str| invalid_value(format!("attribute '{path}' must be {expected}"));
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
            let s = v
                .as_str()
                .ok_or_else(|| wrong("an RFC 3339 date-time string"))?;
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map_err(|_| wrong("an RFC 3339 date-time string"))?;
            Ok(v.clone())
        }
        AttrType::Boolean => v
            .as_bool()
            .map(|_| v.clone())
            .ok_or_else(|| wrong("a boolean")),
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
            let obj = v.as_object().ok_or_else(|| wrong("a JSON object"))?;
            let existing = existing.and_then(Value::as_object);
            let out = validate_attrs(
                obj,
                &def.sub_attributes,
                existing,
                mode,
                &format!("{path}."),
            )?;
            Ok(Value::Object(out))
        }
    }
}

fn list_of(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [SCHEMA_LIST_RESPONSE],
        "totalResults": resources.len(),
        "startIndex": 1,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// Every schema served by /Schemas.
pub fn all_schemas() -> [&'static SchemaDef; 3] {
    [user_schema(), enterprise_user_schema(), group_schema()]
}

/// The `GET /Schemas` list response (User, EnterpriseUser, Group), locations under `base_url`.
pub fn schemas_json(base_url: &str) -> Value {
    list_of(all_schemas().iter().map(|s| s.to_json(base_url)).collect())
}

/// The `GET /Schemas/{id}` body, if `id` is one of ours (case-insensitive).
pub fn schema_json(base_url: &str, id: &str) -> Option<Value> {
    all_schemas()
        .iter()
        .find(|s| s.id.eq_ignore_ascii_case(id))
        .map(|s| s.to_json(base_url))
}

impl ResourceSchema {
    /// The RFC 7643 §6 ResourceType representation, location under `base_url`.
    pub fn resource_type_json(&self, base_url: &str) -> Value {
        let exts: Vec<Value> = self
            .extensions
            .iter()
            .map(|e| json!({"schema": e.id, "required": false}))
            .collect();
        let mut v = json!({
            "schemas": [SCHEMA_RESOURCE_TYPE],
            "id": self.name,
            "name": self.name,
            "endpoint": self.endpoint,
            "description": self.core.description,
            "schema": self.core.id,
            "meta": {
                "resourceType": "ResourceType",
                "location": format!("{}/ResourceTypes/{}", base_url.trim_end_matches('/'), self.name),
            },
        });
        if let (false, Some(obj)) = (exts.is_empty(), v.as_object_mut()) {
            obj.insert("schemaExtensions".into(), Value::Array(exts));
        }
        v
    }
}

/// The `GET /ResourceTypes` list response (User, Group).
pub fn resource_types_json(base_url: &str) -> Value {
    list_of(vec![
        ResourceSchema::user().resource_type_json(base_url),
        ResourceSchema::group().resource_type_json(base_url),
    ])
}

/// The `GET /ResourceTypes/{name}` body, if `name` is User or Group (case-insensitive).
pub fn resource_type_json(base_url: &str, name: &str) -> Option<Value> {
    [ResourceSchema::user(), ResourceSchema::group()]
        .into_iter()
        .find(|r| r.name.eq_ignore_ascii_case(name))
        .map(|r| r.resource_type_json(base_url))
}

/// What a service provider announces in /ServiceProviderConfig (RFC 7643 §5). Authentication is always
/// announced as an OAuth bearer token (`oauthbearertoken`), the only scheme Gatehouse servers accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpConfig {
    /// PATCH supported.
    pub patch: bool,
    /// Bulk supported, with (maxOperations, maxPayloadSize in bytes).
    pub bulk: Option<(u32, u64)>,
    /// Maximum resources returned by a filtered list.
    pub filter_max_results: u32,
    /// Password change supported.
    pub change_password: bool,
    /// sortBy supported.
    pub sort: bool,
    /// ETags supported.
    pub etag: bool,
    /// Documentation URL.
    pub documentation_uri: Option<String>,
    /// `meta.location` of the document (the /ServiceProviderConfig URL), if known.
    pub location: Option<String>,
}

impl Default for SpConfig {
    fn default() -> Self {
        SpConfig {
            patch: true,
            bulk: None,
            filter_max_results: 200,
            change_password: false,
            sort: true,
            etag: true,
            documentation_uri: None,
            location: None,
        }
    }
}

/// The `GET /ServiceProviderConfig` body.
pub fn service_provider_config_json(cfg: &SpConfig) -> Value {
    let (bulk_ok, max_ops, max_payload) = match cfg.bulk {
        Some((ops, payload)) => (true, ops, payload),
        None => (false, 0, 0),
    };
    let mut v = json!({
        "schemas": [SCHEMA_SP_CONFIG],
        "patch": {"supported": cfg.patch},
        "bulk": {"supported": bulk_ok, "maxOperations": max_ops, "maxPayloadSize": max_payload},
        "filter": {"supported": true, "maxResults": cfg.filter_max_results},
        "changePassword": {"supported": cfg.change_password},
        "sort": {"supported": cfg.sort},
        "etag": {"supported": cfg.etag},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with a bearer token issued for this directory.",
            "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
            "primary": true,
        }],
        "meta": {"resourceType": "ServiceProviderConfig"},
    });
    if let Some(obj) = v.as_object_mut() {
        if let Some(doc) = &cfg.documentation_uri {
            obj.insert("documentationUri".into(), json!(doc));
        }
        if let (Some(loc), Some(Value::Object(meta))) = (&cfg.location, obj.get_mut("meta")) {
            meta.insert("location".into(), json!(loc));
        }
    }
    v
}
