//! Users, organizational units, groups and memberships on both backends.

use idaas::audit::Actor;
use idaas::error::Error;
use idaas::group::{GroupName, GroupUpdate, NewGroup};
use idaas::org_unit::{NewOrgUnit, OrgUnitName, OrgUnitUpdate};
use idaas::password::Password;
use idaas::user::{
    DisplayName, Email, NewUser, Page, UserFilter, UserName, UserStatus, UserUpdate,
};

use crate::both_backends;

pub fn new_user(name: &str) -> NewUser {
    NewUser {
        username: Some(UserName::parse(name).unwrap()),
        display_name: DisplayName::parse(&format!("{name} display")).unwrap(),
        email: Some(Email::parse(&format!("{name}@example.com")).unwrap()),
        ..NewUser::default()
    }
}

pub fn ou(name: &str, parent: Option<&str>) -> NewOrgUnit {
    NewOrgUnit {
        parent_id: parent.map(str::to_owned),
        name: OrgUnitName::parse(name).unwrap(),
        description: String::new(),
        external_id: None,
    }
}

pub fn group(name: &str) -> NewGroup {
    NewGroup {
        name: GroupName::parse(name).unwrap(),
        description: String::new(),
        external_id: None,
    }
}

both_backends!(user_crud_and_case_insensitive_uniqueness, |env| {
    let s = &env.services;
    let a = Actor::system();
    let inst = env.instance("A").await;
    let other = env.instance("B").await;
    let u = s
        .create_user(&a, &inst.id, new_user("Alice"), None)
        .await
        .unwrap();
    assert_eq!(u.username, "Alice");
    assert_eq!(u.display_name, "Alice display");
    assert!(!u.has_password);
    assert_eq!(u.status, UserStatus::Enabled);

    let dup = s
        .create_user(&a, &inst.id, new_user("alice"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(dup, Error::AlreadyExists { entity: "user", .. }),
        "{dup:?}"
    );
    // The same name in another instance is fine.
    s.create_user(&a, &other.id, new_user("alice"), None)
        .await
        .unwrap();

    let found = s
        .find_user_by_username(&inst.id, "ALICE")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, u.id);

    let upd = UserUpdate {
        display_name: Some(DisplayName::parse("Alice L.").unwrap()),
        email: Some(None),
        status: Some(UserStatus::Disabled),
        is_admin: Some(true),
        ..UserUpdate::default()
    };
    let u2 = s.update_user(&a, &inst.id, &u.id, upd).await.unwrap();
    assert_eq!(u2.display_name, "Alice L.");
    assert_eq!(u2.email, None);
    assert_eq!(u2.status, UserStatus::Disabled);
    assert!(u2.is_admin);

    // Renaming onto an existing name (any case) is refused.
    let bob = s
        .create_user(&a, &inst.id, new_user("bob"), None)
        .await
        .unwrap();
    let clash = UserUpdate {
        username: Some(UserName::parse("ALICE").unwrap()),
        ..UserUpdate::default()
    };
    assert!(matches!(
        s.update_user(&a, &inst.id, &bob.id, clash).await,
        Err(Error::AlreadyExists { .. })
    ));

    s.delete_user(&a, &inst.id, &u.id).await.unwrap();
    assert!(matches!(
        s.get_user(&inst.id, &u.id).await,
        Err(Error::NotFound("user"))
    ));
    assert!(matches!(
        s.delete_user(&a, &inst.id, &u.id).await,
        Err(Error::NotFound("user"))
    ));
});

both_backends!(user_passwords_follow_policy, |env| {
    let s = &env.services;
    let a = Actor::system();
    let inst = env.instance("A").await;
    let weak = s
        .create_user(&a, &inst.id, new_user("weak"), Some(Password::new("short")))
        .await
        .unwrap_err();
    assert!(
        matches!(weak, Error::Invalid(ref i) if i.field == "password"),
        "{weak:?}"
    );
    assert!(
        s.find_user_by_username(&inst.id, "weak")
            .await
            .unwrap()
            .is_none()
    );
    let u = s
        .create_user(
            &a,
            &inst.id,
            new_user("strong"),
            Some(Password::new("Corr3ct-Horse")),
        )
        .await
        .unwrap();
    assert!(u.has_password);
    assert!(
        u.must_change_password,
        "default policy forces a change at first sign-in"
    );
    let mut conn = s.store.read().await.unwrap();
    let creds = idaas::store::user::credentials(&mut conn, &inst.id, &u.id)
        .await
        .unwrap()
        .unwrap();
    let hash = creds.password_hash.unwrap();
    assert!(hash.starts_with("$argon2id$"));
    assert!(
        s.passwords
            .verify(&Password::new("Corr3ct-Horse"), &hash)
            .await
            .unwrap()
    );
});

both_backends!(user_listing_filters_and_pages, |env| {
    let s = &env.services;
    let a = Actor::system();
    let inst = env.instance("A").await;
    for n in ["carol", "alice", "bob", "dave", "erin"] {
        s.create_user(&a, &inst.id, new_user(n), None)
            .await
            .unwrap();
    }
    let all = s
        .list_users(&inst.id, &UserFilter::default(), Page::new(None, None))
        .await
        .unwrap();
    let names: Vec<_> = all.items.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(names, ["alice", "bob", "carol", "dave", "erin"]);
    assert_eq!(all.total, 5);
    assert_eq!(all.next_offset, None);

    let p1 = s
        .list_users(
            &inst.id,
            &UserFilter::default(),
            Page::new(Some(0), Some(2)),
        )
        .await
        .unwrap();
    assert_eq!(p1.items.len(), 2);
    assert_eq!(p1.next_offset, Some(2));
    let p3 = s
        .list_users(
            &inst.id,
            &UserFilter::default(),
            Page::new(Some(4), Some(2)),
        )
        .await
        .unwrap();
    assert_eq!(p3.items.len(), 1);
    assert_eq!(p3.next_offset, None);

    let q = UserFilter {
        query: Some("AR".into()),
        ..UserFilter::default()
    };
    let r = s.list_users(&inst.id, &q, Page::default()).await.unwrap();
    assert_eq!(
        r.items
            .iter()
            .map(|u| u.username.as_str())
            .collect::<Vec<_>>(),
        ["carol"]
    );
    // LIKE wildcards in the query are literal.
    let q = UserFilter {
        query: Some("%".into()),
        ..UserFilter::default()
    };
    assert_eq!(
        s.list_users(&inst.id, &q, Page::default())
            .await
            .unwrap()
            .total,
        0
    );

    let bob = s
        .find_user_by_username(&inst.id, "bob")
        .await
        .unwrap()
        .unwrap();
    s.update_user(
        &a,
        &inst.id,
        &bob.id,
        UserUpdate {
            status: Some(UserStatus::Disabled),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let q = UserFilter {
        status: Some(UserStatus::Disabled),
        ..UserFilter::default()
    };
    let r = s.list_users(&inst.id, &q, Page::default()).await.unwrap();
    assert_eq!(r.items.len(), 1);
    assert_eq!(r.items[0].id, bob.id);
});

both_backends!(org_unit_tree_descendants_move_and_delete, |env| {
    let s = &env.services;
    let a = Actor::system();
    let inst = env.instance("A").await;
    let root = s
        .create_org_unit(&a, &inst.id, ou("Acme", None))
        .await
        .unwrap();
    let eng = s
        .create_org_unit(&a, &inst.id, ou("Engineering", Some(&root.id)))
        .await
        .unwrap();
    let be = s
        .create_org_unit(&a, &inst.id, ou("Backend", Some(&eng.id)))
        .await
        .unwrap();
    let sales = s
        .create_org_unit(&a, &inst.id, ou("Sales", Some(&root.id)))
        .await
        .unwrap();

    // Sibling names are unique; the same name elsewhere is fine.
    assert!(matches!(
        s.create_org_unit(&a, &inst.id, ou("Engineering", Some(&root.id)))
            .await,
        Err(Error::AlreadyExists { .. })
    ));
    s.create_org_unit(&a, &inst.id, ou("Backend", Some(&sales.id)))
        .await
        .unwrap();

    let d = s.org_unit_descendants(&inst.id, &root.id).await.unwrap();
    assert_eq!(d[0].id, root.id);
    assert_eq!(d.len(), 5);
    let d = s.org_unit_descendants(&inst.id, &eng.id).await.unwrap();
    assert_eq!(
        d.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
        ["Engineering", "Backend"]
    );

    let roots = s.org_unit_children(&inst.id, None).await.unwrap();
    assert_eq!(roots.len(), 1);

    // Moving a unit below its own descendant is a cycle.
    let cyc = OrgUnitUpdate {
        parent_id: Some(Some(be.id.clone())),
        ..Default::default()
    };
    assert!(matches!(
        s.update_org_unit(&a, &inst.id, &eng.id, cyc).await,
        Err(Error::OrgUnitCycle)
    ));
    let selfp = OrgUnitUpdate {
        parent_id: Some(Some(eng.id.clone())),
        ..Default::default()
    };
    assert!(matches!(
        s.update_org_unit(&a, &inst.id, &eng.id, selfp).await,
        Err(Error::OrgUnitCycle)
    ));
    // Move Backend under Sales? Sales already has a Backend: sibling clash.
    let clash = OrgUnitUpdate {
        parent_id: Some(Some(sales.id.clone())),
        ..Default::default()
    };
    assert!(matches!(
        s.update_org_unit(&a, &inst.id, &be.id, clash).await,
        Err(Error::AlreadyExists { .. })
    ));
    // Rename + move to root works.
    let mv = OrgUnitUpdate {
        name: Some(OrgUnitName::parse("Platform").unwrap()),
        parent_id: Some(None),
        ..Default::default()
    };
    let moved = s.update_org_unit(&a, &inst.id, &be.id, mv).await.unwrap();
    assert_eq!(moved.parent_id, None);
    assert_eq!(moved.name, "Platform");
    assert_eq!(
        s.org_unit_descendants(&inst.id, &root.id)
            .await
            .unwrap()
            .len(),
        4
    );

    // Delete only if empty: children block it, members block it.
    assert!(matches!(
        s.delete_org_unit(&a, &inst.id, &root.id).await,
        Err(Error::OrgUnitNotEmpty)
    ));
    let u = s
        .create_user(&a, &inst.id, new_user("alice"), None)
        .await
        .unwrap();
    s.add_user_to_org_unit(&a, &inst.id, &u.id, &moved.id, true)
        .await
        .unwrap();
    assert_eq!(
        s.get_user(&inst.id, &u.id)
            .await
            .unwrap()
            .primary_ou_id
            .as_deref(),
        Some(moved.id.as_str())
    );
    assert!(matches!(
        s.delete_org_unit(&a, &inst.id, &moved.id).await,
        Err(Error::OrgUnitNotEmpty)
    ));
    s.remove_user_from_org_unit(&a, &inst.id, &u.id, &moved.id)
        .await
        .unwrap();
    assert_eq!(
        s.get_user(&inst.id, &u.id).await.unwrap().primary_ou_id,
        None
    );
    s.delete_org_unit(&a, &inst.id, &moved.id).await.unwrap();
    assert!(matches!(
        s.get_org_unit(&inst.id, &moved.id).await,
        Err(Error::NotFound(_))
    ));
});

both_backends!(users_of_org_unit_subtree, |env| {
    let s = &env.services;
    let a = Actor::system();
    let inst = env.instance("A").await;
    let root = s
        .create_org_unit(&a, &inst.id, ou("Acme", None))
        .await
        .unwrap();
    let eng = s
        .create_org_unit(&a, &inst.id, ou("Eng", Some(&root.id)))
        .await
        .unwrap();
    let u1 = s
        .create_user(&a, &inst.id, new_user("u1"), None)
        .await
        .unwrap();
    let u2 = s
        .create_user(&a, &inst.id, new_user("u2"), None)
        .await
        .unwrap();
    s.create_user(&a, &inst.id, new_user("u3"), None)
        .await
        .unwrap();
    s.add_user_to_org_unit(&a, &inst.id, &u1.id, &root.id, false)
        .await
        .unwrap();
    s.add_user_to_org_unit(&a, &inst.id, &u2.id, &eng.id, false)
        .await
        .unwrap();
    // Adding twice is a no-op.
    s.add_user_to_org_unit(&a, &inst.id, &u2.id, &eng.id, false)
        .await
        .unwrap();
    let direct = UserFilter {
        org_unit_id: Some(root.id.clone()),
        ..Default::default()
    };
    assert_eq!(
        s.list_users(&inst.id, &direct, Page::default())
            .await
            .unwrap()
            .total,
        1
    );
    let deep = UserFilter {
        org_unit_id: Some(root.id.clone()),
        include_descendants: true,
        ..Default::default()
    };
    let r = s
        .list_users(&inst.id, &deep, Page::default())
        .await
        .unwrap();
    assert_eq!(
        r.items
            .iter()
            .map(|u| u.username.as_str())
            .collect::<Vec<_>>(),
        ["u1", "u2"]
    );
    assert_eq!(
        s.user_org_units(&inst.id, &u2.id).await.unwrap()[0].id,
        eng.id
    );
});

both_backends!(groups_and_members, |env| {
    let s = &env.services;
    let a = Actor::system();
    let inst = env.instance("A").await;
    let g = s.create_group(&a, &inst.id, group("Admins")).await.unwrap();
    assert!(matches!(
        s.create_group(&a, &inst.id, group("admins")).await,
        Err(Error::AlreadyExists { .. })
    ));
    let u = s
        .create_user(&a, &inst.id, new_user("alice"), None)
        .await
        .unwrap();
    s.add_group_member(&a, &inst.id, &g.id, &u.id)
        .await
        .unwrap();
    s.add_group_member(&a, &inst.id, &g.id, &u.id)
        .await
        .unwrap();
    let m = s
        .group_members(&inst.id, &g.id, Page::default())
        .await
        .unwrap();
    assert_eq!(m.total, 1);
    assert_eq!(s.user_groups(&inst.id, &u.id).await.unwrap()[0].id, g.id);
    let upd = GroupUpdate {
        name: Some(GroupName::parse("Operators").unwrap()),
        description: Some("ops".into()),
        ..Default::default()
    };
    let g2 = s.update_group(&a, &inst.id, &g.id, upd).await.unwrap();
    assert_eq!(
        (g2.name.as_str(), g2.description.as_str()),
        ("Operators", "ops")
    );
    s.remove_group_member(&a, &inst.id, &g.id, &u.id)
        .await
        .unwrap();
    assert!(matches!(
        s.remove_group_member(&a, &inst.id, &g.id, &u.id).await,
        Err(Error::NotFound(_))
    ));
    s.add_group_member(&a, &inst.id, &g.id, &u.id)
        .await
        .unwrap();
    // Deleting the user removes the membership.
    s.delete_user(&a, &inst.id, &u.id).await.unwrap();
    assert_eq!(
        s.group_members(&inst.id, &g.id, Page::default())
            .await
            .unwrap()
            .total,
        0
    );
    s.delete_group(&a, &inst.id, &g.id).await.unwrap();
    assert!(s.list_groups(&inst.id).await.unwrap().is_empty());
});

both_backends!(deleting_an_instance_removes_everything, |env| {
    let s = &env.services;
    let a = Actor::system();
    let inst = env.instance("A").await;
    let keep = env.instance("B").await;
    let root = s
        .create_org_unit(&a, &inst.id, ou("Acme", None))
        .await
        .unwrap();
    s.create_org_unit(&a, &inst.id, ou("Child", Some(&root.id)))
        .await
        .unwrap();
    let u = s
        .create_user(
            &a,
            &inst.id,
            new_user("alice"),
            Some(Password::new("Corr3ct-Horse")),
        )
        .await
        .unwrap();
    s.add_user_to_org_unit(&a, &inst.id, &u.id, &root.id, true)
        .await
        .unwrap();
    let g = s.create_group(&a, &inst.id, group("g")).await.unwrap();
    s.add_group_member(&a, &inst.id, &g.id, &u.id)
        .await
        .unwrap();
    s.create_user(&a, &keep.id, new_user("alice"), None)
        .await
        .unwrap();
    s.delete_instance(&a, &inst.id).await.unwrap();
    assert!(matches!(
        s.get_instance(&inst.id).await,
        Err(Error::NotFound(_))
    ));
    let pool = s.store.db().pool();
    for table in [
        "users",
        "org_units",
        "groups",
        "group_members",
        "user_org_units",
        "password_history",
    ] {
        let n: i64 = sqlx::Row::try_get(
            &sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) AS n FROM {table}"
            )))
            .fetch_one(pool)
            .await
            .unwrap(),
            "n",
        )
        .unwrap();
        let expect = if table == "users" { 1 } else { 0 };
        assert_eq!(n, expect, "{table}");
    }
});

both_backends!(failing_step_rolls_back_the_whole_operation, |env| {
    // A user insert followed by a failing statement in the same transaction leaves no user and no audit event.
    let s = &env.services;
    let inst = env.instance("A").await;
    let before = s
        .query_audit(
            Some(&inst.id),
            &idaas::audit::AuditQuery {
                limit: 500,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    {
        let mut tx = s.store.begin_write().await.unwrap();
        idaas::store::user::insert(
            &mut tx,
            "user_tx",
            &inst.id,
            &new_user("ghost"),
            None,
            false,
            1,
        )
        .await
        .unwrap();
        let ev =
            idaas::audit::NewAuditEvent::new(Some(&inst.id), &Actor::system(), "user", "create");
        idaas::store::audit::append(&mut tx, &ev, 1).await.unwrap();
        let dup = idaas::store::user::insert(
            &mut tx,
            "user_tx2",
            &inst.id,
            &new_user("GHOST"),
            None,
            false,
            1,
        )
        .await;
        assert!(matches!(dup, Err(Error::AlreadyExists { .. })));
        // The service would return the error here, dropping the transaction.
    }
    assert!(
        s.find_user_by_username(&inst.id, "ghost")
            .await
            .unwrap()
            .is_none()
    );
    let after = s
        .query_audit(
            Some(&inst.id),
            &idaas::audit::AuditQuery {
                limit: 500,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(before.items.len(), after.items.len());
});
