//! CSV import: exact per-row reports, each row atomic, bad rows never abort the rest.

use idaas::account_import::{ImportFileError, RowOutcome};
use idaas::audit::Actor;

use crate::both_backends;
use crate::store_accounts::{group, ou};

both_backends!(import_reports_every_row, |env| {
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
    let g1 = s.create_group(&a, &inst.id, group("Dev")).await.unwrap();
    let g2 = s.create_group(&a, &inst.id, group("Ops")).await.unwrap();
    s.create_user(
        &a,
        &inst.id,
        crate::store_accounts::new_user("existing"),
        None,
    )
    .await
    .unwrap();

    let csv = "\
username,display_name,email,phone,password,org_unit,groups
alice,Alice A,alice@example.com,+1 555 0100,Corr3ct-Horse,Acme/Eng,Dev;Ops
bob,,bob@example.com,,,,
,No Name,x@example.com,,,,
carol,Carol,not-an-email,,,,
dave,Dave,dave@example.com,,,Acme/Nowhere,
erin,Erin,erin@example.com,,,,Dev;Missing
frank,Frank,frank@example.com,,short,,
EXISTING,Existing Updated,existing@new.example.com,,,,Ops
grace,Grace
alice,Alice Again,,,,,
";
    let report = s
        .import_accounts(&a, &inst.id, csv.as_bytes())
        .await
        .unwrap()
        .unwrap();
    let summary: Vec<_> = report
        .rows
        .iter()
        .map(|r| {
            (
                r.row,
                r.username.clone().unwrap_or_default(),
                r.outcome,
                r.message.clone().unwrap_or_default(),
            )
        })
        .collect();
    let expect = |row: usize, user: &str, outcome: RowOutcome, msg: &str| {
        (row, user.to_owned(), outcome, msg.to_owned())
    };
    assert_eq!(summary[0], expect(1, "alice", RowOutcome::Created, ""));
    assert_eq!(summary[1], expect(2, "bob", RowOutcome::Created, ""));
    assert_eq!(
        summary[2],
        expect(3, "", RowOutcome::Error, "username is required")
    );
    assert_eq!(
        summary[3],
        expect(
            4,
            "",
            RowOutcome::Error,
            "email: is not a valid e-mail address"
        )
    );
    assert_eq!(
        summary[4],
        expect(
            5,
            "dave",
            RowOutcome::Error,
            "invalid input: org_unit: organizational unit \"Acme/Nowhere\" does not exist"
        )
    );
    assert_eq!(
        summary[5],
        expect(
            6,
            "erin",
            RowOutcome::Error,
            "invalid input: groups: group \"Missing\" does not exist"
        )
    );
    assert_eq!(
        summary[6],
        expect(
            7,
            "frank",
            RowOutcome::Error,
            "invalid input: password: the password must have at least 8 characters"
        )
    );
    assert_eq!(summary[7], expect(8, "EXISTING", RowOutcome::Updated, ""));
    assert_eq!(
        summary[8],
        expect(9, "", RowOutcome::Error, "expected 7 fields, found 2")
    );
    assert_eq!(summary[9], expect(10, "alice", RowOutcome::Updated, ""));
    assert_eq!(summary.len(), 10);
    assert_eq!((report.created, report.updated, report.failed), (2, 2, 6));

    // Effects of the good rows.
    let alice = s
        .find_user_by_username(&inst.id, "alice")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(alice.display_name, "Alice Again");
    assert_eq!(
        alice.email.as_deref(),
        Some("alice@example.com"),
        "empty cells leave fields unchanged"
    );
    assert_eq!(alice.phone.as_deref(), Some("+1 555 0100"));
    assert!(alice.has_password);
    assert_eq!(alice.primary_ou_id.as_deref(), Some(eng.id.as_str()));
    let groups: Vec<_> = s
        .user_groups(&inst.id, &alice.id)
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.id)
        .collect();
    assert_eq!(groups, vec![g1.id.clone(), g2.id.clone()]);
    let existing = s
        .find_user_by_username(&inst.id, "existing")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(existing.display_name, "Existing Updated");
    assert_eq!(existing.email.as_deref(), Some("existing@new.example.com"));

    // Failed rows left nothing behind, not even partly (erin's user insert was rolled back).
    for name in ["dave", "erin", "frank", "carol", "grace"] {
        assert!(
            s.find_user_by_username(&inst.id, name)
                .await
                .unwrap()
                .is_none(),
            "{name}"
        );
    }
    assert_eq!(
        s.group_members(&inst.id, &g1.id, Default::default())
            .await
            .unwrap()
            .total,
        1
    );
});

both_backends!(import_refuses_unusable_files, |env| {
    let s = &env.services;
    let a = Actor::system();
    let inst = env.instance("A").await;
    let run = |csv: &'static str| {
        let s = s.clone();
        let iid = inst.id.clone();
        let a = a.clone();
        async move { s.import_accounts(&a, &iid, csv.as_bytes()).await.unwrap() }
    };
    assert_eq!(run("").await.unwrap_err(), ImportFileError::Empty);
    assert_eq!(
        run("email\nx@example.com\n").await.unwrap_err(),
        ImportFileError::MissingUsername
    );
    assert_eq!(
        run("username,shoe_size\nalice,9\n").await.unwrap_err(),
        ImportFileError::UnknownColumn("shoe_size".into())
    );
    assert_eq!(
        run("username,email,Email\n").await.unwrap_err(),
        ImportFileError::DuplicateColumn("email".into())
    );
    // Header only: an empty report.
    let r = run("username\n").await.unwrap();
    assert!(r.rows.is_empty());
    // Invalid UTF-8 in a row is that row's error.
    let bytes = b"username,display_name\nok1,fine\nbad,\xff\xfe\nok2,fine\n";
    let r = s
        .import_accounts(&a, &inst.id, bytes)
        .await
        .unwrap()
        .unwrap();
    let outcomes: Vec<_> = r.rows.iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [RowOutcome::Created, RowOutcome::Error, RowOutcome::Created]
    );
    assert!(
        r.rows[1]
            .message
            .as_deref()
            .unwrap()
            .starts_with("malformed CSV")
    );
    // Unknown instance.
    assert!(matches!(
        s.import_accounts(&a, "idaas_nope", b"username\nx\n").await,
        Err(idaas::Error::NotFound("instance"))
    ));
});
