//! Password logon: policy, lockout (one hour), TOTP MFA (bind at first logon, then verify), and the
//! SSO switch turning password logon off and on.

use cloudsso::audit::Actor;
use cloudsso::directory::{Directory, DirectorySettingsPatch};
use cloudsso::password_logon::{LogonError, LogonStep, MfaSetting, Password, PasswordPolicy};
use cloudsso::sso_settings::{ManualIdpConfig, SsoSettingsPatch};
use cloudsso::user::{NewUser, UserName, UserStatus};

use crate::both_backends;
use crate::support::Env;

const PW: &str = "Correct-Horse-7";

async fn setup(env: &Env, name: &str, mfa: MfaSetting) -> (Directory, String) {
    let d = env.directory(name).await;
    let s = &env.services;
    let policy = PasswordPolicy {
        max_login_attempts: 3,
        ..PasswordPolicy::default()
    };
    s.update_directory_settings(
        &Actor::system(),
        &d.id,
        DirectorySettingsPatch {
            password_policy: Some(policy),
            mfa_setting: Some(mfa),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let u = s
        .create_user(
            &Actor::system(),
            &d.id,
            NewUser {
                user_name: UserName::try_from("alice".to_owned()).unwrap(),
                display_name: "Alice".into(),
                email: None,
                first_name: String::new(),
                last_name: String::new(),
                description: String::new(),
                status: UserStatus::Enabled,
                password: Some(PW.into()),
                mfa_required: false,
            },
        )
        .await
        .unwrap();
    (s.get_directory(&d.id).await.unwrap(), u.id)
}

both_backends!(password_policy_applies_to_new_passwords, |env| {
    let (d, uid) = setup(&env, "policy", MfaSetting::Disabled).await;
    let s = &env.services;
    let weak = s
        .set_user_password(&Actor::system(), &d.id, &uid, Password::new("short"))
        .await;
    assert!(weak.is_err());
    let reused = s
        .set_user_password(&Actor::system(), &d.id, &uid, Password::new(PW))
        .await;
    assert!(reused.is_err(), "reuse prevention");
    s.set_user_password(
        &Actor::system(),
        &d.id,
        &uid,
        Password::new("Another-Pass-9"),
    )
    .await
    .unwrap();
});

both_backends!(lockout_after_max_attempts_for_one_hour, |env| {
    let (d, _) = setup(&env, "lockout", MfaSetting::Disabled).await;
    let s = &env.services;
    for _ in 0..2 {
        let r = s
            .password_logon(&d, "alice", &Password::new("wrong"), None, None)
            .await;
        assert!(matches!(r, Err(LogonError::InvalidCredentials)), "{r:?}");
    }
    let r = s
        .password_logon(&d, "alice", &Password::new("wrong"), None, None)
        .await;
    assert!(matches!(r, Err(LogonError::Locked { .. })), "{r:?}");
    // Even the right password is refused while locked.
    let r = s
        .password_logon(&d, "alice", &Password::new(PW), None, None)
        .await;
    assert!(matches!(r, Err(LogonError::Locked { .. })), "{r:?}");
    env.clock.advance(3601);
    let ok = s
        .password_logon(&d, "ALICE", &Password::new(PW), None, None)
        .await
        .unwrap();
    assert!(matches!(ok.step, LogonStep::Done));
    assert!(!ok.session.session.mfa_pending);
    assert_eq!(
        ok.session.session.expires_at - ok.session.session.created_at,
        8 * 3600
    );
    // Unknown user: same answer as a wrong password.
    let r = s
        .password_logon(&d, "nobody", &Password::new(PW), None, None)
        .await;
    assert!(matches!(r, Err(LogonError::InvalidCredentials)));
});

both_backends!(totp_is_bound_at_first_logon_then_required, |env| {
    let (d, uid) = setup(&env, "mfa", MfaSetting::Enabled).await;
    let s = &env.services;
    let first = s
        .password_logon(&d, "alice", &Password::new(PW), None, None)
        .await
        .unwrap();
    let LogonStep::BindMfa { otpauth_url, .. } = &first.step else {
        panic!("expected binding, got {:?}", first.step)
    };
    assert!(first.session.session.mfa_pending);
    let secret = {
        let url = url::Url::parse(otpauth_url).unwrap();
        let b32 = url
            .query_pairs()
            .find(|(k, _)| k == "secret")
            .unwrap()
            .1
            .to_string();
        base32_decode(&b32)
    };
    let now = env.clock_now();
    let wrong = s
        .verify_logon_mfa(&d, &first.session.session, "000000", None)
        .await;
    assert!(
        matches!(wrong, Err(LogonError::WrongCode))
            || web::mfa::code_at(&secret, now as u64).unwrap() == "000000"
    );
    let code = web::mfa::code_at(&secret, now as u64).unwrap();
    s.verify_logon_mfa(&d, &first.session.session, &code, None)
        .await
        .unwrap();
    assert!(s.get_user(&d.id, &uid).await.unwrap().mfa_device_bound);
    // Second logon asks for the code; the same code cannot be reused.
    env.clock.advance(31);
    let second = s
        .password_logon(&d, "alice", &Password::new(PW), None, None)
        .await
        .unwrap();
    assert!(matches!(second.step, LogonStep::Mfa));
    let code2 = web::mfa::code_at(&secret, env.clock_now() as u64).unwrap();
    s.verify_logon_mfa(&d, &second.session.session, &code2, None)
        .await
        .unwrap();
    let third = s
        .password_logon(&d, "alice", &Password::new(PW), None, None)
        .await
        .unwrap();
    assert!(matches!(
        s.verify_logon_mfa(&d, &third.session.session, &code2, None)
            .await,
        Err(LogonError::WrongCode)
    ));
    // A bound device blocks deletion until unbound.
    assert!(s.delete_user(&Actor::system(), &d.id, &uid).await.is_err());
    s.unbind_user_mfa(&Actor::system(), &d.id, &uid)
        .await
        .unwrap();
    s.delete_user(&Actor::system(), &d.id, &uid).await.unwrap();
});

both_backends!(sso_switch_disables_and_restores_password_logon, |env| {
    let (d, _) = setup(&env, "switch", MfaSetting::Disabled).await;
    let s = &env.services;
    let a = Actor::system();
    // Enabling needs an IdP.
    let r = s
        .update_sso_settings(
            &a,
            &d.id,
            SsoSettingsPatch {
                sso_enabled: Some(true),
                ..Default::default()
            },
        )
        .await;
    assert!(r.is_err());
    let (_, cert) = crate::acs::idp_key();
    s.configure_idp_manually(
        &a,
        &d.id,
        ManualIdpConfig {
            entity_id: Some("https://idp.example/entity".into()),
            login_url: Some("https://idp.example/sso".into()),
            x509_certificate: Some(cert.to_pem()),
        },
    )
    .await
    .unwrap();
    let before = s
        .password_logon(&d, "alice", &Password::new(PW), None, None)
        .await
        .unwrap();
    s.update_sso_settings(
        &a,
        &d.id,
        SsoSettingsPatch {
            sso_enabled: Some(true),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let d_on = s.get_directory(&d.id).await.unwrap();
    assert!(!d_on.password_logon_enabled());
    let r = s
        .password_logon(&d_on, "alice", &Password::new(PW), None, None)
        .await;
    assert!(matches!(r, Err(LogonError::PasswordLogonDisabled)), "{r:?}");
    // The switch ended the password session.
    assert!(
        cloudsso::store::session::get(
            &mut env.services.store.read().await.unwrap(),
            &before.session.session.id_hash,
            env.clock_now()
        )
        .await
        .unwrap()
        .is_none()
    );
    // Clear IdP only while SSO is off.
    assert!(s.clear_idp(&a, &d.id).await.is_err());
    s.update_sso_settings(
        &a,
        &d.id,
        SsoSettingsPatch {
            sso_enabled: Some(false),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let d_off = s.get_directory(&d.id).await.unwrap();
    s.password_logon(&d_off, "alice", &Password::new(PW), None, None)
        .await
        .unwrap();
    s.clear_idp(&a, &d.id).await.unwrap();
    assert!(s.get_idp_info(&d.id).await.unwrap().certificates.is_empty());
});

impl Env {
    pub fn clock_now(&self) -> i64 {
        use cloudsso::Clock;
        self.clock.now()
    }
}

fn base32_decode(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits = 0u64;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = A.iter().position(|x| *x == c.to_ascii_uppercase()).unwrap() as u64;
        bits = (bits << 5) | v;
        n += 5;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    out
}
