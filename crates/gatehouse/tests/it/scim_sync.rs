//! Account sync end to end (issue 4): IDaaS pushes 2,000 users in 50 groups to a SCIM 2.0 target
//! with "Push Now", the remote state read back over SCIM must EQUAL the expected state exactly;
//! then 100 updates, 50 group removals, 20 disables, 10 deletions and 30 moves out of scope go
//! through the outbox and the target must converge to the new expected state (deprovisioning
//! included); a second full sync reports only `same`.
//!
//! IDaaS and Cloud SSO run in-process on SQLite (cheap Argon2, no passwords). Targets: our Cloud
//! SSO's SCIM server, and scim2-server from PyPI (`interop/scim/target_server.py`; SKIP when the
//! venv lacks it unless `GATEHOUSE_REQUIRE_PEERS=1`).
//!
//! The expected state comes from the test's own model of the directory (not from IDaaS): a user is
//! in scope when in the org unit `staff` or in one of the 50 groups (all in scope); the target has
//! every user in scope (`userName` = account name lower-cased as for the Cloud SSO template,
//! `externalId` = IDaaS id, `displayName`, one primary work e-mail, `active` = enabled), every group
//! (`externalId` = IDaaS id) with exactly its members that are in scope and enabled (a disabled
//! user is kept out of its groups), nothing else, and no member id that names no user.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Scim2Server, temp_dir};

/// Users in scope.
pub(crate) const USERS: usize = 2_000;
/// Groups (all in scope).
pub(crate) const GROUPS: usize = 50;
/// Users out of scope (never pushed).
pub(crate) const OUTSIDERS: usize = 100;

// ---------------------------------------------------------------------------------------------
// IDaaS admin API.

/// The admin API of one IDaaS instance.
pub(crate) struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
    pub iid: String,
}

impl Api {
    /// Creates instance `Acme` with the platform token `token` on the server at `base`.
    pub async fn new(base: &str, token: &str) -> Api {
        let mut api = Api {
            http: reqwest::Client::new(),
            base: base.to_owned(),
            token: token.to_owned(),
            iid: String::new(),
        };
        let (st, inst) = api
            .raw(
                Method::POST,
                &format!("{base}/api/v1/instances"),
                Some(json!({ "name": "Acme" })),
            )
            .await;
        assert_eq!(st, 201, "create instance: {inst}");
        api.iid = inst["id"].as_str().unwrap().to_owned();
        api
    }

    /// The same instance through another server (a restarted process).
    pub fn at(&self, base: &str) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: base.to_owned(),
            token: self.token.clone(),
            iid: self.iid.clone(),
        }
    }

    pub async fn raw(&self, m: Method, url: &str, body: Option<Value>) -> (u16, Value) {
        let mut rb = self.http.request(m, url).bearer_auth(&self.token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        let st = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            st,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// `path` under `/api/v1/instances/{iid}`; panics unless 2xx.
    pub async fn call(&self, m: Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/api/v1/instances/{}{path}", self.base, self.iid);
        let (st, v) = self.raw(m.clone(), &url, body).await;
        assert!((200..300).contains(&st), "{m} {path}: {st} {v}");
        v
    }

    /// CSV import; panics unless every row was created.
    pub async fn import(&self, csv: String) -> Value {
        let url = format!("{}/api/v1/instances/{}/users:import", self.base, self.iid);
        let r = self
            .http
            .post(url)
            .bearer_auth(&self.token)
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
            .unwrap();
        let st = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        assert_eq!(st, 200, "import: {v}");
        assert_eq!(v["failed"], 0, "import failures: {v}");
        v
    }

    /// A Cloud SSO application (template defaults: userName lower-cased) with provisioning to
    /// `scim` for `scope`, deprovisioning by delete. Enabling enqueues everything in scope.
    pub async fn provisioning_app(&self, scim: &ScimClient, scope: Value) -> String {
        let app = self
            .call(
                Method::POST,
                "/apps",
                Some(json!({ "template_id": "apt_cloudsso_saml" })),
            )
            .await;
        let app = app["id"].as_str().unwrap().to_owned();
        self.call(
            Method::PUT,
            &format!("/apps/{app}/provisioning"),
            Some(json!({
                "enabled": true,
                "base_url": scim.base,
                "auth": { "mode": "bearer_token", "access_token": scim.token },
                "scope": scope,
                "deprovision_mode": "delete",
            })),
        )
        .await;
        app
    }

    /// Starts "Push Now" and waits for it to end (deadline `max`); the job and the wall time
    /// from the start request to the first poll that saw it finished.
    pub async fn push_now(&self, app: &str, max: Duration) -> (Value, Duration) {
        let t0 = Instant::now();
        let p = format!("/apps/{app}/provisioning/sync-jobs");
        let job = self.call(Method::POST, &p, Some(json!({}))).await;
        let id = job["id"].as_str().unwrap().to_owned();
        let deadline = t0 + max;
        loop {
            let job = self.call(Method::GET, &format!("{p}/{id}"), None).await;
            let s = job["status"].as_str().unwrap();
            if s != "pending" && s != "running" {
                return (job, t0.elapsed());
            }
            assert!(Instant::now() < deadline, "full sync did not end: {job}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The failed items of a job (evidence for a failure message).
    pub async fn failed_items(&self, app: &str, job: &Value) -> Value {
        let id = job["id"].as_str().unwrap();
        self.call(
            Method::GET,
            &format!("/apps/{app}/provisioning/sync-jobs/{id}/items?failed=true&limit=20"),
            None,
        )
        .await
    }

    /// `GET …/outbox` (pending and dead counts, first entries).
    pub async fn outbox(&self, app: &str) -> Value {
        self.call(
            Method::GET,
            &format!("/apps/{app}/provisioning/outbox?limit=20"),
            None,
        )
        .await
    }
}

// ---------------------------------------------------------------------------------------------
// The directory model.

/// One user as the test made it.
#[derive(Debug, Clone)]
pub(crate) struct MUser {
    pub id: String,
    pub username: String,
    pub display: String,
    pub email: String,
    pub active: bool,
    pub in_staff: bool,
    pub groups: BTreeSet<usize>,
    pub deleted: bool,
}

impl MUser {
    fn in_scope(&self) -> bool {
        !self.deleted && (self.in_staff || !self.groups.is_empty())
    }
}

/// The IDaaS directory as the test made it.
pub(crate) struct Directory {
    pub staff: String,
    pub elsewhere: String,
    /// (id, name).
    pub groups: Vec<(String, String)>,
    /// Users in scope at seeding, then the outsiders.
    pub users: Vec<MUser>,
}

/// The groups of in-scope user `i`: 90 % are in `staff`; most are in one group, every third in
/// another one too, some (in `staff`) in none; every user outside `staff` is in at least one.
fn groups_of(i: usize, in_staff: bool, groups: usize) -> BTreeSet<usize> {
    let mut g = BTreeSet::new();
    if !i.is_multiple_of(5) || !in_staff {
        g.insert(i % groups);
    }
    if i.is_multiple_of(3) {
        g.insert((i * 7 + 3) % groups);
    }
    g
}

impl Directory {
    /// Two org units (`staff` in scope, `elsewhere` not), `groups` groups and `users` users in
    /// scope plus `outsiders` out of scope, through the admin API (one CSV import).
    pub async fn seed(api: &Api, users: usize, groups: usize, outsiders: usize) -> Directory {
        let ou = |name: &str| {
            api.call(
                Method::POST,
                "/org-units",
                Some(json!({ "name": name.to_owned() })),
            )
        };
        let staff = ou("staff").await["id"].as_str().unwrap().to_owned();
        let elsewhere = ou("elsewhere").await["id"].as_str().unwrap().to_owned();
        let mut gs = Vec::new();
        for g in 0..groups {
            let name = format!("team-{g:02}");
            let v = api
                .call(Method::POST, "/groups", Some(json!({ "name": name })))
                .await;
            gs.push((v["id"].as_str().unwrap().to_owned(), name));
        }
        let mut model = Vec::new();
        for i in 0..users + outsiders {
            let outsider = i >= users;
            let in_staff = !outsider && i < users * 9 / 10;
            let username = if outsider {
                format!("Outsider{i:05}")
            } else {
                format!("User{i:05}")
            };
            model.push(MUser {
                id: String::new(),
                display: format!("{username} Example"),
                email: format!("{}@example.com", username.to_lowercase()),
                username,
                active: true,
                in_staff,
                groups: if outsider {
                    BTreeSet::new()
                } else {
                    groups_of(i, in_staff, groups)
                },
                deleted: false,
            });
        }
        let mut csv = String::from("username,display_name,email,org_unit,groups\n");
        for u in &model {
            let names: Vec<&str> = u.groups.iter().map(|g| gs[*g].1.as_str()).collect();
            csv.push_str(&format!(
                "{},{},{},{},{}\n",
                u.username,
                u.display,
                u.email,
                if u.in_staff { &staff } else { &elsewhere },
                names.join(";")
            ));
        }
        let report = api.import(csv).await;
        let rows = report["rows"].as_array().unwrap();
        assert_eq!(rows.len(), model.len());
        for (u, row) in model.iter_mut().zip(rows) {
            assert_eq!(row["username"].as_str(), Some(u.username.as_str()), "{row}");
            u.id = row["user_id"].as_str().unwrap().to_owned();
        }
        Directory {
            staff,
            elsewhere,
            groups: gs,
            users: model,
        }
    }

    /// The provisioning scope: `staff` and every group.
    pub fn scope(&self) -> Value {
        json!({
            "org_unit_ids": [self.staff],
            "group_ids": self.groups.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
        })
    }

    /// The state the target must end up in.
    pub fn expected(&self) -> State {
        let mut s = State::default();
        for u in self.users.iter().filter(|u| u.in_scope()) {
            s.users.insert(
                u.username.to_lowercase(),
                RUser {
                    external_id: Some(u.id.clone()),
                    display_name: Some(u.display.clone()),
                    emails: BTreeSet::from([(u.email.clone(), Some("work".to_owned()), true)]),
                    active: Some(u.active),
                },
            );
        }
        for (gi, (id, name)) in self.groups.iter().enumerate() {
            let members = self
                .users
                .iter()
                .filter(|u| u.in_scope() && u.active && u.groups.contains(&gi))
                .map(|u| u.username.to_lowercase())
                .collect();
            s.groups.insert(
                name.clone(),
                RGroup {
                    external_id: Some(id.clone()),
                    members,
                },
            );
        }
        s
    }
}

// ---------------------------------------------------------------------------------------------
// The remote state over SCIM.

/// A user as compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RUser {
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    /// (value, type, primary).
    pub emails: BTreeSet<(String, Option<String>, bool)>,
    pub active: Option<bool>,
}

/// A group as compared: members by (lower-cased) userName.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RGroup {
    pub external_id: Option<String>,
    pub members: BTreeSet<String>,
}

/// Users by lower-cased userName, groups by displayName.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct State {
    pub users: BTreeMap<String, RUser>,
    pub groups: BTreeMap<String, RGroup>,
}

/// A SCIM client for one target.
pub(crate) struct ScimClient {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl ScimClient {
    pub fn new(base: &str, token: &str) -> ScimClient {
        ScimClient {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        }
    }

    /// GET `path` (with query); panics unless 200.
    pub async fn get(&self, path: &str) -> Value {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let st = r.status();
        let text = r.text().await.unwrap();
        assert_eq!(st.as_u16(), 200, "GET {path}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// `totalResults` of `GET /{ep}?count=0`.
    pub async fn total(&self, ep: &str) -> u64 {
        self.get(&format!("/{ep}?count=0")).await["totalResults"]
            .as_u64()
            .unwrap()
    }

    /// Every resource of `/{ep}`, following `startIndex` until `totalResults`.
    pub async fn list_all(&self, ep: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut start = 1;
        loop {
            let page = self
                .get(&format!("/{ep}?startIndex={start}&count=500"))
                .await;
            let total = page["totalResults"].as_u64().unwrap() as usize;
            let items = page["Resources"].as_array().cloned().unwrap_or_default();
            let n = items.len();
            out.extend(items);
            if n == 0 || out.len() >= total {
                assert_eq!(out.len(), total, "paging /{ep} lost or repeated items");
                return out;
            }
            start += n;
        }
    }

    /// The remote state, and what is wrong with it regardless of any expectation: two users
    /// with the same userName or externalId, two groups with the same displayName or
    /// externalId, member ids that name no user.
    pub async fn state(&self) -> (State, Vec<String>) {
        let mut problems = Vec::new();
        let mut s = State::default();
        let mut by_id: BTreeMap<String, String> = BTreeMap::new();
        let mut ext_seen: BTreeMap<String, String> = BTreeMap::new();
        for u in self.list_all("Users").await {
            let name = u["userName"].as_str().unwrap().to_lowercase();
            let id = u["id"].as_str().unwrap().to_owned();
            let emails = u["emails"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|e| {
                            (
                                e["value"].as_str().unwrap_or_default().to_owned(),
                                e["type"].as_str().map(str::to_owned),
                                e["primary"].as_bool().unwrap_or(false),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let ru = RUser {
                external_id: u["externalId"].as_str().map(str::to_owned),
                display_name: u["displayName"].as_str().map(str::to_owned),
                emails,
                active: u["active"].as_bool(),
            };
            if let Some(x) = &ru.external_id
                && let Some(other) = ext_seen.insert(x.clone(), name.clone())
            {
                problems.push(format!(
                    "duplicate externalId {x}: users {other} and {name}"
                ));
            }
            if s.users.insert(name.clone(), ru).is_some() {
                problems.push(format!("duplicate userName {name}"));
            }
            by_id.insert(id, name);
        }
        let mut gext_seen = BTreeSet::new();
        for g in self.list_all("Groups").await {
            let id = g["id"].as_str().unwrap();
            // Read each group on its own: the full member list whatever the listing returns.
            let g = self.get(&format!("/Groups/{id}")).await;
            let name = g["displayName"].as_str().unwrap().to_owned();
            let mut members = BTreeSet::new();
            for m in g["members"].as_array().cloned().unwrap_or_default() {
                let v = m["value"].as_str().unwrap_or_default();
                match by_id.get(v) {
                    Some(n) => {
                        members.insert(n.clone());
                    }
                    None => problems.push(format!("group {name}: member {v} names no user")),
                }
            }
            let external_id = g["externalId"].as_str().map(str::to_owned);
            if let Some(x) = &external_id
                && !gext_seen.insert(x.clone())
            {
                problems.push(format!("duplicate group externalId {x}"));
            }
            if s.groups
                .insert(
                    name.clone(),
                    RGroup {
                        external_id,
                        members,
                    },
                )
                .is_some()
            {
                problems.push(format!("duplicate group displayName {name}"));
            }
        }
        (s, problems)
    }

    /// Every difference between the remote state and `want` (empty: equal, nothing duplicated,
    /// no dangling member).
    pub async fn diff(&self, want: &State) -> Vec<String> {
        let (got, mut out) = self.state().await;
        for (n, u) in &want.users {
            match got.users.get(n) {
                None => out.push(format!("user {n} missing")),
                Some(g) if g != u => out.push(format!("user {n}: remote {g:?}, expected {u:?}")),
                _ => {}
            }
        }
        for n in got.users.keys().filter(|n| !want.users.contains_key(*n)) {
            out.push(format!("user {n} should not be there"));
        }
        for (n, w) in &want.groups {
            match got.groups.get(n) {
                None => out.push(format!("group {n} missing")),
                Some(g) => {
                    if g.external_id != w.external_id {
                        out.push(format!(
                            "group {n}: externalId {:?}, expected {:?}",
                            g.external_id, w.external_id
                        ));
                    }
                    let extra: Vec<_> = g.members.difference(&w.members).collect();
                    let missing: Vec<_> = w.members.difference(&g.members).collect();
                    if !extra.is_empty() || !missing.is_empty() {
                        out.push(format!(
                            "group {n}: members not expected {extra:?}, members missing {missing:?}"
                        ));
                    }
                }
            }
        }
        for n in got.groups.keys().filter(|n| !want.groups.contains_key(*n)) {
            out.push(format!("group {n} should not be there"));
        }
        out
    }
}

/// Formats the first differences for a failure message.
pub(crate) fn show(diff: &[String]) -> String {
    let mut s: Vec<String> = diff.iter().take(25).cloned().collect();
    if diff.len() > 25 {
        s.push(format!("… {} more", diff.len() - 25));
    }
    s.join("\n  ")
}

/// Waits until the outbox is empty and the target equals `want`; fails at once on a dead letter,
/// and when the same difference stays with an empty outbox for 30 s (nothing left to deliver it).
pub(crate) async fn converge(api: &Api, app: &str, scim: &ScimClient, want: &State, max: Duration) {
    let deadline = Instant::now() + max;
    let mut last = Vec::new();
    let mut stable_since: Option<Instant> = None;
    loop {
        let ob = api.outbox(app).await;
        assert_eq!(ob["dead"], 0, "dead-lettered outbox entries: {ob}");
        if ob["pending"] == 0 {
            let diff = scim.diff(want).await;
            if diff.is_empty() {
                return;
            }
            if diff != last {
                stable_since = Some(Instant::now());
            }
            last = diff;
            let stuck = stable_since.is_some_and(|t| t.elapsed() > Duration::from_secs(30));
            assert!(
                !stuck,
                "the outbox is empty but the target stays different ({} differences):\n  {}",
                last.len(),
                show(&last)
            );
        } else {
            stable_since = None;
        }
        assert!(
            Instant::now() < deadline,
            "no convergence within {max:?}; outbox {ob}; {} differences:\n  {}",
            last.len(),
            show(&last)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Servers.

/// IDaaS in-process on SQLite in `dir` with a platform token; provisioning polls and retries fast.
pub(crate) async fn start_idaas(dir: &Path) -> (idaas::RunningServer, Api) {
    let db = format!("sqlite://{}?mode=rwc", dir.join("idaas.db").display());
    let mut config = idaas::Config::for_tests(db);
    config.provisioning_poll_ms = 100;
    config.provisioning_backoff_base_ms = 100;
    config.provisioning_backoff_cap_ms = 2_000;
    let server = idaas::Server::start(config).await.unwrap();
    let token = server
        .services()
        .create_api_token(
            &idaas::audit::Actor::system(),
            None,
            idaas::api_token::TokenName::try_from("scim-sync".to_owned()).unwrap(),
            None,
        )
        .await
        .unwrap()
        .secret;
    let api = Api::new(server.base_url(), &token).await;
    (server, api)
}

/// Cloud SSO in-process on SQLite in `dir`: one directory with SCIM synchronization on and one
/// credential; the SCIM client for it.
pub(crate) async fn start_cloudsso(dir: &Path) -> (cloudsso::RunningServer, ScimClient) {
    use cloudsso::audit::Actor;
    let db = format!("sqlite://{}?mode=rwc", dir.join("cloudsso.db").display());
    let server = cloudsso::Server::start(cloudsso::Config::for_tests(db))
        .await
        .unwrap();
    let s = server.services();
    let d = s
        .create_directory(
            &Actor::system(),
            cloudsso::directory::DirectoryName::try_from("acme".to_owned()).unwrap(),
        )
        .await
        .unwrap();
    s.set_scim_synchronization(&Actor::system(), &d.id, true)
        .await
        .unwrap();
    let c = s
        .create_scim_credential(&Actor::system(), &d.id)
        .await
        .unwrap();
    let scim = ScimClient::new(&s.scim_endpoint(), &c.credential_secret);
    (server, scim)
}

// ---------------------------------------------------------------------------------------------
// The scenario.

fn counts_line(job: &Value) -> String {
    format!(
        "status {} total {} done {} counts {}",
        job["status"], job["total"], job["done"], job["counts"]
    )
}

/// Full sync, check, mutate, converge, second full sync all `same`.
async fn scenario(label: &str, scim: &ScimClient) {
    let dir = temp_dir(&format!("scim-sync-{label}"));
    let (idaas, api) = start_idaas(&dir).await;
    let mut d = Directory::seed(&api, USERS, GROUPS, OUTSIDERS).await;
    let app = api.provisioning_app(scim, d.scope()).await;

    // 1. Push Now: 2,000 users in 50 groups.
    let (job, wall) = api.push_now(&app, Duration::from_secs(900)).await;
    eprintln!(
        "{label}: first full sync in {wall:.1?}: {}",
        counts_line(&job)
    );
    assert_eq!(
        job["status"],
        "success",
        "{}; failed items {}",
        counts_line(&job),
        api.failed_items(&app, &job).await
    );
    let c = &job["counts"];
    let sum = |k: &str| {
        ["created", "bound", "same"]
            .iter()
            .map(|f| c[k][f].as_i64().unwrap_or(0))
            .sum::<i64>()
    };
    assert_eq!(sum("user"), USERS as i64, "{}", counts_line(&job));
    assert_eq!(sum("group"), GROUPS as i64, "{}", counts_line(&job));
    let want = d.expected();
    assert_eq!(want.users.len(), USERS);
    let diff = scim.diff(&want).await;
    assert!(
        diff.is_empty(),
        "{label}: after the full sync, {} differences:\n  {}",
        diff.len(),
        show(&diff)
    );
    // The outbox filled by enabling provisioning drains without changing anything.
    converge(&api, &app, scim, &want, Duration::from_secs(300)).await;

    // 2. Incremental changes through the outbox.
    let pick = |d: &Directory, r: usize, n: usize, ok: &dyn Fn(&MUser) -> bool| -> Vec<usize> {
        let v: Vec<usize> = (0..USERS)
            .filter(|i| i % 7 == r && ok(&d.users[*i]))
            .take(n)
            .collect();
        assert_eq!(v.len(), n);
        v
    };
    let updated = pick(&d, 1, 100, &|_| true);
    let ungrouped = pick(&d, 2, 50, &|u| u.in_staff && !u.groups.is_empty());
    let disabled = pick(&d, 3, 20, &|u| !u.groups.is_empty());
    let deleted = pick(&d, 4, 10, &|u| !u.groups.is_empty());
    let moved = pick(&d, 5, 30, &|u| u.in_staff && u.groups.is_empty());
    for &i in &updated {
        let u = &mut d.users[i];
        u.display = format!("{} Renamed", u.username);
        u.email = format!("{}.new@example.com", u.username.to_lowercase());
        api.call(
            Method::PATCH,
            &format!("/users/{}", u.id),
            Some(json!({ "display_name": u.display, "email": u.email })),
        )
        .await;
    }
    for &i in &ungrouped {
        let u = &mut d.users[i];
        let g = *u.groups.iter().next().unwrap();
        u.groups.remove(&g);
        api.call(
            Method::DELETE,
            &format!("/groups/{}/members/{}", d.groups[g].0, u.id),
            None,
        )
        .await;
    }
    for &i in &disabled {
        let u = &mut d.users[i];
        u.active = false;
        api.call(
            Method::PATCH,
            &format!("/users/{}", u.id),
            Some(json!({ "status": "disabled" })),
        )
        .await;
    }
    for &i in &deleted {
        let u = &mut d.users[i];
        u.deleted = true;
        api.call(Method::DELETE, &format!("/users/{}", u.id), None)
            .await;
    }
    for &i in &moved {
        let u = &mut d.users[i];
        u.in_staff = false;
        api.call(
            Method::POST,
            &format!("/users/{}/org-units", u.id),
            Some(json!({ "org_unit_id": d.elsewhere, "primary": true })),
        )
        .await;
        api.call(
            Method::DELETE,
            &format!("/users/{}/org-units/{}", u.id, d.staff),
            None,
        )
        .await;
    }
    let want = d.expected();
    assert_eq!(want.users.len(), USERS - 10 - 30);
    converge(&api, &app, scim, &want, Duration::from_secs(300)).await;
    // Deprovisioning reached the target: left the scope and deleted → gone; disabled → inactive
    // and out of every group; left a group → not a member there (all part of `want`, spelled out).
    let (got, _) = scim.state().await;
    for &i in moved.iter().chain(&deleted) {
        assert!(!got.users.contains_key(&d.users[i].username.to_lowercase()));
    }
    for &i in &disabled {
        let n = d.users[i].username.to_lowercase();
        assert_eq!(got.users[&n].active, Some(false));
        assert!(got.groups.values().all(|g| !g.members.contains(&n)));
    }

    // 3. A second full sync finds nothing to do.
    let (job, wall) = api.push_now(&app, Duration::from_secs(900)).await;
    eprintln!(
        "{label}: second full sync in {wall:.1?}: {}",
        counts_line(&job)
    );
    assert_eq!(job["status"], "success", "{}", counts_line(&job));
    for (kind, kc) in job["counts"].as_object().unwrap() {
        for (field, n) in kc.as_object().unwrap() {
            if field != "same" {
                assert_eq!(
                    n.as_i64(),
                    Some(0),
                    "second full sync: {kind}.{field} = {n}; {}",
                    counts_line(&job)
                );
            }
        }
    }
    assert_eq!(
        job["counts"]["user"]["same"].as_i64(),
        Some(want.users.len() as i64),
        "{}",
        counts_line(&job)
    );
    let diff = scim.diff(&want).await;
    assert!(
        diff.is_empty(),
        "after the second full sync:\n  {}",
        show(&diff)
    );
    idaas.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn scim_sync_2000_users_to_cloudsso() {
    let dir = temp_dir("scim-sync-cloudsso-target");
    let (cloudsso, scim) = start_cloudsso(&dir).await;
    scenario("cloudsso", &scim).await;
    cloudsso.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn scim_sync_2000_users_to_scim2_server() {
    let Some(peer) = Scim2Server::start("scim_sync_2000_users_to_scim2_server") else {
        return;
    };
    let scim = ScimClient::new(&peer.base, &peer.token);
    scenario("scim2-server", &scim).await;
}
