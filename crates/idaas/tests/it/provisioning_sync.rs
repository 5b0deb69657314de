//! Provisioning delivery against an in-memory SCIM target (`scim_target.rs`): incremental pushes
//! through the outbox (create, update, disable, leave a group, leave the scope, delete), target
//! faults (500s, 429 + Retry-After, time-outs, 409 on create), dead letters and retry, "Push Now"
//! full syncs (dry run, convergence to exactly the expected remote state, a second run all
//! `same`, repair of remote drift), the AWS IAM Identity Center profile and OAuth 2.0 client
//! credentials (client_secret_basic and client_secret_post, one token for many deliveries).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use idaas::Clock as _;
use idaas::provisioning::full_sync;
use idaas::store::outbox::{self, Completion, Failure, OutboxKey};
use idaas::store::sync_job::{self, SyncJob, SyncJobItem};

use crate::scim_target::{OAuth, ScimTarget, TOKEN, TokenMethod};
use crate::support::{Backend, TestServer, send};

struct P {
    srv: TestServer,
    iid: String,
    token: String,
    app: String,
    ou: String,
    eng: String,
    ops: String,
    target: ScimTarget,
}

struct Opts {
    aws: bool,
    mode: &'static str,
    max_attempts: u32,
    enable: bool,
    /// `auth` of the configuration (default: the target's static bearer token).
    auth: Option<Value>,
    /// `provisioning_lease_secs` (default 15).
    lease_secs: u64,
    /// `provisioning_http_timeout_ms` (default 700).
    http_timeout_ms: u64,
    /// The application's template (default Cloud SSO).
    template: &'static str,
    /// `provisioning_poll_ms` (default 50).
    poll_ms: u64,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            aws: false,
            mode: "delete",
            max_attempts: 8,
            enable: true,
            auth: None,
            lease_secs: 15,
            http_timeout_ms: 700,
            template: "apt_cloudsso_saml",
            poll_ms: 50,
        }
    }
}

impl P {
    fn api(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.srv.with_token(
            &self.token,
            method,
            &format!("/api/v1/instances/{}{path}", self.iid),
        )
    }

    fn prov(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.api(method, &format!("/apps/{}/provisioning{path}", self.app))
    }

    async fn ok(&self, req: reqwest::RequestBuilder) -> Value {
        let (st, v) = send(req).await;
        assert!((200..300).contains(&st), "{st}: {v}");
        v
    }

    async fn user(&self, name: &str, in_scope: bool) -> String {
        let u = self
            .ok(self.api(Method::POST, "/users").json(&json!({
                "username": name, "display_name": format!("{name} Example"),
                "email": format!("{name}@example.com"),
            })))
            .await;
        let uid = u["id"].as_str().unwrap().to_owned();
        if in_scope {
            self.ok(self
                .api(Method::POST, &format!("/users/{uid}/org-units"))
                .json(&json!({ "org_unit_id": self.ou })))
                .await;
        }
        uid
    }

    async fn join(&self, group: &str, uid: &str) {
        self.ok(self
            .api(Method::POST, &format!("/groups/{group}/members"))
            .json(&json!({ "user_id": uid })))
            .await;
    }

    async fn configure(&self, opts: &Opts, enabled: bool) {
        let mut body = json!({
            "enabled": enabled,
            "base_url": self.target.base,
            "auth": opts.auth.clone().unwrap_or_else(|| json!({ "mode": "bearer_token", "access_token": TOKEN })),
            "scope": { "org_unit_ids": [self.ou], "group_ids": [self.eng, self.ops] },
            "deprovision_mode": opts.mode,
            "max_attempts": opts.max_attempts,
        });
        if opts.aws {
            body["compatibility"] = json!("aws_iam_identity_center");
        }
        self.ok(self.prov(Method::PUT, "").json(&body)).await;
        self.srv.services.wake_provisioning();
    }

    async fn outbox(&self) -> Value {
        self.ok(self.prov(Method::GET, "/outbox")).await
    }

    /// Waits until nothing is pending (dead entries may remain).
    async fn drained(&self) {
        wait("outbox drained", || async {
            self.outbox().await["pending"] == 0
        })
        .await;
    }

    async fn full_sync(&self, dry_run: bool) -> Value {
        let (st, job) = send(
            self.prov(Method::POST, "/sync-jobs")
                .json(&json!({ "dry_run": dry_run })),
        )
        .await;
        assert_eq!(st, 202, "{job}");
        let id = job["id"].as_str().unwrap().to_owned();
        let mut last = Value::Null;
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            last = self
                .ok(self.prov(Method::GET, &format!("/sync-jobs/{id}")))
                .await;
            let s = last["status"].as_str().unwrap();
            if s != "pending" && s != "running" {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("job did not finish: {last}");
    }

    async fn items(&self, job: &Value, query: &str) -> Vec<Value> {
        let id = job["id"].as_str().unwrap();
        let v = self
            .ok(self.prov(
                Method::GET,
                &format!("/sync-jobs/{id}/items?limit=500{query}"),
            ))
            .await;
        v["items"].as_array().unwrap().clone()
    }
}

async fn wait<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if cond().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

async fn wait_for<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

async fn setup(backend: Backend, opts: Opts) -> Option<P> {
    let srv = TestServer::start_with(backend, |c| {
        c.provisioning_backoff_base_ms = 50;
        c.provisioning_backoff_cap_ms = 400;
        c.provisioning_http_timeout_ms = opts.http_timeout_ms;
        c.provisioning_poll_ms = opts.poll_ms;
        c.provisioning_lease_secs = opts.lease_secs;
    })
    .await?;
    let (iid, token) = srv.instance_with_token("Acme").await;
    let target = ScimTarget::start(opts.aws).await;
    let mut p = P {
        srv,
        iid,
        token,
        app: String::new(),
        ou: String::new(),
        eng: String::new(),
        ops: String::new(),
        target,
    };
    let app = p
        .ok(p
            .api(Method::POST, "/apps")
            .json(&json!({ "template_id": opts.template })))
        .await;
    p.app = app["id"].as_str().unwrap().to_owned();
    let ou = p
        .ok(p
            .api(Method::POST, "/org-units")
            .json(&json!({ "name": "Staff" })))
        .await;
    p.ou = ou["id"].as_str().unwrap().to_owned();
    for (name, slot) in [("Engineering", 0), ("Ops", 1)] {
        let g = p
            .ok(p
                .api(Method::POST, "/groups")
                .json(&json!({ "name": name })))
            .await;
        let id = g["id"].as_str().unwrap().to_owned();
        if slot == 0 {
            p.eng = id;
        } else {
            p.ops = id;
        }
    }
    if opts.enable {
        p.configure(&opts, true).await;
    }
    Some(p)
}

fn names(users: &[Value]) -> BTreeSet<String> {
    users
        .iter()
        .map(|u| u["userName"].as_str().unwrap().to_owned())
        .collect()
}

async fn incremental(backend: Backend) {
    let Some(p) = setup(backend, Opts::default()).await else {
        return;
    };
    let alice = p.user("alice", true).await;
    let bob = p.user("bob", true).await;
    let _outsider = p.user("outsider", false).await;
    p.join(&p.eng, &alice).await;
    wait("alice and bob pushed, alice in Engineering", || async {
        names(&p.target.users()) == BTreeSet::from(["alice".to_owned(), "bob".to_owned()])
            && p.target.member_names("Engineering") == vec!["alice".to_owned()]
    })
    .await;
    let remote_alice = p.target.user_by_name("alice").unwrap();
    assert_eq!(remote_alice["externalId"], alice.as_str());
    assert_eq!(remote_alice["active"], true);
    assert!(p.target.group_by_name("Ops").is_some());
    // Update.
    p.ok(p
        .api(Method::PATCH, &format!("/users/{alice}"))
        .json(&json!({ "display_name": "Alice Liddell" })))
        .await;
    wait("display name pushed", || async {
        p.target.user_by_name("alice").unwrap()["displayName"] == "Alice Liddell"
    })
    .await;
    // Disable.
    p.ok(p
        .api(Method::PATCH, &format!("/users/{bob}"))
        .json(&json!({ "status": "disabled" })))
        .await;
    wait("bob disabled", || async {
        p.target.user_by_name("bob").unwrap()["active"] == false
    })
    .await;
    // Leave a group.
    p.ok(p.api(
        Method::DELETE,
        &format!("/groups/{}/members/{alice}", p.eng),
    ))
    .await;
    wait("alice left Engineering", || async {
        p.target.member_names("Engineering").is_empty()
    })
    .await;
    // Leave the scope (delete mode).
    p.ok(p.api(Method::DELETE, &format!("/users/{bob}/org-units/{}", p.ou)))
        .await;
    wait("bob deleted", || async {
        p.target.user_by_name("bob").is_none()
    })
    .await;
    // Deleted locally.
    p.ok(p.api(Method::DELETE, &format!("/users/{alice}")))
        .await;
    wait("alice deleted", || async { p.target.users().is_empty() }).await;
    p.drained().await;
    // Sync records of the incremental deliveries.
    let jobs = p.ok(p.prov(Method::GET, "/sync-jobs?limit=500")).await;
    let jobs = jobs.as_array().unwrap();
    assert!(
        jobs.iter()
            .all(|j| j["trigger_type"] == "auto" && j["kind"] == "incremental")
    );
    let sum = |kind: &str, what: &str| -> i64 {
        jobs.iter()
            .map(|j| j["counts"][kind][what].as_i64().unwrap_or(0))
            .sum()
    };
    assert!(sum("user", "created") >= 2, "{jobs:?}");
    assert!(sum("user", "deleted") >= 2, "{jobs:?}");
    assert!(sum("user", "updated") >= 2, "{jobs:?}");
    assert!(sum("group", "created") >= 2, "{jobs:?}");
    // Newest first.
    let times: Vec<i64> = jobs
        .iter()
        .map(|j| j["created_at"].as_i64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]));
    p.srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_sqlite() {
    incremental(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_postgres() {
    incremental(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_mode_keeps_leavers_disabled() {
    let Some(p) = setup(
        Backend::Sqlite,
        Opts {
            mode: "disable",
            ..Opts::default()
        },
    )
    .await
    else {
        return;
    };
    let carol = p.user("carol", true).await;
    p.join(&p.ops, &carol).await;
    wait("carol pushed into Ops", || async {
        p.target.member_names("Ops") == vec!["carol".to_owned()]
    })
    .await;
    // Still in scope through the Ops group; out of the org unit changes nothing remotely.
    p.ok(p.api(
        Method::DELETE,
        &format!("/users/{carol}/org-units/{}", p.ou),
    ))
    .await;
    p.drained().await;
    assert_eq!(p.target.user_by_name("carol").unwrap()["active"], true);
    // Out of Ops too: out of scope, disabled (not deleted) and out of the group.
    p.ok(p.api(
        Method::DELETE,
        &format!("/groups/{}/members/{carol}", p.ops),
    ))
    .await;
    wait("carol disabled and out of Ops", || async {
        p.target
            .user_by_name("carol")
            .is_some_and(|u| u["active"] == false)
            && p.target.member_names("Ops").is_empty()
    })
    .await;
    // Back in scope: enabled again.
    p.ok(p
        .api(Method::POST, &format!("/users/{carol}/org-units"))
        .json(&json!({ "org_unit_id": p.ou })))
        .await;
    wait("carol re-enabled", || async {
        p.target
            .user_by_name("carol")
            .is_some_and(|u| u["active"] == true)
    })
    .await;
    assert_eq!(p.target.users().len(), 1);
    p.srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_faults_are_retried_and_converge() {
    let Some(p) = setup(Backend::Sqlite, Opts::default()).await else {
        return;
    };
    // 500s, then success.
    p.target.faults().fail_500 = 3;
    p.user("dave", true).await;
    wait("dave pushed after 500s", || async {
        p.target.user_by_name("dave").is_some()
    })
    .await;
    p.drained().await;
    let jobs = p.ok(p.prov(Method::GET, "/sync-jobs?limit=500")).await;
    let failures: i64 = jobs
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["counts"]["user"]["failed"].as_i64().unwrap_or(0))
        .sum();
    assert!(failures >= 1, "{jobs}");
    // 429 with Retry-After: the next attempt is scheduled no earlier than asked.
    {
        let mut f = p.target.faults();
        f.fail_429 = 1;
        f.retry_after = 3;
        f.only_method = Some(Method::POST);
    }
    p.user("erin", true).await;
    let e = wait_for("429 recorded", || async {
        let o = p.outbox().await;
        o["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["attempts"] == 1)
            .cloned()
    })
    .await;
    assert!(e["last_error"].as_str().unwrap().contains("429"), "{e}");
    assert!(
        e["next_attempt_at"].as_i64().unwrap() - e["updated_at"].as_i64().unwrap() >= 3,
        "Retry-After not honoured: {e}"
    );
    wait("erin pushed after 429", || async {
        p.target.user_by_name("erin").is_some()
    })
    .await;
    p.drained().await;
    // A time-out (the target answers after the client gave up): retried, no duplicate.
    {
        let mut f = p.target.faults();
        f.delay = 1;
        f.delay_ms = 1_500;
        f.only_method = Some(Method::POST);
    }
    p.user("frank", true).await;
    wait("frank pushed after a time-out", || async {
        p.target.user_by_name("frank").is_some()
    })
    .await;
    p.drained().await;
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    let franks = p
        .target
        .users()
        .iter()
        .filter(|u| u["userName"] == "frank")
        .count();
    assert_eq!(franks, 1);
    assert!(p.target.count("POST", "/scim/v2/Users") >= 4);
    p.target.faults().only_method = None;
    // 409 on create: the existing remote account is adopted (bound), not duplicated.
    let pre = p
        .target
        .seed_user(json!({ "userName": "grace", "displayName": "old", "active": false }));
    let grace = p.user("grace", true).await;
    wait("grace adopted", || async {
        p.target
            .user_by_name("grace")
            .is_some_and(|u| u["externalId"] == grace.as_str() && u["active"] == true)
    })
    .await;
    assert_eq!(p.target.user_by_name("grace").unwrap()["id"], pre.as_str());
    assert_eq!(p.target.users().len(), 4);
    p.drained().await;
    let jobs = p.ok(p.prov(Method::GET, "/sync-jobs?limit=500")).await;
    let bound: i64 = jobs
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["counts"]["user"]["bound"].as_i64().unwrap_or(0))
        .sum();
    assert!(bound >= 1, "{jobs}");
    p.srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_and_retry() {
    let Some(p) = setup(
        Backend::Sqlite,
        Opts {
            max_attempts: 2,
            ..Opts::default()
        },
    )
    .await
    else {
        return;
    };
    // A non-retryable error dead-letters at once.
    p.target.faults().reject_writes = true;
    let hank = p.user("hank", true).await;
    wait("hank dead", || async {
        let o = p.ok(p.prov(Method::GET, "/outbox?state=dead")).await;
        o["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["object_id"] == hank.as_str())
    })
    .await;
    let o = p.ok(p.prov(Method::GET, "/outbox?state=dead")).await;
    let e = o["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["object_id"] == hank.as_str())
        .unwrap()
        .clone();
    assert_eq!(e["attempts"], 1);
    assert!(e["last_error"].as_str().unwrap().contains("400"), "{e}");
    p.target.faults().reject_writes = false;
    let (st, _) = send(p.prov(Method::POST, &format!("/outbox/user/{hank}/retry"))).await;
    assert_eq!(st, 200);
    wait("hank pushed after retry", || async {
        p.target.user_by_name("hank").is_some()
    })
    .await;
    // Retryable errors dead-letter after max_attempts.
    p.target.faults().fail_500 = 1_000;
    let ivy = p.user("ivy", true).await;
    wait("ivy dead after 2 attempts", || async {
        let o = p.ok(p.prov(Method::GET, "/outbox?state=dead")).await;
        o["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["object_id"] == ivy.as_str() && e["attempts"] == 2)
    })
    .await;
    p.target.faults().fail_500 = 0;
    let (st, r) = send(p.prov(Method::POST, "/outbox/retry-dead")).await;
    assert_eq!(st, 200);
    assert!(r["retried"].as_u64().unwrap() >= 1);
    wait("ivy pushed", || async {
        p.target.user_by_name("ivy").is_some()
    })
    .await;
    p.drained().await;
    assert_eq!(p.outbox().await["dead"], 0);
    // Unknown entries: 404.
    let (st, _) = send(p.prov(Method::POST, "/outbox/user/user_nope/retry")).await;
    assert_eq!(st, 404);
    p.srv.stop().await;
}

fn client_credentials(p: &P, secret: &str, method: &str) -> Value {
    json!({
        "mode": "client_credentials",
        "token_endpoint": p.target.token_url(),
        "client_id": "idaas-provisioning",
        "client_secret": secret,
        "authn_method": method,
    })
}

/// OAuth 2.0 client credentials end to end: the target requires tokens from its token endpoint;
/// with client_secret_basic one token serves many deliveries and a full sync; an expired token is
/// replaced (after the 401 or, with a short lifetime, before it); client_secret_post works after a
/// reconfiguration (a new client); a wrong secret shows as an authentication error and converges
/// once fixed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_client_credentials_basic_and_post() {
    let Some(p) = setup(
        Backend::Sqlite,
        Opts {
            enable: false,
            ..Opts::default()
        },
    )
    .await
    else {
        return;
    };
    // A secret that needs form-encoding inside HTTP Basic (RFC 6749 §2.3.1).
    let secret = "s3cr3t/+:&=%";
    p.target.set_oauth(OAuth::new(
        "idaas-provisioning",
        secret,
        TokenMethod::Basic,
        Duration::from_secs(3600),
    ));
    let basic = Opts {
        auth: Some(client_credentials(&p, secret, "client_secret_basic")),
        ..Opts::default()
    };
    p.configure(&basic, true).await;
    let mut uids = Vec::new();
    for i in 0..6 {
        let uid = p.user(&format!("oa{i}"), true).await;
        p.join(&p.eng, &uid).await;
        uids.push(uid);
    }
    wait("six users pushed with members", || async {
        p.target.users().len() == 6 && p.target.member_names("Engineering").len() == 6
    })
    .await;
    p.drained().await;
    for (i, uid) in uids.iter().enumerate() {
        p.ok(p
            .api(Method::PATCH, &format!("/users/{uid}"))
            .json(&json!({ "display_name": format!("Renamed {i}") })))
            .await;
    }
    wait("renames pushed", || async {
        p.target
            .users()
            .iter()
            .all(|u| u["displayName"].as_str().unwrap().starts_with("Renamed"))
    })
    .await;
    let job = p.full_sync(false).await;
    assert_eq!(job["status"], "success", "{job}");
    p.drained().await;
    {
        let o = p.target.oauth();
        let o = o.as_ref().unwrap();
        assert_eq!(o.issued_basic, 1, "one token for every delivery: {o:?}");
        assert_eq!(o.issued_post, 0);
        assert_eq!(o.unauthorized, 0, "{o:?}");
        assert_eq!(o.refused, 0);
    }
    let scim_requests = p
        .target
        .log()
        .iter()
        .filter(|l| l.path.starts_with("/scim/"))
        .count();
    assert!(scim_requests > 20, "{scim_requests}");
    // The target revokes/expires the token: one 401, a new token, the delivery still succeeds.
    p.target.oauth().as_mut().unwrap().expire_all();
    p.ok(p
        .api(Method::PATCH, &format!("/users/{}", uids[0]))
        .json(&json!({ "display_name": "After expiry" })))
        .await;
    wait("pushed after expiry", || async {
        p.target.user_by_name("oa0").unwrap()["displayName"] == "After expiry"
    })
    .await;
    p.drained().await;
    assert_eq!(p.outbox().await["dead"], 0);
    {
        let o = p.target.oauth();
        let o = o.as_ref().unwrap();
        assert_eq!(o.issued_basic, 2, "{o:?}");
        assert_eq!(o.unauthorized, 1, "{o:?}");
    }
    // client_secret_post with short-lived tokens: a new client for the new configuration, and a
    // token fetched again once the announced lifetime is over.
    p.target.set_oauth(OAuth::new(
        "idaas-provisioning",
        secret,
        TokenMethod::Post,
        Duration::from_secs(2),
    ));
    let post = Opts {
        auth: Some(client_credentials(&p, secret, "client_secret_post")),
        ..Opts::default()
    };
    p.configure(&post, true).await;
    let late = p.user("oa-post", true).await;
    wait("pushed with client_secret_post", || async {
        p.target.user_by_name("oa-post").is_some()
    })
    .await;
    p.drained().await;
    assert_eq!(p.target.oauth().as_ref().unwrap().issued_post, 1);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    p.ok(p
        .api(Method::PATCH, &format!("/users/{late}"))
        .json(&json!({ "display_name": "Later" })))
        .await;
    wait("pushed with a fresh token", || async {
        p.target.user_by_name("oa-post").unwrap()["displayName"] == "Later"
    })
    .await;
    p.drained().await;
    {
        let o = p.target.oauth();
        let o = o.as_ref().unwrap();
        assert_eq!(o.issued_post, 2, "{o:?}");
        assert_eq!(o.issued_basic, 0, "{o:?}");
        assert_eq!(o.refused, 0, "{o:?}");
    }
    // A wrong secret: the token endpoint refuses; the entry shows why and stays retryable.
    let wrong = Opts {
        auth: Some(client_credentials(&p, "wrong-secret", "client_secret_post")),
        ..Opts::default()
    };
    p.configure(&wrong, true).await;
    let failing = p.user("oa-wrong", true).await;
    let entry = wait_for("authentication failure recorded", || async {
        let o = p.outbox().await;
        o["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["object_id"] == failing.as_str() && !e["last_error"].is_null())
            .cloned()
    })
    .await;
    let err = entry["last_error"].as_str().unwrap();
    assert!(
        err.contains("authentication failed") && err.contains("invalid_client"),
        "{entry}"
    );
    assert!(p.target.user_by_name("oa-wrong").is_none());
    p.configure(&post, true).await;
    // Pending entries retry by themselves; entries that ran out of attempts meanwhile are retried.
    let (st, _) = send(p.prov(Method::POST, "/outbox/retry-dead")).await;
    assert_eq!(st, 200);
    wait("pushed once the secret is fixed", || async {
        p.target.user_by_name("oa-wrong").is_some()
    })
    .await;
    p.drained().await;
    assert_eq!(p.outbox().await["dead"], 0);
    p.srv.stop().await;
}

/// Users `u000…` in scope; every third in Engineering, every fifth in Ops.
async fn population(p: &P, n: usize) -> (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>) {
    let mut all = BTreeSet::new();
    let mut eng = BTreeSet::new();
    let mut ops = BTreeSet::new();
    for i in 0..n {
        let name = format!("u{i:03}");
        let uid = p.user(&name, true).await;
        if i % 3 == 0 {
            p.join(&p.eng, &uid).await;
            eng.insert(name.clone());
        }
        if i % 5 == 0 {
            p.join(&p.ops, &uid).await;
            ops.insert(name.clone());
        }
        all.insert(name);
    }
    (all, eng, ops)
}

fn writes(t: &ScimTarget) -> usize {
    t.log().iter().filter(|l| l.method != "GET").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_sync_converges_and_is_idempotent() {
    let Some(p) = setup(
        Backend::Sqlite,
        Opts {
            enable: false,
            ..Opts::default()
        },
    )
    .await
    else {
        return;
    };
    let (all, eng, ops) = population(&p, 300).await;
    // Enable while the target refuses writes: the incremental deliveries dead-letter, so the full
    // sync below does all the work.
    p.target.faults().reject_writes = true;
    p.configure(&Opts::default(), true).await;
    wait("everything dead-lettered", || async {
        let o = p.outbox().await;
        o["pending"] == 0 && o["dead"].as_i64().unwrap() >= 300
    })
    .await;
    p.target.faults().reject_writes = false;
    assert!(p.target.users().is_empty());
    // Dry run: a plan, nothing written.
    let before = writes(&p.target);
    let job = p.full_sync(true).await;
    assert_eq!(job["status"], "success", "{job}");
    assert_eq!(job["dry_run"], true);
    assert_eq!(writes(&p.target), before);
    assert_eq!(job["counts"]["user"]["created"], 300, "{job}");
    assert_eq!(job["counts"]["group"]["created"], 2, "{job}");
    assert_eq!(
        job["counts"]["group_member"]["created"].as_i64().unwrap() as usize,
        eng.len() + ops.len()
    );
    let planned = p.items(&job, "&action=create").await;
    assert_eq!(planned.len(), 302);
    assert!(p.target.users().is_empty());
    // Only one full sync at a time.
    let (st, first) = send(p.prov(Method::POST, "/sync-jobs").json(&json!({}))).await;
    assert_eq!(st, 202);
    let (st, e) = send(p.prov(Method::POST, "/sync-jobs").json(&json!({}))).await;
    assert_eq!(st, 409, "{e}");
    let id = first["id"].as_str().unwrap().to_owned();
    let job = wait_for("full sync done", || async {
        let job = p.ok(p.prov(Method::GET, &format!("/sync-jobs/{id}"))).await;
        (job["status"] != "running" && job["status"] != "pending").then_some(job)
    })
    .await;
    assert_eq!(job["status"], "success", "{job}");
    assert_eq!(job["trigger_type"], "manual");
    assert_eq!(job["done"], job["total"]);
    assert_eq!(job["counts"]["user"]["created"], 300, "{job}");
    // Exactly the expected remote state.
    assert_eq!(names(&p.target.users()), all);
    assert_eq!(p.target.groups().len(), 2);
    assert_eq!(
        p.target
            .member_names("Engineering")
            .into_iter()
            .collect::<BTreeSet<_>>(),
        eng
    );
    assert_eq!(
        p.target
            .member_names("Ops")
            .into_iter()
            .collect::<BTreeSet<_>>(),
        ops
    );
    // A second full sync: everything the same, nothing written.
    let before = writes(&p.target);
    let job = p.full_sync(false).await;
    assert_eq!(job["status"], "success", "{job}");
    assert_eq!(job["counts"]["user"]["same"], 300, "{job}");
    assert_eq!(job["counts"]["group"]["same"], 2, "{job}");
    for kind in ["user", "group", "group_member"] {
        for what in ["created", "updated", "deleted", "failed"] {
            assert_eq!(
                job["counts"][kind][what].as_i64().unwrap_or(0),
                0,
                "{kind}.{what}: {job}"
            );
        }
    }
    assert_eq!(writes(&p.target), before);
    // The dead-lettered incremental entries, retried now, find nothing to do.
    send(p.prov(Method::POST, "/outbox/retry-dead")).await;
    p.drained().await;
    assert_eq!(writes(&p.target), before);
    // Remote drift is repaired: a deleted account, a changed one, a stranger in a group.
    {
        let mut d = p.target.inner.data.lock().unwrap();
        let u1 = d
            .users
            .iter()
            .find(|(_, u)| u["userName"] == "u001")
            .map(|(k, _)| k.clone())
            .unwrap();
        d.users.remove(&u1);
        let u2 = d
            .users
            .values_mut()
            .find(|u| u["userName"] == "u002")
            .unwrap();
        u2["displayName"] = json!("tampered");
        let g = d
            .groups
            .values_mut()
            .find(|g| g["displayName"] == "Ops")
            .unwrap();
        g["members"]
            .as_array_mut()
            .unwrap()
            .push(json!({ "value": "stranger" }));
    }
    let job = p.full_sync(false).await;
    assert_eq!(job["status"], "success", "{job}");
    assert_eq!(job["counts"]["user"]["created"], 1, "{job}");
    assert_eq!(job["counts"]["user"]["updated"], 1, "{job}");
    assert_eq!(job["counts"]["group_member"]["deleted"], 1, "{job}");
    assert_eq!(names(&p.target.users()), all);
    assert_eq!(
        p.target.user_by_name("u002").unwrap()["displayName"],
        "u002 Example"
    );
    assert_eq!(
        p.target
            .member_names("Ops")
            .into_iter()
            .collect::<BTreeSet<_>>(),
        ops
    );
    let ops_group = p.target.group_by_name("Ops").unwrap();
    assert!(!ops_group.to_string().contains("stranger"));
    let failed = p.items(&job, "&failed=true").await;
    assert!(failed.is_empty(), "{failed:?}");
    p.srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_profile_never_sends_patch_replace_and_reads_members_by_filter() {
    let opts = Opts {
        aws: true,
        enable: false,
        ..Opts::default()
    };
    let Some(p) = setup(Backend::Sqlite, opts).await else {
        return;
    };
    let (all, eng, ops) = population(&p, 60).await;
    p.configure(
        &Opts {
            aws: true,
            ..Opts::default()
        },
        true,
    )
    .await;
    wait("incremental push done", || async {
        names(&p.target.users()) == all
            && p.target
                .member_names("Engineering")
                .into_iter()
                .collect::<BTreeSet<_>>()
                == eng
            && p.target
                .member_names("Ops")
                .into_iter()
                .collect::<BTreeSet<_>>()
                == ops
    })
    .await;
    p.drained().await;
    // Group rename and membership changes use add/remove, never replace.
    p.ok(p
        .api(Method::PATCH, &format!("/groups/{}", p.ops))
        .json(&json!({ "name": "Operations" })))
        .await;
    wait("rename pushed", || async {
        p.target.group_by_name("Operations").is_some()
    })
    .await;
    p.drained().await;
    // Full sync: the target returns empty member lists, members are found by filter; all same.
    let job = p.full_sync(false).await;
    assert_eq!(job["status"], "success", "{job}");
    assert_eq!(job["counts"]["user"]["same"], 60, "{job}");
    assert_eq!(
        job["counts"]["group_member"]["same"].as_i64().unwrap() as usize,
        eng.len() + ops.len(),
        "{job}"
    );
    assert_eq!(
        job["counts"]["group_member"]["created"]
            .as_i64()
            .unwrap_or(0),
        0,
        "{job}"
    );
    // Deprovisioning by disable: a PUT of the full user with active=false (no PATCH replace).
    p.configure(
        &Opts {
            aws: true,
            mode: "disable",
            ..Opts::default()
        },
        true,
    )
    .await;
    p.drained().await;
    // The remote externalId is the IDaaS user id.
    let u001 = p.target.user_by_name("u001").unwrap()["externalId"]
        .as_str()
        .unwrap()
        .to_owned();
    let puts_before = p.target.count("PUT", "/scim/v2/Users");
    p.ok(p.api(Method::DELETE, &format!("/users/{u001}/org-units/{}", p.ou)))
        .await;
    wait("u001 disabled", || async {
        p.target
            .user_by_name("u001")
            .is_some_and(|u| u["active"] == false)
    })
    .await;
    p.drained().await;
    assert!(p.target.count("PUT", "/scim/v2/Users") > puts_before);
    let disabled = p.target.user_by_name("u001").unwrap();
    assert_eq!(disabled["displayName"], "u001 Example", "{disabled}");
    assert_eq!(disabled["externalId"], u001.as_str(), "{disabled}");
    for l in p.target.log() {
        if l.method == "PATCH" {
            for op in l.body["Operations"].as_array().unwrap() {
                assert_ne!(
                    op["op"].as_str().unwrap().to_lowercase(),
                    "replace",
                    "{:?}",
                    l.body
                );
            }
        }
        if l.method == "GET" {
            let count = l.query.split('&').find_map(|kv| kv.strip_prefix("count="));
            if let Some(c) = count {
                assert!(c.parse::<u64>().unwrap() <= 50, "{}", l.query);
            }
        }
        if l.method == "POST" && l.path.ends_with("/Users") {
            assert!(l.body["emails"].as_array().is_none_or(|a| a.len() <= 1));
        }
    }
    p.srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_errors_and_isolation() {
    let Some(p) = setup(Backend::Sqlite, Opts::default()).await else {
        return;
    };
    p.user("kim", true).await;
    wait("kim pushed", || async {
        p.target.user_by_name("kim").is_some()
    })
    .await;
    // API errors: unknown job, other instance.
    let (st, _) = send(p.prov(Method::GET, "/sync-jobs/sjob_nope")).await;
    assert_eq!(st, 404);
    let (other_iid, other_token) = p.srv.instance_with_token("Other").await;
    let (st, _) = send(p.srv.with_token(
        &other_token,
        Method::GET,
        &format!(
            "/api/v1/instances/{other_iid}/apps/{}/provisioning/sync-jobs",
            p.app
        ),
    ))
    .await;
    assert_eq!(st, 404);
    let (st, _) = send(p.prov(Method::GET, "/outbox?state=bogus")).await;
    assert_eq!(st, 400);
    p.srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_sync_page() {
    use idaas::audit::Actor;
    use idaas::password::Password;
    use idaas::user::{DisplayName, NewUser, UserName, UserStatus};

    use crate::signin::{Browser, PASSWORD, input_value};

    let Some(p) = setup(Backend::Sqlite, Opts::default()).await else {
        return;
    };
    p.srv
        .services
        .create_user(
            &Actor::system(),
            &p.iid,
            NewUser {
                username: Some(UserName::parse("admin").unwrap()),
                display_name: DisplayName::parse("Admin").unwrap(),
                status: UserStatus::Enabled,
                is_admin: true,
                ..NewUser::default()
            },
            Some(Password::new(PASSWORD)),
        )
        .await
        .unwrap();
    // A dead letter to show.
    p.drained().await;
    p.target.faults().reject_writes = true;
    let lena = p.user("lena", true).await;
    wait("lena dead", || async {
        let o = p.ok(p.prov(Method::GET, "/outbox?state=dead")).await;
        o["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["object_id"] == lena.as_str())
    })
    .await;
    p.target.faults().reject_writes = false;
    let b = Browser::new(&p.srv.base);
    b.sign_in(&p.iid, "admin", PASSWORD, None).await;
    let url = format!("/i/{}/console/apps/{}/sync", p.iid, p.app);
    // The application's tabs link to the sync page.
    for tab in ["sso", "provisioning"] {
        let page = b
            .get(&format!("/i/{}/console/apps/{}/{tab}", p.iid, p.app))
            .await;
        assert_eq!(page.status, 200, "{tab}: {}", page.body);
        assert!(
            page.body
                .contains(&format!(r#"id="sync-tab" href="{url}""#)),
            "{tab}: {}",
            page.body
        );
    }
    let page = b.get(&url).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Push Now"));
    assert!(page.body.contains("dead-letters"));
    assert!(page.body.contains(&lena));
    let csrf = input_value(&page.body, "csrf").unwrap();
    // Without the CSRF token: refused, nothing started.
    let refused = b
        .post(&url, &[("csrf", "wrong"), ("action", "dry_run")])
        .await;
    assert!(
        refused.status == 403 || refused.status == 400,
        "{}",
        refused.status
    );
    // Dry run from the console.
    let started = b
        .post(&url, &[("csrf", &csrf), ("action", "dry_run")])
        .await;
    assert_eq!(started.status, 303);
    assert!(started.location.unwrap().ends_with("?started=1"));
    wait("dry run listed", || async {
        let page = b.get(&url).await;
        page.body.contains("full (dry run)") && page.body.contains("success")
    })
    .await;
    // Retry the dead letter from the console.
    let retried = b
        .post(
            &format!("{url}/retry"),
            &[
                ("csrf", &csrf),
                ("object_type", "user"),
                ("object_id", &lena),
            ],
        )
        .await;
    assert_eq!(retried.status, 303);
    wait("lena pushed", || async {
        p.target.user_by_name("lena").is_some()
    })
    .await;
    p.srv.stop().await;
}

fn job(id: &str, app: &str, inst: &str, kind: &str, status: &str, at: i64) -> SyncJob {
    SyncJob {
        id: id.to_owned(),
        app_id: app.to_owned(),
        instance_id: inst.to_owned(),
        trigger_type: if kind == "full" { "manual" } else { "auto" }.to_owned(),
        kind: kind.to_owned(),
        dry_run: false,
        status: status.to_owned(),
        total: 1,
        done: 1,
        counts: Default::default(),
        error: None,
        created_at: at,
        started_at: Some(at),
        finished_at: (status != "running").then_some(at),
        heartbeat_at: (status == "running").then_some(at),
    }
}

async fn insert_job(s: &idaas::Services, j: &SyncJob, items: usize) {
    let mut tx = s.store.begin_write().await.unwrap();
    sync_job::insert(&mut tx, j).await.unwrap();
    let items: Vec<SyncJobItem> = (0..items)
        .map(|i| SyncJobItem {
            seq: i as i64 + 1,
            object_type: "user".into(),
            object_id: format!("user_{i}"),
            name: format!("u{i}"),
            action: "created".into(),
            error: None,
        })
        .collect();
    sync_job::insert_items(&mut tx, &j.id, &items)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

async fn set_heartbeat(s: &idaas::Services, id: &str, at: i64) {
    let mut tx = s.store.begin_write().await.unwrap();
    assert!(sync_job::heartbeat(&mut tx, id, at).await.unwrap());
    tx.commit().await.unwrap();
}

/// A full sync running on another node (a `sync_jobs` row with a fresh heartbeat) holds this
/// node's deliveries for the application back and refuses another start; once its heartbeat is
/// stale (> 5 min) deliveries resume and the next start marks it failed with a clear error.
async fn full_sync_exclusion_across_nodes(backend: Backend) {
    let Some(p) = setup(backend, Opts::default()).await else {
        return;
    };
    let s = &p.srv.services;
    let now = s.now();
    let foreign = job("sjob_other_node", &p.app, &p.iid, "full", "running", now);
    insert_job(s, &foreign, 0).await;
    let held = p.user("held", true).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(p.target.user_by_name("held").is_none());
    let o = p.outbox().await;
    assert!(
        o["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["object_id"] == held.as_str() && e["attempts"] == 0),
        "{o}"
    );
    let (st, body) = send(
        p.prov(Method::POST, "/sync-jobs")
            .json(&json!({ "dry_run": false })),
    )
    .await;
    assert_eq!(st, 409, "{body}");
    // The other node stops refreshing its heartbeat.
    set_heartbeat(s, &foreign.id, now - full_sync::STALE_SECS - 1).await;
    wait("delivered once the other node's sync is stale", || async {
        p.target.user_by_name("held").is_some()
    })
    .await;
    let job = p.full_sync(false).await;
    assert_eq!(job["status"], "success", "{job}");
    assert_eq!(job["heartbeat_at"], Value::Null, "{job}");
    let old = p
        .ok(p.prov(Method::GET, &format!("/sync-jobs/{}", foreign.id)))
        .await;
    assert_eq!(old["status"], "failed", "{old}");
    assert_eq!(old["error"], sync_job::STALE_ERROR, "{old}");
    assert!(old["finished_at"].as_i64().is_some(), "{old}");
    p.srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_sync_exclusion_across_nodes_sqlite() {
    full_sync_exclusion_across_nodes(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_sync_exclusion_across_nodes_postgres() {
    full_sync_exclusion_across_nodes(Backend::Postgres).await;
}

/// The maintenance pass on an injected clock: incremental sync records older than
/// `sync_record_retention_days` (30 by default) go with their items, full-sync records stay a year,
/// running jobs are never deleted, and a full sync whose heartbeat is older than 5 minutes is
/// marked failed.
async fn maintenance_retention_and_stale_jobs(backend: Backend) {
    use idaas::application::NewApplication;
    use idaas::audit::Actor;
    let Some(tdb) = crate::support::test_db(backend).await else {
        return;
    };
    let store = idaas::store::Store::new(tdb.db.clone());
    store.migrate().await.unwrap();
    let t0 = 1_800_000_000;
    let clock = std::sync::Arc::new(idaas::ManualClock::new(t0));
    let config = idaas::Config::for_tests(tdb.url.clone());
    assert_eq!(config.sync_record_retention_days, 30);
    let s = idaas::Services::new(config, "http://localhost".into(), store, clock.clone()).unwrap();
    let a = Actor::system();
    let inst = s
        .create_instance(&a, "Acme".to_owned().try_into().unwrap(), None, None)
        .await
        .unwrap();
    let app = s
        .create_application(
            &inst,
            &a,
            NewApplication {
                template_id: "apt_cloudsso_saml".into(),
                name: None,
            },
        )
        .await
        .unwrap()
        .id;
    let day = 86_400;
    let jobs = [
        job(
            "sjob_inc_old",
            &app,
            &inst.id,
            "incremental",
            "success",
            t0 - 31 * day,
        ),
        job(
            "sjob_inc_29d",
            &app,
            &inst.id,
            "incremental",
            "failed",
            t0 - 29 * day,
        ),
        job(
            "sjob_full_40d",
            &app,
            &inst.id,
            "full",
            "success",
            t0 - 40 * day,
        ),
        job(
            "sjob_full_old",
            &app,
            &inst.id,
            "full",
            "partial_success",
            t0 - 366 * day,
        ),
        job(
            "sjob_running",
            &app,
            &inst.id,
            "full",
            "running",
            t0 - 400 * day,
        ),
    ];
    for j in &jobs {
        insert_job(&s, j, 3).await;
    }
    // The running job is alive (its node refreshes the heartbeat).
    set_heartbeat(&s, "sjob_running", t0).await;
    let ids = |list: Vec<SyncJob>| -> BTreeSet<String> { list.into_iter().map(|j| j.id).collect() };
    let report = s.run_maintenance_once().await.unwrap();
    assert_eq!(report.sync_records_deleted, 2, "{report:?}");
    assert_eq!(report.sync_jobs_interrupted, 0, "{report:?}");
    let left = s
        .list_sync_jobs(&inst.id, &app, None, Some(500))
        .await
        .unwrap();
    assert_eq!(
        ids(left),
        BTreeSet::from(["sjob_inc_29d", "sjob_full_40d", "sjob_running"].map(String::from))
    );
    {
        let mut conn = s.store.read().await.unwrap();
        for gone in ["sjob_inc_old", "sjob_full_old"] {
            assert_eq!(
                sync_job::count_items(&mut conn, gone, None, false)
                    .await
                    .unwrap(),
                0
            );
        }
        assert_eq!(
            sync_job::count_items(&mut conn, "sjob_inc_29d", None, false)
                .await
                .unwrap(),
            3
        );
    }
    // Two days later the 29-day-old incremental record is past retention too; the running job's
    // heartbeat (still at t0) is now stale: it is marked failed, and, created 400 days ago, is
    // then past the full-sync retention of a year.
    clock.advance(2 * day);
    let report = s.run_maintenance_once().await.unwrap();
    assert_eq!(report.sync_jobs_interrupted, 1, "{report:?}");
    assert_eq!(report.sync_records_deleted, 2, "{report:?}");
    let left = s
        .list_sync_jobs(&inst.id, &app, None, Some(500))
        .await
        .unwrap();
    assert_eq!(ids(left), BTreeSet::from(["sjob_full_40d".to_owned()]));
    // Staleness boundary: 5 minutes without a heartbeat.
    let now = clock.now();
    insert_job(
        &s,
        &job("sjob_live", &app, &inst.id, "full", "running", now),
        0,
    )
    .await;
    clock.advance(full_sync::STALE_SECS);
    assert_eq!(
        s.run_maintenance_once()
            .await
            .unwrap()
            .sync_jobs_interrupted,
        0
    );
    clock.advance(1);
    assert_eq!(
        s.run_maintenance_once()
            .await
            .unwrap()
            .sync_jobs_interrupted,
        1
    );
    let j = s.get_sync_job(&inst.id, &app, "sjob_live").await.unwrap();
    assert_eq!(j.status, "failed");
    assert_eq!(j.error.as_deref(), Some(sync_job::STALE_ERROR));
    assert_eq!(j.finished_at, Some(clock.now()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_retention_and_stale_jobs_sqlite() {
    maintenance_retention_and_stale_jobs(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_retention_and_stale_jobs_postgres() {
    maintenance_retention_and_stale_jobs(Backend::Postgres).await;
}

/// Leases at the store level: a row leased by a dead owner is claimable once the lease expired
/// (not before); the new owner's renewal keeps it; the old owner can neither renew, complete nor
/// fail it; `complete` by the owner deletes it, or releases it when the object changed meanwhile.
async fn outbox_lease_owner(backend: Backend) {
    let Some(p) = setup(
        backend,
        Opts {
            enable: false,
            ..Opts::default()
        },
    )
    .await
    else {
        return;
    };
    let s = &p.srv.services;
    let key = OutboxKey {
        app_id: &p.app,
        object_type: "user",
        object_id: "user_lease_test",
    };
    let t = s.now();
    let mut conn = s.store.read().await.unwrap();
    outbox::enqueue(&mut conn, key, t).await.unwrap();
    let dead = outbox::claim(&mut conn, key, t, t + 15, "dead-node-1")
        .await
        .unwrap()
        .expect("claimable");
    assert_eq!(dead.lease_owner.as_deref(), Some("dead-node-1"));
    assert_eq!(dead.lease_until, Some(t + 15));
    // Live lease: nobody else gets it.
    for at in [t, t + 5, t + 15] {
        assert!(
            outbox::claim(&mut conn, key, at, at + 15, "live-node-1")
                .await
                .unwrap()
                .is_none(),
            "claimed at +{}",
            at - t
        );
    }
    // The dead owner never renewed: claimable one second after the lease.
    let live = outbox::claim(&mut conn, key, t + 16, t + 31, "live-node-1")
        .await
        .unwrap()
        .expect("claimable after the lease");
    assert_eq!(live.lease_owner.as_deref(), Some("live-node-1"));
    // The old owner lost it: no renewal, no completion, no failure recorded.
    assert!(
        outbox::renew(&mut conn, "dead-node-1", t + 40)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        outbox::complete(&mut conn, key, live.change_seq, "dead-node-1")
            .await
            .unwrap(),
        Completion::NotOwner
    );
    assert_eq!(
        outbox::fail(
            &mut conn,
            key,
            live.change_seq,
            1,
            t + 100,
            "boom",
            false,
            t + 17,
            "dead-node-1"
        )
        .await
        .unwrap(),
        Failure::NotOwner
    );
    assert!(
        !outbox::release(&mut conn, key, "dead-node-1")
            .await
            .unwrap()
    );
    let row = outbox::get(&mut conn, key)
        .await
        .unwrap()
        .expect("row kept");
    assert_eq!(row.lease_owner.as_deref(), Some("live-node-1"));
    assert_eq!(row.lease_until, Some(t + 31));
    assert_eq!((row.attempts, row.last_error.clone()), (0, None));
    // The live owner renews (one statement for all it holds): still its own past the first lease.
    let held = outbox::renew(&mut conn, "live-node-1", t + 45)
        .await
        .unwrap();
    assert_eq!(
        held,
        vec![(
            p.app.clone(),
            "user".to_owned(),
            "user_lease_test".to_owned()
        )]
    );
    assert!(
        outbox::claim(&mut conn, key, t + 40, t + 55, "intruder")
            .await
            .unwrap()
            .is_none(),
        "a renewed lease is kept"
    );
    // The object changed meanwhile: completing releases the lease and keeps the row due.
    outbox::enqueue(&mut conn, key, t + 41).await.unwrap();
    assert_eq!(
        outbox::complete(&mut conn, key, live.change_seq, "live-node-1")
            .await
            .unwrap(),
        Completion::Changed
    );
    let row = outbox::get(&mut conn, key)
        .await
        .unwrap()
        .expect("row kept");
    assert_eq!((row.lease_until, row.lease_owner), (None, None));
    // A fresh claim, then completion by the owner deletes it.
    let again = outbox::claim(&mut conn, key, t + 42, t + 57, "live-node-2")
        .await
        .unwrap()
        .expect("claimable once released");
    assert_eq!(
        outbox::complete(&mut conn, key, again.change_seq, "live-node-2")
            .await
            .unwrap(),
        Completion::Deleted
    );
    assert!(outbox::get(&mut conn, key).await.unwrap().is_none());
    // release_owned drops a batch's remaining leases.
    outbox::enqueue(&mut conn, key, t + 43).await.unwrap();
    outbox::claim(&mut conn, key, t + 43, t + 58, "batch-9")
        .await
        .unwrap()
        .expect("claimable");
    assert_eq!(
        outbox::release_owned(&mut conn, "batch-9").await.unwrap(),
        1
    );
    assert!(
        outbox::claim(&mut conn, key, t + 44, t + 59, "batch-10")
            .await
            .unwrap()
            .is_some()
    );
    drop(conn);
    p.srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_lease_owner_sqlite() {
    outbox_lease_owner(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_lease_owner_postgres() {
    outbox_lease_owner(Backend::Postgres).await;
}

/// The worker with a 3-second lease: a row a crashed node had claimed is delivered once its lease
/// expires (and not before); a request slower than the lease does not lose the lease on a live
/// node (the worker renews it while it waits: another node cannot claim it), and the object is
/// created exactly once.
async fn worker_renews_and_takes_over(backend: Backend) {
    let Some(p) = setup(
        backend,
        Opts {
            enable: false,
            lease_secs: 3,
            http_timeout_ms: 8_000,
            ..Opts::default()
        },
    )
    .await
    else {
        return;
    };
    let s = &p.srv.services;
    // A crashed node claimed the row of `orphan` just before dying.
    let orphan = p.user("orphan", true).await;
    let key = OutboxKey {
        app_id: &p.app,
        object_type: "user",
        object_id: &orphan,
    };
    let t = s.now();
    {
        let mut conn = s.store.read().await.unwrap();
        outbox::enqueue(&mut conn, key, t).await.unwrap();
        outbox::claim(&mut conn, key, t, t + 3, "crashed-node-0")
            .await
            .unwrap()
            .expect("claimable");
    }
    p.configure(&Opts::default(), true).await;
    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(
        p.target.user_by_name("orphan").is_none(),
        "delivered before the dead node's lease expired"
    );
    wait("the orphaned row is delivered after its lease", || async {
        p.target.user_by_name("orphan").is_some()
    })
    .await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(8), "took {took:?}");
    p.drained().await;

    // A slow target: every request of the next delivery takes 5 s (> the 3-second lease). One
    // change (one outbox row, one batch): the lease must outlive the requests.
    let slow = p.user("slow", true).await;
    p.drained().await;
    {
        let mut f = p.target.faults();
        f.delay = 3;
        f.delay_ms = 5_000;
    }
    let writes_before = writes(&p.target);
    p.ok(p
        .api(Method::PATCH, &format!("/users/{slow}"))
        .json(&json!({ "display_name": "Slow Renamed" })))
        .await;
    let key = OutboxKey {
        app_id: &p.app,
        object_type: "user",
        object_id: &slow,
    };
    let leased = wait_for("the slow row is claimed", || async {
        let mut conn = s.store.read().await.unwrap();
        outbox::get(&mut conn, key)
            .await
            .unwrap()
            .filter(|e| e.lease_owner.is_some() && e.lease_until.is_some())
    })
    .await;
    let owner = leased.lease_owner.clone().unwrap();
    let first_until = leased.lease_until.unwrap();
    // Past the first lease, while the request is still running: renewed, never claimable.
    tokio::time::sleep(Duration::from_millis(4_500)).await;
    {
        let mut conn = s.store.read().await.unwrap();
        let now = s.now();
        let e = outbox::get(&mut conn, key)
            .await
            .unwrap()
            .expect("still being delivered");
        assert_eq!(e.lease_owner.as_deref(), Some(owner.as_str()), "{e:?}");
        let until = e.lease_until.unwrap();
        assert!(
            until > first_until && until >= now,
            "lease renewed: {e:?} at {now}"
        );
        assert!(
            outbox::claim(&mut conn, key, now, now + 3, "other-node")
                .await
                .unwrap()
                .is_none(),
            "another node took a live lease"
        );
    }
    wait("the slow change arrives", || async {
        p.target
            .user_by_name("slow")
            .is_some_and(|u| u["displayName"] == "Slow Renamed")
    })
    .await;
    p.drained().await;
    assert_eq!(writes(&p.target) - writes_before, 1, "written exactly once");
    assert_eq!(p.outbox().await["pending"], 0);
    p.srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_renews_and_takes_over_sqlite() {
    worker_renews_and_takes_over(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_renews_and_takes_over_postgres() {
    worker_renews_and_takes_over(Backend::Postgres).await;
}

/// `fail` honours `change_seq`: a change that lands while a failing delivery is in flight keeps
/// its reset (attempts 0, due now, not dead-lettered); only the lease is released. With the
/// claimed `change_seq` the failure is recorded.
async fn outbox_fail_respects_change_seq(backend: Backend) {
    let Some(p) = setup(
        backend,
        Opts {
            enable: false,
            ..Opts::default()
        },
    )
    .await
    else {
        return;
    };
    let s = &p.srv.services;
    let key = OutboxKey {
        app_id: &p.app,
        object_type: "user",
        object_id: "user_fail_seq",
    };
    let t = s.now();
    let mut conn = s.store.read().await.unwrap();
    outbox::enqueue(&mut conn, key, t).await.unwrap();
    let claimed = outbox::claim(&mut conn, key, t, t + 15, "node-a")
        .await
        .unwrap()
        .expect("claimable");
    // An earlier failure left attempts behind; then an admin fixes the data (a new change).
    outbox::enqueue(&mut conn, key, t + 1).await.unwrap();
    let failed = outbox::fail(
        &mut conn,
        key,
        claimed.change_seq,
        5,
        t + 500,
        "HTTP 400: bad data",
        true,
        t + 2,
        "node-a",
    )
    .await
    .unwrap();
    assert_eq!(failed, Failure::Changed);
    let row = outbox::get(&mut conn, key)
        .await
        .unwrap()
        .expect("row kept");
    assert_eq!(row.state, "pending", "{row:?}");
    assert_eq!(row.attempts, 0, "{row:?}");
    assert_eq!(row.next_attempt_at, t + 1, "{row:?}");
    assert_eq!(row.last_error, None, "{row:?}");
    assert_eq!((row.lease_until, row.lease_owner.clone()), (None, None));
    assert_eq!(row.change_seq, claimed.change_seq + 1);
    // Claimable at once by anyone; a failure of the claimed state is recorded.
    let again = outbox::claim(&mut conn, key, t + 1, t + 16, "node-b")
        .await
        .unwrap()
        .expect("due now");
    assert_eq!(
        outbox::fail(
            &mut conn,
            key,
            again.change_seq,
            1,
            t + 30,
            "HTTP 500",
            false,
            t + 3,
            "node-b"
        )
        .await
        .unwrap(),
        Failure::Recorded
    );
    let row = outbox::get(&mut conn, key).await.unwrap().unwrap();
    assert_eq!(
        (row.state.as_str(), row.attempts, row.next_attempt_at),
        ("pending", 1, t + 30)
    );
    assert_eq!(row.last_error.as_deref(), Some("HTTP 500"));
    assert_eq!(row.lease_owner, None);
    // Dead-lettering with the claimed change_seq still works.
    let third = outbox::claim(&mut conn, key, t + 30, t + 45, "node-c")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        outbox::fail(
            &mut conn,
            key,
            third.change_seq,
            2,
            t + 60,
            "HTTP 400",
            true,
            t + 31,
            "node-c"
        )
        .await
        .unwrap(),
        Failure::Recorded
    );
    assert_eq!(
        outbox::get(&mut conn, key).await.unwrap().unwrap().state,
        "dead"
    );
    drop(conn);
    p.srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_fail_respects_change_seq_sqlite() {
    outbox_fail_respects_change_seq(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_fail_respects_change_seq_postgres() {
    outbox_fail_respects_change_seq(Backend::Postgres).await;
}

/// A group POST the target accepted but answered after the client time-out, on a target that
/// allows duplicate displayNames: the retry finds the group (by externalId) and adopts it instead
/// of POSTing a duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_create_is_idempotent_after_a_lost_answer() {
    let Some(p) = setup(
        Backend::Sqlite,
        Opts {
            enable: false,
            ..Opts::default()
        },
    )
    .await
    else {
        return;
    };
    p.target
        .inner
        .duplicate_group_names
        .store(true, std::sync::atomic::Ordering::SeqCst);
    {
        let mut f = p.target.faults();
        f.late_answer = 2;
        f.late_answer_ms = 1_500;
        f.only_method = Some(Method::POST);
    }
    p.configure(&Opts::default(), true).await;
    wait("both groups on the target", || async {
        p.target.group_by_name("Engineering").is_some() && p.target.group_by_name("Ops").is_some()
    })
    .await;
    p.drained().await;
    tokio::time::sleep(Duration::from_millis(1_700)).await;
    p.drained().await;
    let groups = p.target.groups();
    let names: Vec<&str> = groups
        .iter()
        .map(|g| g["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(groups.len(), 2, "duplicates created: {names:?}");
    assert_eq!(p.target.count("POST", "/scim/v2/Groups"), 2);
    assert_eq!(p.outbox().await["dead"], 0);
    // The adopted groups are ours: a member added later arrives in the one group.
    let amy = p.user("amy", true).await;
    p.join(&p.eng, &amy).await;
    wait("amy in Engineering", || async {
        p.target.member_names("Engineering") == vec!["amy".to_owned()]
    })
    .await;
    assert_eq!(p.target.groups().len(), 2);
    p.srv.stop().await;
}

/// Adopting a group on the AWS profile (members never returned in answers): its current members
/// are read by filter, stale ones are removed, and only the members actually added are counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_adoption_reads_members_and_counts_what_was_sent() {
    let Some(p) = setup(
        Backend::Sqlite,
        Opts {
            aws: true,
            enable: false,
            ..Opts::default()
        },
    )
    .await
    else {
        return;
    };
    // alice and carol exist remotely already, both in a remote "Engineering"; locally alice and
    // bob are in Engineering, carol is not.
    let alice_rid = p
        .target
        .seed_user(json!({ "userName": "alice", "active": true }));
    let carol_rid = p
        .target
        .seed_user(json!({ "userName": "carol", "active": true }));
    {
        let mut d = p.target.inner.data.lock().unwrap();
        d.groups.insert(
            "gpre".into(),
            json!({ "id": "gpre", "displayName": "Engineering",
                    "members": [{ "value": alice_rid }, { "value": carol_rid }] }),
        );
    }
    let alice = p.user("alice", true).await;
    let bob = p.user("bob", true).await;
    p.user("carol", true).await;
    p.join(&p.eng, &alice).await;
    p.join(&p.eng, &bob).await;
    // Users first, then the groups (as a batch with all of them would order them).
    p.configure(
        &Opts {
            aws: true,
            ..Opts::default()
        },
        true,
    )
    .await;
    wait("Engineering adopted with alice and bob only", || async {
        p.target.member_names("Engineering") == vec!["alice".to_owned(), "bob".to_owned()]
    })
    .await;
    p.drained().await;
    let eng: Vec<Value> = p
        .target
        .groups()
        .into_iter()
        .filter(|g| g["displayName"] == "Engineering")
        .collect();
    assert_eq!(eng.len(), 1);
    assert_eq!(eng[0]["id"], "gpre");
    let jobs = p.ok(p.prov(Method::GET, "/sync-jobs?limit=500")).await;
    let sum = |kind: &str, what: &str| -> i64 {
        jobs.as_array()
            .unwrap()
            .iter()
            .map(|j| j["counts"][kind][what].as_i64().unwrap_or(0))
            .sum()
    };
    assert_eq!(sum("group", "bound"), 1, "{jobs}");
    assert_eq!(
        sum("group_member", "created"),
        1,
        "only bob was added: {jobs}"
    );
    assert_eq!(
        sum("group_member", "deleted"),
        1,
        "carol was removed: {jobs}"
    );
    p.srv.stop().await;
}

/// A username rename against a target that keeps userName immutable: detected from the 400
/// `mutability` answer (standard template) or known up front (Cloud SSO template); the remote
/// account is replaced (deleted, created under the new name), its group memberships restored,
/// and the sync record says `updated` with a note.
async fn username_rename_on_immutable_target(template: &'static str) {
    let Some(p) = setup(
        Backend::Sqlite,
        Opts {
            template,
            ..Opts::default()
        },
    )
    .await
    else {
        return;
    };
    p.target
        .inner
        .immutable_user_name
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let zed = p.user("zed", true).await;
    p.join(&p.eng, &zed).await;
    p.join(&p.ops, &zed).await;
    wait("zed pushed into both groups", || async {
        p.target.member_names("Engineering") == vec!["zed".to_owned()]
            && p.target.member_names("Ops") == vec!["zed".to_owned()]
    })
    .await;
    p.drained().await;
    let old_rid = p.target.user_by_name("zed").unwrap()["id"].clone();
    p.ok(p
        .api(Method::PATCH, &format!("/users/{zed}"))
        .json(&json!({ "username": "zoe" })))
        .await;
    wait("renamed to zoe, back in both groups", || async {
        p.target.user_by_name("zoe").is_some()
            && p.target.member_names("Engineering") == vec!["zoe".to_owned()]
            && p.target.member_names("Ops") == vec!["zoe".to_owned()]
    })
    .await;
    p.drained().await;
    assert!(p.target.user_by_name("zed").is_none());
    assert_eq!(p.target.users().len(), 1);
    let zoe = p.target.user_by_name("zoe").unwrap();
    assert_ne!(zoe["id"], old_rid);
    assert_eq!(zoe["externalId"], zed.as_str());
    assert_eq!(p.outbox().await["dead"], 0);
    let refused = p
        .target
        .log()
        .iter()
        .filter(|l| l.method == "PUT" && l.status == 400)
        .count();
    if template == "apt_cloudsso_saml" {
        assert_eq!(refused, 0, "known immutable: no PUT is tried");
    } else {
        assert_eq!(refused, 1, "the 400 mutability is the signal");
    }
    let jobs = p.ok(p.prov(Method::GET, "/sync-jobs?limit=500")).await;
    let mut noted = Vec::new();
    for j in jobs.as_array().unwrap() {
        for it in p.items(j, "").await {
            if it["object_id"] == zed.as_str() && it["action"] == "updated" {
                noted.push(it["error"].as_str().unwrap_or_default().to_owned());
            }
        }
    }
    assert!(
        noted.iter().any(|n| n.contains("from zed to zoe")),
        "{noted:?}"
    );
    p.srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn username_rename_detected_by_mutability_error() {
    username_rename_on_immutable_target("apt_saml2_standard").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn username_rename_known_immutable_cloud_sso() {
    username_rename_on_immutable_target("apt_cloudsso_saml").await;
}

/// An application deleted while one of its deliveries is in flight: the pass delivering it drops
/// the result quietly (no foreign-key failure, no sync record, no outbox row resurrected) and
/// succeeds; nothing is removed remotely. The background worker polls once a minute here, so the
/// test's own pass is the one that delivers the row it enqueued (without a wake-up).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_deleted_mid_delivery_is_skipped_cleanly() {
    let Some(p) = setup(
        Backend::Sqlite,
        Opts {
            http_timeout_ms: 8_000,
            poll_ms: 60_000,
            ..Opts::default()
        },
    )
    .await
    else {
        return;
    };
    let yan = p.user("yan", true).await;
    wait("yan pushed", || async {
        p.target.user_by_name("yan").is_some()
    })
    .await;
    p.drained().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let s = std::sync::Arc::clone(&p.srv.services);
    // Drift, so that the delivery PUTs (slowly).
    {
        let mut conn = s.store.read().await.unwrap();
        sqlx::query("UPDATE provisioning_objects SET state_hash = 'stale' WHERE object_id = $1")
            .bind(&yan)
            .execute(&mut *conn)
            .await
            .unwrap();
        let key = OutboxKey {
            app_id: &p.app,
            object_type: "user",
            object_id: &yan,
        };
        outbox::enqueue(&mut conn, key, s.now()).await.unwrap();
    }
    {
        let mut f = p.target.faults();
        f.delay = 1;
        f.delay_ms = 1_500;
        f.only_method = Some(Method::PUT);
    }
    let puts = p.target.count("PUT", "/scim/v2/Users");
    let s2 = std::sync::Arc::clone(&s);
    let pass = tokio::spawn(async move { idaas::provisioning::worker::pass(&s2).await });
    wait("yan's PUT in flight", || async {
        p.target.faults().delay == 0
    })
    .await;
    let (st, v) = send(p.api(Method::DELETE, &format!("/apps/{}", p.app))).await;
    assert!((200..300).contains(&st), "{st}: {v}");
    let claimed = pass.await.unwrap().expect("the pass succeeds");
    assert_eq!(claimed, 1);
    assert_eq!(p.target.count("PUT", "/scim/v2/Users"), puts + 1);
    let mut conn = s.store.read().await.unwrap();
    for table in ["provisioning_outbox", "sync_jobs", "provisioning_objects"] {
        let n: i64 = sqlx::Row::get(
            &sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) AS n FROM {table} WHERE app_id = $1"
            )))
            .bind(&p.app)
            .fetch_one(&mut *conn)
            .await
            .unwrap(),
            "n",
        );
        assert_eq!(n, 0, "{table}");
    }
    drop(conn);
    // Nothing is removed remotely.
    assert!(p.target.user_by_name("yan").is_some());
    p.srv.stop().await;
}
