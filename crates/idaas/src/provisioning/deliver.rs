//! Pushing one object's current state to a SCIM 2.0 target, and the per-object delivery used by
//! the outbox worker ([`deliver_user`], [`deliver_group`]). HTTP, authentication (bearer or OAuth
//! 2.0 client credentials with a cached token), `Retry-After` and SCIM error decoding are the shared
//! [`scim::client::ScimClient`]'s; [`Target`] only adds what is engine policy: which failures are
//! worth a retry, 404 on delete/read, member changes by `add`/`remove` in chunks (never `replace`),
//! and the AWS IAM Identity Center compatibility profile. One client per application is cached in
//! [`ClientCache`] so a client-credentials token is reused across deliveries. State-based: the
//! desired state (scope + mapping) is compared with what was pushed (`provisioning_objects`,
//! `provisioning_memberships`) and only the difference is sent.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use scim::client::{ClientAuth, ClientError, ClientOptions, ScimClient, TokenAuthMethod};
use scim::filter::{AttrPath, Filter};
use scim::patch::{PatchOp, PatchOpKind, PatchRequest};
use scim::path::PatchPath;
use serde_json::{Value, json};

use super::config::{AuthnMethod, ProvisioningAuth};
use super::plan::{self, AppProfile, DesiredGroup, DesiredUser};
use crate::error::Error;
use crate::services::Services;
use crate::store::provisioning_map::{self, PushedObject};

/// At most this many member values in one PATCH operation.
const MEMBERS_PER_PATCH: usize = 100;
/// `User-Agent` of provisioning requests.
const USER_AGENT: &str = "Gatehouse-IDaaS-Provisioning/1";
/// Cached clients kept at most (applications); the cache is emptied beyond.
const MAX_CACHED_CLIENTS: usize = 4096;

/// What went wrong talking to the target.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TargetError {
    /// The SCIM client failed (error status, time-out, transport, token endpoint, bad answer).
    #[error("{}", describe(.0))]
    Client(#[from] ClientError),
    /// A 409 on create but no existing object matched by userName/displayName or externalId.
    #[error("conflict on create and no existing object matches: {0}")]
    Unresolvable(String),
    /// The userName changed, the target keeps it immutable, and the actions do not allow
    /// replacing the remote account (user delete and create).
    #[error("userName is immutable on the target: {0}")]
    ImmutableUserName(String),
}

/// `HTTP 409 (uniqueness): detail` for status errors, the client's message otherwise.
fn describe(e: &ClientError) -> String {
    match e {
        ClientError::Status { status, scim, .. } => match scim {
            Some(s) => match s.scim_type {
                Some(t) => format!("HTTP {status} ({t}): {}", s.detail),
                None => format!("HTTP {status}: {}", s.detail),
            },
            None => format!("HTTP {status}"),
        },
        other => other.to_string(),
    }
}

impl TargetError {
    /// Worth another attempt later: what the client calls retryable (5xx, 429, time-outs,
    /// transport errors) plus 408, undecodable answers and token-endpoint refusals (the attempt
    /// budget bounds them; an administrator may be fixing the credentials meanwhile).
    pub fn retryable(&self) -> bool {
        match self {
            TargetError::Client(e) => {
                e.is_retryable()
                    || e.status() == Some(408)
                    || matches!(e, ClientError::Decode(_) | ClientError::Auth(_))
            }
            TargetError::Unresolvable(_) | TargetError::ImmutableUserName(_) => false,
        }
    }

    /// A 400 with `scimType` `mutability`: the target refuses to change an immutable attribute.
    pub fn is_mutability(&self) -> bool {
        match self {
            TargetError::Client(ClientError::Status {
                status: 400,
                scim: Some(s),
                ..
            }) => s.scim_type == Some(scim::error::ScimType::Mutability),
            _ => false,
        }
    }

    /// The `Retry-After` the target asked for, in whole seconds (rounded up).
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            TargetError::Client(e) => e
                .retry_after()
                .map(|d| d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0))),
            TargetError::Unresolvable(_) | TargetError::ImmutableUserName(_) => None,
        }
    }

    /// The HTTP status of a status error.
    pub fn status(&self) -> Option<u16> {
        match self {
            TargetError::Client(e) => e.status(),
            TargetError::Unresolvable(_) | TargetError::ImmutableUserName(_) => None,
        }
    }
}

/// Why delivering an object failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    /// The target refused or failed.
    #[error("{0}")]
    Target(#[from] TargetError),
    /// Reading the local state or recording the result failed.
    #[error("{0}")]
    Local(#[from] Error),
}

impl From<ClientError> for DeliverError {
    fn from(e: ClientError) -> Self {
        DeliverError::Target(TargetError::Client(e))
    }
}

impl DeliverError {
    /// Worth another attempt later.
    pub fn retryable(&self) -> bool {
        match self {
            DeliverError::Target(t) => t.retryable(),
            // A user the mapping cannot render stays unrenderable until the data or the mapping
            // changes (which enqueues it again).
            DeliverError::Local(Error::Invalid(_)) => false,
            DeliverError::Local(_) => true,
        }
    }
}

/// The SCIM client authentication of a provisioning configuration.
pub fn client_auth(auth: &ProvisioningAuth) -> ClientAuth {
    match auth {
        ProvisioningAuth::BearerToken { access_token } => {
            ClientAuth::Bearer(access_token.expose().to_owned())
        }
        ProvisioningAuth::ClientCredentials {
            token_endpoint,
            client_id,
            client_secret,
            authn_method,
        } => ClientAuth::ClientCredentials {
            token_endpoint: token_endpoint.clone(),
            client_id: client_id.clone(),
            client_secret: client_secret.expose().to_owned(),
            method: match authn_method {
                AuthnMethod::ClientSecretBasic => TokenAuthMethod::ClientSecretBasic,
                AuthnMethod::ClientSecretPost => TokenAuthMethod::ClientSecretPost,
            },
            scope: None,
        },
    }
}

/// One cached client and the configuration it was built from.
#[derive(Debug)]
struct CachedClient {
    updated_at: i64,
    base_url: String,
    auth: ProvisioningAuth,
    client: Arc<ScimClient>,
}

/// One [`ScimClient`] per application, rebuilt when the configuration changes (its `updated_at`,
/// base URL or credentials), so an OAuth 2.0 access token is fetched once and reused by every
/// delivery and full sync of the process.
#[derive(Debug, Default)]
pub struct ClientCache {
    clients: Mutex<HashMap<String, CachedClient>>,
}

impl ClientCache {
    /// The client of a profile (`None` while its authentication is not configured), under the
    /// address policy of [`super::egress`] (`allow_private`: private network targets allowed).
    pub fn client(
        &self,
        p: &AppProfile,
        timeout: Duration,
        allow_private: bool,
    ) -> Option<Result<Arc<ScimClient>, ClientError>> {
        let auth = p.config.auth.as_ref()?;
        let Ok(mut clients) = self.clients.lock() else {
            return Some(build_client(p, auth, timeout, allow_private).map(Arc::new));
        };
        if let Some(c) = clients.get(&p.app_id)
            && c.updated_at == p.config.updated_at
            && c.base_url == p.base_url
            && c.auth == *auth
        {
            return Some(Ok(Arc::clone(&c.client)));
        }
        let client = match build_client(p, auth, timeout, allow_private) {
            Ok(c) => Arc::new(c),
            Err(e) => return Some(Err(e)),
        };
        if clients.len() >= MAX_CACHED_CLIENTS {
            clients.clear();
        }
        clients.insert(
            p.app_id.clone(),
            CachedClient {
                updated_at: p.config.updated_at,
                base_url: p.base_url.clone(),
                auth: auth.clone(),
                client: Arc::clone(&client),
            },
        );
        Some(Ok(client))
    }
}

fn build_client(
    p: &AppProfile,
    auth: &ProvisioningAuth,
    timeout: Duration,
    allow_private: bool,
) -> Result<ScimClient, ClientError> {
    super::egress::new_client(
        &p.base_url,
        client_auth(auth),
        ClientOptions {
            timeout,
            user_agent: USER_AGENT.to_owned(),
            ..ClientOptions::default()
        },
        allow_private,
    )
}

/// A SCIM 2.0 target (one application's provisioning endpoint) as the engine uses it.
#[derive(Debug, Clone)]
pub struct Target {
    /// The client, or why it could not be built (every call then fails with that error).
    client: Result<Arc<ScimClient>, ClientError>,
    /// The AWS IAM Identity Center compatibility profile is on.
    pub aws: bool,
}

/// SCIM resource endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/Users`.
    Users,
    /// `/Groups`.
    Groups,
}

impl Endpoint {
    fn path(self) -> &'static str {
        match self {
            Endpoint::Users => "/Users",
            Endpoint::Groups => "/Groups",
        }
    }
}

/// `members[value eq "id"]`.
fn member_filter(member_id: &str) -> Filter {
    Filter::ValuePath {
        attr: AttrPath::simple("members"),
        filter: Box::new(Filter::eq("value", member_id)),
    }
}

/// One PATCH operation on `path` (none: the resource itself).
fn op(kind: PatchOpKind, path: Option<PatchPath>, value: Option<Value>) -> PatchOp {
    PatchOp {
        op: kind,
        path,
        value,
    }
}

/// The path `attr`, or `attr[filter]`.
fn patch_path(attr: &str, value_filter: Option<Filter>) -> PatchPath {
    PatchPath {
        attr: AttrPath::simple(attr),
        value_filter,
        sub_attr: None,
    }
}

impl Target {
    /// A target over a client (or the error building it), with the AWS profile on or off.
    pub fn new(client: Result<Arc<ScimClient>, ClientError>, aws: bool) -> Self {
        Self { client, aws }
    }

    /// The target of a profile through the services' client cache (`None` while its
    /// authentication is not configured).
    pub fn for_profile(services: &Services, p: &AppProfile) -> Option<Self> {
        let timeout = Duration::from_millis(services.config.provisioning_http_timeout_ms.max(1));
        let client = services.provisioning_clients.client(
            p,
            timeout,
            services.config.metadata_fetch_allow_private,
        )?;
        Some(Self::new(client, p.aws))
    }

    fn client(&self) -> Result<&ScimClient, TargetError> {
        self.client
            .as_deref()
            .map_err(|e| TargetError::Client(e.clone()))
    }

    /// Largest page a list request asks for (AWS answers at most 50).
    pub fn page_size(&self) -> u64 {
        if self.aws { 50 } else { 200 }
    }

    /// `POST /Users|/Groups`: returns the new id and the resource.
    pub async fn create(&self, ep: Endpoint, body: &Value) -> Result<(String, Value), TargetError> {
        let v = self.client()?.create_resource(ep.path(), body).await?;
        let id = v["id"]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ClientError::Decode("created resource has no id".into()))?
            .to_owned();
        Ok((id, v))
    }

    /// `PUT /…/{id}` (the body carries the id).
    pub async fn replace(&self, ep: Endpoint, id: &str, body: &Value) -> Result<(), TargetError> {
        let mut body = body.clone();
        if let Some(o) = body.as_object_mut() {
            o.insert("id".into(), Value::String(id.to_owned()));
        }
        self.client()?
            .replace_resource(ep.path(), id, &body)
            .await?;
        Ok(())
    }

    /// `PATCH /…/{id}` with the given operations.
    async fn patch(
        &self,
        ep: Endpoint,
        id: &str,
        operations: Vec<PatchOp>,
    ) -> Result<(), TargetError> {
        let body = PatchRequest { operations }.to_json();
        self.client()?.patch_resource(ep.path(), id, &body).await?;
        Ok(())
    }

    /// `DELETE /…/{id}`; a 404 counts as deleted.
    pub async fn delete(&self, ep: Endpoint, id: &str) -> Result<(), TargetError> {
        match self.client()?.delete_resource(ep.path(), id).await {
            Ok(()) => Ok(()),
            Err(e) if e.status() == Some(404) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// `GET /…/{id}`; `None` on 404.
    pub async fn get(&self, ep: Endpoint, id: &str) -> Result<Option<Value>, TargetError> {
        match self.client()?.get_resource(ep.path(), id).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// One page of `GET /…?filter=…&startIndex=…&count=…`: (resources, totalResults).
    pub async fn list_page(
        &self,
        ep: Endpoint,
        filter: Option<&Filter>,
        start_index: u64,
        count: u64,
    ) -> Result<(Vec<Value>, u64), TargetError> {
        let page = self
            .client()?
            .list(ep.path(), filter, Some(start_index), Some(count))
            .await?;
        Ok((page.resources, page.total_results))
    }

    /// Every resource matching `filter` (all pages of [`Target::page_size`]).
    pub async fn list_all(
        &self,
        ep: Endpoint,
        filter: Option<&Filter>,
    ) -> Result<Vec<Value>, TargetError> {
        Ok(self
            .client()?
            .list_all(ep.path(), filter, self.page_size(), usize::MAX)
            .await?)
    }

    /// The first resource whose `attr` equals `value` (compared case-insensitively for userName and
    /// displayName, exactly for externalId), checked locally as well: some targets ignore filters.
    pub async fn find_by(
        &self,
        ep: Endpoint,
        attr: &str,
        value: &str,
    ) -> Result<Option<Value>, TargetError> {
        let filter = Filter::eq(attr, value);
        let (items, _) = self.list_page(ep, Some(&filter), 1, 10).await?;
        let case_insensitive = attr != "externalId";
        Ok(items.into_iter().find(|r| match r[attr].as_str() {
            Some(v) if case_insensitive => v.eq_ignore_ascii_case(value),
            Some(v) => v == value,
            None => false,
        }))
    }

    /// Ids of the groups that list `member_id` as a member (`members[value eq …]`, or for AWS,
    /// which only knows `eq`, one `id eq … and members eq …` probe per candidate group).
    pub async fn groups_of_member(
        &self,
        member_id: &str,
        candidates: &[String],
    ) -> Result<BTreeSet<String>, TargetError> {
        let mut out = BTreeSet::new();
        if self.aws {
            for g in candidates {
                let f = Filter::eq("id", g).and(Filter::eq("members", member_id));
                let (items, total) = self.list_page(Endpoint::Groups, Some(&f), 1, 1).await?;
                if total > 0 || !items.is_empty() {
                    out.insert(g.clone());
                }
            }
        } else {
            let f = member_filter(member_id);
            for g in self.list_all(Endpoint::Groups, Some(&f)).await? {
                if let Some(id) = g["id"].as_str() {
                    out.insert(id.to_owned());
                }
            }
        }
        Ok(out)
    }

    /// Adds and removes group members with `add`/`remove` operations (never `replace`), chunked.
    pub async fn patch_members(
        &self,
        group_id: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<(), TargetError> {
        for chunk in add.chunks(MEMBERS_PER_PATCH) {
            let values: Vec<Value> = chunk.iter().map(|id| json!({ "value": id })).collect();
            let add = op(
                PatchOpKind::Add,
                Some(patch_path("members", None)),
                Some(Value::Array(values)),
            );
            self.patch(Endpoint::Groups, group_id, vec![add]).await?;
        }
        for chunk in remove.chunks(MEMBERS_PER_PATCH) {
            let ops = chunk
                .iter()
                .map(|id| {
                    let path = patch_path("members", Some(Filter::eq("value", id)));
                    op(PatchOpKind::Remove, Some(path), None)
                })
                .collect();
            self.patch(Endpoint::Groups, group_id, ops).await?;
        }
        Ok(())
    }

    /// Changes a group's own attributes (not its members): `replace` on standard targets, `add`
    /// (which sets single-valued attributes, RFC 7644 §3.5.2.1) for AWS, which refuses `replace`.
    pub async fn patch_group_attributes(
        &self,
        id: &str,
        g: &DesiredGroup,
    ) -> Result<(), TargetError> {
        let mut value = serde_json::Map::new();
        value.insert("displayName".into(), Value::String(g.display_name.clone()));
        if let Some(x) = &g.external_id {
            value.insert("externalId".into(), Value::String(x.clone()));
        }
        let kind = if self.aws {
            PatchOpKind::Add
        } else {
            PatchOpKind::Replace
        };
        let set = op(kind, None, Some(Value::Object(value)));
        self.patch(Endpoint::Groups, id, vec![set]).await
    }

    /// Turns a user off (`active: false`): PATCH `replace` of `active` on standard targets; under
    /// the AWS profile, which promises no PATCH `replace` at all, a PUT of the full user as the
    /// target holds it (read first) with `active: false` (AWS supports PUT on users). `Ok(false)`
    /// when the user is not on the target any more (404).
    pub async fn disable_user(&self, id: &str) -> Result<bool, TargetError> {
        let result = if self.aws {
            let Some(mut user) = self.get(Endpoint::Users, id).await? else {
                return Ok(false);
            };
            if let Some(o) = user.as_object_mut() {
                o.remove("meta");
                o.remove("groups");
                o.insert("active".into(), Value::Bool(false));
            }
            self.replace(Endpoint::Users, id, &user).await
        } else {
            let off = op(
                PatchOpKind::Replace,
                Some(patch_path("active", None)),
                Some(Value::Bool(false)),
            );
            self.patch(Endpoint::Users, id, vec![off]).await
        };
        match result {
            Ok(()) => Ok(true),
            Err(e) if e.status() == Some(404) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The member ids of a remote group, read as a full sync reads them: from `group` itself (a
    /// listing or a create answer), else from a GET of the group (some targets omit members in
    /// list answers), else — the target returns no member lists at all (AWS) — by asking which
    /// of `candidates` (remote user ids) are members ([`Target::groups_of_member`]).
    pub async fn group_members(
        &self,
        group: &Value,
        candidates: &[String],
    ) -> Result<BTreeSet<String>, TargetError> {
        let listed = member_values(group);
        if !listed.is_empty() {
            return Ok(listed);
        }
        let Some(id) = group["id"].as_str() else {
            return Ok(listed);
        };
        if let Some(g) = self.get(Endpoint::Groups, id).await? {
            let read = member_values(&g);
            if !read.is_empty() {
                return Ok(read);
            }
        }
        let one = [id.to_owned()];
        let mut out = BTreeSet::new();
        for user in candidates {
            if self.groups_of_member(user, &one).await?.contains(id) {
                out.insert(user.clone());
            }
        }
        Ok(out)
    }
}

/// A user resource as sent: read-only parts dropped; for AWS at most one email, phone number and
/// address (multi-valued attributes fail there).
pub fn user_body(d: &DesiredUser, aws: bool) -> Value {
    let mut v = d.resource.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("id");
        o.remove("meta");
        o.remove("groups");
        if aws {
            for attr in ["emails", "phoneNumbers", "addresses"] {
                if let Some(Value::Array(a)) = o.get_mut(attr)
                    && a.len() > 1
                {
                    let keep = a
                        .iter()
                        .position(|e| e["primary"].as_bool() == Some(true))
                        .unwrap_or(0);
                    let one = a.swap_remove(keep);
                    *a = vec![one];
                }
            }
        }
    }
    v
}

/// A group resource as sent, with the given remote member ids.
pub fn group_body(d: &DesiredGroup, members: &[String]) -> Value {
    let mut v = d.resource.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("id");
        o.remove("meta");
        if members.is_empty() {
            o.remove("members");
        } else {
            o.insert(
                "members".into(),
                Value::Array(members.iter().map(|m| json!({ "value": m })).collect()),
            );
        }
    }
    v
}

/// Everything a delivery needs: the services, the application's profile and its target.
#[derive(Debug, Clone)]
pub struct Cx {
    /// Domain services.
    pub services: Arc<Services>,
    /// The application's provisioning settings.
    pub profile: Arc<AppProfile>,
    /// The SCIM target.
    pub target: Target,
}

/// The result of delivering one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Created on the target.
    Created,
    /// Updated.
    Updated,
    /// Deleted on the target.
    Deleted,
    /// Disabled on the target (deprovision mode `disable`).
    Disabled,
    /// Nothing to change.
    Same,
    /// An existing remote object was adopted.
    Bound,
    /// Not pushed (action off, or nothing to push).
    Skipped,
}

impl Outcome {
    /// The `sync_job_items.action` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Deleted => "deleted",
            Outcome::Disabled => "disabled",
            Outcome::Same => "same",
            Outcome::Bound => "bound",
            Outcome::Skipped => "skipped",
        }
    }
}

/// An outcome plus the group memberships it added and removed on the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// What happened to the object.
    pub outcome: Outcome,
    /// Memberships added.
    pub members_added: i64,
    /// Memberships removed.
    pub members_removed: i64,
}

/// A delivered object with its display name.
#[derive(Debug, Clone)]
pub struct DeliveryReport {
    /// Result.
    pub delivered: Delivered,
    /// userName / displayName.
    pub name: String,
    /// A note for the sync record (e.g. a remote account replaced after a userName change).
    pub note: Option<String>,
}

fn delivered(outcome: Outcome) -> Delivered {
    Delivered {
        outcome,
        members_added: 0,
        members_removed: 0,
    }
}

impl Cx {
    fn app(&self) -> &str {
        &self.profile.app_id
    }

    fn now(&self) -> i64 {
        self.services.now()
    }

    async fn pushed(&self, object_type: &str, id: &str) -> Result<Option<PushedObject>, Error> {
        let mut conn = self.services.store.read().await?;
        provisioning_map::get(&mut conn, self.app(), object_type, id).await
    }

    async fn record(&self, o: PushedObject) -> Result<(), Error> {
        let mut tx = self.services.store.begin_write().await?;
        provisioning_map::upsert(&mut tx, &o).await?;
        tx.commit().await?;
        Ok(())
    }

    fn pushed_object(
        &self,
        object_type: &str,
        id: &str,
        rid: &str,
        key: &str,
        hash: &str,
        active: bool,
    ) -> PushedObject {
        PushedObject {
            app_id: self.app().to_owned(),
            object_type: object_type.to_owned(),
            object_id: id.to_owned(),
            remote_id: rid.to_owned(),
            remote_key: key.to_owned(),
            state_hash: hash.to_owned(),
            active,
            synced_at: self.now(),
        }
    }

    /// Finds an existing remote user by userName, then externalId.
    pub async fn find_user(&self, d: &DesiredUser) -> Result<Option<String>, TargetError> {
        if let Some(v) = self
            .target
            .find_by(Endpoint::Users, "userName", &d.user_name)
            .await?
        {
            return Ok(v["id"].as_str().map(str::to_owned));
        }
        if let Some(x) = &d.external_id
            && let Some(v) = self
                .target
                .find_by(Endpoint::Users, "externalId", x)
                .await?
        {
            return Ok(v["id"].as_str().map(str::to_owned));
        }
        Ok(None)
    }

    /// Finds an existing remote group by displayName, then externalId.
    pub async fn find_group(&self, d: &DesiredGroup) -> Result<Option<Value>, TargetError> {
        if let Some(v) = self
            .target
            .find_by(Endpoint::Groups, "displayName", &d.display_name)
            .await?
        {
            return Ok(Some(v));
        }
        if let Some(x) = &d.external_id
            && let Some(v) = self
                .target
                .find_by(Endpoint::Groups, "externalId", x)
                .await?
        {
            return Ok(Some(v));
        }
        Ok(None)
    }

    /// A never-pushed group that may already be on the target because we created it (a POST whose
    /// answer was lost, or a crash before it was recorded): by externalId (exactly; a target that
    /// refuses that filter with a 400 is asked by name only), else by displayName (compared
    /// case-insensitively, re-checked locally) when the remote group carries no other externalId.
    pub async fn find_existing_group(
        &self,
        d: &DesiredGroup,
    ) -> Result<Option<Value>, TargetError> {
        if let Some(x) = &d.external_id {
            match self.target.find_by(Endpoint::Groups, "externalId", x).await {
                Ok(Some(v)) => return Ok(Some(v)),
                Ok(None) => {}
                Err(e) if e.status() == Some(400) => {}
                Err(e) => return Err(e),
            }
        }
        let by_name = self
            .target
            .find_by(Endpoint::Groups, "displayName", &d.display_name)
            .await?;
        Ok(by_name.filter(|v| {
            v["externalId"]
                .as_str()
                .is_none_or(|x| Some(x) == d.external_id.as_deref())
        }))
    }

    /// Creates a user; on 409 adopts the existing one (by userName, then externalId) and replaces
    /// it with the desired state. Never retries the POST.
    pub async fn create_or_bind_user(
        &self,
        d: &DesiredUser,
    ) -> Result<(String, Outcome), TargetError> {
        let body = user_body(d, self.target.aws);
        match self.target.create(Endpoint::Users, &body).await {
            Ok((rid, _)) => Ok((rid, Outcome::Created)),
            Err(e) if e.status() == Some(409) => {
                let rid = self.find_user(d).await?.ok_or_else(|| {
                    TargetError::Unresolvable(format!("userName {}", d.user_name))
                })?;
                self.target.replace(Endpoint::Users, &rid, &body).await?;
                Ok((rid, Outcome::Bound))
            }
            Err(e) => Err(e),
        }
    }

    /// Remote ids of the given local users that are pushed and active.
    async fn remote_user_ids(&self, user_ids: &[String]) -> Result<Vec<(String, String)>, Error> {
        let mut conn = self.services.store.read().await?;
        let mut out = Vec::new();
        for u in user_ids {
            if let Some(p) = provisioning_map::get(&mut conn, self.app(), "user", u).await?
                && p.active
            {
                out.push((u.clone(), p.remote_id));
            }
        }
        Ok(out)
    }
}

/// Pushes a user's current state (see the module docs).
pub async fn deliver_user(cx: &Cx, user_id: &str) -> Result<DeliveryReport, DeliverError> {
    let desired = plan::desired_user(cx, user_id).await?;
    let pushed = cx.pushed("user", user_id).await?;
    let p = &cx.profile;
    match (desired, pushed) {
        (Some(d), None) => {
            if !d.active || !p.user_create {
                return Ok(report(delivered(Outcome::Skipped), &d.user_name));
            }
            let (rid, outcome) = cx.create_or_bind_user(&d).await?;
            cx.record(cx.pushed_object("user", user_id, &rid, &d.user_name, &d.hash, d.active))
                .await?;
            let mut r = delivered(outcome);
            sync_user_groups(cx, &d, &rid, &mut r).await?;
            Ok(report(r, &d.user_name))
        }
        (Some(d), Some(pushed)) => {
            let mut r = delivered(Outcome::Same);
            let mut rid = pushed.remote_id.clone();
            let mut note = None;
            if d.hash != pushed.state_hash || d.active != pushed.active {
                if !p.user_update {
                    return Ok(report(delivered(Outcome::Skipped), &d.user_name));
                }
                let u = update_user(cx, &d, &pushed).await?;
                rid = u.remote_id;
                r.outcome = u.outcome;
                r.members_removed += u.members_removed;
                note = u.note;
                cx.record(cx.pushed_object("user", user_id, &rid, &d.user_name, &d.hash, d.active))
                    .await?;
            }
            sync_user_groups(cx, &d, &rid, &mut r).await?;
            let mut out = report(r, &d.user_name);
            out.note = note;
            Ok(out)
        }
        (None, Some(pushed)) => {
            let r = deprovision_user(cx, &pushed).await?;
            Ok(report(r, &pushed.remote_key))
        }
        (None, None) => Ok(report(delivered(Outcome::Same), user_id)),
    }
}

fn report(delivered: Delivered, name: &str) -> DeliveryReport {
    DeliveryReport {
        delivered,
        name: name.to_owned(),
        note: None,
    }
}

/// The result of [`update_user`].
#[derive(Debug, Clone)]
pub struct UserUpdate {
    /// The remote id afterwards (a new one when the account was created again).
    pub remote_id: String,
    /// `Updated`, or `Created`/`Bound` when the account had to be pushed again.
    pub outcome: Outcome,
    /// Memberships removed on the target (an account replaced leaves its groups first).
    pub members_removed: i64,
    /// A note for the sync record.
    pub note: Option<String>,
}

/// Pushes a changed user to its remote account (the caller records the pushed state and syncs
/// its groups afterwards): a PUT; after a 404 (deleted behind our back) it is pushed again. When
/// the userName changed (not only its case) and the target keeps userName immutable — known for
/// the profile (Cloud SSO), or refused with 400 `mutability` — the remote account is replaced:
/// it leaves its groups, is deleted (needs the user delete action) and created again under the
/// new name (user create action); the caller's group sync then restores its memberships.
pub async fn update_user(
    cx: &Cx,
    d: &DesiredUser,
    pushed: &PushedObject,
) -> Result<UserUpdate, DeliverError> {
    let renamed = !d.user_name.eq_ignore_ascii_case(&pushed.remote_key);
    if renamed && cx.profile.immutable_user_name {
        return replace_account(cx, d, pushed).await;
    }
    let body = user_body(d, cx.target.aws);
    match cx
        .target
        .replace(Endpoint::Users, &pushed.remote_id, &body)
        .await
    {
        Ok(()) => Ok(UserUpdate {
            remote_id: pushed.remote_id.clone(),
            outcome: Outcome::Updated,
            members_removed: 0,
            note: None,
        }),
        Err(e) if e.status() == Some(404) => {
            // Deleted on the target behind our back: push it again.
            let (rid, outcome) = cx.create_or_bind_user(d).await?;
            let mut tx = cx.services.store.begin_write().await?;
            provisioning_map::remove_user_memberships(&mut tx, cx.app(), &d.id).await?;
            tx.commit().await.map_err(Error::from)?;
            Ok(UserUpdate {
                remote_id: rid,
                outcome,
                members_removed: 0,
                note: None,
            })
        }
        Err(e) if renamed && e.is_mutability() => replace_account(cx, d, pushed).await,
        Err(e) => Err(e.into()),
    }
}

/// Replaces a remote account whose userName cannot change (see [`update_user`]).
async fn replace_account(
    cx: &Cx,
    d: &DesiredUser,
    pushed: &PushedObject,
) -> Result<UserUpdate, DeliverError> {
    let p = &cx.profile;
    if !p.user_delete || !p.user_create {
        return Err(TargetError::ImmutableUserName(format!(
            "{} cannot become {}; replacing the remote account needs the user create and delete \
             actions",
            pushed.remote_key, d.user_name
        ))
        .into());
    }
    let removed = leave_pushed_groups(cx, pushed).await?;
    cx.target.delete(Endpoint::Users, &pushed.remote_id).await?;
    forget(cx, "user", &d.id).await?;
    let (rid, _) = cx.create_or_bind_user(d).await?;
    Ok(UserUpdate {
        note: Some(format!(
            "userName changed from {} to {}; the target keeps userName immutable, so remote \
             account {} was deleted and created again as {rid}",
            pushed.remote_key, d.user_name, pushed.remote_id
        )),
        remote_id: rid,
        outcome: Outcome::Updated,
        members_removed: removed,
    })
}

/// Brings the user's memberships in pushed groups in line with its in-scope groups.
pub(crate) async fn sync_user_groups(
    cx: &Cx,
    d: &DesiredUser,
    rid: &str,
    r: &mut Delivered,
) -> Result<(), DeliverError> {
    if !cx.profile.groups_enabled() {
        return Ok(());
    }
    let recorded: BTreeSet<String> = {
        let mut conn = cx.services.store.read().await?;
        provisioning_map::user_groups(&mut conn, cx.app(), &d.id)
            .await?
            .into_iter()
            .collect()
    };
    // A disabled user is kept out of its groups until enabled again.
    let want: BTreeSet<String> = if d.active {
        d.groups.iter().cloned().collect()
    } else {
        BTreeSet::new()
    };
    for g in want.difference(&recorded) {
        let Some(gp) = cx.pushed("group", g).await? else {
            continue; // picked up when the group is delivered
        };
        cx.target
            .patch_members(&gp.remote_id, &[rid.to_owned()], &[])
            .await?;
        let mut tx = cx.services.store.begin_write().await?;
        provisioning_map::add_membership(&mut tx, cx.app(), g, &d.id).await?;
        tx.commit().await.map_err(Error::from)?;
        r.members_added += 1;
    }
    for g in recorded.difference(&want) {
        if let Some(gp) = cx.pushed("group", g).await? {
            match cx
                .target
                .patch_members(&gp.remote_id, &[], &[rid.to_owned()])
                .await
            {
                Ok(()) => {}
                Err(e) if e.status() == Some(404) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let mut tx = cx.services.store.begin_write().await?;
        provisioning_map::remove_membership(&mut tx, cx.app(), g, &d.id).await?;
        tx.commit().await.map_err(Error::from)?;
        r.members_removed += 1;
    }
    Ok(())
}

/// Removes a user that left the scope or was deleted: delete or disable per the deprovision mode.
pub async fn deprovision_user(cx: &Cx, pushed: &PushedObject) -> Result<Delivered, DeliverError> {
    let p = &cx.profile;
    let mut r = delivered(Outcome::Same);
    if p.deprovision_disable {
        if !pushed.active {
            return Ok(r);
        }
        if !p.user_delete {
            return Ok(delivered(Outcome::Skipped));
        }
        // Out of scope: out of its groups too.
        r.members_removed += leave_pushed_groups(cx, pushed).await?;
        if cx.target.disable_user(&pushed.remote_id).await? {
            let mut o = pushed.clone();
            o.active = false;
            o.synced_at = cx.now();
            cx.record(o).await?;
            r.outcome = Outcome::Disabled;
        } else {
            // Gone on the target already.
            forget(cx, "user", &pushed.object_id).await?;
            r.outcome = Outcome::Deleted;
        }
        Ok(r)
    } else {
        if !p.user_delete {
            return Ok(delivered(Outcome::Skipped));
        }
        // Not every target drops a deleted user's memberships (scim2-server keeps them): remove
        // them first, so no group keeps a member that names no user.
        r.members_removed += leave_pushed_groups(cx, pushed).await?;
        cx.target.delete(Endpoint::Users, &pushed.remote_id).await?;
        forget(cx, "user", &pushed.object_id).await?;
        r.outcome = Outcome::Deleted;
        Ok(r)
    }
}

/// Removes a pushed user from every group it was pushed into (on the target, then in the map);
/// returns how many memberships were removed. A group already gone (404) counts as done.
async fn leave_pushed_groups(cx: &Cx, pushed: &PushedObject) -> Result<i64, DeliverError> {
    let groups = {
        let mut conn = cx.services.store.read().await?;
        provisioning_map::user_groups(&mut conn, cx.app(), &pushed.object_id).await?
    };
    let mut removed = 0;
    for g in &groups {
        if let Some(gp) = cx.pushed("group", g).await? {
            match cx
                .target
                .patch_members(&gp.remote_id, &[], std::slice::from_ref(&pushed.remote_id))
                .await
            {
                Ok(()) => removed += 1,
                Err(e) if e.status() == Some(404) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    let mut tx = cx.services.store.begin_write().await?;
    provisioning_map::remove_user_memberships(&mut tx, cx.app(), &pushed.object_id).await?;
    tx.commit().await.map_err(Error::from)?;
    Ok(removed)
}

/// Forgets an object and its memberships.
async fn forget(cx: &Cx, object_type: &str, id: &str) -> Result<(), Error> {
    let mut tx = cx.services.store.begin_write().await?;
    provisioning_map::delete(&mut tx, cx.app(), object_type, id).await?;
    if object_type == "user" {
        provisioning_map::remove_user_memberships(&mut tx, cx.app(), id).await?;
    } else {
        provisioning_map::remove_group_memberships(&mut tx, cx.app(), id).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Pushes a group's current state and its membership difference (see the module docs).
pub async fn deliver_group(cx: &Cx, group_id: &str) -> Result<DeliveryReport, DeliverError> {
    let p = &cx.profile;
    let desired = plan::desired_group(cx, group_id).await?;
    let pushed = cx.pushed("group", group_id).await?;
    match (desired, pushed) {
        (Some(d), None) => {
            if !p.group_create {
                return Ok(report(delivered(Outcome::Skipped), &d.display_name));
            }
            let members = cx.remote_user_ids(&d.members).await?;
            let member_rids: Vec<String> = members.iter().map(|(_, r)| r.clone()).collect();
            let mut r = delivered(Outcome::Created);
            // Never pushed, yet it may exist: a POST the target accepted but whose answer was
            // lost (time-out) or a crash before it was recorded. Adopt it rather than POST again
            // (targets that allow duplicate displayNames would keep both).
            let rid = if let Some(existing) = cx.find_existing_group(&d).await? {
                r.outcome = Outcome::Bound;
                adopt_group(cx, &d, &existing, &member_rids, &mut r).await?
            } else {
                // AWS creates groups empty; members follow with PATCH add.
                let inline = if cx.target.aws {
                    &[][..]
                } else {
                    &member_rids[..]
                };
                match cx
                    .target
                    .create(Endpoint::Groups, &group_body(&d, inline))
                    .await
                {
                    Ok((rid, _)) => {
                        if cx.target.aws {
                            cx.target.patch_members(&rid, &member_rids, &[]).await?;
                        }
                        r.members_added += member_rids.len() as i64;
                        rid
                    }
                    Err(e) if e.status() == Some(409) => {
                        let existing = cx.find_group(&d).await?.ok_or_else(|| {
                            TargetError::Unresolvable(format!("displayName {}", d.display_name))
                        })?;
                        r.outcome = Outcome::Bound;
                        adopt_group(cx, &d, &existing, &member_rids, &mut r).await?
                    }
                    Err(e) => return Err(e.into()),
                }
            };
            let mut tx = cx.services.store.begin_write().await?;
            provisioning_map::upsert(
                &mut tx,
                &cx.pushed_object("group", group_id, &rid, &d.display_name, &d.hash, true),
            )
            .await?;
            for (u, _) in &members {
                provisioning_map::add_membership(&mut tx, cx.app(), group_id, u).await?;
            }
            tx.commit().await.map_err(Error::from)?;
            Ok(report(r, &d.display_name))
        }
        (Some(d), Some(pushed)) => {
            let mut r = delivered(Outcome::Same);
            let rid = pushed.remote_id.clone();
            if d.hash != pushed.state_hash {
                if !p.group_update {
                    return Ok(report(delivered(Outcome::Skipped), &d.display_name));
                }
                match cx.target.patch_group_attributes(&rid, &d).await {
                    Ok(()) => r.outcome = Outcome::Updated,
                    Err(e) if e.status() == Some(404) => {
                        // Gone on the target: forget it and create it again (members included).
                        forget(cx, "group", group_id).await?;
                        return Box::pin(deliver_group(cx, group_id)).await;
                    }
                    Err(e) => return Err(e.into()),
                }
                cx.record(cx.pushed_object(
                    "group",
                    group_id,
                    &rid,
                    &d.display_name,
                    &d.hash,
                    true,
                ))
                .await?;
            }
            if !p.group_update && !p.group_create {
                return Ok(report(r, &d.display_name));
            }
            // Membership difference against what was pushed.
            let recorded: BTreeSet<String> = {
                let mut conn = cx.services.store.read().await?;
                provisioning_map::group_members(&mut conn, cx.app(), group_id)
                    .await?
                    .into_iter()
                    .collect()
            };
            let want_pushed = cx.remote_user_ids(&d.members).await?;
            let want: BTreeSet<String> = want_pushed.iter().map(|(u, _)| u.clone()).collect();
            let add: Vec<(String, String)> = want_pushed
                .iter()
                .filter(|(u, _)| !recorded.contains(u))
                .cloned()
                .collect();
            let removed_users: Vec<String> = recorded.difference(&want).cloned().collect();
            let mut remove_rids = Vec::new();
            {
                let mut conn = cx.services.store.read().await?;
                for u in &removed_users {
                    if let Some(up) = provisioning_map::get(&mut conn, cx.app(), "user", u).await? {
                        remove_rids.push(up.remote_id);
                    }
                }
            }
            let add_rids: Vec<String> = add.iter().map(|(_, r)| r.clone()).collect();
            if !add_rids.is_empty() || !remove_rids.is_empty() {
                match cx.target.patch_members(&rid, &add_rids, &remove_rids).await {
                    Ok(()) => {}
                    Err(e) if e.status() == Some(404) => {
                        forget(cx, "group", group_id).await?;
                        return Box::pin(deliver_group(cx, group_id)).await;
                    }
                    Err(e) => return Err(e.into()),
                }
                let mut tx = cx.services.store.begin_write().await?;
                for (u, _) in &add {
                    provisioning_map::add_membership(&mut tx, cx.app(), group_id, u).await?;
                }
                for u in &removed_users {
                    provisioning_map::remove_membership(&mut tx, cx.app(), group_id, u).await?;
                }
                tx.commit().await.map_err(Error::from)?;
                r.members_added += add.len() as i64;
                r.members_removed += removed_users.len() as i64;
                if r.outcome == Outcome::Same {
                    r.outcome = Outcome::Updated;
                }
            }
            Ok(report(r, &d.display_name))
        }
        (None, Some(pushed)) => {
            if !p.group_delete {
                return Ok(report(delivered(Outcome::Skipped), &pushed.remote_key));
            }
            cx.target
                .delete(Endpoint::Groups, &pushed.remote_id)
                .await?;
            forget(cx, "group", group_id).await?;
            Ok(report(delivered(Outcome::Deleted), &pushed.remote_key))
        }
        (None, None) => Ok(report(delivered(Outcome::Same), group_id)),
    }
}

/// Adopts an existing remote group: sets its attributes when they drifted and brings its members
/// in line with `member_rids`, reading its current members as a full sync does (the listing's
/// member list is not trusted: AWS and others return it empty). Counts the memberships actually
/// added and removed into `r`; returns the remote id.
async fn adopt_group(
    cx: &Cx,
    d: &DesiredGroup,
    existing: &Value,
    member_rids: &[String],
    r: &mut Delivered,
) -> Result<String, DeliverError> {
    let rid = existing["id"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ClientError::Decode("group without id".into()))?
        .to_owned();
    if plan::drifted(&d.resource, existing) {
        cx.target.patch_group_attributes(&rid, d).await?;
    }
    // Candidates for the member probes: every user pushed to this application.
    let candidates: Vec<String> = {
        let mut conn = cx.services.store.read().await?;
        provisioning_map::list(&mut conn, cx.app(), "user")
            .await?
            .into_iter()
            .map(|p| p.remote_id)
            .collect()
    };
    let remote = cx.target.group_members(existing, &candidates).await?;
    let want: BTreeSet<String> = member_rids.iter().cloned().collect();
    let add: Vec<String> = want.difference(&remote).cloned().collect();
    let remove: Vec<String> = remote.difference(&want).cloned().collect();
    cx.target.patch_members(&rid, &add, &remove).await?;
    r.members_added += add.len() as i64;
    r.members_removed += remove.len() as i64;
    Ok(rid)
}

/// The member ids (`members[].value`) of a group resource.
pub fn member_values(group: &Value) -> BTreeSet<String> {
    group["members"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["value"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
