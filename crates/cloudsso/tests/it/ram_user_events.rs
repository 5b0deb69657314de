//! RAM user provisioning follows group membership: `AddUserToGroup` / `RemoveUserFromGroup`
//! events enqueued with every membership change (admin API, SCIM PATCH / PUT / Bulk, SCIM user
//! deletion), run by the task worker with visible status, retried when they failed; RAM user logon
//! follows.

use std::time::Duration;

use cloudsso::assignment::{PrincipalType, TaskStatus, TaskType};
use cloudsso::audit::Actor;
use cloudsso::cloud::resource::{CloudAccount, RamUser};
use cloudsso::directory::Directory;
use cloudsso::group::{Group, GroupName, NewGroup};
use cloudsso::ram_user_provisioning::{
    DeletionStrategy, DuplicationStrategy, NewUserProvisioning, UserProvisioning,
    UserProvisioningEventFilter,
};
use cloudsso::user::{NewUser, User, UserName};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::TestServer;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const BULK: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

struct World {
    directory: Directory,
    account: CloudAccount,
}

async fn world(srv: &TestServer, name: &str) -> World {
    let s = &srv.services;
    let actor = Actor::system();
    let directory = srv.directory(name).await;
    s.create_cloud_account(&actor, &directory.id, "Management", None, true)
        .await
        .unwrap();
    let account = s
        .create_cloud_account(&actor, &directory.id, "Production", Some("/Prod"), false)
        .await
        .unwrap();
    World { directory, account }
}

async fn user(srv: &TestServer, w: &World, name: &str) -> User {
    srv.services
        .create_user(
            &Actor::system(),
            &w.directory.id,
            NewUser {
                user_name: UserName::try_from(name.to_owned()).unwrap(),
                display_name: name.to_owned(),
                email: None,
                first_name: String::new(),
                last_name: String::new(),
                description: String::new(),
                status: Default::default(),
                password: None,
                mfa_required: false,
            },
        )
        .await
        .unwrap()
}

async fn group(srv: &TestServer, w: &World, name: &str) -> Group {
    srv.services
        .create_group(
            &Actor::system(),
            &w.directory.id,
            NewGroup {
                group_name: GroupName::try_from(name.to_owned()).unwrap(),
                description: String::new(),
            },
        )
        .await
        .unwrap()
}

async fn provision(
    srv: &TestServer,
    w: &World,
    principal_type: PrincipalType,
    principal_id: &str,
    dup: DuplicationStrategy,
    del: DeletionStrategy,
) -> UserProvisioning {
    let (up, _) = srv
        .services
        .create_user_provisioning(
            &Actor::system(),
            &w.directory,
            &NewUserProvisioning {
                principal_type,
                principal_id: principal_id.to_owned(),
                target_type: Some("RD-Account".into()),
                target_id: w.account.id.clone(),
                duplication_strategy: Some(dup),
                deletion_strategy: Some(del),
                description: String::new(),
            },
        )
        .await
        .unwrap();
    settle(srv, w).await;
    up
}

/// Runs the queued tasks until none is in progress (the server's own worker may run some too).
async fn settle(srv: &TestServer, w: &World) {
    for _ in 0..300 {
        srv.services.run_pending_tasks().await.unwrap();
        let busy = srv
            .services
            .list_tasks(&w.directory.id)
            .await
            .unwrap()
            .iter()
            .any(|t| t.status == TaskStatus::InProgress);
        if !busy {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("tasks did not finish");
}

async fn ram_user(srv: &TestServer, w: &World, name: &str) -> Option<RamUser> {
    srv.services
        .list_ram_users(&w.account)
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.name == name)
}

async fn ram_names(srv: &TestServer, w: &World) -> Vec<String> {
    srv.services
        .list_ram_users(&w.account)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.name)
        .collect()
}

/// `GET …/user-provisioning-events` over HTTP with a query string.
async fn events_http(srv: &TestServer, w: &World, query: &str) -> Vec<Value> {
    let r = srv
        .platform(
            Method::GET,
            &format!(
                "/api/v1/directories/{}/user-provisioning-events{query}",
                w.directory.id
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Vec<Value>>().await.unwrap()
}

async fn member_http(srv: &TestServer, w: &World, method: Method, g: &Group, u: &User) {
    let r = srv
        .platform(
            method,
            &format!(
                "/api/v1/directories/{}/groups/{}/members/{}",
                w.directory.id, g.id, u.id
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
}

/// The console page after a RAM user logon of `u` (asserts the logon is allowed).
async fn console_as(srv: &TestServer, w: &World, u: &User) -> String {
    let post = srv
        .services
        .ram_user_logon(&w.directory, u, &w.account.id)
        .await
        .unwrap();
    let resp = srv
        .client
        .post(&post.action)
        .form(&[("SAMLResponse", saml::binding::encode_post(&post.xml))])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let cookie = resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    srv.client
        .get(srv.url("/cloud/console"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

crate::both_servers!(admin_membership_changes_follow, |srv| {
    let w = world(&srv, "events-admin").await;
    let s = &srv.services;
    let actor = Actor::system();
    let alice = user(&srv, &w, "alice").await;
    let bob = user(&srv, &w, "bob").await;
    let carol = user(&srv, &w, "carol").await;
    let devs = group(&srv, &w, "devs").await;
    let ops = group(&srv, &w, "ops").await;
    s.add_group_member(&actor, &w.directory.id, &devs.id, &alice.id)
        .await
        .unwrap();
    // A RAM user named like bob exists already (not managed).
    s.create_ram_user(&actor, &w.account, "bob", "by hand")
        .await
        .unwrap();

    // devs: KeepBoth + Delete. Applying it provisions alice.
    let g = provision(
        &srv,
        &w,
        PrincipalType::Group,
        &devs.id,
        DuplicationStrategy::KeepBoth,
        DeletionStrategy::Delete,
    )
    .await;
    assert_eq!(ram_names(&srv, &w).await, ["alice", "bob"]);
    let start = events_http(&srv, &w, "?source_type=StartProvisioning").await;
    assert_eq!(start.len(), 1);
    assert_eq!(start[0]["user_provisioning_id"], g.id.as_str());
    assert_eq!(start[0]["status"], "Success");

    // bob joins devs (admin API): an AddUserToGroup event creates bob_sso (KeepBoth on a clash).
    member_http(&srv, &w, Method::PUT, &devs, &bob).await;
    let ev = events_http(
        &srv,
        &w,
        &format!("?source_type=AddUserToGroup&user_id={}", bob.id),
    )
    .await;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0]["user_provisioning_id"], g.id.as_str());
    assert_eq!(ev[0]["group_id"], devs.id.as_str());
    assert_eq!(ev[0]["user_name"], "bob");
    assert_eq!(ev[0]["account_id"], w.account.id.as_str());
    let ev_id = ev[0]["id"].as_str().unwrap().to_owned();
    settle(&srv, &w).await;
    let e = s
        .user_provisioning_event(&w.directory.id, &ev_id)
        .await
        .unwrap();
    assert_eq!(e.status, TaskStatus::Success, "{:?}", e.failure_reason);
    assert_eq!(e.outcome.as_deref(), Some("created RAM user bob_sso"));
    // The same task through the task API.
    let t = s.task(&w.directory.id, &ev_id).await.unwrap();
    assert_eq!(t.task_type, TaskType::AddUserToGroup);
    assert_eq!(t.principal_id.as_deref(), Some(bob.id.as_str()));
    let bob_sso = ram_user(&srv, &w, "bob_sso").await.expect("bob_sso");
    assert_eq!(bob_sso.provisioning_id.as_deref(), Some(g.id.as_str()));
    assert_eq!(bob_sso.sso_user_id.as_deref(), Some(bob.id.as_str()));
    assert!(
        ram_user(&srv, &w, "bob")
            .await
            .unwrap()
            .provisioning_id
            .is_none()
    );
    // bob can log on as that RAM user.
    let html = console_as(&srv, &w, &bob).await;
    assert!(
        html.contains(&format!("acs:ram::{}:user/bob_sso", w.account.id)),
        "{html}"
    );

    // bob leaves devs: Delete removes bob_sso (not the hand-made bob); logon is refused.
    member_http(&srv, &w, Method::DELETE, &devs, &bob).await;
    settle(&srv, &w).await;
    let ev = events_http(
        &srv,
        &w,
        &format!("?source_type=RemoveUserFromGroup&user_id={}", bob.id),
    )
    .await;
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["status"], "Success");
    assert_eq!(ev[0]["outcome"], "deleted RAM user bob_sso");
    assert_eq!(ram_names(&srv, &w).await, ["alice", "bob"]);
    assert!(
        s.ram_user_logon(&w.directory, &bob, &w.account.id)
            .await
            .is_err()
    );

    // ops: TakeOver + Keep. bob joins: the hand-made bob is taken over; bob leaves: released.
    let k = provision(
        &srv,
        &w,
        PrincipalType::Group,
        &ops.id,
        DuplicationStrategy::TakeOver,
        DeletionStrategy::Keep,
    )
    .await;
    member_http(&srv, &w, Method::PUT, &ops, &bob).await;
    settle(&srv, &w).await;
    let adopted = ram_user(&srv, &w, "bob").await.unwrap();
    assert_eq!(adopted.provisioning_id.as_deref(), Some(k.id.as_str()));
    assert_eq!(adopted.sso_user_id.as_deref(), Some(bob.id.as_str()));
    let post = s.ram_user_logon(&w.directory, &bob, &w.account.id).await;
    assert!(post.is_ok(), "{post:?}");
    member_http(&srv, &w, Method::DELETE, &ops, &bob).await;
    settle(&srv, &w).await;
    let kept = ram_user(&srv, &w, "bob").await.expect("kept");
    assert!(kept.provisioning_id.is_none());
    assert!(kept.sso_user_id.is_none());
    assert!(
        s.ram_user_logon(&w.directory, &bob, &w.account.id)
            .await
            .is_err()
    );

    // carol in both groups: leaving devs hands her RAM user over to ops' provisioning; leaving
    // ops too releases it (Keep).
    s.add_group_member(&actor, &w.directory.id, &devs.id, &carol.id)
        .await
        .unwrap();
    settle(&srv, &w).await;
    s.add_group_member(&actor, &w.directory.id, &ops.id, &carol.id)
        .await
        .unwrap();
    settle(&srv, &w).await;
    let c = ram_user(&srv, &w, "carol").await.unwrap();
    assert_eq!(c.provisioning_id.as_deref(), Some(g.id.as_str()));
    let last = &s
        .list_user_provisioning_events(
            &w.directory.id,
            &UserProvisioningEventFilter {
                user_provisioning_id: Some(k.id.clone()),
                user_id: Some(carol.id.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap()[0];
    assert_eq!(
        last.outcome.as_deref(),
        Some(format!("RAM user carol already exists (managed by {})", g.id).as_str())
    );
    s.remove_group_member(&actor, &w.directory.id, &devs.id, &carol.id)
        .await
        .unwrap();
    settle(&srv, &w).await;
    let c = ram_user(&srv, &w, "carol")
        .await
        .expect("handed over, not deleted");
    assert_eq!(c.provisioning_id.as_deref(), Some(k.id.as_str()));
    assert_eq!(c.sso_user_id.as_deref(), Some(carol.id.as_str()));
    assert!(
        s.ram_user_logon(&w.directory, &carol, &w.account.id)
            .await
            .is_ok()
    );
    s.remove_group_member(&actor, &w.directory.id, &ops.id, &carol.id)
        .await
        .unwrap();
    settle(&srv, &w).await;
    let c = ram_user(&srv, &w, "carol").await.expect("kept");
    assert!(c.provisioning_id.is_none());

    // alice was never touched; the provisionings' own tasks and the events are all listed.
    assert_eq!(
        ram_user(&srv, &w, "alice")
            .await
            .unwrap()
            .provisioning_id
            .as_deref(),
        Some(g.id.as_str())
    );
    let all = events_http(&srv, &w, "").await;
    assert_eq!(all.len(), 2 + 2 + 2 + 2 + 2, "{all:?}");
    assert!(all.iter().all(|e| e["status"] == "Success"));
    let failed = events_http(&srv, &w, "?status=Failed").await;
    assert!(failed.is_empty());
});

/// A SCIM client for one directory (synchronization on, one credential).
struct Scim {
    base: String,
    token: String,
    client: reqwest::Client,
}

impl Scim {
    async fn new(srv: &TestServer, w: &World) -> Scim {
        let s = &srv.services;
        s.set_scim_synchronization(&Actor::system(), &w.directory.id, true)
            .await
            .unwrap();
        let c = s
            .create_scim_credential(&Actor::system(), &w.directory.id)
            .await
            .unwrap();
        Scim {
            base: format!("{}/scim/v2", srv.base),
            token: c.credential_secret,
            client: srv.client.clone(),
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut rb = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            rb = rb
                .header("content-type", "application/scim+json")
                .body(serde_json::to_vec(&b).unwrap());
        }
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn user(&self, name: &str) -> String {
        let (st, b) = self
            .call(
                Method::POST,
                "/Users",
                Some(json!({"schemas": [USER], "userName": name})),
            )
            .await;
        assert_eq!(st, 201, "{b}");
        b["id"].as_str().unwrap().to_owned()
    }

    async fn patch_group(&self, gid: &str, ops: Value) {
        let (st, b) = self
            .call(
                Method::PATCH,
                &format!("/Groups/{gid}"),
                Some(json!({"schemas": [PATCH_OP], "Operations": ops})),
            )
            .await;
        assert_eq!(st, 200, "{b}");
    }
}

crate::both_servers!(scim_membership_changes_follow, |srv| {
    let w = world(&srv, "events-scim").await;
    let s = &srv.services;
    let scim = Scim::new(&srv, &w).await;
    let dana = scim.user("dana").await;
    let erin = scim.user("erin").await;
    let fred = scim.user("fred").await;
    let (st, g) = scim
        .call(
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP], "displayName": "eng", "members": []})),
        )
        .await;
    assert_eq!(st, 201, "{g}");
    let gid = g["id"].as_str().unwrap().to_owned();
    let up = provision(
        &srv,
        &w,
        PrincipalType::Group,
        &gid,
        DuplicationStrategy::KeepBoth,
        DeletionStrategy::Delete,
    )
    .await;
    assert!(ram_names(&srv, &w).await.is_empty());

    // PATCH add dana → RAM user dana; logon works.
    scim.patch_group(
        &gid,
        json!([{"op": "add", "path": "members", "value": [{"value": dana}]}]),
    )
    .await;
    settle(&srv, &w).await;
    let d = ram_user(&srv, &w, "dana").await.expect("dana provisioned");
    assert_eq!(d.provisioning_id.as_deref(), Some(up.id.as_str()));
    let dana_user = s.get_user(&w.directory.id, &dana).await.unwrap();
    let html = console_as(&srv, &w, &dana_user).await;
    assert!(
        html.contains(&format!("acs:ram::{}:user/dana", w.account.id)),
        "{html}"
    );

    // PATCH remove dana (value filter) → deleted; logon refused.
    scim.patch_group(
        &gid,
        json!([{"op": "remove", "path": format!("members[value eq \"{dana}\"]")}]),
    )
    .await;
    settle(&srv, &w).await;
    assert!(ram_user(&srv, &w, "dana").await.is_none());
    assert!(
        s.ram_user_logon(&w.directory, &dana_user, &w.account.id)
            .await
            .is_err()
    );

    // PUT with members [erin] → erin provisioned.
    let (st, b) = scim
        .call(
            Method::PUT,
            &format!("/Groups/{gid}"),
            Some(json!({"schemas": [GROUP], "displayName": "eng", "members": [{"value": erin}]})),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    settle(&srv, &w).await;
    assert!(ram_user(&srv, &w, "erin").await.is_some());

    // Bulk PATCH adds fred and removes erin (Azure AD's remove form).
    let (st, b) = scim
        .call(
            Method::POST,
            "/Bulk",
            Some(json!({"schemas": [BULK], "Operations": [
                {"method": "PATCH", "path": format!("/Groups/{gid}"),
                 "data": {"schemas": [PATCH_OP], "Operations": [
                     {"op": "add", "path": "members", "value": [{"value": fred}]},
                     {"op": "remove", "path": "members", "value": [{"value": erin}]}
                 ]}}
            ]})),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["Operations"][0]["status"], "200", "{b}");
    settle(&srv, &w).await;
    assert_eq!(ram_names(&srv, &w).await, ["fred"]);

    // DELETE /Users/fred: the membership goes with the user, and so does the RAM user.
    let (st, b) = scim
        .call(Method::DELETE, &format!("/Users/{fred}"), None)
        .await;
    assert_eq!(st, 204, "{b}");
    settle(&srv, &w).await;
    assert!(ram_names(&srv, &w).await.is_empty());
    let ev = events_http(
        &srv,
        &w,
        &format!("?source_type=RemoveUserFromGroup&user_id={fred}"),
    )
    .await;
    assert_eq!(ev.len(), 1);
    assert_eq!(
        ev[0]["user_name"], "fred",
        "recorded before the user row went"
    );
    assert_eq!(ev[0]["outcome"], "deleted RAM user fred");

    let adds = events_http(&srv, &w, "?source_type=AddUserToGroup").await;
    let removes = events_http(&srv, &w, "?source_type=RemoveUserFromGroup").await;
    assert_eq!((adds.len(), removes.len()), (3, 3));
    assert!(
        adds.iter()
            .chain(&removes)
            .all(|e| e["status"] == "Success")
    );
});

crate::both_servers!(failed_event_is_visible_and_retried, |srv| {
    let w = world(&srv, "events-retry").await;
    let s = &srv.services;
    let actor = Actor::system();
    let bob = user(&srv, &w, "bob").await;
    let other = user(&srv, &w, "bob_sso").await;
    let team = group(&srv, &w, "team").await;
    // bob's own provisioning (KeepBoth next to a hand-made bob) manages RAM user bob_sso.
    s.create_ram_user(&actor, &w.account, "bob", "by hand")
        .await
        .unwrap();
    let direct = provision(
        &srv,
        &w,
        PrincipalType::User,
        &bob.id,
        DuplicationStrategy::KeepBoth,
        DeletionStrategy::Delete,
    )
    .await;
    assert_eq!(
        ram_user(&srv, &w, "bob_sso")
            .await
            .unwrap()
            .provisioning_id
            .as_deref(),
        Some(direct.id.as_str())
    );
    // team: TakeOver. The user named bob_sso joins: TakeOver of a RAM user another provisioning
    // manages fails.
    let up = provision(
        &srv,
        &w,
        PrincipalType::Group,
        &team.id,
        DuplicationStrategy::TakeOver,
        DeletionStrategy::Delete,
    )
    .await;
    member_http(&srv, &w, Method::PUT, &team, &other).await;
    settle(&srv, &w).await;
    let failed = events_http(&srv, &w, "?status=Failed").await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["source_type"], "AddUserToGroup");
    assert_eq!(failed[0]["user_provisioning_id"], up.id.as_str());
    assert!(
        failed[0]["failure_reason"]
            .as_str()
            .unwrap()
            .contains(&direct.id),
        "{failed:?}"
    );
    let id = failed[0]["id"].as_str().unwrap().to_owned();
    let task = s.task(&w.directory.id, &id).await.unwrap();
    assert_eq!(task.status, TaskStatus::Failed);
    assert!(
        s.ram_user_logon(&w.directory, &other, &w.account.id)
            .await
            .is_err()
    );

    let retry_with = |id: String, body: Value| {
        let srv = &srv;
        let w = &w;
        async move {
            srv.platform(
                Method::POST,
                &format!(
                    "/api/v1/directories/{}/user-provisioning-events/{id}/retry",
                    w.directory.id
                ),
            )
            .json(&body)
            .send()
            .await
            .unwrap()
        }
    };
    let retry = |id: String| retry_with(id, json!({}));
    // Retried while the clash remains: fails again (second attempt).
    let r = retry(id.clone()).await;
    assert_eq!(r.status(), 202);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["id"], id.as_str());
    settle(&srv, &w).await;
    let e = s
        .user_provisioning_event(&w.directory.id, &id)
        .await
        .unwrap();
    assert_eq!(e.status, TaskStatus::Failed);
    assert_eq!(e.attempts, 2);

    // Resolve the clash: delete bob's provisioning (Delete removes bob_sso). Retry succeeds.
    s.delete_user_provisioning(&actor, &w.directory, &direct.id)
        .await
        .unwrap();
    settle(&srv, &w).await;
    assert!(ram_user(&srv, &w, "bob_sso").await.is_none());
    let r = retry(id.clone()).await;
    assert_eq!(r.status(), 202);
    settle(&srv, &w).await;
    let e = s
        .user_provisioning_event(&w.directory.id, &id)
        .await
        .unwrap();
    assert_eq!(e.status, TaskStatus::Success, "{:?}", e.failure_reason);
    assert_eq!(e.failure_reason, None);
    assert_eq!(e.outcome.as_deref(), Some("created RAM user bob_sso"));
    let r = ram_user(&srv, &w, "bob_sso").await.unwrap();
    assert_eq!(r.provisioning_id.as_deref(), Some(up.id.as_str()));
    assert_eq!(r.sso_user_id.as_deref(), Some(other.id.as_str()));
    assert!(
        s.ram_user_logon(&w.directory, &other, &w.account.id)
            .await
            .is_ok()
    );

    // Only a failed event can be retried; unknown ids are 404.
    let r = retry(id.clone()).await;
    assert_eq!(r.status(), 409);
    let r = retry("t-nope".into()).await;
    assert_eq!(r.status(), 404);
    let r = srv
        .platform(
            Method::GET,
            &format!(
                "/api/v1/directories/{}/user-provisioning-events/{id}",
                w.directory.id
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "Success");
    assert_eq!(body["group_id"], team.id.as_str());

    // KeepBoth when both hal and hal_sso exist: ImsUserExists. Retried as TakeOver, it adopts
    // the hand-made hal. The override is for membership events only.
    let hal = user(&srv, &w, "hal").await;
    let team2 = group(&srv, &w, "team2").await;
    let up2 = provision(
        &srv,
        &w,
        PrincipalType::Group,
        &team2.id,
        DuplicationStrategy::KeepBoth,
        DeletionStrategy::Delete,
    )
    .await;
    for name in ["hal", "hal_sso"] {
        s.create_ram_user(&actor, &w.account, name, "by hand")
            .await
            .unwrap();
    }
    s.add_group_member(&actor, &w.directory.id, &team2.id, &hal.id)
        .await
        .unwrap();
    settle(&srv, &w).await;
    let failed = events_http(
        &srv,
        &w,
        &format!("?status=Failed&user_provisioning_id={}", up2.id),
    )
    .await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0]["failure_reason"]
            .as_str()
            .unwrap()
            .contains("OperationConflict.UserProvisioning.Process.fail.ImsUserExists"),
        "{failed:?}"
    );
    let hal_event = failed[0]["id"].as_str().unwrap().to_owned();
    let start = events_http(
        &srv,
        &w,
        &format!(
            "?source_type=StartProvisioning&user_provisioning_id={}",
            up2.id
        ),
    )
    .await;
    let r = retry_with(
        start[0]["id"].as_str().unwrap().to_owned(),
        json!({"duplication_strategy": "TakeOver"}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = retry_with(
        hal_event.clone(),
        json!({"duplication_strategy": "TakeOver"}),
    )
    .await;
    assert_eq!(r.status(), 202);
    settle(&srv, &w).await;
    let e = s
        .user_provisioning_event(&w.directory.id, &hal_event)
        .await
        .unwrap();
    assert_eq!(e.status, TaskStatus::Success, "{:?}", e.failure_reason);
    assert_eq!(e.outcome.as_deref(), Some("took over RAM user hal"));
    let h = ram_user(&srv, &w, "hal").await.unwrap();
    assert_eq!(h.provisioning_id.as_deref(), Some(up2.id.as_str()));
    assert!(
        ram_user(&srv, &w, "hal_sso")
            .await
            .unwrap()
            .provisioning_id
            .is_none()
    );
    // The provisioning itself still says KeepBoth.
    assert_eq!(
        s.user_provisioning(&w.directory.id, &up2.id)
            .await
            .unwrap()
            .duplication_strategy,
        DuplicationStrategy::KeepBoth
    );
});
