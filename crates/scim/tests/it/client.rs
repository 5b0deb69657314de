//! The SCIM client against an in-process axum server: headers, OAuth client credentials, errors, limits.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use scim::client::{
    ClientAuth, ClientError, ClientOptions, ScimClient, TokenAuthMethod, parse_retry_after,
};
use scim::filter::Filter;
use scim::resource::{Group, User};
use scim::{ScimError, ScimType};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }
}

type Responder = dyn Fn(&Seen, &[Seen]) -> (Response, Duration) + Send + Sync;

struct Srv {
    log: Mutex<Vec<Seen>>,
    respond: Box<Responder>,
}

async fn handle(
    State(srv): State<Arc<Srv>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let seen = Seen {
        method,
        uri,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let (resp, delay) = {
        let mut log = srv.log.lock().unwrap();
        log.push(seen.clone());
        (srv.respond)(&seen, &log)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    resp
}

/// Starts a server; returns its origin (`http://127.0.0.1:port`) and the shared state.
async fn serve(
    respond: impl Fn(&Seen, &[Seen]) -> (Response, Duration) + Send + Sync + 'static,
) -> (String, Arc<Srv>) {
    let srv = Arc::new(Srv {
        log: Mutex::new(Vec::new()),
        respond: Box::new(respond),
    });
    let app = Router::new().fallback(handle).with_state(srv.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), srv)
}

fn scim_json(status: StatusCode, v: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/scim+json")],
        v.to_string(),
    )
        .into_response()
}

fn now(r: Response) -> (Response, Duration) {
    (r, Duration::ZERO)
}

fn bearer(token: &str) -> ClientAuth {
    ClientAuth::Bearer(token.to_string())
}

fn client(base: &str, auth: ClientAuth) -> ScimClient {
    ScimClient::new(base, auth, ClientOptions::default()).unwrap()
}

fn user_json(id: &str, user_name: &str) -> Value {
    json!({"schemas": [scim::SCHEMA_USER], "id": id, "userName": user_name, "meta": {"resourceType": "User"}})
}

#[tokio::test]
async fn bearer_header_content_types_and_url_join() {
    let (origin, srv) = serve(|seen, _| {
        let body: Value = serde_json::from_str(&seen.body).unwrap_or(Value::Null);
        now(scim_json(
            StatusCode::CREATED,
            user_json("id-1", body["userName"].as_str().unwrap_or("?")),
        ))
    })
    .await;
    for base in [format!("{origin}/scim/v2"), format!("{origin}/scim/v2/")] {
        let c = client(&base, bearer("tok-abc"));
        let created = c.create_user(&User::new("alice")).await.unwrap();
        assert_eq!(created.id.as_deref(), Some("id-1"));
    }
    let log = srv.log.lock().unwrap().clone();
    assert_eq!(log.len(), 2);
    for seen in &log {
        assert_eq!(seen.method, Method::POST);
        assert_eq!(seen.uri.path(), "/scim/v2/Users");
        assert_eq!(
            seen.header("authorization").as_deref(),
            Some("Bearer tok-abc")
        );
        assert_eq!(
            seen.header("content-type").as_deref(),
            Some("application/scim+json")
        );
        let accept = seen.header("accept").unwrap();
        assert!(accept.contains("application/scim+json") && accept.contains("application/json"));
        assert!(
            seen.header("user-agent")
                .unwrap()
                .starts_with("gatehouse-scim/")
        );
        let body: Value = serde_json::from_str(&seen.body).unwrap();
        assert_eq!(body["schemas"][0], scim::SCHEMA_USER);
    }
}

#[tokio::test]
async fn resource_ids_are_path_encoded_and_plain_json_accepted() {
    let (origin, srv) = serve(|_, _| {
        now((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            json!({"schemas": [scim::SCHEMA_GROUP], "id": "a/b?c", "displayName": "Eng"})
                .to_string(),
        )
            .into_response())
    })
    .await;
    let c = client(&format!("{origin}/scim/v2"), bearer("t"));
    let g: Group = c.get_group("a/b?c").await.unwrap();
    assert_eq!(g.display_name, "Eng");
    let seen = srv.log.lock().unwrap()[0].clone();
    assert_eq!(seen.uri.path(), "/scim/v2/Groups/a%2Fb%3Fc");
    assert!(seen.header("content-type").is_none(), "GET carries no body");
}

#[tokio::test]
async fn find_user_by_user_name_sends_filter() {
    let (origin, srv) = serve(|seen, _| {
        let q = seen.uri.query().unwrap_or_default().to_string();
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes()).into_owned().collect();
        let filter = pairs.iter().find(|(k, _)| k == "filter").map(|(_, v)| v.clone()).unwrap_or_default();
        let hit = filter == "userName eq \"al\\\"ice\"";
        let resources = if hit { vec![user_json("u9", "al\"ice")] } else { vec![] };
        now(scim_json(StatusCode::OK, json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": resources.len(), "startIndex": 1, "itemsPerPage": resources.len(), "Resources": resources,
        })))
    })
    .await;
    let c = client(&format!("{origin}/scim/v2/"), bearer("t"));
    let u = c
        .find_user_by_user_name("al\"ice")
        .await
        .unwrap()
        .expect("found");
    assert_eq!(u.id.as_deref(), Some("u9"));
    assert!(
        c.find_user_by_external_id("nobody")
            .await
            .unwrap()
            .is_none()
    );
    let page = c
        .list(
            "/Users",
            Some(&Filter::eq("displayName", "x")),
            Some(3),
            Some(7),
        )
        .await
        .unwrap();
    assert_eq!(page.total_results, 0);
    let last = srv.log.lock().unwrap().last().unwrap().clone();
    let q = last.uri.query().unwrap();
    assert!(q.contains("startIndex=3") && q.contains("count=7"), "{q}");
}

fn token_response(token: &str) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600}).to_string(),
    )
        .into_response()
}

fn form(body: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

fn has(form: &[(String, String)], k: &str, v: &str) -> bool {
    form.iter().any(|(a, b)| a == k && b == v)
}

#[tokio::test]
async fn client_credentials_basic_fetches_once_and_reuses() {
    let (origin, srv) = serve(|seen, _| {
        if seen.uri.path() == "/oauth/token" {
            return now(token_response("cc-token"));
        }
        now(scim_json(StatusCode::OK, user_json("u1", "alice")))
    })
    .await;
    let auth = ClientAuth::ClientCredentials {
        token_endpoint: format!("{origin}/oauth/token"),
        client_id: "my client".into(),
        client_secret: "s3cr:t&".into(),
        method: TokenAuthMethod::ClientSecretBasic,
        scope: Some("scim.write".into()),
    };
    assert!(
        !format!("{auth:?}").contains("s3cr"),
        "Debug must not print the secret"
    );
    let c = client(&format!("{origin}/scim/v2"), auth);
    c.get_user("u1").await.unwrap();
    c.get_user("u1").await.unwrap();
    let log = srv.log.lock().unwrap().clone();
    let token_calls: Vec<&Seen> = log
        .iter()
        .filter(|s| s.uri.path() == "/oauth/token")
        .collect();
    assert_eq!(token_calls.len(), 1, "token cached");
    let t = token_calls[0];
    assert_eq!(t.method, Method::POST);
    use base64::Engine as _;
    let expected = base64::engine::general_purpose::STANDARD.encode("my+client:s3cr%3At%26");
    assert_eq!(t.header("authorization"), Some(format!("Basic {expected}")));
    assert!(
        t.header("content-type")
            .unwrap()
            .starts_with("application/x-www-form-urlencoded")
    );
    let f = form(&t.body);
    assert!(has(&f, "grant_type", "client_credentials") && has(&f, "scope", "scim.write"));
    assert!(!f.iter().any(|(k, _)| k == "client_secret"));
    let scim_calls: Vec<&Seen> = log
        .iter()
        .filter(|s| s.uri.path() != "/oauth/token")
        .collect();
    assert_eq!(scim_calls.len(), 2);
    assert!(
        scim_calls
            .iter()
            .all(|s| s.header("authorization").as_deref() == Some("Bearer cc-token"))
    );
}

#[tokio::test]
async fn client_credentials_post_refreshes_after_401() {
    let (origin, srv) = serve(|seen, log| {
        if seen.uri.path() == "/token" {
            let n = log.iter().filter(|s| s.uri.path() == "/token").count();
            return now(token_response(&format!("tok-{n}")));
        }
        if seen.header("authorization").as_deref() == Some("Bearer tok-2") {
            now(StatusCode::NO_CONTENT.into_response())
        } else {
            now(scim_json(
                StatusCode::UNAUTHORIZED,
                ScimError::unauthorized("expired").to_json(),
            ))
        }
    })
    .await;
    let auth = ClientAuth::ClientCredentials {
        token_endpoint: format!("{origin}/token"),
        client_id: "cid".into(),
        client_secret: "csecret".into(),
        method: TokenAuthMethod::ClientSecretPost,
        scope: None,
    };
    let c = client(&format!("{origin}/scim/v2"), auth);
    c.delete_user("u1").await.unwrap();
    c.delete_user("u2").await.unwrap();
    let log = srv.log.lock().unwrap().clone();
    let tokens: Vec<&Seen> = log.iter().filter(|s| s.uri.path() == "/token").collect();
    assert_eq!(
        tokens.len(),
        2,
        "one initial fetch, one refresh after 401, then reused"
    );
    for t in &tokens {
        assert!(t.header("authorization").is_none());
        let f = form(&t.body);
        assert!(has(&f, "client_id", "cid") && has(&f, "client_secret", "csecret"));
        assert!(
            has(&f, "grant_type", "client_credentials") && !f.iter().any(|(k, _)| k == "scope")
        );
    }
    assert_eq!(log.len(), 5, "token, 401, token, 204, 204");
}

#[tokio::test]
async fn persistent_401_and_rejected_credentials() {
    let (origin, _srv) = serve(|seen, _| {
        if seen.uri.path() == "/token" {
            let f = form(&seen.body);
            if has(&f, "client_id", "good") {
                return now(token_response("t"));
            }
            return now((
                StatusCode::UNAUTHORIZED,
                [(header::CONTENT_TYPE, "application/json")],
                json!({"error": "invalid_client"}).to_string(),
            )
                .into_response());
        }
        now(scim_json(
            StatusCode::UNAUTHORIZED,
            ScimError::unauthorized("no").to_json(),
        ))
    })
    .await;
    let cc = |id: &str| ClientAuth::ClientCredentials {
        token_endpoint: format!("{origin}/token"),
        client_id: id.into(),
        client_secret: "x".into(),
        method: TokenAuthMethod::ClientSecretPost,
        scope: None,
    };
    let e = client(&origin, cc("bad")).get_user("1").await.unwrap_err();
    assert!(
        matches!(&e, ClientError::Auth(m) if m.contains("invalid_client")),
        "{e:?}"
    );
    assert!(!e.is_retryable());
    let e = client(&origin, cc("good")).get_user("1").await.unwrap_err();
    assert_eq!(e.status(), Some(401));
    assert!(!e.is_retryable());
}

#[tokio::test]
async fn status_errors_retry_after_and_scim_bodies() {
    let (origin, _srv) = serve(|seen, _| {
        let r = match seen.uri.path() {
            "/Users/rate" => (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "7")], "slow down").into_response(),
            "/Users/boom" => scim_json(StatusCode::INTERNAL_SERVER_ERROR, ScimError::internal("db down").to_json()),
            "/Users/html" => (StatusCode::BAD_GATEWAY, [(header::CONTENT_TYPE, "text/html")], "<h1>bad</h1>").into_response(),
            "/Users" => scim_json(StatusCode::CONFLICT, json!({
                "schemas": [scim::SCHEMA_ERROR], "status": 409, "scimType": "uniqueness", "detail": "userName taken"})),
            _ => (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], "hello").into_response(),
        };
        now(r)
    })
    .await;
    let c = client(&origin, bearer("t"));
    let e = c.get_user("rate").await.unwrap_err();
    assert_eq!(e.status(), Some(429));
    assert!(e.is_retryable());
    assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
    let e = c.get_user("boom").await.unwrap_err();
    assert!(e.is_retryable());
    assert_eq!(e.scim().map(|s| s.detail.as_str()), Some("db down"));
    let e = c.get_user("html").await.unwrap_err();
    assert!(matches!(
        e,
        ClientError::Status {
            status: 502,
            scim: None,
            retry_after: None
        }
    ));
    let e = c.create_user(&User::new("dup")).await.unwrap_err();
    assert!(!e.is_retryable());
    let scim = e.scim().expect("decoded SCIM error");
    assert_eq!(
        (scim.status, scim.scim_type),
        (409, Some(ScimType::Uniqueness))
    );
    let e = c.get_user("text").await.unwrap_err();
    assert!(matches!(e, ClientError::Decode(_)), "{e:?}");
}

#[test]
fn retry_after_formats() {
    let now = time::macros::datetime!(2015-10-21 07:27:50 UTC);
    assert_eq!(
        parse_retry_after("120", now),
        Some(Duration::from_secs(120))
    );
    assert_eq!(
        parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
        Some(Duration::from_secs(10))
    );
    assert_eq!(
        parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
        Some(Duration::ZERO)
    );
    assert_eq!(parse_retry_after("soon", now), None);
    assert_eq!(parse_retry_after("-5", now), None);
}

#[tokio::test]
async fn timeout_is_reported_and_retryable() {
    let (origin, _srv) = serve(|_, _| {
        (
            scim_json(StatusCode::OK, user_json("1", "a")),
            Duration::from_secs(3),
        )
    })
    .await;
    let opts = ClientOptions {
        timeout: Duration::from_millis(200),
        ..ClientOptions::default()
    };
    let c = ScimClient::new(&origin, bearer("t"), opts).unwrap();
    let e = c.get_user("1").await.unwrap_err();
    assert_eq!(e, ClientError::Timeout);
    assert!(e.is_retryable());
}

#[tokio::test]
async fn oversized_and_malformed_bodies_are_refused() {
    let (origin, _srv) = serve(|seen, _| {
        let r = if seen.uri.path() == "/big" {
            let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(2 * 1024 * 1024));
            scim_json_raw(big)
        } else {
            scim_json_raw("{\"id\": ".to_string())
        };
        now(r)
    })
    .await;
    let opts = ClientOptions {
        max_body_bytes: 1024 * 1024,
        ..ClientOptions::default()
    };
    let c = ScimClient::new(&origin, bearer("t"), opts).unwrap();
    let e = c
        .request(reqwest::Method::GET, "/big", None)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ClientError::Decode(m) if m.contains("larger")),
        "{e:?}"
    );
    let e = c
        .request(reqwest::Method::GET, "/bad", None)
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Decode(_)));
    let e = c.service_provider_config().await.unwrap_err();
    assert!(matches!(e, ClientError::Decode(_)));
}

fn scim_json_raw(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/scim+json")],
        body,
    )
        .into_response()
}

#[tokio::test]
async fn connection_refused_is_transport_and_bad_config_rejected() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let c = client(&format!("http://127.0.0.1:{port}/scim"), bearer("t"));
    let e = c.get_user("1").await.unwrap_err();
    assert!(matches!(e, ClientError::Transport(_)), "{e:?}");
    assert!(e.is_retryable());
    assert!(matches!(
        new_client("not a url"),
        Err(ClientError::Config(_))
    ));
    assert!(matches!(
        new_client("ftp://h/scim"),
        Err(ClientError::Config(_))
    ));
}

fn new_client(base: &str) -> Result<ScimClient, ClientError> {
    ScimClient::new(
        base,
        ClientAuth::Bearer("t".into()),
        ClientOptions::default(),
    )
}

#[tokio::test]
async fn patch_sends_patch_op_and_accepts_204_or_body() {
    let (origin, srv) = serve(|seen, _| {
        if seen.uri.path().ends_with("/g204") {
            now(StatusCode::NO_CONTENT.into_response())
        } else {
            now(scim_json(
                StatusCode::OK,
                json!({"schemas": [scim::SCHEMA_GROUP], "id": "g1", "displayName": "Eng"}),
            ))
        }
    })
    .await;
    let c = client(&origin, bearer("t"));
    let patch = scim::patch::PatchRequest::from_json(&json!({
        "schemas": [scim::SCHEMA_PATCH_OP],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": "u1"}]}],
    }))
    .unwrap();
    assert!(c.patch_group("g204", &patch).await.unwrap().is_none());
    let g = c.patch_group("g1", &patch).await.unwrap().expect("body");
    assert_eq!(g.id.as_deref(), Some("g1"));
    let seen = srv.log.lock().unwrap()[0].clone();
    assert_eq!(seen.method, Method::PATCH);
    let body: Value = serde_json::from_str(&seen.body).unwrap();
    assert_eq!(body["schemas"][0], scim::SCHEMA_PATCH_OP);
    assert_eq!(body["Operations"][0]["path"], "members");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let (origin, srv) = serve(|seen, _| {
        let r = match seen.uri.path() {
            "/Users/moved" => (
                StatusCode::TEMPORARY_REDIRECT,
                [(header::LOCATION, "/elsewhere/Users/moved")],
                "",
            )
                .into_response(),
            _ => scim_json(StatusCode::OK, user_json("moved", "should-not-be-read")),
        };
        now(r)
    })
    .await;
    let c = client(&origin, bearer("secret-token"));
    let e = c.get_user("moved").await.unwrap_err();
    assert_eq!(e.status(), Some(307), "{e:?}");
    assert!(!e.is_retryable());
    let log = srv.log.lock().unwrap();
    assert_eq!(log.len(), 1, "the redirect target was requested");
    assert_eq!(log[0].uri.path(), "/Users/moved");
}

/// A resolver hook that sends every name to `addr` (or refuses the names listed) and records the
/// names it was asked for.
struct TestResolver {
    addr: std::net::SocketAddr,
    refuse: Vec<&'static str>,
    asked: Mutex<Vec<String>>,
}

impl reqwest::dns::Resolve for TestResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let name = name.as_str().to_owned();
        self.asked.lock().unwrap().push(name.clone());
        let refused = self.refuse.contains(&name.as_str());
        let addr = self.addr;
        Box::pin(async move {
            if refused {
                return Err(Box::new(scim::client::AddressRefused(format!(
                    "{name} is not allowed"
                )))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(std::iter::once(addr)) as reqwest::dns::Addrs)
        })
    }
}

#[tokio::test]
async fn resolver_hook_serves_scim_and_token_requests_and_can_refuse() {
    let (origin, srv) = serve(|seen, _| {
        if seen.uri.path() == "/token" {
            return now(token_response("cc"));
        }
        now(scim_json(StatusCode::OK, user_json("1", "a")))
    })
    .await;
    let addr: std::net::SocketAddr = origin.trim_start_matches("http://").parse().unwrap();
    let resolver = Arc::new(TestResolver {
        addr,
        refuse: vec!["blocked.test"],
        asked: Mutex::new(Vec::new()),
    });
    let opts = || ClientOptions {
        resolver: Some(resolver.clone() as Arc<dyn reqwest::dns::Resolve>),
        ..ClientOptions::default()
    };
    // Both the token endpoint and the SCIM calls are resolved by the hook (the names do not exist
    // anywhere else).
    let port = addr.port();
    let c = ScimClient::new(
        &format!("http://scim.test:{port}/scim/v2"),
        ClientAuth::ClientCredentials {
            token_endpoint: format!("http://auth.test:{port}/token"),
            client_id: "id".into(),
            client_secret: "s".into(),
            method: TokenAuthMethod::ClientSecretPost,
            scope: None,
        },
        opts(),
    )
    .unwrap();
    assert_eq!(c.get_user("1").await.unwrap().user_name, "a");
    let asked = resolver.asked.lock().unwrap().clone();
    assert!(asked.contains(&"auth.test".to_owned()), "{asked:?}");
    assert!(asked.contains(&"scim.test".to_owned()), "{asked:?}");
    assert_eq!(
        c.endpoints()
            .iter()
            .map(|u| u.host_str().unwrap().to_owned())
            .collect::<Vec<_>>(),
        ["scim.test", "auth.test"]
    );
    let served = srv.log.lock().unwrap().len();
    assert_eq!(served, 2, "token + GET");

    // A refusal is its own error, not retryable, and nothing reaches the server.
    let c = ScimClient::new(
        &format!("http://blocked.test:{port}/scim/v2"),
        bearer("t"),
        opts(),
    )
    .unwrap();
    let e = c.get_user("1").await.unwrap_err();
    assert_eq!(
        e,
        ClientError::Refused("blocked.test is not allowed".into()),
        "{e:?}"
    );
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("blocked.test is not allowed"));
    // Refused at the token endpoint too.
    let c = ScimClient::new(
        &format!("http://scim.test:{port}/scim/v2"),
        ClientAuth::ClientCredentials {
            token_endpoint: format!("http://blocked.test:{port}/token"),
            client_id: "id".into(),
            client_secret: "s".into(),
            method: TokenAuthMethod::ClientSecretBasic,
            scope: None,
        },
        opts(),
    )
    .unwrap();
    let e = c.get_user("1").await.unwrap_err();
    assert!(matches!(e, ClientError::Refused(_)), "{e:?}");
    assert_eq!(
        srv.log.lock().unwrap().len(),
        served,
        "nothing reached the server"
    );
}
