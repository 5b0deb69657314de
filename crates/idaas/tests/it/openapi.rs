//! The OpenAPI document: every admin route the router serves is documented (and nothing else), and
//! the document is well-formed OpenAPI 3 (parses, every `$ref` resolves, path parameters match the
//! path templates, operation ids are unique, every operation has responses).

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use serde_json::Value;

use crate::support::{Backend, TestServer, send};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn document() -> Value {
    serde_json::to_value(idaas::http::openapi::document()).unwrap()
}

/// (lower-case method, path) of every operation in the document.
fn documented_operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths object") {
        for (method, _) in item.as_object().expect("path item object") {
            if METHODS.contains(&method.as_str()) {
                ops.insert((method.clone(), path.clone()));
            }
        }
    }
    ops
}

fn admin_routes() -> BTreeSet<(String, String)> {
    let routes = idaas::http::admin_routes();
    let set: BTreeSet<_> = routes
        .iter()
        .map(|(m, p)| (m.as_str().to_ascii_lowercase(), p.clone()))
        .collect();
    assert_eq!(set.len(), routes.len(), "a route is registered twice");
    set
}

#[test]
fn every_admin_route_is_documented_and_only_those() {
    let doc = document();
    let routes = admin_routes();
    // The list really covers every area (a sample of each).
    for (m, p) in [
        ("get", "/api/v1/instances"),
        ("delete", "/api/v1/api-tokens/{tid}"),
        ("post", "/api/v1/instances/{iid}/users:import"),
        ("get", "/api/v1/instances/{iid}/audit-events"),
        ("get", "/api/v1/instances/{iid}/marketplace/templates"),
        ("patch", "/api/v1/instances/{iid}/apps/{app_id}"),
        ("post", "/api/v1/instances/{iid}/apps/{app_id}/sso/enable"),
        ("post", "/api/v1/instances/{iid}/apps/{app_id}/sp-metadata"),
        (
            "delete",
            "/api/v1/instances/{iid}/apps/{app_id}/grants/{subject_type}/{subject_id}",
        ),
        ("put", "/api/v1/instances/{iid}/apps/{app_id}/accounts"),
        (
            "post",
            "/api/v1/instances/{iid}/signing-keys/{key_id}/activate",
        ),
    ] {
        assert!(
            routes.contains(&(m.to_owned(), p.to_owned())),
            "{m} {p} not in admin_routes()"
        );
    }
    let documented = documented_operations(&doc);
    let undocumented: Vec<_> = routes.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from /api/openapi.json: {undocumented:?}"
    );
    let phantom: Vec<_> = documented.difference(&routes).collect();
    assert!(
        phantom.is_empty(),
        "documented operations no admin route serves: {phantom:?}"
    );
}

/// A route added with a plain `Router::route` would escape `admin_routes()`: the HTTP modules
/// register every `/api/v1` route through `ApiRoutes`.
#[test]
fn no_admin_route_bypasses_the_route_list() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (at, _) in text.match_indices(".route(") {
            // The first argument: up to the first comma.
            let rest = &text[at + ".route(".len()..];
            let first = &rest[..rest.find(',').unwrap_or(rest.len())];
            assert!(
                !first.contains("/api/v1") && !first.contains("{base}"),
                "{}: `.route({first}` registers an admin route outside ApiRoutes",
                path.display()
            );
        }
        checked += 1;
    }
    assert!(
        checked >= 10,
        "read only {checked} files in {}",
        dir.display()
    );
}

/// Resolves a local `$ref` (`#/a/b/c`) in `doc`.
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    doc.pointer(pointer)
}

fn collect_refs(v: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if k == "$ref" {
                    out.push((
                        at.to_owned(),
                        child.as_str().unwrap_or("<not a string>").to_owned(),
                    ));
                } else {
                    collect_refs(child, &format!("{at}/{k}"), out);
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                collect_refs(child, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn template_params(path: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').expect("unclosed { in path") + open;
        out.insert(rest[open + 1..close].to_owned());
        rest = &rest[close + 1..];
    }
    out
}

#[test]
fn document_is_well_formed_openapi_3() {
    let doc = document();
    // It parses as an OpenAPI document (round trip through utoipa's model).
    let text = serde_json::to_string(&doc).unwrap();
    let _: utoipa::openapi::OpenApi = serde_json::from_str(&text).expect("parses as OpenAPI");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["info"]["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(
        doc["info"]["version"]
            .as_str()
            .is_some_and(|v| !v.is_empty())
    );

    // Every $ref is local and points at an existing component of the right kind.
    let mut refs = Vec::new();
    collect_refs(&doc, "#", &mut refs);
    assert!(refs.len() > 50, "suspiciously few $refs: {}", refs.len());
    for (at, r) in &refs {
        assert!(
            r.starts_with("#/components/"),
            "{at}: $ref {r} is not a local component"
        );
        let target = resolve(&doc, r);
        assert!(
            target.is_some_and(Value::is_object),
            "{at}: $ref {r} does not resolve"
        );
    }

    let security = doc["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    for req in doc["security"].as_array().expect("global security") {
        for name in req.as_object().unwrap().keys() {
            assert!(
                security.contains_key(name),
                "unknown security scheme {name}"
            );
        }
    }

    let mut operation_ids: BTreeMap<String, String> = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        assert!(path.starts_with('/'), "path {path} must start with /");
        let in_template = template_params(path);
        let path_level: Vec<Value> = item["parameters"].as_array().cloned().unwrap_or_default();
        for (method, op) in item.as_object().unwrap() {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            let here = format!("{method} {path}");
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{here}: no operationId"));
            if let Some(other) = operation_ids.insert(id.to_owned(), here.clone()) {
                panic!("operationId {id} of {here} is also used by {other}");
            }
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty())
                    || op["description"].as_str().is_some_and(|s| !s.is_empty()),
                "{here}: no summary"
            );

            // Parameters: unique (name, in); path ones required and exactly the template's.
            let params: Vec<Value> = path_level
                .iter()
                .chain(op["parameters"].as_array().into_iter().flatten())
                .map(|p| match p["$ref"].as_str() {
                    Some(r) => resolve(&doc, r).unwrap().clone(),
                    None => p.clone(),
                })
                .collect();
            let mut seen = BTreeSet::new();
            let mut in_path = BTreeSet::new();
            for p in &params {
                let name = p["name"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{here}: unnamed parameter"));
                let location = p["in"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{here}: {name} has no `in`"));
                assert!(
                    ["query", "header", "path", "cookie"].contains(&location),
                    "{here}: {name} in {location}"
                );
                assert!(
                    seen.insert((name.to_owned(), location.to_owned())),
                    "{here}: parameter {name} in {location} twice"
                );
                assert!(
                    p["schema"].is_object() || p["content"].is_object(),
                    "{here}: parameter {name} has no schema"
                );
                if location == "path" {
                    assert_eq!(
                        p["required"], true,
                        "{here}: path parameter {name} not required"
                    );
                    in_path.insert(name.to_owned());
                }
            }
            assert_eq!(in_path, in_template, "{here}: path parameters vs template");

            // Request body, if any, has content; responses exist, keyed by status code.
            if !op["requestBody"].is_null() {
                let content = op["requestBody"]["content"].as_object();
                assert!(
                    content.is_some_and(|c| !c.is_empty()),
                    "{here}: request body without content"
                );
            }
            let responses = op["responses"]
                .as_object()
                .unwrap_or_else(|| panic!("{here}: no responses"));
            assert!(!responses.is_empty(), "{here}: no responses");
            assert!(
                responses.keys().any(|k| k.starts_with('2')),
                "{here}: no success response"
            );
            for (code, r) in responses {
                assert!(
                    code == "default"
                        || (code.len() == 3
                            && code.bytes().all(|b| b.is_ascii_digit() || b == b'X')),
                    "{here}: response key {code}"
                );
                let r = match r["$ref"].as_str() {
                    Some(reference) => resolve(&doc, reference).unwrap(),
                    None => r,
                };
                assert!(
                    r["description"].is_string(),
                    "{here}: response {code} has no description"
                );
                if code.starts_with('4') {
                    assert_eq!(
                        r["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{here}: error {code} is not an ErrorBody"
                    );
                }
            }
        }
    }
    assert!(
        operation_ids.len() >= 60,
        "only {} operations",
        operation_ids.len()
    );
}

/// Each listed route is really served: without credentials every one answers 401 (not 404/405).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listed_route_is_served() {
    let Some(srv) = TestServer::start(Backend::Sqlite).await else {
        return;
    };
    let (status, served) = send(srv.client.get(srv.url("/api/openapi.json"))).await;
    assert_eq!(status, 200);
    assert_eq!(
        served,
        document(),
        "served document differs from document()"
    );
    for (method, path) in idaas::http::admin_routes() {
        let concrete: String = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "x_1" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        let method = Method::from_bytes(method.as_str().as_bytes()).unwrap();
        let resp = srv
            .client
            .request(method.clone(), srv.url(&concrete))
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            401,
            "{method} {concrete} (route {path}) without credentials"
        );
    }
    srv.stop().await;
}
