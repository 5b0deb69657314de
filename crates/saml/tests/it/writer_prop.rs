//! Property tests: the writer's output is its own exclusive canonical form, in isolation and for
//! every sub-element inside the whole document; c14n is idempotent on it.
use proptest::prelude::*;
use saml::xml::c14n::{C14nOptions, canonicalize};
use saml::xml::reader::{Limits, parse};
use saml::xml::writer::{Element, Node};

const PREFIXES: [&str; 8] = ["samlp", "saml", "md", "ds", "xsi", "p", "q", ""];
const LOCALS: [&str; 6] = ["Response", "Assertion", "e", "NameID", "x", "Attribute"];
const ATTRS: [&str; 9] = [
    "ID", "Version", "a", "z", "xsi:type", "xml:lang", "p:attr", "q:attr", "saml:x",
];
const URIS: [&str; 4] = [
    "urn:a",
    "urn:b",
    "http://example.com/x?y=1;z=2",
    "urn:oasis:names:tc:SAML:2.0:assertion",
];

fn text_strategy() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just('a'),
            Just('Z'),
            Just(' '),
            Just('&'),
            Just('<'),
            Just('>'),
            Just('"'),
            Just('\''),
            Just('\r'),
            Just('\n'),
            Just('\t'),
            Just(']'),
            Just('\u{e9}'),
            Just('\u{4e2d}'),
            Just('\u{1F600}'),
            Just('\u{0}'),
            Just('\u{1B}'),
            Just('\u{7F}'),
            Just('\u{85}'),
            Just('\u{2028}'),
            Just('\u{FFFE}'),
            Just('\u{FFFF}'),
            any::<char>(),
        ],
        0..12,
    )
    .prop_map(|v| v.into_iter().collect())
}

/// A generated element: indices into the name tables, attribute values, children.
#[derive(Clone, Debug)]
pub(crate) struct Spec {
    prefix: usize,
    local: usize,
    pub(crate) attrs: Vec<(usize, String)>,
    bindings: Vec<(usize, usize)>,
    forced: bool,
    pub(crate) children: Vec<Child>,
}

/// A generated child node.
#[derive(Clone, Debug)]
pub(crate) enum Child {
    El(Spec),
    Text(String),
}

pub(crate) fn spec_strategy() -> impl Strategy<Value = Spec> {
    let leaf = (
        0..PREFIXES.len(),
        0..LOCALS.len(),
        proptest::collection::vec((0..ATTRS.len(), text_strategy()), 0..4),
        proptest::collection::vec((0..2usize, 0..URIS.len()), 0..2),
        proptest::bool::weighted(0.2),
        proptest::collection::vec(text_strategy().prop_map(Child::Text), 0..2),
    )
        .prop_map(|(prefix, local, attrs, bindings, forced, children)| Spec {
            prefix,
            local,
            attrs,
            bindings,
            forced,
            children,
        });
    leaf.prop_recursive(5, 48, 5, |inner| {
        (
            0..PREFIXES.len(),
            0..LOCALS.len(),
            proptest::collection::vec((0..ATTRS.len(), text_strategy()), 0..4),
            proptest::collection::vec((0..2usize, 0..URIS.len()), 0..2),
            proptest::bool::weighted(0.1),
            proptest::collection::vec(
                prop_oneof![3 => inner.prop_map(Child::El), 1 => text_strategy().prop_map(Child::Text)],
                0..5,
            ),
        )
            .prop_map(|(prefix, local, attrs, bindings, forced, children)| Spec {
                prefix,
                local,
                attrs,
                bindings,
                forced,
                children,
            })
    })
}

pub(crate) fn build(s: &Spec, root: bool) -> Element {
    let mut e = Element::new(PREFIXES[s.prefix], LOCALS[s.local]);
    if root {
        // p and q always resolvable; deeper elements may rebind them
        e = e.ns("p", "urn:p").ns("q", "urn:p");
    }
    for (p, u) in &s.bindings {
        e = e.ns(["p", "q"][*p], URIS[*u]);
    }
    if s.forced {
        e = e.declare_for_content("xs");
    }
    for (a, v) in &s.attrs {
        e = e.attr(ATTRS[*a], v.clone());
    }
    for c in &s.children {
        e = match c {
            Child::El(c) => e.child(build(c, false)),
            Child::Text(t) => e.text(t.clone()),
        };
    }
    e
}

/// Every element of the writer tree with its element-child index path.
pub(crate) fn walk<'a>(e: &'a Element, path: Vec<usize>, out: &mut Vec<(Vec<usize>, &'a Element)>) {
    out.push((path.clone(), e));
    let mut i = 0;
    for c in e.child_nodes() {
        if let Node::Element(child) = c {
            let mut p = path.clone();
            p.push(i);
            walk(child, p, out);
            i += 1;
        }
    }
}

fn c14n(node: roxmltree::Node<'_, '_>, inclusive: Vec<String>) -> String {
    canonicalize(
        node,
        &C14nOptions {
            with_comments: false,
            inclusive_prefixes: inclusive,
            exclude: None,
        },
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn writer_output_is_exclusive_canonical(spec in spec_strategy()) {
        let tree = build(&spec, true);
        prop_assume!(tree.check_namespaces().is_ok());
        let xml = tree.to_xml();
        let limits = Limits { max_bytes: 1 << 22, max_nodes: 1 << 20, ..Limits::default() };
        let doc = parse(&xml, &limits).map_err(|e| TestCaseError::fail(format!("{e}: {xml}")))?;
        prop_assert_eq!(c14n(doc.root_element(), tree.content_prefixes()), xml.clone());
        // with comments: there are none, same bytes
        let with_comments = canonicalize(
            doc.root_element(),
            &C14nOptions { with_comments: true, inclusive_prefixes: tree.content_prefixes(), exclude: None },
        ).unwrap();
        prop_assert_eq!(&with_comments, &xml);

        let mut all = Vec::new();
        walk(&tree, Vec::new(), &mut all);
        for (path, sub) in all {
            // Sub-elements are signed on their own, before being embedded: that needs every prefix
            // to resolve inside the sub-element (the signer checks this too).
            if sub.check_namespaces().is_err() {
                continue;
            }
            let mut node = doc.root_element();
            for i in &path {
                node = node.children().filter(|c| c.is_element()).nth(*i).unwrap();
            }
            let standalone = sub.to_xml();
            let in_context = c14n(node, sub.content_prefixes());
            prop_assert_eq!(&in_context, &standalone, "sub-element at {:?}", path);
            // idempotence
            let again = parse(&in_context, &limits).unwrap();
            prop_assert_eq!(c14n(again.root_element(), sub.content_prefixes()), in_context);
        }
    }
}

#[test]
fn enveloped_exclusion_matches_unsigned_serialization() {
    // The verifier canonicalizes the element with the Signature subtree excluded; that must be
    // exactly what the signer digested (the element before insertion).
    let (k, c) = crate::support::rsa();
    let mut e = Element::new("samlp", "Response")
        .attr("ID", "_r")
        .child(Element::new("saml", "Issuer").text("i"))
        .child(Element::new("samlp", "Status").text("  x\r\n"));
    let before = e.to_xml();
    saml::dsig::sign_enveloped(
        &mut e,
        "_r",
        1,
        k,
        c,
        saml::algorithm::SignatureAlgorithm::RsaSha256,
        saml::algorithm::DigestAlgorithm::Sha256,
    )
    .unwrap();
    let after = e.to_xml();
    let doc = parse(&after, &Limits::default()).unwrap();
    let sig = doc
        .root_element()
        .children()
        .find(|n| n.has_tag_name("Signature"))
        .unwrap();
    let excluded = canonicalize(
        doc.root_element(),
        &C14nOptions {
            with_comments: false,
            inclusive_prefixes: vec![],
            exclude: Some(sig.id()),
        },
    )
    .unwrap();
    assert_eq!(excluded, before);
}
