//! Directory, users, groups: the §2.2 rules, on both backends.

use cloudsso::Error;
use cloudsso::directory::DirectoryName;
use cloudsso::group::{GroupName, GroupPatch, NewGroup};
use cloudsso::user::{NameFilter, NewUser, UserName, UserPatch, UserStatus};

use crate::both_backends;

fn new_user(name: &str, email: Option<&str>) -> NewUser {
    NewUser {
        user_name: UserName::try_from(name.to_owned()).unwrap(),
        display_name: String::new(),
        email: email.map(str::to_owned),
        first_name: String::new(),
        last_name: String::new(),
        description: String::new(),
        status: UserStatus::Enabled,
        password: None,
        mfa_required: false,
    }
}

both_backends!(directory_names_and_rename, |env| {
    let d = env.directory("example-corp").await;
    assert!(d.id.starts_with("d-"));
    let s = &env.services;
    assert_eq!(s.portal_url(&d), "http://sso.test/example-corp");
    assert_eq!(
        s.sp_entity_id(&d),
        format!("http://sso.test/saml/sp/{}", d.id)
    );
    assert_eq!(
        s.acs_url(&d),
        format!("http://sso.test/saml/acs/{}", d.acs_uuid)
    );
    let dup = s
        .create_directory(
            &env.actor(),
            DirectoryName::try_from("example-corp".to_owned()).unwrap(),
        )
        .await;
    assert!(matches!(dup, Err(Error::AlreadyExists { .. })));
    let renamed = s
        .rename_directory(
            &env.actor(),
            &d.id,
            DirectoryName::try_from("acme".to_owned()).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(s.portal_url(&renamed), "http://sso.test/acme");
    assert_eq!(s.get_directory_by_name("ACME").await.unwrap().id, d.id);
    assert!(s.get_directory_by_name("example-corp").await.is_err());
});

both_backends!(users_are_unique_and_immutable, |env| {
    let d = env.directory("users-dir").await;
    let s = &env.services;
    let a = env.actor();
    let alice = s
        .create_user(
            &a,
            &d.id,
            new_user("alice@example.com", Some("alice@example.com")),
        )
        .await
        .unwrap();
    assert!(alice.id.starts_with("u-"));
    let same_name = s
        .create_user(&a, &d.id, new_user("ALICE@example.com", None))
        .await;
    assert!(
        matches!(
            same_name,
            Err(Error::AlreadyExists {
                field: "user_name",
                ..
            })
        ),
        "{same_name:?}"
    );
    let same_mail = s
        .create_user(&a, &d.id, new_user("alice2", Some("Alice@Example.com")))
        .await;
    assert!(
        matches!(same_mail, Err(Error::AlreadyExists { field: "email", .. })),
        "{same_mail:?}"
    );
    // Another directory may reuse both.
    let d2 = env.directory("other-dir").await;
    s.create_user(
        &a,
        &d2.id,
        new_user("alice@example.com", Some("alice@example.com")),
    )
    .await
    .unwrap();
    // Case-insensitive lookup, filters.
    assert_eq!(
        s.find_user_by_name(&d.id, "Alice@EXAMPLE.com")
            .await
            .unwrap()
            .unwrap()
            .id,
        alice.id
    );
    s.create_user(&a, &d.id, new_user("bob", None))
        .await
        .unwrap();
    let f = NameFilter::parse("UserName sw AL", "UserName").unwrap();
    let (found, _) = s.list_users(&d.id, Some(&f), 10, None).await.unwrap();
    assert_eq!(found.len(), 1);
    let (page1, next) = s.list_users(&d.id, None, 1, None).await.unwrap();
    assert_eq!(page1.len(), 1);
    let (page2, _) = s.list_users(&d.id, None, 1, next.as_deref()).await.unwrap();
    assert_ne!(page1[0].id, page2[0].id);
    // Length limits.
    let mut long = new_user("carol", None);
    long.display_name = "x".repeat(257);
    assert!(matches!(
        s.create_user(&a, &d.id, long).await,
        Err(Error::Invalid(_))
    ));
    let u = s
        .update_user(
            &a,
            &d.id,
            &alice.id,
            UserPatch {
                status: Some(UserStatus::Disabled),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(u.status, UserStatus::Disabled);
    assert_eq!(u.user_name, "alice@example.com");
});

both_backends!(deletion_rules, |env| {
    let d = env.directory("deletion").await;
    let s = &env.services;
    let a = env.actor();
    let u = s
        .create_user(&a, &d.id, new_user("dave", None))
        .await
        .unwrap();
    let g = s
        .create_group(
            &a,
            &d.id,
            NewGroup {
                group_name: GroupName::try_from("ops".to_owned()).unwrap(),
                description: String::new(),
            },
        )
        .await
        .unwrap();
    assert!(g.id.starts_with("g-"));
    let dup = s
        .create_group(
            &a,
            &d.id,
            NewGroup {
                group_name: GroupName::try_from("OPS".to_owned()).unwrap(),
                description: String::new(),
            },
        )
        .await;
    assert!(matches!(dup, Err(Error::AlreadyExists { .. })));
    s.add_group_member(&a, &d.id, &g.id, &u.id).await.unwrap();
    s.add_group_member(&a, &d.id, &g.id, &u.id).await.unwrap();
    assert_eq!(s.list_group_members(&d.id, &g.id).await.unwrap().len(), 1);
    // A user in a group cannot be deleted; a group with members cannot be deleted.
    assert!(matches!(
        s.delete_user(&a, &d.id, &u.id).await,
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        s.delete_group(&a, &d.id, &g.id).await,
        Err(Error::Conflict(_))
    ));
    // Directory with users cannot be deleted.
    assert!(matches!(
        s.delete_directory(&a, &d.id).await,
        Err(Error::Conflict(_))
    ));
    s.remove_group_member(&a, &d.id, &g.id, &u.id)
        .await
        .unwrap();
    s.update_group(
        &a,
        &d.id,
        &g.id,
        GroupPatch {
            group_name: Some(GroupName::try_from("ops2".to_owned()).unwrap()),
            description: None,
        },
    )
    .await
    .unwrap();
    s.delete_group(&a, &d.id, &g.id).await.unwrap();
    s.delete_user(&a, &d.id, &u.id).await.unwrap();
    s.delete_directory(&a, &d.id).await.unwrap();
    assert!(s.get_directory(&d.id).await.is_err());
    // Other directories' objects are invisible.
    let d2 = env.directory("isolated").await;
    let u2 = s
        .create_user(&a, &d2.id, new_user("erin", None))
        .await
        .unwrap();
    let d3 = env.directory("isolated-b").await;
    assert!(matches!(
        s.get_user(&d3.id, &u2.id).await,
        Err(Error::NotFound(_))
    ));
});
