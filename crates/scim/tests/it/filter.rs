//! Filter parser, canonical Display, and in-memory evaluation (RFC 7644 §3.4.2.2).

use proptest::prelude::*;
use scim::ScimType;
use scim::filter::{
    AttrPath, CompValue, CompareOp, Filter, MAX_FILTER_DEPTH, matches, parse_filter, try_matches,
    validate_filter,
};
use scim::schema::ResourceSchema;
use serde_json::{Value, json};

fn p(s: &str) -> Filter {
    parse_filter(s).unwrap_or_else(|e| panic!("{s:?} should parse: {}", e.detail))
}

fn ap(name: &str) -> AttrPath {
    AttrPath::simple(name)
}

fn cmp(name: &str, op: CompareOp, value: CompValue) -> Filter {
    Filter::Compare {
        path: ap(name),
        op,
        value,
    }
}

fn s(v: &str) -> CompValue {
    CompValue::String(v.to_string())
}

#[test]
fn every_operator_parses() {
    let ops = [
        ("eq", CompareOp::Eq),
        ("ne", CompareOp::Ne),
        ("co", CompareOp::Co),
        ("sw", CompareOp::Sw),
        ("ew", CompareOp::Ew),
        ("gt", CompareOp::Gt),
        ("ge", CompareOp::Ge),
        ("lt", CompareOp::Lt),
        ("le", CompareOp::Le),
    ];
    for (kw, op) in ops {
        for spelled in [
            kw.to_string(),
            kw.to_uppercase(),
            format!("{}{}", &kw[..1].to_uppercase(), &kw[1..]),
        ] {
            let f = p(&format!(r#"userName {spelled} "bjensen""#));
            assert_eq!(f, cmp("userName", op, s("bjensen")), "{spelled}");
        }
    }
    assert_eq!(p("title pr"), Filter::Present(ap("title")));
    assert_eq!(p("title PR"), Filter::Present(ap("title")));
}

#[test]
fn literals() {
    let cases: Vec<(&str, CompValue)> = vec![
        (r#"a eq "x""#, s("x")),
        (
            r#"a eq "tab\tquote\"slash\\uA\u0041""#,
            s("tab\tquote\"slash\\uAA"),
        ),
        (r#"a eq "\ud83d\ude00""#, s("\u{1F600}")),
        (r#"a eq "日本""#, s("日本")),
        ("a eq 42", CompValue::Number(42.into())),
        ("a eq -7", CompValue::Number((-7).into())),
        (
            "a eq 1.5e3",
            CompValue::Number(serde_json::Number::from_f64(1500.0).unwrap()),
        ),
        ("a eq true", CompValue::Bool(true)),
        ("a eq False", CompValue::Bool(false)),
        ("a eq null", CompValue::Null),
        ("a eq NULL", CompValue::Null),
    ];
    for (input, value) in cases {
        assert_eq!(p(input), cmp("a", CompareOp::Eq, value), "{input}");
    }
}

#[test]
fn attribute_paths() {
    let f = p(r#"name.familyName co "O'Malley""#);
    let Filter::Compare { path, .. } = f else {
        panic!()
    };
    assert_eq!(
        (path.uri, path.name.as_str(), path.sub.as_deref()),
        (None, "name", Some("familyName"))
    );

    let f = p(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#);
    let Filter::Compare { path, op, .. } = f else {
        panic!()
    };
    assert_eq!(
        path.uri.as_deref(),
        Some("urn:ietf:params:scim:schemas:core:2.0:User")
    );
    assert_eq!(path.name, "userName");
    assert_eq!(op, CompareOp::Sw);

    let f = p(
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d""#,
    );
    let Filter::Compare { path, .. } = f else {
        panic!()
    };
    assert_eq!(
        path.uri.as_deref(),
        Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
    );
    assert_eq!(path.name, "manager");
    assert_eq!(path.sub.as_deref(), Some("value"));

    assert_eq!(
        p("meta.lastModified gt \"2011-05-13T04:42:34Z\"").to_string(),
        "meta.lastModified gt \"2011-05-13T04:42:34Z\""
    );
    assert_eq!(
        p("members.$ref pr"),
        Filter::Present(AttrPath {
            uri: None,
            name: "members".into(),
            sub: Some("$ref".into())
        })
    );
    assert_eq!(p("x-y_z1 pr"), Filter::Present(ap("x-y_z1")));
}

#[test]
fn precedence_and_grouping() {
    let a = || cmp("a", CompareOp::Eq, CompValue::Number(1.into()));
    let b = || cmp("b", CompareOp::Eq, CompValue::Number(2.into()));
    let c = || cmp("c", CompareOp::Eq, CompValue::Number(3.into()));
    // and binds tighter than or
    assert_eq!(p("a eq 1 or b eq 2 and c eq 3"), a().or(b().and(c())));
    assert_eq!(p("a eq 1 and b eq 2 or c eq 3"), a().and(b()).or(c()));
    // parentheses override
    assert_eq!(p("(a eq 1 or b eq 2) and c eq 3"), a().or(b()).and(c()));
    assert_eq!(p("a eq 1 AND (b eq 2 OR c eq 3)"), a().and(b().or(c())));
    // left associativity
    assert_eq!(p("a eq 1 and b eq 2 and c eq 3"), a().and(b()).and(c()));
    assert_eq!(p("a eq 1 or b eq 2 or c eq 3"), a().or(b()).or(c()));
    // redundant parentheses vanish
    assert_eq!(p("((a eq 1))"), a());
    // not
    assert_eq!(p("not (a eq 1)"), a().negate());
    assert_eq!(p("NOT(a eq 1) and b eq 2"), a().negate().and(b()));
    assert_eq!(p("not (a eq 1 or b eq 2)"), a().or(b()).negate());
    // RFC example
    let f = p(
        r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
    );
    assert!(matches!(f, Filter::And(_, ref r) if matches!(**r, Filter::Not(_))));
    // whitespace is flexible
    assert_eq!(p("  a  eq\t1\n"), a());
}

#[test]
fn value_paths() {
    let f = p(r#"emails[type eq "work" and value co "@example.com"]"#);
    let Filter::ValuePath { attr, filter } = f else {
        panic!("{f:?}")
    };
    assert_eq!(attr, ap("emails"));
    assert_eq!(
        *filter,
        cmp("type", CompareOp::Eq, s("work")).and(cmp("value", CompareOp::Co, s("@example.com")))
    );

    let f = p(r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#);
    assert!(matches!(f, Filter::And(_, ref r) if matches!(**r, Filter::ValuePath { .. })));

    let f = p(
        r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
    );
    assert!(matches!(f, Filter::Or(..)));

    let f = p(r#"members[not (value eq "1")]"#);
    assert!(
        matches!(f, Filter::ValuePath { ref filter, .. } if matches!(**filter, Filter::Not(_)))
    );

    let f = p(r#"urn:ietf:params:scim:schemas:core:2.0:User:emails[primary eq true]"#);
    assert!(matches!(f, Filter::ValuePath { ref attr, .. } if attr.uri.is_some()));
}

#[test]
fn display_is_canonical_and_reparses() {
    let cases = [
        (r#"userName EQ "bjensen""#, r#"userName eq "bjensen""#),
        ("a eq 1 or b eq 2 and c eq 3", "a eq 1 or b eq 2 and c eq 3"),
        (
            "(a eq 1 or b eq 2) and c eq 3",
            "(a eq 1 or b eq 2) and c eq 3",
        ),
        (
            "a eq 1 and (b eq 2 and c eq 3)",
            "a eq 1 and (b eq 2 and c eq 3)",
        ),
        (
            "a eq 1 or (b eq 2 or c eq 3)",
            "a eq 1 or (b eq 2 or c eq 3)",
        ),
        ("NOT(a pr)", "not (a pr)"),
        (r#"emails[type eq "work"]"#, r#"emails[type eq "work"]"#),
        (r#"a eq "q\"\\\n""#, r#"a eq "q\"\\\n""#),
        ("a eq TRUE", "a eq true"),
    ];
    for (input, canonical) in cases {
        let f = p(input);
        assert_eq!(f.to_string(), canonical, "{input}");
        assert_eq!(p(&f.to_string()), f, "{input}");
    }
    assert_eq!(
        Filter::eq("userName", "alice").to_string(),
        r#"userName eq "alice""#
    );
    assert_eq!(
        Filter::eq(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
            "7"
        ),
        p(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "7""#)
    );
    let built =
        Filter::eq("externalId", "x").and(Filter::present("title").or(Filter::eq("title", "a\"b")));
    assert_eq!(p(&built.to_string()), built);
}

#[test]
fn invalid_filters_are_400_invalid_filter() {
    let deep_ok = format!(
        "{}a pr{}",
        "(".repeat(MAX_FILTER_DEPTH),
        ")".repeat(MAX_FILTER_DEPTH)
    );
    assert!(parse_filter(&deep_ok).is_ok());
    let too_deep = format!(
        "{}a pr{}",
        "(".repeat(MAX_FILTER_DEPTH + 1),
        ")".repeat(MAX_FILTER_DEPTH + 1)
    );
    let too_deep_not = format!(
        "{}a pr{}",
        "not (".repeat(MAX_FILTER_DEPTH + 1),
        ")".repeat(MAX_FILTER_DEPTH + 1)
    );
    let too_long = format!("userName eq \"{}\"", "x".repeat(4096));
    let huge_chain = (0..2000)
        .map(|i| format!("a eq {i}"))
        .collect::<Vec<_>>()
        .join(" or ");
    let bad: Vec<&str> = vec![
        "",
        "   ",
        r#"userName eq "bjensen"#,                // unterminated string
        r#"userName eq "bj\"#,                    // unterminated after escape
        r#"userName eq "\x41""#,                  // bad escape
        r#"userName eq "\u12""#,                  // short unicode escape
        "userName eq \"a\u{1}b\"",                // raw control character
        r#"userName xx "bjensen""#,               // unknown operator
        r#"userName = "bjensen""#,                // not an operator
        r#"userName "bjensen""#,                  // missing operator
        "userName eq",                            // missing value
        "userName",                               // bare path
        "userName eq bjensen",                    // unquoted string
        r#"title pr "x""#,                        // pr with a value
        r#"userName eq "a" extra"#,               // trailing garbage
        r#"userName eq "a" )"#,                   // unbalanced paren
        r#"(userName eq "a""#,                    // unclosed paren
        r#"userName eq "a" and"#,                 // dangling and
        r#"or userName eq "a""#,                  // leading or
        r#"userName eq "a" and or b pr"#,         // doubled keyword
        r#"not userName eq "a""#,                 // not without parentheses
        "not",                                    // bare not
        "()",                                     // empty group
        r#"emails[type eq "work""#,               // unclosed bracket
        r#"emails[type eq "work"].value eq "x""#, // sub-attribute after a value path in a filter
        r#"emails[type eq "work"].value"#,        // idem
        r#"emails[]"#,                            // empty value filter
        r#"emails[ims[type eq "x"]]"#,            // nested value path
        r#"name.familyName[value eq "x"]"#,       // value path on a sub-attribute
        "a.b.c eq 1",                             // two sub-attribute levels
        "1abc eq 1",                              // name starting with a digit
        "user:name eq 1",                         // ':' outside a URN
        "urn:ietf:params:scim:schemas:core:2.0:User: eq 1", // URN without attribute
        "userName eq 01",                         // JSON forbids leading zeros
        "userName eq 1.",                         // bad number
        "userName eq --1",                        // bad number
        "userName eq 'single'",                   // single quotes
        "userName eq \"a\" && b pr",              // C operators
        "userName eq \"a\" ; drop table",         // junk
        "@ pr",                                   // bad character
        "[type eq 1]",                            // bracket without attribute
    ];
    let mut all: Vec<String> = bad.into_iter().map(str::to_string).collect();
    all.extend([too_deep, too_deep_not, too_long, huge_chain]);
    assert!(all.len() >= 30);
    for input in &all {
        let err = parse_filter(input).expect_err(input);
        assert_eq!(err.status, 400, "{input}");
        assert_eq!(err.scim_type, Some(ScimType::InvalidFilter), "{input}");
        assert!(!err.detail.is_empty());
    }
    let err = parse_filter(&all[all.len() - 4]).unwrap_err();
    assert!(err.detail.contains("deeper than 16"), "{}", err.detail);
    let err = parse_filter(&all[all.len() - 2]).unwrap_err();
    assert!(err.detail.contains("4096"), "{}", err.detail);
    let err = parse_filter(r#"not userName eq "a""#).unwrap_err();
    assert!(
        err.detail.contains("'not' must be followed by '('"),
        "{}",
        err.detail
    );
}

fn user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "Ext-1",
        "userName": "BJensen@Example.com",
        "name": {"familyName": "Jensen", "givenName": "Barbara"},
        "displayName": "Babs Jensen",
        "title": "",
        "userType": "Employee",
        "active": true,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "meta": {
            "resourceType": "User",
            "created": "2010-01-23T04:56:22Z",
            "lastModified": "2011-05-13T04:42:34Z",
            "version": "W/\"3694e05e9dff591\""
        },
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "701984",
            "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}
        }
    })
}

#[test]
fn evaluation_against_a_user() {
    let rs = ResourceSchema::user();
    let u = user();
    let yes = [
        r#"userName eq "bjensen@example.com""#, // caseExact false
        r#"USERNAME Eq "BJENSEN@EXAMPLE.COM""#,
        r#"userName ne "someone""#,
        r#"userName co "jensen""#,
        r#"userName sw "bjen""#,
        r#"userName ew "example.COM""#,
        r#"userName gt "a""#,
        r#"userName ge "bjensen@example.com""#,
        r#"userName lt "c""#,
        r#"userName le "bjensen@example.com""#,
        r#"externalId eq "Ext-1""#,
        r#"id eq "2819c223-7f76-453a-919d-413861904646""#,
        r#"name.familyName eq "jensen""#,
        "name pr",
        "name.givenName pr",
        "active eq true",
        "active ne false",
        r#"emails co "example.com""#, // complex without sub-attribute compares value
        r#"emails.value ew "jensen.org""#,
        r#"emails.type eq "home""#,
        r#"emails[type eq "work" and value co "@example.com"]"#,
        r#"emails[primary eq true and type eq "work"]"#,
        r#"emails[not (type eq "work")]"#,
        r#"meta.lastModified gt "2011-05-13T04:42:33Z""#,
        r#"meta.lastModified eq "2011-05-13T06:42:34+02:00""#, // same instant
        r#"meta.lastModified ge "2011-05-13T04:42:34.000Z""#,
        r#"meta.created lt "2011-01-01T00:00:00Z""#,
        r#"meta.resourceType eq "User""#,
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "B""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value pr"#,
        r#"employeeNumber eq "701984""#,
        r#"title eq null"#, // "" is not present, as for pr
    ];
    for f in yes {
        assert!(try_matches(&p(f), &u, &rs).unwrap(), "{f} should match");
    }
    let no = [
        r#"userName eq "bjensen""#,
        r#"userName ne "BJENSEN@example.com""#,
        r#"userName co "nobody""#,
        r#"userName sw "jensen""#,
        r#"userName gt "c""#,
        r#"userName lt "bjensen@example.com""#,
        r#"externalId eq "ext-1""#, // caseExact true
        r#"meta.resourceType eq "user""#,
        "title pr", // empty string is not present
        "nickName pr",
        r#"nickName eq "x""#,
        "active eq false",
        r#"emails[type eq "work" and value co "jensen.org"]"#,
        r#"emails[type eq "other"]"#,
        r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified lt "2011-05-13T06:42:34+02:00""#,
        r#"not (userName pr)"#,
        r#"userName pr and nickName pr"#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department pr"#,
    ];
    for f in no {
        assert!(
            !try_matches(&p(f), &u, &rs).unwrap(),
            "{f} should not match"
        );
    }
    assert!(matches(&p(r#"nickName pr or userName sw "b""#), &u, &rs));
    assert!(matches(&p("nickName eq null"), &u, &rs));
    assert!(
        matches(&p("nickName ne \"x\""), &u, &rs),
        "ne is true when absent"
    );
    assert!(matches(&p("userName ne null"), &u, &rs));
}

#[test]
fn evaluation_of_groups_and_numbers() {
    let rs = ResourceSchema::group();
    let g = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": "g1", "displayName": "Tour Guides",
        "members": [{"value": "u-1", "type": "User"}, {"value": "U-2"}]});
    assert!(try_matches(&p(r#"members[value eq "u-1"]"#), &g, &rs).unwrap());
    assert!(
        !try_matches(&p(r#"members[value eq "U-1"]"#), &g, &rs).unwrap(),
        "members.value is caseExact"
    );
    assert!(try_matches(&p(r#"members.value eq "U-2""#), &g, &rs).unwrap());
    assert!(try_matches(&p(r#"members eq "u-1""#), &g, &rs).unwrap());
    assert!(try_matches(&p(r#"displayName eq "tour guides""#), &g, &rs).unwrap());
    assert!(!try_matches(&p("members pr and not (members pr)"), &g, &rs).unwrap());
    // numbers without a schema definition (evaluation only)
    let v = json!({"n": 5, "f": 2.5});
    assert!(matches(
        &p("n gt 4 and n le 5 and f lt 3 and f ge 2.5"),
        &v,
        &rs
    ));
    assert!(!matches(&p("n gt 5"), &v, &rs));
}

#[test]
fn schema_checks_are_invalid_filter() {
    let rs = ResourceSchema::user();
    for f in [
        "active gt true",
        "active co true",
        r#"active eq "yes""#,
        "userName eq 5",
        "userName eq true",
        "userName gt null",
        r#"meta.lastModified gt "yesterday""#,
        "meta.lastModified gt 5",
        "noSuchAttribute pr",
        "name.nope eq \"x\"",
        r#"userName[value eq "x"]"#,
        r#"emails[nope eq "x"]"#,
        r#"name eq "x""#,
        r#"urn:example:unknown:2.0:User:userName eq "x""#,
    ] {
        let err = validate_filter(&p(f), &rs).expect_err(f);
        assert_eq!(
            (err.status, err.scim_type),
            (400, Some(ScimType::InvalidFilter)),
            "{f}"
        );
    }
    for f in [
        r#"meta.lastModified co "2011""#,
        "active eq false",
        r#"emails eq "x""#,
        "title eq null",
    ] {
        validate_filter(&p(f), &rs).unwrap_or_else(|e| panic!("{f}: {}", e.detail));
    }
}

// ---------------------------------------------------------------------------------------------------
// Round trip of generated ASTs through Display

fn arb_name() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9_-]{0,6}".prop_filter("not is a keyword in operand position", |s| {
        !s.eq_ignore_ascii_case("not")
    })
}

fn arb_path() -> impl Strategy<Value = AttrPath> {
    (
        prop::option::of(prop::sample::select(vec![
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        ])),
        arb_name(),
        prop::option::of(prop_oneof![arb_name(), Just("$ref".to_string())]),
    )
        .prop_map(|(uri, name, sub)| AttrPath {
            uri: uri.map(str::to_string),
            name,
            sub,
        })
}

fn arb_value() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        Just(CompValue::Null),
        any::<bool>().prop_map(CompValue::Bool),
        any::<i64>().prop_map(|n| CompValue::Number(n.into())),
        (-1.0e12f64..1.0e12)
            .prop_map(|f| CompValue::Number(serde_json::Number::from_f64(f).unwrap())),
        any::<String>().prop_map(CompValue::String),
    ]
}

fn arb_op() -> impl Strategy<Value = CompareOp> {
    prop::sample::select(vec![
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Co,
        CompareOp::Sw,
        CompareOp::Ew,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ])
}

fn arb_leaf() -> impl Strategy<Value = Filter> {
    prop_oneof![
        (arb_path(), arb_op(), arb_value()).prop_map(|(path, op, value)| Filter::Compare {
            path,
            op,
            value
        }),
        arb_path().prop_map(Filter::Present),
    ]
}

fn arb_tree(leaf: BoxedStrategy<Filter>) -> BoxedStrategy<Filter> {
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|a| Filter::Not(Box::new(a))),
        ]
    })
    .boxed()
}

fn arb_filter() -> impl Strategy<Value = Filter> {
    let value_path =
        (arb_name(), arb_tree(arb_leaf().boxed())).prop_map(|(name, f)| Filter::ValuePath {
            attr: AttrPath::simple(&name),
            filter: Box::new(f),
        });
    arb_tree(prop_oneof![3 => arb_leaf(), 1 => value_path].boxed())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn display_parse_round_trip(f in arb_filter()) {
        let text = f.to_string();
        let back = parse_filter(&text);
        prop_assert!(back.is_ok(), "{text}: {:?}", back.err().map(|e| e.detail));
        prop_assert_eq!(back.ok(), Some(f));
    }

    #[test]
    fn parser_never_panics(input in "\\PC{0,80}") {
        let _ = parse_filter(&input);
    }

    #[test]
    fn parser_never_panics_on_filter_like_text(input in "[a-z \"()\\[\\].:\\\\0-9-]{0,60}") {
        if let Ok(f) = parse_filter(&input) {
            prop_assert_eq!(parse_filter(&f.to_string()).ok(), Some(f));
        }
    }
}
