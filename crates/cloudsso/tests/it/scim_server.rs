//! The SCIM 2.0 server (issue 4) over HTTP, on SQLite and PostgreSQL: CRUD, filters, sorting and
//! paging, projection, ETags, PATCH of members, Bulk, discovery, and bad input (right status and
//! scimType, nothing written).

use std::collections::BTreeSet;

use cloudsso::audit::Actor;
use cloudsso::group::{GroupName, NewGroup};
use cloudsso::scim_credential::ScimCredentialStatus;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_servers;
use crate::support::TestServer;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const BULK: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// A SCIM client for one directory.
struct Scim {
    base: String,
    token: String,
    client: reqwest::Client,
    directory_id: String,
    credential_id: String,
}

struct Resp {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Resp {
    fn scim_type(&self) -> Option<&str> {
        self.body["scimType"].as_str()
    }

    #[track_caller]
    fn expect(&self, status: u16, scim_type: Option<&str>) -> &Self {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        if status >= 400 {
            assert_eq!(
                self.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
                "{}",
                self.body
            );
            assert_eq!(self.body["status"], status.to_string(), "{}", self.body);
            assert_eq!(self.scim_type(), scim_type, "{}", self.body);
        }
        self
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Scim {
    async fn new(srv: &TestServer, dir_name: &str) -> Scim {
        let dir = srv.directory(dir_name).await;
        let s = &srv.services;
        s.set_scim_synchronization(&Actor::system(), &dir.id, true)
            .await
            .unwrap();
        let c = s
            .create_scim_credential(&Actor::system(), &dir.id)
            .await
            .unwrap();
        Scim {
            base: format!("{}/scim/v2", srv.base),
            token: c.credential_secret,
            client: srv.client.clone(),
            directory_id: dir.id,
            credential_id: c.credential.credential_id,
        }
    }

    async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut rb = self
            .client
            .request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.header("content-type", "application/scim+json").body(b);
        }
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        let r = rb.send().await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if !body.is_null() {
            assert_eq!(
                headers.get("content-type").and_then(|v| v.to_str().ok()),
                Some("application/scim+json"),
                "{path}"
            );
        }
        Resp {
            status,
            headers,
            body,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        self.call_with(method, path, body, &[]).await
    }

    async fn call_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        self.raw(
            method,
            path,
            Some(&self.token),
            body.map(|b| serde_json::to_vec(&b).unwrap()),
            headers,
        )
        .await
    }

    async fn create_user(&self, body: Value) -> Value {
        let r = self.call(Method::POST, "/Users", Some(body)).await;
        r.expect(201, None);
        r.body
    }

    async fn user(&self, user_name: &str) -> Value {
        self.create_user(json!({"schemas": [USER], "userName": user_name}))
            .await
    }

    async fn create_group(&self, name: &str, members: &[&str]) -> Value {
        let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
        let r = self
            .call(
                Method::POST,
                "/Groups",
                Some(json!({"schemas": [GROUP], "displayName": name, "members": members})),
            )
            .await;
        r.expect(201, None);
        r.body
    }

    /// The userNames of `GET /Users?filter=…` (all pages).
    async fn user_names(&self, filter: &str) -> BTreeSet<String> {
        let q = url_encode(filter);
        let r = self
            .call(Method::GET, &format!("/Users?count=1000&filter={q}"), None)
            .await;
        r.expect(200, None);
        names(&r.body, "userName")
    }

    async fn group_names(&self, filter: &str) -> BTreeSet<String> {
        let q = url_encode(filter);
        let r = self
            .call(Method::GET, &format!("/Groups?count=1000&filter={q}"), None)
            .await;
        r.expect(200, None);
        names(&r.body, "displayName")
    }

    async fn total(&self, endpoint: &str) -> u64 {
        let r = self.call(Method::GET, endpoint, None).await;
        r.expect(200, None);
        r.body["totalResults"].as_u64().unwrap()
    }

    /// (users, groups, memberships, audit events) of the directory, straight from the database.
    async fn counts(&self, srv: &TestServer) -> (i64, i64, i64, i64) {
        let mut conn = srv.services.store.read().await.unwrap();
        let mut out = [0i64; 4];
        let queries = [
            "SELECT COUNT(*) FROM users WHERE directory_id = $1",
            "SELECT COUNT(*) FROM groups WHERE directory_id = $1",
            "SELECT COUNT(*) FROM group_members gm JOIN groups g ON g.id = gm.group_id WHERE g.directory_id = $1",
            "SELECT COUNT(*) FROM audit_log WHERE directory_id = $1",
        ];
        for (slot, sql) in out.iter_mut().zip(queries) {
            *slot = sqlx::query_scalar::<_, i64>(sql)
                .bind(&self.directory_id)
                .fetch_one(&mut *conn)
                .await
                .unwrap();
        }
        let [users, groups, members, audit] = out;
        (users, groups, members, audit)
    }
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn names(list: &Value, attr: &str) -> BTreeSet<String> {
    list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[attr].as_str().unwrap().to_owned())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

both_servers!(user_crud_round_trip, |srv| {
    let scim = Scim::new(&srv, "scim-crud").await;
    let body = json!({
        "schemas": [USER, ENTERPRISE],
        "userName": "Alice@Example.com",
        "externalId": "idaas-1",
        "name": {"givenName": "Alice", "familyName": "Liddell", "middleName": "P"},
        "displayName": "Alice L",
        "emails": [{"value": "alice@example.com", "type": "work", "primary": true}],
        "phoneNumbers": [{"value": "+1 555 0100", "type": "mobile"}],
        "title": "Engineer",
        "active": true,
        ENTERPRISE: {"department": "R&D", "employeeNumber": "42"},
    });
    let r = scim.call(Method::POST, "/Users", Some(body.clone())).await;
    r.expect(201, None);
    let uid = id(&r.body);
    assert!(uid.starts_with("u-"));
    assert_eq!(
        r.header("location"),
        Some(format!("{}/Users/{uid}", scim.base).as_str())
    );
    assert_eq!(r.header("etag"), Some("W/\"1\""));
    assert_eq!(r.body["meta"]["version"], "W/\"1\"");
    assert_eq!(r.body["meta"]["resourceType"], "User");
    assert_eq!(r.body["meta"]["created"], "2026-01-01T00:00:00Z");
    for k in [
        "userName",
        "externalId",
        "name",
        "displayName",
        "emails",
        "phoneNumbers",
        "title",
        ENTERPRISE,
    ] {
        assert_eq!(r.body[k], body[k], "{k}");
    }

    // The Cloud SSO user behind it.
    let u = srv
        .services
        .get_user(&scim.directory_id, &uid)
        .await
        .unwrap();
    assert_eq!(u.user_name, "Alice@Example.com");
    assert_eq!(u.email.as_deref(), Some("alice@example.com"));
    assert_eq!(
        (u.first_name.as_str(), u.last_name.as_str()),
        ("Alice", "Liddell")
    );
    assert_eq!(
        u.provision_type,
        cloudsso::user::ProvisionType::Synchronized
    );

    // GET round trip.
    let g = scim.call(Method::GET, &format!("/Users/{uid}"), None).await;
    g.expect(200, None);
    assert_eq!(g.body, r.body);
    assert_eq!(g.header("etag"), Some("W/\"1\""));

    // userName is unique case-insensitively; e-mail is unique.
    let before = scim.counts(&srv).await;
    scim.call(
        Method::POST,
        "/Users",
        Some(json!({"schemas": [USER], "userName": "alice@EXAMPLE.com"})),
    )
    .await
    .expect(409, Some("uniqueness"));
    scim.call(
        Method::POST,
        "/Users",
        Some(json!({"schemas": [USER], "userName": "other", "emails": [{"value": "ALICE@example.com"}]})),
    )
    .await
    .expect(409, Some("uniqueness"));
    assert_eq!(scim.counts(&srv).await, before, "nothing written");

    // PUT replaces: absent attributes are cleared; a case-only userName change is accepted.
    let put = scim
        .call(
            Method::PUT,
            &format!("/Users/{uid}"),
            Some(
                json!({"schemas": [USER], "userName": "alice@example.com", "displayName": "Alice",
                        "active": false}),
            ),
        )
        .await;
    put.expect(200, None);
    assert_eq!(put.body["userName"], "alice@example.com");
    assert_eq!(put.body["active"], false);
    assert!(put.body.get("emails").is_none() && put.body.get("title").is_none());
    assert!(put.body.get("externalId").is_none());
    assert_eq!(put.header("etag"), Some("W/\"2\""));
    let u = srv
        .services
        .get_user(&scim.directory_id, &uid)
        .await
        .unwrap();
    assert_eq!(u.status, cloudsso::user::UserStatus::Disabled);
    assert_eq!(u.email, None);

    // Another userName: 400 mutability, nothing written.
    let before = scim.counts(&srv).await;
    scim.call(
        Method::PUT,
        &format!("/Users/{uid}"),
        Some(json!({"schemas": [USER], "userName": "bob"})),
    )
    .await
    .expect(400, Some("mutability"));
    scim.call(
        Method::PATCH,
        &format!("/Users/{uid}"),
        Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "userName", "value": "bob"}]})),
    )
    .await
    .expect(400, Some("mutability"));
    assert_eq!(scim.counts(&srv).await, before);
    let still = scim.call(Method::GET, &format!("/Users/{uid}"), None).await;
    assert_eq!(still.body["meta"]["version"], "W/\"2\"");

    // PATCH: replace with and without path, add an e-mail.
    let p = scim
        .call(
            Method::PATCH,
            &format!("/Users/{uid}"),
            Some(json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "Replace", "value": {"active": true, "displayName": "Alice P. L."}},
                {"op": "add", "path": "emails", "value": [{"value": "a2@example.com", "type": "home"}]},
                {"op": "replace", "path": "name.familyName", "value": "Smith"},
            ]})),
        )
        .await;
    p.expect(200, None);
    assert_eq!(p.body["active"], true);
    assert_eq!(p.body["displayName"], "Alice P. L.");
    assert_eq!(p.body["emails"][0]["value"], "a2@example.com");
    assert_eq!(p.body["name"]["familyName"], "Smith");
    let u = srv
        .services
        .get_user(&scim.directory_id, &uid)
        .await
        .unwrap();
    assert_eq!(u.email.as_deref(), Some("a2@example.com"));
    assert_eq!(u.last_name, "Smith");

    // groups is readOnly.
    scim.call(
        Method::PATCH,
        &format!("/Users/{uid}"),
        Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "groups", "value": [{"value": "g-x"}]}]})),
    )
    .await
    .expect(400, Some("mutability"));

    // DELETE, then 404.
    scim.call(Method::DELETE, &format!("/Users/{uid}"), None)
        .await
        .expect(204, None);
    scim.call(Method::GET, &format!("/Users/{uid}"), None)
        .await
        .expect(404, None);
    scim.call(Method::DELETE, &format!("/Users/{uid}"), None)
        .await
        .expect(404, None);

    // Audited with the credential as the actor.
    let page = srv
        .services
        .query_audit(&scim.directory_id, Some("user:"), None, 100)
        .await
        .unwrap();
    let verbs: Vec<&str> = page
        .items
        .iter()
        .map(|e| e.action.rsplit(':').next().unwrap())
        .collect();
    assert_eq!(verbs.iter().filter(|v| **v == "create").count(), 1);
    assert_eq!(verbs.iter().filter(|v| **v == "update").count(), 2);
    assert_eq!(verbs.iter().filter(|v| **v == "delete").count(), 1);
    assert!(
        page.items
            .iter()
            .all(|e| e.actor_id.as_deref() == Some(scim.credential_id.as_str()))
    );
});

both_servers!(group_members_and_patch, |srv| {
    let scim = Scim::new(&srv, "scim-groups").await;
    let a = id(&scim.user("ann").await);
    let b = id(&scim.user("ben").await);
    let c = id(&scim.user("cid").await);
    let g = scim.create_group("engineers", &[&a, &b]).await;
    let gid = id(&g);
    assert_eq!(g["members"].as_array().unwrap().len(), 2);
    assert_eq!(g["members"][0]["type"], "User");

    // The users show their groups (readOnly, computed).
    let ua = scim.call(Method::GET, &format!("/Users/{a}"), None).await;
    assert_eq!(ua.body["groups"][0]["value"], gid.as_str());
    assert_eq!(ua.body["groups"][0]["display"], "engineers");

    // PATCH add c, remove a by value filter.
    let p = scim
        .call(
            Method::PATCH,
            &format!("/Groups/{gid}"),
            Some(json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "add", "path": "members", "value": [{"value": c}]},
                {"op": "remove", "path": format!("members[value eq \"{a}\"]")},
            ]})),
        )
        .await;
    p.expect(200, None);
    let members: BTreeSet<String> = p.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(members, set(&[&b, &c]));
    assert_eq!(p.header("etag"), Some("W/\"2\""));
    let ids: BTreeSet<String> = srv
        .services
        .list_group_members(&scim.directory_id, &gid)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(ids, set(&[&b, &c]));

    // Azure AD's remove form removes only the listed member.
    scim.call(
        Method::PATCH,
        &format!("/Groups/{gid}"),
        Some(json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "remove", "path": "members", "value": [{"value": b}]},
        ]})),
    )
    .await
    .expect(200, None);
    let ids: Vec<String> = srv
        .services
        .list_group_members(&scim.directory_id, &gid)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(ids, vec![c.clone()]);

    // Unknown member, a group as member: 400 invalidValue, nothing written.
    let before = scim.counts(&srv).await;
    for value in [
        json!({"value": "u-doesnotexist"}),
        json!({"value": gid, "type": "Group"}),
    ] {
        scim.call(
            Method::PATCH,
            &format!("/Groups/{gid}"),
            Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": [value.clone()]}]})),
        )
        .await
        .expect(400, Some("invalidValue"));
        scim.call(
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP], "displayName": "other", "members": [value]})),
        )
        .await
        .expect(400, Some("invalidValue"));
    }
    // Duplicate name (case-insensitive) and an invalid name.
    scim.call(
        Method::POST,
        "/Groups",
        Some(json!({"schemas": [GROUP], "displayName": "ENGINEERS"})),
    )
    .await
    .expect(409, Some("uniqueness"));
    scim.call(
        Method::POST,
        "/Groups",
        Some(json!({"schemas": [GROUP], "displayName": "has space"})),
    )
    .await
    .expect(400, Some("invalidValue"));
    // remove without a path is noTarget.
    scim.call(
        Method::PATCH,
        &format!("/Groups/{gid}"),
        Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "remove"}]})),
    )
    .await
    .expect(400, Some("noTarget"));
    assert_eq!(scim.counts(&srv).await, before, "nothing written");

    // PUT replaces name and members.
    let put = scim
        .call(
            Method::PUT,
            &format!("/Groups/{gid}"),
            Some(json!({"schemas": [GROUP], "displayName": "eng", "externalId": "x-1", "members": [{"value": a}, {"value": b}]})),
        )
        .await;
    put.expect(200, None);
    assert_eq!(put.body["displayName"], "eng");
    assert_eq!(put.body["members"].as_array().unwrap().len(), 2);

    // excludedAttributes=members on GET.
    let lean = scim
        .call(
            Method::GET,
            &format!("/Groups/{gid}?excludedAttributes=members"),
            None,
        )
        .await;
    lean.expect(200, None);
    assert!(lean.body.get("members").is_none());
    assert_eq!(lean.body["displayName"], "eng");

    // Deleting a user removes its memberships (and bumps the group).
    let v_before = scim
        .call(Method::GET, &format!("/Groups/{gid}"), None)
        .await
        .body["meta"]["version"]
        .clone();
    scim.call(Method::DELETE, &format!("/Users/{a}"), None)
        .await
        .expect(204, None);
    let after = scim
        .call(Method::GET, &format!("/Groups/{gid}"), None)
        .await;
    assert_eq!(after.body["members"].as_array().unwrap().len(), 1);
    assert_ne!(after.body["meta"]["version"], v_before);

    // Deleting the group removes its memberships too.
    scim.call(Method::DELETE, &format!("/Groups/{gid}"), None)
        .await
        .expect(204, None);
    let (_, groups, memberships, _) = scim.counts(&srv).await;
    assert_eq!((groups, memberships), (0, 0));
    let ub = scim.call(Method::GET, &format!("/Users/{b}"), None).await;
    assert!(ub.body.get("groups").is_none());
});

both_servers!(filters_every_operator, |srv| {
    let scim = Scim::new(&srv, "scim-filters").await;
    let t0 = cloudsso_t0();
    // Five users created one minute apart, the last one modified later.
    let specs = [
        json!({"userName": "alice", "externalId": "E-1", "displayName": "Alice Anders",
               "name": {"givenName": "Alice", "familyName": "Anders"},
               "emails": [{"value": "alice@corp.example", "type": "work", "primary": true}], "active": true}),
        json!({"userName": "Bob_2", "externalId": "e-2", "displayName": "Bob Brown",
               "name": {"givenName": "Bob", "familyName": "Brown"},
               "emails": [{"value": "bob@home.example", "type": "home"}], "active": false}),
        json!({"userName": "carol.c", "displayName": "Carol 100%",
               "name": {"givenName": "Carol"},
               "emails": [{"value": "carol@corp.example", "type": "work"}], "active": true}),
        json!({"userName": "dave", "externalId": "E-4", "active": true}),
        json!({"userName": "eve-x", "externalId": "X_5", "displayName": "eve",
               "name": {"familyName": "Evans"}, "active": false}),
    ];
    let mut ids = Vec::new();
    for (i, s) in specs.iter().enumerate() {
        srv.clock.set(t0 + 60 * i as i64);
        let mut body = s.clone();
        body["schemas"] = json!([USER]);
        ids.push(id(&scim.create_user(body).await));
    }
    srv.clock.set(t0 + 3600);
    scim.call(
        Method::PATCH,
        &format!("/Users/{}", ids[0]),
        Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "Boss"}]})),
    )
    .await
    .expect(200, None);
    let eng = scim.create_group("eng", &[&ids[0], &ids[1]]).await;
    let ops = scim.create_group("Ops_Team", &[&ids[2]]).await;
    scim.create_group("empty", &[]).await;

    let cases: Vec<(String, &[&str])> = vec![
        // userName: case-insensitive.
        ("userName eq \"ALICE\"".into(), &["alice"]),
        (
            "userName ne \"alice\"".into(),
            &["Bob_2", "carol.c", "dave", "eve-x"],
        ),
        ("userName co \"B_\"".into(), &["Bob_2"]),
        ("userName co \"l_\"".into(), &[]),
        ("userName co \"%\"".into(), &[]),
        ("userName sw \"CA\"".into(), &["carol.c"]),
        ("userName ew \"-X\"".into(), &["eve-x"]),
        ("userName gt \"carol.c\"".into(), &["dave", "eve-x"]),
        (
            "userName ge \"carol.c\"".into(),
            &["carol.c", "dave", "eve-x"],
        ),
        ("userName lt \"bob_2\"".into(), &["alice"]),
        ("userName le \"bob_2\"".into(), &["alice", "Bob_2"]),
        (
            "userName pr".into(),
            &["alice", "Bob_2", "carol.c", "dave", "eve-x"],
        ),
        // externalId: case-exact.
        ("externalId eq \"E-1\"".into(), &["alice"]),
        ("externalId eq \"e-1\"".into(), &[]),
        (
            "externalId ne \"E-1\"".into(),
            &["Bob_2", "carol.c", "dave", "eve-x"],
        ),
        ("externalId co \"-\"".into(), &["alice", "Bob_2", "dave"]),
        ("externalId sw \"E\"".into(), &["alice", "dave"]),
        ("externalId ew \"_5\"".into(), &["eve-x"]),
        ("externalId gt \"E-4\"".into(), &["Bob_2", "eve-x"]),
        ("externalId pr".into(), &["alice", "Bob_2", "dave", "eve-x"]),
        ("not (externalId pr)".into(), &["carol.c"]),
        ("externalId eq null".into(), &["carol.c"]),
        // displayName: case-insensitive, LIKE escaping.
        ("displayName eq \"bob brown\"".into(), &["Bob_2"]),
        ("displayName co \"100%\"".into(), &["carol.c"]),
        ("displayName co \"an\"".into(), &["alice"]),
        ("displayName sw \"E\"".into(), &["eve-x"]),
        ("displayName ew \"OWN\"".into(), &["Bob_2"]),
        ("displayName lt \"b\"".into(), &["alice"]),
        (
            "displayName pr".into(),
            &["alice", "Bob_2", "carol.c", "eve-x"],
        ),
        // name.*
        ("name.givenName eq \"carol\"".into(), &["carol.c"]),
        ("name.familyName sw \"b\"".into(), &["Bob_2"]),
        ("name.familyName pr".into(), &["alice", "Bob_2", "eve-x"]),
        ("name pr".into(), &["alice", "Bob_2", "carol.c", "eve-x"]),
        // emails
        ("emails eq \"ALICE@corp.example\"".into(), &["alice"]),
        (
            "emails.value ew \"@corp.example\"".into(),
            &["alice", "carol.c"],
        ),
        ("emails co \"home\"".into(), &["Bob_2"]),
        ("emails[type eq \"work\"]".into(), &["alice", "carol.c"]),
        (
            "emails[type eq \"work\" and value sw \"c\"]".into(),
            &["carol.c"],
        ),
        ("emails.type eq \"home\"".into(), &["Bob_2"]),
        ("emails pr".into(), &["alice", "Bob_2", "carol.c"]),
        // active
        ("active eq true".into(), &["alice", "carol.c", "dave"]),
        ("active eq false".into(), &["Bob_2", "eve-x"]),
        ("active ne true".into(), &["Bob_2", "eve-x"]),
        (
            "active pr".into(),
            &["alice", "Bob_2", "carol.c", "dave", "eve-x"],
        ),
        // id
        (format!("id eq \"{}\"", ids[3]), &["dave"]),
        // groups
        (format!("groups eq \"{}\"", id(&eng)), &["alice", "Bob_2"]),
        ("groups.display eq \"OPS_TEAM\"".into(), &["carol.c"]),
        ("groups pr".into(), &["alice", "Bob_2", "carol.c"]),
        // meta: instants
        (
            "meta.created eq \"2026-01-01T00:01:00Z\"".into(),
            &["Bob_2"],
        ),
        (
            "meta.created gt \"2026-01-01T00:02:00Z\"".into(),
            &["dave", "eve-x"],
        ),
        (
            "meta.created ge \"2026-01-01T00:02:00Z\"".into(),
            &["carol.c", "dave", "eve-x"],
        ),
        (
            "meta.created lt \"2026-01-01T01:01:00+01:00\"".into(),
            &["alice"],
        ),
        (
            "meta.created le \"2026-01-01T00:01:00.000Z\"".into(),
            &["alice", "Bob_2"],
        ),
        (
            "meta.created gt \"2026-01-01T00:00:30.5Z\"".into(),
            &["Bob_2", "carol.c", "dave", "eve-x"],
        ),
        // alice was patched at +1 h; Bob_2 and carol.c joined groups then (their `groups`
        // changed, so their lastModified did).
        (
            "meta.lastModified gt \"2026-01-01T00:30:00Z\"".into(),
            &["alice", "Bob_2", "carol.c"],
        ),
        (
            "meta.lastModified pr".into(),
            &["alice", "Bob_2", "carol.c", "dave", "eve-x"],
        ),
        // logic and precedence
        (
            "active eq true and (userName sw \"a\" or userName sw \"d\")".into(),
            &["alice", "dave"],
        ),
        (
            "userName sw \"a\" or userName sw \"b\" and active eq true".into(),
            &["alice"],
        ),
        ("not (active eq true) and not (displayName pr)".into(), &[]),
        (
            "not (userName eq \"alice\" or emails pr)".into(),
            &["dave", "eve-x"],
        ),
        ("USERNAME EQ \"dave\" AND Active Eq TRUE".into(), &["dave"]),
        (
            "urn:ietf:params:scim:schemas:core:2.0:User:userName eq \"dave\"".into(),
            &["dave"],
        ),
    ];
    for (filter, expected) in &cases {
        assert_eq!(
            scim.user_names(filter).await,
            set(expected),
            "filter: {filter}"
        );
    }

    let gcases: Vec<(String, &[&str])> = vec![
        ("displayName eq \"ENG\"".into(), &["eng"]),
        ("displayName ne \"eng\"".into(), &["Ops_Team", "empty"]),
        ("displayName co \"_t\"".into(), &["Ops_Team"]),
        ("displayName sw \"e\"".into(), &["eng", "empty"]),
        ("displayName ew \"TY\"".into(), &["empty"]),
        ("displayName gt \"eng\"".into(), &["Ops_Team"]),
        ("displayName le \"empty\"".into(), &["empty"]),
        (format!("members eq \"{}\"", ids[1]), &["eng"]),
        (format!("members.value eq \"{}\"", ids[2]), &["Ops_Team"]),
        (format!("members[value eq \"{}\"]", ids[0]), &["eng"]),
        ("members pr".into(), &["eng", "Ops_Team"]),
        ("not (members pr)".into(), &["empty"]),
        (format!("members ne \"{}\"", ids[2]), &["eng", "empty"]),
        ("members.display eq \"carol 100%\"".into(), &["Ops_Team"]),
        (format!("id eq \"{}\"", id(&ops)), &["Ops_Team"]),
        ("externalId pr".into(), &[]),
        (
            "meta.created ge \"2026-01-01T01:00:00Z\"".into(),
            &["eng", "Ops_Team", "empty"],
        ),
        ("meta.lastModified lt \"2026-01-01T01:00:00Z\"".into(), &[]),
    ];
    for (filter, expected) in &gcases {
        assert_eq!(
            scim.group_names(filter).await,
            set(expected),
            "group filter: {filter}"
        );
    }

    // POST /.search gives the same.
    let r = scim
        .call(
            Method::POST,
            "/Users/.search",
            Some(json!({"schemas": [SEARCH], "filter": "emails[type eq \"work\"]", "attributes": ["userName"]})),
        )
        .await;
    r.expect(200, None);
    assert_eq!(names(&r.body, "userName"), set(&["alice", "carol.c"]));
    assert!(r.body["Resources"][0].get("emails").is_none());

    // Unsupported or malformed filters: 400 invalidFilter.
    for bad in [
        "title eq \"Boss\"",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"x\"",
        "userName eq 1",
        "active gt false",
        "meta.created sw \"2026\"",
        "meta.created gt \"yesterday\"",
        "userName eq",
        "(userName eq \"a\"",
        "userName xx \"a\"",
        "name eq \"x\"",
    ] {
        let r = scim
            .call(
                Method::GET,
                &format!("/Users?filter={}", url_encode(bad)),
                None,
            )
            .await;
        r.expect(400, Some("invalidFilter"));
    }
    scim.call(
        Method::GET,
        &format!("/Groups?filter={}", url_encode("userName eq \"x\"")),
        None,
    )
    .await
    .expect(400, Some("invalidFilter"));
});

fn cloudsso_t0() -> i64 {
    crate::support::T0
}

both_servers!(sort_paging_projection, |srv| {
    let scim = Scim::new(&srv, "scim-paging").await;
    for (i, n) in ["delta", "Alpha", "charlie", "bravo", "echo"]
        .iter()
        .enumerate()
    {
        srv.clock.set(cloudsso_t0() + 10 - i as i64);
        scim.create_user(json!({"schemas": [USER], "userName": n, "displayName": format!("D{i}")}))
            .await;
    }
    let page = |q: &'static str| {
        let scim = &scim;
        async move {
            let r = scim.call(Method::GET, &format!("/Users?{q}"), None).await;
            r.expect(200, None);
            r.body
        }
    };
    let order = |v: &Value| -> Vec<String> {
        v["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["userName"].as_str().unwrap().to_owned())
            .collect()
    };
    let asc = page("sortBy=userName").await;
    assert_eq!(order(&asc), ["Alpha", "bravo", "charlie", "delta", "echo"]);
    let desc = page("sortBy=userName&sortOrder=descending").await;
    assert_eq!(order(&desc), ["echo", "delta", "charlie", "bravo", "Alpha"]);
    let by_created = page("sortBy=meta.created").await;
    assert_eq!(
        order(&by_created),
        ["echo", "bravo", "charlie", "Alpha", "delta"]
    );

    let p2 = page("sortBy=userName&startIndex=2&count=2").await;
    assert_eq!(order(&p2), ["bravo", "charlie"]);
    assert_eq!(p2["totalResults"], 5);
    assert_eq!(p2["startIndex"], 2);
    assert_eq!(p2["itemsPerPage"], 2);
    let last = page("sortBy=userName&startIndex=5&count=2").await;
    assert_eq!(order(&last), ["echo"]);
    let beyond = page("startIndex=9").await;
    assert_eq!(beyond["totalResults"], 5);
    assert!(beyond["Resources"].as_array().is_none_or(|a| a.is_empty()));
    let zero = page("count=0").await;
    assert_eq!(zero["totalResults"], 5);
    assert!(zero["Resources"].as_array().is_none_or(|a| a.is_empty()));
    let huge = page("count=100000").await;
    assert_eq!(order(&huge).len(), 5);

    let only = page("attributes=displayName&sortBy=userName").await;
    let first = &only["Resources"][0];
    assert_eq!(first["displayName"], "D1");
    assert!(first.get("id").is_some(), "id is always returned");
    assert!(first.get("active").is_none());
    let excl = page("excludedAttributes=displayName,meta").await;
    let first = &excl["Resources"][0];
    assert!(first.get("displayName").is_none() && first.get("meta").is_none());
    assert!(first.get("userName").is_some() && first.get("id").is_some());

    // attributes on a single resource.
    let uid = id(&asc["Resources"][0]);
    let one = scim
        .call(
            Method::GET,
            &format!("/Users/{uid}?attributes=userName"),
            None,
        )
        .await;
    one.expect(200, None);
    assert!(one.body.get("displayName").is_none());
    assert_eq!(one.body["userName"], "Alpha");

    scim.call(Method::GET, "/Users?sortBy=members", None)
        .await
        .expect(400, Some("invalidValue"));
    scim.call(Method::GET, "/Users?count=abc", None)
        .await
        .expect(400, Some("invalidValue"));
});

both_servers!(etags_and_if_match, |srv| {
    let scim = Scim::new(&srv, "scim-etag").await;
    let uid = id(&scim.user("etag").await);
    let path = format!("/Users/{uid}");
    let put = json!({"schemas": [USER], "userName": "etag", "displayName": "v2"});
    let before = scim.counts(&srv).await;
    scim.call_with(
        Method::PUT,
        &path,
        Some(put.clone()),
        &[("if-match", "W/\"7\"")],
    )
    .await
    .expect(412, None);
    scim.call_with(
        Method::PATCH,
        &path,
        Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "displayName", "value": "x"}]})),
        &[("if-match", "W/\"2\"")],
    )
    .await
    .expect(412, None);
    scim.call_with(Method::DELETE, &path, None, &[("if-match", "\"5\"")])
        .await
        .expect(412, None);
    assert_eq!(scim.counts(&srv).await, before, "nothing written");

    let ok = scim
        .call_with(Method::PUT, &path, Some(put), &[("if-match", "W/\"1\"")])
        .await;
    ok.expect(200, None);
    assert_eq!(ok.header("etag"), Some("W/\"2\""));
    scim.call_with(Method::DELETE, &path, None, &[("if-match", "W/\"1\"")])
        .await
        .expect(412, None);
    scim.call_with(Method::DELETE, &path, None, &[("if-match", "\"2\"")])
        .await
        .expect(204, None);

    let gid = id(&scim.create_group("etaggroup", &[]).await);
    scim.call_with(
        Method::PATCH,
        &format!("/Groups/{gid}"),
        Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "displayName", "value": "g2"}]})),
        &[("if-match", "*")],
    )
    .await
    .expect(200, None);
    scim.call_with(
        Method::DELETE,
        &format!("/Groups/{gid}"),
        None,
        &[("if-match", "W/\"1\"")],
    )
    .await
    .expect(412, None);
});

both_servers!(bulk_with_bulk_ids, |srv| {
    let scim = Scim::new(&srv, "scim-bulk").await;
    // A group that refers to users created in the same request, listed before them.
    let req = json!({"schemas": [BULK], "Operations": [
        {"method": "POST", "path": "/Groups", "bulkId": "g1",
         "data": {"schemas": [GROUP], "displayName": "bulkers", "members": [{"value": "bulkId:u1"}, {"value": "bulkId:u2"}]}},
        {"method": "POST", "path": "/Users", "bulkId": "u1", "data": {"schemas": [USER], "userName": "bulk1"}},
        {"method": "POST", "path": "/Users", "bulkId": "u2", "data": {"schemas": [USER], "userName": "bulk2"}},
        {"method": "PATCH", "path": "/Users/bulkId:u1",
         "data": {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "displayName", "value": "One"}]}},
        {"method": "POST", "path": "/Users", "bulkId": "dup", "data": {"schemas": [USER], "userName": "BULK1"}},
        {"method": "DELETE", "path": "/Users/u-nope"},
    ]});
    let r = scim.call(Method::POST, "/Bulk", Some(req)).await;
    r.expect(200, None);
    let ops = r.body["Operations"].as_array().unwrap();
    assert_eq!(ops.len(), 6);
    let by_bulk = |b: &str| ops.iter().find(|o| o["bulkId"] == b).unwrap().clone();
    assert_eq!(by_bulk("u1")["status"], "201");
    assert_eq!(by_bulk("g1")["status"], "201");
    assert!(
        by_bulk("g1")["location"]
            .as_str()
            .unwrap()
            .contains("/Groups/g-")
    );
    assert_eq!(by_bulk("dup")["status"], "409");
    assert_eq!(by_bulk("dup")["response"]["scimType"], "uniqueness");
    assert!(
        ops.iter()
            .any(|o| o["method"] == "PATCH" && o["status"] == "200")
    );
    assert!(
        ops.iter()
            .any(|o| o["method"] == "DELETE" && o["status"] == "404")
    );
    let g = scim.group_names("members pr").await;
    assert_eq!(g, set(&["bulkers"]));
    let grp = scim
        .call(
            Method::GET,
            "/Groups?filter=displayName%20eq%20%22bulkers%22",
            None,
        )
        .await;
    assert_eq!(
        grp.body["Resources"][0]["members"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        scim.user_names("displayName eq \"One\"").await,
        set(&["bulk1"])
    );

    // failOnErrors: stop after the first error; later operations are not run.
    let req = json!({"schemas": [BULK], "failOnErrors": 1, "Operations": [
        {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"schemas": [USER], "userName": "bad name"}},
        {"method": "POST", "path": "/Users", "bulkId": "b", "data": {"schemas": [USER], "userName": "never"}},
    ]});
    let r = scim.call(Method::POST, "/Bulk", Some(req)).await;
    r.expect(200, None);
    let ops = r.body["Operations"].as_array().unwrap();
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0]["status"], "400");
    assert_eq!(ops[0]["response"]["scimType"], "invalidValue");
    assert!(scim.user_names("userName eq \"never\"").await.is_empty());

    // A reference that cannot resolve.
    let req = json!({"schemas": [BULK], "Operations": [
        {"method": "POST", "path": "/Groups", "bulkId": "x",
         "data": {"schemas": [GROUP], "displayName": "dangling", "members": [{"value": "bulkId:nobody"}]}},
    ]});
    let r = scim.call(Method::POST, "/Bulk", Some(req)).await;
    assert_eq!(r.body["Operations"][0]["status"], "409");
    assert!(
        scim.group_names("displayName eq \"dangling\"")
            .await
            .is_empty()
    );

    // Too many operations: 413, nothing run.
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({"method": "POST", "path": "/Users", "bulkId": format!("m{i}"), "data": {"schemas": [USER], "userName": format!("m{i}")}}))
        .collect();
    let before = scim.counts(&srv).await;
    scim.call(
        Method::POST,
        "/Bulk",
        Some(json!({"schemas": [BULK], "Operations": many})),
    )
    .await
    .expect(413, None);
    assert_eq!(scim.counts(&srv).await, before);
});

both_servers!(discovery_endpoints, |srv| {
    let scim = Scim::new(&srv, "scim-disco").await;
    let spc = scim.call(Method::GET, "/ServiceProviderConfig", None).await;
    spc.expect(200, None);
    assert_eq!(spc.body["patch"]["supported"], true);
    assert_eq!(spc.body["bulk"]["maxOperations"], 1000);
    assert_eq!(spc.body["bulk"]["maxPayloadSize"], 4 * 1024 * 1024);
    assert_eq!(spc.body["filter"]["maxResults"], 1000);
    assert_eq!(spc.body["etag"]["supported"], true);
    let schemas = scim.call(Method::GET, "/Schemas", None).await;
    schemas.expect(200, None);
    assert_eq!(schemas.body["totalResults"], 3);
    let user = scim
        .call(Method::GET, &format!("/Schemas/{USER}"), None)
        .await;
    user.expect(200, None);
    assert_eq!(user.body["id"], USER);
    scim.call(Method::GET, "/Schemas/urn:nope", None)
        .await
        .expect(404, None);
    let rts = scim.call(Method::GET, "/ResourceTypes", None).await;
    rts.expect(200, None);
    assert_eq!(rts.body["totalResults"], 2);
    let g = scim.call(Method::GET, "/ResourceTypes/Group", None).await;
    assert_eq!(g.body["endpoint"], "/Groups");
    scim.call(Method::GET, "/Nope", None)
        .await
        .expect(404, None);
    // The root search is implemented (see `root_search_across_types`).
    scim.call(Method::POST, "/.search", Some(json!({"schemas": [SEARCH]})))
        .await
        .expect(200, None);
});

both_servers!(bad_input_writes_nothing, |srv| {
    let scim = Scim::new(&srv, "scim-bad").await;
    let uid = id(&scim.user("keeper").await);
    let gid = id(&scim.create_group("keepers", &[&uid]).await);
    let before = scim.counts(&srv).await;

    // Malformed JSON (any Content-Type), empty body.
    for body in [&b"{\"schemas\": ["[..], b"not json", b""] {
        let r = scim
            .raw(
                Method::POST,
                "/Users",
                Some(&scim.token),
                Some(body.to_vec()),
                &[],
            )
            .await;
        r.expect(400, Some("invalidSyntax"));
    }
    let r = scim
        .raw(
            Method::POST,
            "/Users",
            Some(&scim.token),
            Some(b"{oops".to_vec()),
            &[("content-type", "application/json")],
        )
        .await;
    r.expect(400, Some("invalidSyntax"));
    // application/json with a good body is accepted (and then deleted again below).
    let ok = scim
        .raw(
            Method::POST,
            "/Users",
            Some(&scim.token),
            Some(serde_json::to_vec(&json!({"schemas": [USER], "userName": "json-ct"})).unwrap()),
            &[("content-type", "application/json")],
        )
        .await;
    ok.expect(201, None);
    scim.call(Method::DELETE, &format!("/Users/{}", id(&ok.body)), None)
        .await
        .expect(204, None);
    let before_audit = scim.counts(&srv).await;

    // Unknown attribute, missing schemas, mistyped attributes, missing userName.
    scim.call(
        Method::POST,
        "/Users",
        Some(json!({"schemas": [USER], "userName": "x1", "shoeSize": 42})),
    )
    .await
    .expect(400, Some("invalidSyntax"));
    scim.call(Method::POST, "/Users", Some(json!({"userName": "x2"})))
        .await
        .expect(400, Some("invalidSyntax"));
    scim.call(
        Method::POST,
        "/Users",
        Some(json!({"schemas": [USER], "userName": "x3", "active": "yes"})),
    )
    .await
    .expect(400, Some("invalidValue"));
    scim.call(
        Method::POST,
        "/Users",
        Some(json!({"schemas": [USER], "userName": 5})),
    )
    .await
    .expect(400, Some("invalidValue"));
    scim.call(
        Method::POST,
        "/Users",
        Some(json!({"schemas": [USER], "userName": "x4", "emails": "a@b.c"})),
    )
    .await
    .expect(400, Some("invalidValue"));
    scim.call(
        Method::POST,
        "/Users",
        Some(json!({"schemas": [USER], "displayName": "no name"})),
    )
    .await
    .expect(400, Some("invalidValue"));
    scim.call(
        Method::POST,
        "/Users",
        Some(json!({"schemas": [USER], "userName": "bad/name"})),
    )
    .await
    .expect(400, Some("invalidValue"));
    scim.call(
        Method::POST,
        "/Users",
        Some(json!({"schemas": [USER], "userName": "x".repeat(65)})),
    )
    .await
    .expect(400, Some("invalidValue"));
    scim.call(
        Method::POST,
        "/Users",
        Some(json!({"schemas": [USER], "userName": "x5", "emails": [{"value": "not-an-email"}]})),
    )
    .await
    .expect(400, Some("invalidValue"));
    scim.call(
        Method::POST,
        "/Groups",
        Some(json!({"schemas": [GROUP], "displayName": "x".repeat(129)})),
    )
    .await
    .expect(400, Some("invalidValue"));
    scim.call(Method::POST, "/Users", Some(json!([1, 2])))
        .await
        .expect(400, Some("invalidSyntax"));
    // Duplicate userName.
    scim.call(
        Method::POST,
        "/Users",
        Some(json!({"schemas": [USER], "userName": "KEEPER"})),
    )
    .await
    .expect(409, Some("uniqueness"));
    // PATCH: unknown attribute path, bad PatchOp document, and a valid op followed by an invalid one.
    let pu = format!("/Users/{uid}");
    scim.call(Method::PATCH, &pu, Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "shoeSize", "value": 1}]})))
        .await
        .expect(400, Some("invalidPath"));
    scim.call(
        Method::PATCH,
        &pu,
        Some(json!({"Operations": [{"op": "replace", "path": "displayName", "value": "x"}]})),
    )
    .await
    .expect(400, Some("invalidSyntax"));
    scim.call(
        Method::PATCH,
        &pu,
        Some(json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "path": "displayName", "value": "changed"},
            {"op": "replace", "path": "active", "value": "maybe"},
        ]})),
    )
    .await
    .expect(400, Some("invalidValue"));
    scim.call(
        Method::PATCH,
        &format!("/Groups/{gid}"),
        Some(json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "remove", "path": format!("members[value eq \"{uid}\"]")},
            {"op": "add", "path": "members", "value": [{"value": "u-ghost"}]},
        ]})),
    )
    .await
    .expect(400, Some("invalidValue"));
    // Invalid filter.
    scim.call(Method::GET, "/Users?filter=userName%20eq", None)
        .await
        .expect(400, Some("invalidFilter"));

    // Oversized bodies: 413 with a SCIM error.
    let big = json!({"schemas": [USER], "userName": "big", "title": "x".repeat(1024 * 1024 + 10)});
    scim.call(Method::POST, "/Users", Some(big.clone()))
        .await
        .expect(413, None);
    scim.call(Method::PUT, &pu, Some(big))
        .await
        .expect(413, None);
    let big_bulk = vec![b' '; 4 * 1024 * 1024 + 1];
    scim.raw(
        Method::POST,
        "/Bulk",
        Some(&scim.token),
        Some(big_bulk),
        &[],
    )
    .await
    .expect(413, None);

    assert_eq!(scim.counts(&srv).await, before_audit, "nothing written");
    let u = scim.call(Method::GET, &pu, None).await;
    // Version 2: created, then added to "keepers" (its `groups` changed); nothing since.
    assert_eq!(u.body["meta"]["version"], "W/\"2\"");
    assert!(u.body.get("displayName").is_none());
    let _ = before;

    // Credentials: missing, wrong, wrong scheme, disabled, switch off → 401 + WWW-Authenticate.
    let unauth = |r: &Resp| {
        r.expect(401, None);
        assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
    };
    unauth(&scim.raw(Method::GET, "/Users", None, None, &[]).await);
    unauth(
        &scim
            .raw(Method::GET, "/Users", Some("ghscim_wrong"), None, &[])
            .await,
    );
    unauth(
        &scim
            .raw(
                Method::GET,
                "/Users",
                None,
                None,
                &[("authorization", &format!("Basic {}", scim.token))],
            )
            .await,
    );
    unauth(
        &scim
            .raw(
                Method::POST,
                "/Users",
                Some("nope"),
                Some(
                    serde_json::to_vec(&json!({"schemas": [USER], "userName": "intruder"}))
                        .unwrap(),
                ),
                &[],
            )
            .await,
    );
    unauth(
        &scim
            .raw(Method::GET, "/ServiceProviderConfig", None, None, &[])
            .await,
    );
    srv.services
        .set_scim_credential_status(
            &Actor::system(),
            &scim.directory_id,
            &scim.credential_id,
            ScimCredentialStatus::Disabled,
        )
        .await
        .unwrap();
    unauth(&scim.call(Method::GET, "/Users", None).await);
    srv.services
        .set_scim_credential_status(
            &Actor::system(),
            &scim.directory_id,
            &scim.credential_id,
            ScimCredentialStatus::Enabled,
        )
        .await
        .unwrap();
    assert_eq!(scim.total("/Users").await, 1);
    srv.services
        .set_scim_synchronization(&Actor::system(), &scim.directory_id, false)
        .await
        .unwrap();
    unauth(
        &scim
            .call(
                Method::POST,
                "/Users",
                Some(json!({"schemas": [USER], "userName": "late"})),
            )
            .await,
    );
    srv.services
        .set_scim_synchronization(&Actor::system(), &scim.directory_id, true)
        .await
        .unwrap();
    assert_eq!(scim.total("/Users").await, 1);

    // Another directory's credential sees nothing of this one.
    let other = Scim::new(&srv, "scim-other").await;
    assert_eq!(other.total("/Users").await, 0);
    other.call(Method::GET, &pu, None).await.expect(404, None);
    other
        .call(Method::DELETE, &pu, None)
        .await
        .expect(404, None);
    other
        .call(
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP], "displayName": "x", "members": [{"value": uid}]})),
        )
        .await
        .expect(400, Some("invalidValue"));
});

both_servers!(delete_refused_while_assigned, |srv| {
    let scim = Scim::new(&srv, "scim-assigned").await;
    let uid = id(&scim.user("assigned").await);
    let gid = id(&scim.create_group("assignedgroup", &[&uid]).await);
    // An access assignment referencing the user (rows inserted directly: how it was made is not the point).
    {
        let mut conn = srv.services.store.read().await.unwrap();
        for (sql, binds) in [
            (
                "INSERT INTO cloud_accounts (id, directory_id, name, created_at) VALUES ($1, $2, 'acct', 0)",
                ["acct-scim", scim.directory_id.as_str(), ""],
            ),
            (
                "INSERT INTO access_configurations (id, directory_id, name, name_key, session_duration, created_at, updated_at) \
              VALUES ($1, $2, 'ac', 'ac', 3600, 0, 0)",
                ["ac-scim", scim.directory_id.as_str(), ""],
            ),
            (
                "INSERT INTO access_assignments (directory_id, access_configuration_id, account_id, principal_type, principal_id, created_at) \
              VALUES ($2, 'ac-scim', 'acct-scim', 'User', $1, 0)",
                [uid.as_str(), scim.directory_id.as_str(), ""],
            ),
        ] {
            sqlx::query(sql)
                .bind(binds[0])
                .bind(binds[1])
                .execute(&mut *conn)
                .await
                .unwrap();
        }
    }
    let before = scim.counts(&srv).await;
    let r = scim
        .call(Method::DELETE, &format!("/Users/{uid}"), None)
        .await;
    r.expect(409, None);
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("access assignments")
    );
    assert_eq!(
        scim.counts(&srv).await,
        before,
        "memberships kept, nothing written"
    );
    // The group without assignments can go (its membership with it).
    scim.call(Method::DELETE, &format!("/Groups/{gid}"), None)
        .await
        .expect(204, None);
});

both_servers!(active_unassigned, |srv| {
    let scim = Scim::new(&srv, "scim-active").await;
    // Created without active: enabled, active not returned.
    let u = scim.user("noactive").await;
    let uid = id(&u);
    assert!(u.get("active").is_none());
    let path = format!("/Users/{uid}");
    // Disable, then a PUT without active keeps it disabled (and shows it).
    scim.call(
        Method::PATCH,
        &path,
        Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": false}]})),
    )
    .await
    .expect(200, None);
    let put = scim
        .call(
            Method::PUT,
            &path,
            Some(json!({"schemas": [USER], "userName": "noactive"})),
        )
        .await;
    put.expect(200, None);
    assert_eq!(put.body["active"], false);
    // PATCH remove active: unassigned = enabled.
    let r = scim
        .call(
            Method::PATCH,
            &path,
            Some(
                json!({"schemas": [PATCH_OP], "Operations": [{"op": "remove", "path": "active"}]}),
            ),
        )
        .await;
    r.expect(200, None);
    assert!(r.body.get("active").is_none(), "{}", r.body);
    let user = srv
        .services
        .get_user(&scim.directory_id, &uid)
        .await
        .unwrap();
    assert_eq!(user.status, cloudsso::user::UserStatus::Enabled);
    assert_eq!(scim.user_names("active eq true").await, set(&["noactive"]));
});

/// `(resourceType, userName or displayName)` of each resource of a root search, in order.
fn typed(list: &Value) -> Vec<(String, String)> {
    list["Resources"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    let rt = r["meta"]["resourceType"].as_str().unwrap().to_owned();
                    let name = if rt == "User" {
                        r["userName"].as_str()
                    } else {
                        r["displayName"].as_str()
                    };
                    (rt, name.unwrap_or("").to_owned())
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Scim {
    async fn root_search(&self, req: Value) -> Resp {
        let mut body = req;
        body["schemas"] = json!([SEARCH]);
        self.call(Method::POST, "/.search", Some(body)).await
    }

    /// The names of a root search with this filter (all of one page).
    async fn root_names(&self, filter: &str) -> BTreeSet<String> {
        let r = self
            .root_search(json!({"filter": filter, "count": 1000}))
            .await;
        r.expect(200, None);
        typed(&r.body).into_iter().map(|(_, n)| n).collect()
    }

    async fn etag(&self, path: &str) -> String {
        let r = self.call(Method::GET, path, None).await;
        r.expect(200, None);
        let e = r.header("etag").unwrap().to_owned();
        assert_eq!(r.body["meta"]["version"], e.as_str(), "meta.version = ETag");
        e
    }
}

both_servers!(root_search_across_types, |srv| {
    let scim = Scim::new(&srv, "scim-root").await;
    let mk = |u: &str, d: &str| json!({"schemas": [USER], "userName": u, "displayName": d});
    let alice = id(&scim.create_user(mk("alice", "Anna")).await);
    scim.create_user(mk("bob", "Bob")).await;
    scim.create_user(mk("carol", "Al")).await;
    scim.create_group("admins", &[&alice]).await;
    scim.create_group("alpha-team", &[]).await;

    // No filter: Users, then Groups; paging crosses the boundary.
    let all = scim.root_search(json!({})).await;
    all.expect(200, None);
    assert_eq!(all.body["totalResults"], 5);
    let order = typed(&all.body);
    let kinds: Vec<&str> = order.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["User", "User", "User", "Group", "Group"]);
    let mut paged = Vec::new();
    for start in [1, 3, 5] {
        let p = scim
            .root_search(json!({"startIndex": start, "count": 2}))
            .await;
        p.expect(200, None);
        assert_eq!(p.body["totalResults"], 5);
        assert_eq!(p.body["startIndex"], start);
        paged.extend(typed(&p.body));
    }
    assert_eq!(paged, order, "pages concatenate to the whole list");
    let none = scim.root_search(json!({"count": 0})).await;
    none.expect(200, None);
    assert_eq!(none.body["totalResults"], 5);
    assert!(typed(&none.body).is_empty());

    // Filters: an attribute only one type has is unassigned on the other.
    assert_eq!(scim.root_names(r#"userName sw "a""#).await, set(&["alice"]));
    assert_eq!(
        scim.root_names(r#"displayName sw "a""#).await,
        set(&["alice", "carol", "admins", "alpha-team"])
    );
    assert_eq!(scim.root_names("members pr").await, set(&["admins"]));
    assert_eq!(
        scim.root_names(&format!(r#"members.value eq "{alice}""#))
            .await,
        set(&["admins"])
    );
    assert_eq!(
        scim.root_names(r#"userName eq "alice" or displayName eq "ADMINS""#)
            .await,
        set(&["alice", "admins"])
    );
    // `ne` and `not eq` agree: a group has no userName, so it is not "alice".
    let not_alice = set(&["bob", "carol", "admins", "alpha-team"]);
    assert_eq!(scim.root_names(r#"userName ne "alice""#).await, not_alice);
    assert_eq!(
        scim.root_names(r#"not (userName eq "alice")"#).await,
        not_alice
    );
    assert_eq!(
        scim.root_names("userName eq null").await,
        set(&["admins", "alpha-team"])
    );
    assert_eq!(
        scim.root_names(r#"emails[type eq "work"] or members[value pr]"#)
            .await,
        set(&["admins"])
    );
    // Invalid for both types, or invalid for the type that has the attribute.
    for bad in [
        r#"nickName eq "x""#,
        r#"nosuch eq "x""#,
        "userName eq 5",
        r#"members[nosuch eq "x"]"#,
        r#"meta.lastModified gt "yesterday""#,
        r#"userName eq "x" and"#,
    ] {
        scim.root_search(json!({"filter": bad}))
            .await
            .expect(400, Some("invalidFilter"));
    }

    // sortBy across both types: displayName is on both (byte order of the lower-cased value).
    let sorted = scim.root_search(json!({"sortBy": "displayName"})).await;
    sorted.expect(200, None);
    let names: Vec<String> = typed(&sorted.body).into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, ["admins", "carol", "alpha-team", "alice", "bob"]);
    let desc = scim
        .root_search(json!({"sortBy": "displayName", "sortOrder": "descending", "count": 2}))
        .await;
    let names: Vec<String> = typed(&desc.body).into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, ["bob", "alice"]);
    // An attribute of one type: the other type has no value and comes last.
    let by_user = scim.root_search(json!({"sortBy": "userName"})).await;
    by_user.expect(200, None);
    let t = typed(&by_user.body);
    assert_eq!(
        t[..3].iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>(),
        ["alice", "bob", "carol"]
    );
    assert!(t[3..].iter().all(|(k, _)| k == "Group"));
    for bad in ["members", "nosuch", "name"] {
        scim.root_search(json!({"sortBy": bad}))
            .await
            .expect(400, Some("invalidValue"));
    }

    // attributes / excludedAttributes per type.
    let proj = scim
        .root_search(json!({"attributes": ["userName"], "filter": "userName eq \"alice\" or displayName eq \"admins\""}))
        .await;
    proj.expect(200, None);
    for r in proj.body["Resources"].as_array().unwrap() {
        assert!(r["id"].is_string() && r["schemas"].is_array(), "{r}");
        assert!(r.get("displayName").is_none(), "{r}");
        assert!(
            r.get("members").is_none() && r.get("groups").is_none(),
            "{r}"
        );
    }
    let excl = scim
        .root_search(json!({"excludedAttributes": ["members", "groups"]}))
        .await;
    excl.expect(200, None);
    for r in excl.body["Resources"].as_array().unwrap() {
        assert!(
            r.get("members").is_none() && r.get("groups").is_none(),
            "{r}"
        );
        assert!(r.get("displayName").is_some(), "{r}");
    }
    let with_rel = scim
        .root_search(json!({"filter": format!("id eq \"{alice}\" or members pr")}))
        .await;
    with_rel.expect(200, None);
    let rs = with_rel.body["Resources"].as_array().unwrap();
    assert_eq!(rs.len(), 2);
    assert_eq!(rs[0]["groups"][0]["display"], "admins");
    assert_eq!(rs[1]["members"][0]["value"], alice.as_str());

    // Bad search requests.
    scim.call(
        Method::POST,
        "/.search",
        Some(json!({"filter": "userName pr"})),
    )
    .await
    .expect(400, Some("invalidSyntax"));
    scim.root_search(json!({"count": "many"}))
        .await
        .expect(400, Some("invalidValue"));
});

both_servers!(user_version_follows_groups, |srv| {
    let scim = Scim::new(&srv, "scim-uver").await;
    let s = &srv.services;
    let a = Actor::system();
    let uid = id(&scim.user("member").await);
    let upath = format!("/Users/{uid}");
    let gid = id(&scim.create_group("crew", &[]).await);
    let gpath = format!("/Groups/{gid}");

    // SCIM PATCH add: the user's ETag changes; the old one is refused.
    let e0 = scim.etag(&upath).await;
    scim.call(
        Method::PATCH,
        &gpath,
        Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": [{"value": uid}]}]})),
    )
    .await
    .expect(200, None);
    let e1 = scim.etag(&upath).await;
    assert_ne!(e0, e1);
    let u = scim.call(Method::GET, &upath, None).await;
    assert_eq!(u.body["groups"][0]["value"], gid.as_str());
    scim.call_with(
        Method::PUT,
        &upath,
        Some(json!({"schemas": [USER], "userName": "member", "displayName": "x"})),
        &[("if-match", e0.as_str())],
    )
    .await
    .expect(412, None);
    scim.call_with(
        Method::PATCH,
        &upath,
        Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "displayName", "value": "x"}]})),
        &[("if-match", e0.as_str())],
    )
    .await
    .expect(412, None);

    // A member's new display name changes the group's representation and ETag.
    let g0 = scim.etag(&gpath).await;
    scim.call_with(
        Method::PATCH,
        &upath,
        Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "displayName", "value": "Crew Member"}]})),
        &[("if-match", e1.as_str())],
    )
    .await
    .expect(200, None);
    let g1 = scim.etag(&gpath).await;
    assert_ne!(g0, g1);

    // Renaming the group changes the member's `groups[].display`, so its ETag.
    let e2 = scim.etag(&upath).await;
    scim.call(
        Method::PATCH,
        &gpath,
        Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "displayName", "value": "crew2"}]})),
    )
    .await
    .expect(200, None);
    let e3 = scim.etag(&upath).await;
    assert_ne!(e2, e3);

    // PUT of the group without the member (removal).
    scim.call(
        Method::PUT,
        &gpath,
        Some(json!({"schemas": [GROUP], "displayName": "crew2", "members": []})),
    )
    .await
    .expect(200, None);
    let e4 = scim.etag(&upath).await;
    assert_ne!(e3, e4);
    let u = scim.call(Method::GET, &upath, None).await;
    assert!(u.body.get("groups").is_none(), "{}", u.body);

    // Bulk.
    let bulk = json!({"schemas": [BULK], "Operations": [
        {"method": "PATCH", "path": format!("/Groups/{gid}"), "data": {"schemas": [PATCH_OP],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": uid}]}]}}
    ]});
    let r = scim.call(Method::POST, "/Bulk", Some(bulk)).await;
    r.expect(200, None);
    assert_eq!(r.body["Operations"][0]["status"], "200", "{}", r.body);
    let e5 = scim.etag(&upath).await;
    assert_ne!(e4, e5);

    // Group deletion (SCIM).
    scim.call(Method::DELETE, &gpath, None)
        .await
        .expect(204, None);
    let e6 = scim.etag(&upath).await;
    assert_ne!(e5, e6);
    scim.call_with(Method::DELETE, &upath, None, &[("if-match", e5.as_str())])
        .await
        .expect(412, None);

    // The admin API: add to and remove from a (manual) group.
    let manual = s
        .create_group(
            &a,
            &scim.directory_id,
            NewGroup {
                group_name: GroupName::try_from("manual".to_owned()).unwrap(),
                description: String::new(),
            },
        )
        .await
        .unwrap();
    s.add_group_member(&a, &scim.directory_id, &manual.id, &uid)
        .await
        .unwrap();
    let e7 = scim.etag(&upath).await;
    assert_ne!(e6, e7);
    s.remove_group_member(&a, &scim.directory_id, &manual.id, &uid)
        .await
        .unwrap();
    let e8 = scim.etag(&upath).await;
    assert_ne!(e7, e8);
    scim.call_with(Method::DELETE, &upath, None, &[("if-match", e7.as_str())])
        .await
        .expect(412, None);
    scim.call_with(Method::DELETE, &upath, None, &[("if-match", e8.as_str())])
        .await
        .expect(204, None);
});

both_servers!(if_none_match_not_modified, |srv| {
    let scim = Scim::new(&srv, "scim-inm").await;
    let uid = id(&scim.user("cached").await);
    let upath = format!("/Users/{uid}");
    let gid = id(&scim.create_group("cachedgroup", &[&uid]).await);
    let gpath = format!("/Groups/{gid}");
    for path in [&upath, &gpath] {
        let etag = scim.etag(path).await;
        let strong = etag.trim_start_matches("W/").to_owned();
        for inm in [
            etag.as_str(),
            strong.as_str(),
            "*",
            &format!("W/\"99\", {etag}"),
        ] {
            let r = scim
                .call_with(Method::GET, path, None, &[("if-none-match", inm)])
                .await;
            assert_eq!(r.status.as_u16(), 304, "{path} {inm}");
            assert!(r.body.is_null(), "no body: {}", r.body);
            assert_eq!(r.header("etag"), Some(etag.as_str()));
        }
        let r = scim
            .call_with(Method::GET, path, None, &[("if-none-match", "W/\"99\"")])
            .await;
        r.expect(200, None);
        assert_eq!(r.body["id"], path.rsplit('/').next().unwrap());
    }
    // After a change the old ETag no longer matches.
    let old = scim.etag(&upath).await;
    scim.call(
        Method::PATCH,
        &upath,
        Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "displayName", "value": "new"}]})),
    )
    .await
    .expect(200, None);
    let r = scim
        .call_with(
            Method::GET,
            &upath,
            None,
            &[("if-none-match", old.as_str())],
        )
        .await;
    r.expect(200, None);
    assert_eq!(r.body["displayName"], "new");
    assert_ne!(r.header("etag"), Some(old.as_str()));
    // An unknown resource is still 404.
    scim.call_with(
        Method::GET,
        "/Users/u-nope",
        None,
        &[("if-none-match", "*")],
    )
    .await
    .expect(404, None);
});
