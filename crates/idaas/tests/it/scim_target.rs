//! A small in-memory SCIM 2.0 target for the provisioning tests: /Users and /Groups with POST, GET
//! (by id and list with `eq` filters on userName/externalId/displayName/id, `members[value eq …]`
//! and `members eq …`), PUT, PATCH (add/remove/replace, member value filters) and DELETE, plus
//! injectable faults (N×500, 429 with Retry-After, delays beyond the client time-out), an AWS-like
//! mode (no PATCH replace on groups, empty member lists on read, pages of at most 50), an OAuth
//! 2.0 token endpoint (`/oauth/token`, client credentials by client_secret_basic or
//! client_secret_post, expiring tokens that the SCIM endpoints then require) and a request log.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

pub const TOKEN: &str = "scim-test-token";

#[derive(Debug, Default)]
pub struct Faults {
    /// The next N requests answer 500.
    pub fail_500: u32,
    /// The next N requests answer 429 with this Retry-After (seconds).
    pub fail_429: u32,
    pub retry_after: u64,
    /// The next N requests are delayed by `delay_ms` before being processed.
    pub delay: u32,
    pub delay_ms: u64,
    /// Only requests whose method is this one are subject to faults (any when `None`).
    pub only_method: Option<Method>,
    /// Every write answers 400 (a non-retryable error).
    pub reject_writes: bool,
    /// The next N requests (subject to `only_method`) are processed, then answered only after
    /// `late_answer_ms` (a client time-out after the target accepted the change).
    pub late_answer: u32,
    pub late_answer_ms: u64,
}

#[derive(Debug, Default)]
pub struct Data {
    pub users: BTreeMap<String, Value>,
    pub groups: BTreeMap<String, Value>,
    next: u64,
}

#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Value,
    pub status: u16,
}

/// The OAuth 2.0 client-credentials token endpoint. Once configured, the SCIM endpoints accept only
/// the unexpired tokens it issued (not [`TOKEN`]).
#[derive(Debug)]
pub struct OAuth {
    pub client_id: String,
    pub client_secret: String,
    /// The only client authentication method accepted.
    pub method: TokenMethod,
    /// Lifetime of issued tokens (`expires_in`).
    pub ttl: Duration,
    /// Issued tokens and when they expire.
    pub tokens: HashMap<String, Instant>,
    /// Tokens issued, per method.
    pub issued_basic: u32,
    pub issued_post: u32,
    /// Token requests refused.
    pub refused: u32,
    /// SCIM requests refused for a missing, unknown or expired token.
    pub unauthorized: u32,
    next: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenMethod {
    Basic,
    Post,
}

impl OAuth {
    pub fn new(client_id: &str, client_secret: &str, method: TokenMethod, ttl: Duration) -> Self {
        OAuth {
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            method,
            ttl,
            tokens: HashMap::new(),
            issued_basic: 0,
            issued_post: 0,
            refused: 0,
            unauthorized: 0,
            next: 0,
        }
    }

    pub fn issued(&self) -> u32 {
        self.issued_basic + self.issued_post
    }

    /// Makes every issued token expire now.
    pub fn expire_all(&mut self) {
        let now = Instant::now();
        for exp in self.tokens.values_mut() {
            *exp = now;
        }
    }
}

#[derive(Debug, Default)]
pub struct Inner {
    /// OAuth 2.0 mode (see [`OAuth`]).
    pub oauth: Mutex<Option<OAuth>>,
    pub data: Mutex<Data>,
    pub faults: Mutex<Faults>,
    pub log: Mutex<Vec<Logged>>,
    /// AWS-like: no PATCH replace on groups, members never returned, pages ≤ 50.
    pub aws: bool,
    /// Groups may share a displayName (POST never answers 409 for groups).
    pub duplicate_group_names: AtomicBool,
    /// userName cannot change (PUT/PATCH that changes it: 400 `mutability`), like Cloud SSO.
    pub immutable_user_name: AtomicBool,
}

pub struct ScimTarget {
    pub base: String,
    pub inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ScimTarget {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ScimTarget {
    pub async fn start(aws: bool) -> ScimTarget {
        let inner = Arc::new(Inner {
            aws,
            ..Inner::default()
        });
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ScimTarget {
            base: format!("http://{addr}/scim/v2"),
            inner,
            task,
        }
    }

    /// The token endpoint URL.
    pub fn token_url(&self) -> String {
        self.base.replace("/scim/v2", "/oauth/token")
    }

    /// Switches to OAuth 2.0 mode (or changes its settings).
    pub fn set_oauth(&self, oauth: OAuth) {
        *self.inner.oauth.lock().unwrap() = Some(oauth);
    }

    /// The OAuth state (panics when OAuth mode is off).
    pub fn oauth(&self) -> std::sync::MutexGuard<'_, Option<OAuth>> {
        self.inner.oauth.lock().unwrap()
    }

    pub fn faults(&self) -> std::sync::MutexGuard<'_, Faults> {
        self.inner.faults.lock().unwrap()
    }

    pub fn users(&self) -> Vec<Value> {
        self.inner
            .data
            .lock()
            .unwrap()
            .users
            .values()
            .cloned()
            .collect()
    }

    pub fn groups(&self) -> Vec<Value> {
        self.inner
            .data
            .lock()
            .unwrap()
            .groups
            .values()
            .cloned()
            .collect()
    }

    pub fn user_by_name(&self, name: &str) -> Option<Value> {
        self.users().into_iter().find(|u| {
            u["userName"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
    }

    pub fn group_by_name(&self, name: &str) -> Option<Value> {
        self.groups()
            .into_iter()
            .find(|g| g["displayName"].as_str() == Some(name))
    }

    /// userNames of a group's members.
    pub fn member_names(&self, group: &str) -> Vec<String> {
        let d = self.inner.data.lock().unwrap();
        let Some(g) = d
            .groups
            .values()
            .find(|g| g["displayName"].as_str() == Some(group))
        else {
            return Vec::new();
        };
        let mut out: Vec<String> = members(g)
            .iter()
            .filter_map(|id| d.users.get(id))
            .filter_map(|u| u["userName"].as_str().map(str::to_owned))
            .collect();
        out.sort();
        out
    }

    /// Adds a user directly (as if it existed before provisioning).
    pub fn seed_user(&self, user: Value) -> String {
        let mut d = self.inner.data.lock().unwrap();
        d.next += 1;
        let id = format!("pre{}", d.next);
        let mut u = user;
        u["id"] = json!(id);
        d.users.insert(id.clone(), u);
        id
    }

    pub fn log(&self) -> Vec<Logged> {
        self.inner.log.lock().unwrap().clone()
    }

    pub fn count(&self, method: &str, path_prefix: &str) -> usize {
        self.log()
            .iter()
            .filter(|l| l.method == method && l.path.starts_with(path_prefix))
            .count()
    }
}

fn members(g: &Value) -> Vec<String> {
    g["members"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["value"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn error(status: StatusCode, scim_type: Option<&str>, detail: &str) -> Response {
    let mut v = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": status.as_u16().to_string(),
        "detail": detail,
    });
    if let Some(t) = scim_type {
        v["scimType"] = json!(t);
    }
    (
        status,
        [("content-type", "application/scim+json")],
        v.to_string(),
    )
        .into_response()
}

fn ok(status: StatusCode, v: &Value) -> Response {
    (
        status,
        [("content-type", "application/scim+json")],
        v.to_string(),
    )
        .into_response()
}

/// One `attr eq "v"` / `members[value eq "v"]` clause.
fn clause_matches(clause: &str, r: &Value) -> bool {
    let clause = clause.trim();
    if let Some(rest) = clause.strip_prefix("members[value eq ") {
        let v: String = serde_json::from_str(rest.trim_end_matches(']')).unwrap();
        return members(r).contains(&v);
    }
    let (attr, value) = clause.split_once(" eq ").expect("only eq filters");
    let v: String = serde_json::from_str(value.trim()).unwrap();
    match attr {
        "members" => members(r).contains(&v),
        "userName" | "displayName" => r[attr].as_str().is_some_and(|x| x.eq_ignore_ascii_case(&v)),
        _ => r[attr].as_str() == Some(v.as_str()),
    }
}

fn filter_matches(filter: &str, r: &Value) -> bool {
    filter.split(" and ").all(|c| clause_matches(c, r))
}

fn query_param(query: &str, key: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

async fn handle(State(inner): State<Arc<Inner>>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let headers: HeaderMap = req.headers().clone();
    let body: Bytes = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let body_json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let late = {
        let mut f = inner.faults.lock().unwrap();
        if f.late_answer > 0 && f.only_method.as_ref().is_none_or(|m| *m == method) {
            f.late_answer -= 1;
            Some(f.late_answer_ms)
        } else {
            None
        }
    };
    let resp = if path == "/oauth/token" {
        token_endpoint(&inner, &method, &headers, &body)
    } else {
        process(&inner, &method, &path, &query, &headers, &body_json).await
    };
    if let Some(ms) = late {
        inner.log.lock().unwrap().push(Logged {
            method: method.to_string(),
            path: path.clone(),
            query: query.clone(),
            body: body_json.clone(),
            status: resp.status().as_u16(),
        });
        tokio::time::sleep(Duration::from_millis(ms)).await;
        return resp;
    }
    inner.log.lock().unwrap().push(Logged {
        method: method.to_string(),
        path: path.clone(),
        query,
        body: body_json,
        status: resp.status().as_u16(),
    });
    resp
}

async fn process(
    inner: &Inner,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &Value,
) -> Response {
    let presented = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_owned();
    {
        let mut oauth = inner.oauth.lock().unwrap();
        let authorized = match oauth.as_mut() {
            Some(o) => {
                let ok = o
                    .tokens
                    .get(&presented)
                    .is_some_and(|exp| Instant::now() < *exp);
                if !ok {
                    o.unauthorized += 1;
                }
                ok
            }
            None => presented == TOKEN,
        };
        if !authorized {
            return error(StatusCode::UNAUTHORIZED, None, "bad token");
        }
    }
    // Faults.
    let (delay, fault) = {
        let mut f = inner.faults.lock().unwrap();
        let applies = f.only_method.as_ref().is_none_or(|m| m == method);
        let mut delay = None;
        let mut fault = None;
        if applies {
            if f.delay > 0 {
                f.delay -= 1;
                delay = Some(f.delay_ms);
            } else if f.fail_500 > 0 {
                f.fail_500 -= 1;
                fault = Some(error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    None,
                    "injected failure",
                ));
            } else if f.fail_429 > 0 {
                f.fail_429 -= 1;
                let mut r = error(StatusCode::TOO_MANY_REQUESTS, None, "slow down");
                r.headers_mut()
                    .insert("retry-after", f.retry_after.to_string().parse().unwrap());
                fault = Some(r);
            }
        }
        if f.reject_writes && *method != Method::GET {
            fault = Some(error(
                StatusCode::BAD_REQUEST,
                Some("invalidValue"),
                "writes refused",
            ));
        }
        (delay, fault)
    };
    if let Some(ms) = delay {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(r) = fault {
        return r;
    }
    let rest = path.strip_prefix("/scim/v2").unwrap_or(path);
    let mut parts = rest.trim_start_matches('/').splitn(2, '/');
    let kind = parts.next().unwrap_or("");
    let id = parts.next().map(percent_decode);
    let is_users = match kind {
        "Users" => true,
        "Groups" => false,
        _ => return error(StatusCode::NOT_FOUND, None, "no such endpoint"),
    };
    let aws = inner.aws;
    let mut d = inner.data.lock().unwrap();
    let key_attr = if is_users { "userName" } else { "displayName" };
    match (method.clone(), id) {
        (Method::POST, None) => {
            let key = body[key_attr].as_str().unwrap_or_default().to_owned();
            let taken = {
                let coll = if is_users { &d.users } else { &d.groups };
                coll.values().any(|r| {
                    r[key_attr]
                        .as_str()
                        .is_some_and(|k| k.eq_ignore_ascii_case(&key))
                })
            };
            let duplicates_ok = !is_users && inner.duplicate_group_names.load(Ordering::SeqCst);
            if taken && !duplicates_ok {
                return error(StatusCode::CONFLICT, Some("uniqueness"), "already exists");
            }
            d.next += 1;
            let id = format!("{}{}", if is_users { "u" } else { "g" }, d.next);
            let mut r = body.clone();
            r["id"] = json!(id);
            r["meta"] = json!({"resourceType": if is_users { "User" } else { "Group" }});
            if is_users {
                d.users.insert(id, r.clone());
            } else {
                d.groups.insert(id, r.clone());
            }
            ok(StatusCode::CREATED, &r)
        }
        (Method::GET, None) => {
            let filter = query_param(query, "filter");
            let start: usize = query_param(query, "startIndex")
                .and_then(|s| s.parse().ok())
                .unwrap_or(1)
                .max(1);
            let mut count: usize = query_param(query, "count")
                .and_then(|s| s.parse().ok())
                .unwrap_or(100);
            if aws {
                count = count.min(50);
            }
            let coll = if is_users { &d.users } else { &d.groups };
            let all: Vec<Value> = coll
                .values()
                .filter(|r| filter.as_deref().is_none_or(|f| filter_matches(f, r)))
                .cloned()
                .collect();
            let page: Vec<Value> = all
                .iter()
                .skip(start - 1)
                .take(count)
                .map(|r| present(r, is_users, aws))
                .collect();
            ok(
                StatusCode::OK,
                &json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                    "totalResults": all.len(),
                    "startIndex": start,
                    "itemsPerPage": page.len(),
                    "Resources": page,
                }),
            )
        }
        (m, Some(id)) => {
            let exists = if is_users {
                d.users.contains_key(&id)
            } else {
                d.groups.contains_key(&id)
            };
            if !exists {
                return error(StatusCode::NOT_FOUND, None, "not found");
            }
            match m {
                Method::GET => {
                    let r = if is_users {
                        &d.users[&id]
                    } else {
                        &d.groups[&id]
                    };
                    ok(StatusCode::OK, &present(r, is_users, aws))
                }
                Method::DELETE => {
                    if is_users {
                        d.users.remove(&id);
                        for g in d.groups.values_mut() {
                            let keep: Vec<Value> = members(g)
                                .into_iter()
                                .filter(|m| *m != id)
                                .map(|m| json!({"value": m}))
                                .collect();
                            g["members"] = Value::Array(keep);
                        }
                    } else {
                        d.groups.remove(&id);
                    }
                    StatusCode::NO_CONTENT.into_response()
                }
                Method::PUT => {
                    let key = body[key_attr].as_str().unwrap_or_default().to_owned();
                    let coll = if is_users {
                        &mut d.users
                    } else {
                        &mut d.groups
                    };
                    if is_users
                        && inner.immutable_user_name.load(Ordering::SeqCst)
                        && coll[&id]["userName"]
                            .as_str()
                            .is_some_and(|old| !old.eq_ignore_ascii_case(&key))
                    {
                        return error(
                            StatusCode::BAD_REQUEST,
                            Some("mutability"),
                            "userName is immutable",
                        );
                    }
                    if coll.iter().any(|(k, r)| {
                        *k != id
                            && r[key_attr]
                                .as_str()
                                .is_some_and(|x| x.eq_ignore_ascii_case(&key))
                    }) {
                        return error(StatusCode::CONFLICT, Some("uniqueness"), "already exists");
                    }
                    let mut r = body.clone();
                    r["id"] = json!(id);
                    r["meta"] = coll[&id]["meta"].clone();
                    coll.insert(id.clone(), r.clone());
                    ok(StatusCode::OK, &r)
                }
                Method::PATCH => {
                    let coll = if is_users {
                        &mut d.users
                    } else {
                        &mut d.groups
                    };
                    let mut r = coll[&id].clone();
                    for op in body["Operations"].as_array().cloned().unwrap_or_default() {
                        let kind = op["op"].as_str().unwrap_or("").to_lowercase();
                        let path = op["path"].as_str();
                        if aws && !is_users && kind == "replace" {
                            return error(
                                StatusCode::BAD_REQUEST,
                                Some("invalidValue"),
                                "replace is not supported on groups",
                            );
                        }
                        match (kind.as_str(), path) {
                            ("add", Some("members")) => {
                                let mut cur = members(&r);
                                for m in op["value"].as_array().cloned().unwrap_or_default() {
                                    if let Some(v) = m["value"].as_str()
                                        && !cur.iter().any(|c| c == v)
                                    {
                                        cur.push(v.to_owned());
                                    }
                                }
                                r["members"] = Value::Array(
                                    cur.into_iter().map(|m| json!({"value": m})).collect(),
                                );
                            }
                            ("remove", Some(p)) if p.starts_with("members[value eq ") => {
                                let v: String = serde_json::from_str(
                                    p.trim_start_matches("members[value eq ")
                                        .trim_end_matches(']'),
                                )
                                .unwrap();
                                let cur: Vec<Value> = members(&r)
                                    .into_iter()
                                    .filter(|m| *m != v)
                                    .map(|m| json!({"value": m}))
                                    .collect();
                                r["members"] = Value::Array(cur);
                            }
                            ("add" | "replace", None) => {
                                if let Some(o) = op["value"].as_object() {
                                    for (k, v) in o {
                                        r[k] = v.clone();
                                    }
                                }
                            }
                            ("add" | "replace", Some(p)) => {
                                r[p] = op["value"].clone();
                            }
                            _ => {
                                return error(
                                    StatusCode::BAD_REQUEST,
                                    Some("invalidPath"),
                                    "unsupported op",
                                );
                            }
                        }
                    }
                    coll.insert(id.clone(), r.clone());
                    ok(StatusCode::OK, &r)
                }
                _ => error(StatusCode::METHOD_NOT_ALLOWED, None, "method"),
            }
        }
        _ => error(StatusCode::METHOD_NOT_ALLOWED, None, "method"),
    }
}

fn oauth_error(status: StatusCode, code: &str) -> Response {
    (
        status,
        [("content-type", "application/json")],
        json!({ "error": code }).to_string(),
    )
        .into_response()
}

fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// `POST /oauth/token` (RFC 6749 §4.4): client credentials from HTTP Basic (id and secret
/// form-urlencoded, §2.3.1) or from the form body, never both.
fn token_endpoint(inner: &Inner, method: &Method, headers: &HeaderMap, body: &[u8]) -> Response {
    use base64::Engine as _;
    let mut guard = inner.oauth.lock().unwrap();
    let Some(o) = guard.as_mut() else {
        return oauth_error(StatusCode::NOT_FOUND, "not_configured");
    };
    if *method != Method::POST {
        return oauth_error(StatusCode::METHOD_NOT_ALLOWED, "invalid_request");
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        o.refused += 1;
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|pair| {
            let (id, secret) = pair.split_once(':')?;
            Some((form_decode(id), form_decode(secret)))
        });
    let posted = match (form.get("client_id"), form.get("client_secret")) {
        (Some(id), Some(secret)) => Some((id.clone(), secret.clone())),
        _ => None,
    };
    let (used, creds) = match (basic, posted) {
        (Some(c), None) => (TokenMethod::Basic, c),
        (None, Some(c)) => (TokenMethod::Post, c),
        _ => {
            o.refused += 1;
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
        }
    };
    if used != o.method || creds.0 != o.client_id || creds.1 != o.client_secret {
        o.refused += 1;
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    o.next += 1;
    let token = format!("at-{}-{}", o.next, uuid::Uuid::new_v4().simple());
    o.tokens.insert(token.clone(), Instant::now() + o.ttl);
    match used {
        TokenMethod::Basic => o.issued_basic += 1,
        TokenMethod::Post => o.issued_post += 1,
    }
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": o.ttl.as_secs(),
        })
        .to_string(),
    )
        .into_response()
}

fn present(r: &Value, is_users: bool, aws: bool) -> Value {
    let mut v = r.clone();
    if !is_users && aws {
        v["members"] = Value::Array(Vec::new());
    }
    v
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

pub fn obj(v: &Value) -> &Map<String, Value> {
    v.as_object().unwrap()
}
