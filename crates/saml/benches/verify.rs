//! ACS verifications per second per core, beside the raw RSA-2048 verification rate of the same
//! crypto library and beside third-party SP libraries (python3-saml, pysaml2) verifying the very
//! same Responses in the same run.
//!
//! Run: `cargo bench -p saml --bench verify` (release profile). No thresholds here: machines are
//! noisy; compare ratios from one run.
//!
//! The input: one IdP key (RSA-2048) and `RESPONSES` distinct Responses built with
//! [`build_response`] like a real SP-initiated login (assertion signed, RSA-SHA256, SHA-256
//! digests, six attributes, one of them multi-valued), valid from one day before to one day after
//! the moment they were built, so no clock matters. An "ACS verification" is what an ACS handler
//! does with the `SAMLResponse` form value: [`decode_post`] (base64) and [`validate_response`]
//! with the expected `InResponseTo`, a fixed `now` and the IdP certificate. The replay cache
//! belongs to the caller, so validating one Response many times is legitimate.
//!
//! What is measured, three ways:
//! 1. Wall-clock time (`Instant`) of each single operation, on one unpinned thread: raw RSA
//!    verifications and ACS verifications interleaved operation by operation in a rotating order,
//!    `SAMPLES` of each kind per round; per round and kind the median operation time (an
//!    operation preempted by another process lands in the slow tail and does not move it). We
//!    report 1 / (median over rounds of those medians), with the fastest and slowest round.
//! 2. CPU time of this thread (Linux `/proc/thread-self/schedstat`) over `CPU_PASSES` passes
//!    through all Responses: verifications per CPU-second, the peers' unit.
//! 3. The peers: `interop/bench/verify_peer.py` run with the venv Python (`GATEHOUSE_PYTHON`, else
//!    `<repo>/.venv/bin/python`) on the same Responses for `PEER_SECONDS`, libraries taking turns in
//!    0.25 s slices. Their verifications per CPU-second use `time.process_time()`, which does NOT include
//!    child processes: pysaml2 starts the `xmlsec1` binary for every signature check, so for it we
//!    also show the rate counting the children's CPU (from `getrusage(RUSAGE_CHILDREN)`) and the
//!    wall-clock rate. Then `interop/bench/verify_node_saml.js` runs node-saml
//!    (`@node-saml/node-saml` from `interop/node_modules`, installed by `npm ci` in `interop/`) with
//!    `node` (`GATEHOUSE_NODE`, else `node` on PATH) for `NODE_SECONDS` (the share one Python
//!    library gets), its CPU being that of the whole Node process (`process.cpuUsage()`).
//!
//! Every peer first verifies all `RESPONSES` Responses once, untimed, and the bench fails if any
//! peer rejects one or reports fewer (a rate of rejections would be meaningless). A missing Python,
//! Node, `node_modules` or library is reported as SKIP, or fails the bench under
//! `GATEHOUSE_REQUIRE_PEERS=1`.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use saml::algorithm::{AlgorithmPolicy, DigestAlgorithm, SignatureAlgorithm};
use saml::binding::{decode_post, encode_post};
use saml::key::{Certificate, SigningKey};
use saml::response::{
    Attribute, NameId, ResponseParams, SpExpectations, build_response, validate_response,
};
use time::{Duration, OffsetDateTime};

/// Distinct signed Responses.
const RESPONSES: usize = 200;
/// Measured rounds (after one discarded warm-up round).
const ROUNDS: usize = 21;
/// Operations of each kind timed per round (one pass through the Responses).
const SAMPLES: usize = RESPONSES;
/// Passes through all Responses for the CPU-time figure.
const CPU_PASSES: usize = 10;
/// Wall seconds the peer script measures (all libraries together).
const PEER_SECONDS: &str = "10";
/// Wall seconds the node-saml script measures (one Python library's share of `PEER_SECONDS`).
const NODE_SECONDS: &str = "5";
/// The peers, in the order printed: (report key, which script measures it).
const PEERS: [&str; 3] = ["python3-saml", "pysaml2", "node-saml"];

const IDP: &str = "https://idaas.example.com/api/v2/app_bench/saml2/meta";
const SSO: &str = "https://idaas.example.com/api/v2/app_bench/saml2/sso";
const SP: &str = "https://sso.example.com/saml/sp/d-bench";
const ACS: &str = "https://sso.example.com/saml/acs/5f0c2e7e-bench";

/// The 1-minute load average (Linux), to judge how busy the machine was.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

/// CPU time this thread has run, in seconds (Linux only).
fn thread_cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 * 1e-9)
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

fn attr(name: &str, friendly: &str, values: &[&str]) -> Attribute {
    Attribute {
        name: name.into(),
        name_format: Some("urn:oasis:names:tc:SAML:2.0:attrname-format:uri".into()),
        friendly_name: Some(friendly.into()),
        values: values.iter().map(|v| (*v).to_owned()).collect(),
    }
}

fn params(n: usize, now: OffsetDateTime) -> ResponseParams {
    let user = format!("user{n:04}");
    ResponseParams {
        response_id: format!("_r{n:032x}"),
        assertion_id: format!("_a{n:032x}"),
        issue_instant: now,
        issuer: IDP.into(),
        destination: ACS.into(),
        in_response_to: Some(request_id(n)),
        audience: SP.into(),
        name_id: NameId {
            format: "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified".into(),
            value: user.clone(),
            sp_name_qualifier: None,
        },
        subject_not_on_or_after: now + Duration::days(1),
        not_before: now - Duration::days(1),
        not_on_or_after: now + Duration::days(1),
        authn_instant: now,
        session_index: format!("_s{n:016x}"),
        session_not_on_or_after: Some(now + Duration::hours(8)),
        authn_context_class_ref:
            "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport".into(),
        attributes: vec![
            attr("urn:oid:0.9.2342.19200300.100.1.1", "uid", &[&user]),
            attr(
                "urn:oid:0.9.2342.19200300.100.1.3",
                "mail",
                &[&format!("{user}@example.com")],
            ),
            attr("urn:oid:2.5.4.42", "givenName", &["User"]),
            attr("urn:oid:2.5.4.4", "sn", &[&format!("Number {n}")]),
            attr(
                "urn:oid:2.16.840.1.113730.3.1.241",
                "displayName",
                &[&format!("User Number {n}")],
            ),
            attr(
                "urn:oid:1.3.6.1.4.1.5923.1.5.1.1",
                "isMemberOf",
                &["staff", "engineering", "vpn-users"],
            ),
        ],
        sign_response: false,
        sign_assertion: true,
    }
}

fn request_id(n: usize) -> String {
    format!("_req{n:030x}")
}

/// The SP side of one login: the IdP certificate, the pending request, a fixed `now`.
fn expectations<'a>(
    trusted: &'a [Certificate],
    in_response_to: &'a str,
    now: OffsetDateTime,
) -> SpExpectations<'a> {
    SpExpectations {
        idp_entity_id: IDP,
        sp_entity_id: SP,
        acs_url: ACS,
        trusted_certs: trusted,
        policy: AlgorithmPolicy::STRICT,
        now,
        max_skew: Duration::minutes(3),
        expected_in_response_to: Some(in_response_to),
        allow_unsolicited: false,
        require_signed_assertion: true,
        decryption_keys: &[],
    }
}

/// The venv Python the interop tests use, or why there is none.
fn python() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("GATEHOUSE_PYTHON") {
        return Ok(PathBuf::from(p));
    }
    let venv = repo_root().join(".venv/bin/python");
    if venv.exists() {
        Ok(venv)
    } else {
        Err(format!(
            "GATEHOUSE_PYTHON is unset and {} does not exist",
            venv.display()
        ))
    }
}

/// Whether a missing peer must fail the bench instead of being skipped.
fn peers_required() -> bool {
    std::env::var("GATEHOUSE_REQUIRE_PEERS").as_deref() == Ok("1")
}

/// A peer cannot run: the reason to print as SKIP, or a panic under `GATEHOUSE_REQUIRE_PEERS=1`.
fn missing_peer(why: String) -> String {
    assert!(!peers_required(), "GATEHOUSE_REQUIRE_PEERS=1 but {why}");
    why
}

/// The `node` binary for the node-saml peer, or why there is none.
fn node() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("GATEHOUSE_NODE") {
        return Ok(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("node"))
        .find(|p| p.is_file())
        .ok_or_else(|| "GATEHOUSE_NODE is unset and no `node` on PATH".to_owned())
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The peers' input directory, removed when dropped (also when a peer fails the bench).
struct InputDir(PathBuf);

impl Drop for InputDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes the Responses, the IdP certificate and the SP expectations for the peer script.
fn write_inputs(dir: &Path, responses: &[(String, String)], cert: &Certificate) {
    std::fs::create_dir_all(dir).expect("temp dir");
    let mut lines = String::new();
    for (b64, irt) in responses {
        lines.push_str(
            &serde_json::json!({"saml_response": b64, "in_response_to": irt}).to_string(),
        );
        lines.push('\n');
    }
    std::fs::write(dir.join("responses.jsonl"), lines).expect("write responses");
    std::fs::write(dir.join("idp_cert.pem"), cert.to_pem()).expect("write cert");
    let expect = serde_json::json!({
        "idp_entity_id": IDP, "sp_entity_id": SP, "acs_url": ACS, "sso_url": SSO,
    });
    std::fs::write(dir.join("expect.json"), expect.to_string()).expect("write expectations");
}

/// Runs one peer script. `Err` = the peer cannot run (SKIP); a script that runs and fails (a
/// rejected Response, a harness error) fails the bench.
fn run_script(program: &Path, args: &[&std::ffi::OsStr]) -> Result<serde_json::Value, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| missing_peer(format!("cannot run {}: {e}", program.display())))?;
    assert!(
        out.status.success(),
        "peer {} {:?} exited with {} (a rejected Response or a harness failure): {}",
        program.display(),
        args,
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "peer {} printed no JSON ({e}): {}",
            program.display(),
            String::from_utf8_lossy(&out.stdout)
        )
    });
    Ok(report)
}

/// Runs the Python peer script (python3-saml, pysaml2); its JSON report, or why it cannot run.
fn run_python_peers(dir: &Path) -> Result<serde_json::Value, String> {
    let python = python().map_err(missing_peer)?;
    let script = repo_root().join("interop/bench/verify_peer.py");
    run_script(
        &python,
        &[
            script.as_os_str(),
            dir.as_os_str(),
            "--seconds".as_ref(),
            PEER_SECONDS.as_ref(),
        ],
    )
}

/// Runs the node-saml peer script; its JSON report, or why it cannot run.
fn run_node_saml(dir: &Path) -> Result<serde_json::Value, String> {
    let node = node().map_err(missing_peer)?;
    let interop = repo_root().join("interop");
    let module = interop.join("node_modules/@node-saml/node-saml/package.json");
    if !module.exists() {
        return Err(missing_peer(format!(
            "{} is absent (run `npm ci` in {})",
            module.display(),
            interop.display()
        )));
    }
    let script = interop.join("bench/verify_node_saml.js");
    run_script(
        &node,
        &[
            script.as_os_str(),
            dir.as_os_str(),
            "--seconds".as_ref(),
            NODE_SECONDS.as_ref(),
        ],
    )
}

fn main() {
    let key = SigningKey::generate_rsa(2048).expect("rsa keygen");
    let built = OffsetDateTime::now_utc();
    let cert = Certificate::self_signed(
        &key,
        "bench-idp",
        built - Duration::days(1),
        built + Duration::days(365),
    )
    .expect("certificate");
    let alg = SignatureAlgorithm::RsaSha256;

    // (base64 POST value, InResponseTo)
    let responses: Vec<(String, String)> = (0..RESPONSES)
        .map(|n| {
            let xml = build_response(&params(n, built), &key, &cert, alg, DigestAlgorithm::Sha256)
                .expect("response");
            (encode_post(&xml), request_id(n))
        })
        .collect();
    let trusted = [cert.clone()];
    // What an ACS handler does with the form value.
    // Fixed, inside every Response's window.
    let now = built + Duration::seconds(1);
    let acs = |(b64, irt): &(String, String)| {
        let xml = decode_post(b64).expect("base64");
        validate_response(&xml, &expectations(&trusted, irt, now)).expect("valid Response")
    };
    // Check every Response verifies and carries what was signed.
    for (n, r) in responses.iter().enumerate() {
        let v = acs(r);
        assert_eq!(v.name_id.value, format!("user{n:04}"));
        assert_eq!(v.attributes.len(), 6);
        assert!(v.signed.assertion);
    }
    let xml_len = decode_post(&responses[0].0).expect("base64").len();
    println!(
        "{RESPONSES} distinct Responses, assertion signed (RSA-2048, RSA-SHA256, SHA-256), 6 attributes: {xml_len} bytes XML, {} bytes base64",
        responses[0].0.len()
    );

    // Raw verification of a message the size of a canonical SignedInfo, for scale.
    let signed_info = vec![b'x'; 620];
    let raw_sig = key.sign(alg, &signed_info).expect("sign");
    cert.verify_signature(alg, &signed_info, &raw_sig)
        .expect("raw verify");

    let load_before = load_average();
    // Per-round median seconds per operation: raw RSA verify, ACS verification.
    let (mut raw, mut full) = (Vec::new(), Vec::new());
    for round in 0..=ROUNDS {
        let mut times: [Vec<f64>; 2] = Default::default();
        for (i, r) in responses.iter().enumerate().take(SAMPLES) {
            for k in 0..2 {
                let kind = (k + i + round) % 2;
                let start = Instant::now();
                if kind == 0 {
                    cert.verify_signature(alg, black_box(&signed_info), black_box(&raw_sig))
                        .expect("raw verify");
                } else {
                    black_box(acs(black_box(r)));
                }
                times[kind].push(start.elapsed().as_secs_f64());
            }
        }
        if round == 0 {
            continue; // warm-up
        }
        raw.push(median(&times[0]));
        full.push(median(&times[1]));
    }
    let overhead: Vec<f64> = raw
        .iter()
        .zip(&full)
        .map(|(r, f)| (f / r - 1.0) * 100.0)
        .collect();

    // Verifications per CPU-second of this thread, all Responses in turn.
    let cpu0 = thread_cpu_seconds();
    let wall0 = Instant::now();
    for _ in 0..CPU_PASSES {
        for r in &responses {
            black_box(acs(black_box(r)));
        }
    }
    let wall = wall0.elapsed().as_secs_f64();
    let ops = (CPU_PASSES * RESPONSES) as f64;
    let ours_cpu_rate = match (cpu0, thread_cpu_seconds()) {
        (Some(a), Some(b)) if b > a => Some(ops / (b - a)),
        _ => None,
    };
    let ours_wall_rate = ops / wall;
    let load_mid = load_average();

    println!(
        "Gatehouse: {ROUNDS} rounds (+1 warm-up) x {SAMPLES} operations of each kind, interleaved op by op; wall time per operation, one unpinned thread"
    );
    println!(
        "ops/s = 1 / (median over rounds of the per-round median operation time); spread = fastest..slowest round median"
    );
    let line = |label: &str, v: &[f64]| {
        println!(
            "{label} {:9.1}/s   ({:.3} ms per op, rounds {:.3}..{:.3} ms)",
            1.0 / median(v),
            median(v) * 1e3,
            min(v) * 1e3,
            max(v) * 1e3
        );
    };
    line(
        "raw RSA-2048 PKCS#1 SHA-256 verifications (aws-lc-rs):",
        &raw,
    );
    line(
        "ACS verifications (decode_post + validate_response):  ",
        &full,
    );
    println!(
        "XML overhead per round = round median ACS time / round median raw verify time - 1: median {:+.0} %, min {:+.0} %, max {:+.0} %",
        median(&overhead),
        min(&overhead),
        max(&overhead)
    );
    match ours_cpu_rate {
        Some(r) => println!(
            "ACS verifications per CPU-second (thread CPU, {CPU_PASSES} passes x {RESPONSES}): {r:.1}/s (wall {ours_wall_rate:.1}/s)"
        ),
        None => println!(
            "ACS verifications per CPU-second: unavailable (no /proc/thread-self/schedstat); wall {ours_wall_rate:.1}/s"
        ),
    }

    // The peers, on the same Responses.
    let dir = InputDir(
        std::env::temp_dir().join(format!("gatehouse-verify-bench-{}", std::process::id())),
    );
    write_inputs(&dir.0, &responses, &cert);
    let python_peers = run_python_peers(&dir.0);
    let node_peers = run_node_saml(&dir.0);
    drop(dir);
    let load_after = load_average();
    println!(
        "1-minute load average: {load_before} before, {load_mid} after Gatehouse, {load_after} after peers ({} CPUs)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let ours = ours_cpu_rate.unwrap_or(1.0 / median(&full));
    let ours_label = if ours_cpu_rate.is_some() {
        "per CPU-second"
    } else {
        "per second (wall, per-op median)"
    };
    println!();
    println!(
        "Same Responses, verifications per second on one core (ratio = Gatehouse {ours_label} / peer):"
    );
    println!(
        "  {:<44} {:>10.1}/s CPU  {:>10.1}/s wall",
        "Gatehouse (saml crate)", ours, ours_wall_rate
    );
    let num = |v: &serde_json::Value, k: &str| v.get(k).and_then(serde_json::Value::as_f64);
    let mut measured = 0;
    for name in PEERS {
        let report = if name == "node-saml" {
            &node_peers
        } else {
            &python_peers
        };
        let p = match report {
            Ok(r) => r.get(name),
            Err(why) => {
                println!("  SKIP {name}: {why}");
                continue;
            }
        };
        let Some(p) = p else {
            println!(
                "  SKIP {name}: {}",
                missing_peer(format!("{name} is not in the peer report"))
            );
            continue;
        };
        if let Some(why) = p.get("skipped").and_then(|s| s.as_str()) {
            println!("  SKIP {name}: {}", missing_peer(why.to_owned()));
            continue;
        }
        let accepted = num(p, "accepted_all").unwrap_or(0.0);
        assert!(
            accepted == RESPONSES as f64,
            "{name} verified {accepted} of the {RESPONSES} Responses before timing: {p}"
        );
        measured += 1;
        let version = p.get("version").and_then(|s| s.as_str()).unwrap_or("?");
        let ops = num(p, "ops").unwrap_or(0.0);
        let label = format!("{name} {version} ({ops:.0} ops)");
        let (Some(cpu), Some(wall)) = (num(p, "per_cpu_second"), num(p, "per_wall_second")) else {
            panic!("{name}: no rates in the peer report: {p}");
        };
        println!(
            "  {label:<44} {cpu:>10.1}/s CPU  {wall:>10.1}/s wall   ratio {:.0}x (CPU), {:.0}x (wall vs our wall)",
            ours / cpu,
            ours_wall_rate / wall
        );
        if let (Some(with), Some(children)) = (
            num(p, "per_cpu_second_with_children"),
            num(p, "children_cpu_s"),
        ) && children > 0.0
        {
            println!(
                "  {:<44} {with:>10.1}/s CPU incl. child processes ({children:.2} s of xmlsec1 CPU not in process_time)   ratio {:.0}x",
                format!("{name}, counting its xmlsec1 runs"),
                ours / with
            );
        }
    }
    if measured == 0 {
        return;
    }
    println!(
        "Every peer verified all {RESPONSES} Responses once before timing. Python peers: CPU = time.process_time() of the Python process (excludes child processes); wall = sum of perf_counter per op; libraries took turns in 0.25 s slices for {PEER_SECONDS} s. node-saml: CPU = process.cpuUsage() of the node process (all its threads), {NODE_SECONDS} s alone after the Python peers."
    );
}
