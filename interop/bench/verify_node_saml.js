#!/usr/bin/env node
// Verification rate of node-saml (@node-saml/node-saml, the SAML core of passport-saml) on
// Responses made by Gatehouse: the Node.js companion of verify_peer.py.
//
// Driven by crates/saml/benches/verify.rs (`cargo bench -p saml --bench verify`), which writes a
// directory holding:
//
//   responses.jsonl   one JSON object a line: {"saml_response": base64 POST value, "in_response_to": ID}
//   idp_cert.pem      the IdP signing certificate (PEM)
//   expect.json       {"idp_entity_id", "sp_entity_id", "acs_url", "sso_url"}
//
//   node verify_node_saml.js DIR [--seconds S]
//
// node-saml validates the Responses in turn (cycling through them) as its SP API does in an ACS
// handler: `new SAML(options).validatePostResponseAsync({SAMLResponse})` with idpCert, issuer (our
// SP entity ID), callbackUrl (the ACS), audience (the SP entity ID), idpIssuer (the IdP entity ID),
// wantAssertionsSigned: true, wantAuthnResponseSigned: false (Gatehouse signs the assertion only),
// acceptedClockSkewMs (3 minutes, as the Gatehouse ACS) and validateInResponseTo: "never" (node-saml
// would otherwise need its own pending-request cache filled by its own AuthnRequests). Every
// verification must succeed and yield the NameID and the IdP issuer, else the run aborts (exit 2):
// a rate of rejections would be meaningless.
//
// CPU time is that of this whole Node process (process.cpuUsage(): user + system, all of its
// threads, so garbage collection and libuv threads count), summed over the verifications only.
// Prints on stdout one JSON object keyed by "node-saml" with the fields verify_peer.py reports:
//   ops, distinct_responses, accepted_all (Responses all verified once before timing), wall_s,
//   cpu_s, children_cpu_s (always 0: no child processes), per_cpu_second,
//   per_cpu_second_with_children, per_wall_second, median_wall_ms, version, node (its version).
// If @node-saml/node-saml cannot be loaded it prints {"node-saml": {"skipped": reason}} and exits 0.
// Exit code 0 on success, 2 on harness failure or any rejected Response (reason on stderr).

"use strict";

const fs = require("fs");
const path = require("path");

const NAME = "node-saml";

function parseArgs(argv) {
  const args = { dir: null, seconds: 8.0 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--seconds") {
      args.seconds = Number(argv[++i]);
      if (!(args.seconds > 0)) throw new Error("--seconds wants a positive number");
    } else if (a.startsWith("--")) {
      throw new Error(`unknown option ${a}`);
    } else if (args.dir === null) {
      args.dir = a;
    } else {
      throw new Error(`unexpected argument ${a}`);
    }
  }
  if (args.dir === null) throw new Error("usage: verify_node_saml.js DIR [--seconds S]");
  return args;
}

function cpuSeconds() {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1e-6;
}

function nowSeconds() {
  return Number(process.hrtime.bigint()) * 1e-9;
}

function median(values) {
  const v = [...values].sort((a, b) => a - b);
  const n = v.length;
  if (n === 0) return null;
  return n % 2 === 1 ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err.message}\n`);
    return 2;
  }

  let expect, certPem, items;
  try {
    expect = JSON.parse(fs.readFileSync(path.join(args.dir, "expect.json"), "utf8"));
    certPem = fs.readFileSync(path.join(args.dir, "idp_cert.pem"), "utf8");
    items = fs
      .readFileSync(path.join(args.dir, "responses.jsonl"), "utf8")
      .split("\n")
      .filter((line) => line.trim())
      .map((line) => JSON.parse(line));
    for (const key of ["idp_entity_id", "sp_entity_id", "acs_url"]) {
      if (typeof expect[key] !== "string") throw new Error(`expect.json lacks ${key}`);
    }
  } catch (err) {
    process.stderr.write(`cannot read the bench inputs in ${args.dir}: ${err.message}\n`);
    return 2;
  }
  if (items.length === 0) {
    process.stderr.write("no Responses to verify\n");
    return 2;
  }

  let SAML, version;
  try {
    ({ SAML } = require("@node-saml/node-saml"));
    version = require("@node-saml/node-saml/package.json").version;
  } catch (err) {
    process.stdout.write(
      JSON.stringify({ [NAME]: { skipped: `@node-saml/node-saml not loadable: ${err.message}` } }) +
        "\n",
    );
    return 0;
  }

  let saml;
  try {
    saml = new SAML({
      idpCert: certPem,
      issuer: expect.sp_entity_id,
      callbackUrl: expect.acs_url,
      entryPoint: expect.sso_url,
      audience: expect.sp_entity_id,
      idpIssuer: expect.idp_entity_id,
      wantAssertionsSigned: true,
      wantAuthnResponseSigned: false,
      acceptedClockSkewMs: 3 * 60 * 1000,
      validateInResponseTo: "never",
    });
  } catch (err) {
    process.stderr.write(`${NAME}: configuration failed: ${err.name}: ${err.message}\n`);
    return 2;
  }

  const verify = async (item) => {
    let result;
    try {
      result = await saml.validatePostResponseAsync({ SAMLResponse: item.saml_response });
    } catch (err) {
      throw new Error(`${NAME} rejected a Response: ${err.message}`);
    }
    const profile = result && result.profile;
    if (!profile || !profile.nameID) {
      throw new Error(`${NAME} accepted a Response but returned no NameID`);
    }
    if (profile.issuer !== expect.idp_entity_id) {
      throw new Error(`${NAME} returned issuer ${profile.issuer}, expected ${expect.idp_entity_id}`);
    }
  };

  const wall = [];
  let ops = 0;
  let cpu = 0;
  try {
    // Every Response once, not counted: all must verify, and the JIT warms up.
    for (const item of items) await verify(item);
    const deadline = nowSeconds() + args.seconds;
    while (nowSeconds() < deadline) {
      const item = items[ops % items.length];
      const c0 = cpuSeconds();
      const w0 = nowSeconds();
      await verify(item);
      const w1 = nowSeconds();
      const c1 = cpuSeconds();
      ops += 1;
      wall.push(w1 - w0);
      cpu += c1 - c0;
    }
  } catch (err) {
    process.stderr.write(`${err.message}\n`);
    return 2;
  }
  const wallS = wall.reduce((a, b) => a + b, 0);
  const med = median(wall);
  const out = {
    [NAME]: {
      version,
      node: process.versions.node,
      ops,
      distinct_responses: Math.min(ops, items.length),
      accepted_all: items.length,
      wall_s: wallS,
      cpu_s: cpu,
      children_cpu_s: 0,
      per_cpu_second: cpu > 0 ? ops / cpu : null,
      per_cpu_second_with_children: cpu > 0 ? ops / cpu : null,
      per_wall_second: wallS > 0 ? ops / wallS : null,
      median_wall_ms: med === null ? null : med * 1e3,
    },
  };
  process.stdout.write(JSON.stringify(out) + "\n");
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`harness failure: ${err && err.stack ? err.stack : err}\n`);
    process.exitCode = 2;
  },
);
