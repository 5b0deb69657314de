//! RAM policy documents: parsing, validation and evaluation.
//!
//! The grammar is RAM's (a JSON object, `"Version": "1"`, a non-empty `"Statement"` list). A
//! statement has an `Effect` (`Allow` | `Deny`), exactly one of `Action` / `NotAction`, and, for
//! permission policies, exactly one of `Resource` / `NotResource`; an optional `Condition` maps an
//! operator (`StringEquals`, `IpAddress`, …) to `{ key: value | [values] }`. Trust policies (the
//! document of a role saying who may assume it) carry a `Principal` instead of a resource.
//!
//! A document is at most [`MAX_POLICY_CHARS`] characters, counted on the text as submitted, like
//! RAM does. Every refusal names the statement and the field concerned.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

/// Longest policy document (characters of the submitted JSON text).
pub const MAX_POLICY_CHARS: usize = 4096;

/// The only policy language version RAM knows.
pub const POLICY_VERSION: &str = "1";

/// Which kind of document is being parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// A permission policy attached to a role or user (`Resource`, no `Principal`).
    Permission,
    /// A role's trust policy (`Principal`, no `Resource`).
    Trust,
}

/// Why a policy document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The document is empty.
    #[error("the policy document is empty")]
    Empty,
    /// The document is longer than [`MAX_POLICY_CHARS`].
    #[error("the policy document has {chars} characters; at most {max} are allowed")]
    TooLong {
        /// Characters found.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// Not JSON at all.
    #[error("the policy document is not valid JSON: {0}")]
    NotJson(String),
    /// The top level is not a JSON object.
    #[error("the policy document must be a JSON object")]
    NotAnObject,
    /// A key RAM does not know at the top level.
    #[error("unknown top-level field {0:?} (allowed: Version, Statement)")]
    UnknownTopLevelField(String),
    /// `Version` is absent.
    #[error("the policy document lacks \"Version\"")]
    MissingVersion,
    /// `Version` is not `"1"`.
    #[error("\"Version\" must be \"1\", found {0}")]
    WrongVersion(String),
    /// `Statement` is absent.
    #[error("the policy document lacks \"Statement\"")]
    MissingStatement,
    /// `Statement` is not a list of objects, or is empty.
    #[error("\"Statement\" must be a non-empty list of objects")]
    BadStatementList,
    /// A statement field is missing.
    #[error("statement {index}: missing \"{field}\"")]
    MissingField {
        /// Index of the statement (0-based).
        index: usize,
        /// The field.
        field: &'static str,
    },
    /// Two mutually exclusive fields are both present (`Action` and `NotAction`, …).
    #[error("statement {index}: \"{first}\" and \"{second}\" cannot both be present")]
    ConflictingFields {
        /// Index of the statement.
        index: usize,
        /// One field.
        first: &'static str,
        /// The other.
        second: &'static str,
    },
    /// A field this kind of document may not carry.
    #[error("statement {index}: \"{field}\" is not allowed in a {kind} policy")]
    FieldNotAllowed {
        /// Index of the statement.
        index: usize,
        /// The field.
        field: String,
        /// `permission` or `trust`.
        kind: &'static str,
    },
    /// `Effect` is not `Allow` or `Deny`.
    #[error("statement {index}: \"Effect\" must be \"Allow\" or \"Deny\", found {found}")]
    BadEffect {
        /// Index of the statement.
        index: usize,
        /// What was found (JSON).
        found: String,
    },
    /// A field that must be a string or a non-empty list of strings is not.
    #[error("statement {index}: \"{field}\" must be a string or a non-empty list of strings")]
    NotStringList {
        /// Index of the statement.
        index: usize,
        /// The field.
        field: &'static str,
    },
    /// An action is not `*` nor `service:Operation` (wildcards allowed).
    #[error(
        "statement {index}: invalid action {action:?} (expected \"*\" or \"service:Operation\")"
    )]
    BadAction {
        /// Index of the statement.
        index: usize,
        /// The action.
        action: String,
    },
    /// A resource is not `*` nor an `acs:` resource name.
    #[error(
        "statement {index}: invalid resource {resource:?} (expected \"*\" or \"acs:service:region:account:relative-id\")"
    )]
    BadResource {
        /// Index of the statement.
        index: usize,
        /// The resource.
        resource: String,
    },
    /// `Principal` is malformed.
    #[error(
        "statement {index}: \"Principal\" must be an object with RAM, Service or Federated principals, or \"*\""
    )]
    BadPrincipal {
        /// Index of the statement.
        index: usize,
    },
    /// `Condition` is malformed.
    #[error("statement {index}: bad \"Condition\": {reason}")]
    BadCondition {
        /// Index of the statement.
        index: usize,
        /// What is wrong.
        reason: String,
    },
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Effect {
    /// Grants.
    Allow,
    /// Denies, overriding every Allow.
    Deny,
}

/// A list of patterns that either lists what is covered or (the `Not…` form) what is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatternSet {
    /// `Action` / `Resource`: these patterns.
    Only(Vec<String>),
    /// `NotAction` / `NotResource`: everything except these patterns.
    AllExcept(Vec<String>),
}

impl PatternSet {
    fn covers(&self, value: &str, case_insensitive: bool) -> bool {
        let any = |patterns: &[String]| {
            patterns
                .iter()
                .any(|p| wildcard_match(p, value, case_insensitive))
        };
        match self {
            PatternSet::Only(p) => any(p),
            PatternSet::AllExcept(p) => !any(p),
        }
    }
}

/// Who a trust-policy statement names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Principal {
    /// `"*"`: anyone.
    pub any: bool,
    /// `RAM`: account IDs or RAM ARNs.
    pub ram: Vec<String>,
    /// `Service`: cloud service names (`ecs.aliyuncs.com`).
    pub service: Vec<String>,
    /// `Federated`: SAML provider ARNs.
    pub federated: Vec<String>,
}

/// One condition: `operator` applied to `key` with `values` (any value may match).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The operator, e.g. `StringEquals`.
    pub operator: ConditionOperator,
    /// The condition key, e.g. `saml:recipient` or `acs:SourceIp`.
    pub key: String,
    /// The values, as strings (numbers and booleans are written as JSON writes them).
    pub values: Vec<String>,
}

/// The condition operators RAM documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionOperator {
    /// `StringEquals`.
    StringEquals,
    /// `StringNotEquals`.
    StringNotEquals,
    /// `StringEqualsIgnoreCase`.
    StringEqualsIgnoreCase,
    /// `StringNotEqualsIgnoreCase`.
    StringNotEqualsIgnoreCase,
    /// `StringLike` (`*` and `?` wildcards).
    StringLike,
    /// `StringNotLike`.
    StringNotLike,
    /// `NumericEquals`.
    NumericEquals,
    /// `NumericNotEquals`.
    NumericNotEquals,
    /// `NumericLessThan`.
    NumericLessThan,
    /// `NumericLessThanEquals`.
    NumericLessThanEquals,
    /// `NumericGreaterThan`.
    NumericGreaterThan,
    /// `NumericGreaterThanEquals`.
    NumericGreaterThanEquals,
    /// `DateEquals`.
    DateEquals,
    /// `DateNotEquals`.
    DateNotEquals,
    /// `DateLessThan`.
    DateLessThan,
    /// `DateLessThanEquals`.
    DateLessThanEquals,
    /// `DateGreaterThan`.
    DateGreaterThan,
    /// `DateGreaterThanEquals`.
    DateGreaterThanEquals,
    /// `Bool`.
    Bool,
    /// `IpAddress` (CIDR or address).
    IpAddress,
    /// `NotIpAddress`.
    NotIpAddress,
}

const OPERATORS: &[(&str, ConditionOperator)] = &[
    ("StringEquals", ConditionOperator::StringEquals),
    ("StringNotEquals", ConditionOperator::StringNotEquals),
    (
        "StringEqualsIgnoreCase",
        ConditionOperator::StringEqualsIgnoreCase,
    ),
    (
        "StringNotEqualsIgnoreCase",
        ConditionOperator::StringNotEqualsIgnoreCase,
    ),
    ("StringLike", ConditionOperator::StringLike),
    ("StringNotLike", ConditionOperator::StringNotLike),
    ("NumericEquals", ConditionOperator::NumericEquals),
    ("NumericNotEquals", ConditionOperator::NumericNotEquals),
    ("NumericLessThan", ConditionOperator::NumericLessThan),
    (
        "NumericLessThanEquals",
        ConditionOperator::NumericLessThanEquals,
    ),
    ("NumericGreaterThan", ConditionOperator::NumericGreaterThan),
    (
        "NumericGreaterThanEquals",
        ConditionOperator::NumericGreaterThanEquals,
    ),
    ("DateEquals", ConditionOperator::DateEquals),
    ("DateNotEquals", ConditionOperator::DateNotEquals),
    ("DateLessThan", ConditionOperator::DateLessThan),
    ("DateLessThanEquals", ConditionOperator::DateLessThanEquals),
    ("DateGreaterThan", ConditionOperator::DateGreaterThan),
    (
        "DateGreaterThanEquals",
        ConditionOperator::DateGreaterThanEquals,
    ),
    ("Bool", ConditionOperator::Bool),
    ("IpAddress", ConditionOperator::IpAddress),
    ("NotIpAddress", ConditionOperator::NotIpAddress),
];

impl ConditionOperator {
    /// Parses an operator name (exact case, as RAM).
    pub fn parse(name: &str) -> Option<Self> {
        OPERATORS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, op)| *op)
    }

    /// The operator's name.
    pub fn as_str(self) -> &'static str {
        OPERATORS
            .iter()
            .find(|(_, op)| *op == self)
            .map_or("", |(n, _)| n)
    }
}

impl fmt::Display for ConditionOperator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One statement of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// Allow or Deny.
    pub effect: Effect,
    /// The actions covered.
    pub actions: PatternSet,
    /// The resources covered (`None` in trust policies).
    pub resources: Option<PatternSet>,
    /// The principals (trust policies only).
    pub principal: Option<Principal>,
    /// All conditions, which must all hold.
    pub conditions: Vec<Condition>,
}

/// A parsed, valid policy document. [`PolicyDocument::text`] keeps the submitted JSON unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDocument {
    text: String,
    kind: PolicyKind,
    statements: Vec<Statement>,
}

/// The request context conditions are evaluated against (`acs:SourceIp`, `saml:recipient`, …).
pub type ConditionContext = BTreeMap<String, String>;

/// The outcome of evaluating policies for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Decision {
    /// A statement allows it and none denies it.
    Allow,
    /// A statement denies it.
    ExplicitDeny,
    /// Nothing allows it.
    ImplicitDeny,
}

impl PolicyDocument {
    /// Parses and validates `text` as a policy of `kind`.
    pub fn parse(text: &str, kind: PolicyKind) -> Result<Self, PolicyError> {
        if text.trim().is_empty() {
            return Err(PolicyError::Empty);
        }
        let chars = text.chars().count();
        if chars > MAX_POLICY_CHARS {
            return Err(PolicyError::TooLong {
                chars,
                max: MAX_POLICY_CHARS,
            });
        }
        let value: Value =
            serde_json::from_str(text).map_err(|e| PolicyError::NotJson(e.to_string()))?;
        let Value::Object(top) = value else {
            return Err(PolicyError::NotAnObject);
        };
        if let Some(unknown) = top.keys().find(|k| *k != "Version" && *k != "Statement") {
            return Err(PolicyError::UnknownTopLevelField(unknown.clone()));
        }
        match top.get("Version") {
            None => return Err(PolicyError::MissingVersion),
            Some(Value::String(v)) if v == POLICY_VERSION => {}
            Some(other) => return Err(PolicyError::WrongVersion(other.to_string())),
        }
        let list = match top.get("Statement") {
            None => return Err(PolicyError::MissingStatement),
            Some(Value::Array(list)) if !list.is_empty() => list,
            Some(_) => return Err(PolicyError::BadStatementList),
        };
        let statements = list
            .iter()
            .enumerate()
            .map(|(index, value)| match value {
                Value::Object(fields) => parse_statement(index, fields, kind),
                _ => Err(PolicyError::BadStatementList),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            text: text.to_owned(),
            kind,
            statements,
        })
    }

    /// The document as submitted.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Permission or trust policy.
    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    /// The statements.
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }

    /// Whether some Allow statement of this trust policy lets the SAML provider `provider_arn`
    /// assume the role with `sts:AssumeRole` (and no Deny statement refuses it), given `context`.
    pub fn trusts_saml_provider(&self, provider_arn: &str, context: &ConditionContext) -> bool {
        let applies = |s: &Statement| {
            s.actions.covers("sts:AssumeRole", true)
                && s.principal.as_ref().is_some_and(|p| {
                    p.any
                        || p.federated
                            .iter()
                            .any(|f| f.eq_ignore_ascii_case(provider_arn))
                })
                && conditions_hold(&s.conditions, context)
        };
        let mut allowed = false;
        for statement in self.statements.iter().filter(|s| applies(s)) {
            match statement.effect {
                Effect::Deny => return false,
                Effect::Allow => allowed = true,
            }
        }
        allowed
    }
}

/// Evaluates permission policies for `action` on `resource`: an explicit Deny wins, then any
/// Allow, else the implicit deny. Actions compare case-insensitively, resources exactly.
pub fn evaluate<'a>(
    policies: impl IntoIterator<Item = &'a PolicyDocument>,
    action: &str,
    resource: &str,
    context: &ConditionContext,
) -> Decision {
    let mut decision = Decision::ImplicitDeny;
    for statement in policies.into_iter().flat_map(|p| p.statements.iter()) {
        let matches = statement.actions.covers(action, true)
            && statement
                .resources
                .as_ref()
                .is_some_and(|r| r.covers(resource, false))
            && conditions_hold(&statement.conditions, context);
        if matches {
            match statement.effect {
                Effect::Deny => return Decision::ExplicitDeny,
                Effect::Allow => decision = Decision::Allow,
            }
        }
    }
    decision
}

fn kind_name(kind: PolicyKind) -> &'static str {
    match kind {
        PolicyKind::Permission => "permission",
        PolicyKind::Trust => "trust",
    }
}

fn parse_statement(
    index: usize,
    fields: &Map<String, Value>,
    kind: PolicyKind,
) -> Result<Statement, PolicyError> {
    const KNOWN: &[&str] = &[
        "Effect",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Principal",
        "Condition",
    ];
    let not_allowed = |field: &str| PolicyError::FieldNotAllowed {
        index,
        field: field.to_owned(),
        kind: kind_name(kind),
    };
    if let Some(unknown) = fields.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(not_allowed(unknown));
    }
    let effect = match fields.get("Effect") {
        None => {
            return Err(PolicyError::MissingField {
                index,
                field: "Effect",
            });
        }
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        Some(other) => {
            return Err(PolicyError::BadEffect {
                index,
                found: other.to_string(),
            });
        }
    };
    let actions =
        pattern_set(index, fields, "Action", "NotAction")?.ok_or(PolicyError::MissingField {
            index,
            field: "Action",
        })?;
    let patterns = match &actions {
        PatternSet::Only(p) | PatternSet::AllExcept(p) => p,
    };
    if let Some(bad) = patterns.iter().find(|a| !is_valid_action(a)) {
        return Err(PolicyError::BadAction {
            index,
            action: bad.clone(),
        });
    }
    let resources = pattern_set(index, fields, "Resource", "NotResource")?;
    let principal = match kind {
        PolicyKind::Permission => {
            if fields.contains_key("Principal") {
                return Err(not_allowed("Principal"));
            }
            let resources = resources.as_ref().ok_or(PolicyError::MissingField {
                index,
                field: "Resource",
            })?;
            let patterns = match resources {
                PatternSet::Only(p) | PatternSet::AllExcept(p) => p,
            };
            if let Some(bad) = patterns.iter().find(|r| !is_valid_resource(r)) {
                return Err(PolicyError::BadResource {
                    index,
                    resource: bad.clone(),
                });
            }
            None
        }
        PolicyKind::Trust => {
            if fields.contains_key("Resource") {
                return Err(not_allowed("Resource"));
            }
            if fields.contains_key("NotResource") {
                return Err(not_allowed("NotResource"));
            }
            let value = fields.get("Principal").ok_or(PolicyError::MissingField {
                index,
                field: "Principal",
            })?;
            Some(parse_principal(index, value)?)
        }
    };
    let conditions = match fields.get("Condition") {
        None => Vec::new(),
        Some(value) => parse_conditions(index, value)?,
    };
    Ok(Statement {
        effect,
        actions,
        resources,
        principal,
        conditions,
    })
}

fn pattern_set(
    index: usize,
    fields: &Map<String, Value>,
    positive: &'static str,
    negative: &'static str,
) -> Result<Option<PatternSet>, PolicyError> {
    match (fields.get(positive), fields.get(negative)) {
        (Some(_), Some(_)) => Err(PolicyError::ConflictingFields {
            index,
            first: positive,
            second: negative,
        }),
        (Some(v), None) => Ok(Some(PatternSet::Only(string_list(index, positive, v)?))),
        (None, Some(v)) => Ok(Some(PatternSet::AllExcept(string_list(
            index, negative, v,
        )?))),
        (None, None) => Ok(None),
    }
}

fn string_list(
    index: usize,
    field: &'static str,
    value: &Value,
) -> Result<Vec<String>, PolicyError> {
    let err = || PolicyError::NotStringList { index, field };
    match value {
        Value::String(s) if !s.trim().is_empty() => Ok(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|item| match item {
                Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
                _ => Err(err()),
            })
            .collect(),
        _ => Err(err()),
    }
}

/// `*`, or `service:Operation` where both parts are letters, digits, `-`, `_`, `.` and wildcards.
fn is_valid_action(action: &str) -> bool {
    if action == "*" {
        return true;
    }
    let ok = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '*' | '?'))
    };
    match action.split_once(':') {
        Some((service, operation)) => ok(service) && ok(operation),
        None => false,
    }
}

/// `*`, or `acs:{service}:{region}:{account}:{relative id}` (five colon-separated parts, the
/// service and relative id non-empty), without whitespace.
fn is_valid_resource(resource: &str) -> bool {
    if resource == "*" {
        return true;
    }
    if resource.chars().any(char::is_whitespace) {
        return false;
    }
    let parts: Vec<&str> = resource.splitn(5, ':').collect();
    matches!(parts.as_slice(), ["acs", service, _region, _account, relative]
        if !service.is_empty() && !relative.is_empty())
}

fn parse_principal(index: usize, value: &Value) -> Result<Principal, PolicyError> {
    let bad = || PolicyError::BadPrincipal { index };
    match value {
        Value::String(s) if s == "*" => Ok(Principal {
            any: true,
            ..Principal::default()
        }),
        Value::Object(map) if !map.is_empty() => {
            let mut principal = Principal::default();
            for (name, v) in map {
                let list = string_list(index, "Principal", v).map_err(|_| bad())?;
                match name.as_str() {
                    "RAM" => principal.ram = list,
                    "Service" => principal.service = list,
                    "Federated" => principal.federated = list,
                    _ => return Err(bad()),
                }
            }
            Ok(principal)
        }
        _ => Err(bad()),
    }
}

fn parse_conditions(index: usize, value: &Value) -> Result<Vec<Condition>, PolicyError> {
    let bad = |reason: String| PolicyError::BadCondition { index, reason };
    let Value::Object(operators) = value else {
        return Err(bad("must be an object of operators".into()));
    };
    if operators.is_empty() {
        return Err(bad("must name at least one operator".into()));
    }
    let mut out = Vec::new();
    for (name, keys) in operators {
        let operator = ConditionOperator::parse(name)
            .ok_or_else(|| bad(format!("unknown operator {name:?}")))?;
        let Value::Object(keys) = keys else {
            return Err(bad(format!("{name} must map condition keys to values")));
        };
        if keys.is_empty() {
            return Err(bad(format!("{name} names no condition key")));
        }
        for (key, values) in keys {
            if key.trim().is_empty() {
                return Err(bad(format!("{name} has an empty condition key")));
            }
            let scalar = |v: &Value| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            };
            let values: Vec<String> = match values {
                Value::Array(items) if !items.is_empty() => items
                    .iter()
                    .map(|v| {
                        scalar(v).ok_or_else(|| {
                            bad(format!(
                                "{name}.{key}: values must be strings, numbers or booleans"
                            ))
                        })
                    })
                    .collect::<Result<_, _>>()?,
                Value::Array(_) => return Err(bad(format!("{name}.{key}: empty value list"))),
                other => vec![scalar(other).ok_or_else(|| {
                    bad(format!(
                        "{name}.{key}: values must be strings, numbers or booleans"
                    ))
                })?],
            };
            if matches!(
                operator,
                ConditionOperator::IpAddress | ConditionOperator::NotIpAddress
            ) && let Some(bad_ip) = values.iter().find(|v| parse_cidr(v).is_none())
            {
                return Err(bad(format!(
                    "{name}.{key}: {bad_ip:?} is not an IP address or CIDR block"
                )));
            }
            out.push(Condition {
                operator,
                key: key.clone(),
                values,
            });
        }
    }
    Ok(out)
}

/// Whether every condition holds in `context`. A key absent from the context satisfies only the
/// negated operators, as in RAM.
fn conditions_hold(conditions: &[Condition], context: &ConditionContext) -> bool {
    conditions.iter().all(|c| condition_holds(c, context))
}

fn condition_holds(condition: &Condition, context: &ConditionContext) -> bool {
    use ConditionOperator as Op;
    let Some(actual) = context
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(&condition.key))
        .map(|(_, v)| v.as_str())
    else {
        return matches!(
            condition.operator,
            Op::StringNotEquals
                | Op::StringNotEqualsIgnoreCase
                | Op::StringNotLike
                | Op::NumericNotEquals
                | Op::DateNotEquals
                | Op::NotIpAddress
        );
    };
    let any = |f: &dyn Fn(&str) -> bool| condition.values.iter().any(|v| f(v));
    let number = |s: &str| s.trim().parse::<f64>().ok();
    let date = |s: &str| {
        time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339).ok()
    };
    let numeric = |cmp: fn(f64, f64) -> bool| {
        number(actual).is_some_and(|a| any(&|v| number(v).is_some_and(|v| cmp(a, v))))
    };
    let dated = |cmp: fn(time::OffsetDateTime, time::OffsetDateTime) -> bool| {
        date(actual).is_some_and(|a| any(&|v| date(v).is_some_and(|v| cmp(a, v))))
    };
    let ip = || {
        actual
            .parse::<std::net::IpAddr>()
            .ok()
            .is_some_and(|addr| any(&|v| parse_cidr(v).is_some_and(|c| c.contains(addr))))
    };
    match condition.operator {
        Op::StringEquals => any(&|v| v == actual),
        Op::StringNotEquals => !any(&|v| v == actual),
        Op::StringEqualsIgnoreCase => any(&|v| v.eq_ignore_ascii_case(actual)),
        Op::StringNotEqualsIgnoreCase => !any(&|v| v.eq_ignore_ascii_case(actual)),
        Op::StringLike => any(&|v| wildcard_match(v, actual, false)),
        Op::StringNotLike => !any(&|v| wildcard_match(v, actual, false)),
        Op::NumericEquals => numeric(|a, b| a == b),
        Op::NumericNotEquals => !numeric(|a, b| a == b),
        Op::NumericLessThan => numeric(|a, b| a < b),
        Op::NumericLessThanEquals => numeric(|a, b| a <= b),
        Op::NumericGreaterThan => numeric(|a, b| a > b),
        Op::NumericGreaterThanEquals => numeric(|a, b| a >= b),
        Op::DateEquals => dated(|a, b| a == b),
        Op::DateNotEquals => !dated(|a, b| a == b),
        Op::DateLessThan => dated(|a, b| a < b),
        Op::DateLessThanEquals => dated(|a, b| a <= b),
        Op::DateGreaterThan => dated(|a, b| a > b),
        Op::DateGreaterThanEquals => dated(|a, b| a >= b),
        Op::Bool => any(&|v| v.eq_ignore_ascii_case(actual)),
        Op::IpAddress => ip(),
        Op::NotIpAddress => !ip(),
    }
}

/// An IPv4 or IPv6 network.
#[derive(Debug, Clone, Copy)]
struct Cidr {
    addr: std::net::IpAddr,
    prefix: u8,
}

impl Cidr {
    fn contains(self, other: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        let (a, b, bits) = match (self.addr, other) {
            (IpAddr::V4(a), IpAddr::V4(b)) => (
                u128::from(u32::from(a)) << 96,
                u128::from(u32::from(b)) << 96,
                32,
            ),
            (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
            _ => return false,
        };
        let prefix = u32::from(self.prefix.min(bits));
        if prefix == 0 {
            return true;
        }
        let mask = u128::MAX << (128 - prefix);
        a & mask == b & mask
    }
}

fn parse_cidr(text: &str) -> Option<Cidr> {
    let text = text.trim();
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let addr: std::net::IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max)?,
        None => max,
    };
    Some(Cidr { addr, prefix })
}

/// Matches `value` against `pattern` where `*` is any run of characters and `?` one character.
pub fn wildcard_match(pattern: &str, value: &str, case_insensitive: bool) -> bool {
    let norm = |s: &str| -> Vec<char> {
        if case_insensitive {
            s.chars().flat_map(char::to_lowercase).collect()
        } else {
            s.chars().collect()
        }
    };
    let (p, v) = (norm(pattern), norm(value));
    // Iterative matcher with single-star backtracking: linear in practice, no recursion.
    let (mut pi, mut vi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, vi));
            pi += 1;
        } else if let Some((sp, sv)) = star {
            pi = sp + 1;
            vi = sv + 1;
            star = Some((sp, sv + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn permission(text: &str) -> Result<PolicyDocument, PolicyError> {
        PolicyDocument::parse(text, PolicyKind::Permission)
    }

    const ADMIN: &str =
        r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

    #[test]
    fn accepts_real_ram_documents() {
        let doc = permission(ADMIN).unwrap();
        assert_eq!(doc.statements().len(), 1);
        assert_eq!(doc.text(), ADMIN);
        let doc = permission(
            r#"{
              "Version": "1",
              "Statement": [
                {"Effect": "Allow", "Action": ["ecs:Describe*", "ecs:List*"], "Resource": "*"},
                {"Effect": "Deny", "NotAction": "oss:Get*", "Resource": ["acs:oss:*:*:mybucket", "acs:oss:*:*:mybucket/*"],
                 "Condition": {"IpAddress": {"acs:SourceIp": ["10.0.0.0/8", "192.168.1.1"]},
                               "Bool": {"acs:SecureTransport": true}}}
              ]
            }"#,
        )
        .unwrap();
        assert_eq!(doc.statements()[1].conditions.len(), 2);
        assert!(matches!(
            doc.statements()[1].actions,
            PatternSet::AllExcept(_)
        ));
    }

    #[test]
    fn refuses_malformed_documents_with_specific_errors() {
        let cases: &[(&str, PolicyError)] = &[
            ("", PolicyError::Empty),
            ("[]", PolicyError::NotAnObject),
            (r#"{"Statement":[]}"#, PolicyError::MissingVersion),
            (
                r#"{"Version":1,"Statement":[]}"#,
                PolicyError::WrongVersion("1".into()),
            ),
            (
                r#"{"Version":"2012-10-17","Statement":[]}"#,
                PolicyError::WrongVersion("\"2012-10-17\"".into()),
            ),
            (r#"{"Version":"1"}"#, PolicyError::MissingStatement),
            (
                r#"{"Version":"1","Statement":[]}"#,
                PolicyError::BadStatementList,
            ),
            (
                r#"{"Version":"1","Statement":{"Effect":"Allow"}}"#,
                PolicyError::BadStatementList,
            ),
            (
                r#"{"Version":"1","Statement":["x"]}"#,
                PolicyError::BadStatementList,
            ),
            (
                r#"{"Version":"1","Id":"x","Statement":[]}"#,
                PolicyError::UnknownTopLevelField("Id".into()),
            ),
            (
                r#"{"Version":"1","Statement":[{"Action":"*","Resource":"*"}]}"#,
                PolicyError::MissingField {
                    index: 0,
                    field: "Effect",
                },
            ),
            (
                r#"{"Version":"1","Statement":[{"Effect":"allow","Action":"*","Resource":"*"}]}"#,
                PolicyError::BadEffect {
                    index: 0,
                    found: "\"allow\"".into(),
                },
            ),
            (
                r#"{"Version":"1","Statement":[{"Effect":"Allow","Resource":"*"}]}"#,
                PolicyError::MissingField {
                    index: 0,
                    field: "Action",
                },
            ),
            (
                r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*"}]}"#,
                PolicyError::MissingField {
                    index: 0,
                    field: "Resource",
                },
            ),
            (
                r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","NotAction":"x:y","Resource":"*"}]}"#,
                PolicyError::ConflictingFields {
                    index: 0,
                    first: "Action",
                    second: "NotAction",
                },
            ),
            (
                r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":[],"Resource":"*"}]}"#,
                PolicyError::NotStringList {
                    index: 0,
                    field: "Action",
                },
            ),
            (
                r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":[1],"Resource":"*"}]}"#,
                PolicyError::NotStringList {
                    index: 0,
                    field: "Action",
                },
            ),
            (
                r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"ecs","Resource":"*"}]}"#,
                PolicyError::BadAction {
                    index: 0,
                    action: "ecs".into(),
                },
            ),
            (
                r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"ecs:Run Instances","Resource":"*"}]}"#,
                PolicyError::BadAction {
                    index: 0,
                    action: "ecs:Run Instances".into(),
                },
            ),
            (
                r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::b"}]}"#,
                PolicyError::BadResource {
                    index: 0,
                    resource: "arn:aws:s3:::b".into(),
                },
            ),
            (
                r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Sid":"a"}]}"#,
                PolicyError::FieldNotAllowed {
                    index: 0,
                    field: "Sid".into(),
                    kind: "permission",
                },
            ),
            (
                r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Principal":"*"}]}"#,
                PolicyError::FieldNotAllowed {
                    index: 0,
                    field: "Principal".into(),
                    kind: "permission",
                },
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(permission(text).unwrap_err(), *expected, "{text}");
        }
    }

    #[test]
    fn refuses_bad_conditions() {
        let with = |cond: &str| {
            permission(&format!(
                r#"{{"Version":"1","Statement":[{{"Effect":"Allow","Action":"*","Resource":"*","Condition":{cond}}}]}}"#
            ))
        };
        for cond in [
            r#""x""#,
            r#"{}"#,
            r#"{"StringEqualz":{"a":"b"}}"#,
            r#"{"StringEquals":"b"}"#,
            r#"{"StringEquals":{}}"#,
            r#"{"StringEquals":{"a":[]}}"#,
            r#"{"StringEquals":{"a":{"b":"c"}}}"#,
            r#"{"IpAddress":{"acs:SourceIp":"10.0.0.0/33"}}"#,
            r#"{"IpAddress":{"acs:SourceIp":"not-an-ip"}}"#,
        ] {
            assert!(
                matches!(with(cond), Err(PolicyError::BadCondition { index: 0, .. })),
                "{cond}: {:?}",
                with(cond)
            );
        }
        assert!(with(r#"{"StringEquals":{"acs:CurrentTime":["a", 1, true]}}"#).is_ok());
    }

    #[test]
    fn length_limit_counts_characters() {
        // Characters, not bytes: 4096 two-byte characters are within the limit (and then not JSON).
        let filler = "é".repeat(MAX_POLICY_CHARS);
        assert!(matches!(permission(&filler), Err(PolicyError::NotJson(_))));
        assert_eq!(
            permission(&format!("{filler}é")).unwrap_err(),
            PolicyError::TooLong {
                chars: MAX_POLICY_CHARS + 1,
                max: MAX_POLICY_CHARS
            }
        );
        // Exactly at the limit (padded with whitespace) is fine; one more is not.
        let pad = MAX_POLICY_CHARS - ADMIN.len();
        let at_limit = format!("{ADMIN}{}", " ".repeat(pad));
        assert!(permission(&at_limit).is_ok());
        let over = format!("{at_limit} ");
        assert_eq!(
            permission(&over).unwrap_err(),
            PolicyError::TooLong {
                chars: MAX_POLICY_CHARS + 1,
                max: MAX_POLICY_CHARS
            }
        );
    }

    #[test]
    fn trust_policies_name_principals() {
        let provider = "acs:ram::1234567890123456:saml-provider/AliyunReservedSSO-d-abc";
        let text = format!(
            r#"{{"Version":"1","Statement":[{{"Action":"sts:AssumeRole","Effect":"Allow","Principal":{{"Federated":["{provider}"]}},"Condition":{{"StringEquals":{{"saml:recipient":"https://sso.example/cloud/signin/saml-role/sso"}}}}}}]}}"#
        );
        let doc = PolicyDocument::parse(&text, PolicyKind::Trust).unwrap();
        let mut ctx = ConditionContext::new();
        assert!(
            !doc.trusts_saml_provider(provider, &ctx),
            "condition key absent"
        );
        ctx.insert(
            "saml:recipient".into(),
            "https://sso.example/cloud/signin/saml-role/sso".into(),
        );
        assert!(doc.trusts_saml_provider(provider, &ctx));
        assert!(doc.trusts_saml_provider(&provider.to_uppercase(), &ctx));
        assert!(!doc.trusts_saml_provider("acs:ram::1234567890123456:saml-provider/Other", &ctx));
        // A trust policy refuses Resource; a permission parser refuses Principal.
        let with_resource = text.replace(
            r#""Effect":"Allow","#,
            r#""Effect":"Allow","Resource":"*","#,
        );
        assert!(matches!(
            PolicyDocument::parse(&with_resource, PolicyKind::Trust),
            Err(PolicyError::FieldNotAllowed { .. })
        ));
        for bad in [r#""x""#, r#"{}"#, r#"{"Alien":["x"]}"#, r#"{"RAM":[]}"#] {
            let t = format!(
                r#"{{"Version":"1","Statement":[{{"Action":"sts:AssumeRole","Effect":"Allow","Principal":{bad}}}]}}"#
            );
            assert_eq!(
                PolicyDocument::parse(&t, PolicyKind::Trust).unwrap_err(),
                PolicyError::BadPrincipal { index: 0 }
            );
        }
    }

    #[test]
    fn evaluation_deny_wins_and_wildcards_match() {
        let admin = permission(ADMIN).unwrap();
        let deny_ram = permission(
            r#"{"Version":"1","Statement":[{"Effect":"Deny","Action":"ram:*","Resource":"*"}]}"#,
        )
        .unwrap();
        let read = permission(
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":["*:Describe*","*:Get*"],"Resource":"acs:ecs:*:*:instance/*"}]}"#,
        )
        .unwrap();
        let ctx = ConditionContext::new();
        assert_eq!(
            evaluate([&admin], "ecs:RunInstances", "*", &ctx),
            Decision::Allow
        );
        assert_eq!(
            evaluate([&admin, &deny_ram], "ram:CreateUser", "*", &ctx),
            Decision::ExplicitDeny
        );
        assert_eq!(
            evaluate(
                [&read],
                "ECS:describeInstances",
                "acs:ecs:cn-hangzhou:1:instance/i-1",
                &ctx
            ),
            Decision::Allow
        );
        assert_eq!(
            evaluate(
                [&read],
                "ecs:RunInstances",
                "acs:ecs:cn-hangzhou:1:instance/i-1",
                &ctx
            ),
            Decision::ImplicitDeny
        );
        assert_eq!(
            evaluate(
                [&read],
                "ecs:DescribeInstances",
                "acs:ecs:cn-hangzhou:1:disk/d-1",
                &ctx
            ),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn conditions_evaluate() {
        let doc = permission(
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"acs:SourceIp":["10.0.0.0/8","2001:db8::/32"]},"NumericLessThan":{"x:n":"10"}}}]}"#,
        )
        .unwrap();
        let mut ctx = ConditionContext::new();
        ctx.insert("acs:SourceIp".into(), "10.1.2.3".into());
        ctx.insert("x:n".into(), "3".into());
        assert_eq!(evaluate([&doc], "a:b", "*", &ctx), Decision::Allow);
        ctx.insert("acs:SourceIp".into(), "2001:db8::1".into());
        assert_eq!(evaluate([&doc], "a:b", "*", &ctx), Decision::Allow);
        ctx.insert("acs:SourceIp".into(), "11.0.0.1".into());
        assert_eq!(evaluate([&doc], "a:b", "*", &ctx), Decision::ImplicitDeny);
        ctx.insert("acs:SourceIp".into(), "10.0.0.1".into());
        ctx.insert("x:n".into(), "10".into());
        assert_eq!(evaluate([&doc], "a:b", "*", &ctx), Decision::ImplicitDeny);
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", "", false));
        assert!(wildcard_match(
            "ecs:Describe*",
            "ecs:DescribeInstances",
            false
        ));
        assert!(!wildcard_match(
            "ecs:Describe*",
            "ecs:describeInstances",
            false
        ));
        assert!(wildcard_match(
            "ecs:Describe*",
            "ecs:describeInstances",
            true
        ));
        assert!(wildcard_match("a?c", "abc", false));
        assert!(!wildcard_match("a?c", "ac", false));
        assert!(wildcard_match("*b*b*", "abxxbyy", false));
        assert!(!wildcard_match("*b*b*", "abxx", false));
        assert!(wildcard_match(&"*a".repeat(50), &"a".repeat(100), false));
    }
}
