//! The SCIM 2.0 server of Cloud SSO (RFC 7643/7644, issue 4) at `{public_base_url}/scim/v2`.
//!
//! The bearer credential selects the directory ([`auth`]). Routes: `/Users`, `/Groups` (POST, GET
//! list, `/.search`, GET/PUT/PATCH/DELETE by id; GET honours `If-None-Match` with 304), `/.search`
//! at the root over both types ([`search`]), `/Bulk`, `/ServiceProviderConfig`, `/Schemas`,
//! `/ResourceTypes`. Every request is one database transaction (Bulk: one per operation); errors are
//! RFC 7644 §3.12 bodies; responses are `application/scim+json`.
//!
//! Decisions (see also [`users`] and [`groups`]):
//! * `userName` is immutable as in the rest of Cloud SSO (products.md §2.2): a PUT/PATCH that changes
//!   it is `400 mutability`, except a change of letter case only, which is stored (the lookup key is
//!   unchanged).
//! * Objects created over SCIM are `Synchronized`; a SCIM write to an existing `Manual` object adopts
//!   it (it becomes `Synchronized`).
//! * `meta.version` (the ETag) changes whenever the SCIM representation does: a user's when it joins
//!   or leaves a group (from any source: SCIM, Bulk, the console and API, a group deletion) or a
//!   group of it is renamed (its read-only `groups`), a group's when its members change or a member
//!   changes its display name or user name (`members[].display`).
//! * DELETE removes the user's (or group's) memberships and sessions with it, but is refused with
//!   `409` while access assignments or RAM user provisionings reference the principal, as everywhere
//!   in Cloud SSO (products.md §2.2: remove access assignments first).

pub mod auth;
pub mod bulk;
pub mod discovery;
pub mod filter_sql;
pub mod groups;
pub mod mapping;
pub mod search;
pub mod users;

use ::scim::list::{ListQuery, ListResponse, SortOrder};
use ::scim::projection::project;
use ::scim::schema::ResourceSchema;
use ::scim::{CONTENT_TYPE, ScimError, ScimType};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;

use crate::audit::{Actor, NewAuditEvent};
use crate::error::Error;
use crate::http::AppState;
use crate::scim_credential::ScimPrincipal;
use crate::services::Services;
use crate::store::{self, Conn, scim::SqlWhere};

pub use auth::ScimAuth;

/// Largest request body outside `/Bulk` (bytes).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Largest `/Bulk` request body (`maxPayloadSize`, bytes).
pub const BULK_MAX_PAYLOAD: usize = 4 * 1024 * 1024;
/// Most operations in one `/Bulk` request (`maxOperations`).
pub const BULK_MAX_OPERATIONS: usize = 1000;
/// Largest page of a list (`filter.maxResults`).
pub const MAX_PAGE_SIZE: u64 = 1000;
/// Page size when `count` is absent.
pub const DEFAULT_PAGE_SIZE: u64 = 100;

/// A SCIM error as an HTTP response (RFC 7644 §3.12 body; `WWW-Authenticate` on 401).
#[derive(Debug)]
pub struct ScimErr(pub ScimError);

impl From<ScimError> for ScimErr {
    fn from(e: ScimError) -> Self {
        ScimErr(e)
    }
}

impl IntoResponse for ScimErr {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = json_response(status, &self.0.to_json());
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"scim\""),
            );
        }
        resp
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut resp = (status, bytes).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    resp
}

/// The result of a SCIM operation: status, body, and the headers of a single resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// HTTP status.
    pub status: StatusCode,
    /// Response body (none for 204).
    pub body: Option<Value>,
    /// `ETag` (weak, `W/"<version>"`).
    pub etag: Option<String>,
    /// `Location` (the resource URL).
    pub location: Option<String>,
}

impl IntoResponse for Outcome {
    fn into_response(self) -> Response {
        let mut resp = match &self.body {
            Some(b) => json_response(self.status, b),
            None => self.status.into_response(),
        };
        if let Some(e) = self.etag.and_then(|e| HeaderValue::from_str(&e).ok()) {
            resp.headers_mut().insert(header::ETAG, e);
        }
        if let Some(l) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            resp.headers_mut().insert(header::LOCATION, l);
        }
        resp
    }
}

impl Outcome {
    /// `200` with a body and no resource headers (lists, searches, Bulk).
    pub fn ok(body: Value) -> Self {
        Self {
            status: StatusCode::OK,
            body: Some(body),
            etag: None,
            location: None,
        }
    }

    /// `204 No Content` (a deletion).
    pub fn no_content() -> Self {
        Self {
            status: StatusCode::NO_CONTENT,
            body: None,
            etag: None,
            location: None,
        }
    }

    /// One resource: its JSON, the ETag of `version` and `Location: {base}/{endpoint}/{id}`.
    pub fn resource(status: StatusCode, body: Value, version: i64, location: String) -> Self {
        Self {
            status,
            body: Some(body),
            etag: Some(mapping::etag(version)),
            location: Some(location),
        }
    }
}

/// What every operation needs: the services, the caller, and the SCIM base URL.
#[derive(Debug, Clone)]
pub struct Ctx<'a> {
    /// The domain services.
    pub services: &'a Services,
    /// The authenticated directory and credential.
    pub principal: &'a ScimPrincipal,
    /// The caller's address (audit).
    pub source_ip: Option<String>,
}

impl<'a> Ctx<'a> {
    /// The context of an authenticated request.
    pub fn of(st: &'a St, auth: &'a ScimAuth) -> Self {
        Ctx {
            services: &st.0.services,
            principal: &auth.principal,
            source_ip: auth.source_ip.clone(),
        }
    }
}

impl Ctx<'_> {
    /// The audit actor: the SCIM credential.
    pub fn actor(&self) -> Actor {
        Actor::api_token(self.principal.credential_id.clone(), self.source_ip.clone())
    }

    /// `{public_base_url}/scim/v2`.
    pub fn scim_base(&self) -> String {
        format!("{}{}", self.services.base_url, mapping::BASE_PATH)
    }

    /// The directory acted on.
    pub fn directory_id(&self) -> &str {
        &self.principal.directory_id
    }

    /// The database engine (filters and sorting differ in collation only).
    pub fn backend(&self) -> db::Backend {
        self.services.store.db().backend()
    }

    /// An audit event of the SCIM credential on a `kind` (`user`, `group`) of this directory.
    pub fn audit(&self, kind: &str, verb: &str, target_id: &str, detail: Value) -> NewAuditEvent {
        NewAuditEvent::new(Some(self.directory_id()), &self.actor(), kind, verb)
            .target(kind, target_id)
            .detail(detail)
    }
}

/// Appends an audit event in the request's transaction.
pub async fn record(conn: &mut Conn, event: &NewAuditEvent, now: i64) -> Result<(), ScimError> {
    store::audit::append(conn, event, now)
        .await
        .map_err(scim_error)?;
    Ok(())
}

/// `409` while access assignments or RAM user provisionings reference the principal `id` (a `kind`
/// of `user` or `group`): they are removed in Cloud SSO first (products.md §2.2).
pub async fn refuse_if_referenced(conn: &mut Conn, kind: &str, id: &str) -> Result<(), ScimError> {
    let refs = store::principal_references(conn, id)
        .await
        .map_err(scim_error)?;
    if refs.is_empty() {
        return Ok(());
    }
    Err(ScimError::new(
        409,
        None,
        format!(
            "the {kind} still has {}; remove them in Cloud SSO first",
            refs.join(", ")
        ),
    ))
}

/// The page size of a list: `count`, else the default, at most [`MAX_PAGE_SIZE`].
pub fn page_size(q: &ListQuery) -> u64 {
    q.count.unwrap_or(DEFAULT_PAGE_SIZE).min(MAX_PAGE_SIZE)
}

/// What a list of one resource type reads: the `WHERE` fragment (placeholders from `$2`), the
/// `ORDER BY` clause and the page.
#[derive(Debug, Clone)]
pub struct ListPlan {
    /// The translated filter.
    pub filter: SqlWhere,
    /// The `ORDER BY` clause.
    pub order_by: String,
    /// Rows skipped (`startIndex - 1`).
    pub offset: u64,
    /// Rows returned at the most.
    pub limit: u64,
}

impl ListPlan {
    /// Translates the query's filter and sorting for `res`.
    pub fn new(ctx: &Ctx<'_>, q: &ListQuery, res: filter_sql::Resource) -> Result<Self, ScimError> {
        let backend = ctx.backend();
        Ok(Self {
            filter: filter_sql::translate(q.filter.as_ref(), res, backend, 2)?,
            order_by: filter_sql::order_by(
                q.sort_by.as_ref(),
                q.sort_order == SortOrder::Descending,
                res,
                backend,
            )?,
            offset: q.offset(),
            limit: page_size(q),
        })
    }
}

/// Applies `attributes`/`excludedAttributes` to one resource.
pub fn projected(mut v: Value, q: &ListQuery, rs: &ResourceSchema) -> Value {
    project(&mut v, rs, &q.attributes, &q.excluded_attributes);
    v
}

/// A ListResponse of `resources`, each projected by the query.
pub fn list_response(
    q: &ListQuery,
    rs: &ResourceSchema,
    total: u64,
    resources: impl Iterator<Item = Value>,
) -> Value {
    let resources = resources.map(|v| projected(v, q, rs)).collect();
    ListResponse::new(resources, total, q.start_index).to_json()
}

/// Applies `attributes`/`excludedAttributes` to a single-resource outcome.
pub fn project_outcome(mut o: Outcome, q: &ListQuery, rs: &ResourceSchema) -> Outcome {
    o.body = o.body.map(|b| projected(b, q, rs));
    o
}

/// Maps a domain error to the SCIM error.
pub fn scim_error(e: Error) -> ScimError {
    match e {
        Error::NotFound(what) => ScimError::not_found(format!("{what} not found")),
        Error::AlreadyExists { entity, field } => {
            let attr = match (entity, field) {
                ("user", "user_name") => "userName",
                ("user", "email") => "emails",
                ("group", _) => "displayName",
                _ => field,
            };
            ScimError::conflict(
                ScimType::Uniqueness,
                format!("a {entity} with this {attr} already exists"),
            )
        }
        Error::Invalid(i) => ScimError::bad_request(
            ScimType::InvalidValue,
            format!("{}: {}", i.field, i.message),
        ),
        Error::Conflict(m) => ScimError::new(409, None, m),
        Error::LimitExceeded(m) => ScimError::new(409, None, format!("limit reached: {m}")),
        Error::ChooseIdentityProvider(_) => ScimError::new(409, None, e.to_string()),
        Error::Unauthenticated => ScimError::unauthorized("authentication required"),
        Error::Forbidden(m) => ScimError::forbidden(m),
        Error::Db(_) | Error::Corrupt(_) | Error::Internal(_) => {
            tracing::error!(error = %e, "SCIM request failed");
            ScimError::internal("internal error")
        }
    }
}

/// Reads a JSON request body of at most `limit` bytes: larger → 413, not JSON → 400 invalidSyntax.
/// The Content-Type is not checked (clients send `application/json` as often as
/// `application/scim+json`).
pub async fn read_json(headers: &HeaderMap, body: Body, limit: usize) -> Result<Value, ScimError> {
    // An oversized body is drained (bounded) before the 413, so the client reads the SCIM error
    // instead of a broken pipe.
    let bytes = web::http::read_body_limited(headers, body, limit)
        .await
        .map_err(|e| match e {
            web::http::BodyReadError::TooLarge(_) => {
                ScimError::payload_too_large(format!("the request body exceeds {limit} bytes"))
            }
            web::http::BodyReadError::Read(detail) => {
                ScimError::bad_request(ScimType::InvalidSyntax, detail)
            }
        })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ScimError::bad_request(
            ScimType::InvalidSyntax,
            "the request body is empty",
        ));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        ScimError::bad_request(
            ScimType::InvalidSyntax,
            format!("the request body is not valid JSON: {e}"),
        )
    })
}

/// Parses the query string (`attributes`, `excludedAttributes`, and for lists `filter`, `sortBy`,
/// `sortOrder`, `startIndex`, `count`).
pub fn parse_query(raw: Option<&str>, list: bool) -> Result<ListQuery, ScimError> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .filter(|(k, _)| {
            list || k.eq_ignore_ascii_case("attributes")
                || k.eq_ignore_ascii_case("excludedAttributes")
        })
        .collect();
    ListQuery::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// The `If-Match` header, if any (`None` also for a header that is not text).
pub fn if_match(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Whether an `If-Match` value matches `version` (`*`, `W/"n"` or `"n"`, comma-separated list).
pub fn etag_matches(if_match: &str, version: i64) -> bool {
    let want = version.to_string();
    if_match.split(',').map(str::trim).any(|t| {
        t == "*" || {
            let t = t.strip_prefix("W/").unwrap_or(t);
            t.strip_prefix('"').and_then(|t| t.strip_suffix('"')) == Some(want.as_str())
        }
    })
}

/// Whether an `If-None-Match` value matches the entity tag `etag` (weak comparison, RFC 7232
/// §3.2: `*`, or any listed tag whose opaque part equals `etag`'s, `W/` or not).
pub fn none_match_hits(if_none_match: &str, etag: &str) -> bool {
    let opaque = |t: &str| t.trim().strip_prefix("W/").unwrap_or(t.trim()).to_owned();
    let want = opaque(etag);
    if_none_match
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || opaque(t) == want)
}

/// A GET of a single resource under `If-None-Match`: `304 Not Modified` (no body, with the ETag
/// and Location) when the header matches the resource's current ETag, else the outcome unchanged.
pub fn not_modified_if(headers: &HeaderMap, o: Outcome) -> Outcome {
    let hit = match (
        headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok()),
        o.etag.as_deref(),
    ) {
        (Some(inm), Some(etag)) => none_match_hits(inm, etag),
        _ => false,
    };
    if hit && o.status == StatusCode::OK {
        Outcome {
            status: StatusCode::NOT_MODIFIED,
            body: None,
            ..o
        }
    } else {
        o
    }
}

/// `412` unless `if_match` (when given) matches `version`.
pub fn check_if_match(if_match: Option<&str>, version: i64) -> Result<(), ScimError> {
    match if_match {
        Some(m) if !etag_matches(m, version) => Err(ScimError::precondition_failed(format!(
            "the resource's version is {}, not {m}",
            mapping::etag(version)
        ))),
        _ => Ok(()),
    }
}

/// Whether a projection (`attributes`/`excludedAttributes`) returns top-level attribute `name`.
pub fn wants(q: &ListQuery, name: &str) -> bool {
    if q.excluded_attributes
        .iter()
        .any(|p| p.sub.is_none() && p.name.eq_ignore_ascii_case(name))
    {
        return false;
    }
    q.attributes.is_empty()
        || q.attributes
            .iter()
            .any(|p| p.name.eq_ignore_ascii_case(name))
}

/// The SCIM router, nested at `/scim/v2`.
pub fn router() -> Router<AppState> {
    let inner = Router::new()
        .route("/Users", get(users::http_list).post(users::http_create))
        .route("/Users/.search", post(users::http_search))
        .route(
            "/Users/{id}",
            get(users::http_get)
                .put(users::http_replace)
                .patch(users::http_patch)
                .delete(users::http_delete),
        )
        .route("/Groups", get(groups::http_list).post(groups::http_create))
        .route("/Groups/.search", post(groups::http_search))
        .route(
            "/Groups/{id}",
            get(groups::http_get)
                .put(groups::http_replace)
                .patch(groups::http_patch)
                .delete(groups::http_delete),
        )
        .route("/.search", post(search::http_search))
        .route("/Bulk", post(bulk::http_bulk))
        .route(
            "/ServiceProviderConfig",
            get(discovery::http_service_provider_config),
        )
        .route("/Schemas", get(discovery::http_schemas))
        .route("/Schemas/{id}", get(discovery::http_schema))
        .route("/ResourceTypes", get(discovery::http_resource_types))
        .route("/ResourceTypes/{name}", get(discovery::http_resource_type))
        .fallback(not_found);
    Router::new().nest(mapping::BASE_PATH, inner)
}

async fn not_found(_auth: ScimAuth) -> ScimErr {
    ScimErr(ScimError::not_found("no such SCIM endpoint"))
}

/// Shared handler plumbing: the id path segment.
pub type IdPath = Path<String>;
/// Shared handler plumbing: the raw query string.
pub type Query = RawQuery;
/// Shared handler plumbing: the state.
pub type St = State<AppState>;
