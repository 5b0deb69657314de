//! Signed SAML Responses per second per core, beside the raw RSA-2048 signature rate of the same
//! crypto library, measured in the same run with interleaved rounds.
//!
//! Run: `cargo bench -p saml --bench sign` (release profile). No thresholds here: machines are
//! noisy; compare ratios from one run.
//!
//! What is measured: wall-clock time (`Instant`) of each single operation, on one thread, not
//! pinned to a core. The three kinds (raw signature, Response with a signed assertion, Response
//! with signed response and assertion) are interleaved operation by operation, in a rotating
//! order, so they all see the same machine load. A round is `SAMPLES` operations of each kind;
//! per round and kind the median operation time is taken: an operation preempted by another
//! process lands in the slow tail and does not move the median. The XML overhead of a round is
//! the ratio of that round's medians; over the rounds we report the median and the minimum (the
//! least disturbed round) of these per-round overheads, and their maximum for the spread.

use std::hint::black_box;
use std::time::Instant;

use saml::algorithm::{DigestAlgorithm, SignatureAlgorithm};
use saml::key::{Certificate, SigningKey};
use saml::response::{Attribute, NameId, ResponseParams, build_response};
use time::OffsetDateTime;

/// Measured rounds (after one discarded warm-up round).
const ROUNDS: usize = 41;
/// Operations of each kind timed per round.
const SAMPLES: usize = 250;

/// The 1-minute load average (Linux), to judge how busy the machine was.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
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

    let load_before = load_average();
    // Per-round median seconds per operation: raw signature, 1-signature Response, 2-signature Response.
    let (mut raw, mut one, mut two) = (Vec::new(), Vec::new(), Vec::new());
    let mut n = 0u64;
    for round in 0..=ROUNDS {
        let mut times: [Vec<f64>; 3] = Default::default();
        for i in 0..SAMPLES {
            for k in 0..3 {
                let kind = (k + i + round) % 3;
                n += 1;
                let start = Instant::now();
                match kind {
                    0 => {
                        black_box(key.sign(alg, black_box(&signed_info)).expect("sign"));
                    }
                    _ => {
                        let p = params(n, kind == 2, true);
                        black_box(
                            build_response(&p, &key, &cert, alg, DigestAlgorithm::Sha256)
                                .expect("build"),
                        );
                    }
                }
                times[kind].push(start.elapsed().as_secs_f64());
            }
        }
        if round == 0 {
            continue; // warm-up
        }
        raw.push(median(&times[0]));
        one.push(median(&times[1]));
        two.push(median(&times[2]));
    }
    let over_one: Vec<f64> = raw
        .iter()
        .zip(&one)
        .map(|(r, o)| (o / r - 1.0) * 100.0)
        .collect();
    let over_two: Vec<f64> = raw
        .iter()
        .zip(&two)
        .map(|(r, t)| (t / (2.0 * r) - 1.0) * 100.0)
        .collect();
    let per_s = |v: &[f64]| 1.0 / median(v);
    println!(
        "{ROUNDS} rounds (+1 warm-up) x {SAMPLES} operations of each kind, interleaved op by op; wall time per operation, one unpinned thread"
    );
    println!(
        "1-minute load average: {load_before} before, {} after ({} CPUs)",
        load_average(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "ops/s = 1 / (median over rounds of the per-round median operation time); spread = fastest..slowest round median"
    );
    let line = |label: &str, v: &[f64]| {
        println!(
            "{label} {:9.1}/s   ({:.3} ms per op, rounds {:.3}..{:.3} ms)",
            per_s(v),
            median(v) * 1e3,
            min(v) * 1e3,
            max(v) * 1e3
        );
    };
    line(
        "raw RSA-2048 PKCS#1 SHA-256 signatures (620-byte message):",
        &raw,
    );
    line(
        "signed Responses, assertion signed (1 RSA op):             ",
        &one,
    );
    line(
        "signed Responses, response + assertion signed (2 RSA ops): ",
        &two,
    );
    println!(
        "XML overhead per round = round median Response time / (round median raw signature time x RSA ops) - 1"
    );
    println!(
        "XML overhead, assertion-only: median of rounds {:+.1} %, min of rounds {:+.1} %, max of rounds {:+.1} %",
        median(&over_one),
        min(&over_one),
        max(&over_one)
    );
    println!(
        "XML overhead, both signed:    median of rounds {:+.1} %, min of rounds {:+.1} %, max of rounds {:+.1} %",
        median(&over_two),
        min(&over_two),
        max(&over_two)
    );
}
