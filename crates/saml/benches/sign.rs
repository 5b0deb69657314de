//! Signed SAML Responses per second per core, beside the raw RSA-2048 signature rate of the same
//! crypto library, measured in the same run with interleaved rounds.
//!
//! Run: `cargo bench -p saml --bench sign` (release profile). Prints one line per measurement and
//! the XML overhead: how much longer a signed Response takes than the bare RSA operation(s) it needs.
//! No thresholds here: machines are noisy; compare ratios from one run.

use std::hint::black_box;
use std::time::{Duration, Instant};

use saml::algorithm::{DigestAlgorithm, SignatureAlgorithm};
use saml::key::{Certificate, SigningKey};
use saml::response::{Attribute, NameId, ResponseParams, build_response};
use time::OffsetDateTime;

const ROUND: Duration = Duration::from_millis(400);
const ROUNDS: usize = 7;

fn rate(mut op: impl FnMut(u64)) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < ROUND {
        op(n);
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn params(n: u64, sign_response: bool, sign_assertion: bool) -> ResponseParams {
    let now = OffsetDateTime::now_utc();
    ResponseParams {
        response_id: format!("_r{n:032x}"),
        assertion_id: format!("_a{n:032x}"),
        issue_instant: now,
        issuer: "https://idaas.example.com/api/v2/app_bench/saml2/meta".into(),
        destination: "https://sso.example.com/saml/acs/5f0c2e7e-bench".into(),
        in_response_to: Some(format!("_req{n}")),
        audience: "https://sso.example.com/saml/sp/d-bench".into(),
        name_id: NameId {
            format: "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified".into(),
            value: "alice".into(),
            sp_name_qualifier: None,
        },
        subject_not_on_or_after: now + time::Duration::minutes(5),
        not_before: now - time::Duration::minutes(3),
        not_on_or_after: now + time::Duration::minutes(5),
        authn_instant: now,
        session_index: format!("_s{n}"),
        session_not_on_or_after: None,
        authn_context_class_ref:
            "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport".into(),
        attributes: vec![
            Attribute {
                name: "displayName".into(),
                name_format: None,
                friendly_name: None,
                values: vec!["Alice Example".into()],
            },
            Attribute {
                name: "email".into(),
                name_format: None,
                friendly_name: None,
                values: vec!["alice@example.com".into()],
            },
        ],
        sign_response,
        sign_assertion,
    }
}

fn main() {
    let key = SigningKey::generate_rsa(2048).expect("rsa keygen");
    let now = OffsetDateTime::now_utc();
    let cert = Certificate::self_signed(&key, "bench", now, now + time::Duration::days(365))
        .expect("certificate");
    let alg = SignatureAlgorithm::RsaSha256;
    // A message the size of a canonical SignedInfo, so the raw rate includes the same hashing.
    let signed_info = vec![b'x'; 620];

    let sample = build_response(
        &params(0, false, true),
        &key,
        &cert,
        alg,
        DigestAlgorithm::Sha256,
    )
    .expect("response");
    println!("response size (assertion signed): {} bytes", sample.len());

    let (mut raw, mut one, mut two) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        raw.push(rate(|_| {
            black_box(key.sign(alg, black_box(&signed_info)).expect("sign"));
        }));
        one.push(rate(|n| {
            let p = params(n, false, true);
            black_box(
                build_response(&p, &key, &cert, alg, DigestAlgorithm::Sha256).expect("build"),
            );
        }));
        two.push(rate(|n| {
            let p = params(n, true, true);
            black_box(
                build_response(&p, &key, &cert, alg, DigestAlgorithm::Sha256).expect("build"),
            );
        }));
    }
    let (raw, one, two) = (median(raw), median(one), median(two));
    println!("raw RSA-2048 PKCS#1 SHA-256 signatures/s (1 core): {raw:9.1}");
    println!("signed Responses/s, assertion signed (1 RSA op):    {one:9.1}");
    println!("signed Responses/s, response+assertion (2 RSA ops): {two:9.1}");
    println!(
        "XML overhead over the RSA work: assertion-only {:+.1} %, both {:+.1} %",
        (raw / one - 1.0) * 100.0,
        (raw / 2.0 / two - 1.0) * 100.0
    );
}
