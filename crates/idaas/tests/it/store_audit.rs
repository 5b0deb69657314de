//! The audit log: written with each change, queried with filters and paging, trimmed by retention.

use idaas::audit::{Actor, ActorType, AuditQuery, AuditResult, NewAuditEvent};
use idaas::user::UserUpdate;

use crate::both_backends;
use crate::store_accounts::{group, new_user};

fn all() -> AuditQuery {
    AuditQuery {
        limit: 500,
        ..Default::default()
    }
}

both_backends!(changes_write_audit_events, |env| {
    let s = &env.services;
    let inst = env.instance("A").await;
    let actor = Actor::user("user_admin", Some("10.0.0.1".into()));
    let u = s
        .create_user(&actor, &inst.id, new_user("alice"), None)
        .await
        .unwrap();
    s.update_user(
        &actor,
        &inst.id,
        &u.id,
        UserUpdate {
            is_admin: Some(true),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let g = s.create_group(&actor, &inst.id, group("g")).await.unwrap();
    s.add_group_member(&actor, &inst.id, &g.id, &u.id)
        .await
        .unwrap();
    s.delete_user(&actor, &inst.id, &u.id).await.unwrap();

    let page = s.query_audit(Some(&inst.id), &all()).await.unwrap();
    let actions: Vec<_> = page
        .items
        .iter()
        .map(|e| e.action.trim_start_matches("urn:gatehouse:idaas:event:"))
        .collect();
    // Newest first.
    assert_eq!(
        actions,
        [
            "user:delete",
            "group:add_member",
            "group:create",
            "user:update",
            "user:create"
        ]
    );
    let create = page.items.last().unwrap();
    assert_eq!(create.actor_type, ActorType::User);
    assert_eq!(create.actor_id.as_deref(), Some("user_admin"));
    assert_eq!(create.source_ip.as_deref(), Some("10.0.0.1"));
    assert_eq!(create.target_type.as_deref(), Some("user"));
    assert_eq!(create.target_id.as_deref(), Some(u.id.as_str()));
    assert_eq!(create.detail["username"], "alice");
    assert_eq!(create.result, AuditResult::Success);

    // A refused change (duplicate) writes nothing.
    let before = page.items.len();
    s.create_group(&actor, &inst.id, group("G"))
        .await
        .unwrap_err();
    assert_eq!(
        s.query_audit(Some(&inst.id), &all())
            .await
            .unwrap()
            .items
            .len(),
        before
    );

    // Instance creation is a platform event.
    let platform = s.query_audit(None, &all()).await.unwrap();
    assert!(
        platform
            .items
            .iter()
            .any(|e| e.action.ends_with("instance:create")
                && e.target_id.as_deref() == Some(inst.id.as_str()))
    );
});

both_backends!(audit_query_filters_and_paging, |env| {
    let s = &env.services;
    let inst = env.instance("A").await;
    let other = env.instance("B").await;
    let alice = Actor::user("user_a", None);
    let bob = Actor::user("user_b", None);
    let mut tx = s.store.begin_write().await.unwrap();
    for (at, actor, verb, target, ok) in [
        (100, &alice, "create", "user_1", true),
        (200, &bob, "update", "user_1", true),
        (300, &alice, "signin", "user_2", false),
        (400, &bob, "create", "user_3", true),
    ] {
        let mut ev = NewAuditEvent::new(Some(&inst.id), actor, "user", verb).target("user", target);
        if !ok {
            ev = ev.failure();
        }
        idaas::store::audit::append(&mut tx, &ev, at).await.unwrap();
    }
    let ev = NewAuditEvent::new(Some(&other.id), &alice, "user", "create");
    idaas::store::audit::append(&mut tx, &ev, 250)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let q = |f: fn(&mut AuditQuery)| {
        let mut q = AuditQuery {
            limit: 100,
            from: Some(1),
            to: Some(1000),
            ..Default::default()
        };
        f(&mut q);
        q
    };
    let ids = |p: idaas::audit::AuditPage| p.items.iter().map(|e| e.at).collect::<Vec<_>>();
    assert_eq!(
        ids(s.query_audit(Some(&inst.id), &q(|_| {})).await.unwrap()),
        [400, 300, 200, 100]
    );
    assert_eq!(
        ids(s
            .query_audit(
                Some(&inst.id),
                &q(|q| {
                    q.from = Some(200);
                    q.to = Some(400);
                })
            )
            .await
            .unwrap()),
        [300, 200]
    );
    assert_eq!(
        ids(s
            .query_audit(Some(&inst.id), &q(|q| q.actor_id = Some("user_a".into())))
            .await
            .unwrap()),
        [300, 100]
    );
    assert_eq!(
        ids(s
            .query_audit(
                Some(&inst.id),
                &q(|q| q.action_prefix = Some("user:create".into()))
            )
            .await
            .unwrap()),
        [400, 100]
    );
    assert_eq!(
        ids(s
            .query_audit(
                Some(&inst.id),
                &q(|q| q.action_prefix = Some("urn:gatehouse:idaas:event:user:up".into()))
            )
            .await
            .unwrap()),
        [200]
    );
    assert_eq!(
        ids(s
            .query_audit(
                Some(&inst.id),
                &q(|q| q.result = Some(AuditResult::Failure))
            )
            .await
            .unwrap()),
        [300]
    );
    assert_eq!(
        ids(s
            .query_audit(Some(&inst.id), &q(|q| q.target_id = Some("user_1".into())))
            .await
            .unwrap()),
        [200, 100]
    );
    assert!(
        s.query_audit(
            Some(&inst.id),
            &q(|q| q.action_prefix = Some("group:".into()))
        )
        .await
        .unwrap()
        .items
        .is_empty()
    );

    // Paging with a cursor.
    let p1 = s
        .query_audit(Some(&inst.id), &q(|q| q.limit = 3))
        .await
        .unwrap();
    assert_eq!(p1.items.len(), 3);
    let cursor = p1.next_cursor.clone().unwrap();
    let mut q2 = q(|q| q.limit = 3);
    q2.cursor = Some(cursor);
    let p2 = s.query_audit(Some(&inst.id), &q2).await.unwrap();
    assert_eq!(ids(p2.clone()), [100]);
    assert_eq!(p2.next_cursor, None);
});

both_backends!(retention_deletes_old_events, |env| {
    let s = &env.services;
    let inst = env.instance("A").await;
    let mut settings = inst.settings.clone();
    settings.audit_retention_days = 10;
    s.update_settings(&Actor::system(), &inst.id, settings)
        .await
        .unwrap();
    let now = s.now();
    let mut tx = s.store.begin_write().await.unwrap();
    let old = NewAuditEvent::new(Some(&inst.id), &Actor::system(), "user", "create")
        .target("user", "old");
    idaas::store::audit::append(&mut tx, &old, now - 11 * 86_400)
        .await
        .unwrap();
    let recent = NewAuditEvent::new(Some(&inst.id), &Actor::system(), "user", "create")
        .target("user", "recent");
    idaas::store::audit::append(&mut tx, &recent, now - 9 * 86_400)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let report = s.run_maintenance_once().await.unwrap();
    assert_eq!(report.audit_events_deleted, 1);
    let left = s.query_audit(Some(&inst.id), &all()).await.unwrap();
    assert!(
        left.items
            .iter()
            .any(|e| e.target_id.as_deref() == Some("recent"))
    );
    assert!(
        !left
            .items
            .iter()
            .any(|e| e.target_id.as_deref() == Some("old"))
    );
});

both_backends!(expired_sessions_are_removed, |env| {
    let s = &env.services;
    let inst = env.instance("A").await;
    let u = s
        .create_user(&Actor::system(), &inst.id, new_user("alice"), None)
        .await
        .unwrap();
    let now = s.now();
    let mut tx = s.store.begin_write().await.unwrap();
    let p = |ttl| idaas::store::session::SessionParams {
        instance_id: &inst.id,
        user_id: &u.id,
        now,
        ttl_secs: ttl,
        authn_methods: "password",
        mfa_pending: false,
        source_ip: None,
    };
    let expired = idaas::store::session::create(&mut tx, p(-1)).await.unwrap();
    let live = idaas::store::session::create(&mut tx, p(3600))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut conn = s.store.read().await.unwrap();
    assert!(
        idaas::store::session::get(&mut conn, &inst.id, &expired.session.id_hash, now)
            .await
            .unwrap()
            .is_none()
    );
    let got = idaas::store::session::get(&mut conn, &inst.id, &live.session.id_hash, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, live.session);
    assert_eq!(
        idaas::store::session::hash_token(&live.token),
        live.session.id_hash
    );
    drop(conn);
    assert_eq!(s.run_maintenance_once().await.unwrap().sessions_deleted, 1);
    // A user being disabled ends their sessions.
    s.update_user(
        &Actor::system(),
        &inst.id,
        &u.id,
        UserUpdate {
            status: Some(idaas::user::UserStatus::Disabled),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut conn = s.store.read().await.unwrap();
    assert!(
        idaas::store::session::get(&mut conn, &inst.id, &live.session.id_hash, now)
            .await
            .unwrap()
            .is_none()
    );
});

both_backends!(maintenance_removes_parked_sso_and_stale_counters, |env| {
    use idaas::store::{pending_sso, rate_limit};
    use sqlx::Row;
    let s = &env.services;
    let inst = env.instance("A").await;
    let app = s
        .create_application(
            &inst,
            &Actor::system(),
            idaas::application::NewApplication {
                template_id: idaas::marketplace::SAML2_STANDARD.to_owned(),
                name: None,
            },
        )
        .await
        .unwrap();
    let now = s.now();
    let window = idaas::sign_in::RATE_WINDOW_SECS;
    let parked = |id: &str, expires_at: i64| pending_sso::PendingSso {
        id: id.to_owned(),
        instance_id: inst.id.clone(),
        app_id: app.id.clone(),
        request: "{}".to_owned(),
        relay_state: None,
        created_at: now - 600,
        expires_at,
    };
    let mut tx = s.store.begin_write().await.unwrap();
    for (id, expires_at) in [
        ("sso_expired", now - 1),
        ("sso_now", now),
        ("sso_live", now + 600),
    ] {
        pending_sso::insert(&mut tx, &parked(id, expires_at))
            .await
            .unwrap();
    }
    // Counters of windows that ended (long ago, just now) and of windows still running (with a
    // margin: the clock is real).
    for (key, start) in [
        ("ended_long_ago", now - 10 * window),
        ("ended_just_now", now - window - 2),
        ("running", now - window + 30),
        ("current", now),
    ] {
        assert_eq!(rate_limit::hit(&mut tx, key, start).await.unwrap(), 1);
    }
    tx.commit().await.unwrap();

    let report = s.run_maintenance_once().await.unwrap();
    assert_eq!(report.pending_sso_deleted, 2, "{report:?}");
    assert_eq!(report.rate_limits_deleted, 2, "{report:?}");

    let mut conn = s.store.read().await.unwrap();
    let ids: Vec<String> = sqlx::query("SELECT id FROM pending_sso ORDER BY id")
        .fetch_all(&mut *conn)
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get("id").unwrap())
        .collect();
    assert_eq!(ids, ["sso_live"]);
    let keys: Vec<String> = sqlx::query("SELECT key FROM rate_limits ORDER BY key")
        .fetch_all(&mut *conn)
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get("key").unwrap())
        .collect();
    assert_eq!(keys, ["current", "running"]);
    drop(conn);
    // The kept counters still count on.
    let mut tx = s.store.begin_write().await.unwrap();
    assert_eq!(rate_limit::hit(&mut tx, "current", now).await.unwrap(), 2);
    tx.commit().await.unwrap();

    // A second pass finds nothing more.
    let again = s.run_maintenance_once().await.unwrap();
    assert_eq!(
        (again.pending_sso_deleted, again.rate_limits_deleted),
        (0, 0)
    );
});
