//! Each change and its audit event are one transaction; lockout reservations are one statement and
//! cannot lock an account forever. The audit insert is made to fail with a trigger: the change it
//! records must then be rolled back too.

use idaas::instance::{Instance, InstanceSettings};
use idaas::password::Password;
use idaas::sign_in::{SignInOutcome, SignInRefusal};

use crate::signin::{Idp, PASSWORD};

/// Makes every later `INSERT INTO audit_log` fail.
pub async fn refuse_audit_inserts(idp: &Idp) {
    let store = &idp.srv.services.store;
    let mut conn = store.read().await.unwrap();
    let statements: &[&str] = match store.db().backend() {
        db::Backend::Sqlite => &["CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log \
             BEGIN SELECT RAISE(ABORT, 'audit refused'); END"],
        db::Backend::Postgres => &[
            "CREATE FUNCTION refuse_audit() RETURNS trigger AS $body$ \
             BEGIN RAISE EXCEPTION 'audit refused'; END $body$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log \
             FOR EACH ROW EXECUTE FUNCTION refuse_audit()",
        ],
    };
    for sql in statements {
        sqlx::raw_sql(sqlx::AssertSqlSafe(*sql))
            .execute(&mut *conn)
            .await
            .unwrap();
    }
}

async fn instance(idp: &Idp) -> Instance {
    let mut conn = idp.srv.services.store.read().await.unwrap();
    idaas::store::instance::get(&mut conn, &idp.iid)
        .await
        .unwrap()
        .unwrap()
}

async fn lock_state(idp: &Idp, user_id: &str) -> (i64, Option<i64>, Option<String>) {
    use sqlx::Row;
    let mut conn = idp.srv.services.store.read().await.unwrap();
    let row = sqlx::query(
        "SELECT failed_attempts, locked_until, totp_secret_enc FROM users WHERE id = $1",
    )
    .bind(user_id)
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    (
        row.try_get("failed_attempts").unwrap(),
        row.try_get("locked_until").unwrap(),
        row.try_get("totp_secret_enc").unwrap(),
    )
}

fn one_failure(s: &mut InstanceSettings) {
    s.lockout.max_failures = 1;
    s.lockout.lock_seconds = 600;
}

/// A failed attempt's lock and its audit event are one transaction.
async fn run_failure_and_audit_are_atomic(idp: Idp) {
    let user = idp.user("frank").await;
    let inst = instance(&idp).await;
    refuse_audit_inserts(&idp).await;
    let r = idp
        .srv
        .services
        .sign_in_password(&inst, "frank", &Password::new("wrong!"), None, false)
        .await;
    assert!(r.is_err(), "the audit insert failed, so must the attempt");
    let (failed, locked_until, _) = lock_state(&idp, &user.id).await;
    assert_eq!(failed, 1, "the reservation was committed before the check");
    assert_eq!(
        locked_until, None,
        "the lock was rolled back with its failed audit event"
    );
    idp.stop().await;
}
crate::both_idps!(
    failure_and_audit_are_atomic,
    run_failure_and_audit_are_atomic,
    one_failure
);

/// Starting a TOTP enrolment and its audit event are one transaction.
async fn run_totp_enrolment_and_audit_are_atomic(idp: Idp) {
    let user = idp.user("gina").await;
    let inst = instance(&idp).await;
    refuse_audit_inserts(&idp).await;
    assert!(
        idp.srv
            .services
            .begin_totp_enrolment(&inst, &user)
            .await
            .is_err()
    );
    let (_, _, secret) = lock_state(&idp, &user.id).await;
    assert_eq!(secret, None, "no secret stored without its audit event");
    idp.stop().await;
}
crate::both_idps!(
    totp_enrolment_and_audit_are_atomic,
    run_totp_enrolment_and_audit_are_atomic
);

/// A used-up count without a lock time (crash after reserving; `max_failures` lowered) locks the
/// account for `lock_seconds`, not forever.
async fn run_used_up_count_without_lock_time_expires(idp: Idp) {
    let user = idp.user("hank").await;
    let inst = instance(&idp).await;
    {
        let mut conn = idp.srv.services.store.read().await.unwrap();
        sqlx::query("UPDATE users SET failed_attempts = 7, locked_until = NULL WHERE id = $1")
            .bind(&user.id)
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    let services = &idp.srv.services;
    let out = services
        .sign_in_password(&inst, "hank", &Password::new(PASSWORD), None, false)
        .await
        .unwrap();
    assert!(matches!(out, SignInOutcome::Refused(SignInRefusal::Locked)));
    let (_, locked_until, _) = lock_state(&idp, &user.id).await;
    let now = services.now();
    let until = locked_until.expect("a lock time is set");
    assert!(until > now && until <= now + 600, "{until} vs {now}");
    // Once that lock expires the right password works again.
    {
        let mut conn = services.store.read().await.unwrap();
        sqlx::query("UPDATE users SET locked_until = $1 WHERE id = $2")
            .bind(now - 1)
            .bind(&user.id)
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    let out = services
        .sign_in_password(&inst, "hank", &Password::new(PASSWORD), None, false)
        .await
        .unwrap();
    assert!(matches!(out, SignInOutcome::SignedIn { .. }), "{out:?}");
    assert_eq!(lock_state(&idp, &user.id).await.0, 0);
    idp.stop().await;
}
crate::both_idps!(
    used_up_count_without_lock_time_expires,
    run_used_up_count_without_lock_time_expires,
    |s: &mut InstanceSettings| {
        s.lockout.max_failures = 5;
        s.lockout.lock_seconds = 600;
    }
);

/// Follows parent links from `id` at most `limit` steps; `None` when they loop.
async fn root_distance(env: &crate::support::Env, id: &str, limit: usize) -> Option<usize> {
    use sqlx::Row;
    let mut conn = env.services.store.read().await.unwrap();
    let mut cur = Some(id.to_owned());
    for steps in 0..limit {
        let Some(c) = cur else {
            return Some(steps);
        };
        cur = sqlx::query("SELECT parent_id FROM org_units WHERE id = $1")
            .bind(&c)
            .fetch_one(&mut *conn)
            .await
            .unwrap()
            .try_get("parent_id")
            .unwrap();
    }
    None
}

// Two concurrent opposite moves (A below B, B below A) must not both succeed: that would be a
// cycle, on which the recursive tree queries would never end.
crate::both_backends!(concurrent_opposite_moves_make_no_cycle, |env| {
    use crate::store_accounts::ou;
    use idaas::org_unit::OrgUnitUpdate;
    let inst = env.instance("Acme").await;
    let a = env.actor();
    for round in 0..15 {
        let x = env
            .services
            .create_org_unit(&a, &inst.id, ou(&format!("X{round}"), None))
            .await
            .unwrap();
        let y = env
            .services
            .create_org_unit(&a, &inst.id, ou(&format!("Y{round}"), None))
            .await
            .unwrap();
        let mv = |id: String, parent: String| {
            let services = env.services.clone();
            let iid = inst.id.clone();
            let actor = a.clone();
            tokio::spawn(async move {
                services
                    .update_org_unit(
                        &actor,
                        &iid,
                        &id,
                        OrgUnitUpdate {
                            parent_id: Some(Some(parent)),
                            ..OrgUnitUpdate::default()
                        },
                    )
                    .await
            })
        };
        let t1 = mv(x.id.clone(), y.id.clone());
        let t2 = mv(y.id.clone(), x.id.clone());
        let (r1, r2) = (t1.await.unwrap(), t2.await.unwrap());
        let ok = usize::from(r1.is_ok()) + usize::from(r2.is_ok());
        assert_eq!(
            ok, 1,
            "round {round}: exactly one move wins: {r1:?} / {r2:?}"
        );
        for e in [r1.err(), r2.err()].into_iter().flatten() {
            assert!(matches!(e, idaas::error::Error::OrgUnitCycle), "{e:?}");
        }
        assert!(root_distance(&env, &x.id, 10).await.is_some(), "cycle");
        assert!(root_distance(&env, &y.id, 10).await.is_some(), "cycle");
    }
});

// Even on a corrupt tree (a cycle written behind the service's back) the recursive queries end.
crate::both_backends!(recursive_tree_queries_end_on_a_cycle, |env| {
    use crate::store_accounts::ou;
    let inst = env.instance("Acme").await;
    let a = env.actor();
    let x = env
        .services
        .create_org_unit(&a, &inst.id, ou("X", None))
        .await
        .unwrap();
    let y = env
        .services
        .create_org_unit(&a, &inst.id, ou("Y", Some(&x.id)))
        .await
        .unwrap();
    let mut conn = env.services.store.read().await.unwrap();
    sqlx::query("UPDATE org_units SET parent_id = $1 WHERE id = $2")
        .bind(&y.id)
        .bind(&x.id)
        .execute(&mut *conn)
        .await
        .unwrap();
    let deadline = std::time::Duration::from_secs(10);
    let mut ids = tokio::time::timeout(
        deadline,
        idaas::store::org_unit::ancestor_ids(&mut conn, &x.id),
    )
    .await
    .expect("ancestor query ends")
    .unwrap();
    ids.sort();
    let mut want = vec![x.id.clone(), y.id.clone()];
    want.sort();
    assert_eq!(ids, want);
    let below = tokio::time::timeout(
        deadline,
        idaas::store::org_unit::descendants(&mut conn, &inst.id, &x.id),
    )
    .await
    .expect("descendants query ends")
    .unwrap();
    assert_eq!(below.len(), 2);
});

/// A parked SSO request is consumed only together with the audit event of its answer.
async fn run_parked_request_and_audit_are_atomic(idp: Idp) {
    use crate::saml_negative::{SP_ACS, SP_ENTITY, authn_request, saml_app, sso_path};
    use base64::Engine;
    idp.user("alice").await;
    let app = saml_app(
        &idp,
        serde_json::json!({ "sp_entity_id": SP_ENTITY, "acs_url": SP_ACS }),
        "default_all",
    )
    .await;
    let b = idp.browser();
    assert_eq!(
        b.sign_in(&idp.iid, "alice", PASSWORD, None).await.status,
        303
    );
    let xml = authn_request("_a1", SP_ENTITY, Some(SP_ACS), "", "");
    let value = base64::engine::general_purpose::STANDARD.encode(xml);
    let parked = b.post(&sso_path(&app), &[("SAMLRequest", &value)]).await;
    assert_eq!(parked.status, 303, "{}", parked.body);
    let count = || async {
        use sqlx::Row;
        let mut conn = idp.srv.services.store.read().await.unwrap();
        sqlx::query("SELECT COUNT(*) AS n FROM pending_sso")
            .fetch_one(&mut *conn)
            .await
            .unwrap()
            .try_get::<i64, _>("n")
            .unwrap()
    };
    assert_eq!(count().await, 1);
    refuse_audit_inserts(&idp).await;
    let page = b.get(parked.location.as_deref().unwrap()).await;
    assert_eq!(page.status, 500, "{}", page.body);
    assert!(!page.body.contains("SAMLResponse"));
    assert_eq!(count().await, 1, "not consumed without its audit event");
    idp.stop().await;
}
crate::both_idps!(
    parked_request_and_audit_are_atomic,
    run_parked_request_and_audit_are_atomic
);
