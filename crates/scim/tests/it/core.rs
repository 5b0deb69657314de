//! Schema validation, resources, list queries, projection and bulk parsing.

use scim::bulk::{
    BulkOperationResult, BulkRequest, BulkResponse, bulk_id_refs, resolve_bulk_ids,
    resolve_bulk_path,
};
use scim::filter::AttrPath;
use scim::list::{ListQuery, ListResponse, SortOrder};
use scim::projection::project;
use scim::resource::{EnterpriseUser, Group, Member, Meta, MultiValue, User};
use scim::schema::{
    ResourceSchema, SpConfig, ValidateMode, resource_types_json, schemas_json,
    service_provider_config_json, validate_resource,
};
use scim::{SCHEMA_ENTERPRISE_USER, SCHEMA_GROUP, SCHEMA_USER, ScimError, ScimType};
use serde_json::{Value, json};
use std::collections::HashMap;

fn user_body() -> Value {
    json!({
        "schemas": [SCHEMA_USER, SCHEMA_ENTERPRISE_USER],
        "userName": "alice",
        "externalId": "ext-1",
        "name": {"givenName": "Alice", "familyName": "Liddell"},
        "active": true,
        "emails": [{"value": "alice@example.com", "type": "work", "primary": true}],
        SCHEMA_ENTERPRISE_USER: {"department": "R&D", "manager": {"value": "m1"}},
    })
}

fn create(v: &Value) -> Result<Value, ScimError> {
    validate_resource(v, &ResourceSchema::user(), ValidateMode::Create)
}

fn assert_err(r: Result<Value, ScimError>, status: u16, t: ScimType, needle: &str) {
    let e = r.expect_err("expected an error");
    assert_eq!(e.status, status, "{e}");
    assert_eq!(e.scim_type, Some(t), "{e}");
    assert!(
        e.detail.contains(needle),
        "detail {:?} should mention {needle:?}",
        e.detail
    );
}

#[test]
fn valid_user_is_normalized() {
    let mut body = user_body();
    body["USERNAME"] = body["userName"].take();
    body.as_object_mut().unwrap().remove("userName");
    body["displayName"] = Value::Null;
    let out = create(&body).unwrap();
    assert_eq!(out["userName"], "alice");
    assert!(out.get("USERNAME").is_none());
    assert!(out.get("displayName").is_none(), "null means unassigned");
    assert_eq!(out[SCHEMA_ENTERPRISE_USER]["department"], "R&D");
    assert_eq!(out["schemas"], json!([SCHEMA_USER, SCHEMA_ENTERPRISE_USER]));
    let user = User::from_value(&out).unwrap();
    assert_eq!(user.primary_email(), Some("alice@example.com"));
    assert_eq!(
        user.enterprise.unwrap().manager.unwrap().value.as_deref(),
        Some("m1")
    );
}

#[test]
fn non_object_and_bad_schemas_are_invalid_syntax() {
    assert_err(
        create(&json!([1, 2])),
        400,
        ScimType::InvalidSyntax,
        "object",
    );
    assert_err(create(&json!("x")), 400, ScimType::InvalidSyntax, "object");
    assert_err(
        create(&json!({"userName": "a"})),
        400,
        ScimType::InvalidSyntax,
        "schemas",
    );
    assert_err(
        create(&json!({"schemas": SCHEMA_USER, "userName": "a"})),
        400,
        ScimType::InvalidSyntax,
        "schemas",
    );
    assert_err(
        create(&json!({"schemas": [SCHEMA_GROUP], "userName": "a"})),
        400,
        ScimType::InvalidSyntax,
        "",
    );
    assert_err(
        create(&json!({"schemas": [SCHEMA_USER, 7], "userName": "a"})),
        400,
        ScimType::InvalidSyntax,
        "schemas",
    );
    assert_err(
        create(&json!({"schemas": [SCHEMA_USER, "urn:example:nope"], "userName": "a"})),
        400,
        ScimType::InvalidSyntax,
        "urn:example:nope",
    );
    // Extension attributes present but the extension URN is not listed.
    assert_err(
        create(
            &json!({"schemas": [SCHEMA_USER], "userName": "a", SCHEMA_ENTERPRISE_USER: {"department": "x"}}),
        ),
        400,
        ScimType::InvalidSyntax,
        SCHEMA_ENTERPRISE_USER,
    );
}

#[test]
fn unknown_attributes_are_named() {
    let mut b = user_body();
    b["password"] = json!("secret");
    assert_err(create(&b), 400, ScimType::InvalidSyntax, "password");
    let mut b = user_body();
    b["name"]["nickname"] = json!("x");
    assert_err(create(&b), 400, ScimType::InvalidSyntax, "name.nickname");
    let mut b = user_body();
    b["emails"][0]["label"] = json!("x");
    assert_err(create(&b), 400, ScimType::InvalidSyntax, "emails.label");
    let mut b = user_body();
    b[SCHEMA_ENTERPRISE_USER]["badge"] = json!("x");
    assert_err(create(&b), 400, ScimType::InvalidSyntax, "badge");
    let mut b = user_body();
    b["UserName"] = json!("dup");
    assert_err(create(&b), 400, ScimType::InvalidSyntax, "more than once");
}

#[test]
fn wrong_types_are_invalid_value() {
    let cases = [
        ("active", json!("true"), "active"),
        ("userName", json!(42), "userName"),
        ("name", json!("Alice"), "name"),
        ("emails", json!({"value": "a@b"}), "emails"),
        ("emails", json!(["a@b"]), "emails"),
        ("externalId", json!(["x"]), "externalId"),
    ];
    for (attr, val, needle) in cases {
        let mut b = user_body();
        b[attr] = val;
        assert_err(create(&b), 400, ScimType::InvalidValue, needle);
    }
    let mut b = user_body();
    b["emails"][0]["primary"] = json!("yes");
    assert_err(create(&b), 400, ScimType::InvalidValue, "emails.primary");
    let mut b = user_body();
    b[SCHEMA_ENTERPRISE_USER] = json!("R&D");
    assert_err(create(&b), 400, ScimType::InvalidSyntax, "extension");
    let mut b = user_body();
    b["emails"] = json!([{"value": "a@x", "primary": true}, {"value": "b@x", "primary": true}]);
    assert_err(create(&b), 400, ScimType::InvalidValue, "primary");
}

#[test]
fn missing_required_is_invalid_value() {
    let mut b = user_body();
    b.as_object_mut().unwrap().remove("userName");
    assert_err(create(&b), 400, ScimType::InvalidValue, "userName");
    let mut b = user_body();
    b["userName"] = Value::Null;
    assert_err(create(&b), 400, ScimType::InvalidValue, "userName");
    let mut b = user_body();
    b["userName"] = json!("");
    assert_err(create(&b), 400, ScimType::InvalidValue, "userName");
    let g = json!({"schemas": [SCHEMA_GROUP], "members": []});
    assert_err(
        validate_resource(&g, &ResourceSchema::group(), ValidateMode::Create),
        400,
        ScimType::InvalidValue,
        "displayName",
    );
}

#[test]
fn read_only_input_is_dropped() {
    let mut b = user_body();
    b["id"] = json!("client-chosen");
    b["meta"] = json!({"created": "garbage"});
    b["groups"] = json!([{"value": "g1"}]);
    b[SCHEMA_ENTERPRISE_USER]["manager"]["displayName"] = json!("Boss");
    let out = create(&b).unwrap();
    assert!(out.get("id").is_none());
    assert!(out.get("meta").is_none());
    assert!(out.get("groups").is_none());
    assert!(
        out[SCHEMA_ENTERPRISE_USER]["manager"]
            .get("displayName")
            .is_none()
    );
    // PATCH results keep them (PATCH itself refuses to target them).
    let existing = create(&user_body()).unwrap();
    let out = validate_resource(
        &b,
        &ResourceSchema::user(),
        ValidateMode::PatchResult {
            existing: &existing,
        },
    )
    .unwrap();
    assert_eq!(out["id"], "client-chosen");
}

#[test]
fn group_member_value_is_validated_and_display_dropped() {
    let rs = ResourceSchema::group();
    let g = json!({"schemas": [SCHEMA_GROUP], "displayName": "Eng",
        "members": [{"value": "u1", "display": "Alice", "type": "User"}]});
    let out = validate_resource(&g, &rs, ValidateMode::Create).unwrap();
    assert_eq!(out["members"], json!([{"value": "u1", "type": "User"}]));
    let bad = json!({"schemas": [SCHEMA_GROUP], "displayName": "Eng", "members": [{"value": 5}]});
    assert_err(
        validate_resource(&bad, &rs, ValidateMode::Create),
        400,
        ScimType::InvalidValue,
        "members.value",
    );
    let bad = json!({"schemas": [SCHEMA_GROUP], "displayName": "Eng", "members": ["u1"]});
    assert_err(
        validate_resource(&bad, &rs, ValidateMode::Create),
        400,
        ScimType::InvalidValue,
        "members",
    );
}

#[test]
fn immutable_change_is_mutability_error() {
    // No immutable single-valued attribute exists in our schemas, so build one on the fly.
    use scim::schema::{AttrType, AttributeDef, Mutability, SchemaDef};
    let core: &'static SchemaDef = Box::leak(Box::new(SchemaDef {
        id: "urn:example:Thing",
        name: "Thing",
        description: "",
        attributes: vec![
            AttributeDef::new("serial", AttrType::String)
                .case_exact()
                .mutability(Mutability::Immutable),
            AttributeDef::new("label", AttrType::String),
        ],
    }));
    let rs = ResourceSchema {
        name: "Thing",
        endpoint: "/Things",
        core,
        extensions: vec![],
    };
    let existing = json!({"schemas": ["urn:example:Thing"], "serial": "A1", "label": "x"});
    let same = json!({"schemas": ["urn:example:Thing"], "serial": "A1", "label": "y"});
    assert!(
        validate_resource(
            &same,
            &rs,
            ValidateMode::Replace {
                existing: &existing
            }
        )
        .is_ok()
    );
    let changed = json!({"schemas": ["urn:example:Thing"], "serial": "B2"});
    assert_err(
        validate_resource(
            &changed,
            &rs,
            ValidateMode::Replace {
                existing: &existing,
            },
        ),
        400,
        ScimType::Mutability,
        "serial",
    );
    let removed = json!({"schemas": ["urn:example:Thing"], "label": "y"});
    assert_err(
        validate_resource(
            &removed,
            &rs,
            ValidateMode::Replace {
                existing: &existing,
            },
        ),
        400,
        ScimType::Mutability,
        "serial",
    );
    // Set once when unset before.
    let unset = json!({"schemas": ["urn:example:Thing"], "label": "x"});
    assert!(validate_resource(&changed, &rs, ValidateMode::Replace { existing: &unset }).is_ok());
    assert!(validate_resource(&changed, &rs, ValidateMode::Create).is_ok());
}

#[test]
fn typed_resources_round_trip() {
    let mut u = User::new("bob");
    u.emails.push(MultiValue {
        value: Some("b@x".into()),
        primary: None,
        ..Default::default()
    });
    u.enterprise = Some(EnterpriseUser {
        department: Some("Ops".into()),
        ..Default::default()
    });
    let v = u.to_value();
    assert_eq!(v["schemas"], json!([SCHEMA_USER, SCHEMA_ENTERPRISE_USER]));
    assert!(v.get("groups").is_none());
    let back = validate_resource(&v, &ResourceSchema::user(), ValidateMode::Create).unwrap();
    assert_eq!(User::from_value(&back).unwrap().enterprise, u.enterprise);
    let mut g = Group::new("Eng");
    g.members.push(Member::user("u1"));
    let gv = g.to_value();
    assert_eq!(gv["members"][0]["type"], "User");
    assert_eq!(Group::from_value(&gv).unwrap().members, g.members);
    // Bad shapes are 400 invalidValue.
    assert_eq!(
        User::from_value(&json!({"userName": 3}))
            .unwrap_err()
            .scim_type,
        Some(ScimType::InvalidValue)
    );
    assert!(Group::from_value(&json!({"members": []})).is_err());
    let t = time::macros::datetime!(2024-05-01 10:00:00 UTC);
    let m = Meta::new("User", t, t, "https://x/Users/1", "3");
    assert_eq!(m.version.as_deref(), Some("W/\"3\""));
    assert_eq!(m.created.as_deref(), Some("2024-05-01T10:00:00Z"));
}

#[test]
fn discovery_documents() {
    let s = schemas_json("https://h/scim/v2/");
    assert_eq!(s["totalResults"], 3);
    let user = &s["Resources"][0];
    assert_eq!(
        user["meta"]["location"],
        format!("https://h/scim/v2/Schemas/{SCHEMA_USER}")
    );
    let names: Vec<&str> = user["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    for forbidden in [
        "password",
        "ims",
        "photos",
        "addresses",
        "entitlements",
        "roles",
        "x509Certificates",
    ] {
        assert!(
            !names.contains(&forbidden),
            "{forbidden} must not be declared"
        );
    }
    assert!(names.contains(&"userName") && names.contains(&"phoneNumbers"));
    let rt = resource_types_json("https://h/scim/v2");
    assert_eq!(
        rt["Resources"][0]["schemaExtensions"][0]["schema"],
        SCHEMA_ENTERPRISE_USER
    );
    assert_eq!(rt["Resources"][1]["endpoint"], "/Groups");
    let sp = service_provider_config_json(&SpConfig {
        bulk: Some((100, 1 << 20)),
        ..SpConfig::default()
    });
    assert_eq!(sp["bulk"]["maxOperations"], 100);
    assert_eq!(sp["authenticationSchemes"][0]["type"], "oauthbearertoken");
}

fn q(pairs: &[(&str, &str)]) -> Result<ListQuery, ScimError> {
    ListQuery::from_pairs(pairs.iter().copied())
}

#[test]
fn list_query_parsing() {
    let lq = q(&[
        ("FILTER", "userName eq \"a\""),
        ("startindex", "0"),
        ("count", "-5"),
        ("sortBy", "name.familyName"),
        ("sortOrder", "Descending"),
        ("attributes", "userName, emails.value"),
        ("unrelated", "x"),
    ])
    .unwrap();
    assert!(lq.filter.is_some());
    assert_eq!(lq.start_index, 1);
    assert_eq!(lq.count, Some(0));
    assert_eq!(lq.sort_by.unwrap().sub.as_deref(), Some("familyName"));
    assert_eq!(lq.sort_order, SortOrder::Descending);
    assert_eq!(lq.attributes.len(), 2);
    let d = q(&[]).unwrap();
    assert_eq!(
        (d.start_index, d.count, d.offset(), d.limit(50)),
        (1, None, 0, 50)
    );
}

#[test]
fn list_query_rejects_bad_params() {
    let e = q(&[("filter", "userName eq")]).unwrap_err();
    assert_eq!(
        (e.status, e.scim_type),
        (400, Some(ScimType::InvalidFilter))
    );
    for bad in [
        [("startIndex", "abc")],
        [("count", "1.5")],
        [("count", "99999999999999999999999")],
        [("sortOrder", "up")],
        [("attributes", "emails..value")],
    ] {
        let e = q(&bad).unwrap_err();
        assert_eq!(
            (e.status, e.scim_type),
            (400, Some(ScimType::InvalidValue)),
            "{bad:?}: {e}"
        );
    }
    let e = q(&[("count", "1"), ("Count", "2")]).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
}

#[test]
fn search_request_body() {
    let lq = ListQuery::from_search_request(&json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": "displayName sw \"E\"", "startIndex": 3, "count": 10, "attributes": ["displayName"],
    }))
    .unwrap();
    assert_eq!(
        (lq.start_index, lq.count, lq.attributes.len()),
        (3, Some(10), 1)
    );
    assert!(ListQuery::from_search_request(&json!({"filter": "x eq 1"})).is_err());
    let e = ListQuery::from_search_request(&json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "attributes": [1]}))
    .unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
}

#[test]
fn list_response_round_trip_and_rejects() {
    let lr = ListResponse::new(vec![json!({"id": "1"})], 10, 1);
    assert_eq!(ListResponse::from_json(&lr.to_json()).unwrap(), lr);
    let minimal = ListResponse::from_json(&json!({"totalResults": 0})).unwrap();
    assert!(minimal.resources.is_empty());
    for bad in [
        json!([]),
        json!({"Resources": []}),
        json!({"totalResults": -1}),
        json!({"totalResults": "3"}),
        json!({"totalResults": 1, "Resources": {"id": 1}}),
        json!({"totalResults": 1, "Resources": [1]}),
        json!({"schemas": ["urn:wrong"], "totalResults": 0}),
    ] {
        assert!(ListResponse::from_json(&bad).is_err(), "{bad}");
    }
}

fn stored_user() -> Value {
    json!({
        "schemas": [SCHEMA_USER, SCHEMA_ENTERPRISE_USER],
        "id": "u1",
        "userName": "alice",
        "name": {"givenName": "Alice", "familyName": "Liddell"},
        "displayName": "Alice L",
        "emails": [{"value": "a@x", "type": "work"}, {"value": "b@x", "type": "home"}],
        "meta": {"resourceType": "User", "lastModified": "2024-01-01T00:00:00Z"},
        SCHEMA_ENTERPRISE_USER: {"department": "R&D", "costCenter": "42"},
    })
}

fn paths(list: &[&str]) -> Vec<AttrPath> {
    list.iter().map(|p| AttrPath::parse(p).unwrap()).collect()
}

fn projected(attrs: &[&str], excluded: &[&str]) -> Value {
    let mut v = stored_user();
    project(
        &mut v,
        &ResourceSchema::user(),
        &paths(attrs),
        &paths(excluded),
    );
    v
}

#[test]
fn projection_attributes() {
    let v = projected(&["userName"], &[]);
    assert_eq!(
        v,
        json!({"schemas": [SCHEMA_USER, SCHEMA_ENTERPRISE_USER], "id": "u1", "userName": "alice"})
    );
    let v = projected(&["name.familyName", "emails.value"], &[]);
    assert_eq!(v["name"], json!({"familyName": "Liddell"}));
    assert_eq!(v["emails"], json!([{"value": "a@x"}, {"value": "b@x"}]));
    assert!(v.get("userName").is_none() && v.get(SCHEMA_ENTERPRISE_USER).is_none());
    let v = projected(&[&format!("{SCHEMA_ENTERPRISE_USER}:department")], &[]);
    assert_eq!(v[SCHEMA_ENTERPRISE_USER], json!({"department": "R&D"}));
    let v = projected(&[SCHEMA_ENTERPRISE_USER], &[]);
    assert_eq!(v[SCHEMA_ENTERPRISE_USER]["costCenter"], "42");
    let v = projected(&["meta.lastModified", "USERNAME"], &[]);
    assert_eq!(v["meta"], json!({"lastModified": "2024-01-01T00:00:00Z"}));
    assert_eq!(v["userName"], "alice");
    // Unknown attribute names leave only the always-returned ones.
    let v = projected(&["nonexistent"], &[]);
    assert_eq!(
        v,
        json!({"schemas": [SCHEMA_USER, SCHEMA_ENTERPRISE_USER], "id": "u1"})
    );
}

#[test]
fn projection_excluded_attributes() {
    let v = projected(
        &[],
        &[
            "emails",
            "id",
            "name.givenName",
            &format!("{SCHEMA_ENTERPRISE_USER}:costCenter"),
        ],
    );
    assert!(v.get("emails").is_none());
    assert_eq!(v["id"], "u1", "returned:always is never excluded");
    assert_eq!(v["name"], json!({"familyName": "Liddell"}));
    assert_eq!(v[SCHEMA_ENTERPRISE_USER], json!({"department": "R&D"}));
    let v = projected(&[], &[SCHEMA_ENTERPRISE_USER]);
    assert!(v.get(SCHEMA_ENTERPRISE_USER).is_none());
    let v = projected(&[], &[]);
    assert_eq!(v, stored_user());
}

#[test]
fn projection_honours_returned_never_and_request() {
    use scim::schema::{AttrType, AttributeDef, Returned, SchemaDef};
    let core: &'static SchemaDef = Box::leak(Box::new(SchemaDef {
        id: "urn:example:Acct",
        name: "Acct",
        description: "",
        attributes: vec![
            AttributeDef::new("login", AttrType::String).returned(Returned::Always),
            AttributeDef::new("secret", AttrType::String).returned(Returned::Never),
            AttributeDef::new("audit", AttrType::String).returned(Returned::Request),
            AttributeDef::new("label", AttrType::String),
        ],
    }));
    let rs = ResourceSchema {
        name: "Acct",
        endpoint: "/Accts",
        core,
        extensions: vec![],
    };
    let base = json!({"schemas": ["urn:example:Acct"], "id": "1", "login": "l", "secret": "s", "audit": "a", "label": "x"});
    let mut v = base.clone();
    project(&mut v, &rs, &[], &[]);
    assert_eq!(
        v,
        json!({"schemas": ["urn:example:Acct"], "id": "1", "login": "l", "label": "x"})
    );
    let mut v = base.clone();
    project(&mut v, &rs, &paths(&["audit", "secret"]), &[]);
    assert_eq!(
        v,
        json!({"schemas": ["urn:example:Acct"], "id": "1", "login": "l", "audit": "a"})
    );
    let mut v = base;
    project(&mut v, &rs, &[], &paths(&["login", "label"]));
    assert_eq!(
        v,
        json!({"schemas": ["urn:example:Acct"], "id": "1", "login": "l"})
    );
}

fn bulk(ops: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "failOnErrors": 1, "Operations": ops})
}

#[test]
fn bulk_request_parses() {
    let req = BulkRequest::from_json(&bulk(json!([
        {"method": "post", "path": "/Users", "bulkId": "u1", "data": {"userName": "a"}},
        {"method": "PATCH", "path": "/Groups/g1", "version": "W/\"1\"", "data": {"Operations": []}},
        {"method": "DELETE", "path": "/Users/bulkId:u1"},
    ])))
    .unwrap();
    assert_eq!(req.fail_on_errors, Some(1));
    assert_eq!(req.operations[0].method, "POST");
    assert_eq!(req.operations[1].target(), ("/Groups", Some("g1")));
    assert_eq!(req.operations[0].target(), ("/Users", None));
    assert_eq!(BulkRequest::from_json(&req.to_json()).unwrap(), req);
}

#[test]
fn bulk_request_rejects_bad_shapes() {
    let post = json!({"method": "POST", "path": "/Users", "bulkId": "a", "data": {}});
    let cases: Vec<(Value, ScimType)> = vec![
        (json!([]), ScimType::InvalidSyntax),
        (
            json!({"Operations": [post.clone()]}),
            ScimType::InvalidSyntax,
        ),
        (bulk(json!([])), ScimType::InvalidValue),
        (bulk(json!({"a": 1})), ScimType::InvalidSyntax),
        (bulk(json!([1])), ScimType::InvalidSyntax),
        (
            bulk(json!([{"path": "/Users", "bulkId": "a", "data": {}}])),
            ScimType::InvalidSyntax,
        ),
        (
            bulk(json!([{"method": "GET", "path": "/Users"}])),
            ScimType::InvalidValue,
        ),
        (
            bulk(json!([{"method": "POST", "path": "/Users", "data": {}}])),
            ScimType::InvalidValue,
        ),
        (
            bulk(json!([{"method": "POST", "path": "/Users/x", "bulkId": "a", "data": {}}])),
            ScimType::InvalidValue,
        ),
        (
            bulk(json!([{"method": "PUT", "path": "/Users", "data": {}}])),
            ScimType::InvalidValue,
        ),
        (
            bulk(json!([{"method": "PUT", "path": "/Users/1"}])),
            ScimType::InvalidValue,
        ),
        (
            bulk(json!([{"method": "PUT", "path": "/Users/1", "data": [1]}])),
            ScimType::InvalidSyntax,
        ),
        (
            bulk(json!([{"method": "DELETE", "path": "Users/1"}])),
            ScimType::InvalidValue,
        ),
        (bulk(json!([{"method": "DELETE"}])), ScimType::InvalidSyntax),
        (
            bulk(json!([{"method": 1, "path": "/Users/1"}])),
            ScimType::InvalidSyntax,
        ),
        (
            bulk(json!([post.clone(), post.clone()])),
            ScimType::InvalidValue,
        ),
    ];
    for (v, t) in cases {
        let e = BulkRequest::from_json(&v).unwrap_err();
        assert_eq!((e.status, e.scim_type), (400, Some(t)), "{v}: {e}");
    }
    let mut fail_zero = bulk(json!([post.clone()]));
    fail_zero["failOnErrors"] = json!(0);
    assert_eq!(
        BulkRequest::from_json(&fail_zero).unwrap_err().scim_type,
        Some(ScimType::InvalidValue)
    );
    let e = BulkRequest::from_json_limited(
        &bulk(json!([post.clone(), {"method": "DELETE", "path": "/Users/1"}])),
        1,
    )
    .unwrap_err();
    assert_eq!(e.status, 413);
}

#[test]
fn bulk_ids_resolve_or_conflict() {
    let ids: HashMap<String, String> = [("u1".to_string(), "real-1".to_string())].into();
    let mut v =
        json!({"members": [{"value": "bulkId:u1"}, {"value": "other"}], "note": "bulkId:u1"});
    assert_eq!(bulk_id_refs(&v), vec!["u1".to_string()]);
    resolve_bulk_ids(&mut v, &ids).unwrap();
    assert_eq!(v["members"][0]["value"], "real-1");
    assert_eq!(v["note"], "real-1");
    let mut bad = json!({"members": [{"value": "bulkId:u1"}, {"value": "bulkId:nope"}]});
    let before = bad.clone();
    let e = resolve_bulk_ids(&mut bad, &ids).unwrap_err();
    assert_eq!((e.status, e.scim_type), (409, Some(ScimType::InvalidValue)));
    assert!(e.detail.contains("nope"));
    assert_eq!(bad, before, "unchanged on error");
    assert_eq!(
        resolve_bulk_path("/Users/bulkId:u1", &ids).unwrap(),
        "/Users/real-1"
    );
    assert_eq!(resolve_bulk_path("/Users/abc", &ids).unwrap(), "/Users/abc");
    assert_eq!(
        resolve_bulk_path("/Users/bulkId:zz", &ids)
            .unwrap_err()
            .status,
        409
    );
}

#[test]
fn bulk_response_round_trip() {
    let resp = BulkResponse {
        operations: vec![BulkOperationResult::error(
            "POST",
            Some("a".into()),
            &ScimError::conflict(ScimType::Uniqueness, "taken"),
        )],
    };
    let v = resp.to_json();
    assert_eq!(v["Operations"][0]["status"], "409");
    assert_eq!(BulkResponse::from_json(&v).unwrap(), resp);
    assert!(BulkResponse::from_json(&json!({"Operations": [{"method": "POST"}]})).is_err());
}
