#!/usr/bin/env python3
"""Drive third-party SAML 2.0 Service Provider libraries against a Gatehouse IdP.

Two implementations we did not write play the SP: pysaml2 (`--impl pysaml2`, verifies with the
xmlsec1 CLI) and OneLogin python3-saml (`--impl python3-saml`, verifies with python xmlsec).

Sub-commands (see interop/sp/README.md):

  authn-request  let the library build an AuthnRequest for the IdP found in the IdP metadata;
                 prints {"request_id", "redirect_url"} (redirect binding) or
                 {"request_id", "saml_request", "relay_state"} (POST binding), plus "sso_url".
  consume        let the library validate a base64 SAMLResponse (HTTP-POST form value) strictly;
                 prints {"ok": true, "name_id", "name_id_format", "session_index", "attributes",
                 "friendly_attributes", "issuer", "in_response_to"} or {"ok": false, "error"}.

Exit code 0 whenever the library produced a verdict (accepted or rejected); 2 for harness
failures (bad arguments, unreadable files, IdP metadata the library cannot be configured with),
with the reason on stderr. Only JSON is written to stdout.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import html.parser
import json
import logging
import shutil
import sys
import urllib.parse
import warnings

BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
BINDINGS = {"redirect": BINDING_REDIRECT, "post": BINDING_POST}
NAMEID_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
DIGEST_SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"


class HarnessError(Exception):
    """A failure of the harness or its inputs, not a verdict of the library."""


def read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError as err:
        raise HarnessError(f"cannot read {path}: {err}") from err


def xmlsec1_binary() -> str:
    path = shutil.which("xmlsec1")
    if not path:
        raise HarnessError("xmlsec1 not found on PATH (pysaml2 needs it)")
    return path


class _ErrorLog(logging.Handler):
    """Keeps the library's ERROR log lines: pysaml2 reports some rejections only there."""

    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def describe(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


# --------------------------------------------------------------------------- pysaml2


def pysaml2_client(args, *, sign=False, unsolicited=False, want_assertions=False, want_response=False):
    from saml2.client import Saml2Client
    from saml2.config import SPConfig

    sp = {
        "endpoints": {"assertion_consumer_service": [(args.acs_url, BINDING_POST)]},
        "allow_unsolicited": unsolicited,
        "authn_requests_signed": sign,
        "want_assertions_signed": want_assertions,
        "want_response_signed": want_response,
        # Reject a Response in which neither the Response nor the Assertion is signed, even
        # when neither --want-* flag is given (python3-saml always does this).
        "want_assertions_or_response_signed": True,
    }
    name_id_format = getattr(args, "name_id_format", None)
    if name_id_format:
        sp["name_id_format"] = [name_id_format]
    cfg = {
        "entityid": args.sp_entity_id,
        "xmlsec_binary": xmlsec1_binary(),
        "metadata": {"local": [args.idp_metadata]},
        "accepted_time_diff": args.clock_skew,
        "allow_unknown_attributes": True,
        "signing_algorithm": RSA_SHA256,
        "digest_algorithm": DIGEST_SHA256,
        "service": {"sp": sp},
    }
    if sign:
        cfg["key_file"] = args.sp_key
        cfg["cert_file"] = args.sp_cert
    try:
        conf = SPConfig()
        conf.load(cfg)
        client = Saml2Client(config=conf)
    except Exception as err:  # configuration, not a verdict
        raise HarnessError(f"pysaml2 configuration failed: {describe(err)}") from err
    idps = list(client.metadata.identity_providers())
    if len(idps) != 1:
        raise HarnessError(f"expected exactly one IdP in {args.idp_metadata}, pysaml2 found {idps}")
    return client, idps[0]


class _FormInputs(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.values: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        if tag == "input":
            a = dict(attrs)
            if a.get("name"):
                self.values[a["name"]] = a.get("value") or ""


def pysaml2_authn_request(args) -> dict:
    binding = BINDINGS[args.binding]
    client, idp = pysaml2_client(args, sign=args.sign_request)
    try:
        sso_url = client.metadata.single_sign_on_service(idp, binding)[0]["location"]
    except Exception as err:
        raise HarnessError(f"IdP metadata has no SingleSignOnService for {binding}") from err
    extra = {"force_authn": "true"} if args.force_authn else {}
    try:
        request_id, info = client.prepare_for_authenticate(
            entityid=idp,
            relay_state=args.relay_state,
            binding=binding,
            nameid_format=args.name_id_format,
            sign=args.sign_request,
            sigalg=RSA_SHA256 if args.sign_request else None,
            digest_alg=DIGEST_SHA256 if args.sign_request else None,
            **extra,
        )
    except Exception as err:
        raise HarnessError(f"pysaml2 could not build the AuthnRequest: {describe(err)}") from err
    out = {"impl": "pysaml2", "request_id": request_id, "sso_url": sso_url}
    if binding == BINDING_REDIRECT:
        out["redirect_url"] = dict(info["headers"])["Location"]
    else:
        form = _FormInputs()
        form.feed(info["data"])
        if "SAMLRequest" not in form.values:
            raise HarnessError("pysaml2 POST form has no SAMLRequest input")
        out["saml_request"] = form.values["SAMLRequest"]
        out["relay_state"] = form.values.get("RelayState", "")
    return out


def pysaml2_consume(args, saml_response: str) -> dict:
    client, _idp = pysaml2_client(
        args,
        unsolicited=args.unsolicited,
        want_assertions=args.want_assertions_signed,
        want_response=args.want_response_signed,
    )
    outstanding = {} if args.unsolicited else {args.request_id: args.acs_url}
    log = _ErrorLog()
    saml2_logger = logging.getLogger("saml2")
    saml2_logger.addHandler(log)
    try:
        resp = client.parse_authn_request_response(saml_response, BINDING_POST, outstanding=outstanding)
    except Exception as err:
        return {"ok": False, "impl": "pysaml2", "error": describe(err)}
    finally:
        saml2_logger.removeHandler(log)
    if resp is None or resp.assertion is None:
        logged = "; ".join(log.lines) or "no reason logged"
        return {"ok": False, "impl": "pysaml2", "error": f"pysaml2 returned no verified response ({logged})"}
    assertion = resp.assertion
    attributes: dict[str, list] = {}
    friendly: dict[str, list] = {}
    for statement in assertion.attribute_statement or []:
        for attr in statement.attribute or []:
            values = [v.text for v in attr.attribute_value or []]
            attributes.setdefault(attr.name, []).extend(values)
            if attr.friendly_name:
                friendly.setdefault(attr.friendly_name, []).extend(values)
    name_id = resp.name_id
    authn = assertion.authn_statement[0] if assertion.authn_statement else None
    issuer = resp.issuer() or (assertion.issuer.text.strip() if assertion.issuer is not None else None)
    return {
        "ok": True,
        "impl": "pysaml2",
        "name_id": name_id.text.strip() if name_id is not None and name_id.text else None,
        "name_id_format": name_id.format if name_id is not None else None,
        "session_index": authn.session_index if authn is not None else None,
        "attributes": attributes,
        "friendly_attributes": friendly,
        "issuer": issuer,
        "in_response_to": resp.in_response_to,
    }


# --------------------------------------------------------------------------- python3-saml


def onelogin_settings(args, sso_bindings, *, sign=False, want_assertions=False, want_response=False):
    from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
    from onelogin.saml2.settings import OneLogin_Saml2_Settings

    metadata = read_text(args.idp_metadata)
    parsed = None
    for binding in sso_bindings:
        try:
            candidate = OneLogin_Saml2_IdPMetadataParser.parse(metadata, required_sso_binding=binding)
        except Exception as err:
            raise HarnessError(f"python3-saml cannot parse {args.idp_metadata}: {describe(err)}") from err
        if "singleSignOnService" in candidate.get("idp", {}):
            parsed = candidate
            break
    if parsed is None:
        raise HarnessError(f"IdP metadata has no IDPSSODescriptor/SingleSignOnService for {sso_bindings}")

    name_id_format = (
        getattr(args, "name_id_format", None) or parsed.get("sp", {}).get("NameIDFormat") or NAMEID_UNSPECIFIED
    )
    sp = {
        "entityId": args.sp_entity_id,
        "assertionConsumerService": {"url": args.acs_url, "binding": BINDING_POST},
        "NameIDFormat": name_id_format,
        "x509cert": "",
        "privateKey": "",
    }
    if sign:
        sp["x509cert"] = read_text(args.sp_cert)
        sp["privateKey"] = read_text(args.sp_key)
    security = {
        "authnRequestsSigned": sign,
        "wantAssertionsSigned": want_assertions,
        "wantMessagesSigned": want_response,
        "wantNameId": True,
        "signatureAlgorithm": RSA_SHA256,
        "digestAlgorithm": DIGEST_SHA256,
        "rejectDeprecatedAlgorithm": True,
        # python3-saml's default: RequestedAuthnContext PasswordProtectedTransport (exact).
        "requestedAuthnContext": not getattr(args, "no_requested_authn_context", False),
    }
    settings = {"strict": True, "debug": False, "sp": sp, "idp": parsed["idp"], "security": security}
    try:
        return OneLogin_Saml2_Settings(settings, sp_validation_only=False)
    except Exception as err:
        raise HarnessError(f"python3-saml configuration failed: {describe(err)}") from err


def request_data_for(url: str, post_data=None) -> dict:
    """The request description python3-saml derives 'the current URL' from."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise HarnessError(f"not an absolute http(s) URL: {url}")
    return {
        "https": "on" if parts.scheme == "https" else "off",
        "http_host": parts.netloc,
        "script_name": parts.path or "/",
        "get_data": {},
        "post_data": post_data or {},
    }


def onelogin_authn_request(args) -> dict:
    from onelogin.saml2.auth import OneLogin_Saml2_Auth
    from onelogin.saml2.authn_request import OneLogin_Saml2_Authn_Request
    from onelogin.saml2.utils import OneLogin_Saml2_Utils

    binding = BINDINGS[args.binding]
    settings = onelogin_settings(args, [binding], sign=args.sign_request)
    sso_url = settings.get_idp_data()["singleSignOnService"]["url"]
    out = {"impl": "python3-saml", "sso_url": sso_url}
    try:
        if binding == BINDING_REDIRECT:
            auth = OneLogin_Saml2_Auth(request_data_for(args.acs_url), settings)
            out["redirect_url"] = auth.login(return_to=args.relay_state, force_authn=args.force_authn)
            out["request_id"] = auth.get_last_request_id()
        else:
            # python3-saml has no POST-binding login(); this is how its users send one: the
            # library's AuthnRequest, signed (enveloped signature) with the library's add_sign.
            request = OneLogin_Saml2_Authn_Request(settings, force_authn=args.force_authn)
            xml = request.get_xml()
            if args.sign_request:
                sp = settings.get_sp_data()
                xml = OneLogin_Saml2_Utils.add_sign(
                    xml, sp["privateKey"], sp["x509cert"], sign_algorithm=RSA_SHA256, digest_algorithm=DIGEST_SHA256
                )
            if isinstance(xml, str):
                xml = xml.encode("utf-8")
            out["request_id"] = request.get_id()
            out["saml_request"] = base64.b64encode(xml).decode("ascii")
            out["relay_state"] = args.relay_state
    except HarnessError:
        raise
    except Exception as err:
        raise HarnessError(f"python3-saml could not build the AuthnRequest: {describe(err)}") from err
    return out


def onelogin_consume(args, saml_response: str) -> dict:
    from onelogin.saml2.response import OneLogin_Saml2_Response

    settings = onelogin_settings(
        args,
        [BINDING_REDIRECT, BINDING_POST],
        want_assertions=args.want_assertions_signed,
        want_response=args.want_response_signed,
    )
    request_data = request_data_for(args.acs_url, {"SAMLResponse": saml_response})
    fail = {"ok": False, "impl": "python3-saml"}
    try:
        # Exactly what OneLogin_Saml2_Auth.process_response() does, keeping the object around.
        response = OneLogin_Saml2_Response(settings, saml_response)
        if not response.is_valid(request_data, None if args.unsolicited else args.request_id):
            return {**fail, "error": response.get_error() or "invalid response"}
        in_response_to = response.get_in_response_to()
        if not args.unsolicited and in_response_to is None:
            # python3-saml only compares InResponseTo when present; an SP that sent a request
            # must not take an unsolicited Response in its place.
            return {**fail, "error": "harness: Response has no InResponseTo but --request-id was given"}
        issuers = response.get_issuers()
        return {
            "ok": True,
            "impl": "python3-saml",
            "name_id": response.get_nameid(),
            "name_id_format": response.get_nameid_format(),
            "session_index": response.get_session_index(),
            "attributes": response.get_attributes(),
            "friendly_attributes": response.get_friendlyname_attributes(),
            "issuer": issuers[0] if issuers else None,
            "in_response_to": in_response_to,
        }
    except Exception as err:
        return {**fail, "error": describe(err)}


# --------------------------------------------------------------------------- CLI


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument("--impl", required=True, choices=["pysaml2", "python3-saml"])
        p.add_argument("--idp-metadata", required=True, help="IdP metadata XML file")
        p.add_argument("--sp-entity-id", required=True)
        p.add_argument("--acs-url", required=True, help="the SP's HTTP-POST AssertionConsumerService URL")
        p.add_argument(
            "--clock-skew",
            type=int,
            default=60,
            help="pysaml2 accepted_time_diff in seconds (python3-saml has a fixed 300 s drift)",
        )

    req = sub.add_parser("authn-request", help="build an AuthnRequest")
    common(req)
    req.add_argument("--binding", required=True, choices=sorted(BINDINGS))
    req.add_argument("--sign-request", action="store_true")
    req.add_argument("--sp-key", help="PEM private key (with --sign-request)")
    req.add_argument("--sp-cert", help="PEM certificate (with --sign-request)")
    req.add_argument("--force-authn", action="store_true")
    req.add_argument("--name-id-format", help="NameIDPolicy Format URN")
    req.add_argument("--relay-state", default="gatehouse-interop")
    req.add_argument(
        "--no-requested-authn-context",
        action="store_true",
        help="python3-saml: omit its default RequestedAuthnContext (PasswordProtectedTransport)",
    )

    con = sub.add_parser("consume", help="validate a SAMLResponse")
    common(con)
    con.add_argument("--saml-response-file", required=True, help="file holding the base64 SAMLResponse form value")
    solicit = con.add_mutually_exclusive_group(required=True)
    solicit.add_argument("--request-id", help="ID of the AuthnRequest this Response must answer")
    solicit.add_argument("--unsolicited", action="store_true", help="accept an IdP-initiated Response")
    con.add_argument("--want-assertions-signed", action="store_true")
    con.add_argument("--want-response-signed", action="store_true")

    args = parser.parse_args(argv)
    if args.command == "authn-request" and args.sign_request and not (args.sp_key and args.sp_cert):
        parser.error("--sign-request needs --sp-key and --sp-cert")
    return args


def run(args) -> dict:
    if args.command == "authn-request":
        return pysaml2_authn_request(args) if args.impl == "pysaml2" else onelogin_authn_request(args)
    raw = read_text(args.saml_response_file).strip()
    # Accept the form value as given; also accept raw XML, which we encode like a browser would.
    saml_response = base64.b64encode(raw.encode("utf-8")).decode("ascii") if raw.startswith("<") else raw
    return pysaml2_consume(args, saml_response) if args.impl == "pysaml2" else onelogin_consume(args, saml_response)


def main(argv=None) -> int:
    warnings.filterwarnings("ignore")
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        # Libraries must not write to stdout: it carries our JSON only.
        with contextlib.redirect_stdout(sys.stderr):
            result = run(args)
    except HarnessError as err:
        print(f"sp_check: {err}", file=sys.stderr)
        return 2
    json.dump(result, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
