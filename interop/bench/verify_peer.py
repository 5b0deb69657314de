#!/usr/bin/env python3
"""Verification rate of third-party SAML SP libraries on Responses made by Gatehouse.

Driven by crates/saml/benches/verify.rs (`cargo bench -p saml --bench verify`), which writes a
directory holding:

  responses.jsonl   one JSON object a line: {"saml_response": base64 POST value, "in_response_to": ID}
  idp_cert.pem      the IdP signing certificate (PEM)
  expect.json       {"idp_entity_id", "sp_entity_id", "acs_url", "sso_url"}

  verify_peer.py DIR [--seconds S] [--slice S] [--impl python3-saml|pysaml2]...

Each library first validates every Response once (not timed; reported as accepted_all), then
validates the Responses in turn (cycling through them), as its SP API does in an ACS
handler, strictly, with settings matching the Responses: python3-saml via
`OneLogin_Saml2_Response(settings, b64).is_valid(request_data, request_id)` (strict; signature by
python-xmlsec in process), pysaml2 via `Saml2Client.parse_authn_request_response` (allow_unsolicited,
assertion signature wanted; pysaml2 starts the xmlsec1 binary once per signature check, that process
is part of its real cost). Every verification must succeed, else the run aborts (exit 2): a rate of
rejections would be meaningless.

The libraries take turns in time slices (--slice seconds each, default 0.25), so they share the
run's machine load equally whatever their speed. Per library we report on stdout, as one JSON object keyed by library name:
  ops, accepted_all (Responses all verified once before timing), wall_s,
  cpu_s (time.process_time: this process only), children_cpu_s (CPU of finished child
  processes, i.e. pysaml2's xmlsec1 runs, from resource.getrusage(RUSAGE_CHILDREN)),
  per_cpu_second = ops / cpu_s, per_cpu_second_with_children = ops / (cpu_s + children_cpu_s),
  per_wall_second = ops / wall_s, median_wall_ms (median single-operation wall time), version.
A library that cannot be imported is reported as {"skipped": reason}. Exit code 0 on success, 2 on
harness failure or any rejected Response (reason on stderr).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
import urllib.parse
import warnings

warnings.filterwarnings("ignore")
logging.disable(logging.CRITICAL)

BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
NAMEID_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
DIGEST_SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
IMPLS = ("python3-saml", "pysaml2")


class HarnessError(Exception):
    """A failure of the harness, its inputs, or a rejected Response."""


def cert_base64(pem: str) -> str:
    lines = [ln.strip() for ln in pem.splitlines() if ln.strip() and not ln.startswith("-----")]
    return "".join(lines)


def idp_metadata(expect: dict, cert_b64: str) -> str:
    return (
        '<?xml version="1.0"?>\n'
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{idp}">'
        '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        '<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}'
        "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
        "<md:NameIDFormat>{nif}</md:NameIDFormat>"
        '<md:SingleSignOnService Binding="{post}" Location="{sso}"/>'
        "</md:IDPSSODescriptor></md:EntityDescriptor>\n"
    ).format(idp=expect["idp_entity_id"], cert=cert_b64, nif=NAMEID_UNSPECIFIED, post=BINDING_POST, sso=expect["sso_url"])


# --------------------------------------------------------------------------- python3-saml


def python3_saml_verifier(expect: dict, cert_b64: str):
    from importlib.metadata import version

    from onelogin.saml2.response import OneLogin_Saml2_Response
    from onelogin.saml2.settings import OneLogin_Saml2_Settings

    settings = OneLogin_Saml2_Settings(
        {
            "strict": True,
            "debug": False,
            "sp": {
                "entityId": expect["sp_entity_id"],
                "assertionConsumerService": {"url": expect["acs_url"], "binding": BINDING_POST},
                "NameIDFormat": NAMEID_UNSPECIFIED,
                "x509cert": "",
                "privateKey": "",
            },
            "idp": {
                "entityId": expect["idp_entity_id"],
                "singleSignOnService": {"url": expect["sso_url"], "binding": BINDING_REDIRECT},
                "x509cert": cert_b64,
            },
            "security": {
                "wantAssertionsSigned": True,
                "wantMessagesSigned": False,
                "wantNameId": True,
                "rejectDeprecatedAlgorithm": True,
                "rejectUnsolicitedResponsesWithInResponseTo": True,
            },
        },
        sp_validation_only=False,
    )
    parts = urllib.parse.urlsplit(expect["acs_url"])
    base_request = {
        "https": "on" if parts.scheme == "https" else "off",
        "http_host": parts.netloc,
        "script_name": parts.path or "/",
        "get_data": {},
    }

    def verify(item: dict) -> None:
        request_data = {**base_request, "post_data": {"SAMLResponse": item["saml_response"]}}
        response = OneLogin_Saml2_Response(settings, item["saml_response"])
        if not response.is_valid(request_data, item["in_response_to"]):
            raise HarnessError(f"python3-saml rejected a Response: {response.get_error()}")
        if not response.get_nameid():
            raise HarnessError("python3-saml accepted a Response but found no NameID")

    return verify, version("python3-saml")


# --------------------------------------------------------------------------- pysaml2


def pysaml2_verifier(expect: dict, cert_b64: str, workdir: str):
    from importlib.metadata import version

    from saml2.client import Saml2Client
    from saml2.config import SPConfig

    xmlsec1 = shutil.which("xmlsec1")
    if not xmlsec1:
        raise ImportError("xmlsec1 not on PATH (pysaml2 verifies with it)")
    md_path = os.path.join(workdir, "idp_metadata.xml")
    with open(md_path, "w", encoding="utf-8") as fh:
        fh.write(idp_metadata(expect, cert_b64))
    conf = SPConfig()
    conf.load(
        {
            "entityid": expect["sp_entity_id"],
            "xmlsec_binary": xmlsec1,
            "metadata": {"local": [md_path]},
            # The Responses are valid for +-1 day; IssueInstant is when the bench built them.
            "accepted_time_diff": 3600,
            "allow_unknown_attributes": True,
            "service": {
                "sp": {
                    "endpoints": {"assertion_consumer_service": [(expect["acs_url"], BINDING_POST)]},
                    "allow_unsolicited": True,
                    "want_assertions_signed": True,
                    "want_response_signed": False,
                    "want_assertions_or_response_signed": True,
                }
            },
        }
    )
    client = Saml2Client(config=conf)

    def verify(item: dict) -> None:
        from saml2 import BINDING_HTTP_POST

        outstanding = {item["in_response_to"]: expect["acs_url"]}
        resp = client.parse_authn_request_response(item["saml_response"], BINDING_HTTP_POST, outstanding=outstanding)
        if resp is None or resp.assertion is None or resp.name_id is None:
            raise HarnessError("pysaml2 returned no verified assertion")

    return verify, version("pysaml2")


# --------------------------------------------------------------------------- measurement


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("--seconds", type=float, default=8.0, help="measured wall time, all libraries together")
    ap.add_argument("--slice", type=float, default=0.25, help="seconds per turn of one library")
    ap.add_argument("--impl", action="append", choices=IMPLS, help="library to measure (default: all)")
    args = ap.parse_args()

    try:
        with open(os.path.join(args.dir, "expect.json"), encoding="utf-8") as fh:
            expect = json.load(fh)
        with open(os.path.join(args.dir, "idp_cert.pem"), encoding="utf-8") as fh:
            cert_b64 = cert_base64(fh.read())
        with open(os.path.join(args.dir, "responses.jsonl"), encoding="utf-8") as fh:
            items = [json.loads(line) for line in fh if line.strip()]
    except (OSError, ValueError, KeyError) as err:
        print(f"cannot read the bench inputs in {args.dir}: {err}", file=sys.stderr)
        return 2
    if not items:
        print("no Responses to verify", file=sys.stderr)
        return 2

    out: dict[str, dict] = {}
    verifiers = {}
    workdir = tempfile.mkdtemp(prefix="verify_peer_")
    try:
        for impl in args.impl or IMPLS:
            try:
                if impl == "python3-saml":
                    verifiers[impl] = python3_saml_verifier(expect, cert_b64)
                else:
                    verifiers[impl] = pysaml2_verifier(expect, cert_b64, workdir)
            except ImportError as err:
                out[impl] = {"skipped": f"{impl} not importable: {err}"}
            except Exception as err:  # configuration failure
                print(f"{impl}: configuration failed: {type(err).__name__}: {err}", file=sys.stderr)
                return 2
        names = list(verifiers)
        stats = {n: {"ops": 0, "wall": [], "cpu": 0.0, "children": 0.0} for n in names}
        try:
            # Warm-up, not counted: every Response once per library (imports, caches, first
            # xmlsec1 start), so each library has accepted all of them whatever the measured run
            # reaches.
            for n in names:
                for item in items:
                    verifiers[n][0](item)
            # Time slices, libraries in turn, so each gets the same share of the run and of the
            # machine's load whatever its speed; Responses cycle within each library.
            deadline = time.perf_counter() + args.seconds
            turn = 0
            while names and time.perf_counter() < deadline:
                n = names[turn % len(names)]
                s = stats[n]
                slice_end = min(deadline, time.perf_counter() + args.slice)
                while time.perf_counter() < slice_end:
                    item = items[s["ops"] % len(items)]
                    c0, ch0, w0 = time.process_time(), children_cpu(), time.perf_counter()
                    verifiers[n][0](item)
                    w1, c1, ch1 = time.perf_counter(), time.process_time(), children_cpu()
                    s["ops"] += 1
                    s["wall"].append(w1 - w0)
                    s["cpu"] += c1 - c0
                    s["children"] += ch1 - ch0
                turn += 1
        except HarnessError as err:
            print(str(err), file=sys.stderr)
            return 2
        for n in names:
            s = stats[n]
            wall = sum(s["wall"])
            out[n] = {
                "version": verifiers[n][1],
                "ops": s["ops"],
                "distinct_responses": min(s["ops"], len(items)),
                "accepted_all": len(items),
                "wall_s": wall,
                "cpu_s": s["cpu"],
                "children_cpu_s": s["children"],
                "per_cpu_second": s["ops"] / s["cpu"] if s["cpu"] > 0 else None,
                "per_cpu_second_with_children": s["ops"] / (s["cpu"] + s["children"])
                if s["cpu"] + s["children"] > 0
                else None,
                "per_wall_second": s["ops"] / wall if wall > 0 else None,
                "median_wall_ms": statistics.median(s["wall"]) * 1e3 if s["wall"] else None,
            }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    json.dump(out, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
