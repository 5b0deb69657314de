//! SCIM synchronization settings (issue 4, products.md §2.2–2.3): the switch, the credentials (at
//! most two, secret shown once and stored hashed, enable/disable/delete/rotate, one-year expiry,
//! last use), `authenticate_scim`, the read-only rule for Synchronized users and groups, ETag
//! versions, audit events, the admin API with its OpenAPI documentation, and the console section.

use reqwest::StatusCode;
use serde_json::{Value, json};

use cloudsso::audit::Actor;
use cloudsso::error::Error;
use cloudsso::group::{GroupName, GroupPatch, NewGroup};
use cloudsso::password_logon::Password;
use cloudsso::scim_credential::{CREDENTIAL_LIFETIME_SECS, ScimCredentialStatus};
use cloudsso::user::{NewUser, ProvisionType, UserName, UserPatch, UserStatus, WriteSource};

use crate::support::{Env, T0, TestServer};
use crate::{both_backends, both_servers};

const PW: &str = "Correct-Horse-7";

fn new_user(name: &str) -> NewUser {
    NewUser {
        user_name: UserName::try_from(name.to_owned()).unwrap(),
        display_name: name.to_uppercase(),
        email: None,
        first_name: String::new(),
        last_name: String::new(),
        description: String::new(),
        status: UserStatus::Enabled,
        password: None,
        mfa_required: false,
    }
}

fn new_group(name: &str) -> NewGroup {
    NewGroup {
        group_name: GroupName::try_from(name.to_owned()).unwrap(),
        description: String::new(),
    }
}

/// The stored secret hashes of a directory's credentials.
async fn stored_hashes(env: &Env, directory_id: &str) -> Vec<String> {
    let mut conn = env.services.store.read().await.unwrap();
    sqlx::query_scalar("SELECT secret_hash FROM scim_credentials WHERE directory_id = $1")
        .bind(directory_id)
        .fetch_all(&mut *conn)
        .await
        .unwrap()
}

/// The actions of a directory's audit events, newest first.
async fn audit_actions(env: &Env, directory_id: &str, prefix: &str) -> Vec<Value> {
    let page = env
        .services
        .query_audit(directory_id, Some(prefix), None, 100)
        .await
        .unwrap();
    page.items
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect()
}

fn is_conflict(e: &Error) -> bool {
    matches!(e, Error::Conflict(m) if m.contains("synchronized by SCIM"))
}

both_backends!(switch_and_endpoint, |env| {
    let s = &env.services;
    let d = env.directory("scim-switch").await;
    assert!(!d.scim_enabled);
    let sync = s.get_scim_synchronization(&d.id).await.unwrap();
    assert!(!sync.enabled);
    assert_eq!(sync.scim_endpoint, "http://sso.test/scim/v2");
    let sync = s
        .set_scim_synchronization(&env.actor(), &d.id, true)
        .await
        .unwrap();
    assert!(sync.enabled);
    assert_eq!(serde_json::to_value(&sync).unwrap()["status"], "Enabled");
    assert!(s.get_directory(&d.id).await.unwrap().scim_enabled);
    s.set_scim_synchronization(&env.actor(), &d.id, false)
        .await
        .unwrap();
    assert!(!s.get_scim_synchronization(&d.id).await.unwrap().enabled);
    assert!(matches!(
        s.set_scim_synchronization(&env.actor(), "d-nope", true)
            .await,
        Err(Error::NotFound(_))
    ));
    let events = audit_actions(&env, &d.id, "scim_synchronization:").await;
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "urn:gatehouse:cloudsso:event:scim_synchronization:disable",
            "urn:gatehouse:cloudsso:event:scim_synchronization:enable"
        ]
    );
});

both_backends!(credentials_limit_secret_hash_and_lifecycle, |env| {
    let s = &env.services;
    let a = env.actor();
    let d = env.directory("scim-creds").await;
    let c1 = s.create_scim_credential(&a, &d.id).await.unwrap();
    assert!(c1.credential.credential_id.starts_with("scimcred-"));
    assert_eq!(c1.credential.status, ScimCredentialStatus::Enabled);
    assert_eq!(c1.credential.created_at, T0);
    assert_eq!(c1.credential.expires_at, T0 + CREDENTIAL_LIFETIME_SECS);
    assert_eq!(c1.credential.last_used_at, None);
    // ≥ 32 random bytes, base64url.
    let random = c1.credential_secret.strip_prefix("ghscim_").unwrap();
    assert!(random.len() >= 43, "{random}");
    assert!(
        random
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    let c2 = s.create_scim_credential(&a, &d.id).await.unwrap();
    assert_ne!(c1.credential_secret, c2.credential_secret);
    // At most two.
    assert!(matches!(
        s.create_scim_credential(&a, &d.id).await,
        Err(Error::LimitExceeded(_))
    ));
    // Hashes are stored, never the secret.
    let hashes = stored_hashes(&env, &d.id).await;
    assert_eq!(hashes.len(), 2);
    for c in [&c1, &c2] {
        assert!(!hashes.contains(&c.credential_secret));
        assert!(hashes.contains(&web::id::hash_secret(&c.credential_secret)));
    }
    // Listing and getting never show a secret.
    let list = s.list_scim_credentials(&d.id).await.unwrap();
    assert_eq!(list.len(), 2);
    let text = serde_json::to_string(&list).unwrap()
        + &serde_json::to_string(
            &s.get_scim_credential(&d.id, &c1.credential.credential_id)
                .await
                .unwrap(),
        )
        .unwrap();
    assert!(!text.contains(&c1.credential_secret) && !text.contains(&c2.credential_secret));
    assert!(!text.contains("secret"), "{text}");

    // Disable, enable, delete.
    let id1 = c1.credential.credential_id.clone();
    let c = s
        .set_scim_credential_status(&a, &d.id, &id1, ScimCredentialStatus::Disabled)
        .await
        .unwrap();
    assert_eq!(c.status, ScimCredentialStatus::Disabled);
    let c = s
        .set_scim_credential_status(&a, &d.id, &id1, ScimCredentialStatus::Enabled)
        .await
        .unwrap();
    assert_eq!(c.status, ScimCredentialStatus::Enabled);
    s.delete_scim_credential(&a, &d.id, &id1).await.unwrap();
    assert!(matches!(
        s.delete_scim_credential(&a, &d.id, &id1).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        s.get_scim_credential(&d.id, &id1).await,
        Err(Error::NotFound(_))
    ));
    // Another directory's credential is invisible.
    let other = env.directory("scim-other").await;
    assert!(matches!(
        s.delete_scim_credential(&a, &other.id, &c2.credential.credential_id)
            .await,
        Err(Error::NotFound(_))
    ));
    // Room for one again.
    s.create_scim_credential(&a, &d.id).await.unwrap();

    let events = audit_actions(&env, &d.id, "scim_credential:").await;
    let actions: Vec<String> = events
        .iter()
        .map(|e| {
            e["action"]
                .as_str()
                .unwrap()
                .rsplit(':')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        actions,
        ["create", "delete", "enable", "disable", "create", "create"]
    );
    let all = serde_json::to_string(&events).unwrap();
    assert!(!all.contains(&c1.credential_secret) && !all.contains(&c2.credential_secret));
});

both_backends!(rotate_creates_and_disables_atomically, |env| {
    let s = &env.services;
    let a = env.actor();
    let d = env.directory("scim-rotate").await;
    s.set_scim_synchronization(&a, &d.id, true).await.unwrap();
    let old = s.create_scim_credential(&a, &d.id).await.unwrap();
    let r = s
        .rotate_scim_credential(&a, &d.id, &old.credential.credential_id)
        .await
        .unwrap();
    assert_eq!(r.replaced.credential_id, old.credential.credential_id);
    assert_eq!(r.replaced.status, ScimCredentialStatus::Disabled);
    assert_eq!(r.created.credential.status, ScimCredentialStatus::Enabled);
    assert!(
        s.authenticate_scim(&old.credential_secret)
            .await
            .unwrap()
            .is_none()
    );
    let p = s
        .authenticate_scim(&r.created.credential_secret)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.credential_id, r.created.credential.credential_id);
    // Two exist now: a second rotation is refused and changes nothing.
    let e = s
        .rotate_scim_credential(&a, &d.id, &r.created.credential.credential_id)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::LimitExceeded(_)), "{e}");
    let list = s.list_scim_credentials(&d.id).await.unwrap();
    assert_eq!(list.len(), 2);
    assert!(
        list.iter()
            .any(|c| c.credential_id == r.created.credential.credential_id
                && c.status == ScimCredentialStatus::Enabled)
    );
    // Unknown credential.
    s.delete_scim_credential(&a, &d.id, &old.credential.credential_id)
        .await
        .unwrap();
    assert!(matches!(
        s.rotate_scim_credential(&a, &d.id, "scimcred-nope").await,
        Err(Error::NotFound(_))
    ));
    let events = audit_actions(&env, &d.id, "scim_credential:rotate").await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0]["detail"]["replacement"],
        r.created.credential.credential_id.as_str()
    );
});

both_backends!(authenticate_scim_rules, |env| {
    let s = &env.services;
    let a = env.actor();
    let d = env.directory("scim-auth").await;
    let c = s.create_scim_credential(&a, &d.id).await.unwrap();
    let id = c.credential.credential_id.clone();
    let secret = c.credential_secret.clone();
    // SCIM off: refused.
    assert!(s.authenticate_scim(&secret).await.unwrap().is_none());
    s.set_scim_synchronization(&a, &d.id, true).await.unwrap();
    let p = s.authenticate_scim(&secret).await.unwrap().unwrap();
    assert_eq!(
        (p.directory_id.as_str(), p.credential_id.as_str()),
        (d.id.as_str(), id.as_str())
    );
    // Unknown, empty, oversized, near-miss secrets.
    for bad in [
        "",
        "ghscim_nope",
        &"x".repeat(10_000),
        &secret[..secret.len() - 1],
        &format!("{secret}x"),
    ] {
        assert!(
            s.authenticate_scim(bad).await.unwrap().is_none(),
            "{bad:.20}"
        );
    }
    // Last use recorded, at most once a minute.
    let last = |s: cloudsso::scim_credential::ScimCredential| s.last_used_at;
    assert_eq!(
        last(s.get_scim_credential(&d.id, &id).await.unwrap()),
        Some(T0)
    );
    env.clock.advance(30);
    s.authenticate_scim(&secret).await.unwrap().unwrap();
    assert_eq!(
        last(s.get_scim_credential(&d.id, &id).await.unwrap()),
        Some(T0)
    );
    env.clock.advance(31);
    s.authenticate_scim(&secret).await.unwrap().unwrap();
    assert_eq!(
        last(s.get_scim_credential(&d.id, &id).await.unwrap()),
        Some(T0 + 61)
    );
    // Disabled: refused; enabled again: accepted.
    s.set_scim_credential_status(&a, &d.id, &id, ScimCredentialStatus::Disabled)
        .await
        .unwrap();
    assert!(s.authenticate_scim(&secret).await.unwrap().is_none());
    s.set_scim_credential_status(&a, &d.id, &id, ScimCredentialStatus::Enabled)
        .await
        .unwrap();
    assert!(s.authenticate_scim(&secret).await.unwrap().is_some());
    // Expired (one year later): refused.
    env.clock.set(T0 + CREDENTIAL_LIFETIME_SECS - 1);
    assert!(s.authenticate_scim(&secret).await.unwrap().is_some());
    env.clock.set(T0 + CREDENTIAL_LIFETIME_SECS);
    assert!(s.authenticate_scim(&secret).await.unwrap().is_none());
    env.clock.set(T0 + 120);
    assert!(s.authenticate_scim(&secret).await.unwrap().is_some());
    // SCIM turned off again: refused.
    s.set_scim_synchronization(&a, &d.id, false).await.unwrap();
    assert!(s.authenticate_scim(&secret).await.unwrap().is_none());
    // Deleted: refused.
    s.set_scim_synchronization(&a, &d.id, true).await.unwrap();
    s.delete_scim_credential(&a, &d.id, &id).await.unwrap();
    assert!(s.authenticate_scim(&secret).await.unwrap().is_none());
});

both_backends!(synchronized_objects_are_read_only_while_scim_is_on, |env| {
    let s = &env.services;
    let a = env.actor();
    let d = env.directory("scim-ro").await;
    let synced = s
        .create_user_as(
            WriteSource::Scim,
            &a,
            &d.id,
            new_user("synced"),
            Some("ext-1".into()),
        )
        .await
        .unwrap();
    assert_eq!(synced.provision_type, ProvisionType::Synchronized);
    assert_eq!(synced.external_id.as_deref(), Some("ext-1"));
    assert_eq!(synced.version, 1);
    let manual = s.create_user(&a, &d.id, new_user("manual")).await.unwrap();
    assert_eq!(manual.provision_type, ProvisionType::Manual);
    let sgroup = s
        .create_group_as(
            WriteSource::Scim,
            &a,
            &d.id,
            new_group("sgroup"),
            Some("gext".into()),
        )
        .await
        .unwrap();
    assert_eq!(sgroup.provision_type, ProvisionType::Synchronized);
    let mgroup = s
        .create_group(&a, &d.id, new_group("mgroup"))
        .await
        .unwrap();
    s.add_group_member_as(WriteSource::Scim, &a, &d.id, &sgroup.id, &synced.id)
        .await
        .unwrap();

    s.set_scim_synchronization(&a, &d.id, true).await.unwrap();
    let rename = || UserPatch {
        display_name: Some("Changed".into()),
        ..Default::default()
    };
    // Refused: profile changes, MFA flag, delete, group edit/delete and membership changes.
    for r in [
        s.update_user(&a, &d.id, &synced.id, rename())
            .await
            .map(|_| ()),
        s.update_user(
            &a,
            &d.id,
            &synced.id,
            UserPatch {
                status: Some(UserStatus::Disabled),
                mfa_required: Some(true),
                ..Default::default()
            },
        )
        .await
        .map(|_| ()),
        s.delete_user(&a, &d.id, &synced.id).await,
        s.update_group(
            &a,
            &d.id,
            &sgroup.id,
            GroupPatch {
                description: Some("x".into()),
                ..Default::default()
            },
        )
        .await
        .map(|_| ()),
        s.delete_group(&a, &d.id, &sgroup.id).await,
        s.add_group_member(&a, &d.id, &sgroup.id, &manual.id).await,
        s.remove_group_member(&a, &d.id, &sgroup.id, &synced.id)
            .await,
    ] {
        let e = r.unwrap_err();
        assert!(is_conflict(&e), "{e}");
    }
    assert_eq!(
        s.get_user(&d.id, &synced.id).await.unwrap().display_name,
        "SYNCED"
    );
    // Allowed: enable/disable logon (also with unchanged fields), password reset.
    let u = s
        .update_user(
            &a,
            &d.id,
            &synced.id,
            UserPatch {
                status: Some(UserStatus::Disabled),
                display_name: Some("SYNCED".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(u.status, UserStatus::Disabled);
    s.update_user(
        &a,
        &d.id,
        &synced.id,
        UserPatch {
            status: Some(UserStatus::Enabled),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    s.set_user_password(&a, &d.id, &synced.id, Password::new(PW.to_owned()))
        .await
        .unwrap();
    // A Synchronized user may join a manual group; manual objects stay editable.
    s.add_group_member(&a, &d.id, &mgroup.id, &synced.id)
        .await
        .unwrap();
    s.remove_group_member(&a, &d.id, &mgroup.id, &synced.id)
        .await
        .unwrap();
    s.update_user(&a, &d.id, &manual.id, rename())
        .await
        .unwrap();
    // The SCIM server's writes bypass the rule.
    let u = s
        .update_user_as(WriteSource::Scim, &a, &d.id, &synced.id, rename())
        .await
        .unwrap();
    assert_eq!(u.display_name, "Changed");
    s.update_group_as(
        WriteSource::Scim,
        &a,
        &d.id,
        &sgroup.id,
        GroupPatch {
            description: Some("by scim".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();

    // SCIM off: everything is editable again.
    s.set_scim_synchronization(&a, &d.id, false).await.unwrap();
    s.update_user(&a, &d.id, &synced.id, rename())
        .await
        .unwrap();
    s.add_group_member(&a, &d.id, &sgroup.id, &manual.id)
        .await
        .unwrap();
    s.remove_group_member(&a, &d.id, &sgroup.id, &manual.id)
        .await
        .unwrap();
    s.update_group(
        &a,
        &d.id,
        &sgroup.id,
        GroupPatch {
            description: Some("by admin".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    s.remove_group_member(&a, &d.id, &sgroup.id, &synced.id)
        .await
        .unwrap();
    s.delete_user(&a, &d.id, &synced.id).await.unwrap();
    s.delete_group(&a, &d.id, &sgroup.id).await.unwrap();
});

both_backends!(scim_deletes_take_memberships_along, |env| {
    let s = &env.services;
    let a = env.actor();
    let d = env.directory("scim-del").await;
    s.set_scim_synchronization(&a, &d.id, true).await.unwrap();
    let u = s
        .create_user_as(WriteSource::Scim, &a, &d.id, new_user("bob"), None)
        .await
        .unwrap();
    let g = s
        .create_group_as(WriteSource::Scim, &a, &d.id, new_group("team"), None)
        .await
        .unwrap();
    let g2 = s
        .create_group_as(WriteSource::Scim, &a, &d.id, new_group("team2"), None)
        .await
        .unwrap();
    for gid in [&g.id, &g2.id] {
        s.add_group_member_as(WriteSource::Scim, &a, &d.id, gid, &u.id)
            .await
            .unwrap();
    }
    let v = s.get_group(&d.id, &g.id).await.unwrap().version;
    s.delete_user_as(WriteSource::Scim, &a, &d.id, &u.id)
        .await
        .unwrap();
    assert!(matches!(
        s.get_user(&d.id, &u.id).await,
        Err(Error::NotFound(_))
    ));
    // The group lost its member: its ETag changed.
    assert!(s.get_group(&d.id, &g.id).await.unwrap().version > v);
    assert!(s.list_group_members(&d.id, &g.id).await.unwrap().is_empty());
    let u2 = s
        .create_user_as(WriteSource::Scim, &a, &d.id, new_user("carol"), None)
        .await
        .unwrap();
    s.add_group_member_as(WriteSource::Scim, &a, &d.id, &g2.id, &u2.id)
        .await
        .unwrap();
    s.delete_group_as(WriteSource::Scim, &a, &d.id, &g2.id)
        .await
        .unwrap();
    assert!(s.group_ids_of_user(&u2.id).await.unwrap().is_empty());
});

both_backends!(every_change_bumps_the_version, |env| {
    let s = &env.services;
    let a = env.actor();
    let d = env.directory("scim-ver").await;
    let u = s.create_user(&a, &d.id, new_user("vera")).await.unwrap();
    assert_eq!(u.version, 1);
    let u2 = s
        .update_user(
            &a,
            &d.id,
            &u.id,
            UserPatch {
                description: Some("x".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(u2.version, 2);
    assert_eq!(s.get_user(&d.id, &u.id).await.unwrap().version, 2);
    s.set_user_password(&a, &d.id, &u.id, Password::new(PW.to_owned()))
        .await
        .unwrap();
    assert_eq!(s.get_user(&d.id, &u.id).await.unwrap().version, 3);

    let g = s
        .create_group(&a, &d.id, new_group("vgroup"))
        .await
        .unwrap();
    assert_eq!(g.version, 1);
    let g2 = s
        .update_group(
            &a,
            &d.id,
            &g.id,
            GroupPatch {
                description: Some("y".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(g2.version, 2);
    s.add_group_member(&a, &d.id, &g.id, &u.id).await.unwrap();
    assert_eq!(s.get_group(&d.id, &g.id).await.unwrap().version, 3);
    // Idempotent re-add: no change, no bump.
    s.add_group_member(&a, &d.id, &g.id, &u.id).await.unwrap();
    assert_eq!(s.get_group(&d.id, &g.id).await.unwrap().version, 3);
    env.clock.advance(5);
    s.remove_group_member(&a, &d.id, &g.id, &u.id)
        .await
        .unwrap();
    let g3 = s.get_group(&d.id, &g.id).await.unwrap();
    assert_eq!((g3.version, g3.updated_at), (4, T0 + 5));

    // If-Match inside a transaction: a stale version changes nothing.
    let mut tx = s.store.begin_write().await.unwrap();
    let mut cur = cloudsso::store::user::get(&mut tx, &d.id, &u.id)
        .await
        .unwrap()
        .unwrap();
    cur.display_name = "stale".into();
    assert_eq!(
        cloudsso::store::user::update_checked(&mut tx, &cur, Some(1))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        // 5: created (1), two profile changes, then added to and removed from a group (its
        // SCIM `groups` attribute changed twice).
        cloudsso::store::user::update_checked(&mut tx, &cur, Some(5))
            .await
            .unwrap(),
        Some(6)
    );
    let mut grp = cloudsso::store::group::get(&mut tx, &d.id, &g.id)
        .await
        .unwrap()
        .unwrap();
    grp.external_id = Some("ext".into());
    assert_eq!(
        cloudsso::store::group::update_checked(&mut tx, &grp, Some(3))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        cloudsso::store::group::update_checked(&mut tx, &grp, Some(4))
            .await
            .unwrap(),
        Some(5)
    );
    tx.commit().await.unwrap();
    assert_eq!(
        s.get_group(&d.id, &g.id)
            .await
            .unwrap()
            .external_id
            .as_deref(),
        Some("ext")
    );
});

// ---- over HTTP ---------------------------------------------------------------------------------

/// A directory-scoped admin API client.
struct Api<'a> {
    srv: &'a TestServer,
    base: String,
}

impl Api<'_> {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let mut req = self.srv.platform(method, &format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::Null),
            headers,
        )
    }
}

both_servers!(admin_api, |srv| {
    let d = srv.directory("scim-api").await;
    let api = Api {
        srv: &srv,
        base: format!("/api/v1/directories/{}", d.id),
    };
    use reqwest::Method as M;
    let (st, v, _) = api.call(M::GET, "/scim-synchronization", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["enabled"], false);
    assert_eq!(v["status"], "Disabled");
    assert_eq!(v["scim_endpoint"], format!("{}/scim/v2", srv.base));
    let (st, v, _) = api
        .call(
            M::PUT,
            "/scim-synchronization",
            Some(json!({ "enabled": true })),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["enabled"], true);
    let (st, _, _) = api
        .call(
            M::PUT,
            "/scim-synchronization",
            Some(json!({ "enabled": "yes" })),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    // The directory view carries the switch too.
    let (_, v, _) = api.call(M::GET, "", None).await;
    assert_eq!(v["scim_enabled"], true);

    let (st, c1, h) = api.call(M::POST, "/scim-credentials", None).await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(c1["credential_type"], "BearerToken");
    assert_eq!(c1["status"], "Enabled");
    assert_eq!(
        c1["expires_at"].as_i64().unwrap() - c1["created_at"].as_i64().unwrap(),
        CREDENTIAL_LIFETIME_SECS
    );
    let secret1 = c1["credential_secret"].as_str().unwrap().to_owned();
    let id1 = c1["credential_id"].as_str().unwrap().to_owned();
    let (st, _, _) = api.call(M::POST, "/scim-credentials", None).await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, v, _) = api.call(M::POST, "/scim-credentials", None).await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_eq!(v["error"], "limit_exceeded");
    let (st, v, _) = api.call(M::GET, "/scim-credentials", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert!(!v.to_string().contains(&secret1));
    assert!(v[0].get("credential_secret").is_none());
    let (st, v, _) = api
        .call(M::GET, &format!("/scim-credentials/{id1}"), None)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert!(v.get("credential_secret").is_none());
    assert!(
        srv.services
            .authenticate_scim(&secret1)
            .await
            .unwrap()
            .is_some()
    );
    let (_, v, _) = api
        .call(M::GET, &format!("/scim-credentials/{id1}"), None)
        .await;
    assert_eq!(v["last_used_at"], T0);
    let (st, v, _) = api
        .call(
            M::PATCH,
            &format!("/scim-credentials/{id1}"),
            Some(json!({ "status": "Disabled" })),
        )
        .await;
    assert_eq!(
        (st, v["status"].as_str()),
        (StatusCode::OK, Some("Disabled"))
    );
    assert!(
        srv.services
            .authenticate_scim(&secret1)
            .await
            .unwrap()
            .is_none()
    );
    let (st, _, _) = api
        .call(
            M::PATCH,
            &format!("/scim-credentials/{id1}"),
            Some(json!({ "status": "Sleeping" })),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    // Rotation refused with two credentials.
    let (st, v, _) = api
        .call(M::POST, &format!("/scim-credentials/{id1}/rotate"), None)
        .await;
    assert_eq!(
        (st, v["error"].as_str()),
        (StatusCode::CONFLICT, Some("limit_exceeded"))
    );
    let (st, _, _) = api
        .call(M::DELETE, &format!("/scim-credentials/{id1}"), None)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _, _) = api
        .call(M::DELETE, &format!("/scim-credentials/{id1}"), None)
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (_, v, _) = api.call(M::GET, "/scim-credentials", None).await;
    let id2 = v[0]["credential_id"].as_str().unwrap().to_owned();
    let (st, v, h) = api
        .call(M::POST, &format!("/scim-credentials/{id2}/rotate"), None)
        .await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(v["replaced"]["credential_id"], id2.as_str());
    assert_eq!(v["replaced"]["status"], "Disabled");
    let new_secret = v["created"]["credential_secret"].as_str().unwrap();
    assert!(
        srv.services
            .authenticate_scim(new_secret)
            .await
            .unwrap()
            .is_some()
    );

    // Read-only rule over the API: 409 conflict; status change and password allowed.
    let a = Actor::system();
    let s = &srv.services;
    let u = s
        .create_user_as(WriteSource::Scim, &a, &d.id, new_user("synced"), None)
        .await
        .unwrap();
    let g = s
        .create_group_as(WriteSource::Scim, &a, &d.id, new_group("sg"), None)
        .await
        .unwrap();
    let (_, v, _) = api.call(M::GET, &format!("/users/{}", u.id), None).await;
    assert_eq!(v["provision_type"], "Synchronized");
    assert_eq!(v["version"], 1);
    assert!(v["external_id"].is_null());
    let (st, v, _) = api
        .call(
            M::PATCH,
            &format!("/users/{}", u.id),
            Some(json!({ "display_name": "x" })),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_eq!(v["error"], "conflict");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("synchronized by SCIM"),
        "{v}"
    );
    let (st, _, _) = api.call(M::DELETE, &format!("/users/{}", u.id), None).await;
    assert_eq!(st, StatusCode::CONFLICT);
    let (st, _, _) = api
        .call(
            M::PATCH,
            &format!("/groups/{}", g.id),
            Some(json!({ "description": "x" })),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    let (st, _, _) = api
        .call(M::PUT, &format!("/groups/{}/members/{}", g.id, u.id), None)
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    let (st, _, _) = api
        .call(M::DELETE, &format!("/groups/{}", g.id), None)
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    let (st, v, _) = api
        .call(
            M::PATCH,
            &format!("/users/{}", u.id),
            Some(json!({ "status": "Disabled" })),
        )
        .await;
    assert_eq!(
        (st, v["status"].as_str()),
        (StatusCode::OK, Some("Disabled"))
    );
    assert_eq!(v["version"], 2);
    let (st, _, _) = api
        .call(
            M::PUT,
            &format!("/users/{}/password", u.id),
            Some(json!({ "password": PW })),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    // SCIM off: editable again.
    api.call(
        M::PUT,
        "/scim-synchronization",
        Some(json!({ "enabled": false })),
    )
    .await;
    let (st, _, _) = api
        .call(
            M::PATCH,
            &format!("/users/{}", u.id),
            Some(json!({ "display_name": "x" })),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _, _) = api
        .call(M::DELETE, &format!("/groups/{}", g.id), None)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);

    // Audit events over the API.
    let (_, v, _) = api
        .call(M::GET, "/audit?action=scim_credential:", None)
        .await;
    let n = v["items"].as_array().unwrap().len();
    assert_eq!(n, 5, "{v}"); // create ×2, disable, delete, rotate (refusals are not events)
    assert!(!v.to_string().contains(&secret1));

    // Another directory's token sees nothing of this one.
    let other = srv.directory("scim-api-other").await;
    let tok = s
        .create_api_token(
            &a,
            Some(&other.id),
            "o".to_owned().try_into().unwrap(),
            None,
        )
        .await
        .unwrap();
    let resp = srv
        .client
        .get(srv.url(&format!("/api/v1/directories/{}/scim-credentials", d.id)))
        .bearer_auth(&tok.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
});

both_servers!(openapi_documents_the_scim_routes, |srv| {
    let doc: Value = srv
        .client
        .get(srv.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let routes = cloudsso::http::scim_admin::routes();
    let all = cloudsso::http::admin_routes();
    assert_eq!(routes.list().len(), 8);
    for (method, path) in routes.list() {
        assert!(
            all.contains(&(method.clone(), path.clone())),
            "{method} {path}"
        );
        let op = &doc["paths"][path][method.as_str().to_lowercase()];
        assert!(op.is_object(), "{method} {path} undocumented");
        assert_eq!(op["tags"], json!(["scim"]), "{method} {path}: {op}");
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        for seg in path.split('/') {
            if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                let n = params
                    .iter()
                    .filter(|p| p["name"] == name && p["in"] == "path")
                    .count();
                assert_eq!(n, 1, "{method} {path}: {name}");
            }
        }
        if matches!(method.as_str(), "PUT" | "PATCH") {
            assert!(op["requestBody"].is_object(), "{method} {path}");
        }
    }
    // Every admin route of every area is still documented.
    for (method, path) in &all {
        assert!(
            doc["paths"][path][method.as_str().to_lowercase()].is_object(),
            "{method} {path} undocumented"
        );
    }
    for schema in [
        "ScimCredential",
        "CreatedScimCredential",
        "ScimSynchronization",
        "User",
        "Task",
    ] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
});

// ---- console ----------------------------------------------------------------------------------

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn input_value(html: &str, name: &str) -> String {
    let key = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&key)
        .unwrap_or_else(|| panic!("no input {name} in:\n{html}"))
        + key.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_owned()
}

/// The text of the element with `id`.
fn by_id(html: &str, id: &str) -> String {
    let key = format!("id=\"{id}\">");
    let start = html
        .find(&key)
        .unwrap_or_else(|| panic!("no #{id} in:\n{html}"))
        + key.len();
    let end = html[start..].find('<').unwrap() + start;
    html[start..end].to_owned()
}

async fn get_html(b: &reqwest::Client, url: String) -> String {
    let resp = b.get(url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.text().await.unwrap()
}

both_servers!(console_user_settings, |srv| {
    let s = &srv.services;
    let a = Actor::system();
    let d = srv.directory("scim-console").await;
    let token = s
        .create_api_token(
            &a,
            Some(&d.id),
            "console".to_owned().try_into().unwrap(),
            None,
        )
        .await
        .unwrap();
    let b = browser();
    let html = get_html(&b, srv.url("/console/login")).await;
    let csrf = input_value(&html, "csrf");
    let resp = b
        .post(srv.url("/console/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("api_token", token.secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let settings = srv.url(&format!("/console/directories/{}/settings", d.id));
    let html = get_html(&b, settings.clone()).await;
    let csrf = input_value(&html, "csrf");
    assert!(html.contains("User Settings"));
    assert_eq!(by_id(&html, "scim-status"), "Disabled");
    assert_eq!(
        by_id(&html, "scim-endpoint"),
        format!("{}/scim/v2", srv.base)
    );
    assert!(html.contains("No SCIM credential."));

    // A form without CSRF is refused.
    let resp = b
        .post(format!("{settings}/scim"))
        .form(&[("scim_enabled", "true")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(!s.get_directory(&d.id).await.unwrap().scim_enabled);
    // The switch.
    let resp = b
        .post(format!("{settings}/scim"))
        .form(&[("csrf", csrf.as_str()), ("scim_enabled", "true")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(s.get_directory(&d.id).await.unwrap().scim_enabled);
    let html = get_html(&b, format!("{settings}?done=scim_on")).await;
    assert_eq!(by_id(&html, "scim-status"), "Enabled");

    // Generate: the secret is on the result page only.
    let resp = b
        .post(format!("{settings}/scim/credentials"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let html = resp.text().await.unwrap();
    let secret = by_id(&html, "scim-secret");
    let cid = by_id(&html, "scim-credential-id");
    assert!(secret.starts_with("ghscim_"));
    let p = s.authenticate_scim(&secret).await.unwrap().unwrap();
    assert_eq!(p.credential_id, cid);
    let html = get_html(&b, settings.clone()).await;
    assert!(html.contains(&cid));
    assert!(!html.contains(&secret));
    assert!(html.contains("Generate New SCIM Credential"));
    // Disable, enable via the buttons.
    let resp = b
        .post(format!("{settings}/scim/credentials/{cid}/disable"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(s.authenticate_scim(&secret).await.unwrap().is_none());
    let resp = b
        .post(format!("{settings}/scim/credentials/{cid}/enable"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(s.authenticate_scim(&secret).await.unwrap().is_some());
    // Rotate: a new secret page; the old credential is disabled.
    let resp = b
        .post(format!("{settings}/scim/credentials/{cid}/rotate"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    let secret2 = by_id(&html, "scim-secret");
    assert!(html.contains(&cid));
    assert!(s.authenticate_scim(&secret).await.unwrap().is_none());
    assert!(s.authenticate_scim(&secret2).await.unwrap().is_some());
    // Two credentials: no Generate button; a third is refused with the message.
    let html = get_html(&b, settings.clone()).await;
    assert!(!html.contains("Generate New SCIM Credential</button>"));
    let resp = b
        .post(format!("{settings}/scim/credentials"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert!(resp.text().await.unwrap().contains("at most two"));
    // Delete.
    let resp = b
        .post(format!("{settings}/scim/credentials/{cid}/delete"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(s.list_scim_credentials(&d.id).await.unwrap().len(), 1);

    // Users and groups: the badge, no Delete button while SCIM is on, logon toggle kept.
    let synced = s
        .create_user_as(WriteSource::Scim, &a, &d.id, new_user("synced"), None)
        .await
        .unwrap();
    let manual = s.create_user(&a, &d.id, new_user("manual")).await.unwrap();
    s.create_group_as(WriteSource::Scim, &a, &d.id, new_group("sgroup"), None)
        .await
        .unwrap();
    let users = srv.url(&format!("/console/directories/{}/users", d.id));
    let html = get_html(&b, users.clone()).await;
    let row = |html: &str, id: &str| {
        let start = html.find(&format!("data-user-id=\"{id}\"")).unwrap();
        html[start..start + html[start..].find("</tr>").unwrap()].to_owned()
    };
    let srow = row(&html, &synced.id);
    assert!(srow.contains(">Synchronized</span>"));
    assert!(!srow.contains("/delete"));
    assert!(srow.contains("Disable logon"));
    let mrow = row(&html, &manual.id);
    assert!(mrow.contains("/delete") && !mrow.contains(">Synchronized<"));
    let groups = srv.url(&format!("/console/directories/{}/groups", d.id));
    let html = get_html(&b, groups.clone()).await;
    assert!(html.contains(">Synchronized</span>") && !html.contains("/delete"));
    // Disabling logon works; a forged delete is refused by the service (409).
    let resp = b
        .post(format!("{users}/{}/disable", synced.id))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        s.get_user(&d.id, &synced.id).await.unwrap().status,
        UserStatus::Disabled
    );
    let resp = b
        .post(format!("{users}/{}/delete", synced.id))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert!(resp.text().await.unwrap().contains("synchronized by SCIM"));
    // SCIM off: the Delete buttons come back.
    s.set_scim_synchronization(&a, &d.id, false).await.unwrap();
    let html = get_html(&b, users.clone()).await;
    assert!(row(&html, &synced.id).contains("/delete"));
    let html = get_html(&b, groups).await;
    assert!(html.contains("/delete"));
    let resp = b
        .post(format!("{users}/{}/delete", synced.id))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
});

// A failing last-used write (simulated by a trigger that aborts every UPDATE of the credential,
// as a busy SQLite writer past its busy timeout would) never fails authentication: the use simply
// goes unrecorded, and is recorded again once writes succeed.
both_backends!(
    last_used_write_failure_does_not_fail_authentication,
    |env| {
        let s = &env.services;
        let a = env.actor();
        let d = env.directory("scim-lastused").await;
        s.set_scim_synchronization(&a, &d.id, true).await.unwrap();
        let created = s.create_scim_credential(&a, &d.id).await.unwrap();
        let id = created.credential.credential_id.clone();
        let secret = created.credential_secret.clone();
        let mut conn = env.services.store.read().await.unwrap();
        match env.backend {
            crate::support::Backend::Sqlite => {
                sqlx::raw_sql(
                    "CREATE TRIGGER fail_touch BEFORE UPDATE ON scim_credentials \
                 BEGIN SELECT RAISE(ABORT, 'simulated write failure'); END",
                )
                .execute(&mut *conn)
                .await
                .unwrap();
            }
            crate::support::Backend::Postgres => {
                sqlx::raw_sql(
                    "CREATE FUNCTION fail_touch() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'simulated write failure'; END $$; \
                 CREATE TRIGGER fail_touch BEFORE UPDATE ON scim_credentials \
                 FOR EACH ROW EXECUTE FUNCTION fail_touch()",
                )
                .execute(&mut *conn)
                .await
                .unwrap();
            }
        }
        drop(conn);
        let p = s
            .authenticate_scim(&secret)
            .await
            .expect("a failed last-used write must not fail authentication")
            .expect("valid credential accepted");
        assert_eq!(
            (p.directory_id.as_str(), p.credential_id.as_str()),
            (d.id.as_str(), id.as_str())
        );
        let last = || async {
            s.get_scim_credential(&d.id, &id)
                .await
                .unwrap()
                .last_used_at
        };
        assert_eq!(last().await, None, "the write really failed");
        // Repeated use too, and wrong secrets are still refused.
        assert!(s.authenticate_scim(&secret).await.unwrap().is_some());
        assert!(s.authenticate_scim("ghscim_nope").await.unwrap().is_none());
        // Writes work again: the use is recorded.
        let mut conn = env.services.store.read().await.unwrap();
        let drop_trigger = match env.backend {
            crate::support::Backend::Sqlite => "DROP TRIGGER fail_touch",
            crate::support::Backend::Postgres => "DROP TRIGGER fail_touch ON scim_credentials",
        };
        sqlx::raw_sql(drop_trigger)
            .execute(&mut *conn)
            .await
            .unwrap();
        drop(conn);
        assert!(s.authenticate_scim(&secret).await.unwrap().is_some());
        assert_eq!(last().await, Some(T0));
    }
);
