//! Provisioning configuration (sealed secrets, validation), scope helpers, default mapping, and the
//! transactional outbox enqueue on every write path, on both backends.

use std::sync::Arc;

use idaas::audit::Actor;
use idaas::error::Error;
use idaas::instance::Instance;
use idaas::org_unit::OrgUnitUpdate;
use idaas::password::Password;
use idaas::provisioning::config::{
    AuthInput, AuthMode, MappingInput, ProvisioningAuth, ProvisioningInput, ProvisioningScope,
};
use idaas::provisioning::{mapping, scope};
use idaas::user::{UserStatus, UserUpdate};
use idaas::{Config, Services};
use sqlx::Row;

use crate::both_backends;
use crate::store_accounts::{group, new_user, ou};
use crate::support::Env;

const TOKEN: &str = "tok-SECRET-4f9c1b";

async fn app(s: &Services, inst: &Instance, template: &str) -> String {
    s.create_application(
        inst,
        &Actor::system(),
        idaas::application::NewApplication {
            template_id: template.to_owned(),
            name: None,
        },
    )
    .await
    .unwrap()
    .id
}

fn bearer(token: &str) -> Option<AuthInput> {
    Some(AuthInput {
        mode: AuthMode::BearerToken,
        access_token: Some(token.to_owned()),
        token_endpoint: None,
        client_id: None,
        client_secret: None,
        authn_method: None,
    })
}

fn enable(ous: &[&str], groups: &[&str]) -> ProvisioningInput {
    ProvisioningInput {
        enabled: Some(true),
        base_url: Some("https://sso.example.com/scim/v2/".to_owned()),
        auth: bearer(TOKEN),
        scope: Some(ProvisioningScope {
            org_unit_ids: ous.iter().map(|s| (*s).to_owned()).collect(),
            group_ids: groups.iter().map(|s| (*s).to_owned()).collect(),
        }),
        ..ProvisioningInput::default()
    }
}

/// (app_id, object_type, object_id, change_seq), ordered.
async fn outbox(s: &Services) -> Vec<(String, String, String, i64)> {
    let mut conn = s.store.read().await.unwrap();
    sqlx::query(
        "SELECT app_id, object_type, object_id, change_seq FROM provisioning_outbox \
         ORDER BY app_id, object_type, object_id",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap()
    .iter()
    .map(|r| {
        (
            r.get("app_id"),
            r.get("object_type"),
            r.get("object_id"),
            r.get("change_seq"),
        )
    })
    .collect()
}

async fn clear_outbox(s: &Services) {
    let mut conn = s.store.read().await.unwrap();
    sqlx::query("DELETE FROM provisioning_outbox")
        .execute(&mut *conn)
        .await
        .unwrap();
}

fn seq_of(rows: &[(String, String, String, i64)], app: &str, ty: &str, id: &str) -> Option<i64> {
    rows.iter()
        .find(|r| r.0 == app && r.1 == ty && r.2 == id)
        .map(|r| r.3)
}

/// Services over the same database with `metadata_fetch_allow_private` off (production rules).
fn strict_services(env: &Env) -> Services {
    let mut config = Config::for_tests(env.tdb.url.clone());
    config.metadata_fetch_allow_private = false;
    Services::new(
        config,
        "http://localhost".into(),
        idaas::store::Store::new(env.tdb.db.clone()),
        Arc::new(idaas::SystemClock),
    )
    .unwrap()
}

both_backends!(config_round_trip_with_sealed_secrets, |env| {
    let s = &env.services;
    let a = Actor::system();
    let inst = env.instance("A").await;
    let app_id = app(s, &inst, idaas::marketplace::CLOUD_SSO).await;

    // Nothing saved: template defaults, not configured.
    let v = s.provisioning_view(&inst.id, &app_id).await.unwrap();
    assert!(!v.configured && !v.enabled);
    assert!(
        v.attribute_mapping
            .iter()
            .any(|m| m.target.to_string() == "userName" && m.lowercase)
    );
    assert!(
        s.get_provisioning(&inst.id, &app_id)
            .await
            .unwrap()
            .is_none()
    );

    let g = s.create_group(&a, &inst.id, group("Eng")).await.unwrap();
    let cfg = s
        .put_provisioning(&a, &inst.id, &app_id, enable(&[], &[&g.id]))
        .await
        .unwrap();
    assert_eq!(cfg.base_url, "https://sso.example.com/scim/v2");
    let back = s
        .get_provisioning(&inst.id, &app_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back, cfg);
    match &back.auth {
        Some(ProvisioningAuth::BearerToken { access_token }) => {
            assert_eq!(access_token.expose(), TOKEN)
        }
        other => panic!("{other:?}"),
    }
    // The raw row holds no secret; neither does the audit log nor the view.
    {
        let mut conn = s.store.read().await.unwrap();
        let raw: String = sqlx::query("SELECT auth FROM provisioning_configs WHERE app_id = $1")
            .bind(&app_id)
            .fetch_one(&mut *conn)
            .await
            .unwrap()
            .get("auth");
        assert!(
            raw.contains("access_token_enc") && !raw.contains(TOKEN),
            "{raw}"
        );
        let audit: Vec<String> = sqlx::query("SELECT detail FROM audit_log")
            .fetch_all(&mut *conn)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get("detail"))
            .collect();
        assert!(audit.iter().any(|d| d.contains("secret_changed")));
        assert!(audit.iter().all(|d| !d.contains(TOKEN)));
    }
    let v = s.provisioning_view(&inst.id, &app_id).await.unwrap();
    assert!(v.configured && v.enabled && v.auth.has_access_token);
    let json = serde_json::to_string(&v).unwrap();
    assert!(!json.contains(TOKEN), "{json}");

    // A save without the token keeps it; switching to client credentials needs the secret.
    let kept = s
        .put_provisioning(
            &a,
            &inst.id,
            &app_id,
            ProvisioningInput {
                auth: bearer(""),
                ..ProvisioningInput::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(kept.auth, cfg.auth);
    let cc = ProvisioningInput {
        auth: Some(AuthInput {
            mode: AuthMode::ClientCredentials,
            access_token: None,
            token_endpoint: Some("https://login.example.com/oauth2/token".into()),
            client_id: Some("cid".into()),
            client_secret: None,
            authn_method: None,
        }),
        ..ProvisioningInput::default()
    };
    assert!(matches!(
        s.put_provisioning(&a, &inst.id, &app_id, cc.clone()).await,
        Err(Error::Invalid(_))
    ));
    let mut cc = cc;
    if let Some(auth) = cc.auth.as_mut() {
        auth.client_secret = Some("cs-SECRET-77".into());
    }
    s.put_provisioning(&a, &inst.id, &app_id, cc).await.unwrap();
    let v = s.provisioning_view(&inst.id, &app_id).await.unwrap();
    assert!(v.auth.has_client_secret && !v.auth.has_access_token);
    assert_eq!(v.auth.client_id.as_deref(), Some("cid"));

    // Another instance cannot see or change it.
    let other = env.instance("B").await;
    assert!(matches!(
        s.get_provisioning(&other.id, &app_id).await,
        Err(Error::NotFound(_))
    ));
});

both_backends!(validation_refuses_bad_input, |env| {
    let s = strict_services(&env);
    let a = Actor::system();
    let inst = env.instance("A").await;
    let other = env.instance("B").await;
    let app_id = app(&s, &inst, idaas::marketplace::SAML2_STANDARD).await;
    let foreign_group = s
        .create_group(&a, &other.id, group("Theirs"))
        .await
        .unwrap();
    let foreign_ou = s
        .create_org_unit(&a, &other.id, ou("Theirs", None))
        .await
        .unwrap();

    let cases: Vec<(&str, ProvisioningInput)> = vec![
        (
            "bad url",
            ProvisioningInput {
                base_url: Some("not a url".into()),
                ..enable(&[], &[])
            },
        ),
        (
            "http non-loopback",
            ProvisioningInput {
                base_url: Some("http://scim.example.com/v2".into()),
                ..enable(&[], &[])
            },
        ),
        (
            "http loopback",
            ProvisioningInput {
                base_url: Some("http://127.0.0.1:9999/scim/v2".into()),
                ..enable(&[], &[])
            },
        ),
        (
            "https loopback",
            ProvisioningInput {
                base_url: Some("https://127.0.0.1:9999/scim/v2".into()),
                ..enable(&[], &[])
            },
        ),
        (
            "localhost name",
            ProvisioningInput {
                base_url: Some("https://localhost/scim/v2".into()),
                ..enable(&[], &[])
            },
        ),
        (
            "private range",
            ProvisioningInput {
                base_url: Some("https://10.1.2.3/scim/v2".into()),
                ..enable(&[], &[])
            },
        ),
        (
            "cloud metadata",
            ProvisioningInput {
                base_url: Some("https://169.254.169.254/latest".into()),
                ..enable(&[], &[])
            },
        ),
        (
            "ipv6 loopback",
            ProvisioningInput {
                base_url: Some("https://[::1]/scim/v2".into()),
                ..enable(&[], &[])
            },
        ),
        (
            "ipv6 unique local",
            ProvisioningInput {
                base_url: Some("https://[fc00::1]/scim/v2".into()),
                ..enable(&[], &[])
            },
        ),
        (
            "credentials in url",
            ProvisioningInput {
                base_url: Some("https://u:p@scim.example.com/v2".into()),
                ..enable(&[], &[])
            },
        ),
        ("unknown org unit", enable(&["ou_nope"], &[])),
        ("foreign org unit", enable(&[&foreign_ou.id], &[])),
        ("unknown group", enable(&[], &["group_nope"])),
        ("foreign group", enable(&[], &[&foreign_group.id])),
        (
            "bad expression",
            ProvisioningInput {
                attribute_mapping: Some(vec![MappingInput {
                    target: "userName".into(),
                    expression: "user.nope".into(),
                    lowercase: false,
                }]),
                ..enable(&[], &[])
            },
        ),
        (
            "bad target",
            ProvisioningInput {
                attribute_mapping: Some(vec![
                    MappingInput {
                        target: "userName".into(),
                        expression: "user.username".into(),
                        lowercase: false,
                    },
                    MappingInput {
                        target: "shoeSize".into(),
                        expression: "\"42\"".into(),
                        lowercase: false,
                    },
                ]),
                ..enable(&[], &[])
            },
        ),
        (
            "reserved target",
            ProvisioningInput {
                attribute_mapping: Some(vec![
                    MappingInput {
                        target: "userName".into(),
                        expression: "user.username".into(),
                        lowercase: false,
                    },
                    MappingInput {
                        target: "externalId".into(),
                        expression: "user.email".into(),
                        lowercase: false,
                    },
                ]),
                ..enable(&[], &[])
            },
        ),
        (
            "no userName",
            ProvisioningInput {
                attribute_mapping: Some(vec![MappingInput {
                    target: "displayName".into(),
                    expression: "user.displayName".into(),
                    lowercase: false,
                }]),
                ..enable(&[], &[])
            },
        ),
        (
            "unknown action",
            ProvisioningInput {
                actions: Some(vec!["urn:alibaba:idaas:app:scim:User:EXPLODE".into()]),
                ..enable(&[], &[])
            },
        ),
        (
            "enable without auth",
            ProvisioningInput {
                auth: None,
                ..enable(&[], &[])
            },
        ),
        (
            "enable without url",
            ProvisioningInput {
                base_url: Some(String::new()),
                ..enable(&[], &[])
            },
        ),
        (
            "zero attempts",
            ProvisioningInput {
                max_attempts: Some(0),
                ..enable(&[], &[])
            },
        ),
    ];
    for (name, input) in cases {
        let r = s.put_provisioning(&a, &inst.id, &app_id, input).await;
        assert!(matches!(r, Err(Error::Invalid(_))), "{name}: {r:?}");
    }
    // Nothing was stored by the refused saves.
    assert!(
        s.get_provisioning(&inst.id, &app_id)
            .await
            .unwrap()
            .is_none()
    );
    // A public https target is fine, and so is saving a disabled configuration without
    // credentials.
    s.put_provisioning(&a, &inst.id, &app_id, enable(&[], &[]))
        .await
        .unwrap();
    // Loopback over http only where private network targets are allowed (tests, demos); the
    // same URL needs the token again (a stored secret never follows a URL change).
    let loopback = ProvisioningInput {
        base_url: Some("http://127.0.0.1:9999/scim/v2".into()),
        ..ProvisioningInput::default()
    };
    assert!(matches!(
        env.services
            .put_provisioning(&a, &inst.id, &app_id, loopback.clone())
            .await,
        Err(Error::Invalid(ref i)) if i.field == "auth.access_token"
    ));
    env.services
        .put_provisioning(
            &a,
            &inst.id,
            &app_id,
            ProvisioningInput {
                auth: bearer(TOKEN),
                ..loopback
            },
        )
        .await
        .unwrap();
    let app2 = app(&s, &inst, idaas::marketplace::SAML2_STANDARD).await;
    s.put_provisioning(
        &a,
        &inst.id,
        &app2,
        ProvisioningInput {
            enabled: Some(false),
            ..ProvisioningInput::default()
        },
    )
    .await
    .unwrap();
    // Unknown application.
    assert!(matches!(
        s.put_provisioning(&a, &inst.id, "app_nope", enable(&[], &[]))
            .await,
        Err(Error::NotFound(_))
    ));
});

both_backends!(every_write_path_enqueues, |env| {
    let s = &env.services;
    let a = Actor::system();
    let inst = env.instance("A").await;
    let other = env.instance("B").await;
    let app1 = app(s, &inst, idaas::marketplace::CLOUD_SSO).await;
    let app2 = app(s, &inst, idaas::marketplace::SAML2_STANDARD).await;
    let off = app(s, &inst, idaas::marketplace::SAML2_STANDARD).await;
    let foreign = app(s, &other, idaas::marketplace::SAML2_STANDARD).await;
    s.put_provisioning(&a, &inst.id, &app1, enable(&[], &[]))
        .await
        .unwrap();
    s.put_provisioning(&a, &inst.id, &app2, enable(&[], &[]))
        .await
        .unwrap();
    s.put_provisioning(&a, &other.id, &foreign, enable(&[], &[]))
        .await
        .unwrap();
    s.put_provisioning(
        &a,
        &inst.id,
        &off,
        ProvisioningInput {
            enabled: Some(false),
            ..enable(&[], &[])
        },
    )
    .await
    .unwrap();
    clear_outbox(s).await;

    // Create: one row per enabled app of the instance.
    let u = s
        .create_user(
            &a,
            &inst.id,
            new_user("alice"),
            Some(Password::new("Corr3ct-Horse-9")),
        )
        .await
        .unwrap();
    let rows = outbox(s).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(seq_of(&rows, &app1, "user", &u.id), Some(1));
    assert_eq!(seq_of(&rows, &app2, "user", &u.id), Some(1));
    assert_eq!(seq_of(&rows, &off, "user", &u.id), None);

    // Updates bump change_seq on the same row.
    for _ in 0..2 {
        s.update_user(
            &a,
            &inst.id,
            &u.id,
            UserUpdate {
                status: Some(UserStatus::Disabled),
                ..UserUpdate::default()
            },
        )
        .await
        .unwrap();
    }
    let rows = outbox(s).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(seq_of(&rows, &app1, "user", &u.id), Some(3));
    s.update_user(
        &a,
        &inst.id,
        &u.id,
        UserUpdate {
            status: Some(UserStatus::Enabled),
            ..UserUpdate::default()
        },
    )
    .await
    .unwrap();

    // Sign-in (failure and success), password changes: nothing.
    clear_outbox(s).await;
    let wrong = s
        .sign_in_password(
            &inst,
            "alice",
            &Password::new("wrong-password-1"),
            None,
            false,
        )
        .await
        .unwrap();
    assert!(!matches!(
        wrong,
        idaas::sign_in::SignInOutcome::SignedIn { .. }
    ));
    s.sign_in_password(
        &inst,
        "alice",
        &Password::new("Corr3ct-Horse-9"),
        None,
        false,
    )
    .await
    .unwrap();
    s.admin_set_password(&a, &inst.id, &u.id, Password::new("An0ther-Horse-7"), false)
        .await
        .unwrap();
    assert_eq!(outbox(s).await, vec![]);

    // Group create / membership / update / delete.
    let g = s.create_group(&a, &inst.id, group("Eng")).await.unwrap();
    assert_eq!(seq_of(&outbox(s).await, &app1, "group", &g.id), Some(1));
    clear_outbox(s).await;
    s.add_group_member(&a, &inst.id, &g.id, &u.id)
        .await
        .unwrap();
    let rows = outbox(s).await;
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert_eq!(seq_of(&rows, &app1, "group", &g.id), Some(1));
    assert_eq!(seq_of(&rows, &app1, "user", &u.id), Some(1));
    // Adding again is a no-op: nothing new.
    s.add_group_member(&a, &inst.id, &g.id, &u.id)
        .await
        .unwrap();
    assert_eq!(outbox(s).await, rows);
    s.remove_group_member(&a, &inst.id, &g.id, &u.id)
        .await
        .unwrap();
    let rows = outbox(s).await;
    assert_eq!(seq_of(&rows, &app1, "group", &g.id), Some(2));
    assert_eq!(seq_of(&rows, &app2, "user", &u.id), Some(2));
    s.add_group_member(&a, &inst.id, &g.id, &u.id)
        .await
        .unwrap();
    clear_outbox(s).await;
    s.update_group(
        &a,
        &inst.id,
        &g.id,
        idaas::group::GroupUpdate {
            name: Some(idaas::group::GroupName::parse("Engineering").unwrap()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let rows = outbox(s).await;
    assert_eq!(rows.len(), 4, "group and its member: {rows:?}");

    // Org units: membership, rename (direct members), move (everyone below).
    let root = s
        .create_org_unit(&a, &inst.id, ou("Root", None))
        .await
        .unwrap();
    let child = s
        .create_org_unit(&a, &inst.id, ou("Child", Some(&root.id)))
        .await
        .unwrap();
    let other_root = s
        .create_org_unit(&a, &inst.id, ou("Other", None))
        .await
        .unwrap();
    let bob = s
        .create_user(&a, &inst.id, new_user("bob"), None)
        .await
        .unwrap();
    clear_outbox(s).await;
    s.add_user_to_org_unit(&a, &inst.id, &bob.id, &child.id, false)
        .await
        .unwrap();
    assert_eq!(seq_of(&outbox(s).await, &app1, "user", &bob.id), Some(1));
    clear_outbox(s).await;
    s.update_org_unit(
        &a,
        &inst.id,
        &root.id,
        OrgUnitUpdate {
            parent_id: Some(Some(other_root.id.clone())),
            ..OrgUnitUpdate::default()
        },
    )
    .await
    .unwrap();
    let rows = outbox(s).await;
    assert_eq!(
        seq_of(&rows, &app1, "user", &bob.id),
        Some(1),
        "moved subtree: {rows:?}"
    );
    assert_eq!(rows.len(), 2, "{rows:?}");
    clear_outbox(s).await;
    s.update_org_unit(
        &a,
        &inst.id,
        &child.id,
        OrgUnitUpdate {
            name: Some(idaas::org_unit::OrgUnitName::parse("Kid").unwrap()),
            ..OrgUnitUpdate::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(seq_of(&outbox(s).await, &app2, "user", &bob.id), Some(1));
    clear_outbox(s).await;
    s.remove_user_from_org_unit(&a, &inst.id, &bob.id, &child.id)
        .await
        .unwrap();
    assert_eq!(outbox(s).await.len(), 2);

    // Deletes: the user and its groups; the group and its members.
    clear_outbox(s).await;
    s.delete_user(&a, &inst.id, &u.id).await.unwrap();
    let rows = outbox(s).await;
    assert_eq!(seq_of(&rows, &app1, "user", &u.id), Some(1));
    assert_eq!(seq_of(&rows, &app1, "group", &g.id), Some(1), "{rows:?}");
    s.add_group_member(&a, &inst.id, &g.id, &bob.id)
        .await
        .unwrap();
    clear_outbox(s).await;
    s.delete_group(&a, &inst.id, &g.id).await.unwrap();
    let rows = outbox(s).await;
    assert_eq!(seq_of(&rows, &app2, "group", &g.id), Some(1));
    assert_eq!(seq_of(&rows, &app2, "user", &bob.id), Some(1), "{rows:?}");

    // A refused change writes nothing (same transaction).
    clear_outbox(s).await;
    assert!(
        s.create_user(&a, &inst.id, new_user("bob"), None)
            .await
            .is_err()
    );
    assert_eq!(outbox(s).await, vec![]);

    // CSV import rows.
    s.create_group(&a, &inst.id, group("Ops")).await.unwrap();
    let csv = "username,display_name,email,phone,password,org_unit,groups\n\
               carol,Carol,carol@example.com,,,Other,Ops\n\
               dave,Dave,dave@example.com,,,,\n";
    clear_outbox(s).await;
    s.import_accounts(&a, &inst.id, csv.as_bytes())
        .await
        .unwrap()
        .unwrap();
    let rows = outbox(s).await;
    let carol = s
        .find_user_by_username(&inst.id, "carol")
        .await
        .unwrap()
        .unwrap();
    let dave = s
        .find_user_by_username(&inst.id, "dave")
        .await
        .unwrap()
        .unwrap();
    assert!(
        seq_of(&rows, &app1, "user", &carol.id).is_some(),
        "{rows:?}"
    );
    assert!(seq_of(&rows, &app2, "user", &dave.id).is_some(), "{rows:?}");
    assert!(
        rows.iter().any(|r| r.1 == "group"),
        "Ops membership: {rows:?}"
    );
    assert!(rows.iter().all(|r| r.0 == app1 || r.0 == app2), "{rows:?}");

    // Application accounts (appUser.username may be mapped): only that application.
    clear_outbox(s).await;
    s.set_app_account(&inst, &a, &app1, &dave.id, "dave-app")
        .await
        .unwrap();
    assert_eq!(
        outbox(s).await,
        vec![(app1.clone(), "user".into(), dave.id.clone(), 1)]
    );
    let acc = s.list_app_accounts(&inst.id, &app1).await.unwrap();
    s.delete_app_account(&inst, &a, &app1, &acc[0].id)
        .await
        .unwrap();
    assert_eq!(seq_of(&outbox(s).await, &app1, "user", &dave.id), Some(2));
});

both_backends!(scope_helpers_and_enabling_enqueue, |env| {
    let s = &env.services;
    let a = Actor::system();
    let inst = env.instance("A").await;
    // Tree: root > mid > leaf, and a sibling root.
    let root = s
        .create_org_unit(&a, &inst.id, ou("Root", None))
        .await
        .unwrap();
    let mid = s
        .create_org_unit(&a, &inst.id, ou("Mid", Some(&root.id)))
        .await
        .unwrap();
    let leaf = s
        .create_org_unit(&a, &inst.id, ou("Leaf", Some(&mid.id)))
        .await
        .unwrap();
    let side = s
        .create_org_unit(&a, &inst.id, ou("Side", None))
        .await
        .unwrap();
    let mut ids = std::collections::HashMap::new();
    for (name, unit) in [
        ("r", &root),
        ("m", &mid),
        ("l", &leaf),
        ("s", &side),
        ("g", &side),
    ] {
        let u = s
            .create_user(&a, &inst.id, new_user(name), None)
            .await
            .unwrap();
        s.add_user_to_org_unit(&a, &inst.id, &u.id, &unit.id, true)
            .await
            .unwrap();
        ids.insert(name, u.id);
    }
    // "m" is in two units inside the scope: counted once.
    s.add_user_to_org_unit(&a, &inst.id, &ids["m"], &leaf.id, false)
        .await
        .unwrap();
    let grp = s
        .create_group(&a, &inst.id, group("Pushers"))
        .await
        .unwrap();
    let unpushed = s.create_group(&a, &inst.id, group("Other")).await.unwrap();
    s.add_group_member(&a, &inst.id, &grp.id, &ids["g"])
        .await
        .unwrap();
    s.add_group_member(&a, &inst.id, &grp.id, &ids["l"])
        .await
        .unwrap();
    s.add_group_member(&a, &inst.id, &unpushed.id, &ids["s"])
        .await
        .unwrap();

    let app_id = app(s, &inst, idaas::marketplace::CLOUD_SSO).await;
    clear_outbox(s).await;
    // A user pushed earlier but out of scope now (must be enqueued to be deprovisioned).
    {
        let mut conn = s.store.read().await.unwrap();
        sqlx::query(
            "INSERT INTO provisioning_objects (app_id, object_type, object_id, remote_id, remote_key, state_hash, active, synced_at) \
             VALUES ($1, 'user', $2, 'r-1', 's', 'h', 1, 0), ($1, 'group', 'group_gone', 'r-2', 'gone', 'h', 1, 0)",
        )
        .bind(&app_id)
        .bind(&ids["s"])
        .execute(&mut *conn)
        .await
        .unwrap();
    }
    let cfg = s
        .put_provisioning(&a, &inst.id, &app_id, enable(&[&mid.id], &[&grp.id]))
        .await
        .unwrap();

    let mut conn = s.store.read().await.unwrap();
    let in_scope = scope::users_in_scope(&mut conn, &cfg).await.unwrap();
    let names: Vec<&str> = in_scope.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(names, vec!["g", "l", "m"]);
    let mut expected: Vec<String> = ["g", "l", "m"].iter().map(|n| ids[n].clone()).collect();
    expected.sort();
    assert_eq!(
        scope::user_ids_in_scope(&mut conn, &cfg).await.unwrap(),
        expected
    );
    for (name, inside) in [
        ("r", false),
        ("m", true),
        ("l", true),
        ("s", false),
        ("g", true),
    ] {
        assert_eq!(
            scope::user_in_scope(&mut conn, &cfg, &ids[name])
                .await
                .unwrap(),
            inside,
            "{name}"
        );
    }
    assert!(
        !scope::user_in_scope(&mut conn, &cfg, "user_nope")
            .await
            .unwrap()
    );
    let groups = scope::groups_in_scope(&mut conn, &cfg).await.unwrap();
    assert_eq!(
        groups.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(),
        vec![grp.id.as_str()]
    );
    let mut members = vec![ids["g"].clone(), ids["l"].clone()];
    members.sort();
    assert_eq!(
        scope::group_members_in_scope(&mut conn, &cfg, &grp.id)
            .await
            .unwrap(),
        members
    );
    assert!(
        scope::group_members_in_scope(&mut conn, &cfg, &unpushed.id)
            .await
            .unwrap()
            .is_empty()
    );
    let pairs = scope::group_memberships_in_scope(&mut conn, &cfg)
        .await
        .unwrap();
    assert_eq!(
        pairs,
        members
            .iter()
            .map(|m| (grp.id.clone(), m.clone()))
            .collect::<Vec<_>>()
    );
    // Empty scope: nobody.
    let mut empty = cfg.clone();
    empty.scope = ProvisioningScope::default();
    assert!(
        scope::users_in_scope(&mut conn, &empty)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !scope::user_in_scope(&mut conn, &empty, &ids["m"])
            .await
            .unwrap()
    );
    drop(conn);

    // Enabling enqueued everyone in scope, the configured group, and what was pushed before.
    let rows = outbox(s).await;
    let mut got: Vec<(String, String)> = rows.iter().map(|r| (r.1.clone(), r.2.clone())).collect();
    got.sort();
    let mut want: Vec<(String, String)> = ["g", "l", "m", "s"]
        .iter()
        .map(|n| ("user".to_owned(), ids[n].clone()))
        .collect();
    want.push(("group".into(), grp.id.clone()));
    want.push(("group".into(), "group_gone".into()));
    want.sort();
    assert_eq!(got, want);

    // Saving again unchanged enqueues nothing new; changing the scope enqueues again.
    clear_outbox(s).await;
    s.put_provisioning(&a, &inst.id, &app_id, ProvisioningInput::default())
        .await
        .unwrap();
    assert_eq!(outbox(s).await, vec![]);
    s.put_provisioning(
        &a,
        &inst.id,
        &app_id,
        ProvisioningInput {
            scope: Some(ProvisioningScope {
                org_unit_ids: vec![root.id.clone()],
                group_ids: vec![],
            }),
            ..ProvisioningInput::default()
        },
    )
    .await
    .unwrap();
    let rows = outbox(s).await;
    // r, m, l (scope) + s (pushed before) users; grp is no longer configured and was never pushed.
    assert_eq!(rows.iter().filter(|r| r.1 == "user").count(), 4, "{rows:?}");
    // Disabling enqueues nothing.
    clear_outbox(s).await;
    s.put_provisioning(
        &a,
        &inst.id,
        &app_id,
        ProvisioningInput {
            enabled: Some(false),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(outbox(s).await, vec![]);
});

both_backends!(default_mapping_renders_sample_user, |env| {
    let s = &env.services;
    let a = Actor::system();
    let inst = env.instance("A").await;
    let app_id = app(s, &inst, idaas::marketplace::CLOUD_SSO).await;
    let mut nu = new_user("Alice.Smith");
    nu.custom_fields =
        serde_json::from_str(r#"{"givenName":"Alice","familyName":"Smith"}"#).unwrap();
    let u = s.create_user(&a, &inst.id, nu, None).await.unwrap();
    let g = s.create_group(&a, &inst.id, group("Eng")).await.unwrap();
    s.add_group_member(&a, &inst.id, &g.id, &u.id)
        .await
        .unwrap();
    let cfg = s
        .put_provisioning(&a, &inst.id, &app_id, enable(&[], &[&g.id]))
        .await
        .unwrap();
    let mut conn = s.store.read().await.unwrap();
    let ctx = mapping::load_context(&mut conn, &app_id, &u).await.unwrap();
    assert_eq!(ctx.attributes.groups.len(), 1);
    let v = mapping::render_user(&cfg, &u, &ctx).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "schemas": [mapping::SCHEMA_USER],
            "userName": "alice.smith",
            "externalId": u.id,
            "active": true,
            "displayName": "Alice.Smith display",
            "name": {"givenName": "Alice", "familyName": "Smith"},
            "emails": [{"value": "Alice.Smith@example.com", "type": "work", "primary": true}],
        })
    );
    let many = mapping::load_contexts(&mut conn, &app_id, &inst.id, std::slice::from_ref(&u))
        .await
        .unwrap();
    assert_eq!(many.get(&u.id), Some(&ctx));
    let gv = mapping::render_group(&cfg, &g, &["remote-1".into()]);
    assert_eq!(gv["displayName"], "Eng");
    assert_eq!(gv["externalId"], serde_json::json!(g.id));
    assert_eq!(mapping::state_hash(&v).len(), 64);
});

async fn run_api_and_console(idp: crate::signin::Idp) {
    use crate::signin::{PASSWORD, input_value};
    use crate::support::send;
    use reqwest::Method;
    use serde_json::json;

    let s = &idp.srv.services;
    let inst = s.get_instance(&idp.iid).await.unwrap();
    let app_id = app(s, &inst, idaas::marketplace::CLOUD_SSO).await;
    let path = format!("/apps/{app_id}/provisioning");
    let (st, body) = send(idp.api(Method::GET, &path)).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["configured"], json!(false));
    assert_eq!(body["actions"].as_array().unwrap().len(), 7);

    let (st, body) = send(idp.api(Method::PUT, &path).json(&json!({
        "enabled": true,
        "base_url": "https://sso.example.com/scim/v2",
        "auth": {"mode": "bearer_token", "access_token": TOKEN},
        "actions": ["urn:alibaba:idaas:app:scim:User:CREATE", "urn:alibaba:idaas:app:scim:User:UPDATE"],
        "deprovision_mode": "disable"
    })))
    .await;
    assert_eq!(st, 200, "{body}");
    assert!(!body.to_string().contains(TOKEN));
    assert_eq!(body["auth"]["has_access_token"], json!(true));
    assert_eq!(body["deprovision_mode"], json!("disable"));
    let (st, body) = send(idp.api(Method::GET, &path)).await;
    assert_eq!((st, body["enabled"].clone()), (200, json!(true)));
    let (st, body) = send(
        idp.api(Method::PUT, &path)
            .json(&json!({"base_url": "ftp://x"})),
    )
    .await;
    assert_eq!(st, 400, "{body}");
    let (st, _) = send(idp.api(Method::GET, "/apps/app_nope/provisioning")).await;
    assert_eq!(st, 404);

    // Console tab: shows the stored values (never the token), saves with CSRF, refuses bad input.
    idp.user_with("admin", true).await;
    let b = idp.browser();
    b.sign_in(&idp.iid, "admin", PASSWORD, None).await;
    let tab_path = format!("/i/{}/console/apps/{app_id}/provisioning", idp.iid);
    let tab = b.get(&tab_path).await;
    assert_eq!(tab.status, 200, "{}", tab.body);
    assert!(tab.body.contains("https://sso.example.com/scim/v2"));
    assert!(tab.body.contains("/console/apps/") && tab.body.contains("/sync"));
    assert!(!tab.body.contains(TOKEN));
    let csrf = input_value(&tab.body, "csrf").unwrap();
    let form = |url: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("enabled", "1".to_owned()),
            ("base_url", url.to_owned()),
            ("auth_mode", "bearer_token".to_owned()),
            ("access_token", String::new()),
            (
                "action",
                "urn:alibaba:idaas:app:scim:User:CREATE".to_owned(),
            ),
            ("deprovision_mode", "delete".to_owned()),
            ("compatibility", "standard".to_owned()),
            ("max_attempts", "6".to_owned()),
            ("map_target_0", "userName".to_owned()),
            ("map_expr_0", "user.username".to_owned()),
            ("map_lower_0", "1".to_owned()),
        ]
    };
    // A new base URL with the token left blank: refused (a stored token never follows a URL
    // change), nothing changed.
    let moved = form("https://other.example.com/scim/v2");
    let moved_refs: Vec<(&str, &str)> = moved.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = b.post(&tab_path, &moved_refs).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("entered again"), "{}", refused.body);
    assert_eq!(
        s.get_provisioning(&idp.iid, &app_id)
            .await
            .unwrap()
            .unwrap()
            .base_url,
        "https://sso.example.com/scim/v2"
    );
    // The same URL with the token left blank: saved, the token kept.
    let ok = form("https://sso.example.com/scim/v2");
    let ok_refs: Vec<(&str, &str)> = ok.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let saved = b.post(&tab_path, &ok_refs).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let cfg = s
        .get_provisioning(&idp.iid, &app_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cfg.base_url, "https://sso.example.com/scim/v2");
    assert_eq!(cfg.max_attempts, 6);
    assert_eq!(cfg.attribute_mapping.len(), 1);
    // The token left blank was kept.
    assert!(
        matches!(&cfg.auth, Some(ProvisioningAuth::BearerToken { access_token }) if access_token.expose() == TOKEN)
    );
    let bad = form("not a url");
    let bad_refs: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = b.post(&tab_path, &bad_refs).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("role=\"alert\""));
    let no_csrf: Vec<(&str, &str)> = ok_refs
        .iter()
        .filter(|(k, _)| *k != "csrf")
        .copied()
        .collect();
    assert_eq!(b.post(&tab_path, &no_csrf).await.status, 403);
    idp.stop().await;
}
crate::both_idps!(api_and_console, run_api_and_console);
