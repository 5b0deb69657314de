//! List responses and list query parameters (RFC 7644 §3.4.2, §3.4.3).

use crate::error::{SCHEMA_LIST_RESPONSE, SCHEMA_SEARCH_REQUEST, ScimError, ScimType};
use crate::filter::{AttrPath, Filter, parse_filter};
use serde_json::{Value, json};

/// A page of resources (RFC 7644 §3.4.2).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListResponse {
    /// Total number of matching resources.
    pub total_results: u64,
    /// 1-based index of the first returned resource.
    pub start_index: u64,
    /// Number of resources in this page.
    pub items_per_page: u64,
    /// The resources (JSON).
    pub resources: Vec<Value>,
}

fn field_u64(obj: &serde_json::Map<String, Value>, key: &str) -> Result<Option<u64>, ScimError> {
    match crate::schema::get_ci(obj, key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            ScimError::bad_request(
                ScimType::InvalidSyntax,
                format!("'{key}' must be a non-negative integer"),
            )
        }),
    }
}

impl ListResponse {
    /// A page: `items_per_page` is the number of `resources`.
    pub fn new(resources: Vec<Value>, total_results: u64, start_index: u64) -> Self {
        ListResponse {
            total_results,
            start_index: start_index.max(1),
            items_per_page: resources.len() as u64,
            resources,
        }
    }

    /// The JSON body, with `schemas` and `Resources`.
    pub fn to_json(&self) -> Value {
        json!({
            "schemas": [SCHEMA_LIST_RESPONSE],
            "totalResults": self.total_results,
            "startIndex": self.start_index,
            "itemsPerPage": self.items_per_page,
            "Resources": self.resources,
        })
    }

    /// Reads a list response. `totalResults` is required; `Resources` may be absent (empty page);
    /// `startIndex` defaults to 1 and `itemsPerPage` to the number of resources. Keys are case-insensitive.
    pub fn from_json(v: &Value) -> Result<Self, ScimError> {
        let bad = |d: &str| ScimError::bad_request(ScimType::InvalidSyntax, d.to_string());
        let obj = v
            .as_object()
            .ok_or_else(|| bad("a list response must be a JSON object"))?;
        if let Some(schemas) = crate::schema::get_ci(obj, "schemas") {
            let ok = schemas.as_array().is_some_and(|a| {
                a.iter().any(|s| {
                    s.as_str()
                        .is_some_and(|s| s.eq_ignore_ascii_case(SCHEMA_LIST_RESPONSE))
                })
            });
            if !ok {
                return Err(bad(
                    "'schemas' of a list response must contain the ListResponse URN",
                ));
            }
        }
        let total_results =
            field_u64(obj, "totalResults")?.ok_or_else(|| bad("'totalResults' is missing"))?;
        let resources = match crate::schema::get_ci(obj, "Resources") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a.clone(),
            Some(_) => return Err(bad("'Resources' must be an array")),
        };
        if resources.iter().any(|r| !r.is_object()) {
            return Err(bad("every element of 'Resources' must be a JSON object"));
        }
        let start_index = field_u64(obj, "startIndex")?.unwrap_or(1);
        let items_per_page = field_u64(obj, "itemsPerPage")?.unwrap_or(resources.len() as u64);
        Ok(ListResponse {
            total_results,
            start_index,
            items_per_page,
            resources,
        })
    }
}

/// Sort direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SortOrder {
    /// Ascending (the default).
    #[default]
    Ascending,
    /// Descending.
    Descending,
}

/// Parsed list/query parameters of `GET /Users` and friends (RFC 7644 §3.4.2).
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    /// The filter, if any.
    pub filter: Option<Filter>,
    /// 1-based start index (values below 1 are treated as 1).
    pub start_index: u64,
    /// Maximum page size (negative values are treated as 0); `None` = server default.
    pub count: Option<u64>,
    /// Sort attribute.
    pub sort_by: Option<AttrPath>,
    /// Sort direction.
    pub sort_order: SortOrder,
    /// `attributes`: return only these (plus `returned: always`).
    pub attributes: Vec<AttrPath>,
    /// `excludedAttributes`: return all but these.
    pub excluded_attributes: Vec<AttrPath>,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            filter: None,
            start_index: 1,
            count: None,
            sort_by: None,
            sort_order: SortOrder::Ascending,
            attributes: Vec::new(),
            excluded_attributes: Vec::new(),
        }
    }
}

const KNOWN_KEYS: [&str; 7] = [
    "filter",
    "startIndex",
    "count",
    "sortBy",
    "sortOrder",
    "attributes",
    "excludedAttributes",
];

fn invalid_value(detail: String) -> ScimError {
    ScimError::bad_request(ScimType::InvalidValue, detail)
}

fn parse_int(key: &str, raw: &str) -> Result<i64, ScimError> {
    raw.trim()
        .parse::<i64>()
        .map_err(|_| invalid_value(format!("'{key}' must be an integer, got {raw:?}")))
}

fn parse_path_list(key: &str, raw: &str) -> Result<Vec<AttrPath>, ScimError> {
    raw.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| parse_path(key, p))
        .collect()
}

fn parse_path(key: &str, raw: &str) -> Result<AttrPath, ScimError> {
    AttrPath::parse(raw).map_err(|e| invalid_value(format!("'{key}': {}", e.detail)))
}

impl ListQuery {
    /// Parses query-string pairs. Keys are case-insensitive, unknown keys are ignored, a known key given
    /// twice is refused; invalid filter → 400 invalidFilter, bad numbers/paths/sortOrder → 400 invalidValue.
    pub fn from_pairs<'a, I>(pairs: I) -> Result<ListQuery, ScimError>
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut q = ListQuery::default();
        let mut seen = [false; KNOWN_KEYS.len()];
        for (key, raw) in pairs {
            let Some(idx) = KNOWN_KEYS.iter().position(|k| k.eq_ignore_ascii_case(key)) else {
                continue;
            };
            if std::mem::replace(&mut seen[idx], true) {
                return Err(invalid_value(format!(
                    "query parameter '{}' given more than once",
                    KNOWN_KEYS[idx]
                )));
            }
            match KNOWN_KEYS[idx] {
                "filter" => {
                    if !raw.trim().is_empty() {
                        q.filter = Some(parse_filter(raw)?);
                    }
                }
                "startIndex" => q.start_index = parse_int("startIndex", raw)?.max(1).unsigned_abs(),
                "count" => q.count = Some(parse_int("count", raw)?.max(0).unsigned_abs()),
                "sortBy" => {
                    if !raw.trim().is_empty() {
                        q.sort_by = Some(parse_path("sortBy", raw.trim())?);
                    }
                }
                "sortOrder" => {
                    q.sort_order = match raw.trim() {
                        r if r.eq_ignore_ascii_case("ascending") => SortOrder::Ascending,
                        r if r.eq_ignore_ascii_case("descending") => SortOrder::Descending,
                        _ => {
                            return Err(invalid_value(format!(
                                "'sortOrder' must be \"ascending\" or \"descending\", got {raw:?}"
                            )));
                        }
                    }
                }
                "attributes" => q.attributes = parse_path_list("attributes", raw)?,
                _ => q.excluded_attributes = parse_path_list("excludedAttributes", raw)?,
            }
        }
        Ok(q)
    }

    /// Parses a `POST /.search` body (RFC 7644 §3.4.3) with the same rules as [`ListQuery::from_pairs`].
    pub fn from_search_request(v: &Value) -> Result<ListQuery, ScimError> {
        let syntax = |d: &str| ScimError::bad_request(ScimType::InvalidSyntax, d.to_string());
        let obj = v
            .as_object()
            .ok_or_else(|| syntax("a search request must be a JSON object"))?;
        let schemas_ok = crate::schema::get_ci(obj, "schemas")
            .and_then(Value::as_array)
            .is_some_and(|a| {
                a.iter().any(|s| {
                    s.as_str()
                        .is_some_and(|s| s.eq_ignore_ascii_case(SCHEMA_SEARCH_REQUEST))
                })
            });
        if !schemas_ok {
            return Err(syntax("'schemas' must contain the SearchRequest URN"));
        }
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (key, val) in obj {
            if key.eq_ignore_ascii_case("schemas") || val.is_null() {
                continue;
            }
            let text = match val {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Array(items) => {
                    let strs: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
                    strs.ok_or_else(|| {
                        invalid_value(format!("'{key}' must be an array of strings"))
                    })?
                    .join(",")
                }
                _ => return Err(invalid_value(format!("'{key}' has the wrong type"))),
            };
            pairs.push((key.clone(), text));
        }
        ListQuery::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// The 0-based offset of the first resource to return.
    pub fn offset(&self) -> u64 {
        self.start_index.saturating_sub(1)
    }

    /// The page size to use: `count` capped at `max`, or `max` when absent.
    pub fn limit(&self, max: u64) -> u64 {
        self.count.map_or(max, |c| c.min(max))
    }
}
