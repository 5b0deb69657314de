//! Differential test: random writer trees (the generator of `writer_prop`, fixed seed) against
//! libxml2's exclusive c14n through lxml (`interop/c14n/writer_oracle.py`, one Python process for
//! the whole batch). For every tree, the whole document and every nested element are
//! canonicalized by libxml2 with and without comments; the result must equal our `canonicalize()`
//! byte for byte, and the writer's own output (the document, and each nested element serialized
//! on its own when it can be signed on its own).
use std::io::Write;
use std::process::{Command, Stdio};

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use saml::xml::c14n::{C14nOptions, canonicalize};
use saml::xml::reader::{Limits, parse};
use saml::xml::writer::{Element, is_xml_char};

use crate::support;
use crate::writer_prop::{Child, Spec, build, spec_strategy, walk};

/// Trees compared with libxml2 (after dropping those whose namespaces do not check).
const TREES: usize = 400;
const SEED: [u8; 32] = *b"gatehouse writer vs libxml2 c14n";

/// Whether any text or attribute value in the spec holds a character XML forbids (for an
/// attribute set twice, only the last value counts: the writer replaces the earlier one).
fn has_forbidden(s: &Spec) -> bool {
    let mut last_values = s
        .attrs
        .iter()
        .enumerate()
        .filter(|(i, (name, _))| !s.attrs[i + 1..].iter().any(|(n, _)| n == name))
        .map(|(_, (_, v))| v);
    last_values.any(|v| v.chars().any(|c| !is_xml_char(c)))
        || s.children.iter().any(|c| match c {
            Child::El(e) => has_forbidden(e),
            Child::Text(t) => t.chars().any(|c| !is_xml_char(c)),
        })
}

fn ours(node: roxmltree::Node<'_, '_>, with_comments: bool, inclusive: &[String]) -> String {
    canonicalize(
        node,
        &C14nOptions {
            with_comments,
            inclusive_prefixes: inclusive.to_vec(),
            exclude: None,
        },
    )
    .unwrap()
}

/// Whether a text node of the spec holds `>` or `"` (written raw in text by c14n).
fn text_has_gt_or_quote(s: &Spec) -> bool {
    s.children.iter().any(|c| match c {
        Child::El(e) => text_has_gt_or_quote(e),
        Child::Text(t) => t.contains(['>', '"']),
    })
}

struct Case {
    tree: Element,
    xml: String,
    forbidden_input: bool,
    raw_in_text: bool,
}

#[test]
fn writer_trees_agree_with_libxml2_exclusive_c14n() {
    let Some(python) = support::python(
        "writer_trees_agree_with_libxml2_exclusive_c14n",
        &["lxml.etree"],
    ) else {
        return;
    };

    // Generate the trees (deterministic: fixed seed).
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &SEED),
    );
    let strategy = spec_strategy();
    let mut cases = Vec::new();
    let mut attempts = 0;
    while cases.len() < TREES {
        attempts += 1;
        assert!(attempts < 20 * TREES, "too few generated trees check");
        let spec = strategy.new_tree(&mut runner).unwrap().current();
        let tree = build(&spec, true);
        if tree.check_namespaces().is_err() {
            continue;
        }
        let xml = tree.to_xml();
        // The writer must only ever emit characters XML allows (forbidden ones become U+FFFD).
        assert!(
            xml.chars().all(is_xml_char),
            "writer emitted a character XML forbids: {xml:?}"
        );
        let forbidden_input = has_forbidden(&spec);
        if forbidden_input {
            assert!(
                xml.contains('\u{FFFD}'),
                "forbidden input, no U+FFFD: {xml:?}"
            );
        }
        cases.push(Case {
            tree,
            xml,
            forbidden_input,
            raw_in_text: text_has_gt_or_quote(&spec),
        });
    }

    // One JSON batch for the oracle.
    let mut subs_per_case = Vec::new();
    let batch: Vec<serde_json::Value> = cases
        .iter()
        .map(|c| {
            let mut all = Vec::new();
            walk(&c.tree, Vec::new(), &mut all);
            let subs: Vec<(Vec<usize>, &Element)> =
                all.into_iter().filter(|(p, _)| !p.is_empty()).collect();
            let json = serde_json::json!({
                "xml": c.xml,
                "inclusive": c.tree.content_prefixes(),
                "subs": subs.iter().map(|(p, e)| serde_json::json!({
                    "path": p, "inclusive": e.content_prefixes(),
                })).collect::<Vec<_>>(),
            });
            subs_per_case.push(subs);
            json
        })
        .collect();
    let input = serde_json::json!({ "cases": batch }).to_string();
    let script = support::repo_root().join("interop/c14n/writer_oracle.py");
    let mut child = Command::new(&python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    // The oracle reads all of stdin before it writes anything.
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "oracle output is not JSON ({e}); status {}; stderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    });
    if let Some(err) = answer.get("error") {
        let i = answer["case"].as_u64().unwrap() as usize;
        panic!("libxml2 refused writer output: {err}\n{:?}", cases[i].xml);
    }
    assert!(
        out.status.success(),
        "oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), cases.len());

    let limits = Limits {
        max_bytes: 1 << 22,
        max_nodes: 1 << 20,
        ..Limits::default()
    };
    let mut failures = Vec::new();
    let (mut compared, mut nested, mut standalone) = (0usize, 0usize, 0usize);
    for ((case, result), subs) in cases.iter().zip(results).zip(&subs_per_case) {
        let doc = parse(&case.xml, &limits)
            .unwrap_or_else(|e| panic!("our reader refused writer output: {e}\n{:?}", case.xml));
        let inclusive = case.tree.content_prefixes();
        for (k, with_comments) in [(0, false), (1, true)] {
            let lib = result["doc"][k].as_str().unwrap();
            let our = ours(doc.root_element(), with_comments, &inclusive);
            compared += 1;
            if lib != case.xml || our != lib {
                failures.push(format!(
                    "whole document (comments: {with_comments}, inclusive {inclusive:?})\nwriter:  {:?}\nlibxml2: {lib:?}\nours:    {our:?}",
                    case.xml
                ));
            }
        }
        let lib_subs = result["subs"].as_array().unwrap();
        assert_eq!(lib_subs.len(), subs.len());
        for ((path, sub), lib_sub) in subs.iter().zip(lib_subs) {
            nested += 1;
            let mut node = doc.root_element();
            for i in path {
                node = node.children().filter(|c| c.is_element()).nth(*i).unwrap();
            }
            let inclusive = sub.content_prefixes();
            // Only a sub-element whose prefixes all resolve inside it can be serialized on its
            // own (that is what the signer does before embedding it).
            let own = sub.check_namespaces().is_ok().then(|| sub.to_xml());
            standalone += usize::from(own.is_some());
            for (k, with_comments) in [(0, false), (1, true)] {
                let lib = lib_sub[k].as_str().unwrap();
                let our = ours(node, with_comments, &inclusive);
                compared += 1;
                if our != lib || own.as_deref().is_some_and(|o| o != lib) {
                    failures.push(format!(
                        "element at {path:?} (comments: {with_comments}, inclusive {inclusive:?}) in\n{:?}\nlibxml2: {lib:?}\nours:    {our:?}\nwriter:  {own:?}",
                        case.xml
                    ));
                }
            }
        }
    }

    // The generator must keep reaching the characters this test is about.
    let count = |f: &dyn Fn(&Case) -> bool| cases.iter().filter(|c| f(c)).count();
    let coverage = [
        ("CR (&#xD;)", count(&|c| c.xml.contains("&#xD;"))),
        (
            "TAB in attribute (&#x9;)",
            count(&|c| c.xml.contains("&#x9;")),
        ),
        (
            "LF in attribute (&#xA;)",
            count(&|c| c.xml.contains("&#xA;")),
        ),
        (
            "raw TAB/LF in text",
            count(&|c| c.xml.contains(['\t', '\n'])),
        ),
        ("&amp;", count(&|c| c.xml.contains("&amp;"))),
        ("&lt;", count(&|c| c.xml.contains("&lt;"))),
        ("&gt;", count(&|c| c.xml.contains("&gt;"))),
        ("&quot;", count(&|c| c.xml.contains("&quot;"))),
        ("> or \" in text (written raw)", count(&|c| c.raw_in_text)),
        ("non-ASCII", count(&|c| !c.xml.is_ascii())),
        (
            "astral plane",
            count(&|c| c.xml.chars().any(|ch| ch > '\u{FFFF}')),
        ),
        ("forbidden input -> U+FFFD", count(&|c| c.forbidden_input)),
        ("forced xmlns:xs", count(&|c| c.xml.contains("xmlns:xs="))),
    ];
    println!(
        "writer vs libxml2 exclusive c14n: {} trees ({attempts} generated), {nested} nested elements ({standalone} also serialized standalone), {compared} libxml2 canonicalizations compared, {} mismatches",
        cases.len(),
        failures.len()
    );
    for (what, n) in &coverage {
        println!("  trees with {what}: {n}");
    }
    let thin: Vec<_> = coverage.iter().filter(|(_, n)| *n < 5).collect();
    assert!(thin.is_empty(), "generator coverage too thin: {thin:?}");
    assert!(
        failures.is_empty(),
        "{} mismatches (first 10):\n{}",
        failures.len(),
        failures
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}
