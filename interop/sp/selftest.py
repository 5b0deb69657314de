#!/usr/bin/env python3
"""Self-test of sp_check.py without Gatehouse: pysaml2's own IdP (saml2.server.Server) plays the IdP.

For each SP implementation (pysaml2, python3-saml) it
  - has sp_check build AuthnRequests (redirect and POST binding, unsigned and signed) and checks
    that the pysaml2 IdP accepts them (right Destination, Issuer, ID; signatures verified);
  - has the IdP answer with a signed Response, and checks that `sp_check consume` accepts it
    and reports the NameID, SessionIndex, Issuer and attributes;
  - checks that `consume` rejects: a Response for another SP (audience), a wrong InResponseTo,
    an unsolicited Response when a request id is expected, a Response received at another ACS
    URL, a tampered NameID, a Response signed by an untrusted key, and an unsigned Response;
    and accepts the unsolicited Response with --unsolicited.

Run with the venv interpreter:  .venv/bin/python interop/sp/selftest.py
Prints one line per check and a final 'N passed, N failed' line; exit code 1 on any failure.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import warnings

warnings.filterwarnings("ignore")

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT  # noqa: E402
from saml2.config import IdPConfig, SPConfig  # noqa: E402
from saml2.metadata import create_metadata_string  # noqa: E402
from saml2.saml import NAME_FORMAT_URI, NAMEID_FORMAT_EMAILADDRESS, NameID  # noqa: E402
from saml2.server import Server  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SP_CHECK = os.path.join(HERE, "sp_check.py")
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
DIGEST_SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
PPT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"

IDP = "https://idp.selftest.example/saml/metadata"
SSO_REDIRECT = "https://idp.selftest.example/saml/sso/redirect"
SSO_POST = "https://idp.selftest.example/saml/sso/post"
SP = "https://sp.selftest.example/saml/metadata"
ACS = "https://sp.selftest.example:8443/saml/acs"
OTHER_SP = "https://other-sp.selftest.example/saml/metadata"
USER = "alice@example.org"
MAIL_OID = "urn:oid:0.9.2342.19200300.100.1.3"
GIVEN_NAME_OID = "urn:oid:2.5.4.42"


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name: str, ok: bool, detail: str = "", note: str = "") -> None:
        if ok:
            self.passed += 1
            print(f"PASS {name}" + (f"  [{note}]" if note else ""))
        else:
            self.failed += 1
            print(f"FAIL {name}: {detail}")


def make_key_cert(directory: str, name: str, cn: str) -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_path = os.path.join(directory, f"{name}.key")
    cert_path = os.path.join(directory, f"{name}.crt")
    with open(key_path, "wb") as fh:
        fh.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    with open(cert_path, "wb") as fh:
        fh.write(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def write(directory: str, name: str, text: str) -> str:
    path = os.path.join(directory, name)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path


def sp_metadata(xmlsec: str, entity_id: str, cert: str) -> str:
    conf = SPConfig()
    conf.load(
        {
            "entityid": entity_id,
            "xmlsec_binary": xmlsec,
            "cert_file": cert,
            "service": {
                "sp": {
                    "endpoints": {"assertion_consumer_service": [(ACS, BINDING_HTTP_POST)]},
                    "authn_requests_signed": True,
                }
            },
        }
    )
    return create_metadata_string(None, config=conf).decode("utf-8")


def idp_server(xmlsec: str, key: str, cert: str, sp_metadata_files: list[str], want_signed_requests: bool) -> Server:
    conf = IdPConfig()
    conf.load(
        {
            "entityid": IDP,
            "xmlsec_binary": xmlsec,
            "key_file": key,
            "cert_file": cert,
            "signing_algorithm": RSA_SHA256,
            "digest_algorithm": DIGEST_SHA256,
            "metadata": {"local": sp_metadata_files},
            "service": {
                "idp": {
                    "endpoints": {
                        "single_sign_on_service": [(SSO_REDIRECT, BINDING_HTTP_REDIRECT), (SSO_POST, BINDING_HTTP_POST)]
                    },
                    "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
                    "want_authn_requests_signed": want_signed_requests,
                    "policy": {"default": {"lifetime": {"minutes": 5}, "name_form": NAME_FORMAT_URI}},
                }
            },
        }
    )
    return Server(config=conf)


def sp_check(*args: str) -> dict:
    proc = subprocess.run([sys.executable, SP_CHECK, *args], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"sp_check {' '.join(args[:3])} exited {proc.returncode}: {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def authn_response(server: Server, in_response_to, sp_entity_id: str, sign: bool = True) -> str:
    xml = server.create_authn_response(
        identity={"mail": [USER], "givenName": ["Alice"]},
        in_response_to=in_response_to,
        destination=ACS,
        sp_entity_id=sp_entity_id,
        name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=USER),
        authn={"class_ref": PPT, "authn_auth": IDP},
        sign_response=sign,
        sign_assertion=sign,
        sign_alg=RSA_SHA256,
        digest_alg=DIGEST_SHA256,
    )
    return str(xml)


def main() -> int:
    xmlsec = shutil.which("xmlsec1")
    if not xmlsec:
        print("FAIL setup: xmlsec1 not on PATH")
        print("0 passed, 1 failed")
        return 1
    c = Checks()
    tmp = tempfile.mkdtemp(prefix="sp-check-selftest-")
    try:
        idp_key, idp_cert = make_key_cert(tmp, "idp", "selftest idp")
        rogue_key, rogue_cert = make_key_cert(tmp, "rogue", "selftest idp")
        sp_key, sp_cert = make_key_cert(tmp, "sp", "selftest sp")
        sp_md = write(tmp, "sp.xml", sp_metadata(xmlsec, SP, sp_cert))
        other_md = write(tmp, "other-sp.xml", sp_metadata(xmlsec, OTHER_SP, sp_cert))
        idp = idp_server(xmlsec, idp_key, idp_cert, [sp_md, other_md], want_signed_requests=False)
        idp_strict = idp_server(xmlsec, idp_key, idp_cert, [sp_md, other_md], want_signed_requests=True)
        rogue = idp_server(xmlsec, rogue_key, rogue_cert, [sp_md, other_md], want_signed_requests=False)
        idp_md = write(tmp, "idp.xml", create_metadata_string(None, config=idp.config).decode("utf-8"))
        common = ["--idp-metadata", idp_md, "--sp-entity-id", SP, "--acs-url", ACS]

        for impl in ("pysaml2", "python3-saml"):
            # ---------------------------------------------------------- AuthnRequests
            request_ids = {}
            for binding in ("redirect", "post"):
                for signed in (False, True):
                    label = f"{impl} authn-request {binding}{' signed' if signed else ''}"
                    extra = ["--sign-request", "--sp-key", sp_key, "--sp-cert", sp_cert] if signed else []
                    out = sp_check(
                        "authn-request", "--impl", impl, *common, "--binding", binding, "--force-authn", *extra
                    )
                    server = idp_strict if signed else idp
                    try:
                        if binding == "redirect":
                            url = urllib.parse.urlsplit(out["redirect_url"])
                            query = dict(urllib.parse.parse_qsl(url.query))
                            c.check(
                                f"{label}: goes to the redirect SSO URL",
                                url._replace(query="").geturl() == SSO_REDIRECT,
                                out["redirect_url"],
                            )
                            c.check(f"{label}: signed iff asked", ("Signature" in query) == signed, str(query.keys()))
                            req = server.parse_authn_request(
                                query["SAMLRequest"],
                                BINDING_HTTP_REDIRECT,
                                relay_state=query.get("RelayState"),
                                sigalg=query.get("SigAlg"),
                                signature=query.get("Signature"),
                            )
                        else:
                            xml = base64.b64decode(out["saml_request"]).decode("utf-8")
                            c.check(f"{label}: signed iff asked", ("SignatureValue" in xml) == signed, xml[:200])
                            req = server.parse_authn_request(out["saml_request"], BINDING_HTTP_POST)
                        msg = req.message
                        c.check(f"{label}: IdP accepts it", True)
                        c.check(f"{label}: ID matches", msg.id == out["request_id"], f"{msg.id} != {out['request_id']}")
                        c.check(f"{label}: Issuer is the SP", msg.issuer.text.strip() == SP, msg.issuer.text)
                        c.check(
                            f"{label}: Destination is the SSO URL",
                            msg.destination == (SSO_REDIRECT if binding == "redirect" else SSO_POST),
                            str(msg.destination),
                        )
                        c.check(f"{label}: ForceAuthn", msg.force_authn == "true", str(msg.force_authn))
                        c.check(
                            f"{label}: ACS URL",
                            msg.assertion_consumer_service_url == ACS,
                            str(msg.assertion_consumer_service_url),
                        )
                    except Exception as err:  # the IdP refused the request
                        c.check(f"{label}: IdP accepts it", False, f"{type(err).__name__}: {err}")
                    if not signed:
                        # Proves the signed cases above really had their signature checked.
                        try:
                            if binding == "redirect":
                                query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(out["redirect_url"]).query))
                                idp_strict.parse_authn_request(query["SAMLRequest"], BINDING_HTTP_REDIRECT)
                            else:
                                idp_strict.parse_authn_request(out["saml_request"], BINDING_HTTP_POST)
                            c.check(f"{label}: IdP requiring signatures refuses it", False, "accepted")
                        except Exception as err:
                            c.check(f"{label}: IdP requiring signatures refuses it", True, note=type(err).__name__)
                    request_ids[(binding, signed)] = out["request_id"]

            # ---------------------------------------------------------- Responses
            request_id = request_ids[("redirect", False)]

            def consume(label, xml, *flags, expect_ok, acs=ACS):
                path = write(tmp, f"response-{impl}.b64", base64.b64encode(xml.encode("utf-8")).decode("ascii"))
                args = ["--idp-metadata", idp_md, "--sp-entity-id", SP, "--acs-url", acs]
                out = sp_check("consume", "--impl", impl, *args, "--saml-response-file", path, *flags)
                c.check(f"{impl} consume {label}", out.get("ok") is expect_ok, json.dumps(out), out.get("error", ""))
                return out

            good = authn_response(idp, request_id, SP)
            out = consume(
                "signed response",
                good,
                "--request-id",
                request_id,
                "--want-assertions-signed",
                "--want-response-signed",
                expect_ok=True,
            )
            if out.get("ok"):
                c.check(f"{impl} consume: name_id", out["name_id"] == USER, out["name_id"])
                c.check(
                    f"{impl} consume: name_id_format",
                    out["name_id_format"] == NAMEID_FORMAT_EMAILADDRESS,
                    str(out["name_id_format"]),
                )
                c.check(f"{impl} consume: issuer", out["issuer"] == IDP, str(out["issuer"]))
                c.check(f"{impl} consume: session_index", bool(out["session_index"]), str(out["session_index"]))
                c.check(f"{impl} consume: in_response_to", out["in_response_to"] == request_id, str(out))
                attrs = out["attributes"]
                c.check(f"{impl} consume: mail attribute", attrs.get(MAIL_OID) == [USER], json.dumps(attrs))
                c.check(
                    f"{impl} consume: givenName attribute", attrs.get(GIVEN_NAME_OID) == ["Alice"], json.dumps(attrs)
                )
                c.check(
                    f"{impl} consume: friendly names",
                    out["friendly_attributes"].get("mail") == [USER],
                    json.dumps(out["friendly_attributes"]),
                )
            consume("raw XML file accepted as input", good, "--request-id", request_id, expect_ok=True)

            consume(
                "rejects a response for another SP",
                authn_response(idp, request_id, OTHER_SP),
                "--request-id",
                request_id,
                expect_ok=False,
            )
            consume("rejects a wrong InResponseTo", good, "--request-id", "_not-the-request-id", expect_ok=False)
            consume(
                "rejects a response received at another ACS URL",
                good,
                "--request-id",
                request_id,
                expect_ok=False,
                acs="https://sp.selftest.example:8443/saml/other-acs",
            )
            unsolicited = authn_response(idp, None, SP)
            consume("rejects unsolicited without --unsolicited", unsolicited, "--request-id", request_id, expect_ok=False)
            consume("accepts unsolicited with --unsolicited", unsolicited, "--unsolicited", expect_ok=True)
            tampered = good.replace(f">{USER}</", ">mallory@example.org</")
            c.check(f"{impl} tampering changed the document", tampered != good)
            consume("rejects a tampered NameID", tampered, "--request-id", request_id, expect_ok=False)
            consume(
                "rejects a response signed by an untrusted key",
                authn_response(rogue, request_id, SP),
                "--request-id",
                request_id,
                expect_ok=False,
            )
            consume(
                "rejects an unsigned response",
                authn_response(idp, request_id, SP, sign=False),
                "--request-id",
                request_id,
                expect_ok=False,
            )
    except Exception as err:
        c.check("selftest ran to completion", False, f"{type(err).__name__}: {err}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{c.passed} passed, {c.failed} failed")
    return 0 if c.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
