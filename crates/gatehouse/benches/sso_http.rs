//! End-to-end SSO over HTTP for a user who already has an IDaaS session: each request is an
//! HTTP-Redirect AuthnRequest to `/login/app/{app_id}/saml2/sso` answered with the signed Response
//! in its auto-submitting POST form. IDaaS runs in-process on SQLite (release build), the load
//! comes from concurrent reqwest clients in the same process, so client and server share the
//! machine's cores; the raw RSA-2048 signing rate of one core is printed beside it for scale.
//!
//! Every request carries a fresh AuthnRequest (new ID, IssueInstant now), built by the client
//! inside the timed loop (a few microseconds beside the server's work).
//!
//! Run: `cargo bench -p gatehouse --bench sso_http` (optional env: BENCH_SECONDS, BENCH_CONCURRENCY).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use saml::algorithm::SignatureAlgorithm;
use saml::authn_request::AuthnRequest;
use saml::binding::{MessageParam, encode_redirect};
use saml::key::SigningKey;
use serde_json::{Value, json};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn call(
    c: &reqwest::Client,
    m: reqwest::Method,
    url: &str,
    token: &str,
    body: Value,
) -> Value {
    let r = c
        .request(m, url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = r.status();
    let text = r.text().await.expect("body");
    assert!(status.is_success(), "{url}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

fn field<'a>(page: &'a str, name: &str) -> &'a str {
    let key = format!("name=\"{name}\" value=\"");
    let start = page.find(&key).map(|i| i + key.len()).expect("field");
    &page[start..start + page[start..].find('"').expect("quote")]
}

/// An HTTP-Redirect query carrying a new AuthnRequest with ID `_bench{n}`, issued now.
fn authn_request_query(sso: &str, sp: &str, n: u64) -> String {
    let req = AuthnRequest {
        id: format!("_bench{n}"),
        issue_instant: time::OffsetDateTime::now_utc(),
        destination: Some(sso.to_owned()),
        issuer: sp.to_owned(),
        assertion_consumer_service_url: Some(format!("{sp}/acs")),
        assertion_consumer_service_index: None,
        protocol_binding: None,
        force_authn: false,
        is_passive: false,
        name_id_policy: None,
        requested_authn_context: None,
        has_enveloped_signature: false,
    };
    encode_redirect(MessageParam::Request, &req.to_xml(), None, None).expect("encode")
}

#[tokio::main]
async fn main() {
    let seconds = env_or("BENCH_SECONDS", 5);
    let concurrency = env_or("BENCH_CONCURRENCY", 4) as usize;
    let dir = std::env::temp_dir().join(format!("gatehouse-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let db = format!("sqlite://{}?mode=rwc", dir.join("idaas.db").display());
    let server = idaas::Server::start(idaas::Config::for_tests(db))
        .await
        .expect("start");
    let base = server.base_url().to_owned();
    let services = server.services();
    let token = services
        .create_api_token(
            &idaas::audit::Actor::system(),
            None,
            idaas::api_token::TokenName::try_from("bench".to_owned()).expect("name"),
            None,
        )
        .await
        .expect("token")
        .secret;

    // Instance, one user, one SAML app (All Users) through the admin API.
    let http = reqwest::Client::new();
    use reqwest::Method;
    let inst = call(
        &http,
        Method::POST,
        &format!("{base}/api/v1/instances"),
        &token,
        json!({"name": "Bench"}),
    )
    .await;
    let iid = inst["id"].as_str().expect("iid").to_owned();
    let p = format!("{base}/api/v1/instances/{iid}");
    let user = call(
        &http,
        Method::POST,
        &format!("{p}/users"),
        &token,
        json!({"username": "alice", "email": "alice@bench.example", "display_name": "Alice"}),
    )
    .await;
    let uid = user["id"].as_str().expect("uid");
    call(
        &http,
        Method::POST,
        &format!("{p}/users/{uid}/password"),
        &token,
        json!({"password": "Bench-password-1", "must_change": false}),
    )
    .await;
    let app = call(
        &http,
        Method::POST,
        &format!("{p}/apps"),
        &token,
        json!({"template_id": "apt_saml2_standard", "name": "Bench SP"}),
    )
    .await;
    let app_id = app["id"].as_str().expect("app id").to_owned();
    let sp = "https://sp.bench.example";
    call(
        &http,
        Method::PATCH,
        &format!("{p}/apps/{app_id}"),
        &token,
        json!({
            "authorization_type": "default_all",
            "saml": {"sp_entity_id": sp, "acs_url": format!("{sp}/acs"),
                     "attribute_statements": [{"name": "email", "value_expression": "user.email"}]}
        }),
    )
    .await;

    // Sign in once; every SSO request then rides on the session cookie.
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("client");
    let login = format!("{base}/i/{iid}/login");
    let page = browser
        .get(&login)
        .send()
        .await
        .expect("login page")
        .text()
        .await
        .expect("text");
    let csrf = field(&page, "csrf").to_owned();
    let r = browser
        .post(&login)
        .form(&[
            ("csrf", csrf.as_str()),
            ("continue", ""),
            ("username", "alice"),
            ("password", "Bench-password-1"),
        ])
        .send()
        .await
        .expect("sign in");
    assert!(
        r.status().is_success() || r.status().is_redirection(),
        "sign-in failed: {}",
        r.status()
    );

    let sso = format!("{base}/login/app/{app_id}/saml2/sso");
    // Check one round trip really yields a signed Response.
    let first = browser
        .get(format!("{sso}?{}", authn_request_query(&sso, sp, 0)))
        .send()
        .await
        .expect("sso");
    let body = first.text().await.expect("text");
    assert!(body.contains("SAMLResponse"), "no Response: {body}");

    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..concurrency {
        let (browser, done, failed) = (browser.clone(), done.clone(), failed.clone());
        let first_id = 1_000_000 * (t as u64 + 1);
        let sso = sso.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while Instant::now() < deadline {
                // A fresh request ID every time: IDaaS refuses a replayed AuthnRequest ID.
                let url = format!("{sso}?{}", authn_request_query(&sso, sp, first_id + i));
                i += 1;
                match browser.get(&url).send().await {
                    Ok(r) if r.status().is_success() => {
                        let ok = r.text().await.is_ok_and(|b| b.contains("SAMLResponse"));
                        if ok {
                            done.fetch_add(1, Ordering::Relaxed);
                        } else {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let elapsed = start.elapsed().as_secs_f64();
    let ok = done.load(Ordering::Relaxed);

    // The RSA ceiling of one core, for scale (two RSA signatures per Response: assertion + response).
    let key = SigningKey::generate_rsa(2048).expect("key");
    let msg = [7u8; 620];
    let t0 = Instant::now();
    let mut n = 0u64;
    while t0.elapsed() < Duration::from_secs(1) {
        key.sign(SignatureAlgorithm::RsaSha256, &msg).expect("sign");
        n += 1;
    }
    let rsa = n as f64 / t0.elapsed().as_secs_f64();

    println!(
        "cores: {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!(
        "SSO requests with a session over HTTP: {:.1}/s ({ok} ok, {} failed, {concurrency} concurrent clients, {elapsed:.1} s)",
        ok as f64 / elapsed,
        failed.load(Ordering::Relaxed)
    );
    println!(
        "raw RSA-2048 signatures/s on one core: {rsa:.1} (each Response needs 2: response + assertion signed)"
    );
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    // A rate that counts refusals would mean nothing.
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "some SSO requests failed"
    );
}
