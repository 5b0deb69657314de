//! Differential test: our exclusive c14n against libxml2's (through lxml) on a generated corpus.
use std::process::Command;

use saml::xml::c14n::{C14nOptions, canonicalize};
use saml::xml::reader::{Limits, parse};

use crate::support;

#[test]
fn exclusive_c14n_agrees_with_libxml2() {
    let Some(python) = support::python("exclusive_c14n_agrees_with_libxml2", &["lxml.etree"])
    else {
        return;
    };
    let dir = support::temp_dir("c14n");
    let out = dir.join("corpus.json");
    let script = support::repo_root().join("interop/c14n/corpus.py");
    let run = Command::new(&python)
        .arg(&script)
        .arg(&out)
        .arg("300")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    assert!(
        run.status.success(),
        "corpus generator failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let corpus: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let cases = corpus["cases"].as_array().unwrap();
    assert!(cases.len() >= 250, "corpus too small: {}", cases.len());
    let limits = Limits {
        max_depth: 256,
        ..Limits::default()
    };
    let mut agree = 0usize;
    let mut failures = Vec::new();
    let mut checks = 0usize;
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let input = case["input"].as_str().unwrap();
        let doc = parse(input, &limits)
            .unwrap_or_else(|e| panic!("{name}: our reader refused the input: {e}\n{input}"));
        let mut el = doc.root_element();
        for i in case["path"].as_array().unwrap() {
            let i = i.as_u64().unwrap() as usize;
            el = el.children().filter(|c| c.is_element()).nth(i).unwrap();
        }
        let inclusive: Vec<String> = case["inclusive"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect();
        let mut ok = true;
        for (with_comments, key) in [(false, "without_comments"), (true, "with_comments")] {
            checks += 1;
            let expected = case[key].as_str().unwrap();
            let opts = C14nOptions {
                with_comments,
                inclusive_prefixes: inclusive.clone(),
                exclude: None,
            };
            let ours = canonicalize(el, &opts).unwrap();
            if ours != expected {
                ok = false;
                failures.push(format!(
                    "case {name} ({key}, path {:?}, inclusive {inclusive:?})\ninput:    {input:?}\nexpected: {expected:?}\nours:     {ours:?}",
                    case["path"]
                ));
            }
        }
        if ok {
            agree += 1;
        }
    }
    println!(
        "exclusive c14n vs libxml2: {agree}/{} documents agree ({checks} canonicalizations)",
        cases.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
