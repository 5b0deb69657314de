//! Regression tests for the Cloud SSO review: deleting principals with assignments, group
//! membership revoking RAM-user logon, the lockout race, audit events of cloud logons, the IP
//! allow-list, AllowUserToGetCredentials, the immutable user name and the console logout CSRF.

use std::sync::Arc;

use cloudsso::access_configuration::NewAccessConfiguration;
use cloudsso::assignment::{AssignmentRequest, PrincipalType, TaskStatus};
use cloudsso::audit::{Actor, AuditResult};
use cloudsso::cloud::resource::CloudAccount;
use cloudsso::directory::{Directory, DirectorySettingsPatch, LoginPreferenceInput};
use cloudsso::error::Error;
use cloudsso::group::{GroupName, NewGroup};
use cloudsso::password_logon::{LogonError, MfaSetting, PasswordPolicy};
use cloudsso::ram_user_provisioning::{DeletionStrategy, DuplicationStrategy, NewUserProvisioning};
use cloudsso::user::{NewUser, User, UserName, UserStatus};

use crate::support::TestServer;
use crate::{both_backends, both_servers};

const PW: &str = "Correct-Horse-7";

fn new_user(name: &str) -> NewUser {
    NewUser {
        user_name: UserName::try_from(name.to_owned()).unwrap(),
        display_name: name.into(),
        email: None,
        first_name: String::new(),
        last_name: String::new(),
        description: String::new(),
        status: UserStatus::Enabled,
        password: Some(PW.into()),
        mfa_required: false,
    }
}

struct World {
    d: Directory,
    alice: User,
    account: CloudAccount,
    ac_id: String,
}

/// A directory with alice (password PW), an account, an access configuration "Admin".
async fn world(services: &Arc<cloudsso::Services>, d: Directory) -> World {
    let a = Actor::system();
    services
        .update_directory_settings(
            &a,
            &d.id,
            DirectorySettingsPatch {
                mfa_setting: Some(MfaSetting::Disabled),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let d = services.get_directory(&d.id).await.unwrap();
    let alice = services
        .create_user(&a, &d.id, new_user("alice"))
        .await
        .unwrap();
    services
        .create_cloud_account(&a, &d.id, "Management", None, true)
        .await
        .unwrap();
    let account = services
        .create_cloud_account(&a, &d.id, "Production", Some("/Prod"), false)
        .await
        .unwrap();
    let ac = services
        .create_access_configuration(
            &a,
            &d,
            &NewAccessConfiguration {
                name: "Admin".into(),
                description: String::new(),
                session_duration: Some(3600),
                relay_state: None,
                system_policies: vec!["AdministratorAccess".into()],
                inline_policy: None,
            },
        )
        .await
        .unwrap();
    World {
        d,
        alice,
        account,
        ac_id: ac.id,
    }
}

fn assignment(w: &World, t: PrincipalType, id: &str) -> AssignmentRequest {
    AssignmentRequest {
        access_configuration_id: w.ac_id.clone(),
        target_type: Some("RD-Account".into()),
        target_id: w.account.id.clone(),
        principal_type: t,
        principal_id: id.to_owned(),
    }
}

async fn run_task(services: &cloudsso::Services, d: &Directory, task_id: &str) {
    services.run_pending_tasks().await.unwrap();
    let t = services.task(&d.id, task_id).await.unwrap();
    assert_eq!(t.status, TaskStatus::Success, "{:?}", t.failure_reason);
}

fn provisioning(t: PrincipalType, id: &str, account: &str) -> NewUserProvisioning {
    NewUserProvisioning {
        principal_type: t,
        principal_id: id.to_owned(),
        target_type: None,
        target_id: account.to_owned(),
        duplication_strategy: Some(DuplicationStrategy::KeepBoth),
        deletion_strategy: Some(DeletionStrategy::Delete),
        description: String::new(),
    }
}

both_backends!(
    deleting_principals_requires_removing_assignments_first,
    |env| {
        let s = &env.services;
        let a = Actor::system();
        let d = env.directory("del-refs").await;
        let w = world(s, d).await;
        let group = s
            .create_group(
                &a,
                &w.d.id,
                NewGroup {
                    group_name: GroupName::try_from("ops".to_owned()).unwrap(),
                    description: String::new(),
                },
            )
            .await
            .unwrap();

        // User with an access assignment: refused with a clear message.
        let t = s
            .create_access_assignment(&a, &w.d, &assignment(&w, PrincipalType::User, &w.alice.id))
            .await
            .unwrap();
        run_task(s, &w.d, &t.id).await;
        let r = s.delete_user(&a, &w.d.id, &w.alice.id).await;
        assert!(
            matches!(&r, Err(Error::Conflict(m)) if m.contains("access assignments")),
            "{r:?}"
        );
        let t = s
            .delete_access_assignment(&a, &w.d, &assignment(&w, PrincipalType::User, &w.alice.id))
            .await
            .unwrap();
        run_task(s, &w.d, &t.id).await;

        // User with a RAM user provisioning: refused too.
        let (up, t) = s
            .create_user_provisioning(
                &a,
                &w.d,
                &provisioning(PrincipalType::User, &w.alice.id, &w.account.id),
            )
            .await
            .unwrap();
        run_task(s, &w.d, &t.id).await;
        let r = s.delete_user(&a, &w.d.id, &w.alice.id).await;
        assert!(
            matches!(&r, Err(Error::Conflict(m)) if m.contains("RAM user provisionings")),
            "{r:?}"
        );
        let t = s.delete_user_provisioning(&a, &w.d, &up.id).await.unwrap();
        run_task(s, &w.d, &t.id).await;
        s.delete_user(&a, &w.d.id, &w.alice.id).await.unwrap();

        // Group with an assignment, then with a provisioning.
        let t = s
            .create_access_assignment(&a, &w.d, &assignment(&w, PrincipalType::Group, &group.id))
            .await
            .unwrap();
        run_task(s, &w.d, &t.id).await;
        let r = s.delete_group(&a, &w.d.id, &group.id).await;
        assert!(
            matches!(&r, Err(Error::Conflict(m)) if m.contains("access assignments")),
            "{r:?}"
        );
        let t = s
            .delete_access_assignment(&a, &w.d, &assignment(&w, PrincipalType::Group, &group.id))
            .await
            .unwrap();
        run_task(s, &w.d, &t.id).await;
        let (up, t) = s
            .create_user_provisioning(
                &a,
                &w.d,
                &provisioning(PrincipalType::Group, &group.id, &w.account.id),
            )
            .await
            .unwrap();
        run_task(s, &w.d, &t.id).await;
        let r = s.delete_group(&a, &w.d.id, &group.id).await;
        assert!(
            matches!(&r, Err(Error::Conflict(m)) if m.contains("RAM user provisionings")),
            "{r:?}"
        );
        let t = s.delete_user_provisioning(&a, &w.d, &up.id).await.unwrap();
        run_task(s, &w.d, &t.id).await;
        s.delete_group(&a, &w.d.id, &group.id).await.unwrap();
    }
);

both_backends!(assignment_of_a_vanished_principal_can_be_deleted, |env| {
    let s = &env.services;
    let a = Actor::system();
    let d = env.directory("vanished").await;
    let w = world(s, d).await;
    let bob = s.create_user(&a, &w.d.id, new_user("bob")).await.unwrap();
    let req = assignment(&w, PrincipalType::User, &bob.id);
    let t = s.create_access_assignment(&a, &w.d, &req).await.unwrap();
    run_task(s, &w.d, &t.id).await;
    // The user disappears behind the service's back (e.g. data from before the reference check).
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(&bob.id)
        .execute(env.tdb.db.pool())
        .await
        .unwrap();
    let t = s.delete_access_assignment(&a, &w.d, &req).await.unwrap();
    run_task(s, &w.d, &t.id).await;
    assert!(
        s.list_access_assignments(&w.d.id, None, None)
            .await
            .unwrap()
            .is_empty()
    );
});

/// A portal session of `user_name` (password logon in-process): (cookie header, CSRF token).
async fn portal_session(srv: &TestServer, d: &Directory, user_name: &str) -> (String, String) {
    let logon = srv
        .services
        .password_logon(
            d,
            user_name,
            &cloudsso::password_logon::Password::new(PW),
            None,
            None,
        )
        .await
        .unwrap();
    (
        format!("gh_cs_portal_{}={}", d.id, logon.session.token),
        logon.session.session.csrf_token.clone(),
    )
}

async fn portal_post(
    srv: &TestServer,
    d: &Directory,
    session: &(String, String),
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut form: Vec<(&str, &str)> = vec![("csrf_token", &session.1)];
    form.extend_from_slice(fields);
    srv.client
        .post(srv.url(&format!("/{}/portal/{path}", d.name)))
        .header("cookie", &session.0)
        .form(&form)
        .send()
        .await
        .unwrap()
}

both_servers!(leaving_the_group_revokes_ram_user_logon, |srv| {
    let s = &srv.services;
    let a = Actor::system();
    let d = srv.directory("ram-group").await;
    let w = world(s, d).await;
    let bob = s.create_user(&a, &w.d.id, new_user("bob")).await.unwrap();
    let group = s
        .create_group(
            &a,
            &w.d.id,
            NewGroup {
                group_name: GroupName::try_from("devs".to_owned()).unwrap(),
                description: String::new(),
            },
        )
        .await
        .unwrap();
    s.add_group_member(&a, &w.d.id, &group.id, &bob.id)
        .await
        .unwrap();
    let (_, t) = s
        .create_user_provisioning(
            &a,
            &w.d,
            &provisioning(PrincipalType::Group, &group.id, &w.account.id),
        )
        .await
        .unwrap();
    run_task(s, &w.d, &t.id).await;
    let session = portal_session(&srv, &w.d, "bob").await;
    let account = w.account.id.as_str();
    let resp = portal_post(
        &srv,
        &w.d,
        &session,
        "user-logon",
        &[("account_id", account)],
    )
    .await;
    assert_eq!(resp.status(), 200, "member may log on as the RAM user");

    s.remove_group_member(&a, &w.d.id, &group.id, &bob.id)
        .await
        .unwrap();
    let resp = portal_post(
        &srv,
        &w.d,
        &session,
        "user-logon",
        &[("account_id", account)],
    )
    .await;
    assert!(
        resp.status().is_client_error(),
        "left the group but still logs on: {}",
        resp.status()
    );
    let r = s.ram_user_logon(&w.d, &bob, account).await;
    assert!(matches!(r, Err(Error::NotFound(_))), "{r:?}");

    // Both attempts are in the audit log, actor = bob, target = the account.
    let events = s
        .query_audit(&w.d.id, Some("cloud_logon:"), None, 50)
        .await
        .unwrap()
        .items;
    let ours: Vec<_> = events
        .iter()
        .filter(|e| e.action.ends_with("cloud_logon:ram_user"))
        .collect();
    assert_eq!(ours.len(), 2, "{events:?}");
    assert!(
        ours.iter()
            .all(|e| e.actor_id.as_deref() == Some(bob.id.as_str())
                && e.target_id.as_deref() == Some(account)
                && e.source_ip.as_deref() == Some("127.0.0.1"))
    );
    assert!(ours.iter().any(|e| e.result == AuditResult::Success));
    assert!(ours.iter().any(|e| e.result == AuditResult::Failure));
});

both_backends!(parallel_wrong_passwords_count_exactly_max_attempts, |env| {
    let s = &env.services;
    let a = Actor::system();
    let d = env.directory("race").await;
    s.update_directory_settings(
        &a,
        &d.id,
        DirectorySettingsPatch {
            password_policy: Some(PasswordPolicy {
                max_login_attempts: 5,
                ..PasswordPolicy::default()
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let u = s.create_user(&a, &d.id, new_user("alice")).await.unwrap();
    let d = Arc::new(s.get_directory(&d.id).await.unwrap());
    let mut handles = Vec::new();
    for _ in 0..20 {
        let s = s.clone();
        let d = d.clone();
        handles.push(tokio::spawn(async move {
            s.password_logon(
                &d,
                "alice",
                &cloudsso::password_logon::Password::new("Wrong-Pass-1"),
                None,
                None,
            )
            .await
        }));
    }
    for h in handles {
        let r = h.await.unwrap();
        assert!(
            matches!(
                r,
                Err(LogonError::InvalidCredentials | LogonError::Locked { .. })
            ),
            "{r:?}"
        );
    }
    let (failed, locked_until): (i64, Option<i64>) =
        sqlx::query_as("SELECT failed_attempts, locked_until FROM users WHERE id = $1")
            .bind(&u.id)
            .fetch_one(env.tdb.db.pool())
            .await
            .unwrap();
    assert_eq!(failed, 5, "exactly MaxLoginAttempts attempts are counted");
    assert!(
        locked_until.is_some_and(|t| t > crate::support::T0),
        "locked"
    );
    let r = s
        .password_logon(
            &d,
            "alice",
            &cloudsso::password_logon::Password::new(PW),
            None,
            None,
        )
        .await;
    assert!(matches!(r, Err(LogonError::Locked { .. })), "{r:?}");
});

both_servers!(cloud_logons_and_credentials_are_audited, |srv| {
    let s = &srv.services;
    let a = Actor::system();
    let d = srv.directory("audit-cloud").await;
    let w = world(s, d).await;
    let t = s
        .create_access_assignment(&a, &w.d, &assignment(&w, PrincipalType::User, &w.alice.id))
        .await
        .unwrap();
    run_task(s, &w.d, &t.id).await;
    let session = portal_session(&srv, &w.d, "alice").await;
    let account = w.account.id.as_str();
    let fields = [
        ("account_id", account),
        ("access_configuration_name", "Admin"),
    ];

    // Credentials are refused while AllowUserToGetCredentials is off.
    let resp = portal_post(&srv, &w.d, &session, "credentials", &fields).await;
    assert_eq!(resp.status(), 403);
    let body = resp.text().await.unwrap();
    assert!(!body.contains("AccessKeySecret"), "{body}");

    s.update_directory_settings(
        &a,
        &w.d.id,
        DirectorySettingsPatch {
            login_preference: Some(LoginPreferenceInput {
                allow_user_to_get_credentials: true,
                login_network_masks: vec![],
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let resp = portal_post(&srv, &w.d, &session, "credentials", &fields).await;
    assert_eq!(resp.status(), 200);

    // Role logon, then the console sign-in with the signed Response it returns.
    let resp = portal_post(&srv, &w.d, &session, "role-logon", &fields).await;
    assert_eq!(resp.status(), 200);
    let post = s
        .role_logon(&w.d, &w.alice, account, "Admin", None)
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

    let events = s.query_audit(&w.d.id, None, None, 200).await.unwrap().items;
    let find = |suffix: &str| {
        events
            .iter()
            .filter(|e| e.action.ends_with(suffix))
            .cloned()
            .collect::<Vec<_>>()
    };
    let creds = find("sts_credentials:issue");
    assert_eq!(creds.len(), 2, "{events:?}");
    assert!(creds.iter().any(|e| e.result == AuditResult::Failure));
    assert!(creds.iter().any(|e| e.result == AuditResult::Success));
    let role = find("cloud_logon:role");
    assert_eq!(role.len(), 1, "{events:?}");
    for e in creds.iter().chain(role.iter()) {
        assert_eq!(e.actor_id.as_deref(), Some(w.alice.id.as_str()));
        assert_eq!(e.target_id.as_deref(), Some(account));
        assert_eq!(e.source_ip.as_deref(), Some("127.0.0.1"));
        assert!(e.detail.to_string().contains("role/"), "{:?}", e.detail);
    }
    let sign_in = find("cloud_console:sign_in");
    assert_eq!(sign_in.len(), 1, "{events:?}");
    assert_eq!(sign_in[0].actor_id.as_deref(), Some(w.alice.id.as_str()));
    assert_eq!(sign_in[0].result, AuditResult::Success);
    assert!(
        sign_in[0]
            .target_id
            .as_deref()
            .is_some_and(|t| t.starts_with(&format!("acs:ram::{account}:role/"))),
        "{:?}",
        sign_in[0]
    );
});

both_servers!(ip_allow_list_refuses_password_logon, |srv| {
    let s = &srv.services;
    let a = Actor::system();
    let d = srv.directory("ip-pw").await;
    s.create_user(&a, &d.id, new_user("alice")).await.unwrap();
    let set_masks = |masks: Vec<String>| {
        s.update_directory_settings(
            &a,
            &d.id,
            DirectorySettingsPatch {
                login_preference: Some(LoginPreferenceInput {
                    allow_user_to_get_credentials: false,
                    login_network_masks: masks,
                }),
                ..Default::default()
            },
        )
    };
    set_masks(vec!["10.0.0.0/8".into()]).await.unwrap();
    let d = s.get_directory(&d.id).await.unwrap();
    let pw = cloudsso::password_logon::Password::new(PW);
    let r = s
        .password_logon(&d, "alice", &pw, Some("192.0.2.7"), None)
        .await;
    assert!(matches!(r, Err(LogonError::AddressNotAllowed)), "{r:?}");
    let r = s.password_logon(&d, "alice", &pw, None, None).await;
    assert!(
        matches!(r, Err(LogonError::AddressNotAllowed)),
        "unknown address with a list: {r:?}"
    );
    s.password_logon(&d, "alice", &pw, Some("10.1.2.3"), None)
        .await
        .unwrap();
});

both_servers!(ip_allow_list_refuses_sso_logon, |srv| {
    let sso = crate::acs::sso_directory(&srv, "ip-sso").await;
    let s = &srv.services;
    let a = Actor::system();
    s.update_directory_settings(
        &a,
        &sso.d.id,
        DirectorySettingsPatch {
            login_preference: Some(LoginPreferenceInput {
                allow_user_to_get_credentials: false,
                login_network_masks: vec!["10.0.0.0/8".into()],
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (rid, _) = sso.start(&srv, "/ip-sso/login").await;
    let xml = sso.sign(&sso.params(&srv, Some(&rid), "alice@example.com"));
    let (status, cookie, _, body) = crate::acs::post_acs(&srv, &sso.d, &xml, None).await;
    assert_eq!(status, 403, "127.0.0.1 is not in the list: {body}");
    assert!(body.contains("network address"), "{body}");
    assert!(!cookie);
    s.update_directory_settings(
        &a,
        &sso.d.id,
        DirectorySettingsPatch {
            login_preference: Some(LoginPreferenceInput {
                allow_user_to_get_credentials: false,
                login_network_masks: vec!["127.0.0.0/8".into()],
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (rid, _) = sso.start(&srv, "/ip-sso/login").await;
    let xml = sso.sign(&sso.params(&srv, Some(&rid), "alice@example.com"));
    let (status, cookie, _, body) = crate::acs::post_acs(&srv, &sso.d, &xml, None).await;
    assert!(status < 400 && cookie, "allowed address: {status} {body}");
});

both_servers!(user_name_cannot_be_patched, |srv| {
    let s = &srv.services;
    let d = srv.directory("immutable").await;
    let u = s
        .create_user(&Actor::system(), &d.id, new_user("alice"))
        .await
        .unwrap();
    let path = format!("/api/v1/directories/{}/users/{}", d.id, u.id);
    let resp = srv
        .platform(reqwest::Method::PATCH, &path)
        .json(&serde_json::json!({ "user_name": "mallory", "display_name": "M" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let u2 = s.get_user(&d.id, &u.id).await.unwrap();
    assert_eq!(u2.user_name.as_str(), "alice");
    assert_eq!(u2.display_name, "alice");
    let resp = srv
        .platform(reqwest::Method::PATCH, &path)
        .json(&serde_json::json!({ "display_name": "Alice A" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
});

both_servers!(cloud_console_logout_needs_csrf, |srv| {
    let s = &srv.services;
    let a = Actor::system();
    let d = srv.directory("console-csrf").await;
    let w = world(s, d).await;
    let t = s
        .create_access_assignment(&a, &w.d, &assignment(&w, PrincipalType::User, &w.alice.id))
        .await
        .unwrap();
    run_task(s, &w.d, &t.id).await;
    let post = s
        .role_logon(&w.d, &w.alice, &w.account.id, "Admin", None)
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
    let console = |c: String| {
        srv.client
            .get(srv.url("/cloud/console"))
            .header("cookie", c)
            .send()
    };
    let html = console(cookie.clone()).await.unwrap().text().await.unwrap();
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("csrf field") + marker.len();
    let csrf = html[start..start + html[start..].find('"').unwrap()].to_owned();

    // A cross-site form without the token does not end the session.
    let resp = srv
        .client
        .post(srv.url("/cloud/console/logout"))
        .header("cookie", &cookie)
        .form(&[("x", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(console(cookie.clone()).await.unwrap().status(), 200);

    let resp = srv
        .client
        .post(srv.url("/cloud/console/logout"))
        .header("cookie", &cookie)
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(console(cookie).await.unwrap().status(), 401);
});
