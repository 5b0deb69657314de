//! Sign-in: password, lockout (including the parallel race), rate limit, TOTP, forced password
//! change, session expiry and sign-out. Also the browser helpers the other H-sso test modules use.

#![allow(dead_code)]

use std::collections::HashMap;

use idaas::audit::Actor;
use idaas::instance::InstanceSettings;
use idaas::password::Password;
use idaas::user::{DisplayName, Email, NewUser, UserName, UserStatus};

use crate::support::{Backend, TestServer};

pub const PASSWORD: &str = "Correct-Horse-42";

/// A test server with one instance whose settings suit tests (no forced change unless asked).
pub struct Idp {
    pub srv: TestServer,
    pub iid: String,
    pub token: String,
}

impl Idp {
    pub async fn start(backend: Backend) -> Option<Idp> {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(
        backend: Backend,
        tweak: impl FnOnce(&mut InstanceSettings),
    ) -> Option<Idp> {
        Self::start_configured(backend, |_| {}, tweak).await
    }

    /// Like [`Idp::start_with`], also tweaking the server configuration.
    pub async fn start_configured(
        backend: Backend,
        config: impl FnOnce(&mut idaas::Config),
        tweak: impl FnOnce(&mut InstanceSettings),
    ) -> Option<Idp> {
        let srv = TestServer::start_with(backend, config).await?;
        let (iid, token) = srv.instance_with_token("Acme").await;
        let mut settings = InstanceSettings::default();
        settings.password_policy.force_change_on_first_signin = false;
        settings.rate_limit_per_minute = 10_000;
        tweak(&mut settings);
        srv.services
            .update_settings(&Actor::system(), &iid, settings)
            .await
            .unwrap();
        Some(Idp { srv, iid, token })
    }

    pub async fn user(&self, username: &str) -> idaas::user::User {
        self.user_with(username, false).await
    }

    pub async fn user_with(&self, username: &str, is_admin: bool) -> idaas::user::User {
        let new = NewUser {
            username: Some(UserName::parse(username).unwrap()),
            display_name: DisplayName::parse(&format!("{username} Example")).unwrap(),
            email: Some(Email::parse(&format!("{username}@example.com")).unwrap()),
            status: UserStatus::Enabled,
            is_admin,
            ..NewUser::default()
        };
        self.srv
            .services
            .create_user(
                &Actor::system(),
                &self.iid,
                new,
                Some(Password::new(PASSWORD)),
            )
            .await
            .unwrap()
    }

    pub fn browser(&self) -> Browser {
        Browser::new(&self.srv.base)
    }

    /// An admin API request with the instance token.
    pub fn api(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.srv.with_token(
            &self.token,
            method,
            &format!("/api/v1/instances/{}{path}", self.iid),
        )
    }

    pub async fn stop(self) {
        self.srv.stop().await;
    }
}

/// A response read completely.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
    pub headers: reqwest::header::HeaderMap,
}

/// A cookie-keeping client that does not follow redirects by itself.
pub struct Browser {
    pub client: reqwest::Client,
    pub base: String,
}

impl Browser {
    pub fn new(base: &str) -> Self {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Browser {
            client,
            base: base.to_owned(),
        }
    }

    pub fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http") {
            path_or_url.to_owned()
        } else {
            format!("{}{}", self.base, path_or_url)
        }
    }

    async fn read(resp: reqwest::Response) -> Page {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let location = headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resp.text().await.unwrap();
        Page {
            status,
            location,
            body,
            headers,
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        Self::read(self.client.get(self.url(path)).send().await.unwrap()).await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        Self::read(
            self.client
                .post(self.url(path))
                .form(form)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// Follows same-server redirects (GET) from `page` up to 10 times.
    pub async fn follow(&self, mut page: Page) -> Page {
        for _ in 0..10 {
            match (page.status, page.location.clone()) {
                (301 | 302 | 303 | 307, Some(loc))
                    if loc.starts_with('/') || loc.starts_with(&self.base) =>
                {
                    page = self.get(&loc).await;
                }
                _ => return page,
            }
        }
        page
    }

    /// Signs in through the login form; returns the answer to the POST (not followed).
    pub async fn sign_in(
        &self,
        iid: &str,
        username: &str,
        password: &str,
        continue_to: Option<&str>,
    ) -> Page {
        let mut path = format!("/i/{iid}/login");
        if let Some(c) = continue_to {
            path.push_str(&format!("?continue={}", urlencode(c)));
        }
        let login = self.get(&path).await;
        assert_eq!(login.status, 200, "{}", login.body);
        let csrf = input_value(&login.body, "csrf").expect("csrf field");
        let cont = input_value(&login.body, "continue").unwrap_or_default();
        self.post(
            &format!("/i/{iid}/login"),
            &[
                ("username", username),
                ("password", password),
                ("csrf", &csrf),
                ("continue", &cont),
            ],
        )
        .await
    }

    /// The portal page's CSRF token (signed in).
    pub async fn portal_csrf(&self, iid: &str) -> String {
        let p = self.get(&format!("/i/{iid}/portal")).await;
        assert_eq!(p.status, 200, "{}", p.body);
        input_value(&p.body, "csrf").expect("csrf")
    }
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn html_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&#47;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#43;", "+")
        .replace("&#61;", "=")
        .replace("&amp;", "&")
}

/// The `value` of the first `<input … name="NAME" … value="…">` in `html`.
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\"");
    let at = html.find(&needle)?;
    let start = html[..at].rfind('<')?;
    let end = at + html[at..].find('>')?;
    let tag = &html[start..end];
    let v = tag.find("value=\"")? + 7;
    let rest = &tag[v..];
    Some(html_unescape(&rest[..rest.find('"')?]))
}

/// The text of the element with `id="ID"`.
pub fn element_text(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let open = at + html[at..].find('>')? + 1;
    let close = open + html[open..].find('<')?;
    Some(html_unescape(&html[open..close]))
}

/// The auto-submitting SAML POST form: (action, SAMLResponse, RelayState).
pub fn saml_post_form(html: &str) -> Option<(String, String, Option<String>)> {
    let a = html.find("action=\"")? + 8;
    let action = html_unescape(&html[a..a + html[a..].find('"')?]);
    Some((
        action,
        input_value(html, "SAMLResponse")?,
        input_value(html, "RelayState"),
    ))
}

/// Decodes a SAMLResponse form value to XML.
pub fn response_xml(b64: &str) -> String {
    use base64::Engine;
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
    .unwrap()
}

async fn failed_attempts(idp: &Idp, user_id: &str) -> i64 {
    let mut conn = idp.srv.services.store.read().await.unwrap();
    idaas::store::user::credentials(&mut conn, &idp.iid, user_id)
        .await
        .unwrap()
        .unwrap()
        .failed_attempts
}

/// Runs `$run(idp)` on SQLite and on PostgreSQL (when configured), with settings tweaked by `$tweak`.
#[macro_export]
macro_rules! both_idps {
    ($name:ident, $run:path) => {
        $crate::both_idps!($name, $run, |_s: &mut idaas::instance::InstanceSettings| {});
    };
    ($name:ident, $run:path, $tweak:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                if let Some(idp) =
                    $crate::signin::Idp::start_with($crate::support::Backend::Sqlite, $tweak).await
                {
                    $run(idp).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(idp) =
                    $crate::signin::Idp::start_with($crate::support::Backend::Postgres, $tweak)
                        .await
                {
                    $run(idp).await;
                }
            }
        }
    };
}

async fn run_signin_flow(idp: Idp) {
    let alice = idp.user("alice").await;
    let b = idp.browser();
    // Wrong password: form again, 401, generic message.
    let p = b.sign_in(&idp.iid, "alice", "wrong-password", None).await;
    assert_eq!(p.status, 401);
    assert!(p.body.contains("wrong user name or password"));
    // Unknown user: same answer.
    let p = b.sign_in(&idp.iid, "nobody", "whatever", None).await;
    assert_eq!(p.status, 401);
    assert!(p.body.contains("wrong user name or password"));
    // Right password: session cookie, redirect to the portal; a success resets the counter.
    let p = b.sign_in(&idp.iid, "ALICE", PASSWORD, None).await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(
        p.location.as_deref(),
        Some(format!("/i/{}/portal", idp.iid).as_str())
    );
    let cookie = p
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("gh_session_"))
        .unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert_eq!(failed_attempts(&idp, &alice.id).await, 0);
    let portal = b.get(&format!("/i/{}/portal", idp.iid)).await;
    assert_eq!(portal.status, 200);
    assert!(portal.body.contains("alice Example"));
    // An open redirect through `continue` is refused.
    let p = idp
        .browser()
        .sign_in(&idp.iid, "alice", PASSWORD, Some("//evil.example/x"))
        .await;
    assert_eq!(
        p.location.as_deref(),
        Some(format!("/i/{}/portal", idp.iid).as_str())
    );
    // Sign out: the session is gone.
    let csrf = b.portal_csrf(&idp.iid).await;
    let out = b
        .post(&format!("/i/{}/logout", idp.iid), &[("csrf", &csrf)])
        .await;
    assert_eq!(out.status, 303);
    let portal = b.get(&format!("/i/{}/portal", idp.iid)).await;
    assert_eq!(portal.status, 303);
    assert!(
        portal
            .location
            .unwrap()
            .starts_with(&format!("/i/{}/login?continue=", idp.iid))
    );
    // Login CSRF: a POST without the cookie's token is refused.
    let other = idp.browser();
    let p = other
        .post(
            &format!("/i/{}/login", idp.iid),
            &[
                ("username", "alice"),
                ("password", PASSWORD),
                ("csrf", "forged"),
            ],
        )
        .await;
    assert_eq!(p.status, 403);
    // Every attempt is audited.
    let mut conn = idp.srv.services.store.read().await.unwrap();
    let events = idaas::store::audit::query(
        &mut conn,
        Some(&idp.iid),
        &idaas::audit::AuditQuery {
            limit: 500,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let signins: Vec<_> = events
        .items
        .iter()
        .filter(|e| e.action.ends_with("authn:signin"))
        .collect();
    assert!(
        signins
            .iter()
            .filter(|e| e.result == idaas::audit::AuditResult::Failure)
            .count()
            >= 2
    );
    assert!(
        signins
            .iter()
            .any(|e| e.result == idaas::audit::AuditResult::Success)
    );
    drop(conn);
    idp.stop().await;
}

async fn run_lockout_race(idp: Idp) {
    let bob = idp.user("bob").await;
    let b = idp.browser();
    let login = b.get(&format!("/i/{}/login", idp.iid)).await;
    let csrf = input_value(&login.body, "csrf").unwrap();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let client = b.client.clone();
        let url = b.url(&format!("/i/{}/login", idp.iid));
        let csrf = csrf.clone();
        tasks.push(tokio::spawn(async move {
            let resp = client
                .post(url)
                .form(&[("username", "bob"), ("password", "wrong!"), ("csrf", &csrf)])
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            (status, resp.text().await.unwrap())
        }));
    }
    let mut locked = 0;
    let mut wrong = 0;
    for (i, t) in tasks.into_iter().enumerate() {
        let (status, body) = t.await.unwrap();
        assert!(
            status < 500,
            "attempt {i}: server error {status} (the race must never fail a request): {body}"
        );
        assert_eq!(status, 401, "attempt {i}: unexpected status: {body}");
        match (
            body.contains("locked after too many failed attempts"),
            body.contains("wrong user name or password"),
        ) {
            (true, false) => locked += 1,
            (false, true) => wrong += 1,
            _ => panic!("attempt {i}: neither exactly 'locked' nor 'wrong password': {body}"),
        }
    }
    assert_eq!(wrong, 5, "exactly max_failures attempts were checked");
    assert_eq!(locked, 15);
    assert_eq!(failed_attempts(&idp, &bob.id).await, 5);
    // Now locked: even the right password is refused.
    let p = b.sign_in(&idp.iid, "bob", PASSWORD, None).await;
    assert_eq!(p.status, 401);
    assert!(p.body.contains("locked"));
    // After the lock expires the account works again.
    {
        let mut conn = idp.srv.services.store.read().await.unwrap();
        sqlx::query("UPDATE users SET locked_until = 1 WHERE id = $1")
            .bind(&bob.id)
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    let p = b.sign_in(&idp.iid, "bob", PASSWORD, None).await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(failed_attempts(&idp, &bob.id).await, 0);
    idp.stop().await;
}

crate::both_idps!(signin_success_failure_logout, run_signin_flow);
crate::both_idps!(
    lockout_race,
    run_lockout_race,
    |s: &mut InstanceSettings| {
        s.lockout.max_failures = 5;
        s.lockout.lock_seconds = 600;
    }
);

/// The cause of the once-flaky lockout race: a failed attempt re-rendered the form with a NEW login
/// CSRF cookie, so submissions of the same browser already in flight (parallel requests, a second
/// tab) failed with 403 "form expired" instead of being counted as attempts.
async fn run_failed_attempt_keeps_other_forms_valid(idp: Idp) {
    idp.user("erin").await;
    let b = idp.browser();
    let first = b.get(&format!("/i/{}/login", idp.iid)).await;
    let csrf = input_value(&first.body, "csrf").unwrap();
    // A second tab opened before the failure.
    let second = b.get(&format!("/i/{}/login", idp.iid)).await;
    let csrf2 = input_value(&second.body, "csrf").unwrap();
    assert_eq!(
        csrf, csrf2,
        "an open form's token is not rotated by another form"
    );
    let p = b
        .post(
            &format!("/i/{}/login", idp.iid),
            &[
                ("username", "erin"),
                ("password", "wrong!"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(p.status, 401, "{}", p.body);
    let p = b
        .post(
            &format!("/i/{}/login", idp.iid),
            &[
                ("username", "erin"),
                ("password", PASSWORD),
                ("csrf", &csrf2),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "the other form still works: {}", p.body);
    // A token that is not one we issue is not echoed back: a fresh one is issued.
    let other = Browser::new(&idp.srv.base);
    let page = other
        .client
        .get(other.url(&format!("/i/{}/login", idp.iid)))
        .header(
            "cookie",
            format!("gh_login_csrf_{}=attacker-chosen", idp.iid),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let fresh = input_value(&page, "csrf").unwrap();
    assert!(fresh.starts_with("lcsrf_") && fresh.len() > 40, "{fresh}");
    idp.stop().await;
}

crate::both_idps!(
    failed_attempt_keeps_other_forms_valid,
    run_failed_attempt_keeps_other_forms_valid
);

async fn run_rate_limit(idp: Idp) {
    idp.user("carol").await;
    let b = idp.browser();
    for _ in 0..3 {
        assert_eq!(b.sign_in(&idp.iid, "carol", "nope", None).await.status, 401);
    }
    let p = b.sign_in(&idp.iid, "carol", PASSWORD, None).await;
    assert_eq!(
        p.status, 429,
        "the 4th attempt in a minute from one address is refused"
    );
    assert!(p.body.contains("too many attempts"));
    idp.stop().await;
}
crate::both_idps!(
    rate_limit_per_address,
    run_rate_limit,
    |s: &mut InstanceSettings| {
        s.rate_limit_per_minute = 3;
    }
);

/// Sign-in attempts from `forwarded_for` (as the X-Forwarded-For header) until refused; the status
/// of each of `n` attempts.
async fn statuses_from(idp: &Idp, forwarded_for: &str, n: usize) -> Vec<u16> {
    let b = idp.browser();
    let mut out = Vec::new();
    for _ in 0..n {
        let login = b.get(&format!("/i/{}/login", idp.iid)).await;
        let csrf = input_value(&login.body, "csrf").unwrap();
        let resp = b
            .client
            .post(b.url(&format!("/i/{}/login", idp.iid)))
            .header("x-forwarded-for", forwarded_for)
            .form(&[("username", "carol"), ("password", "nope"), ("csrf", &csrf)])
            .send()
            .await
            .unwrap();
        out.push(resp.status().as_u16());
    }
    out
}

fn three_per_minute(s: &mut InstanceSettings) {
    s.rate_limit_per_minute = 3;
}

/// Behind a trusted proxy the limit is per forwarded client address (rightmost untrusted hop).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_uses_forwarded_for_from_trusted_proxy() {
    let Some(idp) = Idp::start_configured(
        Backend::Sqlite,
        |c| c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()],
        three_per_minute,
    )
    .await
    else {
        return;
    };
    idp.user("carol").await;
    assert_eq!(
        statuses_from(&idp, "198.51.100.1", 4).await,
        [401, 401, 401, 429]
    );
    // Another client behind the same proxy has its own budget, whatever it puts further left.
    assert_eq!(
        statuses_from(&idp, "198.51.100.1, 198.51.100.2", 3).await,
        [401, 401, 401]
    );
    idp.stop().await;
}

/// Without trusted proxies a forged X-Forwarded-For does not escape the per-address limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_ignores_forwarded_for_from_untrusted_peer() {
    let Some(idp) = Idp::start_configured(Backend::Sqlite, |_| {}, three_per_minute).await else {
        return;
    };
    idp.user("carol").await;
    let mut all = statuses_from(&idp, "198.51.100.1", 2).await;
    all.extend(statuses_from(&idp, "198.51.100.2", 2).await);
    assert_eq!(all, [401, 401, 401, 429]);
    idp.stop().await;
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn totp_secret(base32: &str) -> Vec<u8> {
    totp_rs::Secret::try_from_base32(base32)
        .unwrap()
        .as_bytes()
        .to_vec()
}

async fn run_mfa(idp: Idp) {
    idp.user("dave").await;
    let b = idp.browser();
    assert_eq!(
        b.sign_in(&idp.iid, "dave", PASSWORD, None).await.status,
        303
    );
    // Enrol in the portal: secret and otpauth URL shown; confirm with a code.
    let page = b.get(&format!("/i/{}/portal/mfa", idp.iid)).await;
    assert_eq!(page.status, 200);
    let secret = element_text(&page.body, "totp-secret").unwrap();
    assert!(
        element_text(&page.body, "otpauth-url")
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    let csrf = input_value(&page.body, "csrf").unwrap();
    let bad = b
        .post(
            &format!("/i/{}/portal/mfa", idp.iid),
            &[("csrf", &csrf), ("code", "000000")],
        )
        .await;
    assert_eq!(bad.status, 401);
    let key = totp_secret(&secret);
    let code = idaas::mfa::code_at(&key, now()).unwrap();
    let ok = b
        .post(
            &format!("/i/{}/portal/mfa", idp.iid),
            &[("csrf", &csrf), ("code", &code)],
        )
        .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    // A new sign-in now needs the code; the code just used cannot be used again.
    let b2 = idp.browser();
    let p = b2.sign_in(&idp.iid, "dave", PASSWORD, None).await;
    assert!(
        p.location
            .as_deref()
            .unwrap()
            .starts_with(&format!("/i/{}/login/mfa", idp.iid))
    );
    let portal = b2.get(&format!("/i/{}/portal", idp.iid)).await;
    assert_eq!(
        portal.status, 303,
        "a pending second factor is not a sign-in"
    );
    let mfa = b2.get(p.location.as_deref().unwrap()).await;
    let csrf = input_value(&mfa.body, "csrf").unwrap();
    let replay = b2
        .post(
            &format!("/i/{}/login/mfa", idp.iid),
            &[("csrf", &csrf), ("code", &code)],
        )
        .await;
    assert_eq!(replay.status, 401, "a used code is refused");
    let next = idaas::mfa::code_at(&key, now() + 30).unwrap();
    let done = b2
        .post(
            &format!("/i/{}/login/mfa", idp.iid),
            &[("csrf", &csrf), ("code", &next)],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(b2.get(&format!("/i/{}/portal", idp.iid)).await.status, 200);
    idp.stop().await;
}
crate::both_idps!(totp_enrolment_and_second_factor, run_mfa);

async fn run_mfa_always(idp: Idp) {
    idp.user("erin").await;
    let b = idp.browser();
    let p = b.sign_in(&idp.iid, "erin", PASSWORD, None).await;
    let mfa = b.get(p.location.as_deref().unwrap()).await;
    assert_eq!(mfa.status, 200);
    let secret = element_text(&mfa.body, "totp-secret").expect("enrolment during sign-in");
    let csrf = input_value(&mfa.body, "csrf").unwrap();
    let code = idaas::mfa::code_at(&totp_secret(&secret), now()).unwrap();
    let done = b
        .post(
            &format!("/i/{}/login/mfa", idp.iid),
            &[("csrf", &csrf), ("code", &code), ("enrol", "1")],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(b.get(&format!("/i/{}/portal", idp.iid)).await.status, 200);
    let user = idp
        .srv
        .services
        .find_user_by_username(&idp.iid, "erin")
        .await
        .unwrap()
        .unwrap();
    assert!(user.mfa_enabled);
    idp.stop().await;
}
crate::both_idps!(
    mfa_policy_always_enrols_at_sign_in,
    run_mfa_always,
    |s: &mut InstanceSettings| {
        s.mfa_policy = idaas::mfa::MfaPolicy::Always;
    }
);

async fn run_forced_change(idp: Idp) {
    idp.user("frank").await;
    let b = idp.browser();
    let p = b.sign_in(&idp.iid, "frank", PASSWORD, None).await;
    assert!(
        p.location
            .as_deref()
            .unwrap()
            .starts_with(&format!("/i/{}/password?continue=", idp.iid)),
        "{:?}",
        p.location
    );
    // The portal insists as well.
    let portal = b.get(&format!("/i/{}/portal", idp.iid)).await;
    assert!(
        portal
            .location
            .unwrap()
            .starts_with(&format!("/i/{}/password", idp.iid))
    );
    let form = b.get(p.location.as_deref().unwrap()).await;
    let csrf = input_value(&form.body, "csrf").unwrap();
    let cont = input_value(&form.body, "continue").unwrap();
    let weak = b
        .post(
            &format!("/i/{}/password", idp.iid),
            &[
                ("csrf", &csrf),
                ("continue", &cont),
                ("current_password", PASSWORD),
                ("new_password", "short"),
                ("confirm_password", "short"),
            ],
        )
        .await;
    assert_eq!(weak.status, 400);
    let same = b
        .post(
            &format!("/i/{}/password", idp.iid),
            &[
                ("csrf", &csrf),
                ("continue", &cont),
                ("current_password", PASSWORD),
                ("new_password", PASSWORD),
                ("confirm_password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        same.status, 400,
        "history: the current password cannot be reused"
    );
    assert!(same.body.contains("used recently"));
    let ok = b
        .post(
            &format!("/i/{}/password", idp.iid),
            &[
                ("csrf", &csrf),
                ("continue", &cont),
                ("current_password", PASSWORD),
                ("new_password", "Another-Pass-77"),
                ("confirm_password", "Another-Pass-77"),
            ],
        )
        .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert_eq!(b.get(&format!("/i/{}/portal", idp.iid)).await.status, 200);
    let b2 = idp.browser();
    assert_eq!(
        b2.sign_in(&idp.iid, "frank", "Another-Pass-77", None)
            .await
            .location
            .as_deref(),
        Some(format!("/i/{}/portal", idp.iid).as_str())
    );
    idp.stop().await;
}
crate::both_idps!(
    forced_password_change_and_history,
    run_forced_change,
    |s: &mut InstanceSettings| {
        s.password_policy.force_change_on_first_signin = true;
    }
);

async fn run_expiry(idp: Idp) {
    idp.user("gina").await;
    let b = idp.browser();
    b.sign_in(&idp.iid, "gina", PASSWORD, None).await;
    assert_eq!(b.get(&format!("/i/{}/portal", idp.iid)).await.status, 200);
    {
        let mut conn = idp.srv.services.store.read().await.unwrap();
        sqlx::query("UPDATE sessions SET expires_at = 1")
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    assert_eq!(
        b.get(&format!("/i/{}/portal", idp.iid)).await.status,
        303,
        "an expired session is no session"
    );
    idp.stop().await;
}
crate::both_idps!(session_expiry, run_expiry);

#[test]
fn helpers_read_forms() {
    let html = r#"<form action="https://sp/acs?a=1&amp;b=2"><input type="hidden" name="SAMLResponse" value="PHg+"><input type="hidden" name="RelayState" value="a&amp;b"></form>"#;
    let (a, r, rs) = saml_post_form(html).unwrap();
    assert_eq!(a, "https://sp/acs?a=1&b=2");
    assert_eq!(r, "PHg+");
    assert_eq!(rs.as_deref(), Some("a&b"));
    let _ = HashMap::<String, String>::new();
}
