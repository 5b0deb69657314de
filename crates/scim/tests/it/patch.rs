//! PATCH requests and their application (RFC 7644 §3.5.2), including the RFC's own examples.

use scim::ScimType;
use scim::patch::{MAX_PATCH_OPERATIONS, PatchOpKind, PatchRequest, apply_patch};
use scim::path::PatchPath;
use scim::schema::ResourceSchema;
use serde_json::{Value, json};

const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const U1: &str = "2819c223-7f76-453a-919d-413861904646";
const U2: &str = "902c246b-6245-4190-8e05-00816be7344a";
const U3: &str = "c3a26dd3-27a0-4dec-a2ac-ce211e105f97";

fn body(ops: Value) -> Value {
    json!({ "schemas": [PATCH], "Operations": ops })
}

/// Parses and applies; returns the result or the error (the input must be unchanged on error).
fn run(resource: &Value, ops: Value, rs: &ResourceSchema) -> Result<Value, scim::ScimError> {
    let req = PatchRequest::from_json(&body(ops))?;
    let mut r = resource.clone();
    let res = apply_patch(&mut r, &req.operations, rs);
    match res {
        Ok(()) => Ok(r),
        Err(e) => {
            assert_eq!(
                &r, resource,
                "a failed PATCH must leave the resource unchanged ({})",
                e.detail
            );
            Err(e)
        }
    }
}

fn ok(resource: &Value, ops: Value, rs: &ResourceSchema) -> Value {
    run(resource, ops, rs)
        .unwrap_or_else(|e| panic!("PATCH failed: {:?} {}", e.scim_type, e.detail))
}

fn err(resource: &Value, ops: Value, rs: &ResourceSchema) -> (u16, Option<ScimType>) {
    let e = run(resource, ops, rs).expect_err("PATCH should fail");
    assert!(!e.detail.is_empty());
    (e.status, e.scim_type)
}

fn group() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
        "displayName": "Tour Guides",
        "members": [
            {"value": U1, "display": "Babs Jensen", "type": "User"},
            {"value": U2, "display": "Mandy Pepperidge", "type": "User"}
        ],
        "meta": {"resourceType": "Group", "created": "2010-01-23T04:56:22Z", "lastModified": "2011-05-13T04:42:34Z",
                 "version": "W/\"3694e05e9dff592\""}
    })
}

fn user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": U1,
        "userName": "bjensen",
        "name": {"familyName": "Jensen", "givenName": "Barbara"},
        "active": true,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "meta": {"resourceType": "User", "created": "2010-01-23T04:56:22Z", "lastModified": "2011-05-13T04:42:34Z"}
    })
}

fn member_values(g: &Value) -> Vec<&str> {
    g["members"]
        .as_array()
        .map(|a| a.iter().map(|m| m["value"].as_str().unwrap()).collect())
        .unwrap_or_default()
}

// --- RFC 7644 §3.5.2 examples ----------------------------------------------------------------------

#[test]
fn rfc_add_member() {
    let rs = ResourceSchema::group();
    let g = ok(
        &group(),
        json!([{"op": "add", "path": "members", "value": [
            {"display": "Babs Jensen", "$ref": format!("https://example.com/v2/Users/{U3}"), "value": U3}
        ]}]),
        &rs,
    );
    assert_eq!(member_values(&g), vec![U1, U2, U3]);
    // display is readOnly: ignored on input
    assert_eq!(
        g["members"][2],
        json!({"$ref": format!("https://example.com/v2/Users/{U3}"), "value": U3})
    );
    // adding an existing member again does not duplicate it
    let g2 = ok(
        &g,
        json!([{"op": "add", "path": "members", "value": [{"value": U1}]}]),
        &rs,
    );
    assert_eq!(member_values(&g2), vec![U1, U2, U3]);
}

#[test]
fn rfc_add_without_path() {
    let rs = ResourceSchema::user();
    let u = ok(
        &user(),
        json!([{"op": "add", "value": {
            "emails": [{"value": "babs@example.org", "type": "other"}],
            "nickname": "Babs"
        }}]),
        &rs,
    );
    assert_eq!(u["nickName"], "Babs", "canonical attribute name");
    assert!(u.get("nickname").is_none());
    assert_eq!(u["emails"].as_array().unwrap().len(), 3);
    assert_eq!(
        u["emails"][2],
        json!({"value": "babs@example.org", "type": "other"})
    );
}

#[test]
fn rfc_remove_one_member_by_filter() {
    let rs = ResourceSchema::group();
    let g = ok(
        &group(),
        json!([{"op": "remove", "path": format!("members[value eq \"{U1}\"]")}]),
        &rs,
    );
    assert_eq!(member_values(&g), vec![U2]);
    // Operator and attribute names are case-insensitive.
    let g = ok(
        &group(),
        json!([{"op": "Remove", "path": format!("MEMBERS[VALUE EQ \"{U2}\"]")}]),
        &rs,
    );
    assert_eq!(member_values(&g), vec![U1]);
}

#[test]
fn rfc_remove_all_members() {
    let rs = ResourceSchema::group();
    let g = ok(&group(), json!([{"op": "remove", "path": "members"}]), &rs);
    assert!(g.get("members").is_none());
    assert_eq!(g["displayName"], "Tour Guides");
}

#[test]
fn rfc_remove_several_members_and_add_in_one_request() {
    let rs = ResourceSchema::group();
    let g = ok(
        &group(),
        json!([
            {"op": "remove", "path": format!("members[value eq \"{U1}\" or value eq \"{U2}\"]")},
            {"op": "add", "path": "members", "value": [{"value": U3, "type": "User"}]}
        ]),
        &rs,
    );
    assert_eq!(member_values(&g), vec![U3]);
}

#[test]
fn rfc_replace_all_members() {
    let rs = ResourceSchema::group();
    let g = ok(
        &group(),
        json!([{"op": "replace", "path": "members", "value": [{"value": U3}, {"value": U1}]}]),
        &rs,
    );
    assert_eq!(member_values(&g), vec![U3, U1]);
}

#[test]
fn rfc_replace_value_filtered_sub_attribute() {
    let rs = ResourceSchema::user();
    let u = ok(
        &user(),
        json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "barbara@example.com"}]),
        &rs,
    );
    assert_eq!(
        u["emails"][0],
        json!({"value": "barbara@example.com", "type": "work", "primary": true})
    );
    assert_eq!(u["emails"][1]["value"], "babs@jensen.org");
}

#[test]
fn rfc_replace_value_filtered_element() {
    let rs = ResourceSchema::user();
    let u = ok(
        &user(),
        json!([{"op": "replace", "path": "emails[type eq \"home\"]", "value": {"type": "home", "value": "b@home.example"}}]),
        &rs,
    );
    assert_eq!(
        u["emails"][1],
        json!({"type": "home", "value": "b@home.example"})
    );
    assert_eq!(u["emails"].as_array().unwrap().len(), 2);
}

#[test]
fn rfc_replace_without_path() {
    let rs = ResourceSchema::user();
    let u = ok(
        &user(),
        json!([{"op": "replace", "value": {
            "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}],
            "nickname": "Babs"
        }}]),
        &rs,
    );
    assert_eq!(u["emails"].as_array().unwrap().len(), 1);
    assert_eq!(u["nickName"], "Babs");
}

#[test]
fn replace_complex_single_keeps_unspecified_sub_attributes() {
    let rs = ResourceSchema::user();
    let u = ok(
        &user(),
        json!([{"op": "replace", "path": "name", "value": {"givenName": "Babs"}}]),
        &rs,
    );
    assert_eq!(
        u["name"],
        json!({"familyName": "Jensen", "givenName": "Babs"})
    );
    let u = ok(
        &user(),
        json!([{"op": "replace", "path": "name.familyName", "value": "Smith"}]),
        &rs,
    );
    assert_eq!(u["name"]["familyName"], "Smith");
    let u = ok(
        &user(),
        json!([{"op": "remove", "path": "name.givenName"}]),
        &rs,
    );
    assert_eq!(u["name"], json!({"familyName": "Jensen"}));
}

#[test]
fn enterprise_manager_by_urn_path_and_by_extension_object() {
    let rs = ResourceSchema::user();
    let u = ok(
        &user(),
        json!([{"op": "add", "path": format!("{ENT}:manager"), "value": {"value": U2}}]),
        &rs,
    );
    assert_eq!(u[ENT]["manager"]["value"], U2);
    assert!(
        u["schemas"].as_array().unwrap().contains(&json!(ENT)),
        "extension URN added to schemas"
    );

    let u2 = ok(
        &user(),
        json!([{"op": "add", "value": {ENT: {"manager": {"value": U2}, "employeeNumber": "701984"}}}]),
        &rs,
    );
    assert_eq!(u2[ENT]["manager"]["value"], U2);
    assert_eq!(u2[ENT]["employeeNumber"], "701984");

    let u3 = ok(
        &u2,
        json!([{"op": "replace", "path": format!("{ENT}:manager.value"), "value": U3}]),
        &rs,
    );
    assert_eq!(u3[ENT]["manager"]["value"], U3);

    // Azure-style path-less replace with URN-qualified keys.
    let u4 = ok(
        &u2,
        json!([{"op": "Replace", "value": {format!("{ENT}:department"): "Tour Operations"}}]),
        &rs,
    );
    assert_eq!(u4[ENT]["department"], "Tour Operations");

    // removing the last extension attribute removes the extension and its schemas entry
    let u5 = ok(
        &u,
        json!([{"op": "remove", "path": format!("{ENT}:manager")}]),
        &rs,
    );
    assert!(u5.get(ENT).is_none());
    assert!(!u5["schemas"].as_array().unwrap().contains(&json!(ENT)));
    // Azure AD sends the manager id as a bare string.
    let u7 = ok(
        &user(),
        json!([{"op": "Replace", "path": format!("{ENT}:manager"), "value": U3}]),
        &rs,
    );
    assert_eq!(u7[ENT]["manager"], json!({"value": U3}));
    let u6 = ok(&u2, json!([{"op": "remove", "path": ENT}]), &rs);
    assert!(u6.get(ENT).is_none());
}

#[test]
fn primary_is_unique() {
    let rs = ResourceSchema::user();
    let u = ok(
        &user(),
        json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": true}]),
        &rs,
    );
    assert_eq!(u["emails"][0]["primary"], false);
    assert_eq!(u["emails"][1]["primary"], true);
    let u = ok(
        &user(),
        json!([{"op": "add", "path": "emails", "value": {"value": "n@x.example", "type": "other", "primary": true}}]),
        &rs,
    );
    assert_eq!(u["emails"][0]["primary"], false);
    assert_eq!(u["emails"][2]["primary"], true);
    let e = err(
        &user(),
        json!([{"op": "replace", "path": "emails", "value": [{"value": "a@x", "primary": true}, {"value": "b@x", "primary": true}]}]),
        &rs,
    );
    assert_eq!(e, (400, Some(ScimType::InvalidValue)));
}

#[test]
fn azure_quirks() {
    let rs = ResourceSchema::user();
    let u = ok(
        &user(),
        json!([
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Replace", "value": {"name.givenName": "Babs", "displayName": "Babs J"}},
            {"op": "Add", "path": "emails[type eq \"other\"].value", "value": "o@x.example"}
        ]),
        &rs,
    );
    assert_eq!(u["active"], false);
    assert_eq!(u["name"]["givenName"], "Babs");
    assert_eq!(u["displayName"], "Babs J");
    assert_eq!(
        u["emails"][2],
        json!({"type": "other", "value": "o@x.example"})
    );
    let u = ok(
        &u,
        json!([{"op": "replace", "value": {"urn:ietf:params:scim:schemas:core:2.0:User": {"title": "Guide"}}}]),
        &rs,
    );
    assert_eq!(u["title"], "Guide");
    let u = ok(
        &u,
        json!([{"op": "replace", "value": {"active": "TRUE", "id": U1}}]),
        &rs,
    );
    assert_eq!(u["active"], true);

    let gs = ResourceSchema::group();
    let g = ok(
        &group(),
        json!([{"op": "Remove", "path": "members", "value": [{"value": U1}]}]),
        &gs,
    );
    assert_eq!(member_values(&g), vec![U2]);
}

#[test]
fn add_with_a_sub_attribute_path_creates_the_complex_value() {
    let rs = ResourceSchema::user();
    let mut u = user();
    u.as_object_mut().unwrap().remove("name");
    let u = ok(
        &u,
        json!([{"op": "add", "path": "name.givenName", "value": "Babs"}]),
        &rs,
    );
    assert_eq!(u["name"], json!({"givenName": "Babs"}));
}

#[test]
fn op_round_trip_to_json() {
    let req = PatchRequest::from_json(&body(json!([
        {"op": "ADD", "path": "emails[type eq \"work\"].value", "value": "x@y"},
        {"op": "remove", "path": "members"}
    ])))
    .unwrap();
    assert_eq!(req.operations[0].op, PatchOpKind::Add);
    let again = PatchRequest::from_json(&req.to_json()).unwrap();
    assert_eq!(again, req);
    assert_eq!(
        req.operations[0].path,
        Some(PatchPath::parse(r#"emails[type eq "work"].value"#).unwrap())
    );
}

// --- negative cases --------------------------------------------------------------------------------

#[test]
fn bad_requests() {
    let cases: Vec<(Value, ScimType)> = vec![
        (
            json!({"Operations": [{"op": "add", "path": "title", "value": "x"}]}),
            ScimType::InvalidSyntax,
        ),
        (
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "Operations": [{"op": "add", "path": "title", "value": "x"}]}),
            ScimType::InvalidSyntax,
        ),
        (
            json!({"schemas": PATCH, "Operations": [{"op": "add", "path": "title", "value": "x"}]}),
            ScimType::InvalidSyntax,
        ),
        (body(json!([])), ScimType::InvalidSyntax),
        (json!({"schemas": [PATCH]}), ScimType::InvalidSyntax),
        (body(json!({"op": "add"})), ScimType::InvalidSyntax),
        (
            body(json!([{"op": "merge", "path": "title", "value": "x"}])),
            ScimType::InvalidSyntax,
        ),
        (
            body(json!([{"path": "title", "value": "x"}])),
            ScimType::InvalidSyntax,
        ),
        (
            body(json!([{"op": 1, "path": "title", "value": "x"}])),
            ScimType::InvalidSyntax,
        ),
        (body(json!(["add"])), ScimType::InvalidSyntax),
        (
            body(json!([{"op": "add", "path": "title"}])),
            ScimType::InvalidValue,
        ),
        (
            body(json!([{"op": "replace", "path": "title"}])),
            ScimType::InvalidValue,
        ),
        (
            body(json!([{"op": "add", "value": "x"}])),
            ScimType::InvalidValue,
        ),
        (body(json!([{"op": "remove"}])), ScimType::NoTarget),
        (
            body(json!([{"op": "remove", "path": "emails[type eq"}])),
            ScimType::InvalidPath,
        ),
        (
            body(json!([{"op": "remove", "path": 7}])),
            ScimType::InvalidPath,
        ),
        (json!([1]), ScimType::InvalidSyntax),
    ];
    for (b, want) in cases {
        let e = PatchRequest::from_json(&b).expect_err(&b.to_string());
        assert_eq!(
            (e.status, e.scim_type),
            (400, Some(want)),
            "{b}: {}",
            e.detail
        );
    }
    let many: Vec<Value> = (0..=MAX_PATCH_OPERATIONS)
        .map(|_| json!({"op": "remove", "path": "title"}))
        .collect();
    let e = PatchRequest::from_json(&body(Value::Array(many))).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
}

#[test]
fn failures_leave_the_resource_unchanged() {
    let us = ResourceSchema::user();
    let gs = ResourceSchema::group();
    let u = user();
    let g = group();
    let mutab = (400, Some(ScimType::Mutability));
    let path = (400, Some(ScimType::InvalidPath));
    let none = (400, Some(ScimType::NoTarget));
    let value = (400, Some(ScimType::InvalidValue));
    let filter = (400, Some(ScimType::InvalidFilter));
    // readOnly targets
    assert_eq!(
        err(
            &u,
            json!([{"op": "replace", "path": "id", "value": "other"}]),
            &us
        ),
        mutab
    );
    assert_eq!(err(&u, json!([{"op": "remove", "path": "id"}]), &us), mutab);
    assert_eq!(
        err(
            &u,
            json!([{"op": "replace", "path": "meta.lastModified", "value": "2020-01-01T00:00:00Z"}]),
            &us
        ),
        mutab
    );
    assert_eq!(
        err(&u, json!([{"op": "remove", "path": "meta"}]), &us),
        mutab
    );
    assert_eq!(
        err(
            &u,
            json!([{"op": "add", "path": "groups", "value": [{"value": "g"}]}]),
            &us
        ),
        mutab
    );
    assert_eq!(
        err(
            &u,
            json!([{"op": "replace", "value": {"id": "other"}}]),
            &us
        ),
        mutab
    );
    assert_eq!(
        err(
            &g,
            json!([{"op": "replace", "path": format!("members[value eq \"{U1}\"].display"), "value": "x"}]),
            &gs
        ),
        mutab
    );
    // immutable: members.value cannot change once set
    assert_eq!(
        err(
            &g,
            json!([{"op": "replace", "path": format!("members[value eq \"{U1}\"].value"), "value": U3}]),
            &gs
        ),
        mutab
    );
    ok(
        &g,
        json!([{"op": "replace", "path": format!("members[value eq \"{U1}\"].value"), "value": U1}]),
        &gs,
    );
    // unknown attributes
    assert_eq!(
        err(
            &u,
            json!([{"op": "add", "path": "favouriteColour", "value": "x"}]),
            &us
        ),
        path
    );
    assert_eq!(
        err(
            &u,
            json!([{"op": "add", "path": "name.nickName", "value": "x"}]),
            &us
        ),
        path
    );
    assert_eq!(
        err(
            &u,
            json!([{"op": "add", "value": {"favouriteColour": "x"}}]),
            &us
        ),
        path
    );
    assert_eq!(
        err(
            &u,
            json!([{"op": "add", "path": "urn:example:other:2.0:User:x", "value": "x"}]),
            &us
        ),
        path
    );
    assert_eq!(
        err(
            &u,
            json!([{"op": "add", "path": "emails", "value": [{"value": "a@b", "colour": "red"}]}]),
            &us
        ),
        path
    );
    assert_eq!(
        err(
            &u,
            json!([{"op": "replace", "path": "title[value eq \"x\"]", "value": "x"}]),
            &us
        ),
        path
    );
    // value filters matching nothing
    assert_eq!(
        err(
            &u,
            json!([{"op": "replace", "path": "emails[type eq \"other\"].value", "value": "x@y"}]),
            &us
        ),
        none
    );
    assert_eq!(
        err(
            &g,
            json!([{"op": "remove", "path": "members[value eq \"nobody\"]"}]),
            &gs
        ),
        none
    );
    assert_eq!(
        err(
            &u,
            json!([{"op": "add", "path": "emails[type ne \"work\" and type ne \"home\"].value", "value": "x@y"}]),
            &us
        ),
        none
    );
    // wrong types
    assert_eq!(
        err(
            &u,
            json!([{"op": "replace", "path": "active", "value": "maybe"}]),
            &us
        ),
        value
    );
    assert_eq!(
        err(
            &u,
            json!([{"op": "replace", "path": "userName", "value": 5}]),
            &us
        ),
        value
    );
    assert_eq!(
        err(
            &u,
            json!([{"op": "replace", "path": "name", "value": "Babs"}]),
            &us
        ),
        value
    );
    assert_eq!(
        err(&u, json!([{"op": "remove", "path": "userName"}]), &us),
        value
    );
    // a bad value filter
    assert_eq!(
        err(
            &u,
            json!([{"op": "remove", "path": "emails[primary gt true]"}]),
            &us
        ),
        filter
    );
    // atomic: the first operation succeeds, the second fails, nothing is applied
    assert_eq!(
        err(
            &u,
            json!([
                {"op": "replace", "path": "displayName", "value": "changed"},
                {"op": "remove", "path": "members"}
            ]),
            &us
        ),
        path
    );
}
