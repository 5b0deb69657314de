//! An async SCIM 2.0 client (RFC 7644) over reqwest/rustls: bearer or OAuth 2.0 client-credentials
//! authentication (RFC 6749 §4.4) with a cached, lazily refreshed token, typed User/Group calls, list and
//! search helpers, bounded response bodies, and errors that tell a retry loop what to do.

use crate::error::{CONTENT_TYPE, ScimError};
use crate::filter::{CompValue, CompareOp, Filter};
use crate::list::ListResponse;
use crate::patch::PatchRequest;
use crate::resource::{Group, User};
use reqwest::dns::Resolve;
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE as CT, HeaderMap, RETRY_AFTER,
};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tokio::sync::Mutex;
use url::Url;

/// How the client authenticates to the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenAuthMethod {
    /// HTTP Basic with the URL-encoded client id and secret.
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

/// How the client authenticates to the SCIM service.
#[derive(Clone)]
pub enum ClientAuth {
    /// A static bearer token.
    Bearer(String),
    /// OAuth 2.0 client credentials grant.
    ClientCredentials {
        /// Token endpoint URL.
        token_endpoint: String,
        /// Client id.
        client_id: String,
        /// Client secret.
        client_secret: String,
        /// Client authentication method at the token endpoint.
        method: TokenAuthMethod,
        /// Requested scope, if any.
        scope: Option<String>,
    },
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientAuth::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            ClientAuth::ClientCredentials {
                token_endpoint,
                client_id,
                method,
                scope,
                ..
            } => f
                .debug_struct("ClientCredentials")
                .field("token_endpoint", token_endpoint)
                .field("client_id", client_id)
                .field("client_secret", &"<redacted>")
                .field("method", method)
                .field("scope", scope)
                .finish(),
        }
    }
}

/// Client options.
#[derive(Clone)]
pub struct ClientOptions {
    /// Whole-request timeout (connect, send, and read the body).
    pub timeout: Duration,
    /// `User-Agent` header.
    pub user_agent: String,
    /// Largest accepted response body, in bytes.
    pub max_body_bytes: usize,
    /// DNS resolver for every request of the client (SCIM calls and the OAuth token endpoint),
    /// instead of the system resolver: the caller's address policy (e.g. public addresses only).
    /// A resolver refuses a name by failing with [`AddressRefused`], which surfaces as
    /// [`ClientError::Refused`]. Host names only: reqwest never resolves an IP-literal URL, so a
    /// caller with an address policy must vet IP-literal hosts itself (see [`ScimClient::endpoints`]).
    pub resolver: Option<Arc<dyn Resolve>>,
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("timeout", &self.timeout)
            .field("user_agent", &self.user_agent)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("resolver", &self.resolver.as_ref().map(|_| "<custom>"))
            .finish()
    }
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(30),
            user_agent: concat!("gatehouse-scim/", env!("CARGO_PKG_VERSION")).to_string(),
            max_body_bytes: 16 * 1024 * 1024,
            resolver: None,
        }
    }
}

/// The error a [`ClientOptions::resolver`] returns to refuse a name on policy grounds (as opposed
/// to a failed lookup): the call fails with [`ClientError::Refused`], which is not retryable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AddressRefused(pub String);

/// What went wrong with a SCIM call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClientError {
    /// The service answered with a non-success status (the SCIM error body, if it sent one).
    #[error("SCIM service returned HTTP {status}{}", scim.as_ref().map(|e| format!(": {}", e.detail)).unwrap_or_default())]
    Status {
        /// HTTP status.
        status: u16,
        /// The decoded SCIM error body.
        scim: Option<ScimError>,
        /// `Retry-After`, when sent.
        retry_after: Option<Duration>,
    },
    /// The request timed out.
    #[error("request timed out")]
    Timeout,
    /// Connection-level failure (DNS, TCP, TLS, broken connection).
    #[error("transport error: {0}")]
    Transport(String),
    /// The response could not be decoded (wrong content type, bad JSON, too large, wrong shape).
    #[error("could not decode response: {0}")]
    Decode(String),
    /// Obtaining an access token failed (rejected client credentials, bad token response).
    #[error("authentication failed: {0}")]
    Auth(String),
    /// The client was configured with an invalid URL.
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// The resolver hook refused the target's address ([`AddressRefused`]).
    #[error("connection refused by address policy: {0}")]
    Refused(String),
}

impl ClientError {
    /// Whether retrying later may succeed: 5xx, 429, timeouts and transport errors.
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Status { status, .. } => *status >= 500 || *status == 429,
            ClientError::Timeout | ClientError::Transport(_) => true,
            ClientError::Decode(_)
            | ClientError::Auth(_)
            | ClientError::Config(_)
            | ClientError::Refused(_) => false,
        }
    }

    /// The delay the service asked for (`Retry-After`), if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ClientError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status, for `Status` errors.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The SCIM error body, for `Status` errors that carried one.
    pub fn scim(&self) -> Option<&ScimError> {
        match self {
            ClientError::Status { scim, .. } => scim.as_ref(),
            _ => None,
        }
    }
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP-date (IMF-fixdate, relative to `now`; past
/// dates give zero).
pub fn parse_retry_after(value: &str, now: OffsetDateTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let at = time::PrimitiveDateTime::parse(value, &fmt)
        .ok()?
        .assume_utc();
    let delta = at - now;
    Some(if delta.is_negative() {
        Duration::ZERO
    } else {
        delta.unsigned_abs()
    })
}

#[derive(Debug, Clone)]
struct CachedToken {
    access_token: String,
    /// `None` = no expiry announced: used until the service answers 401.
    refresh_at: Option<Instant>,
}

/// An async SCIM client bound to one service base URL.
#[derive(Debug)]
pub struct ScimClient {
    http: reqwest::Client,
    base: Url,
    auth: ClientAuth,
    max_body: usize,
    token: Mutex<Option<CachedToken>>,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

fn transport(e: &reqwest::Error) -> ClientError {
    if e.is_timeout() {
        return ClientError::Timeout;
    }
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(refused) = s.downcast_ref::<AddressRefused>() {
            return ClientError::Refused(refused.0.clone());
        }
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    ClientError::Transport(msg)
}

fn is_json_type(headers: &HeaderMap) -> Option<bool> {
    let ct = headers.get(CT)?.to_str().ok()?;
    let mime = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    Some(mime == CONTENT_TYPE || mime == "application/json")
}

/// Reads the body, refusing more than `max` bytes.
async fn read_bounded(mut resp: reqwest::Response, max: usize) -> Result<Reply, ClientError> {
    let status = resp.status();
    let headers = resp.headers().clone();
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(ClientError::Decode(format!(
            "response body larger than {max} bytes"
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| transport(&e))? {
        if body.len() + chunk.len() > max {
            return Err(ClientError::Decode(format!(
                "response body larger than {max} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Reply {
        status,
        headers,
        body,
    })
}

fn encode_form(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl ScimClient {
    /// A client for the service at `base_url` (e.g. `https://sso.example.com/scim/v2`, with or without a
    /// trailing slash).
    pub fn new(
        base_url: &str,
        auth: ClientAuth,
        options: ClientOptions,
    ) -> Result<Self, ClientError> {
        let mut base = Url::parse(base_url)
            .map_err(|e| ClientError::Config(format!("base URL {base_url:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(ClientError::Config(format!(
                "base URL {base_url:?} must be an http(s) URL"
            )));
        }
        base.set_query(None);
        base.set_fragment(None);
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        if let ClientAuth::ClientCredentials { token_endpoint, .. } = &auth {
            Url::parse(token_endpoint).map_err(|e| {
                ClientError::Config(format!("token endpoint {token_endpoint:?}: {e}"))
            })?;
        }
        // Redirects are never followed: the base URL was vetted (e.g. against private ranges) and a
        // 3xx must not send the credential or the payload anywhere else. A 3xx is a `Status` error.
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(options.timeout)
            .user_agent(options.user_agent.clone());
        if let Some(resolver) = options.resolver {
            builder = builder.dns_resolver(resolver);
        }
        let http = builder
            .build()
            .map_err(|e| ClientError::Config(format!("HTTP client: {e}")))?;
        Ok(ScimClient {
            http,
            base,
            auth,
            max_body: options.max_body_bytes,
            token: Mutex::new(None),
        })
    }

    /// The normalized base URL (always ending in `/`).
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// Every URL the client sends requests to: the base URL (all SCIM calls are under it) and,
    /// with client credentials, the token endpoint. For address policies that must vet IP-literal
    /// hosts, which no [`ClientOptions::resolver`] sees.
    pub fn endpoints(&self) -> Vec<Url> {
        let mut out = vec![self.base.clone()];
        if let ClientAuth::ClientCredentials { token_endpoint, .. } = &self.auth
            && let Ok(u) = Url::parse(token_endpoint)
        {
            out.push(u);
        }
        out
    }

    /// The URL of `path` (relative to the base; a leading `/` is ignored; may carry a query string).
    pub fn url(&self, path: &str) -> Result<Url, ClientError> {
        self.base
            .join(path.trim_start_matches('/'))
            .map_err(|e| ClientError::Config(format!("path {path:?}: {e}")))
    }

    /// The URL of `endpoint/id` with `id` percent-encoded as one path segment.
    fn resource_url(&self, endpoint: &str, id: &str) -> Result<Url, ClientError> {
        let mut url = self.url(endpoint)?;
        url.path_segments_mut()
            .map_err(|_| ClientError::Config("base URL cannot have a path".into()))?
            .pop_if_empty()
            .push(id);
        Ok(url)
    }

    async fn fetch_token(&self) -> Result<CachedToken, ClientError> {
        let ClientAuth::ClientCredentials {
            token_endpoint,
            client_id,
            client_secret,
            method,
            scope,
        } = &self.auth
        else {
            return Err(ClientError::Auth(
                "not configured for client credentials".into(),
            ));
        };
        let mut form: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let mut req = self
            .http
            .post(token_endpoint.as_str())
            .header(ACCEPT, "application/json");
        match method {
            TokenAuthMethod::ClientSecretBasic => {
                use base64::Engine as _;
                let pair = format!("{}:{}", encode_form(client_id), encode_form(client_secret));
                let b64 = base64::engine::general_purpose::STANDARD.encode(pair);
                req = req.header(AUTHORIZATION, format!("Basic {b64}"));
            }
            TokenAuthMethod::ClientSecretPost => {
                form.push(("client_id", client_id));
                form.push(("client_secret", client_secret));
            }
        }
        let started = Instant::now();
        let resp = req.form(&form).send().await.map_err(|e| transport(&e))?;
        let reply = read_bounded(resp, 1024 * 1024).await?;
        let json: Option<Value> = serde_json::from_slice(&reply.body).ok();
        if !reply.status.is_success() {
            let status = reply.status.as_u16();
            if status >= 500 || status == 429 {
                return Err(ClientError::Status {
                    status,
                    scim: None,
                    retry_after: retry_after_of(&reply.headers),
                });
            }
            let oauth_error = json
                .as_ref()
                .and_then(|j| j.get("error"))
                .and_then(Value::as_str)
                .unwrap_or("no error code");
            return Err(ClientError::Auth(format!(
                "token endpoint returned HTTP {status} ({oauth_error})"
            )));
        }
        let json = json.ok_or_else(|| ClientError::Auth("token response is not JSON".into()))?;
        let access_token = json
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ClientError::Auth("token response has no access_token".into()))?
            .to_string();
        if let Some(tt) = json.get("token_type").and_then(Value::as_str)
            && !tt.eq_ignore_ascii_case("bearer")
        {
            return Err(ClientError::Auth(format!("unsupported token_type {tt:?}")));
        }
        let expires_in = match json.get("expires_in") {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        let refresh_at = expires_in.map(|secs| {
            // Refresh a little early: 10% of the lifetime, at most a minute.
            let margin = (secs / 10).min(60);
            started + Duration::from_secs(secs.saturating_sub(margin))
        });
        Ok(CachedToken {
            access_token,
            refresh_at,
        })
    }

    /// The bearer token to send: the static one, or a cached/fresh client-credentials token.
    async fn bearer(&self) -> Result<String, ClientError> {
        if let ClientAuth::Bearer(t) = &self.auth {
            return Ok(t.clone());
        }
        let mut guard = self.token.lock().await;
        if let Some(tok) = guard.as_ref()
            && tok.refresh_at.is_none_or(|at| Instant::now() < at)
        {
            return Ok(tok.access_token.clone());
        }
        let fresh = self.fetch_token().await?;
        let token = fresh.access_token.clone();
        *guard = Some(fresh);
        Ok(token)
    }

    /// Forgets `used` if it is still the cached token, so the next call fetches a new one.
    async fn invalidate(&self, used: &str) {
        let mut guard = self.token.lock().await;
        if guard.as_ref().is_some_and(|t| t.access_token == used) {
            *guard = None;
        }
    }

    async fn send_once(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&Value>,
        extra: &[(&str, &str)],
        token: &str,
    ) -> Result<Reply, ClientError> {
        let mut req = self
            .http
            .request(method.clone(), url.clone())
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .header(ACCEPT, "application/scim+json, application/json");
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            let bytes = serde_json::to_vec(b)
                .map_err(|e| ClientError::Decode(format!("request body: {e}")))?;
            req = req.header(CT, CONTENT_TYPE).body(bytes);
        }
        let resp = req.send().await.map_err(|e| transport(&e))?;
        read_bounded(resp, self.max_body).await
    }

    /// Sends a request and decodes the reply; refreshes a client-credentials token once on 401.
    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        extra: &[(&str, &str)],
    ) -> Result<Option<Value>, ClientError> {
        let token = self.bearer().await?;
        let mut reply = self.send_once(&method, &url, body, extra, &token).await?;
        if reply.status == StatusCode::UNAUTHORIZED
            && matches!(self.auth, ClientAuth::ClientCredentials { .. })
        {
            self.invalidate(&token).await;
            let token = self.bearer().await?;
            reply = self.send_once(&method, &url, body, extra, &token).await?;
        }
        decode_reply(reply)
    }

    /// Any request: `path` relative to the base URL (may include a query string). Returns the decoded
    /// JSON body, or `None` for an empty body (204).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Option<Value>, ClientError> {
        let url = self.url(path)?;
        self.call(method, url, body, &[]).await
    }

    async fn expect_body(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        self.call(method, url, body, &[])
            .await?
            .ok_or_else(|| ClientError::Decode("expected a JSON body, got none".into()))
    }

    /// `POST {endpoint}`: creates a resource and returns the service's representation.
    pub async fn create_resource(
        &self,
        endpoint: &str,
        resource: &Value,
    ) -> Result<Value, ClientError> {
        let url = self.url(endpoint)?;
        self.expect_body(Method::POST, url, Some(resource)).await
    }

    /// `GET {endpoint}/{id}`.
    pub async fn get_resource(&self, endpoint: &str, id: &str) -> Result<Value, ClientError> {
        let url = self.resource_url(endpoint, id)?;
        self.expect_body(Method::GET, url, None).await
    }

    /// `PUT {endpoint}/{id}`.
    pub async fn replace_resource(
        &self,
        endpoint: &str,
        id: &str,
        resource: &Value,
    ) -> Result<Value, ClientError> {
        let url = self.resource_url(endpoint, id)?;
        self.expect_body(Method::PUT, url, Some(resource)).await
    }

    /// `PATCH {endpoint}/{id}` with a PatchOp body; `None` when the service answers 204.
    pub async fn patch_resource(
        &self,
        endpoint: &str,
        id: &str,
        patch: &Value,
    ) -> Result<Option<Value>, ClientError> {
        let url = self.resource_url(endpoint, id)?;
        self.call(Method::PATCH, url, Some(patch), &[]).await
    }

    /// `DELETE {endpoint}/{id}`.
    pub async fn delete_resource(&self, endpoint: &str, id: &str) -> Result<(), ClientError> {
        let url = self.resource_url(endpoint, id)?;
        self.call(Method::DELETE, url, None, &[]).await.map(|_| ())
    }

    /// Creates a user.
    pub async fn create_user(&self, user: &User) -> Result<User, ClientError> {
        decode_user(&self.create_resource("/Users", &user.to_value()).await?)
    }

    /// Reads a user by id.
    pub async fn get_user(&self, id: &str) -> Result<User, ClientError> {
        decode_user(&self.get_resource("/Users", id).await?)
    }

    /// Replaces a user.
    pub async fn replace_user(&self, id: &str, user: &User) -> Result<User, ClientError> {
        decode_user(
            &self
                .replace_resource("/Users", id, &user.to_value())
                .await?,
        )
    }

    /// Patches a user; `None` when the service answers 204.
    pub async fn patch_user(
        &self,
        id: &str,
        patch: &PatchRequest,
    ) -> Result<Option<User>, ClientError> {
        self.patch_resource("/Users", id, &patch.to_json())
            .await?
            .as_ref()
            .map(decode_user)
            .transpose()
    }

    /// Deletes a user.
    pub async fn delete_user(&self, id: &str) -> Result<(), ClientError> {
        self.delete_resource("/Users", id).await
    }

    /// Creates a group.
    pub async fn create_group(&self, group: &Group) -> Result<Group, ClientError> {
        decode_group(&self.create_resource("/Groups", &group.to_value()).await?)
    }

    /// Reads a group by id.
    pub async fn get_group(&self, id: &str) -> Result<Group, ClientError> {
        decode_group(&self.get_resource("/Groups", id).await?)
    }

    /// Replaces a group.
    pub async fn replace_group(&self, id: &str, group: &Group) -> Result<Group, ClientError> {
        decode_group(
            &self
                .replace_resource("/Groups", id, &group.to_value())
                .await?,
        )
    }

    /// Patches a group; `None` when the service answers 204.
    pub async fn patch_group(
        &self,
        id: &str,
        patch: &PatchRequest,
    ) -> Result<Option<Group>, ClientError> {
        self.patch_resource("/Groups", id, &patch.to_json())
            .await?
            .as_ref()
            .map(decode_group)
            .transpose()
    }

    /// Deletes a group.
    pub async fn delete_group(&self, id: &str) -> Result<(), ClientError> {
        self.delete_resource("/Groups", id).await
    }

    /// `GET {endpoint}?filter=…&startIndex=…&count=…`.
    pub async fn list(
        &self,
        endpoint: &str,
        filter: Option<&Filter>,
        start_index: Option<u64>,
        count: Option<u64>,
    ) -> Result<ListResponse, ClientError> {
        let filter = filter.map(ToString::to_string);
        self.list_raw(endpoint, filter.as_deref(), start_index, count)
            .await
    }

    /// Like [`ScimClient::list`] with the filter given as text.
    pub async fn list_raw(
        &self,
        endpoint: &str,
        filter: Option<&str>,
        start_index: Option<u64>,
        count: Option<u64>,
    ) -> Result<ListResponse, ClientError> {
        let mut url = self.url(endpoint)?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(f) = filter {
                q.append_pair("filter", f);
            }
            if let Some(s) = start_index {
                q.append_pair("startIndex", &s.to_string());
            }
            if let Some(c) = count {
                q.append_pair("count", &c.to_string());
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        let body = self.expect_body(Method::GET, url, None).await?;
        ListResponse::from_json(&body).map_err(|e| ClientError::Decode(e.detail))
    }

    /// Every resource matching `filter`, following pages of `page_size` (stops at `max_resources`).
    pub async fn list_all(
        &self,
        endpoint: &str,
        filter: Option<&Filter>,
        page_size: u64,
        max_resources: usize,
    ) -> Result<Vec<Value>, ClientError> {
        let mut out = Vec::new();
        let mut start = 1u64;
        loop {
            let page = self
                .list(endpoint, filter, Some(start), Some(page_size.max(1)))
                .await?;
            let n = page.resources.len() as u64;
            out.extend(page.resources);
            if out.len() >= max_resources {
                out.truncate(max_resources);
                break;
            }
            // Stop on an empty page too: some services report totalResults they never page through.
            if n == 0 || start.saturating_sub(1) + n >= page.total_results {
                break;
            }
            start += n;
        }
        Ok(out)
    }

    async fn find_one(
        &self,
        endpoint: &str,
        attr: &str,
        value: &str,
    ) -> Result<Option<Value>, ClientError> {
        let filter = Filter::compare(attr, CompareOp::Eq, CompValue::String(value.to_string()));
        let page = self.list(endpoint, Some(&filter), Some(1), Some(2)).await?;
        Ok(page.resources.into_iter().next())
    }

    /// The user with this `userName` (compared case-insensitively by the service), if any.
    pub async fn find_user_by_user_name(
        &self,
        user_name: &str,
    ) -> Result<Option<User>, ClientError> {
        self.find_one("/Users", "userName", user_name)
            .await?
            .as_ref()
            .map(decode_user)
            .transpose()
    }

    /// The user with this `externalId`, if any.
    pub async fn find_user_by_external_id(
        &self,
        external_id: &str,
    ) -> Result<Option<User>, ClientError> {
        self.find_one("/Users", "externalId", external_id)
            .await?
            .as_ref()
            .map(decode_user)
            .transpose()
    }

    /// The group with this `displayName`, if any.
    pub async fn find_group_by_display_name(
        &self,
        display_name: &str,
    ) -> Result<Option<Group>, ClientError> {
        self.find_one("/Groups", "displayName", display_name)
            .await?
            .as_ref()
            .map(decode_group)
            .transpose()
    }

    /// `GET /ServiceProviderConfig`.
    pub async fn service_provider_config(&self) -> Result<Value, ClientError> {
        let url = self.url("ServiceProviderConfig")?;
        self.expect_body(Method::GET, url, None).await
    }
}

fn retry_after_of(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(v, OffsetDateTime::now_utc())
}

fn decode_reply(reply: Reply) -> Result<Option<Value>, ClientError> {
    let json_type = is_json_type(&reply.headers);
    if !reply.status.is_success() {
        let scim = match json_type {
            Some(false) => None,
            _ => serde_json::from_slice::<Value>(&reply.body)
                .ok()
                .as_ref()
                .and_then(ScimError::from_json),
        };
        return Err(ClientError::Status {
            status: reply.status.as_u16(),
            scim,
            retry_after: retry_after_of(&reply.headers),
        });
    }
    if reply.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    if json_type == Some(false) {
        let ct = reply
            .headers
            .get(CT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        return Err(ClientError::Decode(format!(
            "unexpected content type {ct:?}"
        )));
    }
    serde_json::from_slice(&reply.body)
        .map(Some)
        .map_err(|e| ClientError::Decode(format!("invalid JSON: {e}")))
}

fn decode_user(v: &Value) -> Result<User, ClientError> {
    User::from_value(v).map_err(|e| ClientError::Decode(e.detail))
}

fn decode_group(v: &Value) -> Result<Group, ClientError> {
    Group::from_value(v).map_err(|e| ClientError::Decode(e.detail))
}
